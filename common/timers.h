/* One-shot timers on a binary min-heap: O(log n) to arm or cancel, O(1) to
 * find the next deadline, so no event scans every session. */
#ifndef ZTVPN_TIMERS_H
#define ZTVPN_TIMERS_H

#include <stddef.h>
#include <stdint.h>

struct zt_timer {
  uint64_t when_ms;
  size_t slot; /* position in the heap + 1; 0 when not armed */
  void (*fire)(void *arg);
  void *arg;
};

struct zt_timers {
  struct zt_timer **heap;
  size_t n, cap;
};

/* zt_now_ms is the monotonic clock in milliseconds. */
uint64_t zt_now_ms(void);

void zt_timer_init(struct zt_timer *t, void (*fire)(void *), void *arg);
/* zt_timer_arm (re)arms |t| for |when_ms|. Returns 1, or 0 on allocation
 * failure (the timer is then not armed). */
int zt_timer_arm(struct zt_timers *ts, struct zt_timer *t, uint64_t when_ms);
void zt_timer_cancel(struct zt_timers *ts, struct zt_timer *t);
/* zt_timers_timeout returns milliseconds until the next deadline for
 * epoll_wait (0 if overdue), at most |cap_ms|; with nothing armed it returns
 * |cap_ms|. A negative |cap_ms| means no cap: -1 (wait forever) when nothing
 * is armed, and at most INT_MAX otherwise. */
int zt_timers_timeout(const struct zt_timers *ts, uint64_t now, int cap_ms);
/* zt_timers_run fires every timer due at |now|; a fired timer is disarmed
 * before its callback, which may re-arm it or free it. */
void zt_timers_run(struct zt_timers *ts, uint64_t now);
void zt_timers_free(struct zt_timers *ts);

#endif

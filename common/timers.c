#include "timers.h"

#include <limits.h>
#include <stdlib.h>
#include <time.h>

uint64_t zt_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void zt_timer_init(struct zt_timer *t, void (*fire)(void *), void *arg) {
  t->when_ms = 0;
  t->slot = 0;
  t->fire = fire;
  t->arg = arg;
}

static void place(struct zt_timers *ts, size_t i, struct zt_timer *t) {
  ts->heap[i] = t;
  t->slot = i + 1;
}

static void sift_up(struct zt_timers *ts, size_t i) {
  struct zt_timer *t = ts->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (ts->heap[parent]->when_ms <= t->when_ms) break;
    place(ts, i, ts->heap[parent]);
    i = parent;
  }
  place(ts, i, t);
}

static void sift_down(struct zt_timers *ts, size_t i) {
  struct zt_timer *t = ts->heap[i];
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    uint64_t best = t->when_ms;
    if (l < ts->n && ts->heap[l]->when_ms < best) {
      m = l;
      best = ts->heap[l]->when_ms;
    }
    if (r < ts->n && ts->heap[r]->when_ms < best) m = r;
    if (m == i) break;
    place(ts, i, ts->heap[m]);
    i = m;
  }
  place(ts, i, t);
}

void zt_timer_cancel(struct zt_timers *ts, struct zt_timer *t) {
  if (t->slot == 0) return;
  size_t i = t->slot - 1;
  t->slot = 0;
  ts->n--;
  if (i == ts->n) return;
  place(ts, i, ts->heap[ts->n]);
  sift_up(ts, i);
  sift_down(ts, i);
}

int zt_timer_arm(struct zt_timers *ts, struct zt_timer *t, uint64_t when_ms) {
  zt_timer_cancel(ts, t);
  if (ts->n == ts->cap) {
    size_t cap = ts->cap ? ts->cap * 2 : 64;
    struct zt_timer **h = realloc(ts->heap, cap * sizeof(*h));
    if (!h) return 0;
    ts->heap = h;
    ts->cap = cap;
  }
  t->when_ms = when_ms;
  place(ts, ts->n++, t);
  sift_up(ts, ts->n - 1);
  return 1;
}

int zt_timers_timeout(const struct zt_timers *ts, uint64_t now, int cap_ms) {
  if (ts->n == 0) return cap_ms;
  uint64_t when = ts->heap[0]->when_ms;
  if (when <= now) return 0;
  uint64_t d = when - now;
  if (cap_ms >= 0 && d > (uint64_t)cap_ms) return cap_ms;
  /* uncapped: a deadline weeks away must not wrap to a short or -1 wait */
  return d > INT_MAX ? INT_MAX : (int)d;
}

void zt_timers_run(struct zt_timers *ts, uint64_t now) {
  while (ts->n > 0 && ts->heap[0]->when_ms <= now) {
    struct zt_timer *t = ts->heap[0];
    zt_timer_cancel(ts, t);
    t->fire(t->arg);
  }
}

void zt_timers_free(struct zt_timers *ts) {
  free(ts->heap);
  ts->heap = NULL;
  ts->n = ts->cap = 0;
}

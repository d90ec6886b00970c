#include "dplane.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "forward.h"
#include "log.h"
#include "server.h"
#include "session.h"
#include "timers.h"
#include "udp.h"

static _Thread_local struct dp *self;

struct dp *dp_self(struct server *srv) { return self ? self : &srv->dp[0]; }

enum { EV_DP_TUN = 1, EV_DP_UDP, EV_DP_WAKE };

int dp_init(struct server *srv, unsigned n) {
  srv->dp = calloc(n, sizeof(*srv->dp));
  if (!srv->dp) return 0;
  srv->ndp = n;
  pthread_mutex_init(&srv->gate, NULL);
  for (unsigned i = 0; i < n; i++) {
    struct dp *dp = &srv->dp[i];
    dp->srv = srv;
    dp->index = i;
    dp->tun_fd = dp->udp_fd = dp->epfd = dp->wake_fd = -1;
    dp->pkt = malloc(FORWARD_TUN_READ);
    dp->segs = malloc((size_t)ZT_GSO_MAX_SEGS * FORWARD_SEG_STRIDE);
    if (!dp->pkt || !dp->segs || !zt_udp_in_init(&dp->in) || !zt_udp_out_init(&dp->out))
      return 0;
    pthread_mutex_init(&dp->lock, NULL);
    pthread_mutex_init(&dp->inbox.lock, NULL);
    if (n > 1 && !(dp->inbox.buf = malloc(DP_INBOX_BYTES))) return 0;
  }
  return 1;
}

void dp_free(struct server *srv) {
  dp_stop(srv);
  for (unsigned i = 0; srv->dp && i < srv->ndp; i++) {
    struct dp *dp = &srv->dp[i];
    free(dp->pkt);
    free(dp->segs);
    free(dp->inbox.buf);
    zt_udp_in_free(&dp->in);
    zt_udp_out_free(&dp->out);
    if (dp->epfd >= 0) close(dp->epfd);
    if (dp->wake_fd >= 0) close(dp->wake_fd);
  }
  free(srv->dp);
  srv->dp = NULL;
  srv->ndp = 0;
}

/* Flushes the TLS output the worker queued this batch. A failed write is
 * left to the control thread, which sees the socket's error and closes
 * the session. */
static void flush_dirty(struct dp *dp) {
  while (dp->dirty) {
    struct session *s = dp->dirty;
    dp->dirty = s->wdirty_next;
    s->wdirty = 0;
    s->wdirty_next = NULL;
    session_flush_quiet(s);
  }
}

void dp_mark_dirty(struct server *srv, struct session *s) {
  if (!self) {
    server_mark_dirty(srv, s);
    return;
  }
  if (s->wdirty) return;
  s->wdirty = 1;
  s->wdirty_next = self->dirty;
  self->dirty = s;
}

/* The ring holds records of a u32 length and the bytes; a length of 0
 * means "the rest of the ring is unused, go on at the start". A write
 * always leaves room for that marker after it. */
int dp_handoff(struct server *srv, unsigned to, const uint8_t *pkt, size_t len) {
  struct dp_inbox *in = &srv->dp[to].inbox;
  const size_t mark = sizeof(uint32_t), rec = mark + len;
  size_t pos = 0;
  int ok = 1, wake;
  pthread_mutex_lock(&in->lock);
  wake = in->head == in->tail;
  if (in->tail >= in->head) {
    if (in->tail + rec + mark <= DP_INBOX_BYTES) {
      pos = in->tail;
    } else if (rec < in->head) {
      memset(in->buf + in->tail, 0, mark);
      pos = 0;
    } else {
      ok = 0;
    }
  } else if (in->tail + rec < in->head) {
    pos = in->tail;
  } else {
    ok = 0;
  }
  if (ok) {
    uint32_t l = (uint32_t)len;
    memcpy(in->buf + pos, &l, mark);
    memcpy(in->buf + pos + mark, pkt, len);
    in->tail = pos + rec;
  } else {
    in->dropped++;
  }
  pthread_mutex_unlock(&in->lock);
  if (ok && wake) {
    uint64_t one = 1;
    if (write(srv->dp[to].wake_fd, &one, sizeof(one)) < 0) { /* a wakeup is pending */
    }
  }
  return ok;
}

/* Handles what other workers handed over; a bounded number per batch, and
 * a wakeup of its own when more is left. */
static void drain_inbox(struct server *srv, struct dp *dp) {
  struct dp_inbox *in = &dp->inbox;
  uint64_t n;
  if (read(dp->wake_fd, &n, sizeof(n)) < 0 && errno != EAGAIN) return;
  for (int k = 0; k < 1024; k++) {
    uint32_t len;
    pthread_mutex_lock(&in->lock);
    if (in->head == in->tail) {
      pthread_mutex_unlock(&in->lock);
      return;
    }
    memcpy(&len, in->buf + in->head, sizeof(len));
    if (len == 0) {
      in->head = 0;
      pthread_mutex_unlock(&in->lock);
      continue;
    }
    memcpy(dp->pkt, in->buf + in->head + sizeof(len), len);
    in->head += sizeof(len) + len;
    pthread_mutex_unlock(&in->lock);
    forward_one(srv, dp, dp->pkt, len, 1);
  }
  uint64_t one = 1;
  if (write(dp->wake_fd, &one, sizeof(one)) < 0) { /* one is pending already */
  }
}

static void *worker_main(void *arg) {
  struct dp *dp = arg;
  struct server *srv = dp->srv;
  struct epoll_event evs[8];
  self = dp;
  /* Past glibc's thread start-up (rseq, robust futexes): the seccomp
   * filter may come now. */
  atomic_store(&dp->ready, 1);
  while (!atomic_load_explicit(&srv->stopping_workers, memory_order_relaxed)) {
    int n = epoll_wait(dp->epfd, evs, 8, 1000);
    if (n < 0 && errno != EINTR) {
      log_err("worker %u: epoll_wait: %s", dp->index, strerror(errno));
      break;
    }
    /* The control thread wants every worker held: wait for it outside our
     * lock, so that it gets them all. */
    if (atomic_load_explicit(&srv->pausing, memory_order_acquire)) {
      pthread_mutex_lock(&srv->gate);
      pthread_mutex_unlock(&srv->gate);
    }
    pthread_mutex_lock(&dp->lock);
    dp->now_ms = zt_now_ms();
    for (int i = 0; i < n; i++) {
      switch (evs[i].data.u32) {
        case EV_DP_TUN: forward_from_tun(srv, dp); break;
        case EV_DP_UDP: udp_on_readable(srv, dp); break;
        case EV_DP_WAKE: drain_inbox(srv, dp); break;
      }
    }
    udp_flush(srv, dp);
    flush_dirty(dp);
    pthread_mutex_unlock(&dp->lock);
  }
  return NULL;
}

static int watch(int epfd, int fd, uint32_t tag) {
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = tag};
  return fd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0;
}

int dp_start(struct server *srv) {
  if (srv->ndp < 2 || srv->dp[0].started) return 1;
  for (unsigned i = 0; i < srv->ndp; i++) {
    struct dp *dp = &srv->dp[i];
    dp->epfd = epoll_create1(EPOLL_CLOEXEC);
    dp->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (dp->epfd < 0 || dp->wake_fd < 0 || !watch(dp->epfd, dp->tun_fd, EV_DP_TUN) ||
        !watch(dp->epfd, dp->udp_fd, EV_DP_UDP) || !watch(dp->epfd, dp->wake_fd, EV_DP_WAKE)) {
      log_err("worker %u: %s", i, strerror(errno));
      return 0;
    }
  }
  for (unsigned i = 0; i < srv->ndp; i++) {
    int rc = pthread_create(&srv->dp[i].thread, NULL, worker_main, &srv->dp[i]);
    if (rc != 0) {
      log_err("cannot start worker %u: %s", i, strerror(rc));
      dp_stop(srv);
      return 0;
    }
    srv->dp[i].started = 1;
  }
  /* A thread that has not finished starting when the filter comes would
   * be killed for the system calls of its start-up. */
  for (unsigned i = 0; i < srv->ndp; i++) {
    for (int t = 0; t < 5000 && !atomic_load(&srv->dp[i].ready); t++)
      nanosleep(&(struct timespec){0, 1000000}, NULL);
    if (!atomic_load(&srv->dp[i].ready)) {
      log_err("worker %u did not start", i);
      return 0;
    }
  }
  log_info("%u data-plane workers, each with its own TUN queue and UDP socket", srv->ndp);
  return 1;
}

void dp_stop(struct server *srv) {
  atomic_store(&srv->stopping_workers, 1);
  for (unsigned i = 0; srv->dp && i < srv->ndp; i++) {
    struct dp *dp = &srv->dp[i];
    if (!dp->started) continue;
    uint64_t one = 1;
    if (write(dp->wake_fd, &one, sizeof(one)) < 0) { /* it wakes within a second anyway */
    }
    pthread_join(dp->thread, NULL);
    dp->started = 0;
  }
}

void dp_pause(struct server *srv) {
  if (srv->ndp < 2 || !srv->dp[0].started) return;
  atomic_store_explicit(&srv->pausing, 1, memory_order_release);
  pthread_mutex_lock(&srv->gate);
  for (unsigned i = 0; i < srv->ndp; i++) pthread_mutex_lock(&srv->dp[i].lock);
}

void dp_resume(struct server *srv) {
  if (srv->ndp < 2 || !srv->dp[0].started) return;
  for (unsigned i = 0; i < srv->ndp; i++) pthread_mutex_unlock(&srv->dp[i].lock);
  atomic_store_explicit(&srv->pausing, 0, memory_order_release);
  pthread_mutex_unlock(&srv->gate);
}

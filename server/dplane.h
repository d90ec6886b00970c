/* The data plane's threads. Each has its own TUN queue, its own UDP socket
 * (the kernel steers a datagram to the socket of the thread that owns its
 * session, by the receiver index) and its own buffers and counters. With
 * `workers = 1` (the default) the one event loop is the data plane too.
 *
 * Sessions are spread over the workers (session->worker); a worker handles
 * every packet of the sessions it owns, so their per-packet state
 * (connection tracking, replay windows, counters) has one writer and needs
 * no lock. A packet that another worker's TUN queue delivered is handed to
 * the owner through its inbox. The control thread (TLS, admission, timers,
 * reloads, the control socket) changes sessions only while every worker is
 * paused between two batches: each worker holds its own mutex while it
 * works, and the control thread takes all of them. No lock is shared by
 * two workers on the packet path. */
#ifndef ZTVPN_SERVER_DPLANE_H
#define ZTVPN_SERVER_DPLANE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/uio.h>

#include "counters.h"
#include "offload.h"
#include "udpio.h"

struct server;
struct session;

#define DP_MAX_WORKERS 16
#define DP_TUN_BATCH 2048 /* packets per batch of TUN writes */
#define DP_INBOX_BYTES (4 * 1024 * 1024)

/* Counters of the data channel, per thread; metrics add them up. */
struct udp_counters {
  uint64_t dgrams_in, dgrams_out;
  uint64_t dropped[8]; /* by enum zt_open_result (OK unused) */
  uint64_t roams, rekeys, fallbacks;
  uint64_t send_errors;
};

/* Packets handed to a worker by the others: length-prefixed, in a ring. */
struct dp_inbox {
  pthread_mutex_t lock;
  uint8_t *buf;
  size_t head, tail; /* bytes; head == tail: empty */
  uint64_t dropped;  /* full */
};

struct dp {
  struct server *srv;
  unsigned index;
  int tun_fd, udp_fd;
  uint64_t now_ms;
  uint8_t *pkt;  /* one TUN read: a vnet header and a super-packet */
  uint8_t *segs; /* a super-packet split for the TLS stream */
  struct zt_udp_in in;
  struct zt_udp_out out;
  struct zt_gro_pkt tun_pkts[DP_TUN_BATCH];
  struct iovec tun_iov[DP_TUN_BATCH];
  struct udp_counters c;
  uint64_t drops[DROP_MAX]; /* packets dropped without a session */
  struct session *dirty;    /* sessions with TLS output queued (workers) */
  /* A worker thread's own (unused with one worker). */
  pthread_t thread;
  int started;
  atomic_int ready;     /* its thread runs our code */
  int epfd, wake_fd;
  pthread_mutex_t lock; /* held while the worker works */
  struct dp_inbox inbox;
};

/* The data plane of the calling thread: a worker's own, or the first one
 * for the control thread. */
struct dp *dp_self(struct server *srv);

/* dp_init allocates the buffers of |srv->dp[0..n-1]|. Returns 1 or 0. */
int dp_init(struct server *srv, unsigned n);
void dp_free(struct server *srv);

/* dp_start starts the worker threads (with more than one data plane): after
 * the privileges are dropped, before the seccomp filter. Returns 1 or 0. */
int dp_start(struct server *srv);
/* dp_stop ends and joins them. */
void dp_stop(struct server *srv);

/* dp_pause holds every worker between two batches (the control thread,
 * before it touches sessions); dp_resume lets them go. No-ops with one. */
void dp_pause(struct server *srv);
void dp_resume(struct server *srv);

/* dp_handoff passes the TUN read |pkt| (|len| bytes) to worker |to|.
 * Returns 1, or 0 when its inbox is full (the packet is dropped). */
int dp_handoff(struct server *srv, unsigned to, const uint8_t *pkt, size_t len);

/* dp_mark_dirty queues |s|'s TLS output for a flush at the end of this
 * thread's batch. */
void dp_mark_dirty(struct server *srv, struct session *s);

#endif

/* The concentrator: one epoll loop over the listener, the TUN device, the
 * signals and every session. */
#ifndef ZTVPN_SERVER_H
#define ZTVPN_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include <openssl/ssl.h>

#include "config.h"
#include "counters.h"
#include "credentials.h"
#include "metrics.h"
#include "acl_cache.h"
#include "policy.h"
#include "pool.h"
#include "refusals.h"
#include "session.h"
#include "source_limits.h"
#include "timers.h"
#include "tun.h"
#include "udp.h"

struct server {
  const struct server_config *cfg;
  int epfd;
  struct ev_source listen_ev, tun_ev, sig_ev, udp_ev;
  struct udp_plane *udp;        /* the UDP data channel, NULL without one */
  struct dp *dp;                /* the data-plane threads (dplane.h) */
  unsigned ndp;
  atomic_int pausing;           /* the control thread wants the workers held */
  atomic_int stopping_workers;
  pthread_mutex_t gate;         /* held by the control thread while they are */
  int listen_fd, sig_fd;
  struct tun_dev tun;
  SSL_CTX *tls;
  X509_STORE *user_store;
  struct policy *policy;        /* in force; replaced whole by a reload */
  struct acl_cache *acls;       /* compiled pairs of |policy|, shared */
  struct server_control *ctl;   /* control socket, NULL without one */
  struct metrics_http *metrics; /* metrics listener, NULL without one */
  struct zt_pool pool;          /* indices for pool4 (and pool6 alike) */
  struct session **by_index;    /* pool index -> established session */
  struct zt_timers timers;
  struct session *sessions;     /* every session, for shutdown */
  unsigned nsessions, nhandshakes;
  struct src_limits *sources;   /* per-source handshakes and connect rate */
  struct refusals refusals;     /* connections refused at accept */
  uint64_t next_id;
  struct session *dirty;        /* sessions with output queued this batch */
  uint64_t now_ms;              /* clock of the current loop iteration */
  int stopping;
  int reload_pending;           /* SIGHUP seen: reload after this batch */
  struct server_counters counters;
  struct session_totals ended;  /* what ended sessions carried, for metrics */
  time_t started;               /* wall clock, for status */
  uint64_t reloads, reload_failures;
  uint64_t generation;          /* bumped by every reload that took effect */
  time_t last_reload;           /* 0 before the first */
  int last_reload_ok;
};

/* server_init opens the listener and the TUN device; it takes over |creds|
 * and |policy| (also on failure). Returns 1, or 0 after logging why. */
int server_init(struct server *srv, const struct server_config *cfg,
                struct server_creds *creds, struct policy *policy);
/* server_run serves until SIGTERM/SIGINT. Returns the exit code. */
int server_run(struct server *srv);
/* server_free closes every session with a reason and releases everything. */
void server_free(struct server *srv);
/* server_release is server_free without the closing statistics: for the
 * privileged parent of privilege separation, which never served. */
void server_release(struct server *srv);

/* server_session_for_addr finds the established session holding tunnel
 * address |ip|: O(1) through the pool index. */
struct session *server_session_for_addr(struct server *srv, const struct zt_ip *ip);

/* server_session_by_id finds the established session |id|, or NULL. */
struct session *server_session_by_id(struct server *srv, uint64_t id);

/* server_reload re-reads the CRLs and the policy. Both are validated
 * completely before they replace the ones in force, together; on any error
 * nothing changes. Then every established session is re-evaluated: one
 * whose certificate no longer verifies or whose pair is no longer admitted
 * is closed with the reason; the others get their recompiled policy, and
 * their flows that it no longer allows are dropped. |msg| receives a
 * one-line summary (or the error as "FILE:LINE: message"); |trigger|
 * ("signal", "control") goes into the audit record. Returns 1 when
 * the new configuration is in force, 0 when the old one stayed. */
int server_reload(struct server *srv, const char *trigger, char *msg, size_t msglen);

/* server_drops adds up the packets every data-plane thread dropped, by
 * reason, into |out| (DROP_MAX entries). */
void server_drops(const struct server *srv, uint64_t *out);

/* server_mark_dirty queues |s| for a flush at the end of the batch. */
void server_mark_dirty(struct server *srv, struct session *s);

#endif

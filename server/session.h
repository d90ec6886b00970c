/* One client connection, from TCP accept to close: its TLS stream, the two
 * identities, its tunnel addresses and its counters. */
#ifndef ZTVPN_SESSION_H
#define ZTVPN_SESSION_H

#include <stdint.h>
#include <sys/socket.h>

#include <openssl/x509.h>

#include "acl.h"
#include "addr.h"
#include "conn.h"
#include "conntrack.h"
#include "counters.h"
#include "identity.h"
#include "msg.h"
#include "source_limits.h"
#include "timers.h"

struct server;

enum session_state {
  SS_HANDSHAKE,   /* TLS handshake in progress: device not yet verified */
  SS_AWAIT_PROOF, /* device verified; waiting for the user proof */
  SS_ESTABLISHED, /* admitted: packets flow */
};

/* What an epoll event refers to: the first member of each owner. */
enum ev_kind {
  EV_LISTEN, EV_TUN, EV_UDP, EV_SIGNAL, EV_SESSION, EV_CONTROL, EV_CONTROL_CONN,
  EV_METRICS, EV_METRICS_CONN
};
struct ev_source {
  enum ev_kind kind;
};

struct session {
  struct ev_source ev;
  struct server *srv;
  uint64_t id;
  enum session_state state;
  struct zt_conn conn;
  char peer[64];             /* "ADDR:PORT" of the client */
  struct src_key src;        /* its source, for the per-source limits */
  int src_counted;           /* a handshake of |src| is counted: until admission */
  struct zt_identity device; /* valid from SS_AWAIT_PROOF on */
  struct zt_identity user;   /* valid in SS_ESTABLISHED */
  /* The verified chains (leaf first), kept to verify them again against
   * fresh CRLs at each reload. */
  STACK_OF(X509) *device_chain, *user_chain;
  struct acl *acl;           /* the pair's compiled policy, SS_ESTABLISHED */
  struct conntrack ct;       /* its flows, SS_ESTABLISHED */
  uint32_t pool_index;       /* held while SS_ESTABLISHED */
  struct zt_ip addr4, addr6;
  int has_addr6;
  struct zt_timer timer;
  uint64_t deadline_ms;      /* end of the handshake allowance */
  uint64_t expires_ms;       /* the earlier notAfter of the two certificates */
  const char *expiring;      /* "user" or "device": whose notAfter that is */
  uint8_t routes_digest[32]; /* SHA-256 of the ROUTES body last pushed */
  uint64_t generation;       /* srv->generation (reload count) at accept */
  uint64_t last_rx_ms, last_tx_ms;
  uint64_t last_data_ms;     /* last DATA from the client, for idle_timeout */
  time_t since;
  uint64_t pkts_in, pkts_out; /* in: from the client to the network */
  uint64_t drops[DROP_MAX];
  uint64_t drop_log_ms;      /* rate limit for drop log lines */
  /* The UDP data channel (udp.c): the key set of the current TLS
   * connection and, for a grace period after a re-authentication, the one
   * before it; where the client's datagrams come from; which path data to
   * the client takes. */
  struct dchan *dc, *dc_prev;
  struct sockaddr_storage udp_peer;
  socklen_t udp_peer_len;    /* 0 until the first authenticated datagram */
  int path_udp;              /* the client's last PATH said UDP works */
  int on_udp;                /* data to the client goes over UDP */
  uint64_t last_udp_rx_ms;
  uint64_t udp_in, udp_out;  /* datagrams */
  uint64_t rekeys;           /* key epochs moved on, both directions */
  /* Re-authentication: the token a new connection presents to take this
   * session over, when the last full authentication was, how many. */
  uint8_t resume_token[ZT_RESUME_TOKEN_LEN];
  uint64_t auth_ms;
  uint32_t reauths;
  /* On a connection not yet admitted: the session it asked to resume. */
  int wants_resume;
  struct zt_resume resume;
  int taken_over;            /* its connection now serves another session */
  unsigned worker;           /* the data-plane thread that owns its packets */
  int wdirty;                /* on that worker's flush list */
  struct session *wdirty_next;
  uint32_t epoll_events;
  int dirty;                 /* queued output waits for the end of a batch */
  struct session *dirty_next;
  struct session *prev, *next;
};

/* session_accept takes over connected socket |fd| from |peer| and starts the
 * TLS handshake. The handshake that accept counted for source |src| (in
 * srv->sources) is the session's from then on: it ends it exactly once, at
 * admission or at close. Returns the session or NULL (the fd is then
 * closed, and the caller still owns the handshake count). */
struct session *session_accept(struct server *srv, int fd,
                               const struct sockaddr *peer, const struct src_key *src);

/* session_on_io handles epoll |events| for |s|; it may free |s|. */
void session_on_io(struct session *s, uint32_t events);

/* session_close ends |s|: sends CLOSE (or REJECT before admission) with
 * |code| and |why| when the TLS stream is up, writes the audit record,
 * releases the address and frees |s|. */
void session_close(struct session *s, uint16_t code, const char *why);

/* session_flush sends queued output and adjusts epoll interest; on a
 * write failure it closes |s| and returns 0. */
int session_flush(struct session *s);

/* session_flush_quiet sends queued output and adjusts epoll interest, but
 * leaves a write failure to the control thread (which sees the socket's
 * error): for data-plane workers, which never close sessions. */
void session_flush_quiet(struct session *s);

/* session_set_expiry computes when the first of the session's two
 * certificates expires (the session is closed then) from the wall clock. */
void session_set_expiry(struct session *s);

/* session_arm_timer re-arms |s|'s timer after a change of its deadlines. */
void session_arm_timer(struct session *s);

/* session_update_routes recomputes the routes of an established |s| (after
 * its policy changed) and, when they differ from what the client has, sends
 * them in a ROUTES message. Returns 0 when |s| was closed. */
int session_update_routes(struct session *s);

/* session_count_drop counts a dropped packet and logs it, rate-limited. */
void session_count_drop(struct session *s, enum drop_reason r);

#endif

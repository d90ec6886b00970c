#include "session.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "admission.h"
#include "audit.h"
#include "forward.h"
#include "frame.h"
#include "log.h"
#include "msg.h"
#include "server.h"
#include "tls.h"
#include "udp.h"
#include "userproof.h"

/* How long after reauth_interval a session that did not re-authenticate is
 * closed: the client starts early; this covers a slow or failed attempt and
 * its retry. */
#define REAUTH_GRACE_S 60

/* Bytes a session may have queued for sending before its packets drop. */
#define SESSION_OUT_MAX (512 * 1024)

const char *refuse_reason_name(enum refuse_reason r) {
  static const char *const names[REFUSE_MAX] = {
      [REFUSE_HANDSHAKES] = "handshakes",
      [REFUSE_SOURCE_HANDSHAKES] = "source-handshakes",
      [REFUSE_SOURCE_RATE] = "source-rate",
  };
  return (unsigned)r < REFUSE_MAX ? names[r] : "unknown";
}

const char *drop_reason_name(enum drop_reason r) {
  static const char *const names[DROP_MAX] = {
      [DROP_SPOOFED_SOURCE] = "spoofed-source", [DROP_MALFORMED] = "malformed",
      [DROP_NO_SESSION] = "no-session",         [DROP_QUEUE_FULL] = "queue-full",
      [DROP_TUN_WRITE] = "tun-write",           [DROP_POLICY] = "policy",
      [DROP_UNSOLICITED] = "unsolicited",       [DROP_FLOWS_FULL] = "flows-full"};
  return r < DROP_MAX ? names[r] : "?";
}

static void session_timer(void *arg);

/* Ends the handshake phase of |s| (admitted, or closed before that): the
 * only place that gives back what accept counted. */
static void handshake_over(struct session *s) {
  if (!s->src_counted) return;
  s->src_counted = 0;
  s->srv->nhandshakes--;
  src_limits_release(s->srv->sources, &s->src);
}

static void set_epoll(struct session *s, uint32_t events) {
  if (events == s->epoll_events) return;
  struct epoll_event ev = {.events = events, .data.ptr = &s->ev};
  if (epoll_ctl(s->srv->epfd, EPOLL_CTL_MOD, s->conn.fd, &ev) == 0)
    s->epoll_events = events;
}

static void arm_timer(struct session *s) {
  const struct server_config *cfg = s->srv->cfg;
  uint64_t when = s->deadline_ms;
  if (s->state == SS_ESTABLISHED) {
    uint64_t ka = cfg->keepalive * 1000ull;
    uint64_t dead = s->last_rx_ms + ka * ZT_DEAD_FACTOR;
    uint64_t ping = s->last_tx_ms + ka;
    when = dead < ping ? dead : ping;
    if (s->expires_ms < when) when = s->expires_ms;
    if (cfg->idle_timeout) {
      uint64_t idle = s->last_data_ms + cfg->idle_timeout * 1000ull;
      if (idle < when) when = idle;
    }
    if (cfg->reauth_interval) {
      uint64_t due = s->auth_ms + (cfg->reauth_interval + REAUTH_GRACE_S) * 1000ull;
      if (due < when) when = due;
    }
    /* The UDP path and a replaced key set are looked at every second. */
    if ((s->on_udp || s->dc_prev) && s->srv->now_ms + 1000 < when)
      when = s->srv->now_ms + 1000;
  }
  zt_timer_arm(&s->srv->timers, &s->timer, when);
}

void session_set_expiry(struct session *s) {
  /* notAfter is wall-clock time, the timers are monotonic: convert now, in
   * milliseconds so the session ends right at notAfter, and again at each
   * reload in case the wall clock was stepped. */
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  const struct zt_identity *first =
      s->user.not_after < s->device.not_after ? &s->user : &s->device;
  s->expiring = first == &s->user ? "user" : "device";
  int64_t left_ms = ((int64_t)first->not_after - (int64_t)now.tv_sec) * 1000 -
                    now.tv_nsec / 1000000;
  s->expires_ms = s->srv->now_ms + (left_ms > 0 ? (uint64_t)left_ms : 0);
}

void session_arm_timer(struct session *s) { arm_timer(s); }

struct session *session_accept(struct server *srv, int fd,
                               const struct sockaddr *peer, const struct src_key *src) {
  struct session *s = calloc(1, sizeof(*s));
  if (!s) {
    close(fd);
    return NULL;
  }
  s->ev.kind = EV_SESSION;
  s->srv = srv;
  s->id = ++srv->next_id;
  s->generation = srv->generation;
  s->state = SS_HANDSHAKE;
  s->since = time(NULL);
  zt_sockaddr_format(peer, s->peer, sizeof(s->peer));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (!zt_conn_init(&s->conn, fd, srv->tls, 1, SESSION_OUT_MAX)) {
    zt_conn_free(&s->conn);
    free(s);
    ERR_clear_error();
    return NULL;
  }
  s->epoll_events = EPOLLIN;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->ev};
  if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    zt_conn_free(&s->conn);
    free(s);
    return NULL;
  }
  zt_timer_init(&s->timer, session_timer, s);
  s->deadline_ms = srv->now_ms + srv->cfg->handshake_timeout * 1000ull;
  arm_timer(s);
  s->next = srv->sessions;
  if (srv->sessions) srv->sessions->prev = s;
  srv->sessions = s;
  srv->nsessions++;
  srv->nhandshakes++;
  s->src = *src;
  s->src_counted = 1;
  log_debug("session %llu: connection from %s", (unsigned long long)s->id, s->peer);
  return s;
}

void session_count_drop(struct session *s, enum drop_reason r) {
  s->drops[r]++;
  dp_self(s->srv)->drops[r]++;
  if (s->srv->now_ms - s->drop_log_ms >= 1000) {
    s->drop_log_ms = s->srv->now_ms;
    log_warn("session %llu (%s@%s): dropped packet: %s (%llu so far)",
             (unsigned long long)s->id, s->user.name, s->device.name,
             drop_reason_name(r), (unsigned long long)s->drops[r]);
  }
}

void session_flush_quiet(struct session *s) {
  enum zt_io io = zt_conn_flush(&s->conn);
  if (io == ZT_IO_OK) set_epoll(s, EPOLLIN);
  else if (io == ZT_IO_WANT) set_epoll(s, EPOLLIN | EPOLLOUT);
}

int session_flush(struct session *s) {
  enum zt_io io = zt_conn_flush(&s->conn);
  if (io == ZT_IO_OK) {
    s->last_tx_ms = s->srv->now_ms;
    set_epoll(s, EPOLLIN);
    return 1;
  }
  if (io == ZT_IO_WANT) {
    set_epoll(s, EPOLLIN | EPOLLOUT);
    return 1;
  }
  char why[256];
  session_close(s, ZT_REASON_PROTOCOL, zt_conn_error(&s->conn, why, sizeof(why)));
  return 0;
}

/* Ends |s|; |notify| says whether the peer is still there to be told why. */
static void session_teardown(struct session *s, uint16_t code, const char *why,
                             int notify) {
  struct server *srv = s->srv;
  if (notify && s->state != SS_HANDSHAKE) {
    /* Whatever was queued is moot; the reason is what the client needs. */
    s->conn.out_off = s->conn.out_len = 0;
    CBB cbb;
    uint8_t body[ZT_MAX_REASON_MSG];
    size_t len;
    uint8_t type = s->state == SS_ESTABLISHED ? ZT_MSG_CLOSE : ZT_MSG_REJECT;
    if (CBB_init_fixed(&cbb, body, sizeof(body)) && zt_reason_build(&cbb, code, why) &&
        CBB_finish(&cbb, NULL, &len))
      zt_conn_queue(&s->conn, type, body, len);
    zt_conn_flush(&s->conn);
    zt_conn_shutdown(&s->conn);
  }
  if (s->taken_over) {
    handshake_over(s);
  } else if (s->state == SS_ESTABLISHED) {
    audit_end(s, code, why);
    srv->counters.ended++;
    srv->by_index[s->pool_index] = NULL;
    zt_pool_release(&srv->pool, s->pool_index);
  } else {
    audit_reject(s, code, why);
    srv->counters.rejected[code < REASON_SLOTS ? code : 0]++;
    handshake_over(s);
  }
  zt_timer_cancel(&srv->timers, &s->timer);
  epoll_ctl(srv->epfd, EPOLL_CTL_DEL, s->conn.fd, NULL);
  if (s->dirty) {
    /* Unlink from the batch list so the flush pass never sees freed memory. */
    for (struct session **p = &srv->dirty; *p; p = &(*p)->dirty_next) {
      if (*p == s) {
        *p = s->dirty_next;
        break;
      }
    }
  }
  if (s->prev) s->prev->next = s->next;
  else srv->sessions = s->next;
  if (s->next) s->next->prev = s->prev;
  srv->nsessions--;
  /* After the last write: the totals keep what the session carried. */
  if (!s->taken_over) metrics_session_ended(&srv->ended, s, code);
  if (s->taken_over) zt_conn_shutdown(&s->conn);
  udp_session_end(s);
  zt_conn_free(&s->conn);
  sk_X509_pop_free(s->device_chain, X509_free);
  sk_X509_pop_free(s->user_chain, X509_free);
  acl_free(s->acl);
  ct_free(&s->ct);
  OPENSSL_cleanse(s, sizeof(*s));
  free(s);
}

void session_close(struct session *s, uint16_t code, const char *why) {
  session_teardown(s, code, why, 1);
}

static void session_timer(void *arg) {
  struct session *s = arg;
  uint64_t now = s->srv->now_ms;
  if (s->state != SS_ESTABLISHED) {
    session_close(s, ZT_REASON_TIMEOUT, "handshake not completed in time");
    return;
  }
  if (now >= s->expires_ms) {
    char why[64];
    snprintf(why, sizeof(why), "%s certificate expired", s->expiring);
    s->srv->counters.revoked++;
    session_close(s, ZT_REASON_REVOKED, why);
    return;
  }
  unsigned idle = s->srv->cfg->idle_timeout;
  if (idle && now - s->last_data_ms >= idle * 1000ull) {
    char why[96];
    snprintf(why, sizeof(why), "idle: no tunnel data for %u s (idle_timeout)", idle);
    s->srv->counters.idle_timeouts++;
    session_close(s, ZT_REASON_TIMEOUT, why);
    return;
  }
  unsigned reauth = s->srv->cfg->reauth_interval;
  if (reauth && now - s->auth_ms >= (reauth + REAUTH_GRACE_S) * 1000ull) {
    session_close(s, ZT_REASON_TIMEOUT, "no re-authentication within reauth_interval");
    return;
  }
  udp_session_tick(s);
  uint64_t ka = s->srv->cfg->keepalive * 1000ull;
  if (now - s->last_rx_ms >= ka * ZT_DEAD_FACTOR) {
    session_close(s, ZT_REASON_TIMEOUT, "no keepalive from the client");
    return;
  }
  if (now - s->last_tx_ms >= ka) {
    zt_conn_queue(&s->conn, ZT_MSG_KEEPALIVE, NULL, 0);
    if (!session_flush(s)) return;
    s->last_tx_ms = now; /* even if the bytes wait in the queue */
  }
  /* At least once per keepalive interval: an idle session keeps no output
   * buffer, a busy one reallocates it this seldom. */
  zt_conn_trim(&s->conn);
  arm_timer(s);
}

/* Classifies a failed TLS handshake: the device certificate, or not TLS. */
static void handshake_failed(struct session *s, enum zt_io io) {
  char why[300];
  long vr = zt_conn_verify_error(&s->conn);
  uint32_t e = ERR_peek_last_error();
  if (io == ZT_IO_EOF) {
    session_close(s, ZT_REASON_PROTOCOL, "connection closed during the TLS handshake");
  } else if (vr != X509_V_OK) {
    zt_verify_error_text((int)vr, "device", why, sizeof(why));
    session_close(s, ZT_REASON_DEVICE_AUTH, why);
  } else if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
             ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
    session_close(s, ZT_REASON_DEVICE_AUTH, "no device certificate");
  } else {
    zt_conn_error(&s->conn, why, sizeof(why));
    session_close(s, ZT_REASON_PROTOCOL, why);
  }
  ERR_clear_error();
}

/* Returns 0 when |s| was closed. */
static int handshake_done(struct session *s) {
  char why[300], err[256];
  X509 *cert = SSL_get_peer_certificate(s->conn.ssl);
  int have_cert = cert != NULL;
  int leaf_ok = cert && zt_leaf_check(cert, err, sizeof(err));
  int ok = leaf_ok && zt_identity_from_cert(cert, &s->device, err, sizeof(err));
  X509_free(cert);
  if (ok) {
    STACK_OF(X509) *chain = SSL_get_peer_full_cert_chain(s->conn.ssl);
    s->device_chain = chain ? X509_chain_up_ref(chain) : NULL;
    ok = s->device_chain != NULL;
    if (!ok) snprintf(err, sizeof(err), "cannot keep the certificate chain");
  }
  s->state = SS_AWAIT_PROOF;
  if (!zt_tls_alpn_ok(s->conn.ssl)) {
    session_close(s, ZT_REASON_PROTOCOL, "client did not negotiate " ZT_ALPN);
    return 0;
  }
  if (!ok) {
    if (!have_cert) snprintf(why, sizeof(why), "no device certificate");
    else if (!leaf_ok) snprintf(why, sizeof(why), "device %s", err);
    else snprintf(why, sizeof(why), "device certificate: %s", err);
    session_close(s, ZT_REASON_DEVICE_AUTH, why);
    return 0;
  }
  log_debug("session %llu: device %s verified", (unsigned long long)s->id,
            s->device.name);
  return 1;
}

/* Appends |p| to the |*n| routes of |out| unless it is there already. */
static void add_route(struct zt_prefix *out, size_t *n, const struct zt_prefix *p) {
  for (size_t i = 0; i < *n; i++)
    if (out[i].family == p->family && out[i].len == p->len &&
        memcmp(out[i].addr, p->addr, 16) == 0)
      return;
  if (*n < ZT_MAX_ROUTES) {
    memset(&out[*n], 0, sizeof(out[*n]));
    out[*n].family = p->family;
    memcpy(out[*n].addr, p->addr, 16);
    out[(*n)++].len = p->len;
  }
}

/* The routes pushed: a full tunnel, or what the pair's policy lets it reach
 * (split tunnel per identity) plus tunnel.routes when a policy file is in
 * use (so that traffic to the rest of the corporate network enters the
 * tunnel, where the policy drops and counts it, rather than leaking onto the
 * local network). IPv6 routes only with an IPv6 tunnel address. Writes at
 * most ZT_MAX_ROUTES into |out| and returns how many. */
static size_t session_routes(const struct session *s, struct zt_prefix *out) {
  const struct server_config *cfg = s->srv->cfg;
  struct zt_prefix got[ZT_MAX_ROUTES];
  size_t n = 0;
  if (cfg->full_tunnel) {
    struct zt_prefix any = {.family = AF_INET};
    add_route(out, &n, &any);
    any.family = AF_INET6;
    if (cfg->has_pool6) add_route(out, &n, &any);
    return n;
  }
  size_t room = ZT_MAX_ROUTES - (cfg->has_policy ? cfg->nroutes : 0);
  size_t n4 = acl_routes(s->acl, AF_INET, got, cfg->has_pool6 ? room / 2 : room);
  for (size_t i = 0; i < n4; i++) add_route(out, &n, &got[i]);
  if (cfg->has_pool6) {
    size_t n6 = acl_routes(s->acl, AF_INET6, got, room - n4);
    for (size_t i = 0; i < n6; i++) add_route(out, &n, &got[i]);
  }
  for (size_t i = 0; cfg->has_policy && i < cfg->nroutes; i++)
    if (cfg->routes[i].family == AF_INET || cfg->has_pool6)
      add_route(out, &n, &cfg->routes[i]);
  return n;
}

/* Builds the ROUTES body for |routes| into |body| (ZT_MAX_ROUTES_MSG bytes)
 * and its digest, which is all a session keeps of what it pushed. */
static int routes_body(const struct zt_prefix *routes, size_t n, uint8_t *body,
                       size_t *len, uint8_t digest[SHA256_DIGEST_LENGTH]) {
  CBB cbb;
  if (!CBB_init_fixed(&cbb, body, ZT_MAX_ROUTES_MSG) ||
      !zt_routes_build(&cbb, routes, n) || !CBB_finish(&cbb, NULL, len))
    return 0;
  SHA256(body, *len, digest);
  return 1;
}

int session_update_routes(struct session *s) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  size_t len, n;
  struct zt_prefix *routes = calloc(ZT_MAX_ROUTES, sizeof(*routes));
  uint8_t *body = malloc(ZT_MAX_ROUTES_MSG);
  int ok = routes && body;
  if (ok) {
    n = session_routes(s, routes);
    ok = routes_body(routes, n, body, &len, digest);
  }
  int changed = ok && memcmp(digest, s->routes_digest, sizeof(digest)) != 0;
  if (changed) ok = zt_conn_queue(&s->conn, ZT_MSG_ROUTES, body, len);
  free(routes);
  free(body);
  if (!ok) {
    session_close(s, ZT_REASON_INTERNAL, "cannot send the new routes");
    return 0;
  }
  if (!changed) return 1;
  memcpy(s->routes_digest, digest, sizeof(digest));
  log_info("session %llu (%s@%s): routes updated, %zu now", (unsigned long long)s->id,
           s->user.name, s->device.name, n);
  return session_flush(s);
}

/* Fills the tunnel parameters for |s|, whose pool index is allocated. */
static void fill_admit(struct session *s, struct zt_admit *a) {
  const struct server_config *cfg = s->srv->cfg;
  zt_pool_addr(&cfg->pool4, s->pool_index, &s->addr4);
  a->addr4.family = AF_INET;
  memcpy(a->addr4.addr, s->addr4.addr, 4);
  a->addr4.len = 32;
  if (cfg->has_pool6) {
    s->has_addr6 = 1;
    zt_pool_addr(&cfg->pool6, s->pool_index, &s->addr6);
    a->has_addr6 = 1;
    a->addr6.family = AF_INET6;
    memcpy(a->addr6.addr, s->addr6.addr, 16);
    a->addr6.len = 128;
  }
  a->mtu = (uint16_t)cfg->mtu;
  a->keepalive = (uint16_t)cfg->keepalive;
  a->session_id = s->id;
  a->nroutes = session_routes(s, a->routes);
  a->ndns = cfg->ndns;
  memcpy(a->dns, cfg->dns, cfg->ndns * sizeof(a->dns[0]));
  a->ndomains = cfg->ndomains;
  memcpy(a->domains, cfg->domains, sizeof(a->domains));
}

/* Builds the ADMIT of |s| (its pool index allocated) with a fresh UDP key
 * set and resume token, and queues it; |resumed| when it continues a
 * session on a new connection. Returns 1 or 0. */
static int queue_admit(struct session *s, int resumed) {
  uint8_t body[ZT_MAX_ADMIT];
  size_t len = 0, rlen;
  CBB cbb;
  /* 5 KiB of routes: off the stack, and per call so that admissions on
   * several threads would never share it. */
  struct zt_admit *a = calloc(1, sizeof(*a));
  uint8_t *rbody = malloc(ZT_MAX_ROUTES_MSG);
  int ok = a != NULL && rbody != NULL;
  if (ok) {
    fill_admit(s, a);
    ok = routes_body(a->routes, a->nroutes, rbody, &rlen, s->routes_digest) &&
         udp_session_keys(s, a) && RAND_bytes(s->resume_token, sizeof(s->resume_token));
  }
  if (ok) {
    a->has_resume = 1;
    memcpy(a->resume_token, s->resume_token, sizeof(a->resume_token));
    a->reauth_interval = s->srv->cfg->reauth_interval;
    a->resumed = resumed;
    ok = CBB_init_fixed(&cbb, body, sizeof(body)) && zt_admit_build(&cbb, a) &&
         CBB_finish(&cbb, NULL, &len) &&
         zt_conn_queue(&s->conn, ZT_MSG_ADMIT, body, len);
  }
  free(rbody);
  if (a) OPENSSL_cleanse(a, sizeof(*a));
  free(a);
  return ok;
}

/* Builds and sends ADMIT; the session then holds its addresses. Returns 0
 * when |s| was closed. */
static int admit(struct session *s) {
  struct server *srv = s->srv;
  if (srv->nsessions - srv->nhandshakes >= srv->cfg->max_sessions) {
    session_close(s, ZT_REASON_NO_ADDRESS, "the concentrator is full (max_sessions)");
    return 0;
  }
  if (!(s->acl = acl_cache_get(srv->acls, &s->user, &s->device)) ||
      !ct_init(&s->ct, CT_DEFAULT_MAX)) {
    session_close(s, ZT_REASON_INTERNAL, "cannot compile the policy of this session");
    return 0;
  }
  if (!zt_pool_alloc(&srv->pool, &s->pool_index)) {
    session_close(s, ZT_REASON_NO_ADDRESS, "no tunnel address left in the pool");
    return 0;
  }
  s->worker = s->pool_index % srv->ndp;
  if (!queue_admit(s, 0)) {
    zt_pool_release(&srv->pool, s->pool_index);
    session_close(s, ZT_REASON_INTERNAL, "cannot build the tunnel parameters");
    return 0;
  }
  s->state = SS_ESTABLISHED;
  srv->by_index[s->pool_index] = s;
  handshake_over(s);
  srv->counters.admitted++;
  s->last_rx_ms = s->last_data_ms = s->auth_ms = srv->now_ms;
  session_set_expiry(s);
  audit_admit(s);
  if (!session_flush(s)) return 0;
  arm_timer(s);
  return 1;
}

/* Points the epoll registration of |s|'s connection back at |s|. */
static void rewatch(struct session *s) {
  struct epoll_event ev = {.events = s->epoll_events, .data.ptr = &s->ev};
  epoll_ctl(s->srv->epfd, EPOLL_CTL_MOD, s->conn.fd, &ev);
}

#define SWAP(T, a, b) \
  do {                \
    T swap_tmp = (a); \
    (a) = (b);        \
    (b) = swap_tmp;   \
  } while (0)

/* The connection |n|, fully authenticated again (device and user), takes
 * over the live session |o| that it presented the resume token of: |o|
 * moves to the new connection with the fresh chains, new UDP keys and a new
 * ADMIT, keeping its addresses, flows and counters; the old connection ends
 * quietly with |n|. Make-before-break: the tunnel never stops. Returns 0
 * when |o| was closed (|n| is always gone). |proof| is the USER_PROOF body
 * just handled, in |n|'s input. */
static int take_over(struct session *n, struct session *o, CBS proof) {
  struct server *srv = n->srv;
  /* What the new connection sent after its USER_PROOF is |o|'s now. */
  const uint8_t *after = CBS_data(&proof) + CBS_len(&proof);
  CBS rest;
  CBS_init(&rest, after, (size_t)(n->conn.in + n->conn.in_len - after));
  zt_conn_consumed(&n->conn, &rest);
  SWAP(struct zt_conn, n->conn, o->conn);
  SWAP(uint32_t, n->epoll_events, o->epoll_events);
  rewatch(n);
  rewatch(o);
  SWAP(struct zt_identity, n->device, o->device);
  SWAP(struct zt_identity, n->user, o->user);
  SWAP(STACK_OF(X509) *, n->device_chain, o->device_chain);
  SWAP(STACK_OF(X509) *, n->user_chain, o->user_chain);
  memcpy(o->peer, n->peer, sizeof(o->peer));
  o->generation = n->generation;
  /* Output queued on the old connection is lost with it; the new one
   * starts with the ADMIT. */
  n->taken_over = 1;
  session_teardown(n, ZT_REASON_SHUTDOWN, "re-authenticated on a new connection", 0);
  /* The groups in the new certificates may differ: the policy follows. */
  struct acl *acl = acl_cache_get(srv->acls, &o->user, &o->device);
  if (acl) {
    acl_free(o->acl);
    o->acl = acl;
  }
  o->auth_ms = o->last_rx_ms = srv->now_ms;
  o->reauths++;
  srv->counters.reauths++;
  session_set_expiry(o);
  if (!queue_admit(o, 1)) {
    session_close(o, ZT_REASON_INTERNAL, "cannot build the tunnel parameters");
    return 0;
  }
  log_info("session %llu (%s@%s): re-authenticated from %s (%u so far)",
           (unsigned long long)o->id, o->user.name, o->device.name, o->peer, o->reauths);
  audit_reauth(o);
  if (!session_flush(o)) return 0;
  arm_timer(o);
  return 1;
}

/* Returns 0 when |s| was closed. */
static int on_user_proof(struct session *s, CBS body) {
  uint8_t exporter[ZT_EXPORTER_LEN];
  char why[300];
  if (!zt_proof_exporter(s->conn.ssl, exporter)) {
    session_close(s, ZT_REASON_INTERNAL, "cannot derive the TLS exporter");
    return 0;
  }
  uint16_t code = admission_check_proof_chain(s->srv->user_store, exporter, body,
                                              &s->user, &s->user_chain, why,
                                              sizeof(why));
  OPENSSL_cleanse(exporter, sizeof(exporter));
  /* A reload since the TLS handshake may have revoked the device. */
  if (code == 0 && s->generation != s->srv->generation)
    code = admission_recheck(SSL_CTX_get_cert_store(s->srv->tls), s->device_chain,
                             "device", why, sizeof(why));
  if (code == 0 && !policy_admits(s->srv->policy, &s->user, &s->device, why, sizeof(why)))
    code = ZT_REASON_POLICY;
  if (code != 0) {
    session_close(s, code, why);
    return 0;
  }
  if (s->wants_resume) {
    struct session *o = server_session_by_id(s->srv, s->resume.session_id);
    /* Only the same device and user may take a session over; anything
     * else gets a session of its own, as without RESUME. */
    if (o && o != s &&
        CRYPTO_memcmp(o->resume_token, s->resume.token, ZT_RESUME_TOKEN_LEN) == 0 &&
        strcmp(o->device.name, s->device.name) == 0 &&
        strcmp(o->user.name, s->user.name) == 0) {
      take_over(s, o, body);
      return 0; /* |s| is gone either way */
    }
    log_info("session %llu: session %llu to resume is gone or not this pair's; "
             "starting a new one", (unsigned long long)s->id,
             (unsigned long long)s->resume.session_id);
  }
  return admit(s);
}

/* Handles one message; returns 0 when |s| was closed (and freed). */
static int on_message(struct session *s, uint8_t type, CBS body) {
  struct zt_reason_msg reason;
  char why[ZT_MAX_REASON_TEXT + 64];
  if (s->state == SS_AWAIT_PROOF) {
    if (type == ZT_MSG_RESUME && !s->wants_resume) {
      if (!zt_resume_parse(body, &s->resume)) {
        session_close(s, ZT_REASON_PROTOCOL, "malformed RESUME message");
        return 0;
      }
      s->wants_resume = 1;
      return 1;
    }
    if (type != ZT_MSG_USER_PROOF) {
      session_close(s, ZT_REASON_PROTOCOL, "expected the user proof first");
      return 0;
    }
    return on_user_proof(s, body);
  }
  switch (type) {
    case ZT_MSG_DATA:
      forward_to_tun(s, CBS_data(&body), CBS_len(&body));
      return 1;
    case ZT_MSG_KEEPALIVE:
      return 1;
    case ZT_MSG_PATH: {
      uint8_t path;
      if (!zt_path_parse(body, &path)) {
        session_close(s, ZT_REASON_PROTOCOL, "malformed PATH message");
        return 0;
      }
      udp_session_on_path(s, path);
      return 1;
    }
    case ZT_MSG_CLOSE:
      if (!zt_reason_parse(body, &reason)) {
        session_close(s, ZT_REASON_PROTOCOL, "malformed CLOSE message");
        return 0;
      }
      snprintf(why, sizeof(why), "client closed: %s", reason.text);
      session_teardown(s, reason.code, why, 0);
      return 0;
    default:
      snprintf(why, sizeof(why), "unexpected message type %u", type);
      session_close(s, ZT_REASON_PROTOCOL, why);
      return 0;
  }
}

/* Reads and handles every complete message; returns 0 when |s| was closed. */
static int read_messages(struct session *s) {
  char why[300];
  for (;;) {
    enum zt_io io = zt_conn_read(&s->conn);
    if (io == ZT_IO_WANT) return 1;
    if (io == ZT_IO_EOF) {
      session_teardown(s, ZT_REASON_SHUTDOWN, "client disconnected", 0);
      return 0;
    }
    if (io == ZT_IO_ERR) {
      session_teardown(s, ZT_REASON_PROTOCOL,
                       zt_conn_error(&s->conn, why, sizeof(why)), 0);
      return 0;
    }
    s->last_rx_ms = s->srv->now_ms;
    CBS in, body;
    uint8_t type;
    enum zt_frame_result r;
    zt_conn_pending(&s->conn, &in);
    while ((r = zt_frame_next(&in, &type, &body)) == ZT_FRAME_OK)
      if (!on_message(s, type, body)) return 0;
    if (r != ZT_FRAME_NEED_MORE) {
      session_close(s, ZT_REASON_PROTOCOL, zt_frame_result_str(r));
      return 0;
    }
    zt_conn_consumed(&s->conn, &in);
  }
}

void session_on_io(struct session *s, uint32_t events) {
  if (s->state == SS_HANDSHAKE) {
    enum zt_io io = zt_conn_handshake(&s->conn);
    if (io == ZT_IO_WANT) {
      set_epoll(s, s->conn.want_write ? EPOLLIN | EPOLLOUT : EPOLLIN);
      return;
    }
    if (io != ZT_IO_OK) {
      handshake_failed(s, io);
      return;
    }
    if (!handshake_done(s)) return;
    set_epoll(s, EPOLLIN);
  }
  if ((events & EPOLLOUT) && !session_flush(s)) return;
  if (!read_messages(s)) return;
  if (zt_conn_queued(&s->conn) > 0) session_flush(s);
}

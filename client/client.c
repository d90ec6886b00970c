#include "client.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/err.h>

#include "control.h"
#include "offload.h"
#include "frame.h"
#include "log.h"
#include "packet.h"
#include "timers.h"
#include "tls.h"
#include "userproof.h"

enum { TAG_SOCK = 1, TAG_TUN, TAG_SIG, TAG_UDP, TAG_RSOCK };

#define CLIENT_OUT_MAX (1024 * 1024)
/* TUN reads: a virtio_net_hdr and a super-packet of up to 64 KiB. */
#define CLIENT_TUN_READ (10 + 65535)
/* Above this much queued output the TUN is not read until it drains: the
 * kernel's queue then pushes back on the applications. */
#define CLIENT_OUT_HIGH (256 * 1024)
#define TUN_BATCH 64
/* A super-packet split for the TLS stream: segments of up to this much. */
#define SEG_STRIDE 9216
/* A re-authentication starts this share of reauth_interval after the last
 * one; a failed attempt is retried this often until the server's grace
 * runs out. */
#define REAUTH_AT_PERMILLE 900
#define REAUTH_RETRY_MS 5000

static void set_events(struct client *c, int fd, int tag, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)tag};
  epoll_ctl(c->epfd, EPOLL_CTL_MOD, fd, &ev);
}

static void watch_tun(struct client *c, int on) {
  int want = on ? EPOLLIN : 0;
  if (c->tun.dev.fd < 0 || c->tun_events == want) return;
  struct epoll_event ev = {.events = (uint32_t)want, .data.u32 = TAG_TUN};
  if (c->tun_events < 0)
    epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->tun.dev.fd, &ev);
  else
    epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->tun.dev.fd, &ev);
  c->tun_events = want;
}

static void drop_conn(struct client *c) {
  if (!c->have_conn) return;
  epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->conn.fd, NULL);
  zt_conn_free(&c->conn);
  c->have_conn = 0;
}

/* Ends the current attempt; |final| stops the client with exit code 1. */
static void disconnect(struct client *c, int final, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void disconnect(struct client *c, int final, const char *fmt, ...) {
  char why[700];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof(why), fmt, ap);
  va_end(ap);
  if (!final && c->rstate == CS_AWAIT_ADMIT && c->state == CS_ESTABLISHED) {
    /* The server has just moved the session to the new connection and
     * closed this one: its ADMIT is on the way. */
    log_info("old connection ended (%s); the new one takes over", why);
    drop_conn(c);
    return;
  }
  drop_conn(c);
  /* The device and its routes stay: nothing leaks around it. While UDP
   * works, packets keep flowing; the new connection resumes the session. */
  if (!c->udp.up || final) watch_tun(c, 0);
  if (final) {
    log_err("%s", why);
    c->done = 1;
    c->exit_code = 1;
    return;
  }
  log_warn("disconnected: %s", why);
  if (c->udp.up) c->backoff = 1; /* the session is alive: resume it soon */
  log_info("reconnecting in %us", c->backoff);
  c->state = CS_WAIT;
  c->deadline_ms = c->now_ms + c->backoff * 1000ull;
  c->backoff = c->backoff * 2 > c->cfg->max_backoff ? c->cfg->max_backoff
                                                    : c->backoff * 2;
}

static void start_attempt(struct client *c) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
  struct addrinfo *ai = NULL;
  char port[8];
  snprintf(port, sizeof(port), "%u", c->cfg->server_port);
  int rc = getaddrinfo(c->cfg->server_host, port, &hints, &ai);
  if (rc != 0) {
    disconnect(c, 0, "cannot resolve %s: %s", c->cfg->server_host, gai_strerror(rc));
    return;
  }
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (fd < 0 || (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 &&
                 errno != EINPROGRESS)) {
    int e = errno;
    if (fd >= 0) close(fd);
    freeaddrinfo(ai);
    disconnect(c, 0, "connect to %s:%u: %s", c->cfg->server_host,
               c->cfg->server_port, strerror(e));
    return;
  }
  freeaddrinfo(ai);
  if (!zt_conn_init(&c->conn, fd, c->creds->tls, 0, CLIENT_OUT_MAX) ||
      !zt_tls_client_expect_name(c->conn.ssl, c->cfg->server_name)) {
    zt_conn_free(&c->conn);
    disconnect(c, 0, "cannot set up TLS");
    return;
  }
  c->have_conn = 1;
  struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = TAG_SOCK};
  epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev);
  c->state = CS_CONNECTING;
  c->deadline_ms = c->now_ms + c->cfg->connect_timeout * 1000ull;
  log_info("connecting to %s:%u", c->cfg->server_host, c->cfg->server_port);
}

/* Alerts by which a server refuses the device certificate. */
static int is_auth_alert(int alert) {
  switch (alert) {
    case SSL_AD_BAD_CERTIFICATE:
    case SSL_AD_UNSUPPORTED_CERTIFICATE:
    case SSL_AD_CERTIFICATE_REVOKED:
    case SSL_AD_CERTIFICATE_EXPIRED:
    case SSL_AD_CERTIFICATE_UNKNOWN:
    case SSL_AD_UNKNOWN_CA:
    case SSL_AD_ACCESS_DENIED:
    case SSL_AD_CERTIFICATE_REQUIRED:
    case SSL_AD_NO_APPLICATION_PROTOCOL:
      return 1;
    default:
      return 0;
  }
}

/* A failed read or handshake: server certificate, refusal, or network. */
static void tls_failed(struct client *c, enum zt_io io) {
  char why[300];
  long vr = zt_conn_verify_error(&c->conn);
  int alert = c->conn.peer_alert;
  if (vr != X509_V_OK) {
    if (vr == X509_V_ERR_HOSTNAME_MISMATCH)
      disconnect(c, 1, "server certificate does not match server_name \"%s\"",
                 c->cfg->server_name);
    else
      disconnect(c, 1, "server certificate verification failed: %s",
                 X509_verify_cert_error_string(vr));
  } else if (alert >= 0 && is_auth_alert(alert)) {
    disconnect(c, 1, "rejected by server: device certificate refused (TLS alert: %s)",
               SSL_alert_desc_string_long(alert));
  } else if (io == ZT_IO_EOF) {
    disconnect(c, 0, "connection closed by the server");
  } else {
    disconnect(c, 0, "%s", zt_conn_error(&c->conn, why, sizeof(why)));
  }
  ERR_clear_error();
}

/* Queues RESUME for the session the last ADMIT named (when it gave a
 * token) and the user proof on |conn|. Returns 1 or 0. */
static int queue_proof(struct client *c, struct zt_conn *conn) {
  uint8_t exporter[ZT_EXPORTER_LEN], body[ZT_MAX_USER_PROOF];
  size_t len;
  CBB cbb;
  if (c->admit.has_resume) {
    struct zt_resume r = {.session_id = c->admit.session_id};
    memcpy(r.token, c->admit.resume_token, sizeof(r.token));
    int ok = CBB_init_fixed(&cbb, body, sizeof(body)) && zt_resume_build(&cbb, &r) &&
             CBB_finish(&cbb, NULL, &len) && zt_conn_queue(conn, ZT_MSG_RESUME, body, len);
    OPENSSL_cleanse(&r, sizeof(r));
    if (!ok) return 0;
  }
  int ok = zt_proof_exporter(conn->ssl, exporter) &&
           CBB_init_fixed(&cbb, body, sizeof(body)) &&
           client_proof_build(c->creds, exporter, &cbb) &&
           CBB_finish(&cbb, NULL, &len) &&
           zt_conn_queue(conn, ZT_MSG_USER_PROOF, body, len);
  OPENSSL_cleanse(exporter, sizeof(exporter));
  return ok;
}

static void send_proof(struct client *c) {
  if (!zt_tls_alpn_ok(c->conn.ssl)) {
    disconnect(c, 1, "the server does not speak %s", ZT_ALPN);
    return;
  }
  if (!queue_proof(c, &c->conn)) {
    disconnect(c, 1, "cannot build the user proof");
    return;
  }
  c->state = CS_AWAIT_ADMIT;
}

/* Tells the server which path its data should take. */
static void send_path(struct client *c, int path) {
  uint8_t body[ZT_PATH_MSG_LEN];
  size_t len;
  CBB cbb;
  if (!c->have_conn || c->state != CS_ESTABLISHED) {
    c->udp.told = -1; /* tell the next connection */
    return;
  }
  if (CBB_init_fixed(&cbb, body, sizeof(body)) && zt_path_build(&cbb, (uint8_t)path) &&
      CBB_finish(&cbb, NULL, &len))
    zt_conn_queue(&c->conn, ZT_MSG_PATH, body, len);
}

/* peer_ip reads the address the socket |fd| is connected to (an IPv4-mapped
 * IPv6 address as IPv4, the way routes see it). Returns 1 or 0. */
static int peer_ip(int fd, struct zt_ip *out) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0) return 0;
  memset(out, 0, sizeof(*out));
  if (ss.ss_family == AF_INET) {
    out->family = AF_INET;
    memcpy(out->addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
    return 1;
  }
  if (ss.ss_family != AF_INET6) {
    errno = EAFNOSUPPORT;
    return 0;
  }
  const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
  out->family = IN6_IS_ADDR_V4MAPPED(a6) ? AF_INET : AF_INET6;
  if (out->family == AF_INET)
    memcpy(out->addr, a6->s6_addr + 12, 4);
  else
    memcpy(out->addr, a6->s6_addr, 16);
  return 1;
}

/* Keys the UDP data channel from |conn| when the server offers one and
 * caps the tunnel MTU of |ad| at what the path to the server takes. */
static void start_udp(struct client *c, struct zt_conn *conn, struct zt_admit *ad) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (!c->cfg->udp || !ad->has_udp) {
    client_udp_close(&c->udp);
    return;
  }
  if (getpeername(conn->fd, (struct sockaddr *)&ss, &len) != 0 ||
      !client_udp_start(&c->udp, conn->ssl, ad, (struct sockaddr *)&ss, len, c->now_ms))
    return;
  if (c->udp.mtu_cap && c->udp.mtu_cap < ad->mtu && c->udp.mtu_cap >= ZT_MIN_MTU) {
    log_info("tunnel MTU %u instead of %u: the path to the server takes no more",
             c->udp.mtu_cap, ad->mtu);
    ad->mtu = (uint16_t)c->udp.mtu_cap;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TAG_UDP};
  if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->udp.fd, &ev) != 0 && errno != EEXIST)
    log_warn("UDP: cannot watch the socket: %s", strerror(errno));
}

static void schedule_reauth(struct client *c) {
  uint32_t iv = c->admit.reauth_interval;
  c->reauth_at_ms = iv ? c->now_ms + iv * (uint64_t)REAUTH_AT_PERMILLE : 0;
}

static void on_admit(struct client *c, CBS body) {
  char err[512], a[ZT_ADDR_STRLEN], a6[ZT_ADDR_STRLEN];
  struct zt_ip server;
  if (!zt_admit_parse(body, &c->admit)) {
    disconnect(c, 0, "malformed ADMIT from the server");
    return;
  }
  struct zt_admit *ad = &c->admit;
  /* The tunnel needs it to keep this very connection out of its routes. */
  if (!peer_ip(c->conn.fd, &server)) {
    disconnect(c, 0, "cannot read the server's address: %s", strerror(errno));
    return;
  }
  start_udp(c, &c->conn, ad);
  if (!tunnel_apply(&c->tun, c->cfg->interface, ad, &server, err, sizeof(err))) {
    disconnect(c, 1, "cannot configure the tunnel: %s", err);
    return;
  }
  schedule_reauth(c);
  if (ad->resumed) {
    c->state = CS_ESTABLISHED;
    c->backoff = 1;
    c->last_rx_ms = c->last_tx_ms = c->now_ms;
    log_info("session %llu resumed on a new connection",
             (unsigned long long)ad->session_id);
    watch_tun(c, 1);
    return;
  }
  c->state = CS_ESTABLISHED;
  c->since = time(NULL);
  c->pkts_in = c->pkts_out = 0;
  c->keepalive = ad->keepalive;
  c->backoff = 1;
  c->last_rx_ms = c->last_tx_ms = c->now_ms;
  log_info("admitted: session %llu, mtu %u, %zu routes",
           (unsigned long long)ad->session_id, ad->mtu, ad->nroutes);
  for (size_t i = 0; i < ad->nroutes; i++)
    log_info("route %s via %s", zt_prefix_format(&ad->routes[i], a), c->tun.dev.name);
  for (size_t i = 0; i < ad->ndns; i++)
    log_info("DNS server %s (not applied: configure your resolver)",
             zt_ip_format(&ad->dns[i], a));
  for (size_t i = 0; i < ad->ndomains; i++) log_info("DNS domain %s", ad->domains[i]);
  struct zt_ip ip4 = {.family = AF_INET};
  memcpy(ip4.addr, ad->addr4.addr, 4);
  a6[0] = '\0';
  if (ad->has_addr6) {
    struct zt_ip ip6 = {.family = AF_INET6};
    memcpy(ip6.addr, ad->addr6.addr, 16);
    snprintf(a6, sizeof(a6), "%s", zt_ip_format(&ip6, (char[ZT_ADDR_STRLEN]){0}));
  }
  log_info("tunnel up: %s address %s%s%s", c->tun.dev.name, zt_ip_format(&ip4, a),
           a6[0] ? " " : "", a6);
  watch_tun(c, 1);
}

/* The server's policy for us changed (a reload): new routes, same session. */
static void on_routes(struct client *c, CBS body) {
  static struct zt_routes r; /* 6 KiB; the client is single-threaded */
  char err[512], p[ZT_ADDR_STRLEN];
  size_t added, removed;
  if (!zt_routes_parse(body, &r)) {
    disconnect(c, 0, "malformed ROUTES from the server");
    return;
  }
  if (!tunnel_update_routes(&c->tun, &r, &added, &removed, err, sizeof(err))) {
    disconnect(c, 0, "cannot apply the new routes: %s", err);
    return;
  }
  c->admit.nroutes = r.n;
  memcpy(c->admit.routes, r.routes, r.n * sizeof(r.routes[0]));
  log_info("routes updated by the server: %zu added, %zu removed, %zu now", added,
           removed, r.n);
  for (size_t i = 0; i < r.n; i++)
    log_info("route %s via %s", zt_prefix_format(&r.routes[i], p), c->tun.dev.name);
}

static void on_reason(struct client *c, uint8_t type, CBS body) {
  struct zt_reason_msg r;
  if (!zt_reason_parse(body, &r)) {
    disconnect(c, 0, "malformed %s from the server",
               type == ZT_MSG_REJECT ? "REJECT" : "CLOSE");
    return;
  }
  int final = zt_reason_is_final(r.code);
  if (type == ZT_MSG_REJECT || c->state != CS_ESTABLISHED)
    disconnect(c, final, "rejected by server: %s", r.text);
  else
    disconnect(c, final, "session closed by server (%s): %s", zt_reason_name(r.code),
               r.text);
}

static int is_own_address(const struct client *c, const struct zt_ip *dst) {
  if (dst->family == AF_INET) return memcmp(dst->addr, c->admit.addr4.addr, 4) == 0;
  return c->admit.has_addr6 && memcmp(dst->addr, c->admit.addr6.addr, 16) == 0;
}

/* The server is authenticated, but only packets to our own addresses get
 * through to the device. */
static int may_deliver(void *arg, const uint8_t *pkt, size_t len) {
  struct client *c = arg;
  struct zt_pkt info;
  if (!zt_pkt_parse(pkt, len, &info) || !is_own_address(c, &info.dst)) {
    c->drops++;
    return 0;
  }
  c->pkts_in++;
  return 1;
}

/* Only our own addresses may speak through the tunnel (the kernel also
 * sends link-local chatter, such as IPv6 router solicitations, into the
 * device), which the concentrator would enforce anyway. */
static int may_send(void *arg, const uint8_t *pkt, size_t len) {
  struct client *c = arg;
  struct zt_pkt info;
  if (!zt_pkt_parse(pkt, len, &info) || !is_own_address(c, &info.src)) {
    c->drops++;
    return 0;
  }
  c->pkts_out++;
  return 1;
}

static void on_data(struct client *c, CBS body) {
  static const uint8_t none[ZT_VNET_HDR_LEN];
  struct iovec iov[2] = {{(void *)none, ZT_VNET_HDR_LEN},
                         {(void *)CBS_data(&body), CBS_len(&body)}};
  int vnet = c->tun.dev.vnet;
  if (!may_deliver(c, CBS_data(&body), CBS_len(&body))) return;
  if (writev(c->tun.dev.fd, vnet ? iov : iov + 1, vnet ? 2 : 1) !=
      (ssize_t)(CBS_len(&body) + (vnet ? ZT_VNET_HDR_LEN : 0))) {
    c->pkts_in--;
    c->drops++;
  }
}

/* Returns 0 when the connection ended. */
static int on_message(struct client *c, uint8_t type, CBS body) {
  if (type == ZT_MSG_REJECT || type == ZT_MSG_CLOSE) {
    on_reason(c, type, body);
    return 0;
  }
  if (c->state == CS_AWAIT_ADMIT && type == ZT_MSG_ADMIT) {
    on_admit(c, body);
    return c->state == CS_ESTABLISHED;
  }
  if (c->state == CS_ESTABLISHED && type == ZT_MSG_DATA) {
    on_data(c, body);
    return 1;
  }
  if (c->state == CS_ESTABLISHED && type == ZT_MSG_KEEPALIVE) return 1;
  if (c->state == CS_ESTABLISHED && type == ZT_MSG_ROUTES) {
    on_routes(c, body);
    return c->state == CS_ESTABLISHED;
  }
  disconnect(c, 0, "unexpected message type %u from the server", type);
  return 0;
}

static void flush(struct client *c) {
  enum zt_io io = zt_conn_flush(&c->conn);
  if (io == ZT_IO_ERR || io == ZT_IO_EOF) {
    tls_failed(c, io);
    return;
  }
  if (io == ZT_IO_OK) c->last_tx_ms = c->now_ms;
  set_events(c, c->conn.fd, TAG_SOCK, io == ZT_IO_WANT ? EPOLLIN | EPOLLOUT : EPOLLIN);
  if (c->state == CS_ESTABLISHED)
    watch_tun(c, c->udp.up || zt_conn_queued(&c->conn) < CLIENT_OUT_HIGH);
}

static void read_messages(struct client *c) {
  for (;;) {
    enum zt_io io = zt_conn_read(&c->conn);
    if (io == ZT_IO_WANT) return;
    if (io != ZT_IO_OK) {
      tls_failed(c, io);
      return;
    }
    c->last_rx_ms = c->now_ms;
    CBS in, body;
    uint8_t type;
    enum zt_frame_result r;
    zt_conn_pending(&c->conn, &in);
    while ((r = zt_frame_next(&in, &type, &body)) == ZT_FRAME_OK)
      if (!on_message(c, type, body)) return;
    if (r != ZT_FRAME_NEED_MORE) {
      disconnect(c, 0, "from the server: %s", zt_frame_result_str(r));
      return;
    }
    zt_conn_consumed(&c->conn, &in);
  }
}

static void on_socket(struct client *c, uint32_t events) {
  if (c->state == CS_CONNECTING) {
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(c->conn.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      disconnect(c, 0, "connect to %s:%u: %s", c->cfg->server_host,
                 c->cfg->server_port, strerror(err));
      return;
    }
    c->state = CS_HANDSHAKE;
  }
  if (c->state == CS_HANDSHAKE) {
    enum zt_io io = zt_conn_handshake(&c->conn);
    if (io == ZT_IO_WANT) {
      set_events(c, c->conn.fd, TAG_SOCK, c->conn.want_write ? EPOLLIN | EPOLLOUT : EPOLLIN);
      return;
    }
    if (io != ZT_IO_OK) {
      tls_failed(c, io);
      return;
    }
    send_proof(c);
    if (!c->have_conn || c->done) return;
    flush(c);
    if (!c->have_conn) return;
  }
  if ((events & EPOLLOUT) && zt_conn_queued(&c->conn) > 0) {
    flush(c);
    if (!c->have_conn) return;
  }
  read_messages(c);
  if (c->have_conn && zt_conn_queued(&c->conn) > 0) flush(c);
}

/* Queues the packets of one TUN read on the TLS stream (a super-packet is
 * split first). */
static void send_stream(struct client *c, const uint8_t *pkt, size_t len) {
  size_t seglen[ZT_GSO_MAX_SEGS], stride = 0;
  const uint8_t *base = pkt;
  int n = 1;
  if (c->tun.dev.vnet) {
    n = zt_gso_split(pkt, len, c->segs, SEG_STRIDE, 0, ZT_GSO_MAX_SEGS, seglen);
    if (n < 0) {
      c->drops++;
      return;
    }
    base = c->segs;
    stride = SEG_STRIDE;
  } else {
    seglen[0] = len;
  }
  for (int k = 0; k < n; k++) {
    const uint8_t *p = base + (size_t)k * stride;
    if (!may_send(c, p, seglen[k])) continue;
    if (!zt_conn_queue(&c->conn, ZT_MSG_DATA, p, seglen[k])) {
      c->pkts_out--;
      c->drops++;
    }
  }
}

static void on_tun(struct client *c) {
  int stream = c->have_conn && c->state == CS_ESTABLISHED;
  for (int i = 0; i < TUN_BATCH; i++) {
    if (!c->udp.up && (!stream || zt_conn_queued(&c->conn) >= CLIENT_OUT_HIGH)) break;
    ssize_t n = read(c->tun.dev.fd, c->pkt, CLIENT_TUN_READ);
    if (n <= 0) break;
    if (c->udp.up)
      client_udp_send(&c->udp, c->pkt, (size_t)n, c->tun.dev.vnet, may_send, c, c->now_ms);
    else
      send_stream(c, c->pkt, (size_t)n);
  }
  client_udp_flush(&c->udp);
  if (stream) flush(c);
}

static void watch_tun_for_paths(struct client *c) {
  if (c->udp.up) watch_tun(c, 1);
  else if (!(c->have_conn && c->state == CS_ESTABLISHED)) watch_tun(c, 0);
}

static void on_udp(struct client *c) {
  int path;
  client_udp_receive(&c->udp, c->tun.dev.fd, c->tun.dev.vnet, c->tun.dev.uso, may_deliver,
                     c, c->now_ms, &path);
  if (path >= 0) {
    send_path(c, path);
    if (c->have_conn && c->state == CS_ESTABLISHED) flush(c);
    watch_tun_for_paths(c);
  }
}

/* --- re-authentication: a second connection, then a switch ------------- */

static void drop_reauth(struct client *c) {
  if (c->rstate == CS_WAIT) return;
  epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->rconn.fd, NULL);
  zt_conn_free(&c->rconn);
  c->rstate = CS_WAIT;
}

static void reauth_failed(struct client *c, const char *why) {
  drop_reauth(c);
  if (!c->have_conn && c->state == CS_ESTABLISHED) {
    disconnect(c, 0, "re-authentication failed after the old connection ended: %s", why);
    return;
  }
  log_warn("re-authentication failed: %s; retrying in %d s", why, REAUTH_RETRY_MS / 1000);
  c->reauth_at_ms = c->now_ms + REAUTH_RETRY_MS;
}

static void start_reauth(struct client *c) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  /* The same address as the live connection: a re-authentication is not
   * the moment to fail over to another server. */
  if (getpeername(c->conn.fd, (struct sockaddr *)&ss, &len) != 0) {
    reauth_failed(c, strerror(errno));
    return;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (fd < 0 || (connect(fd, (struct sockaddr *)&ss, len) != 0 && errno != EINPROGRESS)) {
    if (fd >= 0) close(fd);
    reauth_failed(c, strerror(errno));
    return;
  }
  if (!zt_conn_init(&c->rconn, fd, c->creds->tls, 0, CLIENT_OUT_MAX) ||
      !zt_tls_client_expect_name(c->rconn.ssl, c->cfg->server_name)) {
    zt_conn_free(&c->rconn);
    reauth_failed(c, "cannot set up TLS");
    return;
  }
  struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = TAG_RSOCK};
  epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev);
  c->rstate = CS_CONNECTING;
  c->rdeadline_ms = c->now_ms + c->cfg->connect_timeout * 1000ull;
  log_info("re-authenticating session %llu on a new connection",
           (unsigned long long)c->admit.session_id);
}

/* The new connection's ADMIT: it becomes the connection of the session.
 * Returns 1 when it did. */
static int reauth_admitted(struct client *c, CBS body) {
  struct zt_admit *ad = calloc(1, sizeof(*ad));
  if (!ad || !zt_admit_parse(body, ad)) {
    free(ad);
    reauth_failed(c, "malformed ADMIT");
    return 0;
  }
  if (!ad->resumed || ad->session_id != c->admit.session_id) {
    /* The server no longer had our session and made a new one: that is a
     * reconnection, with a tunnel set up afresh. */
    free(ad);
    drop_reauth(c);
    disconnect(c, 0, "the server started a new session on re-authentication");
    return 0;
  }
  drop_conn(c);
  c->conn = c->rconn;
  c->have_conn = 1;
  c->rstate = CS_WAIT;
  c->state = CS_ESTABLISHED;
  watch_tun(c, 1);
  set_events(c, c->conn.fd, TAG_SOCK, EPOLLIN);
  /* set_events modifies: the fd is registered under TAG_RSOCK already. */
  start_udp(c, &c->conn, ad);
  ad->mtu = c->admit.mtu; /* the device stays as it is */
  memcpy(&c->admit, ad, sizeof(*ad));
  OPENSSL_cleanse(ad, sizeof(*ad));
  free(ad);
  c->reauths++;
  c->last_rx_ms = c->last_tx_ms = c->now_ms;
  c->udp.told = -1; /* the new connection has not been told the path yet */
  schedule_reauth(c);
  log_info("re-authenticated: session %llu continues on the new connection (%u so far)",
           (unsigned long long)c->admit.session_id, c->reauths);
  return 1;
}

static void rflush(struct client *c) {
  enum zt_io io = zt_conn_flush(&c->rconn);
  if (io == ZT_IO_ERR || io == ZT_IO_EOF) {
    reauth_failed(c, "connection lost");
    return;
  }
  set_events(c, c->rconn.fd, TAG_RSOCK, io == ZT_IO_WANT ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

static void on_rsocket(struct client *c, uint32_t events) {
  char why[300];
  if (c->rstate == CS_CONNECTING) {
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(c->rconn.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      reauth_failed(c, strerror(err));
      return;
    }
    c->rstate = CS_HANDSHAKE;
  }
  if (c->rstate == CS_HANDSHAKE) {
    enum zt_io io = zt_conn_handshake(&c->rconn);
    if (io == ZT_IO_WANT) {
      set_events(c, c->rconn.fd, TAG_RSOCK,
                 c->rconn.want_write ? EPOLLIN | EPOLLOUT : EPOLLIN);
      return;
    }
    if (io != ZT_IO_OK || !zt_tls_alpn_ok(c->rconn.ssl) || !queue_proof(c, &c->rconn)) {
      reauth_failed(c, io != ZT_IO_OK ? zt_conn_error(&c->rconn, why, sizeof(why))
                                      : "cannot send the user proof");
      ERR_clear_error();
      return;
    }
    c->rstate = CS_AWAIT_ADMIT;
    rflush(c);
    return;
  }
  if ((events & EPOLLOUT) && zt_conn_queued(&c->rconn) > 0) {
    rflush(c);
    if (c->rstate == CS_WAIT) return;
  }
  for (;;) {
    enum zt_io io = zt_conn_read(&c->rconn);
    if (io == ZT_IO_WANT) return;
    if (io != ZT_IO_OK) {
      reauth_failed(c, io == ZT_IO_EOF ? "closed by the server"
                                       : zt_conn_error(&c->rconn, why, sizeof(why)));
      ERR_clear_error();
      return;
    }
    CBS in, body;
    uint8_t type;
    zt_conn_pending(&c->rconn, &in);
    enum zt_frame_result fr = zt_frame_next(&in, &type, &body);
    if (fr == ZT_FRAME_NEED_MORE) continue;
    if (fr != ZT_FRAME_OK) {
      reauth_failed(c, zt_frame_result_str(fr));
      return;
    }
    if (type == ZT_MSG_ADMIT) {
      /* |body| is read before the bytes are consumed (and moved). */
      if (reauth_admitted(c, body)) zt_conn_consumed(&c->conn, &in);
      /* What followed ADMIT on the new connection is read as the main
       * connection's from now on. */
      if (c->rstate == CS_WAIT && c->have_conn) read_messages(c);
      return;
    }
    struct zt_reason_msg r;
    if ((type == ZT_MSG_REJECT || type == ZT_MSG_CLOSE) && zt_reason_parse(body, &r)) {
      snprintf(why, sizeof(why), "refused by the server: %s", r.text);
      reauth_failed(c, why);
    } else {
      reauth_failed(c, "unexpected message");
    }
    return;
  }
}

/* Reads the TUN device only while a path can carry its packets: UDP, or
 * an established TLS connection (which flush() throttles). */
static void on_timer(struct client *c) {
  int path = client_udp_tick(&c->udp, c->now_ms);
  if (path >= 0) {
    send_path(c, path);
    if (c->have_conn && c->state == CS_ESTABLISHED) flush(c);
    watch_tun_for_paths(c);
  }
  if (c->rstate != CS_WAIT && c->now_ms >= c->rdeadline_ms)
    reauth_failed(c, "no answer in time");
  if (c->state == CS_ESTABLISHED && c->rstate == CS_WAIT && c->reauth_at_ms &&
      c->now_ms >= c->reauth_at_ms) {
    start_reauth(c);
    if (!c->have_conn) return;
  }
  if (c->state == CS_WAIT) {
    if (c->now_ms >= c->deadline_ms) {
      c->reconnects++;
      start_attempt(c);
    }
    return;
  }
  if (c->state != CS_ESTABLISHED) {
    if (c->now_ms >= c->deadline_ms)
      disconnect(c, 0, "no answer from the server within %us", c->cfg->connect_timeout);
    return;
  }
  if (!c->have_conn) return; /* between an old connection and its successor */
  uint64_t ka = c->keepalive * 1000ull;
  if (c->now_ms - c->last_rx_ms >= ka * ZT_DEAD_FACTOR) {
    disconnect(c, 0, "no keepalive from the server for %us",
               c->keepalive * ZT_DEAD_FACTOR);
    return;
  }
  if (c->now_ms - c->last_tx_ms >= ka) {
    zt_conn_queue(&c->conn, ZT_MSG_KEEPALIVE, NULL, 0);
    flush(c);
    c->last_tx_ms = c->now_ms;
  }
}

static int next_timeout(const struct client *c) {
  uint64_t when = c->deadline_ms;
  if (c->state == CS_ESTABLISHED) {
    uint64_t ka = c->keepalive * 1000ull;
    uint64_t dead = c->last_rx_ms + ka * ZT_DEAD_FACTOR, ping = c->last_tx_ms + ka;
    when = dead < ping ? dead : ping;
  }
  if (when <= c->now_ms) return 0;
  return when - c->now_ms > 1000 ? 1000 : (int)(when - c->now_ms);
}

static void on_signal(struct client *c) {
  struct signalfd_siginfo si;
  while (read(c->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
    if (si.ssi_signo == SIGHUP) continue;
    log_info("%s: disconnecting", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
    if (c->have_conn && c->state == CS_ESTABLISHED) {
      uint8_t body[64];
      size_t len;
      CBB cbb;
      c->conn.out_off = c->conn.out_len = 0;
      if (CBB_init_fixed(&cbb, body, sizeof(body)) &&
          zt_reason_build(&cbb, ZT_REASON_SHUTDOWN, "client stopping") &&
          CBB_finish(&cbb, NULL, &len) &&
          zt_conn_queue(&c->conn, ZT_MSG_CLOSE, body, len))
        zt_conn_flush(&c->conn);
      zt_conn_shutdown(&c->conn);
    }
    c->done = 1;
    c->exit_code = 0;
  }
}

int client_run(struct client *c, const struct client_config *cfg,
               const struct client_creds *creds) {
  sigset_t mask;
  memset(c, 0, sizeof(*c));
  c->cfg = cfg;
  c->creds = creds;
  c->backoff = 1;
  c->tun_events = -1;
  tunnel_init(&c->tun);
  signal(SIGPIPE, SIG_IGN);
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  c->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  c->epfd = epoll_create1(EPOLL_CLOEXEC);
  c->pkt = malloc(CLIENT_TUN_READ);
  c->segs = malloc((size_t)ZT_GSO_MAX_SEGS * SEG_STRIDE);
  client_udp_init(&c->udp);
  c->rstate = CS_WAIT;
  struct epoll_event sev = {.events = EPOLLIN, .data.u32 = TAG_SIG};
  if (c->sig_fd < 0 || c->epfd < 0 || !c->pkt || !c->segs ||
      epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->sig_fd, &sev) != 0) {
    log_err("event setup: %s", strerror(errno));
    free(c->pkt);
    return 1;
  }
  if (!client_control_open(c)) {
    close(c->epfd);
    close(c->sig_fd);
    free(c->pkt);
    return 1;
  }
  c->now_ms = zt_now_ms();
  start_attempt(c);
  while (!c->done) {
    struct epoll_event evs[8];
    c->now_ms = zt_now_ms();
    int n = epoll_wait(c->epfd, evs, 8, client_control_timeout(c, next_timeout(c)));
    c->now_ms = zt_now_ms();
    for (int i = 0; i < n && !c->done; i++) {
      uint32_t tag = evs[i].data.u32;
      if (tag == TAG_SIG) on_signal(c);
      else if (tag == TAG_SOCK && c->have_conn) on_socket(c, evs[i].events);
      else if (tag == TAG_TUN && (c->state == CS_ESTABLISHED || c->udp.up)) on_tun(c);
      else if (tag == TAG_UDP) on_udp(c);
      else if (tag == TAG_RSOCK && c->rstate != CS_WAIT) on_rsocket(c, evs[i].events);
      else if (client_control_owns(tag)) client_control_on_event(c, tag, evs[i].events);
    }
    if (!c->done) on_timer(c);
    client_control_expire(c);
  }
  client_control_close(c);
  drop_conn(c);
  drop_reauth(c);
  client_udp_close(&c->udp);
  free(c->segs);
  tunnel_close(&c->tun);
  close(c->epfd);
  close(c->sig_fd);
  free(c->pkt);
  return c->exit_code;
}

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
#include <unistd.h>

#include <openssl/err.h>

#include "control.h"
#include "frame.h"
#include "log.h"
#include "packet.h"
#include "timers.h"
#include "tls.h"
#include "userproof.h"

enum { TAG_SOCK = 1, TAG_TUN, TAG_SIG };

#define CLIENT_OUT_MAX (1024 * 1024)
/* Above this much queued output the TUN is not read until it drains: the
 * kernel's queue then pushes back on the applications. */
#define CLIENT_OUT_HIGH (256 * 1024)
#define TUN_BATCH 64

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
  drop_conn(c);
  watch_tun(c, 0); /* the device and its routes stay: nothing leaks around it */
  if (final) {
    log_err("%s", why);
    c->done = 1;
    c->exit_code = 1;
    return;
  }
  log_warn("disconnected: %s", why);
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

static void send_proof(struct client *c) {
  uint8_t exporter[ZT_EXPORTER_LEN], body[ZT_MAX_USER_PROOF];
  size_t len;
  CBB cbb;
  if (!zt_tls_alpn_ok(c->conn.ssl)) {
    disconnect(c, 1, "the server does not speak %s", ZT_ALPN);
    return;
  }
  int ok = zt_proof_exporter(c->conn.ssl, exporter) &&
           CBB_init_fixed(&cbb, body, sizeof(body)) &&
           client_proof_build(c->creds, exporter, &cbb) &&
           CBB_finish(&cbb, NULL, &len) &&
           zt_conn_queue(&c->conn, ZT_MSG_USER_PROOF, body, len);
  OPENSSL_cleanse(exporter, sizeof(exporter));
  if (!ok) {
    disconnect(c, 1, "cannot build the user proof");
    return;
  }
  c->state = CS_AWAIT_ADMIT;
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

static void on_admit(struct client *c, CBS body) {
  char err[512], a[ZT_ADDR_STRLEN], a6[ZT_ADDR_STRLEN];
  struct zt_ip server;
  if (!zt_admit_parse(body, &c->admit)) {
    disconnect(c, 0, "malformed ADMIT from the server");
    return;
  }
  const struct zt_admit *ad = &c->admit;
  /* The tunnel needs it to keep this very connection out of its routes. */
  if (!peer_ip(c->conn.fd, &server)) {
    disconnect(c, 0, "cannot read the server's address: %s", strerror(errno));
    return;
  }
  if (!tunnel_apply(&c->tun, c->cfg->interface, ad, &server, err, sizeof(err))) {
    disconnect(c, 1, "cannot configure the tunnel: %s", err);
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

static void on_data(struct client *c, CBS body) {
  struct zt_pkt info;
  /* The server is authenticated, but only our own addresses get through. */
  if (!zt_pkt_parse(CBS_data(&body), CBS_len(&body), &info) ||
      !is_own_address(c, &info.dst) ||
      write(c->tun.dev.fd, CBS_data(&body), CBS_len(&body)) != (ssize_t)CBS_len(&body))
    c->drops++;
  else
    c->pkts_in++;
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
    watch_tun(c, zt_conn_queued(&c->conn) < CLIENT_OUT_HIGH);
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

static void on_tun(struct client *c) {
  for (int i = 0; i < TUN_BATCH && zt_conn_queued(&c->conn) < CLIENT_OUT_HIGH; i++) {
    ssize_t n = read(c->tun.dev.fd, c->pkt, ZT_MAX_DATA);
    if (n <= 0) break;
    struct zt_pkt info;
    /* The kernel also sends link-local chatter (IPv6 router solicitations)
     * into the device: only our own addresses may speak through the tunnel,
     * which the concentrator would enforce anyway. */
    if (!zt_pkt_parse(c->pkt, (size_t)n, &info) || !is_own_address(c, &info.src) ||
        !zt_conn_queue(&c->conn, ZT_MSG_DATA, c->pkt, (size_t)n))
      c->drops++;
    else
      c->pkts_out++;
  }
  flush(c);
}

static void on_timer(struct client *c) {
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
  c->pkt = malloc(ZT_MAX_DATA);
  struct epoll_event sev = {.events = EPOLLIN, .data.u32 = TAG_SIG};
  if (c->sig_fd < 0 || c->epfd < 0 || !c->pkt ||
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
      else if (tag == TAG_TUN && c->state == CS_ESTABLISHED) on_tun(c);
      else if (client_control_owns(tag)) client_control_on_event(c, tag, evs[i].events);
    }
    if (!c->done) on_timer(c);
    client_control_expire(c);
  }
  client_control_close(c);
  drop_conn(c);
  tunnel_close(&c->tun);
  close(c->epfd);
  close(c->sig_fd);
  free(c->pkt);
  return c->exit_code;
}

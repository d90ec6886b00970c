#include "metrics_http.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/mem.h>

#include "log.h"
#include "metrics.h"
#include "server.h"

#define METRICS_READ_TIMEOUT_MS 2000   /* to send the whole request head */
#define METRICS_WRITE_TIMEOUT_MS 10000 /* to read the whole answer */
/* After the answer: how long, and how many bytes, to read and discard what
 * the client still sends, so that closing with unread data does not reset
 * the connection before the client has read its answer. */
#define METRICS_LINGER_MS 1000
#define METRICS_LINGER_MAX (64 * 1024)

#define METRICS_CTYPE "text/plain; version=0.0.4; charset=utf-8"
#define TEXT_CTYPE "text/plain; charset=utf-8"

enum mconn_state { MC_FREE, MC_READING, MC_WRITING, MC_LINGER };

struct metrics_conn {
  struct ev_source ev; /* EV_METRICS_CONN; first member */
  struct metrics_http *m;
  enum mconn_state state;
  int fd;
  char peer[64];
  uint8_t in[HTTP_MAX_HEAD];
  size_t in_len, drained;
  uint8_t *out; /* the whole response, OPENSSL_malloc'ed */
  size_t out_len, out_off;
  struct zt_timer timer;
};

struct metrics_http {
  struct ev_source ev; /* EV_METRICS: the listener; first member */
  struct server *srv;
  int fd;
  char where[300]; /* "HOST:PORT" for the logs */
  struct metrics_conn conns[METRICS_MAX_CONNS];
  unsigned nconns;
  uint64_t refused, refused_logged, refused_log_ms;
};

/* ---- responses --------------------------------------------------------------- */

static int add_str(CBB *out, const char *s) {
  return CBB_add_bytes(out, (const uint8_t *)s, strlen(s));
}

static const char *status_text(int code) {
  switch (code) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 505: return "HTTP Version Not Supported";
    default: return "Internal Server Error";
  }
}

/* Writes a response with |body| (sent unless |head_only|: a HEAD request
 * gets the length of what GET would have had). Returns |code| or 0. */
static int response(CBB *out, int code, const char *ctype, const char *extra,
                    const uint8_t *body, size_t body_len, int head_only) {
  char line[256];
  snprintf(line, sizeof(line),
           "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
           "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
           code, status_text(code), ctype, body_len, extra);
  if (!add_str(out, line) || (!head_only && !CBB_add_bytes(out, body, body_len))) return 0;
  return code;
}

static int text_response(CBB *out, int code, const char *extra, const char *text,
                         int head_only) {
  return response(out, code, TEXT_CTYPE, extra, (const uint8_t *)text, strlen(text),
                  head_only);
}

static int metrics_response(const struct server *srv, CBB *out, int head_only) {
  CBB text;
  int code = 0;
  if (!CBB_init(&text, 8192)) return 0;
  if (metrics_render(srv, &text) && CBB_len(&text) <= METRICS_MAX_TEXT)
    code = response(out, 200, METRICS_CTYPE, "", CBB_data(&text), CBB_len(&text), head_only);
  else
    code = text_response(out, 500, "", "500 cannot render the metrics\n", head_only);
  CBB_cleanup(&text);
  return code;
}

int metrics_http_respond(const struct server *srv, enum http_parse r,
                         const struct http_request *req, CBB *out) {
  switch (r) {
    case HTTP_OK: break;
    case HTTP_URI_TOO_LONG: return text_response(out, 414, "", "414 URI too long\n", 0);
    case HTTP_TOO_LARGE:
      return text_response(out, 431, "", "431 request head too large\n", 0);
    case HTTP_BAD_VERSION:
      return text_response(out, 505, "", "505 HTTP/1.0 or HTTP/1.1 only\n", 0);
    case HTTP_NEED_MORE:
    case HTTP_BAD:
    default: return text_response(out, 400, "", "400 bad request\n", 0);
  }
  if (req->method == HTTP_OTHER)
    return text_response(out, 405, "Allow: GET, HEAD\r\n", "405 GET or HEAD only\n", 0);
  int head_only = req->method == HTTP_HEAD;
  if (http_request_path_is(req, "/metrics")) return metrics_response(srv, out, head_only);
  if (http_request_path_is(req, "/"))
    return text_response(out, 200, "", "ztvpn-server: metrics at /metrics\n", head_only);
  return text_response(out, 404, "", "404 not found: metrics at /metrics\n", head_only);
}

/* ---- connections ------------------------------------------------------------- */

static void conn_close(struct metrics_conn *c) {
  struct server *srv = c->m->srv;
  /* After server_free has released the timer heap nothing is armed. */
  if (c->timer.slot && c->timer.slot <= srv->timers.n) zt_timer_cancel(&srv->timers, &c->timer);
  c->timer.slot = 0;
  if (c->fd >= 0) {
    if (srv->epfd >= 0) epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
  }
  c->fd = -1;
  OPENSSL_free(c->out);
  c->out = NULL;
  c->state = MC_FREE;
  c->m->nconns--;
}

static int set_interest(struct metrics_conn *c, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.ptr = &c->ev};
  return epoll_ctl(c->m->srv->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0;
}

static int arm(struct metrics_conn *c, uint64_t in_ms) {
  struct server *srv = c->m->srv;
  return zt_timer_arm(&srv->timers, &c->timer, srv->now_ms + in_ms);
}

static void drain(struct metrics_conn *c) {
  for (;;) {
    ssize_t n = read(c->fd, c->in, sizeof(c->in));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0 || (c->drained += (size_t)n) > METRICS_LINGER_MAX) {
      conn_close(c);
      return;
    }
  }
}

static void write_out(struct metrics_conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (!set_interest(c, EPOLLOUT)) conn_close(c);
      return;
    }
    if (n <= 0) {
      conn_close(c);
      return;
    }
    c->out_off += (size_t)n;
  }
  OPENSSL_free(c->out);
  c->out = NULL;
  c->state = MC_LINGER;
  if (shutdown(c->fd, SHUT_WR) != 0 || !set_interest(c, EPOLLIN) ||
      !arm(c, METRICS_LINGER_MS)) {
    conn_close(c);
    return;
  }
  drain(c);
}

static void answer(struct metrics_conn *c, enum http_parse r, const struct http_request *req) {
  CBB cbb;
  int code = 0;
  if (CBB_init(&cbb, 1024)) code = metrics_http_respond(c->m->srv, r, req, &cbb);
  if (!code || !CBB_finish(&cbb, &c->out, &c->out_len)) {
    CBB_cleanup(&cbb);
    log_warn("metrics: out of memory answering %s", c->peer);
    conn_close(c);
    return;
  }
  log_debug("metrics: %s %s from %s: %d", r == HTTP_OK ? req->method_name : "-",
            r == HTTP_OK ? req->target : "(malformed)", c->peer, code);
  c->out_off = 0;
  c->state = MC_WRITING;
  if (!arm(c, METRICS_WRITE_TIMEOUT_MS)) {
    conn_close(c);
    return;
  }
  write_out(c);
}

static void read_request(struct metrics_conn *c) {
  struct http_request req;
  enum http_parse r = HTTP_NEED_MORE;
  while (r == HTTP_NEED_MORE) {
    ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) { /* closed or failed before a whole request */
      conn_close(c);
      return;
    }
    c->in_len += (size_t)n;
    CBS in;
    CBS_init(&in, c->in, c->in_len);
    r = http_request_parse(in, &req);
  }
  answer(c, r, &req);
}

static void conn_timer(void *arg) {
  struct metrics_conn *c = arg;
  if (c->state != MC_LINGER)
    log_debug("metrics: %s %s in time; closed", c->peer,
              c->state == MC_READING ? "sent no request" : "did not read its answer");
  conn_close(c);
}

static void conn_start(struct metrics_http *m, int fd, const struct sockaddr *peer) {
  struct server *srv = m->srv;
  struct metrics_conn *c = NULL;
  for (size_t i = 0; i < METRICS_MAX_CONNS && !c; i++)
    if (m->conns[i].state == MC_FREE) c = &m->conns[i];
  if (!c) {
    /* A scraper needs one connection at a time: more are a flood, logged
     * at most once a second. */
    m->refused++;
    if (srv->now_ms - m->refused_log_ms >= 1000) {
      log_warn("metrics: refused %llu connections: %d in progress",
               (unsigned long long)(m->refused - m->refused_logged), METRICS_MAX_CONNS);
      m->refused_log_ms = srv->now_ms;
      m->refused_logged = m->refused;
    }
    close(fd);
    return;
  }
  memset(c, 0, sizeof(*c));
  c->ev.kind = EV_METRICS_CONN;
  c->m = m;
  c->fd = fd;
  c->state = MC_READING;
  zt_sockaddr_format(peer, c->peer, sizeof(c->peer));
  zt_timer_init(&c->timer, conn_timer, c);
  m->nconns++;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &c->ev};
  if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) != 0 || !arm(c, METRICS_READ_TIMEOUT_MS)) {
    log_warn("metrics: cannot watch a connection");
    conn_close(c);
    return;
  }
  read_request(c); /* the request is often there already */
}

static void accept_conns(struct metrics_http *m) {
  for (int i = 0; i < 2 * METRICS_MAX_CONNS; i++) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int fd = accept4(m->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
        log_warn("metrics: accept: %s", strerror(errno));
      return;
    }
    conn_start(m, fd, (struct sockaddr *)&ss);
  }
}

/* ---- metrics_http.h ---------------------------------------------------------- */

static int is_loopback(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET)
    return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
  const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
  return IN6_IS_ADDR_LOOPBACK(a) ||
         (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

static int bind_listener(struct metrics_http *m, const struct server_config *cfg) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_NUMERICHOST | AI_PASSIVE};
  struct addrinfo *ai = NULL;
  char port[8];
  snprintf(port, sizeof(port), "%u", cfg->metrics_port);
  int rc = getaddrinfo(cfg->metrics_host, port, &hints, &ai);
  if (rc != 0) {
    log_err("metrics_listen %s: %s", m->where, gai_strerror(rc));
    return 0;
  }
  int one = 1;
  m->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int ok = m->fd >= 0 && setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
           bind(m->fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(m->fd, 64) == 0;
  if (!ok) log_err("metrics_listen %s: %s", m->where, strerror(errno));
  else if (!is_loopback(ai->ai_addr))
    log_warn("metrics_listen %s is not a loopback address: whoever reaches it reads the "
             "counts and reasons of this concentrator; restrict it with a firewall",
             m->where);
  freeaddrinfo(ai);
  return ok;
}

int metrics_http_open(struct server *srv) {
  const struct server_config *cfg = srv->cfg;
  srv->metrics = NULL;
  if (!cfg->has_metrics) return 1;
  struct metrics_http *m = calloc(1, sizeof(*m));
  if (!m) {
    log_err("metrics: out of memory");
    return 0;
  }
  m->ev.kind = EV_METRICS;
  m->srv = srv;
  for (size_t i = 0; i < METRICS_MAX_CONNS; i++) m->conns[i].fd = -1;
  int v6 = strchr(cfg->metrics_host, ':') != NULL;
  snprintf(m->where, sizeof(m->where), "%s%s%s:%u", v6 ? "[" : "", cfg->metrics_host,
           v6 ? "]" : "", cfg->metrics_port);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &m->ev};
  if (!bind_listener(m, cfg) || epoll_ctl(srv->epfd, EPOLL_CTL_ADD, m->fd, &ev) != 0) {
    if (m->fd >= 0) close(m->fd);
    free(m);
    return 0;
  }
  srv->metrics = m;
  log_info("metrics on %s", m->where);
  return 1;
}

void metrics_http_on_event(struct server *srv, struct ev_source *src, uint32_t events) {
  (void)events; /* errors and hang-ups show in read and write */
  if (!srv->metrics) return;
  if (src->kind == EV_METRICS) {
    accept_conns(srv->metrics);
    return;
  }
  struct metrics_conn *c = (struct metrics_conn *)src;
  switch (c->state) {
    case MC_READING: read_request(c); break;
    case MC_WRITING: write_out(c); break;
    case MC_LINGER: drain(c); break;
    case MC_FREE: break;
  }
}

void metrics_http_close(struct server *srv) {
  struct metrics_http *m = srv->metrics;
  if (!m) return;
  for (size_t i = 0; i < METRICS_MAX_CONNS; i++)
    if (m->conns[i].state != MC_FREE) conn_close(&m->conns[i]);
  if (srv->epfd >= 0) epoll_ctl(srv->epfd, EPOLL_CTL_DEL, m->fd, NULL);
  close(m->fd);
  free(m);
  srv->metrics = NULL;
}

uint64_t metrics_http_refused(const struct server *srv) {
  return srv->metrics ? srv->metrics->refused : 0;
}

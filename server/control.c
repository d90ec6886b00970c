#include "control.h"

#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "control_answer.h"
#include "ctlsock.h"
#include "log.h"
#include "server.h"

#define CTL_MAX_CONNS 16
/* Time a control client has to read the whole answer. */
#define CTL_ANSWER_TIMEOUT_MS 10000

enum ctl_state {
  CC_FREE,
  CC_READING, /* waiting for the request line, deadline ZT_CTL_TIMEOUT_MS */
  CC_PENDING, /* parsed; runs from a timer, after the current event batch */
  CC_WRITING, /* sending the answer, deadline CTL_ANSWER_TIMEOUT_MS */
};

struct ctl_conn {
  struct ev_source ev; /* EV_CONTROL_CONN; first member */
  struct server_control *ctl;
  enum ctl_state state;
  struct zt_ctl_conn io;
  struct zt_timer timer;
  struct zt_ctl_request req;
};

struct server_control {
  struct ev_source ev; /* EV_CONTROL: the listener; first member */
  struct server *srv;
  struct zt_ctl_listener listener;
  struct ctl_conn conns[CTL_MAX_CONNS];
  unsigned nconns;
  uint64_t busy; /* connections closed because every slot was in use */
};

/* ---- connections ----------------------------------------------------------- */

static void conn_close(struct ctl_conn *c) {
  struct server *srv = c->ctl->srv;
  /* After server_free has released the timer heap nothing is armed any
   * more (n == 0), and cancelling would touch freed memory. */
  if (c->timer.slot && c->timer.slot <= srv->timers.n) zt_timer_cancel(&srv->timers, &c->timer);
  c->timer.slot = 0;
  if (c->io.fd >= 0) epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->io.fd, NULL);
  zt_ctl_conn_free(&c->io);
  c->state = CC_FREE;
  c->ctl->nconns--;
}

static int set_interest(struct ctl_conn *c, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.ptr = &c->ev};
  return epoll_ctl(c->ctl->srv->epfd, EPOLL_CTL_MOD, c->io.fd, &ev) == 0;
}

static void write_answer(struct ctl_conn *c) {
  switch (zt_ctl_conn_write(&c->io)) {
    case ZT_CTL_IO_WANT:
      if (!set_interest(c, EPOLLOUT)) conn_close(c);
      return;
    case ZT_CTL_IO_DONE:
    default: conn_close(c); return;
  }
}

/* Queues the answer in |cbb| (taken over) and starts sending it. */
static void start_answer(struct ctl_conn *c, CBB *cbb) {
  struct server *srv = c->ctl->srv;
  if (!zt_ctl_conn_answer(&c->io, cbb)) {
    conn_close(c);
    return;
  }
  c->state = CC_WRITING;
  if (!zt_timer_arm(&srv->timers, &c->timer, srv->now_ms + CTL_ANSWER_TIMEOUT_MS)) {
    conn_close(c);
    return;
  }
  write_answer(c);
}

static void answer_now(struct ctl_conn *c, const char *error) {
  CBB cbb;
  if (!CBB_init(&cbb, 128) || !control_answer_error(&cbb, error)) {
    CBB_cleanup(&cbb);
    conn_close(c);
    return;
  }
  start_answer(c, &cbb);
}

static void run_request(struct ctl_conn *c) {
  struct server *srv = c->ctl->srv;
  const struct zt_ctl_request *r = &c->req;
  CBB cbb;
  int ok = CBB_init(&cbb, 4096);
  if (ok) {
    switch (r->cmd) {
      case ZT_CTL_STATUS:
        ok = control_answer_status(srv, r->json, c->ctl->listener.accepted,
                                   c->ctl->listener.refused + c->ctl->busy, &cbb);
        break;
      case ZT_CTL_SESSIONS: ok = control_answer_sessions(srv, r->json, &cbb); break;
      case ZT_CTL_KILL: ok = control_answer_kill(srv, r, &cbb); break;
      case ZT_CTL_RELOAD: ok = control_answer_reload(srv, r->json, &cbb); break;
      case ZT_CTL_METRICS: ok = control_answer_metrics(srv, &cbb); break;
      default: ok = 0;
    }
  }
  if (!ok) {
    CBB_cleanup(&cbb);
    answer_now(c, "out of memory");
    return;
  }
  start_answer(c, &cbb);
}

static void conn_timer(void *arg) {
  struct ctl_conn *c = arg;
  if (c->state == CC_PENDING) {
    run_request(c);
    return;
  }
  log_debug("control: connection %s; closed",
            c->state == CC_READING ? "sent no request in time" : "did not read its answer in time");
  conn_close(c);
}

static void read_request(struct ctl_conn *c) {
  struct server *srv = c->ctl->srv;
  char err[128];
  CBS line;
  switch (zt_ctl_conn_read(&c->io, &line)) {
    case ZT_CTL_IO_WANT: return;
    case ZT_CTL_IO_TOO_LONG: answer_now(c, "request too long"); return;
    case ZT_CTL_IO_EOF:
    case ZT_CTL_IO_ERR: conn_close(c); return;
    case ZT_CTL_IO_DONE: break;
  }
  if (!zt_ctl_request_parse(line, &c->req, err, sizeof(err))) {
    log_debug("control: bad request: %s", err);
    answer_now(c, err);
    return;
  }
  /* Kill and reload close sessions; the server loop guarantees only that a
   * session's own handler frees it during an event batch. So the request
   * runs from a timer due now, which fires after the batch. */
  c->state = CC_PENDING;
  if (!set_interest(c, 0) || !zt_timer_arm(&srv->timers, &c->timer, srv->now_ms))
    conn_close(c);
}

static void conn_start(struct server_control *ctl, int fd) {
  struct server *srv = ctl->srv;
  struct ctl_conn *c = NULL;
  for (size_t i = 0; i < CTL_MAX_CONNS && !c && ctl->nconns < CTL_MAX_CONNS; i++)
    if (ctl->conns[i].state == CC_FREE) c = &ctl->conns[i];
  if (!c) {
    ctl->busy++;
    log_warn("control socket: refused a connection: %d connections in progress",
             CTL_MAX_CONNS);
    zt_ctlsock_reject(fd, "busy: too many control connections");
    return;
  }
  zt_ctl_conn_init(&c->io, fd);
  c->ev.kind = EV_CONTROL_CONN;
  c->ctl = ctl;
  c->state = CC_READING;
  ctl->nconns++;
  zt_timer_init(&c->timer, conn_timer, c);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &c->ev};
  if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) != 0 ||
      !zt_timer_arm(&srv->timers, &c->timer, srv->now_ms + ZT_CTL_TIMEOUT_MS)) {
    log_warn("control socket: cannot watch a connection");
    conn_close(c);
    return;
  }
  read_request(c); /* the line is often there already */
}

static void accept_conns(struct server_control *ctl) {
  for (int i = 0; i < CTL_MAX_CONNS; i++) {
    int fd;
    switch (zt_ctlsock_accept(&ctl->listener, &fd)) {
      case ZT_CTL_ACCEPT_OK: conn_start(ctl, fd); break;
      case ZT_CTL_ACCEPT_REFUSED: break;
      case ZT_CTL_ACCEPT_NONE:
      case ZT_CTL_ACCEPT_ERROR: return;
    }
  }
}

/* ---- server_control.h ------------------------------------------------------ */

int control_open(struct server *srv) {
  char err[512];
  const char *path = srv->cfg->control_socket;
  srv->ctl = NULL;
  if (path[0] == '\0') return 1;
  struct server_control *ctl = calloc(1, sizeof(*ctl));
  if (!ctl) {
    log_err("control socket: out of memory");
    return 0;
  }
  ctl->ev.kind = EV_CONTROL;
  ctl->srv = srv;
  for (size_t i = 0; i < CTL_MAX_CONNS; i++) ctl->conns[i].io.fd = -1;
  if (!zt_ctlsock_listen(&ctl->listener, path, err, sizeof(err))) {
    log_err("%s", err);
    free(ctl);
    return 0;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &ctl->ev};
  if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, ctl->listener.fd, &ev) != 0) {
    log_err("control socket %s: cannot watch it", path);
    zt_ctlsock_close(&ctl->listener);
    free(ctl);
    return 0;
  }
  srv->ctl = ctl;
  log_info("control socket %s", path);
  return 1;
}

void control_on_event(struct server *srv, struct ev_source *src, uint32_t events) {
  if (!srv->ctl) return;
  if (src->kind == EV_CONTROL) {
    accept_conns(srv->ctl);
    return;
  }
  struct ctl_conn *c = (struct ctl_conn *)src;
  if (c->state == CC_READING) read_request(c);
  else if (c->state == CC_WRITING) write_answer(c);
  /* CC_PENDING: an error or hang-up shows when the answer is written. */
  (void)events;
}

void control_close(struct server *srv) {
  struct server_control *ctl = srv->ctl;
  if (!ctl) return;
  for (size_t i = 0; i < CTL_MAX_CONNS; i++)
    if (ctl->conns[i].state != CC_FREE) conn_close(&ctl->conns[i]);
  if (srv->epfd >= 0) epoll_ctl(srv->epfd, EPOLL_CTL_DEL, ctl->listener.fd, NULL);
  zt_ctlsock_close(&ctl->listener);
  free(ctl);
  srv->ctl = NULL;
}

void control_keep_file(struct server *srv, struct zt_ctl_listener *saved) {
  if (saved) memset(saved, 0, sizeof(*saved));
  if (!srv->ctl) return;
  srv->ctl->listener.keep_file = 1;
  if (saved) *saved = srv->ctl->listener;
}

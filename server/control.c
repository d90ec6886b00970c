#include "control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "audit.h"
#include "ctlsock.h"
#include "log.h"
#include "proto.h"
#include "server.h"

#ifndef ZTVPN_VERSION
#define ZTVPN_VERSION "unknown"
#endif

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

/* ---- answers --------------------------------------------------------------- */

static int answer_error(CBB *out, const char *msg) {
  char line[1100];
  /* The message may quote a file or a name: it must stay one line. */
  snprintf(line, sizeof(line), "%s", msg);
  for (char *c = line; *c; c++)
    if (*c < 0x20 || *c > 0x7e) *c = '?';
  return zt_ctl_printf(out, "error %s\n", line);
}

static void group_ptrs(const struct zt_identity *id, const char **out) {
  for (size_t i = 0; i < id->ngroups && i < ZT_MAX_GROUPS; i++) out[i] = id->groups[i];
}

static int do_status(struct server *srv, int json, CBB *out) {
  struct zt_ctl_kv kv;
  char t[32];
  time_t now = time(NULL);
  const char *reason_names[REASON_SLOTS], *drop_names[DROP_MAX];
  uint64_t reason_counts[REASON_SLOTS];
  size_t nreasons = 0;
  for (uint16_t code = 0; code < REASON_SLOTS; code++) {
    const char *name = code == 0 ? "other" : zt_reason_name(code);
    if (code != 0 && strcmp(name, "unknown") == 0) continue;
    reason_names[nreasons] = name;
    reason_counts[nreasons++] = srv->counters.rejected[code];
  }
  for (int r = 0; r < DROP_MAX; r++) drop_names[r] = drop_reason_name((enum drop_reason)r);

  if (!zt_ctl_printf(out, "ok\n")) return 0;
  zt_ctl_kv_begin(&kv, out, json);
  zt_ctl_kv_str(&kv, "program", "ztvpn-server");
  zt_ctl_kv_str(&kv, "version", ZTVPN_VERSION);
  zt_ctl_kv_str(&kv, "started", srv->started ? zt_ctl_time_iso(srv->started, t, sizeof(t)) : NULL);
  zt_ctl_kv_u64(&kv, "uptime_seconds",
                srv->started && now > srv->started ? (uint64_t)(now - srv->started) : 0);
  zt_ctl_kv_u64(&kv, "sessions_established", srv->nsessions - srv->nhandshakes);
  zt_ctl_kv_u64(&kv, "sessions_handshaking", srv->nhandshakes);
  zt_ctl_kv_u64(&kv, "max_sessions", srv->cfg->max_sessions);
  zt_ctl_kv_str(&kv, "policy_file",
                srv->policy && srv->policy->file[0] ? srv->policy->file : NULL);
  zt_ctl_kv_u64(&kv, "policy_rules", srv->policy ? srv->policy->nrules : 0);
  zt_ctl_kv_u64(&kv, "reloads", srv->reloads);
  zt_ctl_kv_u64(&kv, "reload_failures", srv->reload_failures);
  zt_ctl_kv_str(&kv, "last_reload",
                srv->last_reload ? zt_ctl_time_iso(srv->last_reload, t, sizeof(t)) : NULL);
  zt_ctl_kv_str(&kv, "last_reload_result",
                srv->last_reload ? (srv->last_reload_ok ? "ok" : "failed") : NULL);
  zt_ctl_kv_u64(&kv, "connections", srv->counters.connections);
  zt_ctl_kv_u64(&kv, "refused", srv->counters.refused);
  zt_ctl_kv_u64(&kv, "admitted", srv->counters.admitted);
  zt_ctl_kv_counts(&kv, "rejected", reason_names, reason_counts, nreasons);
  zt_ctl_kv_u64(&kv, "ended", srv->counters.ended);
  zt_ctl_kv_counts(&kv, "drops", drop_names, srv->counters.drops, DROP_MAX);
  zt_ctl_kv_u64(&kv, "control_accepted", srv->ctl->listener.accepted);
  zt_ctl_kv_u64(&kv, "control_refused", srv->ctl->listener.refused + srv->ctl->busy);
  return zt_ctl_kv_end(&kv) && (!json || CBB_add_u8(out, '\n'));
}

static uint64_t drops_total(const struct session *s) {
  uint64_t n = 0;
  for (int r = 0; r < DROP_MAX; r++) n += s->drops[r];
  return n;
}

static int session_json(const struct session *s, CBB *out) {
  struct zt_ctl_kv kv;
  char a4[ZT_ADDR_STRLEN], a6[ZT_ADDR_STRLEN], t[32];
  const char *ug[ZT_MAX_GROUPS], *dg[ZT_MAX_GROUPS], *drop_names[DROP_MAX];
  group_ptrs(&s->user, ug);
  group_ptrs(&s->device, dg);
  for (int r = 0; r < DROP_MAX; r++) drop_names[r] = drop_reason_name((enum drop_reason)r);
  zt_ctl_kv_begin(&kv, out, 1);
  zt_ctl_kv_u64(&kv, "id", s->id);
  zt_ctl_kv_str(&kv, "user", s->user.name);
  zt_ctl_kv_list(&kv, "user_groups", ug, s->user.ngroups);
  zt_ctl_kv_str(&kv, "device", s->device.name);
  zt_ctl_kv_list(&kv, "device_groups", dg, s->device.ngroups);
  zt_ctl_kv_str(&kv, "addr4", zt_ip_format(&s->addr4, a4));
  zt_ctl_kv_str(&kv, "addr6", s->has_addr6 ? zt_ip_format(&s->addr6, a6) : NULL);
  zt_ctl_kv_str(&kv, "endpoint", s->peer);
  zt_ctl_kv_str(&kv, "since", zt_ctl_time_iso(s->since, t, sizeof(t)));
  zt_ctl_kv_u64(&kv, "since_epoch", (uint64_t)s->since);
  zt_ctl_kv_u64(&kv, "bytes_in", s->conn.bytes_in);
  zt_ctl_kv_u64(&kv, "bytes_out", s->conn.bytes_out);
  zt_ctl_kv_u64(&kv, "packets_in", s->pkts_in);
  zt_ctl_kv_u64(&kv, "packets_out", s->pkts_out);
  zt_ctl_kv_u64(&kv, "drops_total", drops_total(s));
  zt_ctl_kv_counts(&kv, "drops", drop_names, s->drops, DROP_MAX);
  zt_ctl_kv_u64(&kv, "flows", s->ct.count);
  return zt_ctl_kv_end(&kv);
}

/* The text listing's columns. */
enum {
  COL_ID, COL_USER, COL_DEVICE, COL_ADDR4, COL_ADDR6, COL_ENDPOINT, COL_SINCE,
  COL_BYTES_IN, COL_BYTES_OUT, COL_PKTS_IN, COL_PKTS_OUT, COL_DROPS, COL_FLOWS,
  COL_USER_GROUPS, COL_DEVICE_GROUPS, NCOLS
};
static const char *const col_names[NCOLS] = {
    "ID", "USER", "DEVICE", "ADDR4", "ADDR6", "ENDPOINT", "SINCE", "BYTES-IN",
    "BYTES-OUT", "PKTS-IN", "PKTS-OUT", "DROPS", "FLOWS", "USER-GROUPS", "DEVICE-GROUPS"};
#define COL_MAX (ZT_MAX_GROUPS * (ZT_NAME_MAX + 1) + 1)

static void groups_text(const struct zt_identity *id, char *out) {
  size_t o = 0;
  snprintf(out, COL_MAX, "-");
  for (size_t i = 0; i < id->ngroups && o < COL_MAX; i++)
    o += (size_t)snprintf(out + o, COL_MAX - o, "%s%s", i ? "," : "", id->groups[i]);
}

static void session_row(const struct session *s, char cols[NCOLS][COL_MAX]) {
  char a[ZT_ADDR_STRLEN];
  snprintf(cols[COL_ID], COL_MAX, "%llu", (unsigned long long)s->id);
  snprintf(cols[COL_USER], COL_MAX, "%s", s->user.name);
  snprintf(cols[COL_DEVICE], COL_MAX, "%s", s->device.name);
  snprintf(cols[COL_ADDR4], COL_MAX, "%s", zt_ip_format(&s->addr4, a));
  snprintf(cols[COL_ADDR6], COL_MAX, "%s", s->has_addr6 ? zt_ip_format(&s->addr6, a) : "-");
  snprintf(cols[COL_ENDPOINT], COL_MAX, "%s", s->peer);
  zt_ctl_time_iso(s->since, cols[COL_SINCE], COL_MAX);
  snprintf(cols[COL_BYTES_IN], COL_MAX, "%llu", (unsigned long long)s->conn.bytes_in);
  snprintf(cols[COL_BYTES_OUT], COL_MAX, "%llu", (unsigned long long)s->conn.bytes_out);
  snprintf(cols[COL_PKTS_IN], COL_MAX, "%llu", (unsigned long long)s->pkts_in);
  snprintf(cols[COL_PKTS_OUT], COL_MAX, "%llu", (unsigned long long)s->pkts_out);
  snprintf(cols[COL_DROPS], COL_MAX, "%llu", (unsigned long long)drops_total(s));
  snprintf(cols[COL_FLOWS], COL_MAX, "%zu", s->ct.count);
  groups_text(&s->user, cols[COL_USER_GROUPS]);
  groups_text(&s->device, cols[COL_DEVICE_GROUPS]);
}

static int add_row(CBB *out, char cols[NCOLS][COL_MAX], const size_t *width) {
  for (int c = 0; c < NCOLS; c++) {
    /* The last column is not padded: no trailing spaces. */
    int w = c == NCOLS - 1 ? 0 : (int)width[c];
    if (!zt_ctl_printf(out, "%s%-*s", c ? "  " : "", w, cols[c])) return 0;
  }
  return CBB_add_u8(out, '\n');
}

static int by_id(const void *a, const void *b) {
  const struct session *x = *(const struct session *const *)a;
  const struct session *y = *(const struct session *const *)b;
  return x->id < y->id ? -1 : x->id > y->id;
}

static int do_sessions(struct server *srv, int json, CBB *out) {
  size_t n = 0, width[NCOLS];
  int ok = 1;
  for (struct session *s = srv->sessions; s; s = s->next) n += s->state == SS_ESTABLISHED;
  const struct session **list = calloc(n ? n : 1, sizeof(*list));
  char (*cols)[COL_MAX] = malloc(NCOLS * sizeof(*cols));
  if (!list || !cols) {
    free(list);
    free(cols);
    return answer_error(out, "out of memory");
  }
  n = 0;
  for (struct session *s = srv->sessions; s; s = s->next)
    if (s->state == SS_ESTABLISHED) list[n++] = s;
  qsort(list, n, sizeof(*list), by_id);

  ok = zt_ctl_printf(out, "ok\n");
  if (json) {
    ok = ok && zt_ctl_printf(out, "{\"sessions\":[");
    for (size_t i = 0; i < n && ok; i++)
      ok = (i == 0 || CBB_add_u8(out, ',')) && session_json(list[i], out);
    ok = ok && zt_ctl_printf(out, "]}\n");
  } else {
    /* Two passes: the widths first, so the columns line up. */
    for (int c = 0; c < NCOLS; c++) width[c] = strlen(col_names[c]);
    for (size_t i = 0; i < n; i++) {
      session_row(list[i], cols);
      for (int c = 0; c < NCOLS; c++)
        if (strlen(cols[c]) > width[c]) width[c] = strlen(cols[c]);
    }
    for (int c = 0; c < NCOLS; c++) snprintf(cols[c], COL_MAX, "%s", col_names[c]);
    ok = ok && add_row(out, cols, width);
    for (size_t i = 0; i < n && ok; i++) {
      session_row(list[i], cols);
      ok = add_row(out, cols, width);
    }
  }
  free(list);
  free(cols);
  return ok;
}

static int kill_matches(const struct zt_ctl_request *r, const struct session *s) {
  if (s->state != SS_ESTABLISHED) return 0;
  switch (r->by) {
    case ZT_CTL_KILL_ID: return s->id == r->id;
    case ZT_CTL_KILL_USER: return strcmp(s->user.name, r->name) == 0;
    case ZT_CTL_KILL_DEVICE: return strcmp(s->device.name, r->name) == 0;
  }
  return 0;
}

static int do_kill(struct server *srv, const struct zt_ctl_request *r, CBB *out) {
  CBB body;
  size_t killed = 0;
  int ok = CBB_init(&body, 256) && (!r->json || zt_ctl_printf(&body, "{\"killed\":["));
  struct session *next;
  for (struct session *s = srv->sessions; s; s = next) {
    /* Closing frees |s|; it touches no other session. */
    next = s->next;
    if (!kill_matches(r, s)) continue;
    if (ok && r->json) ok = (killed == 0 || CBB_add_u8(&body, ',')) &&
                            zt_ctl_printf(&body, "%llu", (unsigned long long)s->id);
    else if (ok)
      ok = zt_ctl_printf(&body, "killed session %llu (user %s, device %s)\n",
                         (unsigned long long)s->id, s->user.name, s->device.name);
    log_info("control: killing session %llu (%s@%s)", (unsigned long long)s->id,
             s->user.name, s->device.name);
    audit_kill(s, "control");
    session_close(s, ZT_REASON_KILLED, "killed by an administrator");
    killed++;
  }
  if (ok && r->json) ok = zt_ctl_printf(&body, "]}\n");
  if (killed == 0) ok = answer_error(out, "no matching session");
  else ok = ok && zt_ctl_printf(out, "ok\n") && CBB_add_bytes(out, CBB_data(&body), CBB_len(&body));
  CBB_cleanup(&body);
  return ok;
}

static int do_reload(struct server *srv, int json, CBB *out) {
  char msg[1024] = "";
  log_info("control: reload requested");
  if (!server_reload(srv, "control", msg, sizeof(msg))) return answer_error(out, msg);
  if (!zt_ctl_printf(out, "ok\n")) return 0;
  if (!json) return zt_ctl_printf(out, "%s\n", msg);
  struct zt_ctl_kv kv;
  zt_ctl_kv_begin(&kv, out, 1);
  zt_ctl_kv_str(&kv, "result", "ok");
  zt_ctl_kv_str(&kv, "detail", msg);
  return zt_ctl_kv_end(&kv) && CBB_add_u8(out, '\n');
}

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
  if (!CBB_init(&cbb, 128) || !answer_error(&cbb, error)) {
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
      case ZT_CTL_STATUS: ok = do_status(srv, r->json, &cbb); break;
      case ZT_CTL_SESSIONS: ok = do_sessions(srv, r->json, &cbb); break;
      case ZT_CTL_KILL: ok = do_kill(srv, r, &cbb); break;
      case ZT_CTL_RELOAD: ok = do_reload(srv, r->json, &cbb); break;
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

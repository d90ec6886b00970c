#include "control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "client.h"
#include "ctlsock.h"
#include "log.h"

#ifndef ZTVPN_VERSION
#define ZTVPN_VERSION "unknown"
#endif

/* Time a control client has to read the answer. */
#define CTL_ANSWER_TIMEOUT_MS 10000

struct ctl_conn {
  int in_use, writing;
  struct zt_ctl_conn io;
  uint64_t deadline_ms;
};

struct client_control {
  struct zt_ctl_listener listener;
  struct ctl_conn conns[CLIENT_CTL_MAX_CONNS];
  uint64_t busy;
};

static const char *state_name(enum client_state s) {
  switch (s) {
    case CS_WAIT: return "waiting";
    case CS_CONNECTING: return "connecting";
    case CS_HANDSHAKE: return "handshake";
    case CS_AWAIT_ADMIT: return "awaiting-admit";
    case CS_ESTABLISHED: return "established";
  }
  return "?";
}

static int status(const struct client *c, int json, CBB *out) {
  const struct zt_admit *ad = &c->admit;
  int up = c->state == CS_ESTABLISHED;
  char server[300], a4[ZT_ADDR_STRLEN], a6[ZT_ADDR_STRLEN], t[32];
  char routes[ZT_MAX_ROUTES][ZT_ADDR_STRLEN];
  const char *route_ptrs[ZT_MAX_ROUTES];
  struct zt_ctl_kv kv;
  struct zt_ip ip = {.family = AF_INET};
  int v6 = strchr(c->cfg->server_host, ':') != NULL;
  snprintf(server, sizeof(server), "%s%s%s:%u", v6 ? "[" : "", c->cfg->server_host,
           v6 ? "]" : "", c->cfg->server_port);
  memcpy(ip.addr, ad->addr4.addr, 4);
  zt_ip_format(&ip, a4);
  if (up && ad->has_addr6) {
    ip.family = AF_INET6;
    memcpy(ip.addr, ad->addr6.addr, 16);
    zt_ip_format(&ip, a6);
  }
  size_t nroutes = up ? ad->nroutes : 0;
  for (size_t i = 0; i < nroutes && i < ZT_MAX_ROUTES; i++)
    route_ptrs[i] = zt_prefix_format(&ad->routes[i], routes[i]);

  if (!zt_ctl_printf(out, "ok\n")) return 0;
  zt_ctl_kv_begin(&kv, out, json);
  zt_ctl_kv_str(&kv, "program", "ztvpn-client");
  zt_ctl_kv_str(&kv, "version", ZTVPN_VERSION);
  zt_ctl_kv_str(&kv, "state", state_name(c->state));
  zt_ctl_kv_str(&kv, "server", server);
  zt_ctl_kv_str(&kv, "server_name", c->cfg->server_name);
  zt_ctl_kv_str(&kv, "interface", c->tun.dev.fd >= 0 ? c->tun.dev.name : NULL);
  if (up) zt_ctl_kv_u64(&kv, "session_id", ad->session_id);
  else zt_ctl_kv_str(&kv, "session_id", NULL);
  zt_ctl_kv_str(&kv, "addr4", up ? a4 : NULL);
  zt_ctl_kv_str(&kv, "addr6", up && ad->has_addr6 ? a6 : NULL);
  zt_ctl_kv_list(&kv, "routes", route_ptrs, nroutes);
  zt_ctl_kv_str(&kv, "since", up ? zt_ctl_time_iso(c->since, t, sizeof(t)) : NULL);
  if (up) zt_ctl_kv_u64(&kv, "since_epoch", (uint64_t)c->since);
  else zt_ctl_kv_str(&kv, "since_epoch", NULL);
  zt_ctl_kv_u64(&kv, "bytes_in", up && c->have_conn ? c->conn.bytes_in : 0);
  zt_ctl_kv_u64(&kv, "bytes_out", up && c->have_conn ? c->conn.bytes_out : 0);
  zt_ctl_kv_u64(&kv, "packets_in", up ? c->pkts_in : 0);
  zt_ctl_kv_u64(&kv, "packets_out", up ? c->pkts_out : 0);
  zt_ctl_kv_u64(&kv, "drops", c->drops);
  zt_ctl_kv_u64(&kv, "reconnects", c->reconnects);
  zt_ctl_kv_str(&kv, "path", c->udp.up ? "udp" : "tls");
  zt_ctl_kv_u64(&kv, "udp_datagrams_in", c->udp.dgrams_in);
  zt_ctl_kv_u64(&kv, "udp_datagrams_out", c->udp.dgrams_out);
  zt_ctl_kv_u64(&kv, "udp_dropped", c->udp.dropped);
  zt_ctl_kv_u64(&kv, "epoch_tx", c->udp.tx.epoch);
  zt_ctl_kv_u64(&kv, "epoch_rx", c->udp.rx.cur.epoch);
  zt_ctl_kv_u64(&kv, "rekeys", c->udp.rekeys);
  zt_ctl_kv_u64(&kv, "reauths", c->reauths);
  return zt_ctl_kv_end(&kv) && (!json || CBB_add_u8(out, '\n'));
}

static void conn_close(struct client *c, struct ctl_conn *k) {
  if (k->io.fd >= 0) epoll_ctl(c->epfd, EPOLL_CTL_DEL, k->io.fd, NULL);
  zt_ctl_conn_free(&k->io);
  k->in_use = k->writing = 0;
}

static uint32_t tag_of(const struct client *c, const struct ctl_conn *k) {
  return CLIENT_CTL_TAG + 1 + (uint32_t)(k - c->ctl->conns);
}

static void write_answer(struct client *c, struct ctl_conn *k) {
  if (zt_ctl_conn_write(&k->io) != ZT_CTL_IO_WANT) {
    conn_close(c, k);
    return;
  }
  struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = tag_of(c, k)};
  if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, k->io.fd, &ev) != 0) conn_close(c, k);
}

/* Builds the answer to |line| (NULL: the request was too long). The client
 * changes nothing on request, so it answers at once. */
static int build_answer(const struct client *c, const CBS *line, CBB *out) {
  char err[128];
  struct zt_ctl_request req;
  if (!line) return zt_ctl_printf(out, "error request too long\n");
  if (!zt_ctl_request_parse(*line, &req, err, sizeof(err)))
    return zt_ctl_printf(out, "error %s\n", err);
  if (req.cmd != ZT_CTL_STATUS) return zt_ctl_printf(out, "error not supported by the client\n");
  return status(c, req.json, out);
}

static void answer(struct client *c, struct ctl_conn *k, const CBS *line) {
  CBB cbb;
  if (!CBB_init(&cbb, 1024) || !build_answer(c, line, &cbb)) {
    CBB_cleanup(&cbb);
    if (!CBB_init(&cbb, 64) || !zt_ctl_printf(&cbb, "error out of memory\n")) {
      CBB_cleanup(&cbb);
      conn_close(c, k);
      return;
    }
  }
  if (!zt_ctl_conn_answer(&k->io, &cbb)) {
    conn_close(c, k);
    return;
  }
  k->writing = 1;
  k->deadline_ms = c->now_ms + CTL_ANSWER_TIMEOUT_MS;
  write_answer(c, k);
}

static void read_request(struct client *c, struct ctl_conn *k) {
  CBS line;
  switch (zt_ctl_conn_read(&k->io, &line)) {
    case ZT_CTL_IO_WANT: return;
    case ZT_CTL_IO_DONE: answer(c, k, &line); return;
    case ZT_CTL_IO_TOO_LONG: answer(c, k, NULL); return;
    default: conn_close(c, k); return;
  }
}

static void accept_conns(struct client *c) {
  struct client_control *ctl = c->ctl;
  for (int i = 0; i < CLIENT_CTL_MAX_CONNS; i++) {
    int fd;
    enum zt_ctl_accept r = zt_ctlsock_accept(&ctl->listener, &fd);
    if (r == ZT_CTL_ACCEPT_REFUSED) continue;
    if (r != ZT_CTL_ACCEPT_OK) return;
    struct ctl_conn *k = NULL;
    for (size_t j = 0; j < CLIENT_CTL_MAX_CONNS && !k; j++)
      if (!ctl->conns[j].in_use) k = &ctl->conns[j];
    if (!k) {
      ctl->busy++;
      log_warn("control socket: refused a connection: %d connections in progress",
               CLIENT_CTL_MAX_CONNS);
      zt_ctlsock_reject(fd, "busy: too many control connections");
      continue;
    }
    zt_ctl_conn_init(&k->io, fd);
    k->in_use = 1;
    k->writing = 0;
    k->deadline_ms = c->now_ms + ZT_CTL_TIMEOUT_MS;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = tag_of(c, k)};
    if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
      conn_close(c, k);
      continue;
    }
    read_request(c, k);
  }
}

int client_control_open(struct client *c) {
  char err[512];
  const char *path = c->cfg->control_socket;
  c->ctl = NULL;
  if (path[0] == '\0') return 1;
  struct client_control *ctl = calloc(1, sizeof(*ctl));
  if (!ctl) {
    log_err("control socket: out of memory");
    return 0;
  }
  for (size_t i = 0; i < CLIENT_CTL_MAX_CONNS; i++) ctl->conns[i].io.fd = -1;
  if (!zt_ctlsock_listen(&ctl->listener, path, err, sizeof(err))) {
    log_err("%s", err);
    free(ctl);
    return 0;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = CLIENT_CTL_TAG};
  if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, ctl->listener.fd, &ev) != 0) {
    log_err("control socket %s: cannot watch it", path);
    zt_ctlsock_close(&ctl->listener);
    free(ctl);
    return 0;
  }
  c->ctl = ctl;
  log_info("control socket %s", path);
  return 1;
}

int client_control_owns(uint32_t tag) {
  return tag >= CLIENT_CTL_TAG && tag <= CLIENT_CTL_TAG + CLIENT_CTL_MAX_CONNS;
}

void client_control_on_event(struct client *c, uint32_t tag, uint32_t events) {
  (void)events; /* errors and hang-ups show in the read or the write */
  if (!c->ctl || !client_control_owns(tag)) return;
  if (tag == CLIENT_CTL_TAG) {
    accept_conns(c);
    return;
  }
  struct ctl_conn *k = &c->ctl->conns[tag - CLIENT_CTL_TAG - 1];
  if (!k->in_use) return;
  if (k->writing) write_answer(c, k);
  else read_request(c, k);
}

int client_control_timeout(const struct client *c, int timeout_ms) {
  if (!c->ctl) return timeout_ms;
  for (size_t i = 0; i < CLIENT_CTL_MAX_CONNS; i++) {
    const struct ctl_conn *k = &c->ctl->conns[i];
    if (!k->in_use) continue;
    uint64_t left = k->deadline_ms > c->now_ms ? k->deadline_ms - c->now_ms : 0;
    if (timeout_ms < 0 || left < (uint64_t)timeout_ms) timeout_ms = (int)left;
  }
  return timeout_ms;
}

void client_control_expire(struct client *c) {
  if (!c->ctl) return;
  for (size_t i = 0; i < CLIENT_CTL_MAX_CONNS; i++) {
    struct ctl_conn *k = &c->ctl->conns[i];
    if (k->in_use && c->now_ms >= k->deadline_ms) {
      log_debug("control: connection %s; closed",
                k->writing ? "did not read its answer in time" : "sent no request in time");
      conn_close(c, k);
    }
  }
}

void client_control_close(struct client *c) {
  if (!c->ctl) return;
  for (size_t i = 0; i < CLIENT_CTL_MAX_CONNS; i++)
    if (c->ctl->conns[i].in_use) conn_close(c, &c->ctl->conns[i]);
  zt_ctlsock_close(&c->ctl->listener);
  free(c->ctl);
  c->ctl = NULL;
}

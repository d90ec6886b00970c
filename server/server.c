#include "server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control.h"
#include "forward.h"
#include "log.h"
#include "metrics_http.h"
#include "offload.h"
#include "tls.h"

#define EPOLL_BATCH 64
/* Connections accepted per wakeup: refusing one costs two syscalls, so a
 * flood is drained quickly and a good client's connection does not wait
 * behind it in a full accept queue. */
#define ACCEPT_BATCH 1024
/* The accept queue (the kernel caps it at net.core.somaxconn). True SYN
 * floods never reach it: the kernel answers them with SYN cookies. */
#define LISTEN_BACKLOG 4096

static int listen_on(const struct server_config *cfg) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_NUMERICHOST | AI_PASSIVE};
  struct addrinfo *ai = NULL;
  char port[8];
  snprintf(port, sizeof(port), "%u", cfg->listen_port);
  int rc = getaddrinfo(cfg->listen_host, port, &hints, &ai);
  if (rc != 0) {
    log_err("listen address %s: %s", cfg->listen_host, gai_strerror(rc));
    return -1;
  }
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
    log_err("listen on %s:%u: %s", cfg->listen_host, cfg->listen_port,
            strerror(errno));
    if (fd >= 0) close(fd);
    fd = -1;
  }
  freeaddrinfo(ai);
  return fd;
}

static int watch(struct server *srv, int fd, struct ev_source *src) {
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = src};
  return epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) == 0;
}

/* The concentrator's side of the tunnel: first address of each pool. */
static int setup_tun(struct server *srv) {
  const struct server_config *cfg = srv->cfg;
  char err[512];
  struct zt_ip ip;
  struct zt_prefix p;
  /* Offloads: the kernel hands over TCP/UDP super-packets of up to 64 KiB
   * and takes merged ones back, so a packet costs no system call. */
  if (!tun_open_queues(cfg->interface, srv->ndp, 1, &srv->tun, err, sizeof(err)) ||
      !tun_set_mtu_up(&srv->tun, cfg->mtu, err, sizeof(err))) {
    log_err("%s", err);
    return 0;
  }
  zt_pool_addr(&cfg->pool4, ZT_POOL_SERVER_INDEX, &ip);
  p.family = AF_INET;
  memcpy(p.addr, ip.addr, 16);
  p.len = cfg->pool4.len;
  if (!tun_add_address(&srv->tun, &p, err, sizeof(err))) {
    log_err("%s", err);
    return 0;
  }
  if (cfg->has_pool6) {
    zt_pool_addr(&cfg->pool6, ZT_POOL_SERVER_INDEX, &ip);
    p.family = AF_INET6;
    memcpy(p.addr, ip.addr, 16);
    p.len = cfg->pool6.len;
    if (!tun_add_address(&srv->tun, &p, err, sizeof(err))) {
      log_err("%s", err);
      return 0;
    }
  }
  return 1;
}

int server_init(struct server *srv, const struct server_config *cfg,
                struct server_creds *creds, struct policy *policy) {
  const char *err;
  sigset_t mask;
  memset(srv, 0, sizeof(*srv));
  srv->cfg = cfg;
  srv->tls = creds->tls;
  srv->user_store = creds->user_store;
  creds->tls = NULL;
  creds->user_store = NULL;
  srv->policy = policy;
  srv->started = time(NULL);
  srv->listen_fd = srv->sig_fd = srv->epfd = -1;
  srv->tun.fd = -1;
  srv->listen_ev.kind = EV_LISTEN;
  srv->tun_ev.kind = EV_TUN;
  srv->udp_ev.kind = EV_UDP;
  srv->sig_ev.kind = EV_SIGNAL;
  srv->now_ms = zt_now_ms();
  refusals_init(srv);
  signal(SIGPIPE, SIG_IGN); /* a peer that vanishes must not kill us */
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  if (!(srv->acls = acl_cache_new(policy))) {
    log_err("out of memory");
    return 0;
  }
  if (!zt_pool_init(&srv->pool, &cfg->pool4, &err)) {
    log_err("pool4: %s", err);
    return 0;
  }
  srv->by_index = calloc(srv->pool.size, sizeof(*srv->by_index));
  if (!dp_init(srv, cfg->workers)) {
    log_err("out of memory");
    return 0;
  }
  srv->sources = src_limits_new(cfg->max_handshakes, cfg->max_handshakes_per_source,
                                cfg->connect_rate_per_source);
  if (!srv->by_index || !srv->sources) {
    log_err("out of memory");
    return 0;
  }
  if (!setup_tun(srv)) return 0;
  if (cfg->has_udp_listen && !udp_open(srv, srv->ndp)) return 0;
  for (unsigned i = 0; i < srv->ndp; i++) {
    srv->dp[i].tun_fd = srv->tun.queues[i];
    srv->dp[i].udp_fd = srv->udp ? srv->udp->fds[i] : -1;
  }
  srv->listen_fd = listen_on(cfg);
  srv->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  srv->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (srv->listen_fd < 0 || srv->sig_fd < 0 || srv->epfd < 0 ||
      !watch(srv, srv->listen_fd, &srv->listen_ev) ||
      /* With workers, they watch the TUN queues and the UDP sockets. */
      (srv->ndp == 1 && !watch(srv, srv->tun.fd, &srv->tun_ev)) ||
      !watch(srv, srv->sig_fd, &srv->sig_ev) ||
      (srv->ndp == 1 && srv->udp && !watch(srv, srv->udp->fds[0], &srv->udp_ev))) {
    if (srv->listen_fd >= 0) log_err("event setup: %s", strerror(errno));
    return 0;
  }
  if (!control_open(srv) || !metrics_http_open(srv)) return 0;
  log_info("listening on %s:%u, tunnel %s, pool %s (client addresses: %u)",
           cfg->listen_host, cfg->listen_port, srv->tun.name,
           zt_prefix_format(&cfg->pool4, (char[ZT_ADDR_STRLEN]){0}),
           zt_pool_capacity(&srv->pool));
  return 1;
}

struct session *server_session_for_addr(struct server *srv, const struct zt_ip *ip) {
  const struct zt_prefix *pool = ip->family == AF_INET ? &srv->cfg->pool4
                                 : srv->cfg->has_pool6 ? &srv->cfg->pool6
                                                       : NULL;
  if (!pool || !zt_prefix_contains(pool, ip)) return NULL;
  /* The host part is the pool index (at most 16 bits of it are in use). */
  size_t n = zt_ip_len(ip->family);
  unsigned host_bits = (unsigned)n * 8 - pool->len;
  uint32_t index = 0;
  for (size_t k = n - 4; k < n; k++) index = (index << 8) | ip->addr[k];
  if (host_bits < 32) index &= (1u << host_bits) - 1;
  if (index >= srv->pool.size) return NULL;
  struct session *s = srv->by_index[index];
  if (!s) return NULL;
  const struct zt_ip *own = ip->family == AF_INET ? &s->addr4 : &s->addr6;
  return memcmp(own->addr, ip->addr, n) == 0 ? s : NULL;
}

struct session *server_session_by_id(struct server *srv, uint64_t id) {
  /* Only re-authentications look sessions up by id: a walk is enough. */
  for (struct session *s = srv->sessions; s; s = s->next)
    if (s->id == id && s->state == SS_ESTABLISHED) return s;
  return NULL;
}

void server_mark_dirty(struct server *srv, struct session *s) {
  if (s->dirty) return;
  s->dirty = 1;
  s->dirty_next = srv->dirty;
  srv->dirty = s;
}

static void flush_dirty(struct server *srv) {
  if (srv->ndp == 1) udp_flush(srv, &srv->dp[0]);
  while (srv->dirty) {
    struct session *s = srv->dirty;
    srv->dirty = s->dirty_next;
    s->dirty = 0;
    s->dirty_next = NULL;
    session_flush(s);
  }
}

/* Checks the limits in order: handshakes in progress in all, then from
 * this source, then this source's connect rate. Returns 1 when |fd| may
 * start a handshake (counted for |src|), else refuses it. */
static int admit_connection(struct server *srv, int fd, const struct src_key *src) {
  if (srv->nhandshakes >= srv->cfg->max_handshakes) {
    refuse(srv, fd, REFUSE_HANDSHAKES, src);
    return 0;
  }
  switch (src_limits_admit(srv->sources, src, srv->now_ms)) {
    case SRC_ADMIT: return 1;
    case SRC_HANDSHAKES: refuse(srv, fd, REFUSE_SOURCE_HANDSHAKES, src); return 0;
    case SRC_RATE: refuse(srv, fd, REFUSE_SOURCE_RATE, src); return 0;
    case SRC_FULL: break;
  }
  refuse(srv, fd, REFUSE_HANDSHAKES, src);
  return 0;
}

static void accept_clients(struct server *srv) {
  for (int i = 0; i < ACCEPT_BATCH; i++) {
    struct sockaddr_storage ss;
    struct src_key src;
    socklen_t len = sizeof(ss);
    int fd = accept4(srv->listen_fd, (struct sockaddr *)&ss, &len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
        log_warn("accept: %s", strerror(errno));
      return;
    }
    srv->counters.connections++;
    if (!src_key_from_sockaddr((struct sockaddr *)&ss, &src)) {
      close(fd); /* not IP: cannot happen on our listener */
      continue;
    }
    if (!admit_connection(srv, fd, &src)) continue;
    if (!session_accept(srv, fd, (struct sockaddr *)&ss, &src))
      src_limits_release(srv->sources, &src);
  }
}

static void on_signal(struct server *srv) {
  struct signalfd_siginfo si;
  while (read(srv->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
    if (si.ssi_signo == SIGHUP) {
      /* Not now: a reload may close sessions that later events of this
       * epoll batch still point to. */
      srv->reload_pending = 1;
    } else {
      log_info("%s: shutting down", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
      srv->stopping = 1;
    }
  }
}

int server_run(struct server *srv) {
  struct epoll_event evs[EPOLL_BATCH];
  /* Without privilege separation the workers start here; with it, the
   * network process started them before its seccomp filter. */
  if (!dp_start(srv)) return 1;
  while (!srv->stopping) {
    srv->now_ms = zt_now_ms();
    int timeout = zt_timers_timeout(&srv->timers, srv->now_ms, 1000);
    int n = epoll_wait(srv->epfd, evs, EPOLL_BATCH, timeout);
    if (n < 0 && errno != EINTR) {
      log_err("epoll_wait: %s", strerror(errno));
      return 1;
    }
    /* Sessions change only while the workers are held. */
    dp_pause(srv);
    srv->now_ms = srv->dp[0].now_ms = zt_now_ms();
    for (int i = 0; i < n; i++) {
      struct ev_source *src = evs[i].data.ptr;
      switch (src->kind) {
        case EV_LISTEN: accept_clients(srv); break;
        case EV_TUN: forward_from_tun(srv, &srv->dp[0]); break;
        case EV_UDP: udp_on_readable(srv, &srv->dp[0]); break;
        case EV_SIGNAL: on_signal(srv); break;
        case EV_CONTROL:
        case EV_CONTROL_CONN: control_on_event(srv, src, evs[i].events); break;
        case EV_METRICS:
        case EV_METRICS_CONN: metrics_http_on_event(srv, src, evs[i].events); break;
        case EV_SESSION:
          /* Only a session's own handler closes it during the batch, so no
           * later event of this batch refers to a freed session. */
          session_on_io((struct session *)src, evs[i].events);
          break;
      }
    }
    flush_dirty(srv);
    if (srv->reload_pending) {
      char msg[1024];
      srv->reload_pending = 0;
      log_info("SIGHUP: reloading the CRLs and the policy");
      server_reload(srv, "signal", msg, sizeof(msg));
    }
    zt_timers_run(&srv->timers, srv->now_ms);
    dp_resume(srv);
  }
  return 0;
}

void server_drops(const struct server *srv, uint64_t *out) {
  memset(out, 0, DROP_MAX * sizeof(*out));
  for (unsigned i = 0; i < srv->ndp; i++)
    for (int r = 0; r < DROP_MAX; r++) out[r] += srv->dp[i].drops[r];
}

void server_release(struct server *srv) {
  dp_stop(srv);
  while (srv->sessions)
    session_close(srv->sessions, ZT_REASON_SHUTDOWN, "server shutting down");
  control_close(srv);
  metrics_http_close(srv);
  if (srv->listen_fd >= 0) close(srv->listen_fd);
  if (srv->sig_fd >= 0) close(srv->sig_fd);
  if (srv->epfd >= 0) close(srv->epfd);
  tun_close(&srv->tun);
  udp_close(srv);
  dp_free(srv);
  SSL_CTX_free(srv->tls);
  X509_STORE_free(srv->user_store);
  acl_cache_free(srv->acls);
  policy_free(srv->policy);
  zt_pool_free(&srv->pool);
  zt_timers_free(&srv->timers);
  src_limits_free(srv->sources);
  free(srv->by_index);
  srv->sources = NULL;
  srv->by_index = NULL;
}

void server_free(struct server *srv) {
  const struct server_counters *c = &srv->counters;
  uint64_t drops[DROP_MAX];
  server_drops(srv, drops); /* before the data plane goes */
  server_release(srv);
  log_info("stopped: %llu connections, %llu admitted, %llu refused at accept, "
           "drops: spoofed %llu, malformed %llu, no-session %llu, queue-full %llu, "
           "policy %llu, unsolicited %llu",
           (unsigned long long)c->connections, (unsigned long long)c->admitted,
           (unsigned long long)c->refused,
           (unsigned long long)drops[DROP_SPOOFED_SOURCE],
           (unsigned long long)drops[DROP_MALFORMED],
           (unsigned long long)drops[DROP_NO_SESSION],
           (unsigned long long)drops[DROP_QUEUE_FULL],
           (unsigned long long)drops[DROP_POLICY],
           (unsigned long long)drops[DROP_UNSOLICITED]);
}

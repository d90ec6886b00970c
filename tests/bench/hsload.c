/* ztvpn-hsload: a handshake load generator for the concentrator. It speaks
 * the protocol with the real client code (credentials, TLS context, frames,
 * user proof) and never touches a TUN device.
 *
 *   ztvpn-hsload -c client.conf [-n CONCURRENCY] [-t SECONDS] [-j THREADS]
 *                [--hold N]
 *
 * Rate mode (default): each thread keeps CONCURRENCY attempts in flight for
 * SECONDS (default 10): TCP connect, mutual TLS 1.3, USER_PROOF, ADMIT, then
 * an orderly CLOSE and close_notify, and the next attempt. Prints admitted
 * handshakes per second, latency from connect() to ADMIT (p50, p99) and
 * failures by kind (a REJECT counts under its reason text).
 *
 * Hold mode (--hold N): opens N sessions, at most CONCURRENCY handshakes in
 * flight per thread, and keeps them admitted with keepalives at the interval
 * ADMIT pushed, printing "holding N sessions" once all are up; a session the
 * server ends is reopened after a second. Stops at SIGTERM/SIGINT or after
 * -t SECONDS (0, the default in this mode: until a signal), closing every
 * session with CLOSE.
 *
 * The last line of output is one "hsload:" line of key=value pairs for
 * scripts. Exit: 0 when at least one handshake succeeded (rate) or all N
 * sessions were up at once (hold), 1 otherwise, 2 on usage or config errors. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "config.h"
#include "conn.h"
#include "credentials.h"
#include "frame.h"
#include "log.h"
#include "msg.h"
#include "timers.h"
#include "tls.h"
#include "userproof.h"

#define MAX_THREADS 64
#define MAX_CONCURRENCY 4096
#define MAX_HOLD 100000
#define MAX_SECONDS 86400
#define MAX_FAIL_KINDS 16
/* Latency samples kept per thread (4 bytes each); later ones are counted
 * but not sampled. */
#define MAX_SAMPLES (4u << 20)
/* Output queued per connection: a USER_PROOF, a CLOSE, keepalives. */
#define CONN_OUT_MAX (64 * 1024)
/* A failed attempt waits this long before the next, so a refusing server
 * costs a bounded number of attempts rather than a spin. */
#define RATE_RETRY_MS 10
#define HOLD_RETRY_MS 1000
#define EVENT_BATCH 64
#define LOOP_CAP_MS 100

enum slot_state { SL_IDLE, SL_CONNECTING, SL_HANDSHAKE, SL_AWAIT_ADMIT, SL_HELD };

struct worker;

struct slot {
  struct worker *w;
  uint32_t index;
  enum slot_state state;
  int have_conn;
  struct zt_conn conn;
  struct zt_timer timer; /* handshake deadline, keepalive, or retry */
  uint64_t start_us;
  uint64_t last_rx_ms, last_tx_ms;
  unsigned keepalive;    /* seconds, from ADMIT */
};

struct fail_kind {
  char what[160];
  uint64_t n;
};

struct fail_table {
  struct fail_kind kinds[MAX_FAIL_KINDS];
  size_t nkinds;
  uint64_t other; /* kinds beyond MAX_FAIL_KINDS */
  uint64_t total;
};

struct options {
  const char *conf;
  unsigned concurrency, seconds, threads, hold;
};

struct worker {
  pthread_t tid;
  const struct options *o;
  const struct client_config *cfg;
  struct client_creds creds;
  struct sockaddr_storage addr;
  socklen_t addrlen;
  int epfd;
  struct zt_timers timers;
  uint64_t now_ms, end_ms; /* end_ms 0: until stopped */
  struct slot *slots;
  uint32_t nslots;
  uint32_t *pending; /* slots waiting to start, a stack */
  uint32_t npending;
  unsigned inflight; /* attempts between connect() and ADMIT */
  struct zt_admit *admit; /* 7 KiB of scratch for parsing ADMIT */
  /* Results. */
  uint64_t admitted, abandoned, lost;
  uint32_t *samples;
  size_t nsamples, samples_cap;
  struct fail_table fails;
  atomic_uint held;
  atomic_int finished; /* the thread's loop is over */
};

static atomic_int g_stop;

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void fail_count(struct fail_table *t, const char *what, uint64_t n) {
  t->total += n;
  for (size_t i = 0; i < t->nkinds; i++) {
    if (strcmp(t->kinds[i].what, what) == 0) {
      t->kinds[i].n += n;
      return;
    }
  }
  if (t->nkinds == MAX_FAIL_KINDS) {
    t->other += n;
    return;
  }
  snprintf(t->kinds[t->nkinds].what, sizeof(t->kinds[0].what), "%s", what);
  t->kinds[t->nkinds++].n = n;
}

static void sample(struct worker *w, uint64_t us) {
  if (w->nsamples == w->samples_cap) {
    if (w->samples_cap >= MAX_SAMPLES) return;
    size_t cap = w->samples_cap ? w->samples_cap * 2 : 4096;
    uint32_t *p = realloc(w->samples, cap * sizeof(*p));
    if (!p) return;
    w->samples = p;
    w->samples_cap = cap;
  }
  w->samples[w->nsamples++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static void drop_conn(struct slot *s) {
  if (!s->have_conn) return;
  epoll_ctl(s->w->epfd, EPOLL_CTL_DEL, s->conn.fd, NULL);
  zt_conn_free(&s->conn);
  s->have_conn = 0;
  ERR_clear_error();
}

static void make_pending(struct slot *s) {
  s->state = SL_IDLE;
  s->w->pending[s->w->npending++] = s->index;
}

/* Arms the slot's one timer; a failed allocation would leave an attempt
 * without its deadline, so the attempt is given up instead. */
static int arm(struct slot *s, uint64_t when_ms) {
  return zt_timer_arm(&s->w->timers, &s->timer, when_ms);
}

static void retry_later(struct slot *s) {
  struct worker *w = s->w;
  s->state = SL_IDLE;
  if (!arm(s, w->now_ms + (w->o->hold ? HOLD_RETRY_MS : RATE_RETRY_MS)))
    make_pending(s);
}

/* Ends the slot's connection as a failure of kind |what|. */
static void fail(struct slot *s, const char *what) {
  struct worker *w = s->w;
  if (s->state == SL_HELD) {
    char lost[200];
    snprintf(lost, sizeof(lost), "held session lost: %s", what);
    fail_count(&w->fails, lost, 1);
    w->lost++;
    atomic_fetch_sub(&w->held, 1);
  } else {
    fail_count(&w->fails, what, 1);
    if (s->state != SL_IDLE) w->inflight--;
  }
  zt_timer_cancel(&w->timers, &s->timer);
  drop_conn(s);
  retry_later(s);
}

/* Sends CLOSE and close_notify, then closes: the server sees an orderly
 * end, as from a client that stops. */
static void close_orderly(struct slot *s, const char *why) {
  uint8_t body[64];
  size_t len;
  CBB cbb;
  s->conn.out_off = s->conn.out_len = 0;
  if (CBB_init_fixed(&cbb, body, sizeof(body)) &&
      zt_reason_build(&cbb, ZT_REASON_SHUTDOWN, why) && CBB_finish(&cbb, NULL, &len) &&
      zt_conn_queue(&s->conn, ZT_MSG_CLOSE, body, len))
    zt_conn_flush(&s->conn);
  zt_conn_shutdown(&s->conn);
  zt_timer_cancel(&s->w->timers, &s->timer);
  drop_conn(s);
}

static void set_events(struct slot *s, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.u32 = s->index};
  epoll_ctl(s->w->epfd, EPOLL_CTL_MOD, s->conn.fd, &ev);
}

static void start_attempt(struct slot *s) {
  struct worker *w = s->w;
  char what[160];
  int fd = socket(w->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  s->state = SL_CONNECTING;
  w->inflight++;
  s->start_us = now_us();
  if (fd < 0) {
    snprintf(what, sizeof(what), "socket: %s", strerror(errno));
    fail(s, what);
    return;
  }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(fd, (struct sockaddr *)&w->addr, w->addrlen) != 0 && errno != EINPROGRESS) {
    snprintf(what, sizeof(what), "connect: %s", strerror(errno));
    close(fd);
    fail(s, what);
    return;
  }
  s->have_conn = 1;
  struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = s->index};
  if (!zt_conn_init(&s->conn, fd, w->creds.tls, 0, CONN_OUT_MAX) ||
      !zt_tls_client_expect_name(s->conn.ssl, w->cfg->server_name) ||
      epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0 ||
      !arm(s, w->now_ms + w->cfg->connect_timeout * 1000ull)) {
    fail(s, "local setup failed (TLS, epoll or memory)");
    return;
  }
}

/* Starts pending slots up to the concurrency bound. */
static void start_more(struct worker *w) {
  while (w->npending > 0 && w->inflight < w->o->concurrency && !atomic_load(&g_stop))
    start_attempt(&w->slots[w->pending[--w->npending]]);
}

/* A failed handshake or read: which side refused what, or the network. */
static void tls_failed(struct slot *s, enum zt_io io) {
  char why[300], what[360];
  long vr = zt_conn_verify_error(&s->conn);
  if (vr != X509_V_OK) {
    snprintf(what, sizeof(what), "server certificate: %s",
             X509_verify_cert_error_string(vr));
  } else if (s->conn.peer_alert >= 0) {
    snprintf(what, sizeof(what), "TLS alert from server: %s",
             SSL_alert_desc_string_long(s->conn.peer_alert));
  } else if (io == ZT_IO_EOF) {
    snprintf(what, sizeof(what), "closed by server %s",
             s->state == SL_HANDSHAKE    ? "during TLS"
             : s->state == SL_HELD       ? "without CLOSE"
                                         : "before ADMIT");
  } else {
    snprintf(what, sizeof(what), "%s", zt_conn_error(&s->conn, why, sizeof(why)));
  }
  fail(s, what);
}

static void flush(struct slot *s) {
  enum zt_io io = zt_conn_flush(&s->conn);
  if (io == ZT_IO_ERR || io == ZT_IO_EOF) {
    tls_failed(s, io);
    return;
  }
  if (io == ZT_IO_OK) s->last_tx_ms = s->w->now_ms;
  set_events(s, io == ZT_IO_WANT ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

static void send_proof(struct slot *s) {
  uint8_t exporter[ZT_EXPORTER_LEN], body[ZT_MAX_USER_PROOF];
  size_t len;
  CBB cbb;
  if (!zt_tls_alpn_ok(s->conn.ssl)) {
    fail(s, "server does not speak " ZT_ALPN);
    return;
  }
  int ok = zt_proof_exporter(s->conn.ssl, exporter) &&
           CBB_init_fixed(&cbb, body, sizeof(body)) &&
           client_proof_build(&s->w->creds, exporter, &cbb) &&
           CBB_finish(&cbb, NULL, &len) &&
           zt_conn_queue(&s->conn, ZT_MSG_USER_PROOF, body, len);
  OPENSSL_cleanse(exporter, sizeof(exporter));
  if (!ok) {
    fail(s, "cannot build the user proof");
    return;
  }
  s->state = SL_AWAIT_ADMIT;
  flush(s);
}

/* ADMIT arrived: a completed handshake. Returns 0 when the connection is
 * gone (rate mode closes it at once). */
static int on_admit(struct slot *s, CBS body) {
  struct worker *w = s->w;
  if (!zt_admit_parse(body, w->admit)) {
    fail(s, "malformed ADMIT");
    return 0;
  }
  sample(w, now_us() - s->start_us);
  w->inflight--;
  if (!w->o->hold) {
    w->admitted++;
    close_orderly(s, "benchmark handshake done");
    make_pending(s);
    return 0;
  }
  w->admitted++;
  s->state = SL_HELD;
  s->keepalive = w->admit->keepalive ? w->admit->keepalive : ZT_DEFAULT_KEEPALIVE;
  s->last_rx_ms = s->last_tx_ms = w->now_ms;
  atomic_fetch_add(&w->held, 1);
  if (!arm(s, w->now_ms + s->keepalive * 1000ull)) {
    fail(s, "local setup failed (timer memory)");
    return 0;
  }
  return 1;
}

/* Returns 0 when the connection is gone. */
static int on_message(struct slot *s, uint8_t type, CBS body) {
  char what[ZT_MAX_REASON_TEXT + 64];
  if (type == ZT_MSG_REJECT || type == ZT_MSG_CLOSE) {
    struct zt_reason_msg r;
    if (!zt_reason_parse(body, &r))
      snprintf(what, sizeof(what), "malformed %s", type == ZT_MSG_REJECT ? "REJECT" : "CLOSE");
    else
      snprintf(what, sizeof(what), "%s: %s",
               type == ZT_MSG_REJECT ? "rejected" : "closed by server", r.text);
    fail(s, what);
    return 0;
  }
  if (s->state == SL_AWAIT_ADMIT && type == ZT_MSG_ADMIT) return on_admit(s, body);
  /* A held session only needs to stay alive: keepalives keep it so, and new
   * routes after a reload change nothing here. */
  if (s->state == SL_HELD &&
      (type == ZT_MSG_KEEPALIVE || type == ZT_MSG_ROUTES || type == ZT_MSG_DATA))
    return 1;
  snprintf(what, sizeof(what), "unexpected message type %u", type);
  fail(s, what);
  return 0;
}

static void read_messages(struct slot *s) {
  for (;;) {
    enum zt_io io = zt_conn_read(&s->conn);
    if (io == ZT_IO_WANT) return;
    if (io != ZT_IO_OK) {
      tls_failed(s, io);
      return;
    }
    s->last_rx_ms = s->w->now_ms;
    CBS in, body;
    uint8_t type;
    enum zt_frame_result r;
    zt_conn_pending(&s->conn, &in);
    while ((r = zt_frame_next(&in, &type, &body)) == ZT_FRAME_OK)
      if (!on_message(s, type, body)) return;
    if (r != ZT_FRAME_NEED_MORE) {
      fail(s, zt_frame_result_str(r));
      return;
    }
    zt_conn_consumed(&s->conn, &in);
  }
}

static void on_socket(struct slot *s, uint32_t events) {
  if (s->state == SL_CONNECTING) {
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(s->conn.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      char what[160];
      snprintf(what, sizeof(what), "connect: %s", strerror(err));
      fail(s, what);
      return;
    }
    s->state = SL_HANDSHAKE;
  }
  if (s->state == SL_HANDSHAKE) {
    enum zt_io io = zt_conn_handshake(&s->conn);
    if (io == ZT_IO_WANT) {
      set_events(s, s->conn.want_write ? EPOLLIN | EPOLLOUT : EPOLLIN);
      return;
    }
    if (io != ZT_IO_OK) {
      tls_failed(s, io);
      return;
    }
    send_proof(s);
    if (!s->have_conn) return;
  }
  if ((events & EPOLLOUT) && zt_conn_queued(&s->conn) > 0) {
    flush(s);
    if (!s->have_conn) return;
  }
  read_messages(s);
  if (s->have_conn && zt_conn_queued(&s->conn) > 0) flush(s);
}

/* The slot's timer: a retry is due, an attempt ran out of time, or a held
 * session needs a keepalive (or has heard nothing for too long). */
static void on_timer(void *arg) {
  struct slot *s = arg;
  struct worker *w = s->w;
  if (s->state == SL_IDLE) {
    make_pending(s);
    return;
  }
  if (s->state != SL_HELD) {
    fail(s, "no ADMIT within connect_timeout");
    return;
  }
  uint64_t ka = s->keepalive * 1000ull;
  if (w->now_ms - s->last_rx_ms >= ka * ZT_DEAD_FACTOR) {
    fail(s, "no keepalive from the server");
    return;
  }
  if (w->now_ms - s->last_tx_ms >= ka) {
    if (!zt_conn_queue(&s->conn, ZT_MSG_KEEPALIVE, NULL, 0)) {
      fail(s, "output queue full");
      return;
    }
    flush(s);
    if (!s->have_conn) return;
    s->last_tx_ms = w->now_ms; /* even if the bytes wait in the queue */
  }
  uint64_t dead = s->last_rx_ms + ka * ZT_DEAD_FACTOR, ping = s->last_tx_ms + ka;
  if (!arm(s, dead < ping ? dead : ping)) fail(s, "local setup failed (timer memory)");
}

/* Ends every connection when the run is over: held sessions with CLOSE,
 * attempts in flight abandoned (neither success nor failure). */
static void wind_down(struct worker *w) {
  for (uint32_t i = 0; i < w->nslots; i++) {
    struct slot *s = &w->slots[i];
    if (s->state == SL_HELD) {
      close_orderly(s, "benchmark stopping");
      atomic_fetch_sub(&w->held, 1);
    } else if (s->have_conn) {
      w->abandoned++;
      zt_timer_cancel(&w->timers, &s->timer);
      drop_conn(s);
    } else {
      zt_timer_cancel(&w->timers, &s->timer);
    }
    s->state = SL_IDLE;
  }
}

static void *worker_main(void *arg) {
  struct worker *w = arg;
  struct epoll_event evs[EVENT_BATCH];
  w->now_ms = zt_now_ms();
  if (w->o->seconds) w->end_ms = w->now_ms + w->o->seconds * 1000ull;
  while (!atomic_load(&g_stop) && (w->end_ms == 0 || w->now_ms < w->end_ms)) {
    start_more(w);
    int timeout = zt_timers_timeout(&w->timers, w->now_ms, LOOP_CAP_MS);
    if (w->end_ms && w->end_ms - w->now_ms < (uint64_t)timeout)
      timeout = (int)(w->end_ms - w->now_ms);
    int n = epoll_wait(w->epfd, evs, EVENT_BATCH, timeout);
    w->now_ms = zt_now_ms();
    for (int i = 0; i < n; i++) {
      struct slot *s = &w->slots[evs[i].data.u32];
      if (s->have_conn) on_socket(s, evs[i].events);
    }
    zt_timers_run(&w->timers, w->now_ms);
  }
  wind_down(w);
  atomic_store(&w->finished, 1);
  return NULL;
}

static int resolve(const struct client_config *cfg, struct sockaddr_storage *ss,
                   socklen_t *len) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
  struct addrinfo *ai;
  char port[8];
  snprintf(port, sizeof(port), "%u", cfg->server_port);
  int rc = getaddrinfo(cfg->server_host, port, &hints, &ai);
  if (rc != 0) {
    fprintf(stderr, "ztvpn-hsload: cannot resolve %s: %s\n", cfg->server_host,
            gai_strerror(rc));
    return 0;
  }
  memcpy(ss, ai->ai_addr, ai->ai_addrlen);
  *len = ai->ai_addrlen;
  freeaddrinfo(ai);
  return 1;
}

/* Sets up worker |w| with |nslots| slots (its own credentials, so that no
 * TLS or key object is shared between threads). Returns 1 or 0. */
static int worker_init(struct worker *w, const struct options *o,
                       const struct client_config *cfg, uint32_t nslots) {
  char err[1024];
  memset(w, 0, sizeof(*w));
  w->o = o;
  w->cfg = cfg;
  w->epfd = -1;
  if (!client_creds_load(cfg, &w->creds, err, sizeof(err))) {
    fprintf(stderr, "ztvpn-hsload: %s\n", err);
    return 0;
  }
  if (!resolve(cfg, &w->addr, &w->addrlen)) return 0;
  w->epfd = epoll_create1(EPOLL_CLOEXEC);
  w->slots = calloc(nslots ? nslots : 1, sizeof(*w->slots));
  w->pending = calloc(nslots ? nslots : 1, sizeof(*w->pending));
  w->admit = malloc(sizeof(*w->admit));
  if (w->epfd < 0 || !w->slots || !w->pending || !w->admit) {
    fprintf(stderr, "ztvpn-hsload: out of memory or descriptors\n");
    return 0;
  }
  w->nslots = nslots;
  for (uint32_t i = 0; i < nslots; i++) {
    w->slots[i].w = w;
    w->slots[i].index = i;
    zt_timer_init(&w->slots[i].timer, on_timer, &w->slots[i]);
  }
  /* Start in index order: pending is a stack. */
  for (uint32_t i = nslots; i-- > 0;) make_pending(&w->slots[i]);
  return 1;
}

static void worker_free(struct worker *w) {
  if (w->epfd >= 0) close(w->epfd);
  zt_timers_free(&w->timers);
  client_creds_free(&w->creds);
  free(w->slots);
  free(w->pending);
  free(w->admit);
  free(w->samples);
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static double percentile_ms(const uint32_t *v, size_t n, double p) {
  if (n == 0) return 0;
  size_t i = (size_t)(p * (double)(n - 1) + 0.5);
  return v[i] / 1000.0;
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi) return 0;
  *out = (unsigned)v;
  return 1;
}

static void usage(void) {
  fprintf(stderr,
          "usage: ztvpn-hsload -c client.conf [-n CONCURRENCY] [-t SECONDS] "
          "[-j THREADS] [--hold N]\n");
  exit(2);
}

static void parse_args(int argc, char **argv, struct options *o) {
  static const struct option longopts[] = {{"hold", required_argument, NULL, 'H'},
                                           {NULL, 0, NULL, 0}};
  int seconds_set = 0, c;
  *o = (struct options){.concurrency = 8, .seconds = 10, .threads = 1};
  while ((c = getopt_long(argc, argv, "c:n:t:j:", longopts, NULL)) != -1) {
    switch (c) {
      case 'c': o->conf = optarg; break;
      case 'n':
        if (!parse_uint(optarg, 1, MAX_CONCURRENCY, &o->concurrency)) usage();
        break;
      case 't':
        if (!parse_uint(optarg, 0, MAX_SECONDS, &o->seconds)) usage();
        seconds_set = 1;
        break;
      case 'j':
        if (!parse_uint(optarg, 1, MAX_THREADS, &o->threads)) usage();
        break;
      case 'H':
        if (!parse_uint(optarg, 1, MAX_HOLD, &o->hold)) usage();
        break;
      default: usage();
    }
  }
  if (!o->conf || optind != argc) usage();
  if (o->hold && !seconds_set) o->seconds = 0;
  if (!o->hold && o->seconds == 0) usage();
  if (o->hold && o->threads > o->hold) o->threads = o->hold;
}

/* Every session is a descriptor: raise the soft limit as far as allowed. */
static int raise_nofile(unsigned need) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
    fprintf(stderr, "ztvpn-hsload: %u descriptors needed, the limit is %llu (ulimit -n)\n",
            need, (unsigned long long)rl.rlim_cur);
    return 0;
  }
  return 1;
}

static unsigned total_held(struct worker *ws, unsigned n) {
  unsigned sum = 0;
  for (unsigned i = 0; i < n; i++) sum += atomic_load(&ws[i].held);
  return sum;
}

static int all_finished(struct worker *ws, unsigned n) {
  for (unsigned i = 0; i < n; i++)
    if (!atomic_load(&ws[i].finished)) return 0;
  return 1;
}

/* The main thread waits for a signal or for the workers to reach the end of
 * the run (they time it themselves), and in hold mode announces once that
 * all sessions are up. Returns whether they all were at some point. */
static int supervise(const struct options *o, struct worker *ws, const sigset_t *mask) {
  int announced = 0;
  while (!atomic_load(&g_stop) && !all_finished(ws, o->threads)) {
    struct timespec tick = {.tv_nsec = LOOP_CAP_MS * 1000000L};
    int sig = sigtimedwait(mask, NULL, &tick);
    if (sig == SIGINT || sig == SIGTERM) break;
    if (o->hold && !announced && total_held(ws, o->threads) == o->hold) {
      printf("holding %u sessions\n", o->hold);
      fflush(stdout);
      announced = 1;
    }
  }
  atomic_store(&g_stop, 1);
  return announced;
}

static void report(const struct options *o, struct worker *ws, double secs,
                   int all_held) {
  struct fail_table fails = {0};
  uint64_t admitted = 0, abandoned = 0, lost = 0;
  size_t nsamples = 0;
  for (unsigned i = 0; i < o->threads; i++) {
    admitted += ws[i].admitted;
    abandoned += ws[i].abandoned;
    lost += ws[i].lost;
    nsamples += ws[i].nsamples;
    for (size_t k = 0; k < ws[i].fails.nkinds; k++)
      fail_count(&fails, ws[i].fails.kinds[k].what, ws[i].fails.kinds[k].n);
    if (ws[i].fails.other) fail_count(&fails, "(other kinds)", ws[i].fails.other);
  }
  uint32_t *all = malloc((nsamples ? nsamples : 1) * sizeof(*all));
  size_t n = 0;
  if (all) {
    for (unsigned i = 0; i < o->threads; i++) {
      memcpy(all + n, ws[i].samples, ws[i].nsamples * sizeof(*all));
      n += ws[i].nsamples;
    }
    qsort(all, n, sizeof(*all), cmp_u32);
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  double p50 = percentile_ms(all, n, 0.50), p99 = percentile_ms(all, n, 0.99);
  double rate = secs > 0 ? (double)admitted / secs : 0;
  printf("%s: %llu handshakes admitted in %.2f s with %u thread%s x %u in flight: "
         "%.1f/s\n",
         o->hold ? "hold" : "rate", (unsigned long long)admitted, secs, o->threads,
         o->threads == 1 ? "" : "s", o->concurrency, rate);
  printf("latency connect -> ADMIT: p50 %.2f ms, p99 %.2f ms (%zu samples)\n", p50, p99, n);
  printf("load generator CPU: %.2f s (%.0f%% of one core)\n", cpu,
         secs > 0 ? 100.0 * cpu / secs : 0.0);
  if (abandoned) printf("in flight at the end (not counted): %llu\n",
                        (unsigned long long)abandoned);
  for (size_t k = 0; k < fails.nkinds; k++)
    printf("failed: %llu x %s\n", (unsigned long long)fails.kinds[k].n, fails.kinds[k].what);
  if (fails.other)
    printf("failed: %llu x (other kinds)\n", (unsigned long long)fails.other);
  printf("hsload: mode=%s threads=%u concurrency=%u seconds=%.2f handshakes=%llu "
         "rate=%.1f p50_ms=%.2f p99_ms=%.2f failures=%llu lost=%llu cpu_s=%.2f%s\n",
         o->hold ? "hold" : "rate", o->threads, o->concurrency, secs,
         (unsigned long long)admitted, rate, p50, p99, (unsigned long long)fails.total,
         (unsigned long long)lost, cpu,
         o->hold ? (all_held ? " all_held=1" : " all_held=0") : "");
  free(all);
}

int main(int argc, char **argv) {
  static struct client_config cfg;
  static struct worker ws[MAX_THREADS];
  struct options o;
  char err[1024];
  sigset_t mask;
  parse_args(argc, argv, &o);
  log_init("ztvpn-hsload", LOG_LVL_WARN);
  if (!client_config_load(o.conf, &cfg, err, sizeof(err))) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  unsigned per_thread_max = o.hold ? o.hold / o.threads + 1 : o.concurrency;
  if (!raise_nofile(o.threads * (per_thread_max + 8) + 16)) return 2;
  signal(SIGPIPE, SIG_IGN);
  /* Workers inherit the blocked signals; only the main thread takes them. */
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &mask, NULL);
  unsigned started = 0;
  int rc = 2;
  for (unsigned i = 0; i < o.threads; i++) {
    uint32_t nslots = o.concurrency;
    if (o.hold) nslots = o.hold / o.threads + (i < o.hold % o.threads);
    if (!worker_init(&ws[i], &o, &cfg, nslots)) goto out;
  }
  uint64_t t0 = now_us();
  for (; started < o.threads; started++)
    if (pthread_create(&ws[started].tid, NULL, worker_main, &ws[started]) != 0) break;
  int all_held = 0;
  if (started < o.threads) {
    fprintf(stderr, "ztvpn-hsload: cannot start thread %u\n", started);
    atomic_store(&g_stop, 1);
  } else {
    all_held = supervise(&o, ws, &mask);
  }
  for (unsigned i = 0; i < started; i++) pthread_join(ws[i].tid, NULL);
  if (started < o.threads) goto out;
  double secs = (double)(now_us() - t0) / 1e6;
  /* Each thread ran for exactly -t seconds; the wind-down is not run time. */
  if (!o.hold && secs > o.seconds) secs = o.seconds;
  report(&o, ws, secs, all_held);
  uint64_t admitted = 0;
  for (unsigned i = 0; i < o.threads; i++) admitted += ws[i].admitted;
  rc = o.hold ? !all_held : admitted == 0;
out:
  for (unsigned i = 0; i < MAX_THREADS; i++)
    if (ws[i].o) worker_free(&ws[i]);
  return rc;
}

#include "udp.h"

#include <errno.h>
#include <netdb.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/mem.h>
#include <openssl/rand.h>

#include "addr.h"
#include "dkeys.h"
#include "forward.h"
#include "gso_size.h"
#include "log.h"
#include "server.h"

/* A receiver index: the low bits pick the slot, the high bits are random so
 * that an index of a set that went away does not find its successor. */
#define UDP_SLOT_BITS 18
#define UDP_SLOT_MASK ((1u << UDP_SLOT_BITS) - 1)
/* Receive rounds per wakeup: bounded so the TUN and the sockets get their
 * turn under a flood. */
#define UDP_RX_ROUNDS 8

/* Steers a datagram to socket (index & UDP_SLOT_MASK) % n of the reuseport
 * group, the worker whose slots are those (the payload starts at offset 0;
 * a datagram too short to hold an index goes to socket 0 and fails there). */
static int attach_steering(int fd, unsigned n) {
  struct sock_filter code[] = {
      {BPF_LD | BPF_W | BPF_ABS, 0, 0, 4},
      {BPF_ALU | BPF_AND | BPF_K, 0, 0, UDP_SLOT_MASK},
      {BPF_ALU | BPF_MOD | BPF_K, 0, 0, n},
      {BPF_RET | BPF_A, 0, 0, 0},
  };
  struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) == 0;
}

int udp_open(struct server *srv, unsigned n) {
  const struct server_config *cfg = srv->cfg;
  struct udp_plane *u = calloc(1, sizeof(*u));
  struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICHOST | AI_PASSIVE};
  struct addrinfo *ai = NULL;
  char port[8];
  int one = 1;
  if (!u) return 0;
  srv->udp = u;
  for (unsigned i = 0; i < DP_MAX_WORKERS; i++) u->fds[i] = -1;
  /* Two key sets per session at most (one during a re-authentication's
   * grace period), in the slots of the session's worker. */
  u->nslots = (2 * srv->pool.size + 2) * n;
  if (u->nslots > UDP_SLOT_MASK) u->nslots = UDP_SLOT_MASK;
  u->slots = calloc(u->nslots, sizeof(*u->slots));
  if (!u->slots) {
    log_err("out of memory");
    return 0;
  }
  snprintf(port, sizeof(port), "%u", cfg->udp_port);
  int rc = getaddrinfo(cfg->udp_host, port, &hints, &ai);
  if (rc != 0) {
    log_err("udp_listen address %s: %s", cfg->udp_host, gai_strerror(rc));
    return 0;
  }
  u->family = ai->ai_family;
  for (unsigned i = 0; i < n; i++) {
    int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || (n > 1 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      log_err("udp_listen on %s:%u: %s", cfg->udp_host, cfg->udp_port, strerror(errno));
      if (fd >= 0) close(fd);
      freeaddrinfo(ai);
      return 0;
    }
    u->fds[u->nfds++] = fd;
    zt_udp_socket_tune(fd, u->family);
  }
  freeaddrinfo(ai);
  if (n > 1 && !attach_steering(u->fds[0], n)) {
    log_err("udp_listen: cannot steer datagrams to the workers: %s", strerror(errno));
    return 0;
  }
  log_info("UDP data channel on %s:%u (%s, rekey every %u s, re-authentication %s)",
           cfg->udp_host, cfg->udp_port, zt_aead_name(cfg->data_cipher),
           cfg->rekey_interval, cfg->reauth_interval ? "on" : "off");
  return 1;
}

void udp_close(struct server *srv) {
  struct udp_plane *u = srv->udp;
  if (!u) return;
  for (unsigned i = 0; i < u->nfds; i++) close(u->fds[i]);
  free(u->slots);
  free(u);
  srv->udp = NULL;
}

void udp_counters_sum(const struct server *srv, struct udp_counters *out) {
  memset(out, 0, sizeof(*out));
  for (unsigned i = 0; i < srv->ndp; i++) {
    const struct udp_counters *c = &srv->dp[i].c;
    out->dgrams_in += c->dgrams_in;
    out->dgrams_out += c->dgrams_out;
    for (int r = 0; r < 8; r++) out->dropped[r] += c->dropped[r];
    out->roams += c->roams;
    out->rekeys += c->rekeys;
    out->fallbacks += c->fallbacks;
    out->send_errors += c->send_errors;
  }
}

static struct dchan *lookup(struct udp_plane *u, uint32_t index) {
  uint32_t slot = index & UDP_SLOT_MASK;
  if (slot >= u->nslots) return NULL;
  struct dchan *dc = u->slots[slot];
  return dc && dc->index == index ? dc : NULL;
}

static void dchan_free(struct udp_plane *u, struct dchan *dc) {
  if (!dc) return;
  u->slots[dc->index & UDP_SLOT_MASK] = NULL;
  zt_rx_free(&dc->rx);
  zt_tx_free(&dc->tx);
  OPENSSL_cleanse(dc, sizeof(*dc));
  free(dc);
}

/* A free slot of worker |w| of |n| (slot % n == w, which is where the
 * kernel steers its datagrams), or -1. */
static int64_t free_slot(struct udp_plane *u, unsigned w, unsigned n) {
  for (uint32_t k = 0; k < u->nslots; k++) {
    uint32_t slot = (u->hint + k) % u->nslots;
    if (slot % n == w && !u->slots[slot]) {
      u->hint = slot + 1;
      return slot;
    }
  }
  return -1;
}

int udp_session_keys(struct session *s, struct zt_admit *a) {
  struct server *srv = s->srv;
  struct udp_plane *u = srv->udp;
  const struct server_config *cfg = srv->cfg;
  uint8_t master[ZT_DATA_SECRET_LEN];
  uint32_t rnd[2];
  if (!u) return 1;
  int64_t slot = free_slot(u, s->worker, srv->ndp);
  struct dchan *dc = slot >= 0 ? calloc(1, sizeof(*dc)) : NULL;
  if (!dc || !RAND_bytes((uint8_t *)rnd, sizeof(rnd))) {
    free(dc);
    return 0;
  }
  dc->s = s;
  dc->index = (uint32_t)slot | (rnd[0] & ~UDP_SLOT_MASK);
  /* The client's own index only has to tell our datagrams from garbage. */
  uint32_t client_index = rnd[1];
  int ok = zt_dkeys_master(s->conn.ssl, cfg->data_cipher, master) &&
           zt_rx_init(&dc->rx, cfg->data_cipher, master, ZT_DIR_C2S, dc->index) &&
           zt_tx_init(&dc->tx, cfg->data_cipher, master, ZT_DIR_S2C, client_index,
                      srv->now_ms);
  OPENSSL_cleanse(master, sizeof(master));
  if (!ok) {
    zt_rx_free(&dc->rx);
    zt_tx_free(&dc->tx);
    free(dc);
    return 0;
  }
  u->slots[slot] = dc;
  /* The set before this one (from the previous TLS connection) stays
   * accepted for a while: datagrams in flight do not get lost. */
  dchan_free(u, s->dc_prev);
  s->dc_prev = s->dc;
  if (s->dc_prev) s->dc_prev->retire_ms = srv->now_ms + ZT_KEYSET_GRACE_MS;
  s->dc = dc;
  a->has_udp = 1;
  a->udp_port = cfg->udp_port;
  a->udp_server_index = dc->index;
  a->udp_client_index = client_index;
  a->udp_cipher = (uint8_t)cfg->data_cipher;
  a->rekey_interval = cfg->rekey_interval;
  return 1;
}

void udp_session_end(struct session *s) {
  struct udp_plane *u = s->srv->udp;
  if (!u) return;
  dchan_free(u, s->dc);
  dchan_free(u, s->dc_prev);
  s->dc = s->dc_prev = NULL;
}

int udp_session_sends(const struct session *s) { return s->on_udp; }

/* Whether UDP works for |s| right now, from what the client last said and
 * when its last authenticated datagram came. */
static int udp_alive(const struct session *s, uint64_t now) {
  return s->dc && s->udp_peer_len && s->path_udp && now - s->last_udp_rx_ms < ZT_UDP_DEAD_MS;
}

static void set_path(struct session *s, int udp, const char *why) {
  if (s->on_udp == udp) return;
  s->on_udp = udp;
  if (!udp && s->srv->udp) dp_self(s->srv)->c.fallbacks++;
  log_info("session %llu (%s@%s): data to the client now over %s (%s)",
           (unsigned long long)s->id, s->user.name, s->device.name,
           udp ? "UDP" : "the TLS stream", why);
}

void udp_session_tick(struct session *s) {
  struct udp_plane *u = s->srv->udp;
  if (!u) return;
  if (s->dc_prev && s->srv->now_ms >= s->dc_prev->retire_ms) {
    dchan_free(u, s->dc_prev);
    s->dc_prev = NULL;
  }
  if (s->on_udp && !udp_alive(s, s->srv->now_ms)) set_path(s, 0, "no datagram from the client");
}

void udp_session_on_path(struct session *s, uint8_t path) {
  s->path_udp = path == ZT_PATH_UDP;
  set_path(s, udp_alive(s, s->srv->now_ms), s->path_udp ? "the client says UDP works"
                                        : "the client says UDP does not get through");
}

/* Seals the |plen| bytes at d + ZT_DGRAM_HDR with the current key set of
 * |s| and queues the datagram for |to|. */
static void seal_queue(struct dp *dp, struct session *s, uint8_t *d, size_t plen,
                       const struct sockaddr *to, socklen_t tolen) {
  size_t len = zt_tx_seal(&s->dc->tx, d, plen);
  if (len == 0 || !zt_udp_out_commit(&dp->out, d, len, to, tolen)) {
    dp->c.send_errors++;
    return;
  }
  dp->c.dgrams_out++;
  s->udp_out++;
}

/* Moves the sending key to the next epoch when its time or packet budget
 * is spent, but only once the client has been heard from in this epoch: a
 * receiver holds one epoch ahead, so a sender that rekeyed twice into a
 * silent link would lock itself out. */
static void maybe_rekey(struct dp *dp, struct session *s) {
  struct zt_tx *tx = &s->dc->tx;
  if (s->last_udp_rx_ms <= tx->epoch_started_ms) return;
  if (zt_tx_should_rekey(tx, dp->now_ms, s->srv->cfg->rekey_interval * 1000ull) &&
      zt_tx_rekey(tx, dp->now_ms)) {
    dp->c.rekeys++;
    s->rekeys++;
    log_debug("session %llu: sending with key epoch %u", (unsigned long long)s->id,
              tx->epoch);
  }
}

void udp_send_super(struct dp *dp, struct session *s, const uint8_t *pkt, size_t len,
                    int vnet) {
  struct server *srv = s->srv;
  size_t seglen[ZT_GSO_MAX_SEGS];
  size_t segmax = vnet ? zt_gso_seg_max(pkt, len) : len;
  if (segmax == 0 || segmax > 65535) {
    session_count_drop(s, DROP_MALFORMED);
    return;
  }
  size_t stride = segmax + ZT_DGRAM_OVERHEAD;
  size_t nmax = vnet ? (len / (segmax > 40 ? segmax - 40 : 1)) + 2 : 1;
  if (nmax > ZT_GSO_MAX_SEGS) nmax = ZT_GSO_MAX_SEGS;
  uint8_t *room = zt_udp_out_room(&dp->out, stride * nmax);
  if (!room) {
    udp_flush(srv, dp);
    room = zt_udp_out_room(&dp->out, stride * nmax);
    if (!room) return;
  }
  int n;
  if (vnet) {
    n = zt_gso_split(pkt, len, room, stride, ZT_DGRAM_HDR, nmax, seglen);
  } else {
    memcpy(room + ZT_DGRAM_HDR, pkt, len);
    seglen[0] = len;
    n = 1;
  }
  if (n < 0) {
    session_count_drop(s, DROP_MALFORMED);
    return;
  }
  maybe_rekey(dp, s);
  for (int k = 0; k < n; k++) {
    uint8_t *d = room + (size_t)k * stride;
    if (!forward_check_to_client(s, d + ZT_DGRAM_HDR, seglen[k], dp->now_ms)) continue;
    seal_queue(dp, s, d, seglen[k], (const struct sockaddr *)&s->udp_peer, s->udp_peer_len);
  }
}

/* Answers an authenticated probe at once: this is how the client learns
 * that UDP works both ways. */
static void answer_probe(struct dp *dp, struct session *s, struct dchan *dc,
                         const struct sockaddr *to, socklen_t tolen) {
  if (dc != s->dc) return; /* a replaced key set is only received with */
  uint8_t *d = zt_udp_out_room(&dp->out, ZT_DGRAM_OVERHEAD);
  if (!d) {
    udp_flush(s->srv, dp);
    if (!(d = zt_udp_out_room(&dp->out, ZT_DGRAM_OVERHEAD))) return;
  }
  maybe_rekey(dp, s);
  seal_queue(dp, s, d, 0, to, tolen);
}

/* The client's address follows the newest authenticated datagram of the
 * current key set (roaming; a replay or a late datagram never moves it). */
static void follow_peer(struct dp *dp, struct session *s, struct dchan *dc,
                        const struct zt_dgram_hdr *h, const struct sockaddr *from,
                        socklen_t fromlen) {
  if (dc != s->dc || (uint8_t)dc->rx.cur.epoch != h->epoch ||
      h->counter + 1 != dc->rx.cur.replay.next)
    return;
  if (s->udp_peer_len == fromlen && memcmp(&s->udp_peer, from, fromlen) == 0) return;
  /* Nothing can be sent to port 0: a rewritten header must not move us. */
  if ((from->sa_family == AF_INET && ((const struct sockaddr_in *)from)->sin_port == 0) ||
      (from->sa_family == AF_INET6 && ((const struct sockaddr_in6 *)from)->sin6_port == 0))
    return;
  char was[64], now[64];
  int first = s->udp_peer_len == 0;
  if (!first) zt_sockaddr_format((const struct sockaddr *)&s->udp_peer, was, sizeof(was));
  memcpy(&s->udp_peer, from, fromlen);
  s->udp_peer_len = fromlen;
  zt_sockaddr_format(from, now, sizeof(now));
  if (first) {
    log_info("session %llu (%s@%s): UDP from %s", (unsigned long long)s->id, s->user.name,
             s->device.name, now);
  } else {
    dp->c.roams++;
    log_info("session %llu (%s@%s): UDP endpoint moved from %s to %s",
             (unsigned long long)s->id, s->user.name, s->device.name, was, now);
  }
}

/* One datagram of |dl| bytes at |d|; an accepted packet joins the TUN batch
 * (|*np| of them so far), with the bytes up to |end| usable for merging. */
static void input(struct server *srv, struct dp *dp, uint8_t *d, size_t dl, uint8_t *end,
                  const struct sockaddr *from, socklen_t fromlen, size_t *np) {
  struct udp_plane *u = srv->udp;
  struct zt_dgram_hdr h;
  if (!zt_dgram_parse_hdr(d, dl, &h)) {
    dp->c.dropped[ZT_OPEN_MALFORMED]++;
    return;
  }
  struct dchan *dc = lookup(u, h.index);
  /* The kernel steers by index, so a session's datagrams reach its own
   * worker; anything else is not ours to open. */
  if (!dc || dc->s->worker != dp->index) {
    dp->c.dropped[ZT_OPEN_INDEX]++;
    return;
  }
  uint8_t *payload;
  size_t plen;
  uint64_t ctr;
  int promoted;
  enum zt_open_result r = zt_rx_open(&dc->rx, d, dl, dp->now_ms, &payload, &plen, &ctr,
                                     &promoted);
  if (r != ZT_OPEN_OK) {
    dp->c.dropped[r]++;
    return;
  }
  struct session *s = dc->s;
  if (promoted) {
    dp->c.rekeys++;
    s->rekeys++;
  }
  dp->c.dgrams_in++;
  s->udp_in++;
  s->last_rx_ms = s->last_udp_rx_ms = dp->now_ms;
  follow_peer(dp, s, dc, &h, from, fromlen);
  if (!s->on_udp && udp_alive(s, dp->now_ms)) set_path(s, 1, "datagrams arrive again");
  if (plen == 0) {
    answer_probe(dp, s, dc, from, fromlen);
    return;
  }
  if (!forward_check_from_client(s, payload, plen, dp->now_ms)) return;
  if (*np == DP_TUN_BATCH) return; /* cannot happen: batch < datagrams */
  dp->tun_pkts[*np].data = payload;
  dp->tun_pkts[*np].len = plen;
  dp->tun_pkts[*np].cap = (size_t)(end - payload);
  (*np)++;
}

/* Writes the accepted packets to |dp|'s TUN queue, merged into
 * super-packets where the device takes them. */
static void write_tun(struct server *srv, struct dp *dp, size_t np) {
  if (np == 0) return;
  if (!srv->tun.vnet) {
    for (size_t i = 0; i < np; i++)
      if (!forward_tun_write(srv, dp->tun_pkts[i].data, dp->tun_pkts[i].len))
        dp->drops[DROP_TUN_WRITE]++;
    return;
  }
  size_t n = zt_gro_coalesce(dp->tun_pkts, np, srv->tun.uso, dp->tun_iov);
  for (size_t i = 0; i < n; i++)
    if (write(dp->tun_fd, dp->tun_iov[i].iov_base, dp->tun_iov[i].iov_len) !=
        (ssize_t)dp->tun_iov[i].iov_len)
      dp->drops[DROP_TUN_WRITE]++;
}

void udp_on_readable(struct server *srv, struct dp *dp) {
  for (int round = 0; round < UDP_RX_ROUNDS; round++) {
    int n = zt_udp_in_recv(&dp->in, dp->udp_fd);
    if (n < 0) log_warn("UDP receive: %s", strerror(errno));
    if (n <= 0) break;
    size_t np = 0;
    for (int i = 0; i < n; i++) {
      uint8_t *data;
      size_t len, seg;
      const struct sockaddr *from;
      socklen_t fromlen;
      zt_udp_in_msg(&dp->in, i, &data, &len, &seg, &from, &fromlen);
      uint8_t *end = data + ZT_UDP_RX_BUF;
      if (seg == 0) {
        dp->c.dropped[ZT_OPEN_MALFORMED]++;
        continue;
      }
      for (size_t off = 0; off < len; off += seg) {
        size_t dl = len - off < seg ? len - off : seg;
        input(srv, dp, data + off, dl, end, from, fromlen, &np);
      }
    }
    write_tun(srv, dp, np);
    udp_flush(srv, dp);
    if (n < ZT_UDP_RX_MSGS) break;
  }
}

void udp_flush(struct server *srv, struct dp *dp) {
  if (!srv->udp || dp->out.n == 0) return;
  uint64_t before = dp->out.errors;
  zt_udp_out_flush(&dp->out, dp->udp_fd);
  dp->c.send_errors += dp->out.errors - before;
}

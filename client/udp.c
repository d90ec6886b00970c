#include "udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include <openssl/mem.h>

#include "dkeys.h"
#include "gso_size.h"
#include "log.h"

/* IPv4 + UDP, or IPv6 + UDP, in front of every datagram. */
#define OUTER_V4 28
#define OUTER_V6 48

void client_udp_init(struct client_udp *u) {
  memset(u, 0, sizeof(*u));
  u->fd = -1;
  u->told = -1;
}

void client_udp_close(struct client_udp *u) {
  if (u->fd >= 0) close(u->fd);
  zt_rx_free(&u->rx);
  zt_rx_free(&u->rx_prev);
  zt_tx_free(&u->tx);
  zt_udp_in_free(&u->in);
  zt_udp_out_free(&u->out);
  uint64_t in = u->dgrams_in, out = u->dgrams_out, dropped = u->dropped, rk = u->rekeys;
  client_udp_init(u);
  /* The counters describe the client's life, not one channel. */
  u->dgrams_in = in;
  u->dgrams_out = out;
  u->dropped = dropped;
  u->rekeys = rk;
}

/* The path MTU towards the server as the kernel knows it, minus what the
 * data channel adds: the tunnel MTU that never fragments. */
static unsigned mtu_cap(const struct sockaddr *server, socklen_t len) {
  int probe = socket(server->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0), mtu = 0;
  socklen_t ml = sizeof(mtu);
  if (probe < 0) return 0;
  if (connect(probe, server, len) == 0) {
    if (server->sa_family == AF_INET)
      getsockopt(probe, IPPROTO_IP, IP_MTU, &mtu, &ml);
    else
      getsockopt(probe, IPPROTO_IPV6, IPV6_MTU, &mtu, &ml);
  }
  close(probe);
  int outer = server->sa_family == AF_INET ? OUTER_V4 : OUTER_V6;
  return mtu > outer + ZT_DGRAM_OVERHEAD ? (unsigned)(mtu - outer - ZT_DGRAM_OVERHEAD) : 0;
}

int client_udp_start(struct client_udp *u, SSL *ssl, const struct zt_admit *a,
                     const struct sockaddr *server, socklen_t server_len, uint64_t now_ms) {
  uint8_t master[ZT_DATA_SECRET_LEN];
  if (u->fd < 0) {
    if (server_len > sizeof(u->server)) return 0;
    if (!zt_udp_in_init(&u->in) || !zt_udp_out_init(&u->out)) goto fail;
    /* Unconnected: after an address change the kernel picks the new source
     * for the next datagram (roaming), and answers come only from the
     * server's address, which is checked. */
    u->fd = socket(server->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (u->fd < 0) goto fail;
    zt_udp_socket_tune(u->fd, server->sa_family);
  }
  memcpy(&u->server, server, server_len);
  u->server_len = server_len;
  if (server->sa_family == AF_INET)
    ((struct sockaddr_in *)&u->server)->sin_port = htons(a->udp_port);
  else
    ((struct sockaddr_in6 *)&u->server)->sin6_port = htons(a->udp_port);
  u->mtu_cap = mtu_cap((struct sockaddr *)&u->server, u->server_len);
  /* The set being replaced keeps receiving what the server sent with it. */
  zt_rx_free(&u->rx_prev);
  if (u->rx.cur.ready) {
    u->rx_prev = u->rx;
    memset(&u->rx, 0, sizeof(u->rx));
    u->prev_until_ms = now_ms + CLIENT_KEYSET_GRACE_MS;
  }
  zt_tx_free(&u->tx);
  zt_rx_free(&u->rx);
  int ok = zt_dkeys_master(ssl, a->udp_cipher, master) &&
           zt_rx_init(&u->rx, a->udp_cipher, master, ZT_DIR_S2C, a->udp_client_index) &&
           zt_tx_init(&u->tx, a->udp_cipher, master, ZT_DIR_C2S, a->udp_server_index, now_ms);
  OPENSSL_cleanse(master, sizeof(master));
  if (!ok) goto fail;
  u->rekey_ms = a->rekey_interval * 1000ull;
  u->last_probe_ms = 0; /* probe at once */
  return 1;
fail:
  log_warn("cannot set up the UDP data channel (%s): data stays on the TLS stream",
           errno ? strerror(errno) : "keys");
  client_udp_close(u);
  return 0;
}

/* As the server does: rekey only after the server was heard from in this
 * epoch, so that a blocked link never leaves it two epochs behind. */
static void maybe_rekey(struct client_udp *u, uint64_t now_ms) {
  if (u->last_auth_ms <= u->tx.epoch_started_ms) return;
  if (zt_tx_should_rekey(&u->tx, now_ms, u->rekey_ms) && zt_tx_rekey(&u->tx, now_ms)) {
    u->rekeys++;
    log_debug("UDP: sending with key epoch %u", u->tx.epoch);
  }
}

static int queue(struct client_udp *u, uint8_t *d, size_t plen) {
  size_t len = zt_tx_seal(&u->tx, d, plen);
  if (len == 0 ||
      !zt_udp_out_commit(&u->out, d, len, (struct sockaddr *)&u->server, u->server_len))
    return 0;
  u->dgrams_out++;
  return 1;
}

int client_udp_tick(struct client_udp *u, uint64_t now_ms) {
  if (u->fd < 0) return -1;
  if (u->prev_until_ms && now_ms >= u->prev_until_ms) {
    zt_rx_free(&u->rx_prev);
    u->prev_until_ms = 0;
  }
  if (now_ms - u->last_probe_ms >= CLIENT_UDP_PROBE_MS) {
    uint8_t *d = zt_udp_out_room(&u->out, ZT_DGRAM_OVERHEAD);
    if (!d) {
      client_udp_flush(u);
      d = zt_udp_out_room(&u->out, ZT_DGRAM_OVERHEAD);
    }
    maybe_rekey(u, now_ms);
    if (d) queue(u, d, 0);
    client_udp_flush(u);
    u->last_probe_ms = now_ms;
  }
  int up = u->last_rx_ms && now_ms - u->last_rx_ms < CLIENT_UDP_DEAD_MS;
  if (u->up && !up)
    log_warn("UDP: no answer from the server for %d s: data over the TLS stream",
             CLIENT_UDP_DEAD_MS / 1000);
  u->up = up;
  if (u->told != u->up) {
    u->told = u->up;
    return u->up ? ZT_PATH_UDP : ZT_PATH_TLS;
  }
  return -1;
}

size_t client_udp_send(struct client_udp *u, const uint8_t *pkt, size_t len, int vnet,
                       int (*keep)(void *arg, const uint8_t *ip, size_t len), void *arg,
                       uint64_t now_ms) {
  size_t seglen[ZT_GSO_MAX_SEGS], sent = 0;
  size_t segmax = vnet ? zt_gso_seg_max(pkt, len) : len;
  if (segmax == 0 || segmax > 65535) return 0;
  size_t stride = segmax + ZT_DGRAM_OVERHEAD;
  size_t nmax = vnet ? (len / (segmax > 40 ? segmax - 40 : 1)) + 2 : 1;
  if (nmax > ZT_GSO_MAX_SEGS) nmax = ZT_GSO_MAX_SEGS;
  uint8_t *room = zt_udp_out_room(&u->out, stride * nmax);
  if (!room) {
    client_udp_flush(u);
    if (!(room = zt_udp_out_room(&u->out, stride * nmax))) return 0;
  }
  int n = 1;
  if (vnet) {
    n = zt_gso_split(pkt, len, room, stride, ZT_DGRAM_HDR, nmax, seglen);
  } else {
    memcpy(room + ZT_DGRAM_HDR, pkt, len);
    seglen[0] = len;
  }
  if (n < 0) return 0;
  maybe_rekey(u, now_ms);
  for (int k = 0; k < n; k++) {
    uint8_t *d = room + (size_t)k * stride;
    if (keep(arg, d + ZT_DGRAM_HDR, seglen[k]) && queue(u, d, seglen[k])) sent++;
  }
  return sent;
}

void client_udp_flush(struct client_udp *u) {
  if (u->fd >= 0 && u->out.n) zt_udp_out_flush(&u->out, u->fd);
}

static int from_server(const struct client_udp *u, const struct sockaddr *from,
                       socklen_t len) {
  if (from->sa_family != u->server.ss_family) return 0;
  if (from->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const void *)from, *b = (const void *)&u->server;
    return len >= sizeof(*a) && a->sin_port == b->sin_port &&
           a->sin_addr.s_addr == b->sin_addr.s_addr;
  }
  const struct sockaddr_in6 *a = (const void *)from, *b = (const void *)&u->server;
  return len >= sizeof(*a) && a->sin6_port == b->sin6_port &&
         memcmp(&a->sin6_addr, &b->sin6_addr, 16) == 0;
}

int client_udp_receive(struct client_udp *u, int tunfd, int vnet, int uso,
                       int (*deliver)(void *arg, const uint8_t *ip, size_t len), void *arg,
                       uint64_t now_ms, int *path_changed) {
  int any = 0;
  *path_changed = -1;
  for (int round = 0; round < 8 && u->fd >= 0; round++) {
    int n = zt_udp_in_recv(&u->in, u->fd);
    if (n <= 0) break;
    size_t np = 0;
    for (int i = 0; i < n; i++) {
      uint8_t *data, *payload;
      size_t len, seg, plen;
      const struct sockaddr *from;
      socklen_t fromlen;
      uint64_t ctr;
      int promoted;
      zt_udp_in_msg(&u->in, i, &data, &len, &seg, &from, &fromlen);
      if (seg == 0 || !from_server(u, from, fromlen)) {
        u->dropped++;
        continue;
      }
      for (size_t off = 0; off < len; off += seg) {
        size_t dl = len - off < seg ? len - off : seg;
        uint8_t *d = data + off;
        uint32_t index;
        struct zt_rx *rx = &u->rx;
        if (zt_dgram_peek_index(d, dl, &index) && u->rx_prev.cur.ready &&
            index == u->rx_prev.own_index && index != u->rx.own_index)
          rx = &u->rx_prev;
        if (zt_rx_open(rx, d, dl, now_ms, &payload, &plen, &ctr, &promoted) != ZT_OPEN_OK) {
          u->dropped++;
          continue;
        }
        u->dgrams_in++;
        u->last_auth_ms = now_ms;
        u->rekeys += (uint64_t)promoted;
        if (plen == 0) {
          /* Only an answer to a probe proves that UDP works both ways:
           * data from the server would keep coming if only our direction
           * were blocked. */
          u->last_rx_ms = now_ms;
          any = 1;
          continue;
        }
        if (!deliver(arg, payload, plen) || np == CLIENT_UDP_TUN_BATCH) continue;
        u->pkts[np].data = payload;
        u->pkts[np].len = plen;
        u->pkts[np].cap = (size_t)(data + ZT_UDP_RX_BUF - payload);
        np++;
      }
    }
    if (vnet) {
      size_t m = zt_gro_coalesce(u->pkts, np, uso, u->iov);
      for (size_t k = 0; k < m; k++)
        if (write(tunfd, u->iov[k].iov_base, u->iov[k].iov_len) < 0) u->dropped++;
    } else {
      for (size_t k = 0; k < np; k++)
        if (write(tunfd, u->pkts[k].data, u->pkts[k].len) < 0) u->dropped++;
    }
    if (n < ZT_UDP_RX_MSGS) break;
  }
  if (any && !u->up) {
    log_info("UDP: the data channel works both ways: data over UDP");
    u->up = 1;
  }
  if (u->told != u->up && u->fd >= 0) {
    u->told = u->up;
    *path_changed = u->up ? ZT_PATH_UDP : ZT_PATH_TLS;
  }
  return any;
}

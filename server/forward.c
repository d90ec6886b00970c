#include "forward.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "packet.h"
#include "proto.h"
#include "offload.h"
#include "server.h"
#include "udp.h"

/* Reads from the TUN per wakeup, and bytes: enough to coalesce many frames
 * into each TLS record and many datagrams into each send, few enough to
 * keep the loop fair to the sockets and a session's TLS queue from taking
 * a burst it would have to drop (a read can be a 64 KiB super-packet). */
#define TUN_BATCH 64
#define TUN_BATCH_BYTES (256 * 1024)

/* The policy question a packet asks: its remote address, its protocol and
 * the port that the policy names (the destination port outbound, the
 * client's port inbound). */
static void packet_query(const struct zt_pkt *p, int from_client, struct policy_query *q) {
  q->addr = from_client ? p->dst : p->src;
  q->ipproto = p->l4.proto;
  q->has_port = p->l4.has_ports;
  q->port = p->l4.dport; /* outbound: the remote's port; inbound: the client's */
}

/* The policy and connection tracking decide on a packet between |s| and the
 * network; |from_client| gives the direction. Replies to a flow that the
 * other side was allowed to open pass; ICMP errors pass only for a flow
 * they belong to; anything else must be allowed by the policy, and then
 * opens a flow. Returns DROP_MAX when the packet may pass. */
static enum drop_reason decide(struct session *s, const struct zt_pkt *p, int from_client,
                               uint64_t now) {
  struct ct_key key;
  enum ct_origin origin;
  enum drop_reason deny = from_client ? DROP_POLICY : DROP_UNSOLICITED;
  int keyed = ct_key_from_pkt(p, from_client, &key);
  if (p->is_icmp_error) {
    /* The key holds no client address: the quoted packet must be the
     * client's own, or anyone could send errors about its flows' ports. */
    const struct zt_ip *own = from_client ? &p->inner_dst : &p->inner_src;
    int mine = keyed && own->family == p->src.family &&
               memcmp(own->addr, from_client ? p->src.addr : p->dst.addr,
                      zt_ip_len(own->family)) == 0;
    /* tcp_flags 0: an error must not touch the state of the TCP flow */
    return mine && ct_lookup(&s->ct, &key, now, 0, &origin) ? DROP_MAX : deny;
  }
  int known = keyed && ct_lookup(&s->ct, &key, now, p->l4.tcp_flags, &origin);
  if (known && origin == (from_client ? CT_FROM_REMOTE : CT_FROM_CLIENT)) return DROP_MAX;
  struct policy_query q;
  packet_query(p, from_client, &q);
  if (acl_check(s->acl, from_client ? POLICY_OUT : POLICY_IN, &q) != PV_ALLOW) return deny;
  if (!known && keyed &&
      !ct_insert(&s->ct, &key, from_client ? CT_FROM_CLIENT : CT_FROM_REMOTE, now,
                 p->l4.tcp_flags))
    return DROP_FLOWS_FULL;
  return DROP_MAX;
}

/* The destination address of the IP packet at |ip| (|len| bytes), or 0. */
static int packet_dst(const uint8_t *ip, size_t len, struct zt_ip *dst) {
  memset(dst, 0, sizeof(*dst));
  if (len >= 20 && ip[0] >> 4 == 4) {
    dst->family = AF_INET;
    memcpy(dst->addr, ip + 16, 4);
    return 1;
  }
  if (len >= 40 && ip[0] >> 4 == 6) {
    dst->family = AF_INET6;
    memcpy(dst->addr, ip + 24, 16);
    return 1;
  }
  return 0;
}

int forward_check_to_client(struct session *s, const uint8_t *pkt, size_t len,
                            uint64_t now) {
  struct zt_pkt info;
  if (!zt_pkt_parse(pkt, len, &info)) {
    session_count_drop(s, DROP_MALFORMED);
    return 0;
  }
  enum drop_reason r = decide(s, &info, 0, now);
  if (r != DROP_MAX) {
    session_count_drop(s, r);
    return 0;
  }
  s->pkts_out++;
  return 1;
}

/* Queues the packets of |pkt| for a session on the TLS stream: a super-packet
 * is split first. */
static void send_stream(struct server *srv, struct dp *dp, struct session *s,
                        const uint8_t *pkt, size_t len) {
  size_t seglen[ZT_GSO_MAX_SEGS];
  int n = 1;
  const uint8_t *base = pkt;
  size_t stride = 0;
  if (srv->tun.vnet) {
    n = zt_gso_split(pkt, len, dp->segs, FORWARD_SEG_STRIDE, 0, ZT_GSO_MAX_SEGS, seglen);
    if (n < 0) {
      session_count_drop(s, DROP_MALFORMED);
      return;
    }
    base = dp->segs;
    stride = FORWARD_SEG_STRIDE;
  } else {
    seglen[0] = len;
  }
  for (int k = 0; k < n; k++) {
    const uint8_t *p = base + (size_t)k * stride;
    if (!forward_check_to_client(s, p, seglen[k], dp->now_ms)) continue;
    if (!zt_conn_queue(&s->conn, ZT_MSG_DATA, p, seglen[k])) {
      s->pkts_out--;
      session_count_drop(s, DROP_QUEUE_FULL);
      continue;
    }
  }
  dp_mark_dirty(srv, s);
}

void forward_one(struct server *srv, struct dp *dp, const uint8_t *pkt, size_t len,
                 int handed) {
  size_t hdr = srv->tun.vnet ? ZT_VNET_HDR_LEN : 0;
  struct zt_ip dst;
  if (len <= hdr || !packet_dst(pkt + hdr, len - hdr, &dst)) {
    dp->drops[DROP_MALFORMED]++;
    return;
  }
  /* Every segment of a super-packet has the same destination. */
  struct session *s = server_session_for_addr(srv, &dst);
  if (!s) {
    dp->drops[DROP_NO_SESSION]++;
    return;
  }
  if (s->worker != dp->index && !handed) {
    /* Another worker owns the session: all its packets go there. */
    if (!dp_handoff(srv, s->worker, pkt, len)) dp->drops[DROP_QUEUE_FULL]++;
    return;
  }
  if (udp_session_sends(s))
    udp_send_super(dp, s, pkt, len, srv->tun.vnet);
  else
    send_stream(srv, dp, s, pkt, len);
}

void forward_from_tun(struct server *srv, struct dp *dp) {
  size_t bytes = 0;
  for (int i = 0; i < TUN_BATCH && bytes < TUN_BATCH_BYTES; i++) {
    ssize_t n = read(dp->tun_fd, dp->pkt, FORWARD_TUN_READ);
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) log_warn("read from TUN: %s", strerror(errno));
      return;
    }
    bytes += (size_t)n;
    forward_one(srv, dp, dp->pkt, (size_t)n, 0);
  }
}

static int is_own_source(const struct session *s, const struct zt_ip *src) {
  if (src->family == s->addr4.family)
    return memcmp(src->addr, s->addr4.addr, 4) == 0;
  return s->has_addr6 && memcmp(src->addr, s->addr6.addr, 16) == 0;
}

int forward_check_from_client(struct session *s, const uint8_t *pkt, size_t len,
                              uint64_t now) {
  struct zt_pkt info;
  s->last_data_ms = now; /* keepalives do not count */
  if (!zt_pkt_parse(pkt, len, &info)) {
    session_count_drop(s, DROP_MALFORMED);
    return 0;
  }
  if (!is_own_source(s, &info.src)) {
    session_count_drop(s, DROP_SPOOFED_SOURCE);
    return 0;
  }
  enum drop_reason r = decide(s, &info, 1, now);
  if (r != DROP_MAX) {
    session_count_drop(s, r);
    return 0;
  }
  s->pkts_in++;
  return 1;
}

int forward_tun_write(struct server *srv, const uint8_t *pkt, size_t len) {
  static const uint8_t none[ZT_VNET_HDR_LEN];
  struct iovec iov[2] = {{(void *)none, ZT_VNET_HDR_LEN}, {(void *)pkt, len}};
  size_t hdr = srv->tun.vnet ? ZT_VNET_HDR_LEN : 0;
  return writev(dp_self(srv)->tun_fd, srv->tun.vnet ? iov : iov + 1, srv->tun.vnet ? 2 : 1) ==
         (ssize_t)(len + hdr);
}

void forward_to_tun(struct session *s, const uint8_t *pkt, size_t len) {
  if (!forward_check_from_client(s, pkt, len, s->srv->now_ms)) return;
  if (!forward_tun_write(s->srv, pkt, len)) {
    s->pkts_in--;
    session_count_drop(s, DROP_TUN_WRITE);
  }
}

#include "forward.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "packet.h"
#include "proto.h"
#include "server.h"

/* Packets taken from the TUN per wakeup: enough to coalesce many frames into
 * each TLS record, few enough to keep the loop fair to the sockets. */
#define TUN_BATCH 64

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
static enum drop_reason decide(struct session *s, const struct zt_pkt *p, int from_client) {
  struct ct_key key;
  enum ct_origin origin;
  enum drop_reason deny = from_client ? DROP_POLICY : DROP_UNSOLICITED;
  uint64_t now = s->srv->now_ms;
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

void forward_from_tun(struct server *srv) {
  for (int i = 0; i < TUN_BATCH; i++) {
    ssize_t n = read(srv->tun.fd, srv->pkt, ZT_MAX_DATA);
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) log_warn("read from TUN: %s", strerror(errno));
      return;
    }
    struct zt_pkt info;
    if (!zt_pkt_parse(srv->pkt, (size_t)n, &info)) {
      srv->counters.drops[DROP_MALFORMED]++;
      continue;
    }
    struct session *s = server_session_for_addr(srv, &info.dst);
    if (!s) {
      srv->counters.drops[DROP_NO_SESSION]++;
      continue;
    }
    enum drop_reason r = decide(s, &info, 0);
    if (r != DROP_MAX) {
      session_count_drop(s, r);
      continue;
    }
    if (!zt_conn_queue(&s->conn, ZT_MSG_DATA, srv->pkt, (size_t)n)) {
      session_count_drop(s, DROP_QUEUE_FULL);
      continue;
    }
    s->pkts_out++;
    server_mark_dirty(srv, s);
  }
}

static int is_own_source(const struct session *s, const struct zt_ip *src) {
  if (src->family == s->addr4.family)
    return memcmp(src->addr, s->addr4.addr, 4) == 0;
  return s->has_addr6 && memcmp(src->addr, s->addr6.addr, 16) == 0;
}

void forward_to_tun(struct session *s, const uint8_t *pkt, size_t len) {
  struct zt_pkt info;
  if (!zt_pkt_parse(pkt, len, &info)) {
    session_count_drop(s, DROP_MALFORMED);
    return;
  }
  if (!is_own_source(s, &info.src)) {
    session_count_drop(s, DROP_SPOOFED_SOURCE);
    return;
  }
  enum drop_reason r = decide(s, &info, 1);
  if (r != DROP_MAX) {
    session_count_drop(s, r);
    return;
  }
  if (write(s->srv->tun.fd, pkt, len) != (ssize_t)len) {
    session_count_drop(s, DROP_TUN_WRITE);
    return;
  }
  s->pkts_in++;
}

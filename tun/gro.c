/* Coalescing on the way to the TUN: consecutive TCP segments (and, with
 * USO, UDP datagrams) of one flow become one super-packet with a
 * virtio_net_hdr, so the kernel takes a whole run in one write and one pass
 * up its stack, as it does for what a NIC's GRO merged. A run only merges
 * what the kernel's own GRO would (tcp_gro_receive, udp_gro_receive), so the
 * receiver sees the same stream either way. */
#include "offload.h"

#include <netinet/in.h>
#include <string.h>

#include "l3l4.h"

#define TCP_OPT_EOL 0
#define TCP_OPT_NOP 1
#define TCP_OPT_TS 8
#define TCP_OPT_TS_LEN 10

/* The TCP header bytes that must be equal in every segment of a run, as
 * [from, to) ranges: ports, ack, data offset, window, urgent pointer (seq,
 * flags and checksum differ; options are compared whole). */
static const uint8_t tcp_same[][2] = {{0, 4}, {8, 13}, {14, 16}, {18, 20}};

struct gro_run {
  struct zt_gro_pkt *head;
  struct zt_l3l4 h;   /* the head's headers, as they were */
  size_t len;         /* merged length so far */
  size_t count;       /* packets merged, the head included */
  size_t gso_size;    /* the head's payload: every segment's but the last */
  uint32_t next_seq;
  int closed;         /* the last one was short or had PSH */
  int psh;
};

/* tcp_options_ok admits the options GRO keeps: none but padding and
 * timestamps (whose equality across the run is checked separately). */
static int tcp_options_ok(const uint8_t *opt, size_t len) {
  size_t i = 0;
  while (i < len) {
    if (opt[i] == TCP_OPT_EOL) return 1;
    if (opt[i] == TCP_OPT_NOP) {
      i++;
      continue;
    }
    if (opt[i] != TCP_OPT_TS || len - i < TCP_OPT_TS_LEN ||
        opt[i + 1] != TCP_OPT_TS_LEN)
      return 0;
    i += TCP_OPT_TS_LEN;
  }
  return 1;
}

/* candidate says whether |pk| could be part of a run and reads its headers
 * into |p|: an unfragmented TCP segment with data and only ACK (or
 * ACK|PSH), or with |uso| a UDP datagram whose length field fits. */
static int candidate(const struct zt_gro_pkt *pk, int uso, struct zt_l3l4 *p) {
  if (pk->len > pk->cap || !zt_l3l4_parse(pk->data, pk->len, p)) return 0;
  if (p->payload == 0) return 0;
  if (p->ipv == 4 && (p->frag & ZT_IPV4_MF_OFFSET) != 0) return 0;
  if (p->proto == IPPROTO_TCP) {
    uint8_t f = p->tcp_flags;
    if (f != ZT_TCP_ACK && f != (ZT_TCP_ACK | ZT_TCP_PSH)) return 0;
    return tcp_options_ok(pk->data + p->iphlen + ZT_TCP_MIN_HDR,
                          p->l4hlen - ZT_TCP_MIN_HDR);
  }
  return uso && p->udp_len == p->l4hlen + p->payload;
}

static int same(const uint8_t *a, const uint8_t *b, size_t from, size_t to) {
  return memcmp(a + from, b + from, to - from) == 0;
}

/* ip_mergeable compares the IP headers: everything but the lengths, the
 * IPv4 id and header checksum. Without DF, the ids must follow on, so a
 * later fragmentation numbers the pieces as the sender would have. */
static int ip_mergeable(const struct gro_run *r, const uint8_t *ip,
                        const struct zt_l3l4 *p) {
  const uint8_t *h = r->head->data;
  if (p->ipv == 6)
    return same(h, ip, 0, 4) && same(h, ip, 6, ZT_IPV6_HDR);
  if (!same(h, ip, 0, 2) || !same(h, ip, 6, 10) ||
      !same(h, ip, ZT_IPV4_SRC, p->iphlen))
    return 0;
  return (p->frag & ZT_IPV4_DF) ||
         p->ipid == (uint16_t)(r->h.ipid + r->count);
}

static int mergeable(const struct gro_run *r, const uint8_t *ip,
                     const struct zt_l3l4 *p) {
  if (r->closed || r->count >= ZT_GSO_MAX_SEGS) return 0;
  if (p->ipv != r->h.ipv || p->proto != r->h.proto ||
      p->iphlen != r->h.iphlen || p->l4hlen != r->h.l4hlen)
    return 0;
  if (p->payload > r->gso_size || r->len + p->payload > ZT_GSO_MAX_PKT ||
      r->len + p->payload > r->head->cap)
    return 0;
  if (!ip_mergeable(r, ip, p)) return 0;
  const uint8_t *hl4 = r->head->data + p->iphlen, *l4 = ip + p->iphlen;
  if (p->proto == IPPROTO_UDP) return same(hl4, l4, 0, 4); /* ports */
  if (p->seq != r->next_seq) return 0;
  for (size_t i = 0; i < sizeof(tcp_same) / sizeof(tcp_same[0]); i++)
    if (!same(hl4, l4, tcp_same[i][0], tcp_same[i][1])) return 0;
  return same(hl4, l4, ZT_TCP_MIN_HDR, p->l4hlen);
}

static void append(struct gro_run *r, const uint8_t *ip,
                   const struct zt_l3l4 *p) {
  /* Source after destination in arrival order: memmove copes with the
   * overlap when the packets share one buffer. */
  memmove(r->head->data + r->len, ip + p->hdrlen, p->payload);
  r->len += p->payload;
  r->count++;
  r->next_seq += (uint32_t)p->payload;
  int psh = p->proto == IPPROTO_TCP && (p->tcp_flags & ZT_TCP_PSH);
  r->psh |= psh;
  if (p->payload < r->gso_size || psh) r->closed = 1;
}

/* finish makes the head of a merged run a super-packet as the kernel
 * expects one from a device with offloads: lengths for the whole run, the
 * IPv4 header checksum complete, the L4 checksum partial (the pseudo-header
 * sum, which the kernel completes from csum_start on if it must), and the
 * vnet header saying so. */
static void finish(struct gro_run *r, struct virtio_net_hdr *vh) {
  uint8_t *ip = r->head->data, *l4 = ip + r->h.iphlen;
  size_t l4len = r->len - r->h.iphlen;
  if (r->h.ipv == 4) {
    zt_put_be16(ip + ZT_IPV4_TOTLEN, (uint16_t)r->len);
    zt_put_be16(ip + ZT_IPV4_CSUM, 0);
    zt_put_be16(ip + ZT_IPV4_CSUM,
                zt_csum_finish(zt_csum_add(0, ip, r->h.iphlen)));
  } else {
    zt_put_be16(ip + ZT_IPV6_PLEN, (uint16_t)l4len);
  }
  uint16_t partial = zt_csum_fold(zt_csum_pseudo(
      r->h.ipv, ip + r->h.src_at, ip + r->h.src_at + r->h.alen, r->h.proto,
      (uint32_t)l4len));
  vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  vh->hdr_len = (uint16_t)r->h.hdrlen;
  vh->gso_size = (uint16_t)r->gso_size;
  vh->csum_start = (uint16_t)r->h.iphlen;
  if (r->h.proto == IPPROTO_TCP) {
    if (r->psh) l4[ZT_TCP_FLAGS] |= ZT_TCP_PSH;
    zt_put_be16(l4 + ZT_TCP_CSUM, partial);
    vh->gso_type = r->h.ipv == 4 ? VIRTIO_NET_HDR_GSO_TCPV4
                                 : VIRTIO_NET_HDR_GSO_TCPV6;
    vh->csum_offset = ZT_TCP_CSUM;
  } else {
    zt_put_be16(l4 + ZT_UDP_LEN, (uint16_t)l4len);
    zt_put_be16(l4 + ZT_UDP_CSUM, partial);
    vh->gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
    vh->csum_offset = ZT_UDP_CSUM;
  }
}

size_t zt_gro_coalesce(struct zt_gro_pkt *pkts, size_t n, int uso,
                       struct iovec *out) {
  size_t nout = 0;
  for (size_t i = 0; i < n;) {
    struct gro_run r;
    memset(&r, 0, sizeof(r));
    r.head = &pkts[i];
    r.len = r.head->len;
    r.count = 1;
    size_t j = i + 1;
    if (candidate(r.head, uso, &r.h)) {
      r.gso_size = r.h.payload;
      r.next_seq = r.h.seq + (uint32_t)r.h.payload;
      r.closed = (r.h.tcp_flags & ZT_TCP_PSH) != 0;
      struct zt_l3l4 p;
      for (; j < n; j++) {
        const uint8_t *ip = pkts[j].data;
        if (!candidate(&pkts[j], uso, &p) || !mergeable(&r, ip, &p)) break;
        append(&r, ip, &p);
      }
    }
    struct virtio_net_hdr vh;
    memset(&vh, 0, sizeof(vh));
    if (r.count > 1) finish(&r, &vh);
    r.head->len = r.len;
    memcpy(r.head->data - ZT_VNET_HDR_LEN, &vh, ZT_VNET_HDR_LEN);
    out[nout].iov_base = r.head->data - ZT_VNET_HDR_LEN;
    out[nout].iov_len = r.len + ZT_VNET_HDR_LEN;
    nout++;
    i = j;
  }
  return nout;
}

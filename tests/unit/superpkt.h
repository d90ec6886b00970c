/* Test helpers for tun/ offloads (test_gso, test_gro, test_tun_offload):
 * builders for IPv4/IPv6 TCP/UDP packets and super-packets as the kernel
 * hands them over, and a naive, bytewise internet checksum that shares no
 * code with tun/csum.c, to judge what tun/ computes. */
#ifndef ZTVPN_TEST_SUPERPKT_H
#define ZTVPN_TEST_SUPERPKT_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "offload.h"

struct sp_spec {
  int ipv;            /* 4 or 6 */
  uint8_t proto;      /* IPPROTO_TCP or IPPROTO_UDP */
  size_t ipopt;       /* IPv4 option bytes, a multiple of 4 (NOPs + EOL) */
  int ts;             /* TCP timestamps option (NOP NOP TS, 12 bytes) */
  uint32_t tsval;
  size_t payload;
  uint16_t gso_size;  /* 0: GSO_NONE */
  int ecn;            /* VIRTIO_NET_HDR_GSO_ECN */
  uint8_t flags;      /* TCP flags */
  uint16_t ipid;
  int df;
  uint8_t ttl, tos;
  uint32_t seq, ack;
  uint16_t win;
  uint16_t sport, dport;
  uint8_t src_last, dst_last; /* last address byte */
  uint32_t seed;      /* payload byte i: sp_byte(seed, off + i) */
  size_t off;
  /* addresses; NULL: 100.64.0.src_last -> 100.64.0.dst_last, or
   * fd00::src_last -> fd00::dst_last */
  const uint8_t *saddr, *daddr;
};

static inline uint8_t sp_byte(uint32_t seed, size_t i) {
  uint32_t x = seed * 2654435761u + (uint32_t)i * 40503u;
  x ^= x >> 13;
  x *= 0x5bd1e995u;
  x ^= x >> 15;
  return (uint8_t)x;
}

static inline struct sp_spec sp_tcp(int ipv, size_t payload, uint16_t gso) {
  struct sp_spec s;
  memset(&s, 0, sizeof(s));
  s.ipv = ipv;
  s.proto = IPPROTO_TCP;
  s.payload = payload;
  s.gso_size = gso;
  s.flags = 0x18; /* ACK|PSH */
  s.ipid = 0x1234;
  s.df = 1;
  s.ttl = 64;
  s.seq = 0xfffff000u; /* wraps within a large super-packet */
  s.ack = 0x01020304u;
  s.win = 501;
  s.sport = 40000;
  s.dport = 5001;
  s.src_last = 1;
  s.dst_last = 2;
  s.seed = 7;
  return s;
}

static inline struct sp_spec sp_udp(int ipv, size_t payload, uint16_t gso) {
  struct sp_spec s = sp_tcp(ipv, payload, gso);
  s.proto = IPPROTO_UDP;
  s.flags = 0;
  return s;
}

/* --- the naive checksum: one byte at a time --- */

static inline uint64_t naive_add(uint64_t s, const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    s += (i % 2 == 0) ? (uint64_t)b[i] << 8 : b[i];
  return s;
}

static inline uint16_t naive_fold(uint64_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)s;
}

static inline size_t sp_iphlen(const uint8_t *ip) {
  return (ip[0] >> 4) == 4 ? (size_t)(ip[0] & 15) * 4 : 40;
}

static inline uint64_t naive_pseudo(const uint8_t *ip, uint8_t proto,
                                    size_t l4len) {
  int v4 = (ip[0] >> 4) == 4;
  uint64_t s = naive_add(0, ip + (v4 ? 12 : 8), v4 ? 8 : 32);
  return s + proto + (l4len >> 16) + (l4len & 0xffff);
}

static inline uint16_t sp_get16(const uint8_t *p) {
  return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t sp_get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

static inline void sp_put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static inline void sp_put32(uint8_t *p, uint32_t v) {
  sp_put16(p, (uint16_t)(v >> 16));
  sp_put16(p + 2, (uint16_t)v);
}

/* sp_csum_ok says whether every checksum of IP packet |ip|, |len| is right
 * (IPv4 header; TCP or UDP over the pseudo-header; a UDP checksum of 0 is
 * "none" only for IPv4). */
static inline int sp_csum_ok(const uint8_t *ip, size_t len) {
  size_t ihl = sp_iphlen(ip);
  int v4 = (ip[0] >> 4) == 4;
  if (v4 && naive_fold(naive_add(0, ip, ihl)) != 0xffff) return 0;
  uint8_t proto = v4 ? ip[9] : ip[6];
  const uint8_t *l4 = ip + ihl;
  size_t l4len = len - ihl;
  if (proto == IPPROTO_UDP && sp_get16(l4 + 6) == 0) return v4;
  return naive_fold(naive_pseudo(ip, proto, l4len) + naive_add(0, l4, l4len)) ==
         0xffff;
}

/* sp_build writes the IP packet of |s| to |ip| and returns its length. With
 * |partial| the L4 checksum field holds the pseudo-header sum only (what a
 * sender leaves with CHECKSUM_PARTIAL), else the complete checksum. */
static inline size_t sp_build(const struct sp_spec *s, uint8_t *ip,
                              int partial) {
  size_t ihl = s->ipv == 4 ? 20 + s->ipopt : 40;
  size_t l4h = s->proto == IPPROTO_TCP ? 20 + (s->ts ? 12 : 0) : 8;
  size_t len = ihl + l4h + s->payload;
  memset(ip, 0, ihl + l4h);
  if (s->ipv == 4) {
    ip[0] = (uint8_t)(0x40 | ihl / 4);
    ip[1] = s->tos;
    sp_put16(ip + 2, (uint16_t)len);
    sp_put16(ip + 4, s->ipid);
    sp_put16(ip + 6, s->df ? 0x4000 : 0);
    ip[8] = s->ttl;
    ip[9] = s->proto;
    ip[12] = 100;
    ip[13] = 64;
    ip[15] = s->src_last;
    ip[16] = 100;
    ip[17] = 64;
    ip[19] = s->dst_last;
    for (size_t i = 20; i < ihl; i++) ip[i] = i + 1 < ihl ? 1 : 0;
    if (s->saddr != NULL) memcpy(ip + 12, s->saddr, 4);
    if (s->daddr != NULL) memcpy(ip + 16, s->daddr, 4);
  } else {
    ip[0] = (uint8_t)(0x60 | s->tos >> 4);
    ip[1] = (uint8_t)(s->tos << 4 | 0x0a); /* flow label 0xa1234 */
    ip[2] = 0x12;
    ip[3] = 0x34;
    sp_put16(ip + 4, (uint16_t)(len - 40));
    ip[6] = s->proto;
    ip[7] = s->ttl;
    ip[8] = 0xfd;
    ip[23] = s->src_last;
    ip[24] = 0xfd;
    ip[39] = s->dst_last;
    if (s->saddr != NULL) memcpy(ip + 8, s->saddr, 16);
    if (s->daddr != NULL) memcpy(ip + 24, s->daddr, 16);
  }
  uint8_t *l4 = ip + ihl;
  sp_put16(l4, s->sport);
  sp_put16(l4 + 2, s->dport);
  if (s->proto == IPPROTO_TCP) {
    sp_put32(l4 + 4, s->seq);
    sp_put32(l4 + 8, s->ack);
    l4[12] = (uint8_t)(l4h / 4 << 4);
    l4[13] = s->flags;
    sp_put16(l4 + 14, s->win);
    if (s->ts) {
      l4[20] = 1;
      l4[21] = 1;
      l4[22] = 8;
      l4[23] = 10;
      sp_put32(l4 + 24, s->tsval);
      sp_put32(l4 + 28, 0x0badcafe);
    }
  } else {
    sp_put16(l4 + 4, (uint16_t)(l4h + s->payload));
  }
  for (size_t i = 0; i < s->payload; i++) l4[l4h + i] = sp_byte(s->seed, s->off + i);
  if (s->ipv == 4) sp_put16(ip + 10, (uint16_t)~naive_fold(naive_add(0, ip, ihl)));
  size_t csum_at = s->proto == IPPROTO_TCP ? 16 : 6;
  uint64_t sum = naive_pseudo(ip, s->proto, len - ihl);
  if (partial) {
    sp_put16(l4 + csum_at, naive_fold(sum));
  } else {
    uint16_t c = (uint16_t)~naive_fold(sum + naive_add(0, l4, len - ihl));
    if (c == 0 && s->proto == IPPROTO_UDP) c = 0xffff;
    sp_put16(l4 + csum_at, c);
  }
  return len;
}

/* sp_build_super writes what a read() of a TUN with IFF_VNET_HDR returns
 * for |s|: the vnet header (GSO when gso_size is set, NEEDS_CSUM always)
 * and the packet with a partial checksum. Returns the total length. */
static inline size_t sp_build_super(const struct sp_spec *s, uint8_t *buf) {
  size_t len = sp_build(s, buf + ZT_VNET_HDR_LEN, 1);
  const uint8_t *ip = buf + ZT_VNET_HDR_LEN;
  size_t ihl = sp_iphlen(ip);
  struct virtio_net_hdr h;
  memset(&h, 0, sizeof(h));
  h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  h.csum_start = (uint16_t)ihl;
  h.csum_offset = s->proto == IPPROTO_TCP ? 16 : 6;
  if (s->gso_size != 0) {
    h.gso_type = s->proto == IPPROTO_UDP ? VIRTIO_NET_HDR_GSO_UDP_L4
                 : s->ipv == 4           ? VIRTIO_NET_HDR_GSO_TCPV4
                                         : VIRTIO_NET_HDR_GSO_TCPV6;
    if (s->ecn) h.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
    h.gso_size = s->gso_size;
    h.hdr_len = (uint16_t)(len - s->payload);
  }
  memcpy(buf, &h, sizeof(h));
  return ZT_VNET_HDR_LEN + len;
}

/* sp_complete completes a partial checksum the way the kernel does
 * (skb_checksum_help), bytewise: the sum from csum_start to the end. */
static inline void sp_complete(const struct virtio_net_hdr *h, uint8_t *ip,
                               size_t len) {
  size_t at = (size_t)h->csum_start + h->csum_offset;
  uint16_t c = (uint16_t)~naive_fold(naive_add(0, ip + h->csum_start,
                                               len - h->csum_start));
  sp_put16(ip + at, c == 0 ? 0xffff : c);
}

#endif

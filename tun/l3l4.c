/* Reading the IP and TCP/UDP headers of a packet the offload paths
 * rewrite; see l3l4.h. */
#include "l3l4.h"

#include <netinet/in.h>

#include <openssl/bytestring.h>

static int parse_ipv4(CBS *cbs, size_t len, struct zt_l3l4 *p) {
  uint8_t vihl, tos, ttl;
  uint16_t totlen, csum;
  if (!CBS_get_u8(cbs, &vihl) || !CBS_get_u8(cbs, &tos) ||
      !CBS_get_u16(cbs, &totlen) || !CBS_get_u16(cbs, &p->ipid) ||
      !CBS_get_u16(cbs, &p->frag) || !CBS_get_u8(cbs, &ttl) ||
      !CBS_get_u8(cbs, &p->proto) || !CBS_get_u16(cbs, &csum))
    return 0;
  p->iphlen = (size_t)(vihl & 0x0f) * 4;
  p->src_at = ZT_IPV4_SRC;
  p->alen = 4;
  /* 12 bytes read; the addresses and options follow */
  return p->iphlen >= ZT_IPV4_MIN_HDR && totlen == len &&
         CBS_skip(cbs, p->iphlen - 12);
}

static int parse_ipv6(CBS *cbs, size_t len, struct zt_l3l4 *p) {
  uint32_t vtcfl;
  uint16_t plen;
  uint8_t hops;
  if (!CBS_get_u32(cbs, &vtcfl) || !CBS_get_u16(cbs, &plen) ||
      !CBS_get_u8(cbs, &p->proto) || !CBS_get_u8(cbs, &hops) ||
      !CBS_skip(cbs, 2 * 16))
    return 0;
  p->iphlen = ZT_IPV6_HDR;
  p->src_at = ZT_IPV6_SRC;
  p->alen = 16;
  p->ipid = 0;
  p->frag = 0;
  return (size_t)plen + ZT_IPV6_HDR == len;
}

static int parse_l4(CBS *cbs, struct zt_l3l4 *p) {
  if (p->proto == IPPROTO_TCP) {
    uint16_t ports[2];
    uint32_t ack;
    uint8_t doff;
    if (!CBS_get_u16(cbs, &ports[0]) || !CBS_get_u16(cbs, &ports[1]) ||
        !CBS_get_u32(cbs, &p->seq) || !CBS_get_u32(cbs, &ack) ||
        !CBS_get_u8(cbs, &doff) || !CBS_get_u8(cbs, &p->tcp_flags))
      return 0;
    p->l4hlen = (size_t)(doff >> 4) * 4;
    p->udp_len = 0;
    /* window, checksum, urgent pointer, options */
    return p->l4hlen >= ZT_TCP_MIN_HDR && CBS_skip(cbs, p->l4hlen - 14);
  }
  if (p->proto == IPPROTO_UDP) {
    uint16_t ports[2], csum;
    p->l4hlen = ZT_UDP_HDR;
    p->seq = 0;
    p->tcp_flags = 0;
    return CBS_get_u16(cbs, &ports[0]) && CBS_get_u16(cbs, &ports[1]) &&
           CBS_get_u16(cbs, &p->udp_len) && CBS_get_u16(cbs, &csum);
  }
  return 0;
}

int zt_l3l4_parse(const uint8_t *ip, size_t len, struct zt_l3l4 *p) {
  if (len == 0) return 0;
  CBS cbs;
  CBS_init(&cbs, ip, len);
  p->ipv = ip[0] >> 4;
  if (p->ipv == 4) {
    if (!parse_ipv4(&cbs, len, p)) return 0;
  } else if (p->ipv == 6) {
    if (!parse_ipv6(&cbs, len, p)) return 0;
  } else {
    return 0;
  }
  if (!parse_l4(&cbs, p)) return 0;
  p->hdrlen = p->iphlen + p->l4hlen;
  p->payload = CBS_len(&cbs);
  return 1;
}

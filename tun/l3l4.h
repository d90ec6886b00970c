/* The IP and TCP/UDP header view that segmentation (gso.c) and coalescing
 * (gro.c) share: what zt_l3l4_parse read from a packet, and the offsets of
 * the fields they rewrite in each segment they make. Internal to tun/. */
#ifndef ZTVPN_L3L4_H
#define ZTVPN_L3L4_H

#include <stddef.h>
#include <stdint.h>

#define ZT_IPV4_MIN_HDR 20
#define ZT_IPV4_MAX_HDR 60
#define ZT_IPV6_HDR 40
#define ZT_TCP_MIN_HDR 20
#define ZT_TCP_MAX_HDR 60
#define ZT_UDP_HDR 8

/* Offsets of the fields rewritten per segment. */
#define ZT_IPV4_TOTLEN 2
#define ZT_IPV4_ID 4
#define ZT_IPV4_CSUM 10
#define ZT_IPV4_SRC 12
#define ZT_IPV6_PLEN 4
#define ZT_IPV6_SRC 8
#define ZT_TCP_SEQ 4
#define ZT_TCP_FLAGS 13
#define ZT_TCP_CSUM 16
#define ZT_UDP_LEN 4
#define ZT_UDP_CSUM 6

#define ZT_TCP_FIN 0x01
#define ZT_TCP_SYN 0x02
#define ZT_TCP_RST 0x04
#define ZT_TCP_PSH 0x08
#define ZT_TCP_ACK 0x10
#define ZT_TCP_URG 0x20
#define ZT_TCP_ECE 0x40
#define ZT_TCP_CWR 0x80

#define ZT_IPV4_DF 0x4000
#define ZT_IPV4_MF_OFFSET 0x3fff /* more fragments, fragment offset */

struct zt_l3l4 {
  int ipv;          /* 4 or 6 */
  size_t iphlen;    /* IPv4 with options; IPv6 always 40 */
  uint8_t proto;    /* IPPROTO_TCP or IPPROTO_UDP */
  size_t l4hlen;    /* TCP with options, or 8 */
  size_t hdrlen;    /* iphlen + l4hlen */
  size_t payload;   /* bytes after hdrlen */
  size_t src_at;    /* offset of the source address; the destination follows */
  size_t alen;      /* address length, 4 or 16 */
  uint16_t ipid;    /* IPv4 only */
  uint16_t frag;    /* IPv4 flags and fragment offset */
  uint32_t seq;     /* TCP only */
  uint8_t tcp_flags;
  uint16_t udp_len; /* the UDP header's length field */
};

/* zt_l3l4_parse reads |ip|, |len| as an IPv4 (options allowed) or IPv6 (no
 * extension headers) packet carrying TCP or UDP, with the IP length fields
 * matching |len| exactly and the whole L4 header present. Returns 1 and
 * fills |p|, or 0. Fragments are not refused here. */
int zt_l3l4_parse(const uint8_t *ip, size_t len, struct zt_l3l4 *p);

static inline void zt_put_be16(uint8_t *at, uint16_t v) {
  at[0] = (uint8_t)(v >> 8);
  at[1] = (uint8_t)v;
}

static inline void zt_put_be32(uint8_t *at, uint32_t v) {
  at[0] = (uint8_t)(v >> 24);
  at[1] = (uint8_t)(v >> 16);
  at[2] = (uint8_t)(v >> 8);
  at[3] = (uint8_t)v;
}

#endif

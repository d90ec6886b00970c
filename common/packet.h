/* The few facts about an IP packet that routing and anti-spoofing need,
 * read with CBS from untrusted bytes. */
#ifndef ZTVPN_PACKET_H
#define ZTVPN_PACKET_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* The transport header, as far as policy and connection tracking need it. */
struct zt_l4 {
  uint8_t proto;     /* upper-layer protocol: IPv6 extension headers skipped */
  int has_ports;     /* TCP/UDP header present (not a non-first fragment) */
  uint16_t sport, dport;
  uint8_t tcp_flags; /* TCP only */
  int has_icmp;      /* ICMP/ICMPv6 header present */
  uint8_t icmp_type, icmp_code;
  uint16_t icmp_id;  /* echo request/reply identifier, else 0 */
};

struct zt_pkt {
  struct zt_ip src, dst;
  uint8_t proto; /* IPv4 protocol or IPv6 next header of the fixed header */
  struct zt_l4 l4;
  /* An ICMP error (destination unreachable, packet too big, time exceeded,
   * parameter problem) quotes the packet that caused it: its addresses and
   * transport header, as far as they are quoted, so that the error can be
   * matched to the flow it belongs to. */
  int is_icmp_error;
  struct zt_ip inner_src, inner_dst;
  struct zt_l4 inner;
};

/* zt_pkt_parse accepts an IPv4 (IHL >= 5, total length == |len|) or IPv6
 * (payload length + 40 == |len|) packet. Returns 1, or 0 if malformed (|out|
 * is then zero). A truncated or odd transport header does not make the
 * packet malformed: it leaves has_ports / has_icmp at 0 (only "any protocol"
 * rules match it). That includes non-first fragments, IPv6 chains of more
 * than 8 extension headers (l4.proto is then the first one not walked) and
 * AH/ESP. TCP needs 14 bytes (ports, flags), UDP 8, ICMP 4 (8 for the echo
 * identifier). An ICMP error with a quote too short to key (or of the other
 * family) has is_icmp_error = 1 and inner_src.family = 0; a quote needs only
 * 4 transport bytes for its ports. |out| points into nothing of |data|. */
int zt_pkt_parse(const uint8_t *data, size_t len, struct zt_pkt *out);

#endif

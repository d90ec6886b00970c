/* The few facts about an IP packet that routing and anti-spoofing need,
 * read with CBS from untrusted bytes. */
#ifndef ZTVPN_PACKET_H
#define ZTVPN_PACKET_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

struct zt_pkt {
  struct zt_ip src, dst;
  uint8_t proto; /* IPv4 protocol or IPv6 next header */
};

/* zt_pkt_parse accepts an IPv4 (IHL >= 5, total length == |len|) or IPv6
 * (payload length + 40 == |len|) packet. Returns 1, or 0 if malformed. */
int zt_pkt_parse(const uint8_t *data, size_t len, struct zt_pkt *out);

#endif

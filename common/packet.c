#include "packet.h"

#include <string.h>
#include <sys/socket.h>

#include <openssl/bytestring.h>

int zt_pkt_parse(const uint8_t *data, size_t len, struct zt_pkt *out) {
  CBS cbs;
  uint8_t vihl;
  memset(out, 0, sizeof(*out));
  CBS_init(&cbs, data, len);
  if (!CBS_get_u8(&cbs, &vihl)) return 0;
  if (vihl >> 4 == 4) {
    uint16_t total;
    size_t ihl = (size_t)(vihl & 0x0f) * 4;
    /* tos, total length, id, frag, ttl, protocol, checksum */
    if (ihl < 20 || ihl > len || !CBS_skip(&cbs, 1) || !CBS_get_u16(&cbs, &total) ||
        total != len || !CBS_skip(&cbs, 5) || !CBS_get_u8(&cbs, &out->proto) ||
        !CBS_skip(&cbs, 2))
      return 0;
    out->src.family = out->dst.family = AF_INET;
    return CBS_copy_bytes(&cbs, out->src.addr, 4) &&
           CBS_copy_bytes(&cbs, out->dst.addr, 4);
  }
  if (vihl >> 4 == 6) {
    uint16_t payload;
    /* rest of the flow label, payload length, next header, hop limit */
    if (!CBS_skip(&cbs, 3) || !CBS_get_u16(&cbs, &payload) ||
        (size_t)payload + 40 != len || !CBS_get_u8(&cbs, &out->proto) ||
        !CBS_skip(&cbs, 1))
      return 0;
    out->src.family = out->dst.family = AF_INET6;
    return CBS_copy_bytes(&cbs, out->src.addr, 16) &&
           CBS_copy_bytes(&cbs, out->dst.addr, 16);
  }
  return 0;
}

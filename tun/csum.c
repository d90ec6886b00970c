/* The internet checksum (RFC 1071) for the offload paths, which sum every
 * byte of every packet they make: 64 bits at a time into a 64-bit
 * accumulator in host order, byte-swapped once at the end (a one's-
 * complement sum of 16-bit words is the same in either byte order, up to
 * that swap). */
#include "offload.h"

#include <string.h>

static uint16_t fold64(uint64_t acc) {
  acc = (acc & 0xffffffffu) + (acc >> 32);
  acc = (acc & 0xffffffffu) + (acc >> 32);
  acc = (acc & 0xffffu) + (acc >> 16);
  acc = (acc & 0xffffu) + (acc >> 16);
  return (uint16_t)acc;
}

uint64_t zt_csum_add(uint64_t sum, const void *data, size_t len) {
  const uint8_t *p = data;
  /* Each step adds two 32-bit halves: 2^31 steps before the accumulator
   * could carry out, far beyond any packet. */
  uint64_t acc = 0;
  while (len >= 32) {
    uint64_t w[4];
    memcpy(w, p, sizeof(w));
    acc += (w[0] & 0xffffffffu) + (w[0] >> 32);
    acc += (w[1] & 0xffffffffu) + (w[1] >> 32);
    acc += (w[2] & 0xffffffffu) + (w[2] >> 32);
    acc += (w[3] & 0xffffffffu) + (w[3] >> 32);
    p += 32;
    len -= 32;
  }
  while (len >= 8) {
    uint64_t w;
    memcpy(&w, p, sizeof(w));
    acc += (w & 0xffffffffu) + (w >> 32);
    p += 8;
    len -= 8;
  }
  if (len >= 4) {
    uint32_t w;
    memcpy(&w, p, sizeof(w));
    acc += w;
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t w;
    memcpy(&w, p, sizeof(w));
    acc += w;
    p += 2;
    len -= 2;
  }
  uint16_t folded;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  /* A last odd byte is the high half of a big-endian word: the low half of
   * a host-order one here. */
  if (len == 1) acc += p[0];
  folded = __builtin_bswap16(fold64(acc));
#else
  if (len == 1) acc += (uint64_t)p[0] << 8;
  folded = fold64(acc);
#endif
  return sum + folded;
}

uint16_t zt_csum_fold(uint64_t sum) { return fold64(sum); }

uint16_t zt_csum_finish(uint64_t sum) { return (uint16_t)~fold64(sum); }

uint64_t zt_csum_pseudo(int ip_version, const uint8_t *src,
                        const uint8_t *dst, uint8_t proto, uint32_t l4len) {
  size_t alen = ip_version == 4 ? 4 : 16;
  uint64_t sum = zt_csum_add(0, src, alen);
  sum = zt_csum_add(sum, dst, alen);
  return sum + proto + (l4len >> 16) + (l4len & 0xffff);
}

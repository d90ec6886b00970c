#include "pool.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int zt_pool_init(struct zt_pool *pool, const struct zt_prefix *prefix,
                 const char **err) {
  unsigned max = (unsigned)zt_ip_len(prefix->family) * 8;
  unsigned host_bits = max - prefix->len;
  memset(pool, 0, sizeof(*pool));
  if (max == 0 || host_bits < 2) {
    *err = "pool prefix too small: it needs at least 2 host bits";
    return 0;
  }
  pool->prefix = *prefix;
  pool->size = host_bits >= 16 ? ZT_POOL_MAX : 1u << host_bits;
  pool->first = ZT_POOL_SERVER_INDEX + 1;
  pool->last = pool->size - 1;
  /* IPv4 broadcast is only the last address when the pool is the prefix
   * (a /16 is exactly ZT_POOL_MAX addresses, so it is included). */
  if (prefix->family == AF_INET && host_bits <= 16) pool->last--;
  pool->bits = calloc((pool->size + 63) / 64, sizeof(uint64_t));
  if (!pool->bits) {
    *err = "out of memory";
    return 0;
  }
  return 1;
}

void zt_pool_free(struct zt_pool *pool) {
  free(pool->bits);
  pool->bits = NULL;
}

uint32_t zt_pool_capacity(const struct zt_pool *pool) {
  return pool->last - pool->first + 1;
}

int zt_pool_alloc(struct zt_pool *pool, uint32_t *index) {
  /* Word-at-a-time scan from the first usable index: lowest free address. */
  for (uint32_t w = pool->first / 64; w <= pool->last / 64; w++) {
    uint64_t free_bits = ~pool->bits[w];
    while (free_bits) {
      uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(free_bits);
      free_bits &= free_bits - 1;
      if (i < pool->first) continue;
      if (i > pool->last) return 0;
      pool->bits[w] |= 1ull << (i % 64);
      pool->used++;
      *index = i;
      return 1;
    }
  }
  return 0;
}

void zt_pool_release(struct zt_pool *pool, uint32_t index) {
  if (index < pool->first || index > pool->last) return;
  uint64_t m = 1ull << (index % 64);
  if (!(pool->bits[index / 64] & m)) return;
  pool->bits[index / 64] &= ~m;
  pool->used--;
}

void zt_pool_addr(const struct zt_prefix *prefix, uint32_t index,
                  struct zt_ip *out) {
  size_t n = zt_ip_len(prefix->family);
  memset(out, 0, sizeof(*out));
  out->family = prefix->family;
  memcpy(out->addr, prefix->addr, n);
  /* The index fills the low bits; it never exceeds the host part. */
  for (size_t k = 0; k < 4 && index; k++) {
    out->addr[n - 1 - k] |= (uint8_t)(index & 0xff);
    index >>= 8;
  }
}

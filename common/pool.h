/* Tunnel address pool: hands out host addresses of a prefix to sessions. */
#ifndef ZTVPN_POOL_H
#define ZTVPN_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* At most this many addresses are managed, whatever the prefix size. */
#define ZT_POOL_MAX 65536

/* Index 0 is the network address (and the IPv6 subnet-router anycast
 * address), index 1 is the concentrator's own tunnel address, and for IPv4
 * the last index of the prefix is the broadcast address: none is handed out. */
#define ZT_POOL_SERVER_INDEX 1

struct zt_pool {
  struct zt_prefix prefix;
  uint32_t size;   /* indices 0..size-1 exist */
  uint32_t first;  /* lowest index handed out */
  uint32_t last;   /* highest index handed out */
  uint32_t used;
  uint64_t *bits;  /* one bit per index, set when in use */
};

/* zt_pool_init prepares |pool| for |prefix|; it needs room for at least one
 * client (IPv4 /30 or IPv6 /126 at most). Returns 1, or 0 with |*err|. */
int zt_pool_init(struct zt_pool *pool, const struct zt_prefix *prefix,
                 const char **err);
void zt_pool_free(struct zt_pool *pool);

/* zt_pool_alloc takes the lowest free index. Returns 1, or 0 when full. */
int zt_pool_alloc(struct zt_pool *pool, uint32_t *index);
/* zt_pool_release returns |index|; releasing a free index is ignored. */
void zt_pool_release(struct zt_pool *pool, uint32_t index);
/* zt_pool_capacity returns how many clients the pool can hold. */
uint32_t zt_pool_capacity(const struct zt_pool *pool);

/* zt_pool_addr gives the address at |index| of |prefix| (no bounds check
 * against a pool: the caller keeps indices from zt_pool_alloc). */
void zt_pool_addr(const struct zt_prefix *prefix, uint32_t index,
                  struct zt_ip *out);

#endif

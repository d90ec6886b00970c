/* The service sets of a compiled acl, shared between the acl*.c files only
 * (acl.h is the interface for the rest of the server): what the trie nodes
 * allow and deny, as "any" and ICMP flags and sorted, merged tcp and udp
 * port ranges.
 *
 * Sets are hash-consed: a pool stores each distinct set once under an id,
 * so that two nodes with the same final set (the common case once
 * ancestors' sets are pushed down) share one; a pair table does the same
 * for (allow, deny) pairs. Set id 0 and pair id 0 are the empty ones. */
#ifndef ZTVPN_ACL_SET_H
#define ZTVPN_ACL_SET_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

struct acl_range {
  uint16_t lo, hi;
};

/* A service set. Canonical: with |any| set everything else is clear, and
 * the port ranges are sorted, merged and non-adjacent, so equal sets have
 * equal representations. Its tcp ranges start at |off| in the range array
 * of its pool, its udp ranges follow them. */
struct acl_set {
  uint32_t off;
  uint16_t ntcp, nudp; /* at most 32768 ranges fit in the port space */
  uint8_t any, icmp;
};

/* The sets that decide at a node; inbound tries use |allow| only. */
struct acl_pair {
  uint32_t allow, deny;
};

/* Frozen trie nodes keep a pair id in 23 bits (see acl.c). */
#define ACL_PAIR_MAX ((1u << 23) - 1)

/* --- lookups -------------------------------------------------------------- */

/* acl_ranges_contain says whether canonical |r| (|n| ranges) holds |port|. */
static inline int acl_ranges_contain(const struct acl_range *r, size_t n, uint16_t port) {
  size_t lo = 0, hi = n; /* the first range with r.hi >= port lies in [lo, hi] */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (r[mid].hi < port)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && r[lo].lo <= port;
}

/* acl_set_matches says whether set |id| of |sets|, whose port ranges are in
 * |ranges|, admits |q|; |icmp_proto| is the ICMP protocol of |q|'s family.
 * It is inline because acl_check asks it once or twice on every packet. */
static inline int acl_set_matches(const struct acl_set *sets, const struct acl_range *ranges,
                                  uint32_t id, const struct policy_query *q,
                                  uint8_t icmp_proto) {
  const struct acl_set *s = &sets[id];
  if (s->any) return 1;
  if (q->ipproto == icmp_proto) return s->icmp;
  if (!q->has_port) return 0;
  if (q->ipproto == IPPROTO_TCP) return acl_ranges_contain(ranges + s->off, s->ntcp, q->port);
  if (q->ipproto == IPPROTO_UDP)
    return acl_ranges_contain(ranges + s->off + s->ntcp, s->nudp, q->port);
  return 0;
}

/* --- building ------------------------------------------------------------- */

/* acl_grow makes the array |*p| of |elem|-byte elements, with room for
 * |*cap|, hold at least |need|, doubling its room. Returns 1, or 0 on
 * overflow or allocation failure with |*p| and |*cap| unchanged. */
int acl_grow(void **p, size_t *cap, size_t need, size_t elem);

struct acl_range_vec {
  struct acl_range *v;
  size_t n, cap;
};

struct acl_set_pool {
  struct acl_set *sets;
  size_t nsets, capsets;
  struct acl_range *ranges;
  size_t nranges, capranges;
  uint32_t *slots; /* open addressing over set ids; 0 = free */
  size_t nslots;
  struct acl_range_vec merged; /* acl_set_union's scratch */
};

/* acl_set_pool_init makes |p| hold only the empty set, id 0. Returns 1, or
 * 0 on allocation failure; either way |p| is then ready for
 * acl_set_pool_cleanup. */
int acl_set_pool_init(struct acl_set_pool *p);

/* acl_set_pool_cleanup releases what |p| holds; a pool already taken or
 * cleaned up is accepted. */
void acl_set_pool_cleanup(struct acl_set_pool *p);

/* acl_set_pool_take hands the sets of |p| (|*nsets|, ids as interned) and
 * their port ranges (|*nranges|) to the caller, who frees both, and leaves
 * |p| empty. The arrays are trimmed to size and never NULL. It cannot
 * fail. */
void acl_set_pool_take(struct acl_set_pool *p, struct acl_set **sets, size_t *nsets,
                       struct acl_range **ranges, size_t *nranges);

/* A set being gathered from policy entries, in any order. All zero is an
 * empty draft. */
struct acl_set_draft {
  uint8_t any, icmp;
  struct acl_range_vec tcp, udp;
};

/* acl_set_draft_add adds to |d| what an entry of protocol |proto| and, for
 * tcp and udp, ports |lo| to |hi| allows (nothing when |lo| > |hi|).
 * Returns 1, or 0 on allocation failure. */
int acl_set_draft_add(struct acl_set_draft *d, enum policy_proto proto, uint16_t lo,
                      uint16_t hi);

/* acl_set_draft_intern puts the canonical form of |d| into |p| (once) and
 * sets |*id| to it. |d| is left empty for the next set. Returns 1, or 0 on
 * allocation failure. */
int acl_set_draft_intern(struct acl_set_draft *d, struct acl_set_pool *p, uint32_t *id);

/* acl_set_draft_cleanup releases what |d| holds. */
void acl_set_draft_cleanup(struct acl_set_draft *d);

/* acl_set_union puts the union of set |own_id| of |own| and set |up_id| of
 * |p| into |p| and sets |*id| to it. Returns 1, or 0 on allocation
 * failure. */
int acl_set_union(struct acl_set_pool *p, const struct acl_set_pool *own, uint32_t own_id,
                  uint32_t up_id, uint32_t *id);

struct acl_pair_table {
  struct acl_pair *pairs;
  size_t npairs, cap;
  uint32_t *slots; /* open addressing over pair ids; 0 = free */
  size_t nslots;
};

/* acl_pair_table_init makes |pt| hold only the empty pair, id 0. Returns 1,
 * or 0 on allocation failure; either way |pt| is then ready for
 * acl_pair_table_cleanup. */
int acl_pair_table_init(struct acl_pair_table *pt);

/* acl_pair_table_cleanup releases what |pt| holds; a table already taken
 * or cleaned up is accepted. */
void acl_pair_table_cleanup(struct acl_pair_table *pt);

/* acl_pair_intern stores (|allow|, |deny|) in |pt| once and sets |*id| to
 * it. Returns 1, or 0 on allocation failure or when the pair would be
 * number ACL_PAIR_MAX + 1. */
int acl_pair_intern(struct acl_pair_table *pt, uint32_t allow, uint32_t deny, uint32_t *id);

/* acl_pair_table_take hands the pairs of |pt| (|*npairs|, ids as interned)
 * to the caller, who frees them, and leaves |pt| empty. The array is
 * trimmed to size and never NULL. It cannot fail. */
void acl_pair_table_take(struct acl_pair_table *pt, struct acl_pair **pairs, size_t *npairs);

#endif

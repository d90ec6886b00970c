/* Service sets and (allow, deny) pairs for the acl compiler, each stored
 * once: pools look sets up by a hash of their canonical form, pair tables
 * pairs by a hash of their two ids. */
#include "acl_set.h"

#include <stdlib.h>
#include <string.h>

int acl_grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 1;
  size_t n = *cap ? *cap : 16;
  while (n < need) {
    if (n > SIZE_MAX / 2 / elem) return 0;
    n *= 2;
  }
  void *q = realloc(*p, n * elem);
  if (q == NULL) return 0;
  *p = q;
  *cap = n;
  return 1;
}

/* Gives back unused room, keeping at least one element (see
 * acl_set_pool_init). */
static void *shrink(void *p, size_t n, size_t elem) {
  void *q = realloc(p, (n ? n : 1) * elem);
  return q ? q : p;
}

/* --- port ranges ------------------------------------------------------------ */

static int vec_push(struct acl_range_vec *rv, uint16_t lo, uint16_t hi) {
  if (!acl_grow((void **)&rv->v, &rv->cap, rv->n + 1, sizeof(*rv->v))) return 0;
  rv->v[rv->n].lo = lo;
  rv->v[rv->n].hi = hi;
  rv->n++;
  return 1;
}

/* Appends |r| to sorted canonical |out| (r.lo >= the last lo), merging
 * overlapping and adjacent ranges. |out| has room. */
static void coalesce(struct acl_range *out, size_t *n, struct acl_range r) {
  if (*n > 0 && (uint32_t)r.lo <= (uint32_t)out[*n - 1].hi + 1) {
    if (r.hi > out[*n - 1].hi) out[*n - 1].hi = r.hi;
    return;
  }
  out[(*n)++] = r;
}

static int cmp_range(const void *x, const void *y) {
  const struct acl_range *a = x, *b = y;
  return a->lo != b->lo ? (a->lo < b->lo ? -1 : 1) : (a->hi < b->hi ? -1 : a->hi > b->hi);
}

/* Sorts and merges |rv| in place into canonical form. */
static void vec_canon(struct acl_range_vec *rv) {
  if (rv->n < 2) return;
  qsort(rv->v, rv->n, sizeof(*rv->v), cmp_range);
  size_t n = 0;
  for (size_t i = 0; i < rv->n; i++) coalesce(rv->v, &n, rv->v[i]);
  rv->n = n;
}

/* Merges two canonical lists into |out| (room for na + nb). */
static size_t merge_ranges(const struct acl_range *a, size_t na, const struct acl_range *b,
                           size_t nb, struct acl_range *out) {
  size_t i = 0, j = 0, n = 0;
  while (i < na || j < nb) {
    if (j >= nb || (i < na && a[i].lo <= b[j].lo))
      coalesce(out, &n, a[i++]);
    else
      coalesce(out, &n, b[j++]);
  }
  return n;
}

/* --- set pools (hash-consed) ---------------------------------------------- */

/* A set being interned, its ranges outside the pool. */
struct svc {
  uint8_t any, icmp;
  const struct acl_range *tcp, *udp;
  size_t ntcp, nudp;
};

/* Pools always hold some room, so that offsets into them never apply to a
 * null pointer. */
int acl_set_pool_init(struct acl_set_pool *p) {
  memset(p, 0, sizeof(*p));
  if (!acl_grow((void **)&p->sets, &p->capsets, 1, sizeof(*p->sets)) ||
      !acl_grow((void **)&p->ranges, &p->capranges, 1, sizeof(*p->ranges)))
    return 0;
  memset(&p->sets[0], 0, sizeof(p->sets[0])); /* id 0: the empty set */
  p->nsets = 1;
  return 1;
}

void acl_set_pool_cleanup(struct acl_set_pool *p) {
  free(p->sets);
  free(p->ranges);
  free(p->slots);
  free(p->merged.v);
  memset(p, 0, sizeof(*p));
}

void acl_set_pool_take(struct acl_set_pool *p, struct acl_set **sets, size_t *nsets,
                       struct acl_range **ranges, size_t *nranges) {
  *sets = shrink(p->sets, p->nsets, sizeof(*p->sets));
  *nsets = p->nsets;
  *ranges = shrink(p->ranges, p->nranges, sizeof(*p->ranges));
  *nranges = p->nranges;
  p->sets = NULL;
  p->ranges = NULL;
  acl_set_pool_cleanup(p);
}

static uint64_t svc_hash(const struct svc *s) {
  /* FNV-1a: the policy is the administrator's, not an adversary's. */
  uint64_t h = 0xcbf29ce484222325ull;
#define MIX(v) (h = (h ^ (uint64_t)(v)) * 0x100000001b3ull)
  MIX(s->any | s->icmp << 1);
  MIX(s->ntcp);
  MIX(s->nudp);
  for (size_t i = 0; i < s->ntcp; i++) MIX((uint32_t)s->tcp[i].lo << 16 | s->tcp[i].hi);
  for (size_t i = 0; i < s->nudp; i++) MIX((uint32_t)s->udp[i].lo << 16 | s->udp[i].hi);
#undef MIX
  return h ^ (h >> 29);
}

static int svc_equal(const struct acl_set_pool *p, uint32_t id, const struct svc *s) {
  const struct acl_set *e = &p->sets[id];
  return e->any == s->any && e->icmp == s->icmp && e->ntcp == s->ntcp && e->nudp == s->nudp &&
         (s->ntcp == 0 || memcmp(p->ranges + e->off, s->tcp, s->ntcp * sizeof(*s->tcp)) == 0) &&
         (s->nudp == 0 ||
          memcmp(p->ranges + e->off + e->ntcp, s->udp, s->nudp * sizeof(*s->udp)) == 0);
}

static int pool_rehash(struct acl_set_pool *p) {
  size_t n = p->nslots ? p->nslots * 2 : 64;
  uint32_t *slots = calloc(n, sizeof(*slots));
  if (slots == NULL) return 0;
  for (uint32_t id = 1; id < p->nsets; id++) {
    const struct acl_set *e = &p->sets[id];
    struct svc s = {e->any, e->icmp, p->ranges + e->off, p->ranges + e->off + e->ntcp,
                    e->ntcp, e->nudp};
    size_t i = (size_t)svc_hash(&s) & (n - 1);
    while (slots[i] != 0) i = (i + 1) & (n - 1);
    slots[i] = id;
  }
  free(p->slots);
  p->slots = slots;
  p->nslots = n;
  return 1;
}

/* pool_intern stores canonical set |s| once and sets |*id| to it. |s| must
 * not point into |p|'s ranges. Returns 1, or 0 on allocation failure. */
static int pool_intern(struct acl_set_pool *p, const struct svc *s, uint32_t *id) {
  if (!s->any && !s->icmp && s->ntcp == 0 && s->nudp == 0) {
    *id = 0;
    return 1;
  }
  if ((p->nsets + 1) * 2 > p->nslots && !pool_rehash(p)) return 0;
  size_t i = (size_t)svc_hash(s) & (p->nslots - 1);
  for (; p->slots[i] != 0; i = (i + 1) & (p->nslots - 1)) {
    if (svc_equal(p, p->slots[i], s)) {
      *id = p->slots[i];
      return 1;
    }
  }
  if (p->nsets >= UINT32_MAX || p->nranges + s->ntcp + s->nudp > UINT32_MAX) return 0;
  if (!acl_grow((void **)&p->sets, &p->capsets, p->nsets + 1, sizeof(*p->sets)) ||
      !acl_grow((void **)&p->ranges, &p->capranges, p->nranges + s->ntcp + s->nudp,
                sizeof(*p->ranges)))
    return 0;
  struct acl_set *e = &p->sets[p->nsets];
  e->off = (uint32_t)p->nranges;
  e->ntcp = (uint16_t)s->ntcp;
  e->nudp = (uint16_t)s->nudp;
  e->any = s->any;
  e->icmp = s->icmp;
  if (s->ntcp) memcpy(p->ranges + p->nranges, s->tcp, s->ntcp * sizeof(*s->tcp));
  p->nranges += s->ntcp;
  if (s->nudp) memcpy(p->ranges + p->nranges, s->udp, s->nudp * sizeof(*s->udp));
  p->nranges += s->nudp;
  *id = (uint32_t)p->nsets++;
  p->slots[i] = *id;
  return 1;
}

/* --- drafts and unions ---------------------------------------------------- */

int acl_set_draft_add(struct acl_set_draft *d, enum policy_proto proto, uint16_t lo,
                      uint16_t hi) {
  switch (proto) {
    case PP_ANY:
      d->any = 1;
      break;
    case PP_ICMP:
      d->icmp = 1;
      break;
    case PP_TCP:
      if (lo <= hi && !vec_push(&d->tcp, lo, hi)) return 0;
      break;
    case PP_UDP:
      if (lo <= hi && !vec_push(&d->udp, lo, hi)) return 0;
      break;
  }
  return 1;
}

int acl_set_draft_intern(struct acl_set_draft *d, struct acl_set_pool *p, uint32_t *id) {
  struct svc s = {0};
  s.any = d->any;
  if (!s.any) {
    s.icmp = d->icmp;
    vec_canon(&d->tcp);
    vec_canon(&d->udp);
    s.tcp = d->tcp.v;
    s.ntcp = d->tcp.n;
    s.udp = d->udp.v;
    s.nudp = d->udp.n;
  }
  int ok = pool_intern(p, &s, id);
  d->any = d->icmp = 0;
  d->tcp.n = d->udp.n = 0;
  return ok;
}

void acl_set_draft_cleanup(struct acl_set_draft *d) {
  free(d->tcp.v);
  free(d->udp.v);
  memset(d, 0, sizeof(*d));
}

int acl_set_union(struct acl_set_pool *p, const struct acl_set_pool *own, uint32_t own_id,
                  uint32_t up_id, uint32_t *id) {
  if (own_id == 0) {
    *id = up_id;
    return 1;
  }
  const struct acl_set *o = &own->sets[own_id];
  const struct acl_set *u = &p->sets[up_id];
  if (u->any) {
    *id = up_id;
    return 1;
  }
  struct svc s = {0};
  s.any = o->any;
  s.icmp = o->any ? 0 : (o->icmp | u->icmp);
  if (!s.any) {
    const struct acl_range *orng = own->ranges + o->off, *ur = p->ranges + u->off;
    size_t need = (size_t)o->ntcp + u->ntcp + o->nudp + u->nudp;
    struct acl_range_vec *m = &p->merged;
    if (!acl_grow((void **)&m->v, &m->cap, need + 1, sizeof(*m->v))) return 0;
    s.tcp = m->v;
    s.ntcp = merge_ranges(orng, o->ntcp, ur, u->ntcp, m->v);
    s.udp = m->v + s.ntcp;
    s.nudp = merge_ranges(orng + o->ntcp, o->nudp, ur + u->ntcp, u->nudp, m->v + s.ntcp);
  }
  return pool_intern(p, &s, id);
}

/* --- pair tables (hash-consed) -------------------------------------------- */

int acl_pair_table_init(struct acl_pair_table *pt) {
  memset(pt, 0, sizeof(*pt));
  if (!acl_grow((void **)&pt->pairs, &pt->cap, 1, sizeof(*pt->pairs))) return 0;
  pt->pairs[0].allow = pt->pairs[0].deny = 0;
  pt->npairs = 1;
  return 1;
}

void acl_pair_table_cleanup(struct acl_pair_table *pt) {
  free(pt->pairs);
  free(pt->slots);
  memset(pt, 0, sizeof(*pt));
}

void acl_pair_table_take(struct acl_pair_table *pt, struct acl_pair **pairs, size_t *npairs) {
  *pairs = shrink(pt->pairs, pt->npairs, sizeof(*pt->pairs));
  *npairs = pt->npairs;
  pt->pairs = NULL;
  acl_pair_table_cleanup(pt);
}

static size_t pair_slot(const struct acl_pair_table *pt, uint32_t allow, uint32_t deny) {
  uint64_t h = ((uint64_t)allow << 32 | deny) * 0x9e3779b97f4a7c15ull;
  return (size_t)(h >> 32) & (pt->nslots - 1);
}

static int pair_rehash(struct acl_pair_table *pt) {
  size_t n = pt->nslots ? pt->nslots * 2 : 64;
  uint32_t *slots = calloc(n, sizeof(*slots));
  if (slots == NULL) return 0;
  free(pt->slots);
  pt->slots = slots;
  pt->nslots = n;
  for (uint32_t id = 1; id < pt->npairs; id++) {
    size_t i = pair_slot(pt, pt->pairs[id].allow, pt->pairs[id].deny);
    while (slots[i] != 0) i = (i + 1) & (n - 1);
    slots[i] = id;
  }
  return 1;
}

int acl_pair_intern(struct acl_pair_table *pt, uint32_t allow, uint32_t deny, uint32_t *id) {
  if (allow == 0 && deny == 0) {
    *id = 0;
    return 1;
  }
  if ((pt->npairs + 1) * 2 > pt->nslots && !pair_rehash(pt)) return 0;
  size_t i = pair_slot(pt, allow, deny);
  for (; pt->slots[i] != 0; i = (i + 1) & (pt->nslots - 1)) {
    const struct acl_pair *p = &pt->pairs[pt->slots[i]];
    if (p->allow == allow && p->deny == deny) {
      *id = pt->slots[i];
      return 1;
    }
  }
  /* Past 2^23 distinct pairs (millions of distinct destinations for one
   * pair) the meta word has no room: refuse rather than misdecide. */
  if (pt->npairs > ACL_PAIR_MAX) return 0;
  if (!acl_grow((void **)&pt->pairs, &pt->cap, pt->npairs + 1, sizeof(*pt->pairs))) return 0;
  pt->pairs[pt->npairs].allow = allow;
  pt->pairs[pt->npairs].deny = deny;
  *id = (uint32_t)pt->npairs++;
  pt->slots[i] = *id;
  return 1;
}

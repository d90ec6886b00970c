/* The compiled policy of one (user, device) pair: four path-compressed
 * binary tries (out/in x IPv4/IPv6) whose service sets are pushed down at
 * compile time, so that a lookup is one walk down the address bits and one
 * or two binary searches in a port set.
 *
 * Compiling happens in two steps. The build step inserts the prefixes into
 * roomy nodes and pushes each node's sets down to its descendants. The
 * freeze step then lays the tries out for lookups: compact nodes per family
 * (16 bytes for IPv4, 32 for IPv6) in one array each, numbered depth first
 * so that a node's first child follows it in memory; the (allow, deny) set
 * pair of a node as one id; and, for large tries, a jump table indexed by
 * the address bits just below the root's prefix that leads straight to
 * the deepest node covering that block. The walk is then a handful of
 * nodes whatever the number of rules.
 *
 * The sets themselves, and their sharing between nodes, are in acl_set.c. */
#include "acl.h"

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acl_set.h"

/* Tries, by direction and family. */
enum { T_OUT4, T_OUT6, T_IN4, T_IN6, T_COUNT };

/* A Patricia trie has strictly growing prefix lengths along a path. */
#define TRIE_DEPTH_MAX 129

/* Frozen nodes pack the prefix length (8 bits), the route flag and the set
 * pair id into one word. */
#define META_LEN(m) ((m) & 0xffu)
#define META_ROUTE 0x100u
#define META_PAIR(m) ((m) >> 9)
_Static_assert(ACL_PAIR_MAX == UINT32_MAX >> 9, "pair ids fill the meta word above bit 9");

/* Jump tables: only for tries of at least 2^JUMP_MIN_BITS nodes, at most
 * 2^JUMP_MAX_BITS entries, and never more entries than the trie has nodes. */
#define JUMP_MIN_BITS 8
#define JUMP_MAX_BITS 16

/* Node index 0 is unused in both arrays, so 0 means "no child". Keys are
 * the prefix bits from the top, host bits clear. */
struct acl_node4 {
  uint32_t key;
  uint32_t child[2];
  uint32_t meta;
};

struct acl_node6 {
  uint64_t key[2];
  uint32_t child[2];
  uint32_t meta;
};

struct acl_trie {
  uint32_t root;
  uint8_t jshift, jbits; /* the jump table's index: |jbits| bits at |jshift| */
  uint32_t *jump;        /* node indices, or NULL */
};

struct acl {
  struct acl_trie trie[T_COUNT];
  struct acl_node4 *n4;
  struct acl_node6 *n6;
  struct acl_pair *pairs;
  struct acl_set *sets;
  struct acl_range *ranges;
  size_t nn4, nn6, npairs, nsets, nranges;
  /* Sessions whose pairs have the same applying rules share one acl
   * (acl_cache.h); atomic, so that worker threads may share it too. */
  atomic_uint refs;
};

/* --- keys ----------------------------------------------------------------- */

static unsigned family_bits(int family) {
  return family == AF_INET ? 32 : family == AF_INET6 ? 128 : 0;
}

static uint32_t load_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t load_be64(const uint8_t *p) {
  return (uint64_t)load_be32(p) << 32 | load_be32(p + 4);
}

/* Keys while compiling: both families as 128 bits, IPv4 in the top 32. */
static void key_from_addr(int family, const uint8_t *addr, uint64_t key[2]) {
  if (family == AF_INET) {
    key[0] = (uint64_t)load_be32(addr) << 32;
    key[1] = 0;
  } else {
    key[0] = load_be64(addr);
    key[1] = load_be64(addr + 8);
  }
}

static void key_mask(uint64_t key[2], unsigned len) {
  if (len == 0) {
    key[0] = key[1] = 0;
  } else if (len < 64) {
    key[0] &= ~0ull << (64 - len);
    key[1] = 0;
  } else if (len == 64) {
    key[1] = 0;
  } else if (len < 128) {
    key[1] &= ~0ull << (128 - len);
  }
}

static unsigned key_bit(const uint64_t key[2], unsigned i) {
  return i < 64 ? (unsigned)(key[0] >> (63 - i)) & 1 : (unsigned)(key[1] >> (127 - i)) & 1;
}

/* The length of the common leading bits of |a| and |b|, at most |max|. */
static unsigned key_common(const uint64_t a[2], const uint64_t b[2], unsigned max) {
  uint64_t x = a[0] ^ b[0];
  unsigned c;
  if (x)
    c = (unsigned)__builtin_clzll(x);
  else if ((x = a[1] ^ b[1]) != 0)
    c = 64 + (unsigned)__builtin_clzll(x);
  else
    c = 128;
  return c < max ? c : max;
}

/* |bits| (1..32) bits of |key| from bit |at|, where at + bits <= 128. */
static uint32_t key_window(const uint64_t key[2], unsigned at, unsigned bits) {
  uint64_t top;
  if (at == 0)
    top = key[0];
  else if (at < 64)
    top = key[0] << at | key[1] >> (64 - at);
  else
    top = key[1] << (at - 64);
  return (uint32_t)(top >> (64 - bits));
}

/* --- lookups -------------------------------------------------------------- */

/* Every node carries its pushed-down sets, so the deepest node covering the
 * address decides. These return its meta word, or 0 when none covers it
 * (the empty pair, no route, length 0 decides the same). */
static uint32_t walk4(const struct acl *a, const struct acl_trie *t, uint32_t key) {
  uint32_t i = t->root, best = 0;
  if (i != 0 && t->jump) {
    const struct acl_node4 *r = &a->n4[i];
    unsigned len = META_LEN(r->meta);
    if (len != 0 && ((key ^ r->key) >> (32 - len)) != 0) return 0;
    i = t->jump[(uint32_t)(key << t->jshift) >> (32 - t->jbits)];
  }
  while (i != 0) {
    const struct acl_node4 *n = &a->n4[i];
    unsigned len = META_LEN(n->meta);
    if (len != 0 && ((key ^ n->key) >> (32 - len)) != 0) break;
    best = n->meta;
    if (len >= 32) break;
    i = n->child[(key >> (31 - len)) & 1];
  }
  return best;
}

static int covers6(const struct acl_node6 *n, const uint64_t key[2]) {
  uint64_t x0 = key[0] ^ n->key[0], x1 = key[1] ^ n->key[1];
  unsigned len = META_LEN(n->meta);
  if (len <= 64) return len == 0 || (x0 >> (64 - len)) == 0;
  return x0 == 0 && (x1 >> (128 - len)) == 0;
}

static uint32_t walk6(const struct acl *a, const struct acl_trie *t, const uint64_t key[2]) {
  uint32_t i = t->root, best = 0;
  if (i != 0 && t->jump) {
    if (!covers6(&a->n6[i], key)) return 0;
    i = t->jump[key_window(key, t->jshift, t->jbits)];
  }
  while (i != 0) {
    const struct acl_node6 *n = &a->n6[i];
    if (!covers6(n, key)) break;
    best = n->meta;
    unsigned len = META_LEN(n->meta);
    if (len >= 128) break;
    i = n->child[key_bit(key, len)];
  }
  return best;
}

enum policy_verdict acl_check(const struct acl *a, enum policy_dir dir,
                              const struct policy_query *q) {
  if (a == NULL || (dir != POLICY_OUT && dir != POLICY_IN)) return PV_DENY;
  uint32_t meta;
  uint8_t icmp_proto;
  if (q->addr.family == AF_INET) {
    meta = walk4(a, &a->trie[dir == POLICY_OUT ? T_OUT4 : T_IN4], load_be32(q->addr.addr));
    icmp_proto = IPPROTO_ICMP;
  } else if (q->addr.family == AF_INET6) {
    uint64_t key[2] = {load_be64(q->addr.addr), load_be64(q->addr.addr + 8)};
    meta = walk6(a, &a->trie[dir == POLICY_OUT ? T_OUT6 : T_IN6], key);
    icmp_proto = IPPROTO_ICMPV6;
  } else {
    return PV_DENY;
  }
  const struct acl_pair *p = &a->pairs[META_PAIR(meta)];
  if (acl_set_matches(a->sets, a->ranges, p->deny, q, icmp_proto)) return PV_DENIED;
  if (acl_set_matches(a->sets, a->ranges, p->allow, q, icmp_proto)) return PV_ALLOW;
  return PV_DENY;
}

/* --- building ------------------------------------------------------------- */

enum entry_kind { K_ALLOW, K_DENY, K_ROUTE }; /* K_ROUTE: a route, no service */

struct pending {
  uint64_t key[2];
  uint8_t len;
  uint8_t kind;
  uint8_t proto;
  uint16_t lo, hi;
};

/* A node while building: own sets (ids in the |own| pool) until the push
 * down replaces them with final ones (ids in the |final| pool). */
struct bnode {
  uint64_t key[2];
  uint32_t child[2];
  uint32_t allow, deny;
  uint8_t len;
  uint8_t route;
};

struct builder {
  uint32_t root[T_COUNT];
  struct bnode *nodes; /* index 0 unused */
  size_t nnodes, capnodes;
  struct acl_set_pool own;   /* each node's own sets, before the push-down */
  struct acl_set_pool final; /* the sets the acl keeps */
  struct pending *pend;
  size_t npend, cappend;
  struct acl_set_draft draft[2]; /* per kind (allow, deny) */
};

static int node_new(struct builder *b, const uint64_t key[2], unsigned len, uint32_t *idx) {
  if (b->nnodes >= UINT32_MAX) return 0;
  if (!acl_grow((void **)&b->nodes, &b->capnodes, b->nnodes + 1, sizeof(*b->nodes))) return 0;
  struct bnode *n = &b->nodes[b->nnodes];
  memset(n, 0, sizeof(*n));
  n->key[0] = key[0];
  n->key[1] = key[1];
  n->len = (uint8_t)len;
  *idx = (uint32_t)b->nnodes++;
  return 1;
}

static void link_node(struct builder *b, unsigned t, uint32_t parent, unsigned dir,
                      uint32_t child) {
  if (parent == 0)
    b->root[t] = child;
  else
    b->nodes[parent].child[dir] = child;
}

/* trie_insert finds or makes the node of prefix |key|/|len| (host bits
 * clear) in trie |t|. Prefixes arrive sorted by address, then length, so a
 * new one is never an ancestor of a stored one: it either extends a path
 * or branches off it. Returns 1 with its index, or 0 on allocation
 * failure. */
static int trie_insert(struct builder *b, unsigned t, const uint64_t key[2], unsigned len,
                       uint32_t *out) {
  uint32_t parent = 0, cur = b->root[t];
  unsigned dir = 0;
  while (cur != 0) {
    unsigned nlen = b->nodes[cur].len;
    unsigned c = key_common(b->nodes[cur].key, key, nlen < len ? nlen : len);
    if (c == nlen && nlen == len) {
      *out = cur;
      return 1;
    }
    if (c == nlen) { /* |cur| is an ancestor: descend */
      parent = cur;
      dir = key_bit(key, nlen);
      cur = b->nodes[cur].child[dir];
      continue;
    }
    if (c == len) return 0; /* an ancestor after its descendant: unsorted */
    /* They diverge at bit c: a branch node there, holding both. */
    uint64_t mid[2] = {key[0], key[1]};
    uint32_t m, n;
    key_mask(mid, c);
    if (!node_new(b, mid, c, &m) || !node_new(b, key, len, &n)) return 0;
    b->nodes[m].child[key_bit(key, c)] = n;
    b->nodes[m].child[key_bit(b->nodes[cur].key, c)] = cur;
    link_node(b, t, parent, dir, m);
    *out = n;
    return 1;
  }
  uint32_t n;
  if (!node_new(b, key, len, &n)) return 0;
  link_node(b, t, parent, dir, n);
  *out = n;
  return 1;
}

static int add_entries(struct builder *b, const struct policy_entry *e, size_t n, int family,
                       enum entry_kind kind) {
  for (size_t i = 0; i < n; i++) {
    /* A family mismatch never matches in policy_entry_matches either. */
    if (e[i].prefix.family != family || e[i].prefix.len > family_bits(family)) continue;
    if (!acl_grow((void **)&b->pend, &b->cappend, b->npend + 1, sizeof(*b->pend))) return 0;
    struct pending *p = &b->pend[b->npend++];
    memset(p, 0, sizeof(*p));
    key_from_addr(family, e[i].prefix.addr, p->key);
    key_mask(p->key, e[i].prefix.len); /* as zt_prefix_contains ignores host bits */
    p->len = e[i].prefix.len;
    p->kind = (uint8_t)kind;
    p->proto = (uint8_t)e[i].proto;
    p->lo = e[i].port_lo;
    p->hi = e[i].port_hi;
  }
  return 1;
}

static int cmp_pending(const void *x, const void *y) {
  const struct pending *a = x, *b = y;
  if (a->key[0] != b->key[0]) return a->key[0] < b->key[0] ? -1 : 1;
  if (a->key[1] != b->key[1]) return a->key[1] < b->key[1] ? -1 : 1;
  return (a->len > b->len) - (a->len < b->len);
}

/* Builds the own sets of the entries pend[from, to) (one prefix) into the
 * node |idx|. */
static int own_sets(struct builder *b, size_t from, size_t to, uint32_t idx) {
  uint8_t route = 0;
  for (size_t i = from; i < to; i++) {
    const struct pending *p = &b->pend[i];
    if (p->kind == K_ROUTE || p->kind == K_ALLOW) route = 1;
    if (p->kind == K_ROUTE) continue;
    if (!acl_set_draft_add(&b->draft[p->kind == K_DENY], (enum policy_proto)p->proto, p->lo,
                           p->hi))
      return 0;
  }
  uint32_t ids[2];
  for (int k = 0; k < 2; k++)
    if (!acl_set_draft_intern(&b->draft[k], &b->own, &ids[k])) return 0;
  b->nodes[idx].allow = ids[0];
  b->nodes[idx].deny = ids[1];
  b->nodes[idx].route |= route;
  return 1;
}

/* Replaces every node's own sets with the union of its own and its
 * ancestors', depth first. Branch nodes just inherit. */
static int push_down(struct builder *b, uint32_t root) {
  struct {
    uint32_t node, allow, deny;
  } stack[TRIE_DEPTH_MAX + 2];
  size_t top = 0;
  if (root == 0) return 1;
  stack[top].node = root;
  stack[top].allow = stack[top].deny = 0;
  top++;
  while (top > 0) {
    top--;
    uint32_t i = stack[top].node, up_allow = stack[top].allow, up_deny = stack[top].deny;
    uint32_t allow, deny;
    if (!acl_set_union(&b->final, &b->own, b->nodes[i].allow, up_allow, &allow) ||
        !acl_set_union(&b->final, &b->own, b->nodes[i].deny, up_deny, &deny))
      return 0;
    struct bnode *n = &b->nodes[i];
    n->allow = allow;
    n->deny = deny;
    for (int d = 1; d >= 0; d--) {
      if (n->child[d] == 0) continue;
      stack[top].node = n->child[d];
      stack[top].allow = allow;
      stack[top].deny = deny;
      top++;
    }
  }
  return 1;
}

/* Compiles the entries of direction |dir| and |family| of the applying
 * rules |rules| (|nrules|) into trie |t|. */
static int build_trie(struct builder *b, unsigned t, enum policy_dir dir, int family,
                      const struct policy_rule *const *rules, size_t nrules) {
  b->npend = 0;
  for (size_t r = 0; r < nrules; r++) {
    const struct policy_rule *rule = rules[r];
    if (dir == POLICY_OUT) {
      if (!add_entries(b, rule->allow, rule->nallow, family, K_ALLOW) ||
          !add_entries(b, rule->deny, rule->ndeny, family, K_DENY) ||
          /* so that replies route back; the inbound trie decides on them */
          !add_entries(b, rule->inbound, rule->ninbound, family, K_ROUTE))
        return 0;
    } else if (!add_entries(b, rule->inbound, rule->ninbound, family, K_ALLOW)) {
      return 0;
    }
  }
  if (b->npend == 0) return 1;
  qsort(b->pend, b->npend, sizeof(*b->pend), cmp_pending);
  for (size_t from = 0, to; from < b->npend; from = to) {
    for (to = from + 1; to < b->npend && cmp_pending(&b->pend[from], &b->pend[to]) == 0; to++) {
    }
    uint32_t idx;
    if (!trie_insert(b, t, b->pend[from].key, b->pend[from].len, &idx) ||
        !own_sets(b, from, to, idx))
      return 0;
  }
  return push_down(b, b->root[t]);
}

/* --- freezing ------------------------------------------------------------- */

/* Numbers the nodes of trie |t| depth first, first child first, from
 * |*next| on, into |map| (builder index -> frozen index). */
static void number_trie(const struct builder *b, unsigned t, uint32_t *map, size_t *next) {
  uint32_t stack[TRIE_DEPTH_MAX + 2];
  size_t top = 0;
  if (b->root[t] != 0) stack[top++] = b->root[t];
  while (top > 0) {
    uint32_t i = stack[--top];
    map[i] = (uint32_t)(*next)++;
    if (b->nodes[i].child[1]) stack[top++] = b->nodes[i].child[1];
    if (b->nodes[i].child[0]) stack[top++] = b->nodes[i].child[0];
  }
}

/* A frozen node seen the same way for both families (routes, jump tables). */
struct node_view {
  uint64_t key[2];
  unsigned len;
  uint32_t meta;
  uint32_t child[2];
};

static void node_view(const struct acl *a, int v6, uint32_t i, struct node_view *v) {
  if (v6) {
    const struct acl_node6 *n = &a->n6[i];
    v->key[0] = n->key[0];
    v->key[1] = n->key[1];
    v->meta = n->meta;
    v->child[0] = n->child[0];
    v->child[1] = n->child[1];
  } else {
    const struct acl_node4 *n = &a->n4[i];
    v->key[0] = (uint64_t)n->key << 32;
    v->key[1] = 0;
    v->meta = n->meta;
    v->child[0] = n->child[0];
    v->child[1] = n->child[1];
  }
  v->len = META_LEN(v->meta);
}

/* Builds the jump table of trie |t| of |count| nodes: for every value of
 * the |jbits| address bits below the root's prefix, the deepest node that
 * covers all addresses with those bits. A walk starting there visits the
 * same nodes as one from the root, minus those above it. */
static int jump_build(struct acl *a, unsigned t, size_t count) {
  struct acl_trie *tr = &a->trie[t];
  int v6 = t == T_OUT6 || t == T_IN6;
  unsigned bits = v6 ? 128 : 32, jbits = 0;
  if (tr->root == 0) return 1;
  struct node_view v;
  node_view(a, v6, tr->root, &v);
  while (jbits < JUMP_MAX_BITS && (2ull << jbits) <= count && v.len + jbits < bits) jbits++;
  if (jbits < JUMP_MIN_BITS) return 1;
  unsigned end = v.len + jbits;
  tr->jump = malloc(((size_t)1 << jbits) * sizeof(*tr->jump));
  if (tr->jump == NULL) return 0;
  tr->jshift = (uint8_t)v.len;
  tr->jbits = (uint8_t)jbits;
  /* Depth first, parents before children: a deeper node overwrites the
   * blocks its parent filled. Nodes longer than |end| cover no block. */
  uint32_t stack[TRIE_DEPTH_MAX + 2];
  size_t top = 0;
  stack[top++] = tr->root;
  while (top > 0) {
    uint32_t i = stack[--top];
    node_view(a, v6, i, &v);
    if (v.len > end) continue;
    size_t first = key_window(v.key, tr->jshift, jbits), n = (size_t)1 << (end - v.len);
    for (size_t k = 0; k < n; k++) tr->jump[first + k] = i;
    if (v.child[1]) stack[top++] = v.child[1];
    if (v.child[0]) stack[top++] = v.child[0];
  }
  return 1;
}

/* Lays out the tries of |b| in |a|: compact nodes depth first, set pairs,
 * jump tables. */
static int freeze(struct builder *b, struct acl *a) {
  static const unsigned v4[] = {T_OUT4, T_IN4}, v6[] = {T_OUT6, T_IN6};
  struct acl_pair_table pt;
  int ok = acl_pair_table_init(&pt);
  uint32_t *map = calloc(b->nnodes, sizeof(*map));
  ok = ok && map != NULL;
  size_t n4 = 1, n6 = 1, count[T_COUNT] = {0};
  for (int k = 0; ok && k < 2; k++) {
    size_t before4 = n4, before6 = n6;
    number_trie(b, v4[k], map, &n4);
    number_trie(b, v6[k], map, &n6);
    count[v4[k]] = n4 - before4;
    count[v6[k]] = n6 - before6;
  }
  if (ok) {
    a->n4 = calloc(n4, sizeof(*a->n4));
    a->n6 = calloc(n6, sizeof(*a->n6));
    ok = a->n4 != NULL && a->n6 != NULL;
    a->nn4 = n4;
    a->nn6 = n6;
  }
  for (unsigned t = 0; ok && t < T_COUNT; t++) {
    int is6 = t == T_OUT6 || t == T_IN6;
    uint32_t stack[TRIE_DEPTH_MAX + 2];
    size_t top = 0;
    a->trie[t].root = b->root[t] ? map[b->root[t]] : 0;
    if (b->root[t] != 0) stack[top++] = b->root[t];
    while (top > 0) {
      const struct bnode *bn = &b->nodes[stack[--top]];
      uint32_t pair;
      if (!acl_pair_intern(&pt, bn->allow, bn->deny, &pair)) {
        ok = 0;
        break;
      }
      uint32_t meta = (uint32_t)pair << 9 | (bn->route ? META_ROUTE : 0) | bn->len;
      uint32_t c0 = bn->child[0] ? map[bn->child[0]] : 0, c1 = bn->child[1] ? map[bn->child[1]] : 0;
      uint32_t at = map[bn - b->nodes];
      if (is6) {
        struct acl_node6 *n = &a->n6[at];
        n->key[0] = bn->key[0];
        n->key[1] = bn->key[1];
        n->child[0] = c0;
        n->child[1] = c1;
        n->meta = meta;
      } else {
        struct acl_node4 *n = &a->n4[at];
        n->key = (uint32_t)(bn->key[0] >> 32);
        n->child[0] = c0;
        n->child[1] = c1;
        n->meta = meta;
      }
      if (bn->child[1]) stack[top++] = bn->child[1];
      if (bn->child[0]) stack[top++] = bn->child[0];
    }
    ok = ok && jump_build(a, t, count[t]);
  }
  free(map);
  if (ok) acl_pair_table_take(&pt, &a->pairs, &a->npairs);
  acl_pair_table_cleanup(&pt);
  return ok;
}

/* --- compiling ------------------------------------------------------------ */

struct acl *acl_compile_rules(const struct policy_rule *const *rules, size_t nrules) {
  struct builder b;
  memset(&b, 0, sizeof(b));
  struct acl *a = calloc(1, sizeof(*a));
  int ok = a != NULL && acl_set_pool_init(&b.own) && acl_set_pool_init(&b.final);
  if (a != NULL) atomic_init(&a->refs, 1);
  /* Node 0 stands for "no child". */
  static const uint64_t zero[2] = {0, 0};
  uint32_t unused;
  ok = ok && node_new(&b, zero, 0, &unused);
  static const struct {
    unsigned t;
    enum policy_dir dir;
    int family;
  } tries[T_COUNT] = {
      {T_OUT4, POLICY_OUT, AF_INET},
      {T_OUT6, POLICY_OUT, AF_INET6},
      {T_IN4, POLICY_IN, AF_INET},
      {T_IN6, POLICY_IN, AF_INET6},
  };
  for (size_t i = 0; ok && i < T_COUNT; i++)
    ok = build_trie(&b, tries[i].t, tries[i].dir, tries[i].family, rules, nrules);
  free(b.pend);
  for (int k = 0; k < 2; k++) acl_set_draft_cleanup(&b.draft[k]);
  acl_set_pool_cleanup(&b.own);
  ok = ok && freeze(&b, a);
  free(b.nodes);
  if (!ok) {
    acl_set_pool_cleanup(&b.final);
    acl_free(a);
    return NULL;
  }
  acl_set_pool_take(&b.final, &a->sets, &a->nsets, &a->ranges, &a->nranges);
  return a;
}

struct acl *acl_compile(const struct policy *p, const struct zt_identity *user,
                        const struct zt_identity *device) {
  const struct policy_rule **rules = malloc((p->nrules ? p->nrules : 1) * sizeof(*rules));
  if (rules == NULL) return NULL;
  size_t nrules = 0;
  for (size_t r = 0; r < p->nrules; r++)
    if (policy_rule_applies(&p->rules[r], user, device)) rules[nrules++] = &p->rules[r];
  struct acl *a = acl_compile_rules(rules, nrules);
  free(rules);
  return a;
}

void acl_up_ref(struct acl *a) { atomic_fetch_add(&a->refs, 1); }

unsigned acl_refs(const struct acl *a) { return atomic_load(&a->refs); }

void acl_free(struct acl *a) {
  if (a == NULL || atomic_fetch_sub(&a->refs, 1) != 1) return;
  for (int t = 0; t < T_COUNT; t++) free(a->trie[t].jump);
  free(a->n4);
  free(a->n6);
  free(a->pairs);
  free(a->sets);
  free(a->ranges);
  free(a);
}

size_t acl_memory(const struct acl *a) {
  if (a == NULL) return 0;
  size_t n = sizeof(*a) + a->nn4 * sizeof(*a->n4) + a->nn6 * sizeof(*a->n6) +
             a->npairs * sizeof(*a->pairs) + a->nsets * sizeof(*a->sets) +
             a->nranges * sizeof(*a->ranges);
  for (int t = 0; t < T_COUNT; t++)
    if (a->trie[t].jump) n += ((size_t)1 << a->trie[t].jbits) * sizeof(*a->trie[t].jump);
  return n;
}

/* --- routes ----------------------------------------------------------------- */

/* Visits, in address order, the route prefixes of outbound trie |t| that no
 * other route prefix covers, each cut to at most |cap| bits. Equal cut
 * prefixes are then adjacent; each distinct one is written to |out| while
 * fewer than |max| are there. Returns how many distinct ones there are. */
static size_t route_walk(const struct acl *a, unsigned t, unsigned cap, int family,
                         struct zt_prefix *out, size_t max) {
  uint32_t stack[TRIE_DEPTH_MAX + 2];
  size_t top = 0, count = 0;
  uint64_t last[2] = {0, 0};
  unsigned last_len = 0;
  int v6 = family == AF_INET6;
  if (a->trie[t].root != 0) stack[top++] = a->trie[t].root;
  while (top > 0) {
    struct node_view v;
    node_view(a, v6, stack[--top], &v);
    if (!(v.meta & META_ROUTE)) {
      /* Child 0 (lower addresses) is visited first. */
      if (v.child[1]) stack[top++] = v.child[1];
      if (v.child[0]) stack[top++] = v.child[0];
      continue;
    }
    unsigned len = v.len < cap ? v.len : cap;
    key_mask(v.key, len);
    if (count > 0 && len == last_len && v.key[0] == last[0] && v.key[1] == last[1]) continue;
    if (count < max) {
      struct zt_prefix *p = &out[count];
      memset(p, 0, sizeof(*p));
      p->family = family;
      p->len = (uint8_t)len;
      for (unsigned i = 0; i < zt_ip_len(family); i++)
        p->addr[i] = (uint8_t)(v.key[i / 8] >> (56 - 8 * (i % 8)));
    }
    count++;
    last[0] = v.key[0];
    last[1] = v.key[1];
    last_len = len;
  }
  return count;
}

size_t acl_routes(const struct acl *a, int family, struct zt_prefix *out, size_t max) {
  unsigned bits = family_bits(family);
  if (a == NULL || bits == 0 || max == 0) return 0;
  unsigned t = family == AF_INET ? T_OUT4 : T_OUT6;
  /* Shortening the longest prefixes by a bit until they fit is the same as
   * cutting all of them to the longest length that fits: find it. */
  unsigned cap = bits;
  if (route_walk(a, t, bits, family, NULL, 0) > max) {
    unsigned lo = 0, hi = bits; /* count(lo) <= max < count(hi) */
    while (hi - lo > 1) {
      unsigned mid = (lo + hi) / 2;
      if (route_walk(a, t, mid, family, NULL, 0) <= max)
        lo = mid;
      else
        hi = mid;
    }
    cap = lo;
  }
  return route_walk(a, t, cap, family, out, max);
}

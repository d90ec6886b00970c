#include "conntrack.h"

#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/rand.h>
#include <openssl/siphash.h>

/* An idle session holds this many slots; the table doubles up to twice its
 * bound, so the load factor never exceeds 1/2 and probes stay short. */
#define CT_MIN_SLOTS 64
/* ct_init refuses larger bounds, so slot counts and sizes cannot overflow. */
#define CT_MAX_FLOWS ((size_t)1 << 24)

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

enum { E_USED = 1, E_FROM_REMOTE = 2, E_CLOSING = 4 };

/* The key is hashed as bytes: it must have no padding. */
_Static_assert(sizeof(struct ct_key) == 22, "struct ct_key has padding");

struct ct_entry {
  struct ct_key key;   /* normalised: address bytes past the family's zero */
  uint8_t flags;       /* E_* */
  uint64_t expires_ms; /* live while now < expires_ms */
};

/* The slots live in one block with what struct conntrack has no field for:
 * the hash key (random per table, so a client cannot choose flows that
 * collide) and a lower bound on the expiry times, which spares a scan for
 * expired flows when none can have expired yet. */
struct ct_table {
  uint64_t sipkey[2];
  uint64_t next_expiry_ms;
  struct ct_entry slots[];
};

static struct ct_table *table_of(const struct conntrack *ct) {
  return (struct ct_table *)(void *)((char *)ct->slots - offsetof(struct ct_table, slots));
}

static struct ct_table *table_new(size_t nslots) {
  struct ct_table *t = calloc(1, sizeof(*t) + nslots * sizeof(struct ct_entry));
  if (t) t->next_expiry_ms = UINT64_MAX;
  return t;
}

/* max_slots is the table size at the bound |max|: a power of two with at
 * least twice as many slots as flows. */
static size_t max_slots(size_t max) {
  size_t n = 2;
  while (n < 2 * max) n *= 2;
  return n;
}

/* limit is how many flows the current table may hold. */
static size_t limit(const struct conntrack *ct) {
  return ct->nslots / 2 < ct->max ? ct->nslots / 2 : ct->max;
}

static void key_norm(const struct ct_key *in, struct ct_key *out) {
  memset(out, 0, sizeof(*out));
  out->family = in->family;
  out->proto = in->proto;
  out->client_port = in->client_port;
  out->remote_port = in->remote_port;
  memcpy(out->remote, in->remote, zt_ip_len(in->family));
}

static size_t home_slot(const struct ct_table *t, size_t nslots, const struct ct_key *k) {
  return (size_t)SIPHASH_24(t->sipkey, (const uint8_t *)k, sizeof(*k)) & (nslots - 1);
}

static uint64_t timeout_ms(uint8_t proto, int closing) {
  switch (proto) {
    case IPPROTO_TCP:
      return closing ? CT_TCP_CLOSING_MS : CT_TCP_TIMEOUT_MS;
    case IPPROTO_UDP:
      return CT_UDP_TIMEOUT_MS;
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      return CT_ICMP_TIMEOUT_MS;
    default:
      return CT_OTHER_TIMEOUT_MS;
  }
}

/* touch notes |tcp_flags| and restarts the idle timer of |e|. */
static void touch(struct ct_table *t, struct ct_entry *e, uint64_t now_ms, uint8_t tcp_flags) {
  if (e->key.proto == IPPROTO_TCP) {
    if (tcp_flags & (TCP_FIN | TCP_RST))
      e->flags |= E_CLOSING;
    else if ((tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)
      e->flags &= (uint8_t)~E_CLOSING; /* a new connection on the same ports */
  }
  uint64_t timeout = timeout_ms(e->key.proto, e->flags & E_CLOSING);
  e->expires_ms = now_ms > UINT64_MAX - timeout ? UINT64_MAX : now_ms + timeout;
  if (e->expires_ms < t->next_expiry_ms) t->next_expiry_ms = e->expires_ms;
}

/* find looks for normalised key |k|. Returns 1 with its slot in |*idx|, or 0
 * with the free slot where it would go (the load factor guarantees one). */
static int find(const struct conntrack *ct, const struct ct_key *k, size_t *idx) {
  size_t mask = ct->nslots - 1;
  size_t i = home_slot(table_of(ct), ct->nslots, k);
  for (size_t n = 0; n < ct->nslots; n++, i = (i + 1) & mask) {
    const struct ct_entry *e = &ct->slots[i];
    if (!(e->flags & E_USED) || memcmp(&e->key, k, sizeof(*k)) == 0) {
      *idx = i;
      return (e->flags & E_USED) != 0;
    }
  }
  *idx = ct->nslots;
  return 0;
}

/* remove_at empties slot |hole| by backward shift: later members of its
 * probe run move back so that no lookup stops early, and no tombstones
 * accumulate. */
static void remove_at(struct conntrack *ct, size_t hole) {
  struct ct_table *t = table_of(ct);
  size_t mask = ct->nslots - 1;
  for (size_t j = (hole + 1) & mask; ct->slots[j].flags & E_USED; j = (j + 1) & mask) {
    size_t home = home_slot(t, ct->nslots, &ct->slots[j].key);
    /* it may move back only if the hole lies between its home and j */
    if (((j - home) & mask) < ((j - hole) & mask)) continue;
    ct->slots[hole] = ct->slots[j];
    hole = j;
  }
  memset(&ct->slots[hole], 0, sizeof(ct->slots[hole]));
  ct->count--;
}

/* sweep removes every flow for which |drop| returns 1 and returns how many.
 * It starts after a free slot, so no probe run wraps around behind it and a
 * backward shift only brings flows not yet visited: each is visited once. */
static size_t sweep(struct conntrack *ct, int (*drop)(struct ct_entry *e, void *arg),
                    void *arg) {
  size_t mask = ct->nslots - 1, start = 0, removed = 0;
  if (ct->count == 0) return 0;
  while (ct->slots[start].flags & E_USED) start++; /* count < nslots */
  size_t i = (start + 1) & mask;
  for (size_t visited = 0; visited < ct->nslots;) {
    if ((ct->slots[i].flags & E_USED) && drop(&ct->slots[i], arg)) {
      remove_at(ct, i);
      removed++;
      continue; /* slot i may now hold the next flow of the run */
    }
    i = (i + 1) & mask;
    visited++;
  }
  return removed;
}

struct expire_arg {
  uint64_t now_ms, next_expiry_ms;
};

static int drop_expired(struct ct_entry *e, void *arg) {
  struct expire_arg *a = arg;
  if (a->now_ms >= e->expires_ms) return 1;
  if (e->expires_ms < a->next_expiry_ms) a->next_expiry_ms = e->expires_ms;
  return 0;
}

/* reclaim removes the expired flows, at the cost of one scan, and only
 * when the lower bound says some may have expired. */
static void reclaim(struct conntrack *ct, uint64_t now_ms) {
  struct ct_table *t = table_of(ct);
  struct expire_arg a = {now_ms, UINT64_MAX};
  if (now_ms < t->next_expiry_ms) return;
  ct->evicted += sweep(ct, drop_expired, &a);
  t->next_expiry_ms = a.next_expiry_ms;
}

/* grow doubles the table (the same hash key). Returns 1 or 0 (no memory:
 * the old table stays). */
static int grow(struct conntrack *ct) {
  struct ct_table *old = table_of(ct);
  size_t n = ct->nslots * 2;
  struct ct_table *t = table_new(n);
  if (!t) return 0;
  memcpy(t->sipkey, old->sipkey, sizeof(t->sipkey));
  t->next_expiry_ms = old->next_expiry_ms;
  for (size_t i = 0; i < ct->nslots; i++) {
    if (!(ct->slots[i].flags & E_USED)) continue;
    size_t j = home_slot(t, n, &ct->slots[i].key);
    while (t->slots[j].flags & E_USED) j = (j + 1) & (n - 1);
    t->slots[j] = ct->slots[i];
  }
  free(old);
  ct->slots = t->slots;
  ct->nslots = n;
  return 1;
}

int ct_init(struct conntrack *ct, size_t max) {
  memset(ct, 0, sizeof(*ct));
  if (max == 0 || max > CT_MAX_FLOWS) return 0;
  size_t n = max_slots(max);
  if (n > CT_MIN_SLOTS) n = CT_MIN_SLOTS;
  struct ct_table *t = table_new(n);
  if (!t) return 0;
  if (!RAND_bytes((uint8_t *)t->sipkey, sizeof(t->sipkey))) {
    free(t);
    return 0;
  }
  ct->slots = t->slots;
  ct->nslots = n;
  ct->max = max;
  return 1;
}

void ct_free(struct conntrack *ct) {
  if (ct->slots) free(table_of(ct));
  memset(ct, 0, sizeof(*ct));
}

int ct_key_from_pkt(const struct zt_pkt *p, int from_client, struct ct_key *key) {
  const struct zt_l4 *l4 = &p->l4;
  const struct zt_ip *remote = from_client ? &p->dst : &p->src;
  int client_sent = from_client; /* whether the keyed packet came from the client */
  memset(key, 0, sizeof(*key));
  if (p->is_icmp_error) {
    /* An error about a packet is keyed as that packet, which went the other
     * way: an error to the client quotes what the client sent. */
    if (p->inner_src.family == 0) return 0;
    l4 = &p->inner;
    client_sent = !from_client;
    remote = client_sent ? &p->inner_dst : &p->inner_src;
  }
  size_t alen = zt_ip_len(remote->family);
  if (alen == 0) return 0;
  key->family = (uint8_t)remote->family;
  key->proto = l4->proto;
  memcpy(key->remote, remote->addr, alen);
  if (l4->has_ports) {
    key->client_port = client_sent ? l4->sport : l4->dport;
    key->remote_port = client_sent ? l4->dport : l4->sport;
  } else if (l4->has_icmp) {
    key->client_port = l4->icmp_id; /* 0 unless an echo */
  }
  return 1;
}

int ct_lookup(struct conntrack *ct, const struct ct_key *key, uint64_t now_ms,
              uint8_t tcp_flags, enum ct_origin *origin) {
  struct ct_key k;
  size_t i;
  if (!ct->slots) return 0;
  key_norm(key, &k);
  if (!find(ct, &k, &i) || now_ms >= ct->slots[i].expires_ms) return 0;
  struct ct_entry *e = &ct->slots[i];
  *origin = e->flags & E_FROM_REMOTE ? CT_FROM_REMOTE : CT_FROM_CLIENT;
  touch(table_of(ct), e, now_ms, tcp_flags);
  return 1;
}

int ct_insert(struct conntrack *ct, const struct ct_key *key, enum ct_origin origin,
              uint64_t now_ms, uint8_t tcp_flags) {
  struct ct_key k;
  size_t i;
  if (!ct->slots) return 0;
  key_norm(key, &k);
  if (find(ct, &k, &i)) {
    /* the same flow again: a new one if the old one had expired */
    if (now_ms >= ct->slots[i].expires_ms) ct->evicted++;
  } else {
    if (ct->count >= limit(ct)) {
      /* Room first from expired flows, then from a bigger table: both cost
       * one pass over the table, and only when it is at its limit. */
      reclaim(ct, now_ms);
      if (ct->count >= limit(ct) && ct->count < ct->max) grow(ct);
      if (ct->count >= limit(ct)) {
        ct->full++;
        return 0;
      }
      find(ct, &k, &i);
    }
    ct->count++;
  }
  struct ct_entry *e = &ct->slots[i];
  e->key = k;
  e->flags = (uint8_t)(E_USED | (origin == CT_FROM_REMOTE ? E_FROM_REMOTE : 0));
  touch(table_of(ct), e, now_ms, tcp_flags);
  return 1;
}

struct retain_arg {
  int (*keep)(const struct ct_key *key, enum ct_origin origin, void *arg);
  void *arg;
};

static int drop_unkept(struct ct_entry *e, void *arg) {
  struct retain_arg *a = arg;
  return !a->keep(&e->key, e->flags & E_FROM_REMOTE ? CT_FROM_REMOTE : CT_FROM_CLIENT, a->arg);
}

size_t ct_retain(struct conntrack *ct,
                 int (*keep)(const struct ct_key *key, enum ct_origin origin, void *arg),
                 void *arg) {
  struct retain_arg a = {keep, arg};
  if (!ct->slots) return 0;
  return sweep(ct, drop_unkept, &a);
}

void ct_query(const struct ct_key *key, enum ct_origin origin, struct policy_query *q) {
  memset(q, 0, sizeof(*q));
  q->addr.family = key->family;
  memcpy(q->addr.addr, key->remote, zt_ip_len(key->family));
  q->ipproto = key->proto;
  /* a key without ports is a fragment's: only "any protocol" rules apply */
  if ((key->proto == IPPROTO_TCP || key->proto == IPPROTO_UDP) &&
      (key->client_port != 0 || key->remote_port != 0)) {
    q->has_port = 1;
    q->port = origin == CT_FROM_CLIENT ? key->remote_port : key->client_port;
  }
}

#include "source_limits.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <openssl/siphash.h>

_Static_assert(sizeof(struct src_key) == 9, "struct src_key has padding");

/* Slots an eviction looks at for an entry whose bucket is full again
 * before it settles for any entry without handshakes. */
#define SRC_EVICT_SCAN 64

/* Buckets hold tokens in thousandths, so a rate of one per second still
 * refills a little every millisecond. */
#define MILLI 1000u

struct src_entry {
  uint64_t stamp_ms;   /* when |tokens| was last brought up to date */
  uint32_t tokens;     /* in thousandths of a connection */
  uint16_t handshakes; /* in progress from this source */
  uint8_t used;
  struct src_key key;
};

struct src_limits {
  uint64_t sipkey[2];      /* random: sources cannot be chosen to collide */
  struct src_entry *slots; /* open addressing, linear probing */
  size_t mask;             /* slots - 1; slots is a power of two */
  size_t count, max_entries;
  size_t cursor;           /* where the next eviction starts looking */
  unsigned handshakes, max_handshakes, max_per_source;
  uint32_t rate;           /* tokens per second = thousandths per ms */
  uint32_t burst;          /* in thousandths */
};

int src_key_from_sockaddr(const struct sockaddr *sa, struct src_key *out) {
  memset(out, 0, sizeof(*out));
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
    out->family = AF_INET;
    memcpy(out->addr, &in->sin_addr, 4);
    return 1;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      out->family = AF_INET;
      memcpy(out->addr, &in6->sin6_addr.s6_addr[12], 4);
    } else {
      out->family = AF_INET6;
      memcpy(out->addr, in6->sin6_addr.s6_addr, 8);
    }
    return 1;
  }
  return 0;
}

const char *src_key_format(const struct src_key *key, char *buf, size_t len) {
  char a[INET6_ADDRSTRLEN];
  uint8_t full[16] = {0};
  memcpy(full, key->addr, sizeof(key->addr));
  if (key->family == AF_INET && inet_ntop(AF_INET, full, a, sizeof(a)))
    snprintf(buf, len, "%s", a);
  else if (key->family == AF_INET6 && inet_ntop(AF_INET6, full, a, sizeof(a)))
    snprintf(buf, len, "%s/64", a);
  else
    snprintf(buf, len, "?");
  return buf;
}

struct src_limits *src_limits_new(unsigned max_handshakes, unsigned max_per_source,
                                  unsigned rate) {
  if (max_handshakes == 0 || max_handshakes > UINT16_MAX || max_per_source == 0 ||
      rate == 0 || rate > 1000000)
    return NULL;
  struct src_limits *t = calloc(1, sizeof(*t));
  if (!t) return NULL;
  /* Every entry with a handshake holds at least one of max_handshakes, so a
   * full table always has SRC_TABLE_ENTRIES entries that may be evicted.
   * At least twice as many slots as entries keeps the probes short. */
  t->max_entries = SRC_TABLE_ENTRIES + (size_t)max_handshakes;
  size_t nslots = 2;
  while (nslots < 2 * t->max_entries) nslots *= 2;
  t->slots = calloc(nslots, sizeof(*t->slots));
  if (!t->slots) {
    free(t);
    return NULL;
  }
  t->mask = nslots - 1;
  t->max_handshakes = max_handshakes;
  t->max_per_source = max_per_source;
  t->rate = rate;
  t->burst = 2 * rate * MILLI;
  RAND_bytes((uint8_t *)t->sipkey, sizeof(t->sipkey));
  return t;
}

void src_limits_free(struct src_limits *t) {
  if (!t) return;
  free(t->slots);
  free(t);
}

static size_t home(const struct src_limits *t, const struct src_key *k) {
  return (size_t)SIPHASH_24(t->sipkey, (const uint8_t *)k, sizeof(*k)) & t->mask;
}

/* find returns the slot holding |k|, or the empty slot where it would go. */
static size_t find(const struct src_limits *t, const struct src_key *k) {
  size_t i = home(t, k);
  while (t->slots[i].used && memcmp(&t->slots[i].key, k, sizeof(*k)) != 0)
    i = (i + 1) & t->mask;
  return i;
}

/* Brings |e|'s bucket up to |now_ms|. A bucket refills from empty in two
 * seconds (burst = 2 * rate), which also bounds the product below. */
static void refill(const struct src_limits *t, struct src_entry *e, uint64_t now_ms) {
  if (now_ms <= e->stamp_ms) return;
  uint64_t elapsed = now_ms - e->stamp_ms;
  uint64_t tokens = elapsed >= 2000 ? t->burst : e->tokens + elapsed * t->rate;
  e->tokens = tokens > t->burst ? t->burst : (uint32_t)tokens;
  e->stamp_ms = now_ms;
}

/* Empties slot |i| and moves later entries of its probe run back, so that
 * every entry stays reachable from its home slot without tombstones. */
static void remove_at(struct src_limits *t, size_t i) {
  size_t j = i;
  for (;;) {
    t->slots[i].used = 0;
    for (;;) {
      j = (j + 1) & t->mask;
      if (!t->slots[j].used) {
        t->count--;
        return;
      }
      size_t k = home(t, &t->slots[j].key);
      /* The entry at j may fill the hole at i unless its home lies
       * cyclically in (i, j]. */
      int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
      if (!stays) break;
    }
    t->slots[i] = t->slots[j];
    i = j;
  }
}

/* Frees one entry without handshakes. Returns 0 only when there is none,
 * which the bound on max_entries rules out. */
static int evict(struct src_limits *t, uint64_t now_ms) {
  size_t best = SIZE_MAX;
  uint32_t best_tokens = 0;
  for (size_t n = 0; n <= t->mask; n++) {
    size_t i = (t->cursor + n) & t->mask;
    struct src_entry *e = &t->slots[i];
    if (!e->used || e->handshakes > 0) continue;
    refill(t, e, now_ms);
    if (best == SIZE_MAX || e->tokens > best_tokens) {
      best = i;
      best_tokens = e->tokens;
    }
    if (best_tokens == t->burst || (n >= SRC_EVICT_SCAN && best != SIZE_MAX)) break;
  }
  if (best == SIZE_MAX) return 0;
  t->cursor = (best + 1) & t->mask;
  remove_at(t, best);
  return 1;
}

enum src_verdict src_limits_admit(struct src_limits *t, const struct src_key *key,
                                  uint64_t now_ms) {
  if (t->handshakes >= t->max_handshakes) return SRC_FULL;
  size_t i = find(t, key);
  struct src_entry *e = &t->slots[i];
  if (e->used) {
    if (e->handshakes >= t->max_per_source) return SRC_HANDSHAKES;
    refill(t, e, now_ms);
    if (e->tokens < MILLI) return SRC_RATE;
  } else {
    if (t->count >= t->max_entries) {
      if (!evict(t, now_ms)) return SRC_FULL;
      i = find(t, key); /* the eviction may have moved entries */
      e = &t->slots[i];
    }
    memset(e, 0, sizeof(*e));
    e->used = 1;
    e->key = *key;
    e->tokens = t->burst;
    e->stamp_ms = now_ms;
    t->count++;
  }
  e->tokens -= MILLI;
  e->handshakes++;
  t->handshakes++;
  return SRC_ADMIT;
}

void src_limits_release(struct src_limits *t, const struct src_key *key) {
  struct src_entry *e = &t->slots[find(t, key)];
  if (!e->used || e->handshakes == 0) return; /* not counted: nothing to end */
  e->handshakes--;
  t->handshakes--;
}

unsigned src_limits_handshakes(const struct src_limits *t, const struct src_key *key) {
  const struct src_entry *e = &t->slots[find(t, key)];
  return e->used ? e->handshakes : 0;
}

size_t src_limits_count(const struct src_limits *t) { return t->count; }

size_t src_limits_capacity(const struct src_limits *t) { return t->max_entries; }

size_t src_limits_home_slot(const struct src_limits *t, const struct src_key *key) {
  return home(t, key);
}

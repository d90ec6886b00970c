/* Per-source accounting before authentication: for each client address (an
 * IPv4 address, or an IPv6 /64, which one subscriber typically holds whole)
 * a token bucket of new connections and the number of its handshakes in
 * progress. One source that floods the concentrator exhausts only its own
 * allowance.
 *
 * The table is bounded (SRC_TABLE_ENTRIES plus one entry per allowed
 * handshake) and allocated once: O(1) per connection, no allocation per
 * connection. It is keyed by SipHash with a random key, so a client cannot
 * choose addresses that collide. When it is full, an entry that has no
 * handshake in progress is evicted, preferring one whose bucket is full
 * again (it remembers nothing a fresh entry would not); entries with
 * handshakes are never evicted. */
#ifndef ZTVPN_SOURCE_LIMITS_H
#define ZTVPN_SOURCE_LIMITS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Entries without handshakes the table holds at most (besides one per
 * handshake that may be in progress). */
#define SRC_TABLE_ENTRIES 16384

/* A source: the family and the first 4 (IPv4) or 8 (IPv6 /64) address
 * bytes, the rest zero. Hashed as bytes, so it has no padding. */
struct src_key {
  uint8_t family; /* AF_INET or AF_INET6 */
  uint8_t addr[8];
};

enum src_verdict {
  SRC_ADMIT,      /* a token taken and a handshake counted */
  SRC_HANDSHAKES, /* this source has max_per_source handshakes in progress */
  SRC_RATE,       /* this source's bucket is empty */
  SRC_FULL,       /* the table is full of sources with handshakes */
};

struct src_limits;

/* src_key_from_sockaddr fills |out| for peer |sa| (an IPv4-mapped IPv6
 * address counts as the IPv4 address). Returns 0 for other families. */
int src_key_from_sockaddr(const struct sockaddr *sa, struct src_key *out);

/* src_key_format writes the source as "192.0.2.3" or "2001:db8:1:2::/64"
 * into |buf| of |len| bytes and returns |buf|. */
const char *src_key_format(const struct src_key *key, char *buf, size_t len);

/* src_limits_new makes a table for |max_handshakes| handshakes in progress
 * in all, at most |max_per_source| from one source, and |rate| new
 * connections per second per source with a burst of 2 * |rate|. Returns
 * NULL when out of memory or a parameter is 0. */
struct src_limits *src_limits_new(unsigned max_handshakes, unsigned max_per_source,
                                  unsigned rate);
/* src_limits_free accepts NULL. */
void src_limits_free(struct src_limits *t);

/* src_limits_admit decides on a new connection from |key| at |now_ms|
 * (monotonic). Only SRC_ADMIT changes the source's state: it takes a token
 * and counts a handshake, which src_limits_release must end exactly once. */
enum src_verdict src_limits_admit(struct src_limits *t, const struct src_key *key,
                                  uint64_t now_ms);

/* src_limits_release ends a handshake that src_limits_admit counted. */
void src_limits_release(struct src_limits *t, const struct src_key *key);

/* src_limits_handshakes returns the handshakes in progress from |key|. */
unsigned src_limits_handshakes(const struct src_limits *t, const struct src_key *key);

/* src_limits_count returns the number of sources the table holds, and
 * src_limits_capacity the most it ever holds. */
size_t src_limits_count(const struct src_limits *t);
size_t src_limits_capacity(const struct src_limits *t);

/* src_limits_home_slot returns the slot where the search for |key| starts,
 * so that tests can make sources that collide. */
size_t src_limits_home_slot(const struct src_limits *t, const struct src_key *key);

#endif

/* Connection tracking for one session: the flows its policy allowed, so
 * that replies come back to the client and nothing unsolicited does.
 *
 * A flow is keyed from the client's point of view (protocol, remote
 * address, remote port, client port; for ICMP echo the identifier is the
 * client port and the remote port is 0), so a packet and its reply give
 * the same key. Each flow remembers which side opened it. The table is an
 * open hash with a random SipHash key per table (a client cannot choose
 * colliding flows); it starts at 64 slots, so an idle session costs little,
 * and doubles when needed up to twice its bound, so allocation happens only
 * on growth, never per packet otherwise. Flows expire after an idle timeout
 * that depends on the protocol and, for TCP, on whether it has seen FIN or
 * RST (a new SYN on the same ports reopens it). Per-session state only:
 * nothing here is shared. */
#ifndef ZTVPN_CONNTRACK_H
#define ZTVPN_CONNTRACK_H

#include <stddef.h>
#include <stdint.h>

#include "packet.h"
#include "policy.h"

/* Idle timeouts, milliseconds. */
#define CT_TCP_TIMEOUT_MS (2 * 3600 * 1000ull) /* established */
#define CT_TCP_CLOSING_MS (10 * 1000ull)       /* after FIN or RST */
#define CT_UDP_TIMEOUT_MS (120 * 1000ull)
#define CT_ICMP_TIMEOUT_MS (30 * 1000ull)
#define CT_OTHER_TIMEOUT_MS (120 * 1000ull)
#define CT_DEFAULT_MAX 4096 /* flows per session */

struct ct_key {
  uint8_t family; /* AF_INET or AF_INET6 */
  uint8_t proto;
  uint16_t client_port, remote_port;
  uint8_t remote[16];
};

enum ct_origin { CT_FROM_CLIENT, CT_FROM_REMOTE };

struct ct_entry; /* private to conntrack.c */

struct conntrack {
  struct ct_entry *slots;
  size_t nslots, count, max;
  uint64_t evicted, full; /* counters: expired flows reclaimed, refusals */
};

/* ct_init prepares a table for at most |max| flows (allocating the first 64
 * slots). Returns 1 or 0. */
int ct_init(struct conntrack *ct, size_t max);
void ct_free(struct conntrack *ct);

/* ct_key_from_pkt keys packet |p|; |from_client| says which side sent it.
 * An ICMP error is keyed by the packet it quotes (so it matches that
 * packet's flow). Returns 0 for a packet that cannot be keyed (an ICMP
 * error quoting too little). */
int ct_key_from_pkt(const struct zt_pkt *p, int from_client, struct ct_key *key);

/* ct_lookup finds a live flow at |now_ms|. On a hit it stores who opened it
 * in |*origin|, refreshes its timer (and notes TCP FIN/RST from
 * |tcp_flags|) and returns 1; otherwise 0. */
int ct_lookup(struct conntrack *ct, const struct ct_key *key, uint64_t now_ms,
              uint8_t tcp_flags, enum ct_origin *origin);

/* ct_insert records a new flow opened by |origin|. When the table is full it
 * first reclaims expired flows; if none, it returns 0 (counted in |full|). */
int ct_insert(struct conntrack *ct, const struct ct_key *key, enum ct_origin origin,
              uint64_t now_ms, uint8_t tcp_flags);

/* ct_retain keeps only the flows for which |keep| returns 1 (used after a
 * policy reload: a flow the new policy denies stops at once). Returns the
 * number removed. */
size_t ct_retain(struct conntrack *ct,
                 int (*keep)(const struct ct_key *key, enum ct_origin origin, void *arg),
                 void *arg);

/* ct_query makes the policy question a flow's opening packet asked:
 * outbound (remote address, remote port) for CT_FROM_CLIENT, inbound
 * (remote address, client port) for CT_FROM_REMOTE. */
void ct_query(const struct ct_key *key, enum ct_origin origin, struct policy_query *q);

#endif

/* Concentrator-wide counters: every rejection and drop has its own. */
#ifndef ZTVPN_SERVER_COUNTERS_H
#define ZTVPN_SERVER_COUNTERS_H

#include <stdint.h>

/* Why a packet did not reach its destination. */
enum drop_reason {
  DROP_SPOOFED_SOURCE, /* a client sent a source that is not its address */
  DROP_MALFORMED,      /* not a well-formed IPv4/IPv6 packet */
  DROP_NO_SESSION,     /* from the TUN to a tunnel address nobody holds */
  DROP_QUEUE_FULL,     /* the session's send queue is full */
  DROP_TUN_WRITE,      /* the TUN device refused the packet */
  DROP_POLICY,         /* the policy does not let the client reach that */
  DROP_UNSOLICITED,    /* to a client, neither a reply nor allowed inbound */
  DROP_FLOWS_FULL,     /* the session's connection table is full */
  DROP_MAX
};

const char *drop_reason_name(enum drop_reason r);

/* Which pre-authentication limit closed a connection at accept. */
enum refuse_reason {
  REFUSE_HANDSHAKES,        /* max_handshakes in progress */
  REFUSE_SOURCE_HANDSHAKES, /* max_handshakes_per_source from one address */
  REFUSE_SOURCE_RATE,       /* connect_rate_per_source exceeded */
  REFUSE_MAX
};

const char *refuse_reason_name(enum refuse_reason r);

#define REASON_SLOTS 16 /* indexed by enum zt_reason */

struct server_counters {
  uint64_t connections;     /* TCP connections accepted */
  uint64_t refused;         /* connections closed at accept: limits */
  uint64_t refused_by[REFUSE_MAX];
  uint64_t idle_timeouts;      /* sessions closed by idle_timeout */
  uint64_t admitted;
  uint64_t reauths;         /* sessions taken over by a new connection */
  uint64_t rejected[REASON_SLOTS]; /* closed before admission, by reason;
                                      [ZT_REASON_TIMEOUT]: handshake_timeout */
  uint64_t ended;
  /* Dropped packets are counted per data-plane thread (dplane.h):
   * server_drops adds them up. */
  uint64_t revoked;         /* live sessions closed by revocation or expiry */
  uint64_t policy_closed;   /* live sessions no longer admitted after a reload */
  uint64_t flows_dropped;   /* flows ended by a reload that narrowed a policy */
};

#endif

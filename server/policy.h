/* The policy file (policy.conf): who may use which device, and which
 * destinations each (user, device) pair may reach. This is the parsed,
 * validated, immutable form, and the reference evaluator that walks the
 * rules in order. The concentrator enforces a compiled form (acl.h); this
 * walk answers "which rule decides" for the offline query and the policy's
 * own tests, and is the reference the compiled form is tested against.
 *
 * Semantics (the README documents them for administrators):
 * - default deny;
 * - a rule applies to a pair when one of its users matchers matches the user
 *   AND one of its devices matchers matches the device; a matcher is a name
 *   ("alice"), a group ("group:engineering", an OU of the certificate) or "*";
 * - the pair is admitted when at least one applying rule has a non-empty
 *   allow list, and, when the device has an entry in devices, the user
 *   matches one of its owners;
 * - a packet from the client to a destination is allowed when an allow entry
 *   of an applying rule matches it and no deny entry of any applying rule
 *   does (deny wins, whatever the order);
 * - an unsolicited packet from the network to the client is allowed when an
 *   inbound entry of an applying rule matches its source and the client's
 *   port; deny entries describe destinations and apply to outbound packets
 *   only (replies to flows are connection tracking's business, conntrack.h). */
#ifndef ZTVPN_POLICY_H
#define ZTVPN_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "identity.h"

#define POLICY_NAME_MAX 64       /* rule names */
#define POLICY_MAX_RULES 200000
#define POLICY_MAX_DEVICES 100000
#define POLICY_MAX_TESTS 10000
#define POLICY_MAX_MATCHERS 256  /* users/devices/owners per entry */
#define POLICY_MAX_DESTS 1024    /* allow/deny/inbound strings per rule */
#define POLICY_MAX_DEST_LEN 512  /* one destination string */

/* users / devices / owners matchers */
enum policy_match_kind { PM_ANY, PM_NAME, PM_GROUP };
struct policy_match {
  enum policy_match_kind kind;
  char name[ZT_NAME_MAX + 1]; /* the name or the group; empty for PM_ANY */
};

/* The protocol part of a destination. */
enum policy_proto {
  PP_ANY,  /* every protocol, every port (a bare prefix, or "any") */
  PP_TCP,  /* "tcp" (all ports) or "tcp/22", "tcp/80,443", "tcp/8000-8100" */
  PP_UDP,
  PP_ICMP, /* "icmp": ICMP for an IPv4 prefix, ICMPv6 for an IPv6 prefix */
};

/* One destination, flattened: "198.51.100.10 tcp/80,443 icmp" becomes three
 * entries (tcp 80-80, tcp 443-443, icmp), each with the source line. */
struct policy_entry {
  struct zt_prefix prefix;
  enum policy_proto proto;
  uint16_t port_lo, port_hi; /* tcp/udp; 0-65535 for "tcp" alone */
  unsigned line;
};

struct policy_rule {
  char name[POLICY_NAME_MAX + 1];
  unsigned line;
  size_t nusers, ndevices;
  struct policy_match *users, *devices;
  size_t nallow, ndeny, ninbound;
  struct policy_entry *allow, *deny, *inbound;
};

struct policy_device {
  char id[ZT_NAME_MAX + 1]; /* device CN */
  unsigned line;
  size_t nowners;
  struct policy_match *owners; /* user matchers */
};

/* What a packet looks like to the policy. For PP_TCP/PP_UDP entries |port|
 * is the destination port (allow, deny) or the client's port (inbound);
 * |has_port| is 0 for non-first fragments, which only PP_ANY entries match. */
struct policy_query {
  struct zt_ip addr; /* destination (outbound) or source (inbound) */
  uint8_t ipproto;   /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP(V6), other */
  int has_port;
  uint16_t port;
};

enum policy_dir { POLICY_OUT, POLICY_IN };

enum policy_verdict {
  PV_DENY,   /* no allow entry matched (default deny) */
  PV_ALLOW,
  PV_DENIED, /* a deny entry matched */
};

/* An expectation from the policy's tests list. */
enum policy_expect { PE_ALLOW, PE_DENY, PE_REJECT };
struct policy_test {
  unsigned line;
  struct zt_identity user, device; /* name and groups only */
  enum policy_dir dir;             /* "to" (out) or "from" (in) */
  struct policy_query query;
  enum policy_expect expect;
  char rule[POLICY_NAME_MAX + 1];  /* expected deciding rule, or "" */
};

struct policy {
  char file[4096];
  size_t nrules, ndevices, ntests;
  struct policy_rule *rules;
  struct policy_device *devices; /* sorted by id */
  struct policy_test *tests;
};

/* policy_load reads, validates and tests |path|: every syntax or semantic
 * error and every failing expectation in its tests list is an error. On
 * failure it returns NULL and writes "FILE:LINE: message" to |err|. The
 * caller frees the result with policy_free. */
struct policy *policy_load(const char *path, char *err, size_t errlen);

/* policy_from_routes makes the implicit policy of a configuration without a
 * policy file: one rule "routes" for every user on every device allowing
 * all traffic to each of |routes|. Returns NULL on allocation failure. */
struct policy *policy_from_routes(const struct zt_prefix *routes, size_t n);

/* policy_free releases |p|; NULL is accepted. */
void policy_free(struct policy *p);

/* policy_match_ok says whether matcher |m| matches identity |id|. */
int policy_match_ok(const struct policy_match *m, const struct zt_identity *id);

/* policy_rule_applies says whether |r| applies to the pair. */
int policy_rule_applies(const struct policy_rule *r, const struct zt_identity *user,
                        const struct zt_identity *device);

/* policy_admits decides admission of the pair. Returns 1, or 0 with the
 * reason shown to the client in |why| (e.g. "user bob is not an owner of
 * device laptop-042", "no rule admits user bob on device laptop-077"). */
int policy_admits(const struct policy *p, const struct zt_identity *user,
                  const struct zt_identity *device, char *why, size_t whylen);

/* policy_entry_matches says whether entry |e| matches |q|. */
int policy_entry_matches(const struct policy_entry *e, const struct policy_query *q);

/* policy_eval is the reference evaluator: it walks every rule. It does not
 * check admission. |*rule| (may be NULL) receives the deciding rule: the
 * first applying rule (in file order) whose deny entry matched (outbound
 * only), else the first whose allow (outbound) or inbound (inbound) entry
 * matched, else NULL for the default deny. */
enum policy_verdict policy_eval(const struct policy *p, const struct zt_identity *user,
                                const struct zt_identity *device, enum policy_dir dir,
                                const struct policy_query *q,
                                const struct policy_rule **rule);

/* policy_query_parse parses "ADDRESS [PROTO[/PORT]]" as written in tests
 * and on the command line: "198.51.100.10 tcp/22", "fd00:c0::10 icmp",
 * "198.51.100.10 udp/53", "198.51.100.10" (any protocol, no port). Returns 1,
 * or 0 with a static description in |*err|. */
int policy_query_parse(const char *s, struct policy_query *q, const char **err);

/* policy_identity_parse parses "NAME" or "NAME:GROUP,GROUP" into |id| (name
 * and groups only), for tests and the offline query. Returns 1 or 0. */
int policy_identity_parse(const char *s, struct zt_identity *id);

const char *policy_verdict_name(enum policy_verdict v); /* "allow", "deny", "denied" */

#endif

/* The policy of one (user, device) pair, compiled at admission (and again
 * at each reload) into what the packet path asks on every packet. Lookups
 * cost one longest-prefix walk over the address bits plus a binary search
 * in a port set bounded by the port space: nothing grows with the number
 * of rules.
 *
 * Layout: per direction (out: destination; in: unsolicited source) and per
 * family, a binary trie of the prefixes of the pair's entries. At compile
 * time every stored node receives the union of its own and all its
 * ancestors' allow and deny sets, so a lookup only needs the deepest stored
 * node on the address's path: deny set first (deny wins), then allow set.
 * An acl is immutable once built and owns all its memory, so a reload can
 * build the new one beside the old and swap. */
#ifndef ZTVPN_ACL_H
#define ZTVPN_ACL_H

#include <stddef.h>

#include "addr.h"
#include "policy.h"

struct acl;

/* acl_compile builds the acl of the pair from the rules of |p| that apply
 * to it. Returns NULL on allocation failure. The caller owns the one
 * reference. */
struct acl *acl_compile(const struct policy *p, const struct zt_identity *user,
                        const struct zt_identity *device);

/* acl_compile_rules builds the acl of |nrules| applying |rules| (in file
 * order): acl_compile once it has found them. Returns NULL on allocation
 * failure. The rules are only read during the call. */
struct acl *acl_compile_rules(const struct policy_rule *const *rules, size_t nrules);

/* acl_up_ref takes another reference to |a|. */
void acl_up_ref(struct acl *a);

/* acl_refs returns the number of references to |a| (for the cache). */
unsigned acl_refs(const struct acl *a);

/* acl_free drops a reference to |a| and frees it with the last one; NULL is
 * accepted. */
void acl_free(struct acl *a);

/* acl_check gives the verdict for |q| in direction |dir|; it always agrees
 * with policy_eval on the same policy and pair (the unit tests check this
 * on random policies). */
enum policy_verdict acl_check(const struct acl *a, enum policy_dir dir,
                              const struct policy_query *q);

/* acl_routes writes the prefixes the pair may reach outbound (allow
 * entries; also inbound sources, so replies route back), without prefixes
 * covered by others, into |out| (at most |max|), of family |family|
 * (AF_INET or AF_INET6). When there are more than |max|, prefixes are
 * widened until they fit: a wider route is safe, since the policy still
 * decides on every packet. Returns the number written. */
size_t acl_routes(const struct acl *a, int family, struct zt_prefix *out, size_t max);

/* acl_memory returns the bytes |a| holds, for status output and sizing. */
size_t acl_memory(const struct acl *a);

#endif

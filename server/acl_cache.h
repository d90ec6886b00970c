/* Compiled policies shared between sessions. Pairs to which exactly the
 * same rules apply (everyone in a group on the managed laptops, say) need
 * the same acl: compiling it once per rule set instead of once per session
 * saves the compile time at each admission and the memory of every copy,
 * which matters with large policies (100,000 rules: about 120 ms and 3 MB a
 * copy). A cache belongs to one policy; a reload makes a new one. */
#ifndef ZTVPN_ACL_CACHE_H
#define ZTVPN_ACL_CACHE_H

#include <stddef.h>

#include "acl.h"
#include "policy.h"

/* At most this many rule sets are kept; past it, sets no session uses any
 * more are dropped, and if every one is in use the next acl is compiled for
 * its session alone. */
#define ACL_CACHE_MAX 1024

struct acl_cache;

/* acl_cache_new makes an empty cache for |p|, which must outlive it.
 * Returns NULL on allocation failure. */
struct acl_cache *acl_cache_new(const struct policy *p);

/* acl_cache_free drops the cache's references; acls still held by
 * sessions live on. NULL is accepted. */
void acl_cache_free(struct acl_cache *c);

/* acl_cache_get returns a new reference to the acl of the pair: the cached
 * one when a pair with the same applying rules has one, else a freshly
 * compiled one (then cached). Returns NULL on allocation failure. */
struct acl *acl_cache_get(struct acl_cache *c, const struct zt_identity *user,
                          const struct zt_identity *device);

/* acl_cache_count returns the number of rule sets cached. */
size_t acl_cache_count(const struct acl_cache *c);

#endif

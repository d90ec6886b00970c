/* Shared between the policy*.c files only (not an interface for the rest of
 * the server): the text forms the loader, the offline query and the tests
 * list have in common, and the check of one expectation. */
#ifndef ZTVPN_POLICY_IMPL_H
#define ZTVPN_POLICY_IMPL_H

#include <stddef.h>

#include "policy.h"

/* Entries one destination string can flatten into, at most: every service
 * or port takes at least two characters ("1,"). */
#define POLICY_DEST_MAX_ENTRIES (POLICY_MAX_DEST_LEN / 2 + 1)

/* policy_name_ok says whether |s| can be a user, device or group name: 1 to
 * ZT_NAME_MAX printable ASCII characters, no space at either end (what
 * zt_identity_from_cert accepts from a certificate). */
int policy_name_ok(const char *s);

/* policy_rule_name_ok says whether |s| can be a rule name: 1 to
 * POLICY_NAME_MAX characters of [A-Za-z0-9._-]. */
int policy_rule_name_ok(const char *s);

/* policy_match_parse parses "*", "group:NAME" or "NAME" into |m|. Returns 1,
 * or 0 with a static description in |*err|. */
int policy_match_parse(const char *s, struct policy_match *m, const char **err);

/* policy_dest_parse flattens destination string |s| ("PREFIX [SERVICE...]")
 * into entries carrying |line|. With |out| NULL it only counts them; else it
 * writes at most |max|. |*n| receives the count. Returns 1, or 0 with the
 * offending token described in |why|. */
int policy_dest_parse(const char *s, unsigned line, struct policy_entry *out,
                      size_t max, size_t *n, char *why, size_t whylen);

/* policy_query_format writes |q| the way policy_query_parse reads it
 * ("198.51.100.10 tcp/22") into |buf| and returns it. */
const char *policy_query_format(const struct policy_query *q, char *buf, size_t len);

/* policy_test_check runs expectation |t| against |p| (loaded, devices
 * sorted). Returns 1 when it holds, or 0 with what happened instead in
 * |msg| ("user bob on device laptop-077 to 198.51.100.10 tcp/22: expected
 * allow, got deny (no rule matched)"). */
int policy_test_check(const struct policy *p, const struct policy_test *t, char *msg,
                      size_t msglen);

#endif

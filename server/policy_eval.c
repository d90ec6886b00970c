/* The reference evaluator: admission of a (user, device) pair and the
 * verdict on one packet, by walking the rules in file order. It is the
 * plain statement of the semantics in policy.h; the concentrator's packet
 * path uses the compiled form (acl.h), which is tested against this. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "policy.h"

int policy_match_ok(const struct policy_match *m, const struct zt_identity *id) {
  switch (m->kind) {
    case PM_ANY:
      return 1;
    case PM_NAME:
      return strcmp(m->name, id->name) == 0;
    case PM_GROUP:
      for (size_t i = 0; i < id->ngroups && i < ZT_MAX_GROUPS; i++)
        if (strcmp(m->name, id->groups[i]) == 0) return 1;
      return 0;
  }
  return 0;
}

static int any_match(const struct policy_match *m, size_t n, const struct zt_identity *id) {
  for (size_t i = 0; i < n; i++)
    if (policy_match_ok(&m[i], id)) return 1;
  return 0;
}

int policy_rule_applies(const struct policy_rule *r, const struct zt_identity *user,
                        const struct zt_identity *device) {
  return any_match(r->users, r->nusers, user) && any_match(r->devices, r->ndevices, device);
}

static int device_cmp(const void *key, const void *elem) {
  return strcmp(key, ((const struct policy_device *)elem)->id);
}

int policy_admits(const struct policy *p, const struct zt_identity *user,
                  const struct zt_identity *device, char *why, size_t whylen) {
  const struct policy_device *d = NULL;
  if (p->ndevices > 0)
    d = bsearch(device->name, p->devices, p->ndevices, sizeof(*d), device_cmp);
  if (d && !any_match(d->owners, d->nowners, user)) {
    if (why && whylen)
      snprintf(why, whylen, "user %s is not an owner of device %s", user->name,
               device->name);
    return 0;
  }
  for (size_t i = 0; i < p->nrules; i++) {
    const struct policy_rule *r = &p->rules[i];
    if (r->nallow > 0 && policy_rule_applies(r, user, device)) return 1;
  }
  if (why && whylen)
    snprintf(why, whylen, "no rule admits user %s on device %s", user->name, device->name);
  return 0;
}

int policy_entry_matches(const struct policy_entry *e, const struct policy_query *q) {
  if (!zt_prefix_contains(&e->prefix, &q->addr)) return 0;
  switch (e->proto) {
    case PP_ANY:
      return 1;
    case PP_TCP:
      return q->ipproto == IPPROTO_TCP && q->has_port && q->port >= e->port_lo &&
             q->port <= e->port_hi;
    case PP_UDP:
      return q->ipproto == IPPROTO_UDP && q->has_port && q->port >= e->port_lo &&
             q->port <= e->port_hi;
    case PP_ICMP:
      /* One word in the file for both: the prefix's family picks the protocol. */
      return q->ipproto == (e->prefix.family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);
  }
  return 0;
}

static int any_entry(const struct policy_entry *e, size_t n, const struct policy_query *q) {
  for (size_t i = 0; i < n; i++)
    if (policy_entry_matches(&e[i], q)) return 1;
  return 0;
}

enum policy_verdict policy_eval(const struct policy *p, const struct zt_identity *user,
                                const struct zt_identity *device, enum policy_dir dir,
                                const struct policy_query *q,
                                const struct policy_rule **rule) {
  const struct policy_rule *allowed_by = NULL;
  enum policy_verdict v = PV_DENY;
  for (size_t i = 0; i < p->nrules; i++) {
    const struct policy_rule *r = &p->rules[i];
    if (!policy_rule_applies(r, user, device)) continue;
    if (dir == POLICY_IN) {
      if (any_entry(r->inbound, r->ninbound, q)) {
        allowed_by = r;
        break;
      }
      continue;
    }
    /* Deny wins wherever it stands, so the walk goes on after an allow. */
    if (any_entry(r->deny, r->ndeny, q)) {
      if (rule) *rule = r;
      return PV_DENIED;
    }
    if (!allowed_by && any_entry(r->allow, r->nallow, q)) allowed_by = r;
  }
  if (allowed_by) v = PV_ALLOW;
  if (rule) *rule = allowed_by;
  return v;
}

const char *policy_verdict_name(enum policy_verdict v) {
  switch (v) {
    case PV_DENY:
      return "deny";
    case PV_ALLOW:
      return "allow";
    case PV_DENIED:
      return "denied";
  }
  return "?";
}

/* The expectations of a policy's tests list, checked at every load so that
 * a policy which no longer says what its author meant is refused, with a
 * message that says what the policy decided instead and which rule did. */
#include <stdio.h>
#include <string.h>

#include "policy.h"
#include "policy_impl.h"

/* first_admitting finds the rule that admits the pair (for a test that
 * expected a rejection). */
static const struct policy_rule *first_admitting(const struct policy *p,
                                                 const struct policy_test *t) {
  for (size_t i = 0; i < p->nrules; i++)
    if (p->rules[i].nallow > 0 && policy_rule_applies(&p->rules[i], &t->user, &t->device))
      return &p->rules[i];
  return NULL;
}

static void expected_text(const struct policy_test *t, char *buf, size_t len) {
  const char *what = t->expect == PE_ALLOW ? "allow" : "deny";
  if (t->rule[0])
    snprintf(buf, len, "%s by rule \"%s\"", what, t->rule);
  else
    snprintf(buf, len, "%s", what);
}

static void got_text(enum policy_verdict v, const struct policy_rule *r, char *buf,
                     size_t len) {
  if (v == PV_DENY || !r)
    snprintf(buf, len, "deny (no rule matched)");
  else
    snprintf(buf, len, "%s by rule \"%s\"", policy_verdict_name(v), r->name);
}

int policy_test_check(const struct policy *p, const struct policy_test *t, char *msg,
                      size_t msglen) {
  char why[256], query[POLICY_MAX_DEST_LEN], subject[512];
  int admitted = policy_admits(p, &t->user, &t->device, why, sizeof(why));
  if (t->expect == PE_REJECT) {
    if (!admitted) return 1;
    const struct policy_rule *r = first_admitting(p, t);
    snprintf(msg, msglen, "user %s on device %s: expected reject, got admitted by rule \"%s\"",
             t->user.name, t->device.name, r ? r->name : "?");
    return 0;
  }
  snprintf(subject, sizeof(subject), "user %s on device %s %s %s", t->user.name,
           t->device.name, t->dir == POLICY_OUT ? "to" : "from",
           policy_query_format(&t->query, query, sizeof(query)));
  char want[128], got[128];
  expected_text(t, want, sizeof(want));
  if (!admitted) {
    snprintf(msg, msglen, "%s: expected %s, got reject: %s", subject, want, why);
    return 0;
  }
  const struct policy_rule *r = NULL;
  enum policy_verdict v = policy_eval(p, &t->user, &t->device, t->dir, &t->query, &r);
  int ok = t->expect == PE_ALLOW ? v == PV_ALLOW : v != PV_ALLOW;
  if (ok && t->rule[0]) ok = r != NULL && strcmp(r->name, t->rule) == 0;
  if (ok) return 1;
  got_text(v, r, got, sizeof(got));
  snprintf(msg, msglen, "%s: expected %s, got %s", subject, want, got);
  return 0;
}

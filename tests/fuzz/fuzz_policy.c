/* policy_load (server/policy.c) on any bytes written as policy.conf: it
 * must refuse with "FILE:LINE: message" or give a policy that keeps every
 * promise of policy.h, which the evaluator then walks. The same bytes, when
 * short, also go through the query and identity parsers. inc.conf, which
 * inputs may @include, holds a valid devices list. */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz_file.h"
#include "policy.h"

static char err[1024];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  ff_init("policy.conf",
          "devices = ( { id = \"laptop-042\"; owners = [ \"alice\", \"group:admins\" ]; } );\n");
  return 0;
}

static void check_name(const char *s, size_t size, int may_be_empty) {
  size_t n = strnlen(s, size);
  FUZZ_CHECK(n < size);
  FUZZ_CHECK(may_be_empty || n > 0);
  for (size_t i = 0; i < n; i++) FUZZ_CHECK(s[i] >= 0x20 && s[i] <= 0x7e);
}

static void check_matchers(const struct policy_match *m, size_t n) {
  FUZZ_CHECK(n >= 1 && n <= POLICY_MAX_MATCHERS && m != NULL);
  for (size_t i = 0; i < n; i++) {
    FUZZ_CHECK(m[i].kind == PM_ANY || m[i].kind == PM_NAME || m[i].kind == PM_GROUP);
    check_name(m[i].name, sizeof(m[i].name), m[i].kind == PM_ANY);
    FUZZ_CHECK((m[i].kind == PM_ANY) == (m[i].name[0] == '\0'));
  }
}

static void check_entries(const struct policy_entry *e, size_t n) {
  FUZZ_CHECK(n == 0 || e != NULL);
  for (size_t i = 0; i < n; i++) {
    const struct zt_prefix *p = &e[i].prefix;
    FUZZ_CHECK(p->family == AF_INET || p->family == AF_INET6);
    FUZZ_CHECK(p->len <= (p->family == AF_INET ? 32 : 128));
    FUZZ_CHECK(e[i].port_lo <= e[i].port_hi);
    if (e[i].proto == PP_TCP || e[i].proto == PP_UDP)
      FUZZ_CHECK(e[i].port_lo >= 1 || e[i].port_hi == 65535);
    else
      FUZZ_CHECK(e[i].proto == PP_ANY || e[i].proto == PP_ICMP);
    FUZZ_CHECK(e[i].line > 0);
  }
}

static void check_policy(const struct policy *p) {
  FUZZ_CHECK(p->nrules <= POLICY_MAX_RULES && p->ndevices <= POLICY_MAX_DEVICES &&
             p->ntests <= POLICY_MAX_TESTS);
  for (size_t i = 0; i < p->nrules; i++) {
    const struct policy_rule *r = &p->rules[i];
    check_name(r->name, sizeof(r->name), 0);
    check_matchers(r->users, r->nusers);
    check_matchers(r->devices, r->ndevices);
    FUZZ_CHECK(r->nallow + r->ndeny + r->ninbound > 0);
    check_entries(r->allow, r->nallow);
    check_entries(r->deny, r->ndeny);
    check_entries(r->inbound, r->ninbound);
    for (size_t j = 0; j < i && j < 8; j++) FUZZ_CHECK(strcmp(p->rules[j].name, r->name) != 0);
  }
  for (size_t i = 0; i < p->ndevices; i++) {
    check_name(p->devices[i].id, sizeof(p->devices[i].id), 0);
    check_matchers(p->devices[i].owners, p->devices[i].nowners);
    /* sorted and unique: policy_admits relies on it */
    if (i > 0) FUZZ_CHECK(strcmp(p->devices[i - 1].id, p->devices[i].id) < 0);
  }
  /* A loaded policy passed its own tests: running them again must agree. */
  for (size_t i = 0; i < p->ntests; i++) {
    const struct policy_test *t = &p->tests[i];
    check_name(t->user.name, sizeof(t->user.name), 0);
    check_name(t->device.name, sizeof(t->device.name), 0);
    FUZZ_CHECK(t->user.ngroups <= ZT_MAX_GROUPS && t->device.ngroups <= ZT_MAX_GROUPS);
    char why[256];
    int admitted = policy_admits(p, &t->user, &t->device, why, sizeof(why));
    if (t->expect == PE_REJECT) {
      FUZZ_CHECK(!admitted && why[0] != '\0');
      continue;
    }
    FUZZ_CHECK(admitted);
    const struct policy_rule *r = NULL;
    enum policy_verdict v = policy_eval(p, &t->user, &t->device, t->dir, &t->query, &r);
    FUZZ_CHECK((v == PV_ALLOW) == (t->expect == PE_ALLOW));
    FUZZ_CHECK((v == PV_DENY) == (r == NULL));
    if (t->rule[0]) FUZZ_CHECK(r != NULL && strcmp(r->name, t->rule) == 0);
  }
}

/* The text parsers on the input as one string. */
static void check_strings(const uint8_t *data, size_t size) {
  char s[600];
  if (size >= sizeof(s)) return;
  memcpy(s, data, size);
  s[size] = '\0';
  struct policy_query q;
  const char *qerr = NULL;
  if (policy_query_parse(s, &q, &qerr)) {
    FUZZ_CHECK(q.addr.family == AF_INET || q.addr.family == AF_INET6);
    FUZZ_CHECK(q.has_port == (q.ipproto == IPPROTO_TCP || q.ipproto == IPPROTO_UDP));
    FUZZ_CHECK(!q.has_port || q.port != 0);
  } else {
    FUZZ_CHECK(qerr != NULL && qerr[0] != '\0');
  }
  struct zt_identity id;
  if (policy_identity_parse(s, &id)) {
    check_name(id.name, sizeof(id.name), 0);
    FUZZ_CHECK(id.ngroups <= ZT_MAX_GROUPS);
    for (size_t i = 0; i < id.ngroups; i++) check_name(id.groups[i], sizeof(id.groups[i]), 0);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_strings(data, size);
  if (!ff_includes_ok(data, size, "policy.conf")) return 0;
  ff_write(data, size);
  memset(err, 0x7f, sizeof(err));
  struct policy *p = policy_load(ff_file, err, sizeof(err));
  if (p) {
    FUZZ_CHECK(strcmp(p->file, ff_file) == 0);
    check_policy(p);
    policy_free(p);
  } else {
    ff_check_err(err, sizeof(err));
  }
  return 0;
}

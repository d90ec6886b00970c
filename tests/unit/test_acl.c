/* acl: the compiled per-pair policy. Table-driven cases, then a randomized
 * differential test against the reference walk policy_eval on thousands of
 * random rules and hundreds of thousands of random packets, and the
 * properties of the routes. Policies are built in memory, not parsed. */
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "acl.h"
#include "addr.h"
#include "policy.h"

/* ---- policies, identities and queries from text ------------------------ */

#define TR_MAX 8

/* A rule as a table writes it: matchers separated by commas ("alice",
 * "group:eng", "*"); destinations "PREFIX [SERVICE]" with at most one
 * service: any, icmp, tcp, udp, tcp/N, tcp/N-M, udp/N, udp/N-M. */
struct trule {
  const char *users, *devices;
  const char *allow[TR_MAX], *deny[TR_MAX], *inbound[TR_MAX];
};

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size);
  if (p == NULL) fail_msg("out of memory");
  return p;
}

static void matchers_of(const char *s, struct policy_match **out, size_t *n) {
  char buf[256];
  snprintf(buf, sizeof(buf), "%s", s);
  *n = 0;
  *out = xcalloc(8, sizeof(**out));
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    struct policy_match *m = &(*out)[(*n)++];
    if (strcmp(t, "*") == 0) {
      m->kind = PM_ANY;
    } else if (strncmp(t, "group:", 6) == 0) {
      m->kind = PM_GROUP;
      snprintf(m->name, sizeof(m->name), "%s", t + 6);
    } else {
      m->kind = PM_NAME;
      snprintf(m->name, sizeof(m->name), "%s", t);
    }
  }
}

static void entry_of(const char *s, struct policy_entry *e) {
  char buf[128];
  const char *err = "";
  snprintf(buf, sizeof(buf), "%s", s);
  char *svc = strchr(buf, ' ');
  if (svc) *svc++ = '\0';
  memset(e, 0, sizeof(*e));
  if (!zt_prefix_parse(buf, &e->prefix, &err)) fail_msg("%s: %s", s, err);
  e->proto = PP_ANY;
  if (svc == NULL || strcmp(svc, "any") == 0) return;
  if (strcmp(svc, "icmp") == 0) {
    e->proto = PP_ICMP;
    return;
  }
  unsigned lo = 0, hi = 65535;
  if (strncmp(svc, "tcp", 3) == 0)
    e->proto = PP_TCP;
  else if (strncmp(svc, "udp", 3) == 0)
    e->proto = PP_UDP;
  else
    fail_msg("%s: bad service", s);
  if (svc[3] == '/') {
    int k = sscanf(svc + 4, "%u-%u", &lo, &hi);
    if (k == 1) hi = lo;
    if (k < 1 || hi > 65535) fail_msg("%s: bad ports", s);
  }
  e->port_lo = (uint16_t)lo;
  e->port_hi = (uint16_t)hi;
}

static size_t entries_of(const char *const *strs, struct policy_entry **out) {
  size_t n = 0;
  while (n < TR_MAX && strs[n]) n++;
  *out = xcalloc(n, sizeof(**out));
  for (size_t i = 0; i < n; i++) entry_of(strs[i], &(*out)[i]);
  return n;
}

static struct policy *policy_of(const struct trule *tr, size_t n) {
  struct policy *p = xcalloc(1, sizeof(*p));
  p->rules = xcalloc(n, sizeof(*p->rules));
  p->nrules = n;
  for (size_t i = 0; i < n; i++) {
    struct policy_rule *r = &p->rules[i];
    snprintf(r->name, sizeof(r->name), "r%zu", i);
    r->line = (unsigned)i + 1;
    matchers_of(tr[i].users, &r->users, &r->nusers);
    matchers_of(tr[i].devices, &r->devices, &r->ndevices);
    r->nallow = entries_of(tr[i].allow, &r->allow);
    r->ndeny = entries_of(tr[i].deny, &r->deny);
    r->ninbound = entries_of(tr[i].inbound, &r->inbound);
  }
  return p;
}

/* "alice" or "alice:eng,ops" */
static struct zt_identity ident(const char *s) {
  struct zt_identity id;
  char buf[256];
  memset(&id, 0, sizeof(id));
  snprintf(buf, sizeof(buf), "%s", s);
  char *groups = strchr(buf, ':');
  if (groups) *groups++ = '\0';
  snprintf(id.name, sizeof(id.name), "%s", buf);
  for (char *save = NULL, *t = groups ? strtok_r(groups, ",", &save) : NULL; t;
       t = strtok_r(NULL, ",", &save))
    snprintf(id.groups[id.ngroups++], sizeof(id.groups[0]), "%s", t);
  return id;
}

/* "ADDR" or "ADDR any" (an unknown protocol, no port), "ADDR tcp/22",
 * "ADDR tcp" (a non-first fragment: no port), "ADDR icmp" (of the address's
 * family), "ADDR proto/N" (protocol N, no port). */
static struct policy_query query_of(const char *s) {
  struct policy_query q;
  char buf[128];
  memset(&q, 0, sizeof(q));
  snprintf(buf, sizeof(buf), "%s", s);
  char *svc = strchr(buf, ' ');
  if (svc) *svc++ = '\0';
  if (!zt_ip_parse(buf, &q.addr)) fail_msg("%s: bad address", s);
  q.ipproto = 255;
  if (svc == NULL || strcmp(svc, "any") == 0) return q;
  unsigned v = 0;
  if (strcmp(svc, "icmp") == 0) {
    q.ipproto = q.addr.family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
  } else if (sscanf(svc, "proto/%u", &v) == 1) {
    q.ipproto = (uint8_t)v;
  } else if (strncmp(svc, "tcp", 3) == 0 || strncmp(svc, "udp", 3) == 0) {
    q.ipproto = svc[0] == 't' ? IPPROTO_TCP : IPPROTO_UDP;
    if (svc[3] == '/') {
      if (sscanf(svc + 4, "%u", &v) != 1 || v > 65535) fail_msg("%s: bad port", s);
      q.has_port = 1;
      q.port = (uint16_t)v;
    }
  } else {
    fail_msg("%s: bad service", s);
  }
  return q;
}

static const char *query_str(const struct policy_query *q, char *buf, size_t len) {
  char a[ZT_ADDR_STRLEN];
  snprintf(buf, len, "%s proto %u has_port %d port %u", zt_ip_format(&q->addr, a), q->ipproto,
           q->has_port, q->port);
  return buf;
}

/* ---- table-driven cases -------------------------------------------------- */

struct tcase {
  const char *query;
  enum policy_dir dir;
  enum policy_verdict want;
};

static void run_cases(const struct trule *tr, size_t nrules, const char *user,
                      const char *device, const struct tcase *c, size_t n) {
  struct policy *p = policy_of(tr, nrules);
  struct zt_identity u = ident(user), d = ident(device);
  struct acl *a = acl_compile(p, &u, &d);
  assert_non_null(a);
  for (size_t i = 0; i < n; i++) {
    struct policy_query q = query_of(c[i].query);
    enum policy_verdict got = acl_check(a, c[i].dir, &q);
    enum policy_verdict ref = policy_eval(p, &u, &d, c[i].dir, &q, NULL);
    if (got != c[i].want || ref != c[i].want)
      fail_msg("%s/%s %s \"%s\": acl %s, policy_eval %s, want %s", user, device,
               c[i].dir == POLICY_OUT ? "to" : "from", c[i].query, policy_verdict_name(got),
               policy_verdict_name(ref), policy_verdict_name(c[i].want));
  }
  acl_free(a);
  policy_free(p);
}

#define RUN(rules, user, device, cases)                                                   \
  run_cases(rules, sizeof(rules) / sizeof(rules[0]), user, device, cases,                 \
            sizeof(cases) / sizeof(cases[0]))

static void test_services(void **state) {
  static const struct trule rules[] = {
      {"*", "*",
       .allow = {"198.51.100.10 tcp/22", "198.51.100.10 tcp/80-81", "198.51.100.10 tcp/82",
                 "198.51.100.10 udp/53", "198.51.100.20 icmp", "198.51.100.30",
                 "fd00:c0::/64 icmp", "fd00:c0::10 tcp/443"}},
  };
  static const struct tcase cases[] = {
      {"198.51.100.10 tcp/22", POLICY_OUT, PV_ALLOW},
      {"198.51.100.10 tcp/21", POLICY_OUT, PV_DENY},
      {"198.51.100.10 tcp/23", POLICY_OUT, PV_DENY},
      {"198.51.100.10 tcp/79", POLICY_OUT, PV_DENY},
      {"198.51.100.10 tcp/80", POLICY_OUT, PV_ALLOW},
      {"198.51.100.10 tcp/81", POLICY_OUT, PV_ALLOW},
      {"198.51.100.10 tcp/82", POLICY_OUT, PV_ALLOW}, /* adjacent ranges merged */
      {"198.51.100.10 tcp/83", POLICY_OUT, PV_DENY},
      {"198.51.100.10 tcp/0", POLICY_OUT, PV_DENY},
      {"198.51.100.10 tcp/65535", POLICY_OUT, PV_DENY},
      {"198.51.100.10 udp/22", POLICY_OUT, PV_DENY},
      {"198.51.100.10 udp/53", POLICY_OUT, PV_ALLOW},
      {"198.51.100.10 tcp/53", POLICY_OUT, PV_DENY},
      {"198.51.100.10 tcp", POLICY_OUT, PV_DENY}, /* non-first fragment */
      {"198.51.100.10 icmp", POLICY_OUT, PV_DENY},
      {"198.51.100.10", POLICY_OUT, PV_DENY},
      {"198.51.100.11 tcp/22", POLICY_OUT, PV_DENY},
      {"198.51.100.20 icmp", POLICY_OUT, PV_ALLOW},
      {"198.51.100.20 proto/58", POLICY_OUT, PV_DENY}, /* ICMPv6 to an IPv4 prefix */
      {"198.51.100.20 tcp/22", POLICY_OUT, PV_DENY},
      {"198.51.100.30", POLICY_OUT, PV_ALLOW},
      {"198.51.100.30 tcp", POLICY_OUT, PV_ALLOW}, /* "any" takes fragments too */
      {"198.51.100.30 udp/0", POLICY_OUT, PV_ALLOW},
      {"198.51.100.30 proto/47", POLICY_OUT, PV_ALLOW},
      {"fd00:c0::1 icmp", POLICY_OUT, PV_ALLOW},
      {"fd00:c0::1 proto/1", POLICY_OUT, PV_DENY}, /* ICMPv4 to an IPv6 prefix */
      {"fd00:c0::1:0:0:1 icmp", POLICY_OUT, PV_ALLOW},
      {"fd00:c0:0:1::1 icmp", POLICY_OUT, PV_DENY},
      {"fd00:c0::10 tcp/443", POLICY_OUT, PV_ALLOW},
      {"fd00:c0::11 tcp/443", POLICY_OUT, PV_DENY},
      {"fd00:c0::10 icmp", POLICY_OUT, PV_ALLOW},
      /* allow entries say nothing about unsolicited inbound packets */
      {"198.51.100.30", POLICY_IN, PV_DENY},
      {"198.51.100.10 tcp/22", POLICY_IN, PV_DENY},
  };
  RUN(rules, "alice", "laptop-1", cases);
}

static void test_nesting(void **state) {
  static const struct trule rules[] = {
      {"*", "*",
       .allow = {"198.51.100.0/24 tcp/22", "198.51.100.128/25 tcp/80", "198.51.100.192/26 icmp",
                 "198.51.100.200 udp/53", "203.0.113.0/24"},
       .deny = {"198.51.100.200/29 tcp/22", "203.0.113.64/26 tcp/25"}},
      {"*", "*", .allow = {"0.0.0.0/0 tcp/443"}, .deny = {"203.0.113.66 tcp/443"}},
  };
  static const struct tcase cases[] = {
      {"198.51.100.1 tcp/22", POLICY_OUT, PV_ALLOW},
      {"198.51.100.1 tcp/80", POLICY_OUT, PV_DENY},
      {"198.51.100.129 tcp/22", POLICY_OUT, PV_ALLOW}, /* inherited from the /24 */
      {"198.51.100.129 tcp/80", POLICY_OUT, PV_ALLOW},
      {"198.51.100.129 icmp", POLICY_OUT, PV_DENY},
      {"198.51.100.193 icmp", POLICY_OUT, PV_ALLOW},
      {"198.51.100.193 tcp/80", POLICY_OUT, PV_ALLOW},
      {"198.51.100.200 udp/53", POLICY_OUT, PV_ALLOW},
      {"198.51.100.200 tcp/80", POLICY_OUT, PV_ALLOW},
      {"198.51.100.200 icmp", POLICY_OUT, PV_ALLOW},
      {"198.51.100.200 tcp/22", POLICY_OUT, PV_DENIED}, /* deny in a narrower prefix */
      {"198.51.100.207 tcp/22", POLICY_OUT, PV_DENIED},
      {"198.51.100.208 tcp/22", POLICY_OUT, PV_ALLOW},
      {"198.51.100.199 tcp/22", POLICY_OUT, PV_ALLOW},
      {"198.51.100.201 udp/53", POLICY_OUT, PV_DENY},
      {"198.51.100.1 tcp/443", POLICY_OUT, PV_ALLOW}, /* the /0 of the second rule */
      {"192.0.2.1 tcp/443", POLICY_OUT, PV_ALLOW},
      {"192.0.2.1 tcp/444", POLICY_OUT, PV_DENY},
      {"203.0.113.66 tcp/25", POLICY_OUT, PV_DENIED},
      {"203.0.113.66 tcp/26", POLICY_OUT, PV_ALLOW},
      {"203.0.113.66 tcp/443", POLICY_OUT, PV_DENIED}, /* deny wins over a later rule */
      {"203.0.113.65 tcp/443", POLICY_OUT, PV_ALLOW},
      {"203.0.113.63 tcp/25", POLICY_OUT, PV_ALLOW},
      {"203.0.113.128 tcp/25", POLICY_OUT, PV_ALLOW},
      {"203.0.113.66 udp/25", POLICY_OUT, PV_ALLOW},
      {"fd00::1 tcp/443", POLICY_OUT, PV_DENY}, /* an IPv4 /0 is not an IPv6 /0 */
  };
  RUN(rules, "alice", "laptop-1", cases);
}

static void test_deny_order(void **state) {
  /* deny before and after the allow, in another rule and in the same */
  static const struct trule rules[] = {
      {"*", "*", .deny = {"198.51.100.10 tcp/22", "fd00::/8 udp"}},
      {"*", "*", .allow = {"198.51.100.0/24", "fd00:1::/32"}, .deny = {"198.51.100.11"}},
      {"*", "*", .deny = {"198.51.100.12 icmp", "198.51.100.0/24 tcp/23"}},
      {"*", "*", .allow = {"198.51.100.0/24"}, .deny = {"0.0.0.0/0 tcp/9"}},
  };
  static const struct tcase cases[] = {
      {"198.51.100.10 tcp/22", POLICY_OUT, PV_DENIED},
      {"198.51.100.10 tcp/21", POLICY_OUT, PV_ALLOW},
      {"198.51.100.10 tcp", POLICY_OUT, PV_ALLOW},
      {"198.51.100.11 tcp/80", POLICY_OUT, PV_DENIED},
      {"198.51.100.11 tcp", POLICY_OUT, PV_DENIED},
      {"198.51.100.12 icmp", POLICY_OUT, PV_DENIED},
      {"198.51.100.12 udp/1", POLICY_OUT, PV_ALLOW},
      {"198.51.100.13 tcp/23", POLICY_OUT, PV_DENIED},
      {"198.51.100.13 tcp/9", POLICY_OUT, PV_DENIED},
      {"192.0.2.13 tcp/9", POLICY_OUT, PV_DENIED}, /* denied though never allowed */
      {"192.0.2.13 tcp/8", POLICY_OUT, PV_DENY},
      {"fd00:1::1 udp/53", POLICY_OUT, PV_DENIED},
      {"fd00:1::1 udp", POLICY_OUT, PV_ALLOW}, /* a fragment has no port to deny */
      {"fd00:1::1 tcp/53", POLICY_OUT, PV_ALLOW},
      {"fd00:2::1 tcp/53", POLICY_OUT, PV_DENY},
      /* deny entries are destinations: never applied inbound */
      {"198.51.100.11 tcp/80", POLICY_IN, PV_DENY},
  };
  RUN(rules, "alice", "laptop-1", cases);
}

static void test_inbound(void **state) {
  static const struct trule rules[] = {
      {"*", "*",
       .allow = {"198.51.100.0/24"},
       .deny = {"198.51.100.5"},
       .inbound = {"198.51.100.5 tcp/22", "fd00:9::/48 udp/5000-5010"}},
      {"group:ops", "*", .inbound = {"203.0.113.0/24 icmp"}},
  };
  static const struct tcase cases[] = {
      {"198.51.100.5 tcp/22", POLICY_IN, PV_ALLOW}, /* deny does not apply inbound */
      {"198.51.100.5 tcp/22", POLICY_OUT, PV_DENIED},
      {"198.51.100.5 tcp/23", POLICY_IN, PV_DENY},
      {"198.51.100.6 tcp/22", POLICY_IN, PV_DENY}, /* allowed out, not in */
      {"198.51.100.6 tcp/22", POLICY_OUT, PV_ALLOW},
      {"fd00:9::7 udp/5000", POLICY_IN, PV_ALLOW},
      {"fd00:9::7 udp/5010", POLICY_IN, PV_ALLOW},
      {"fd00:9::7 udp/5011", POLICY_IN, PV_DENY},
      {"fd00:9::7 udp", POLICY_IN, PV_DENY},
      {"fd00:9::7 udp/5000", POLICY_OUT, PV_DENY},
      {"fd00:9:1::7 udp/5000", POLICY_IN, PV_DENY},
      {"203.0.113.9 icmp", POLICY_IN, PV_ALLOW}, /* alice is in ops */
      {"203.0.113.9 icmp", POLICY_OUT, PV_DENY},
  };
  RUN(rules, "alice:eng,ops", "laptop-1", cases);
  static const struct tcase not_ops[] = {
      {"203.0.113.9 icmp", POLICY_IN, PV_DENY},
      {"198.51.100.5 tcp/22", POLICY_IN, PV_ALLOW},
  };
  RUN(rules, "bob:eng", "laptop-1", not_ops);
}

static void test_pairs(void **state) {
  static const struct trule rules[] = {
      {"alice", "group:managed", .allow = {"198.51.100.1"}},
      {"group:eng", "laptop-2", .allow = {"198.51.100.2"}},
      {"bob,carol", "*", .allow = {"198.51.100.3"}, .deny = {"198.51.100.1"}},
      {"*", "group:byod", .allow = {"198.51.100.4 tcp/443"}, .deny = {"198.51.100.2"}},
  };
  static const struct tcase alice_managed[] = {
      {"198.51.100.1", POLICY_OUT, PV_ALLOW}, {"198.51.100.2", POLICY_OUT, PV_DENY},
      {"198.51.100.3", POLICY_OUT, PV_DENY},  {"198.51.100.4 tcp/443", POLICY_OUT, PV_DENY},
  };
  RUN(rules, "alice", "laptop-1:managed", alice_managed);
  static const struct tcase alice_byod[] = {
      {"198.51.100.1", POLICY_OUT, PV_DENY},
      {"198.51.100.2", POLICY_OUT, PV_DENIED},
      {"198.51.100.4 tcp/443", POLICY_OUT, PV_ALLOW},
  };
  RUN(rules, "alice:eng", "phone-1:byod", alice_byod);
  static const struct tcase bob_laptop2[] = {
      {"198.51.100.1", POLICY_OUT, PV_DENIED}, {"198.51.100.2", POLICY_OUT, PV_ALLOW},
      {"198.51.100.3", POLICY_OUT, PV_ALLOW},  {"198.51.100.4 tcp/443", POLICY_OUT, PV_DENY},
  };
  RUN(rules, "bob:eng", "laptop-2", bob_laptop2);
  static const struct tcase eve[] = {
      {"198.51.100.1", POLICY_OUT, PV_DENY},
      {"198.51.100.2", POLICY_OUT, PV_DENY},
      {"198.51.100.3", POLICY_OUT, PV_DENY},
  };
  RUN(rules, "eve:managed", "laptop-9:eng", eve); /* groups do not cross over */
}

static void test_host_routes_and_edges(void **state) {
  static const struct trule rules[] = {
      {"*", "*",
       .allow = {"255.255.255.255", "0.0.0.0 tcp/1", "::/0 udp/53", "fd00::1", "fd00::/127 tcp/22",
                 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff icmp", "198.51.100.0/31 tcp/0-65535",
                 "198.51.100.1 udp/9"}},
  };
  static const struct tcase cases[] = {
      {"255.255.255.255", POLICY_OUT, PV_ALLOW},
      {"255.255.255.254", POLICY_OUT, PV_DENY},
      {"0.0.0.0 tcp/1", POLICY_OUT, PV_ALLOW},
      {"0.0.0.1 tcp/1", POLICY_OUT, PV_DENY},
      {"fd12:3456::1 udp/53", POLICY_OUT, PV_ALLOW},
      {"fd00::1 tcp/1", POLICY_OUT, PV_ALLOW},
      {"fd00::1 udp/53", POLICY_OUT, PV_ALLOW},
      {"fd00::2 tcp/1", POLICY_OUT, PV_DENY},
      {"fd00::", POLICY_OUT, PV_DENY},
      {"fd00:: tcp/22", POLICY_OUT, PV_ALLOW},
      {"fd00:: tcp/80", POLICY_OUT, PV_DENY},
      {"fd00::1 tcp/22", POLICY_OUT, PV_ALLOW},
      {"fd00::1 tcp", POLICY_OUT, PV_ALLOW}, /* the /128 below the /127 */
      {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff icmp", POLICY_OUT, PV_ALLOW},
      {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe icmp", POLICY_OUT, PV_DENY},
      {"198.51.100.1 tcp/0", POLICY_OUT, PV_ALLOW},
      {"198.51.100.1 tcp/65535", POLICY_OUT, PV_ALLOW},
      {"198.51.100.1 tcp", POLICY_OUT, PV_DENY},
      {"198.51.100.2 tcp/0", POLICY_OUT, PV_DENY},
      {"198.51.100.1 udp/9", POLICY_OUT, PV_ALLOW}, /* the /32 below the /31 */
      {"198.51.100.1 tcp/9", POLICY_OUT, PV_ALLOW},
      {"198.51.100.0 udp/9", POLICY_OUT, PV_DENY},
  };
  RUN(rules, "alice", "laptop-1", cases);
}

static void test_empty_and_null(void **state) {
  struct policy empty;
  memset(&empty, 0, sizeof(empty));
  struct zt_identity u = ident("alice"), d = ident("laptop-1");
  struct acl *a = acl_compile(&empty, &u, &d);
  assert_non_null(a);
  struct policy_query q = query_of("198.51.100.1");
  assert_int_equal(acl_check(a, POLICY_OUT, &q), PV_DENY);
  assert_int_equal(acl_check(a, POLICY_IN, &q), PV_DENY);
  struct zt_prefix r[4];
  assert_int_equal(acl_routes(a, AF_INET, r, 4), 0);
  assert_int_equal(acl_routes(a, AF_INET6, r, 4), 0);
  assert_true(acl_memory(a) > 0);
  acl_free(a);

  /* no applying rule: the same as an empty policy */
  static const struct trule rules[] = {{"bob", "*", .allow = {"0.0.0.0/0", "::/0"}}};
  struct policy *p = policy_of(rules, 1);
  a = acl_compile(p, &u, &d);
  assert_non_null(a);
  assert_int_equal(acl_check(a, POLICY_OUT, &q), PV_DENY);
  assert_int_equal(acl_routes(a, AF_INET, r, 4), 0);
  /* unknown family or direction: fail closed */
  struct zt_identity bob = ident("bob");
  struct acl *b = acl_compile(p, &bob, &d);
  assert_non_null(b);
  assert_int_equal(acl_check(b, POLICY_OUT, &q), PV_ALLOW);
  struct policy_query odd = q;
  odd.addr.family = AF_UNIX;
  assert_int_equal(acl_check(b, POLICY_OUT, &odd), PV_DENY);
  assert_int_equal(acl_check(b, (enum policy_dir)7, &q), PV_DENY);
  assert_int_equal(acl_check(NULL, POLICY_OUT, &q), PV_DENY);
  assert_int_equal(acl_routes(b, AF_UNIX, r, 4), 0);
  assert_int_equal(acl_routes(b, AF_INET, r, 0), 0);
  acl_free(b);
  acl_free(a);
  acl_free(NULL);
  assert_int_equal(acl_memory(NULL), 0);
  policy_free(p);
}

/* ---- routes ------------------------------------------------------------ */

static void routes_are(const struct trule *tr, size_t nrules, int family, size_t max,
                       const char *const *want, size_t nwant) {
  struct policy *p = policy_of(tr, nrules);
  struct zt_identity u = ident("alice:eng"), d = ident("laptop-1:managed");
  struct acl *a = acl_compile(p, &u, &d);
  assert_non_null(a);
  struct zt_prefix out[16];
  size_t n = acl_routes(a, family, out, max);
  char got[1024] = "", buf[ZT_ADDR_STRLEN];
  for (size_t i = 0; i < n; i++) {
    strcat(got, " ");
    strcat(got, zt_prefix_format(&out[i], buf));
  }
  int same = n == nwant;
  for (size_t i = 0; same && i < n; i++)
    same = strcmp(zt_prefix_format(&out[i], buf), want[i]) == 0;
  if (!same) fail_msg("max %zu: got%s (%zu), want %zu routes starting %s", max, got, n, nwant,
                      nwant ? want[0] : "-");
  acl_free(a);
  policy_free(p);
}

#define ROUTES(rules, family, max, ...)                                                   \
  do {                                                                                    \
    static const char *const w_[] = {__VA_ARGS__};                                        \
    routes_are(rules, sizeof(rules) / sizeof(rules[0]), family, max, w_,                  \
               sizeof(w_) / sizeof(w_[0]));                                               \
  } while (0)

static void test_routes(void **state) {
  static const struct trule rules[] = {
      {"*", "*",
       .allow = {"198.51.100.0/25 tcp/22", "198.51.100.10 tcp/80", "198.51.100.128/26",
                 "198.51.100.192/27 icmp", "fd00:1::/64", "fd00:1::5", "fd00:2::/64"},
       .deny = {"192.0.2.0/24"}, /* denied only: no route */
       .inbound = {"198.51.100.224/28 tcp/22", "203.0.113.7"}},
      {"bob", "*", .allow = {"203.0.113.0/24"}}, /* not alice's */
  };
  ROUTES(rules, AF_INET, 16, "198.51.100.0/25", "198.51.100.128/26", "198.51.100.192/27",
         "198.51.100.224/28", "203.0.113.7/32");
  ROUTES(rules, AF_INET, 5, "198.51.100.0/25", "198.51.100.128/26", "198.51.100.192/27",
         "198.51.100.224/28", "203.0.113.7/32");
  /* widening: the longest shrink first, until they fit */
  ROUTES(rules, AF_INET, 4, "198.51.100.0/25", "198.51.100.128/26", "198.51.100.192/26",
         "203.0.113.0/26");
  ROUTES(rules, AF_INET, 3, "198.51.100.0/25", "198.51.100.128/25", "203.0.113.0/25");
  ROUTES(rules, AF_INET, 2, "198.51.100.0/24", "203.0.113.0/24");
  /* the two /24s share their first 4 bits (198 = 1100 0110, 203 = 1100 1011) */
  ROUTES(rules, AF_INET, 1, "192.0.0.0/4");
  ROUTES(rules, AF_INET6, 16, "fd00:1::/64", "fd00:2::/64");
  ROUTES(rules, AF_INET6, 1, "fd00::/30");
}

static void test_routes_zero(void **state) {
  static const struct trule rules[] = {
      {"*", "*", .allow = {"0.0.0.0/0 tcp/22", "198.51.100.0/24", "::/0 icmp"},
       .deny = {"fd00::/8"}},
  };
  ROUTES(rules, AF_INET, 4, "0.0.0.0/0");
  ROUTES(rules, AF_INET6, 4, "::/0");
}

/* Identical sets are stored once: a thousand hosts below a prefix with a
 * large port set all end up with the same pushed-down set. */
static void test_sets_shared(void **state) {
  enum { HOSTS = 1000, RANGES = 60 };
  struct policy p;
  struct policy_rule r;
  struct policy_match any = {PM_ANY, ""};
  memset(&p, 0, sizeof(p));
  memset(&r, 0, sizeof(r));
  r.users = r.devices = &any;
  r.nusers = r.ndevices = 1;
  r.nallow = HOSTS + RANGES;
  r.allow = xcalloc(r.nallow, sizeof(*r.allow));
  for (size_t i = 0; i < RANGES; i++) {
    entry_of("100.64.0.0/16", &r.allow[i]);
    r.allow[i].proto = PP_TCP;
    r.allow[i].port_lo = r.allow[i].port_hi = (uint16_t)(1000 + 3 * i);
  }
  for (size_t i = 0; i < HOSTS; i++) {
    char s[64];
    snprintf(s, sizeof(s), "100.64.%zu.%zu icmp", i / 200, i % 200);
    entry_of(s, &r.allow[RANGES + i]);
  }
  p.rules = &r;
  p.nrules = 1;
  struct zt_identity u = ident("alice"), d = ident("laptop-1");
  struct acl *a = acl_compile(&p, &u, &d);
  assert_non_null(a);
  /* unshared, the hosts alone would hold HOSTS * RANGES port ranges */
  size_t unshared = (size_t)HOSTS * RANGES * 4;
  if (acl_memory(a) >= unshared)
    fail_msg("acl_memory %zu, unshared sets %zu", acl_memory(a), unshared);
  struct policy_query q = query_of("100.64.4.199 tcp/1177");
  assert_int_equal(acl_check(a, POLICY_OUT, &q), PV_ALLOW);
  q = query_of("100.64.4.199 tcp/1178");
  assert_int_equal(acl_check(a, POLICY_OUT, &q), PV_DENY);
  q = query_of("100.64.4.199 icmp");
  assert_int_equal(acl_check(a, POLICY_OUT, &q), PV_ALLOW);
  q = query_of("100.64.4.200 icmp");
  assert_int_equal(acl_check(a, POLICY_OUT, &q), PV_DENY);
  acl_free(a);
  free(r.allow);
}

/* ---- randomized differential test ------------------------------------------ */

struct rng {
  uint64_t s;
  /* per mille of prefixes shorter than /16 (IPv4) or /64 (IPv6): a few
   * wide "any" entries among thousands would allow every packet */
  unsigned wide_pm;
  unsigned deny_pct; /* rules with deny entries */
};

static uint64_t rnd(struct rng *r) { /* xorshift64* */
  r->s ^= r->s >> 12;
  r->s ^= r->s << 25;
  r->s ^= r->s >> 27;
  return r->s * 0x2545f4914f6cdd1dull;
}

static uint32_t below(struct rng *r, uint32_t n) {
  return (uint32_t)(rnd(r) % n);
}

static const char *const user_names[] = {"alice", "bob", "carol", "dave"};
static const char *const user_groups[] = {"eng", "ops", "sales"};
static const char *const device_names[] = {"laptop-1", "laptop-2", "phone-1"};
static const char *const device_groups[] = {"managed", "byod"};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void random_matchers(struct rng *r, const char *const *names, size_t nnames,
                            const char *const *groups, size_t ngroups,
                            struct policy_match **out, size_t *n) {
  *n = 1 + below(r, 2);
  *out = xcalloc(*n, sizeof(**out));
  for (size_t i = 0; i < *n; i++) {
    struct policy_match *m = &(*out)[i];
    uint32_t k = below(r, 10);
    if (k < 3) {
      m->kind = PM_ANY;
    } else if (k < 7) {
      m->kind = PM_NAME;
      snprintf(m->name, sizeof(m->name), "%s", names[below(r, (uint32_t)nnames)]);
    } else {
      m->kind = PM_GROUP;
      snprintf(m->name, sizeof(m->name), "%s", groups[below(r, (uint32_t)ngroups)]);
    }
  }
}

static void random_identity(struct rng *r, const char *const *names, size_t nnames,
                            const char *const *groups, size_t ngroups, struct zt_identity *id) {
  memset(id, 0, sizeof(*id));
  /* one in eight is nobody the rules name */
  snprintf(id->name, sizeof(id->name), "%s",
           below(r, 8) == 0 ? "eve" : names[below(r, (uint32_t)nnames)]);
  for (size_t g = 0; g < ngroups; g++)
    if (below(r, 2)) snprintf(id->groups[id->ngroups++], sizeof(id->groups[0]), "%s", groups[g]);
}

static void mask_host(uint8_t *addr, unsigned len, unsigned bits) {
  for (unsigned b = len; b < bits; b++) addr[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
}

/* An address near the others: a few IPv4 /16s (and a /10), or fd00::/8
 * with most variation in a few bits, so prefixes overlap and nest. */
static void random_addr(struct rng *r, int family, uint8_t *addr) {
  memset(addr, 0, 16);
  if (family == AF_INET) {
    static const uint8_t bases[][2] = {{100, 64}, {100, 65}, {100, 127}, {198, 51}, {203, 0}};
    uint32_t k = below(r, 10);
    uint32_t v = (uint32_t)rnd(r);
    if (k == 0) { /* anywhere in 100.64.0.0/10 */
      addr[0] = 100;
      addr[1] = (uint8_t)(64 | (v & 63));
    } else {
      addr[0] = bases[k % COUNT(bases)][0];
      addr[1] = bases[k % COUNT(bases)][1];
    }
    /* the low bits vary most, the third byte among a few values */
    addr[2] = below(r, 4) ? (uint8_t)below(r, 4) : (uint8_t)(v >> 8);
    addr[3] = (uint8_t)(v >> 16);
    return;
  }
  uint64_t v = rnd(r);
  addr[0] = 0xfd;
  if (below(r, 8) == 0) { /* anywhere in fd00::/8 */
    for (int i = 1; i < 16; i++) addr[i] = (uint8_t)rnd(r);
    return;
  }
  addr[7] = (uint8_t)below(r, 4);
  addr[13] = (uint8_t)below(r, 4);
  addr[14] = (uint8_t)(v >> 8);
  addr[15] = (uint8_t)v;
}

static unsigned random_len(struct rng *r, int family) {
  if (below(r, 1000) < r->wide_pm) {
    uint32_t wide = family == AF_INET ? 16 : 64;
    return below(r, 3) == 0 ? 0 : 1 + below(r, wide - 1);
  }
  uint32_t k = below(r, 100);
  if (family == AF_INET) {
    if (k < 15) return 24;
    if (k < 35) return 32;
    return 16 + below(r, 17);
  }
  if (k < 10) return 64;
  if (k < 30) return 128;
  return 64 + below(r, 65);
}

static uint16_t random_port(struct rng *r) {
  static const uint16_t edges[] = {0,   1,   2,   21,   22,   23,   52,   53,   54,    79,   80,
                                   81,  442, 443, 444, 1023, 1024, 8000, 8080, 8100, 65534, 65535};
  return below(r, 3) ? edges[below(r, COUNT(edges))] : (uint16_t)rnd(r);
}

static void random_entry(struct rng *r, struct policy_entry *e) {
  memset(e, 0, sizeof(*e));
  e->prefix.family = below(r, 10) < 6 ? AF_INET : AF_INET6;
  unsigned bits = e->prefix.family == AF_INET ? 32 : 128;
  random_addr(r, e->prefix.family, e->prefix.addr);
  e->prefix.len = (uint8_t)random_len(r, e->prefix.family);
  /* The loader refuses host bits, but zt_prefix_contains ignores them: the
   * compiled form must too. */
  if (below(r, 50) != 0) mask_host(e->prefix.addr, e->prefix.len, bits);
  uint32_t k = below(r, 100);
  e->proto = k < 15 ? PP_ANY : k < 50 ? PP_TCP : k < 80 ? PP_UDP : PP_ICMP;
  if (e->proto == PP_TCP || e->proto == PP_UDP) {
    k = below(r, 100);
    if (k < 8) { /* "tcp": every port */
      e->port_hi = 65535;
    } else {
      e->port_lo = random_port(r);
      uint32_t hi = e->port_lo;
      if (k < 40) hi += below(r, 200);
      else if (k < 50) hi += below(r, 65536);
      e->port_hi = (uint16_t)(hi > 65535 ? 65535 : hi);
      if (k == 99) e->port_hi = (uint16_t)(e->port_lo - 1); /* empty; never loaded, still equal */
    }
  }
  e->line = 1;
}

static size_t random_entries(struct rng *r, size_t max, struct policy_entry **out) {
  size_t n = below(r, (uint32_t)max + 1);
  *out = xcalloc(n, sizeof(**out));
  for (size_t i = 0; i < n; i++) random_entry(r, &(*out)[i]);
  return n;
}

static struct policy *random_policy(struct rng *r, size_t nrules) {
  struct policy *p = xcalloc(1, sizeof(*p));
  p->rules = xcalloc(nrules, sizeof(*p->rules));
  p->nrules = nrules;
  for (size_t i = 0; i < nrules; i++) {
    struct policy_rule *rule = &p->rules[i];
    snprintf(rule->name, sizeof(rule->name), "r%zu", i);
    rule->line = (unsigned)i + 1;
    random_matchers(r, user_names, COUNT(user_names), user_groups, COUNT(user_groups),
                    &rule->users, &rule->nusers);
    random_matchers(r, device_names, COUNT(device_names), device_groups, COUNT(device_groups),
                    &rule->devices, &rule->ndevices);
    rule->nallow = random_entries(r, 5, &rule->allow);
    rule->ndeny = below(r, 100) < r->deny_pct ? random_entries(r, 3, &rule->deny) : 0;
    rule->ninbound = below(r, 10) < 3 ? random_entries(r, 2, &rule->inbound) : 0;
  }
  return p;
}

/* A random entry of any rule, for an inbound query mostly an inbound one;
 * or NULL. */
static const struct policy_entry *some_entry(struct rng *r, const struct policy *p,
                                             enum policy_dir dir) {
  int inbound = dir == POLICY_IN && below(r, 4) != 0;
  for (int tries = 0; tries < 16; tries++) {
    const struct policy_rule *rule = &p->rules[below(r, (uint32_t)p->nrules)];
    if (inbound) {
      if (rule->ninbound > 0) return &rule->inbound[below(r, (uint32_t)rule->ninbound)];
      continue;
    }
    size_t n = rule->nallow + rule->ndeny + rule->ninbound;
    if (n == 0) continue;
    size_t i = below(r, (uint32_t)n);
    if (i < rule->nallow) return &rule->allow[i];
    i -= rule->nallow;
    return i < rule->ndeny ? &rule->deny[i] : &rule->inbound[i - rule->ndeny];
  }
  return NULL;
}

/* Adds |delta| (+1 or -1) to the address as a number. */
static void addr_step(uint8_t *addr, size_t len, int delta) {
  for (size_t i = len; i-- > 0;) {
    uint8_t old = addr[i];
    addr[i] = (uint8_t)(old + delta);
    if ((delta > 0 && addr[i] != 0) || (delta < 0 && old != 0)) break;
  }
}

static void random_query(struct rng *r, const struct policy *p, enum policy_dir dir,
                         struct policy_query *q) {
  memset(q, 0, sizeof(*q));
  const struct policy_entry *e = below(r, 100) < 65 ? some_entry(r, p, dir) : NULL;
  if (e) {
    unsigned bits = e->prefix.family == AF_INET ? 32 : 128;
    size_t len = zt_ip_len(e->prefix.family);
    q->addr.family = e->prefix.family;
    memcpy(q->addr.addr, e->prefix.addr, len);
    uint32_t k = below(r, 100);
    if (k < 70) { /* inside, random host bits */
      for (unsigned b = e->prefix.len; b < bits; b++)
        if (rnd(r) & 1) q->addr.addr[b / 8] |= (uint8_t)(0x80u >> (b % 8));
    } else if (k < 80) {                      /* the first address */
    } else if (k < 85) {                      /* the one before */
      addr_step(q->addr.addr, len, -1);
    } else {                                  /* the last, or the one after */
      for (unsigned b = e->prefix.len; b < bits; b++)
        q->addr.addr[b / 8] |= (uint8_t)(0x80u >> (b % 8));
      if (k >= 93) addr_step(q->addr.addr, len, +1);
    }
  } else {
    q->addr.family = below(r, 10) < 6 ? AF_INET : AF_INET6;
    random_addr(r, q->addr.family, q->addr.addr);
  }
  uint32_t k = below(r, 100);
  int v4 = q->addr.family == AF_INET;
  if (k < 35)
    q->ipproto = IPPROTO_TCP;
  else if (k < 60)
    q->ipproto = IPPROTO_UDP;
  else if (k < 75)
    q->ipproto = v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
  else if (k < 80)
    q->ipproto = v4 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
  else
    q->ipproto = below(r, 2) ? 47 : (uint8_t)rnd(r);
  q->has_port = below(r, 10) != 0;
  k = below(r, 10);
  if (k < 3 && e && (e->proto == PP_TCP || e->proto == PP_UDP)) {
    int d = (int)below(r, 3) - 1; /* the entry's edges, and one past them */
    q->port = (uint16_t)((below(r, 2) ? e->port_lo : e->port_hi) + d);
  } else {
    q->port = random_port(r);
  }
}

static int prefix_covers(const struct zt_prefix *outer, const struct zt_prefix *inner) {
  struct zt_ip ip;
  if (outer->family != inner->family || outer->len > inner->len) return 0;
  ip.family = inner->family;
  memcpy(ip.addr, inner->addr, sizeof(ip.addr));
  return zt_prefix_contains(outer, &ip);
}

static int routes_cover(const struct zt_prefix *routes, size_t n, const struct zt_ip *ip) {
  for (size_t i = 0; i < n; i++)
    if (zt_prefix_contains(&routes[i], ip)) return 1;
  return 0;
}

/* The prefixes the pair's routes must cover: its allow and inbound ones. */
static size_t wanted_routes(const struct policy *p, const struct zt_identity *u,
                            const struct zt_identity *d, int family, struct zt_prefix **out) {
  size_t n = 0, cap = 64;
  *out = xcalloc(cap, sizeof(**out));
  for (size_t i = 0; i < p->nrules; i++) {
    const struct policy_rule *r = &p->rules[i];
    if (!policy_rule_applies(r, u, d)) continue;
    for (int list = 0; list < 2; list++) {
      const struct policy_entry *e = list ? r->inbound : r->allow;
      size_t ne = list ? r->ninbound : r->nallow;
      for (size_t j = 0; j < ne; j++) {
        if (e[j].prefix.family != family) continue;
        if (n == cap) {
          cap *= 2;
          *out = realloc(*out, cap * sizeof(**out));
          if (*out == NULL) fail_msg("out of memory");
        }
        (*out)[n++] = e[j].prefix;
      }
    }
  }
  return n;
}

/* Checks the routes of |a| for |family| with room for |max|: at most |max|,
 * no host bits, pairwise disjoint, covering every wanted prefix. With room
 * for all, exactly the wanted prefixes that no other covers. Returns the
 * count; the routes are left in |out|. */
static size_t check_routes(uint64_t seed, const struct acl *a, const struct zt_prefix *want,
                           size_t nwant, int family, struct zt_prefix *out, size_t max) {
  unsigned bits = family == AF_INET ? 32 : 128;
  size_t n = acl_routes(a, family, out, max);
  char b1[ZT_ADDR_STRLEN], b2[ZT_ADDR_STRLEN];
  if (n > max) fail_msg("seed %llu: %zu routes for %zu", (unsigned long long)seed, n, max);
  if (nwant > 0 && n == 0) fail_msg("seed %llu: no routes", (unsigned long long)seed);
  for (size_t i = 0; i < n; i++) {
    struct zt_prefix m = out[i];
    if (m.family != family || m.len > bits)
      fail_msg("seed %llu: bad route", (unsigned long long)seed);
    mask_host(m.addr, m.len, bits);
    if (memcmp(m.addr, out[i].addr, 16) != 0)
      fail_msg("seed %llu: route %s has host bits", (unsigned long long)seed,
               zt_prefix_format(&out[i], b1));
  }
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++)
      if (i != j && prefix_covers(&out[i], &out[j]))
        fail_msg("seed %llu: route %s covers route %s", (unsigned long long)seed,
                 zt_prefix_format(&out[i], b1), zt_prefix_format(&out[j], b2));
  for (size_t i = 0; i < nwant; i++) {
    size_t k = 0;
    while (k < n && !prefix_covers(&out[k], &want[i])) k++;
    if (k == n)
      fail_msg("seed %llu: %s not routed (%zu routes, max %zu)", (unsigned long long)seed,
               zt_prefix_format(&want[i], b1), n, max);
  }
  if (max >= nwant) { /* no widening: every route is a wanted prefix */
    for (size_t i = 0; i < n; i++) {
      size_t k = 0;
      while (k < nwant && !(want[k].len == out[i].len && prefix_covers(&want[k], &out[i])))
        k++;
      if (k == nwant)
        fail_msg("seed %llu: route %s is no allowed prefix", (unsigned long long)seed,
                 zt_prefix_format(&out[i], b1));
    }
  }
  return n;
}

/* How often each verdict came up, by direction: a differential test whose
 * packets all end in the default deny would prove little. */
struct tally {
  size_t n[2][3];
};

/* One random policy of |nrules|, |npairs| random pairs, |nqueries| random
 * packets per pair and direction. */
static void differential(uint64_t seed, size_t nrules, size_t npairs, size_t nqueries,
                         unsigned wide_pm, unsigned deny_pct, struct tally *t) {
  struct rng r = {seed * 0x9e3779b97f4a7c15ull + 1, wide_pm, deny_pct};
  struct policy *p = random_policy(&r, nrules);
  for (size_t pair = 0; pair < npairs; pair++) {
    struct zt_identity u, d;
    random_identity(&r, user_names, COUNT(user_names), user_groups, COUNT(user_groups), &u);
    random_identity(&r, device_names, COUNT(device_names), device_groups,
                    COUNT(device_groups), &d);
    struct acl *a = acl_compile(p, &u, &d);
    if (a == NULL) fail_msg("seed %llu: acl_compile failed", (unsigned long long)seed);

    /* routes: all, then squeezed into a few */
    struct zt_prefix *want[2], *full[2], few[2][8];
    size_t nwant[2], nfew[2];
    for (int f = 0; f < 2; f++) {
      int family = f ? AF_INET6 : AF_INET;
      nwant[f] = wanted_routes(p, &u, &d, family, &want[f]);
      full[f] = xcalloc(nwant[f] + 1, sizeof(*full[f]));
      check_routes(seed, a, want[f], nwant[f], family, full[f], nwant[f] + 1);
      for (size_t max = 1; max < 8; max++)
        check_routes(seed, a, want[f], nwant[f], family, few[f], max);
      nfew[f] = check_routes(seed, a, want[f], nwant[f], family, few[f], 1 + below(&r, 8));
    }

    for (size_t i = 0; i < 2 * nqueries; i++) {
      struct policy_query q;
      enum policy_dir dir = i % 2 ? POLICY_IN : POLICY_OUT;
      random_query(&r, p, dir, &q);
      enum policy_verdict got = acl_check(a, dir, &q);
      enum policy_verdict ref = policy_eval(p, &u, &d, dir, &q, NULL);
      char buf[160];
      if (got != ref)
        fail_msg("seed %llu (%zu rules) pair %zu (%s/%s) query %zu %s %s: acl %s, "
                 "policy_eval %s",
                 (unsigned long long)seed, nrules, pair, u.name, d.name, i,
                 dir == POLICY_OUT ? "to" : "from", query_str(&q, buf, sizeof(buf)),
                 policy_verdict_name(got), policy_verdict_name(ref));
      t->n[dir][got]++;
      int f = q.addr.family == AF_INET6;
      if (got == PV_ALLOW && !routes_cover(few[f], nfew[f], &q.addr))
        fail_msg("seed %llu: allowed %s is not routed", (unsigned long long)seed,
                 query_str(&q, buf, sizeof(buf)));
    }
    for (int f = 0; f < 2; f++) {
      free(want[f]);
      free(full[f]);
    }
    acl_free(a);
  }
  policy_free(p);
}

static void tally_check(const struct tally *t) {
  static const char *const dirs[] = {"out", "in"};
  for (int d = 0; d < 2; d++)
    for (int v = 0; v < 3; v++) {
      size_t total = t->n[d][PV_ALLOW] + t->n[d][PV_DENIED] + t->n[d][PV_DENY];
      if (d == POLICY_IN && v == PV_DENIED) {
        assert_int_equal(t->n[d][v], 0);
        continue;
      }
      /* each outcome in at least 2% of the packets of its direction */
      if (t->n[d][v] * 50 < total)
        fail_msg("%s %s: %zu of %zu packets", dirs[d], policy_verdict_name(v), t->n[d][v],
                 total);
    }
}

/* Large tries inside one block of addresses, so that the root's prefix is
 * the block and the compiled form's shortcut below the root (a table
 * indexed by the next address bits) starts at bit 10, 24 (and ends at the
 * last bit), 56 (across the two halves of an IPv6 key), 64 or 96. */
static void test_clusters(void **state) {
  static const char *const blocks[] = {"100.64.0.0/10", "198.51.100.0/24", "fd00:0:0:ab00::/56",
                                       "fd00:1:2:3::/64", "fd00:1:2:3:4:5::/96"};
  struct policy_match any = {PM_ANY, ""};
  struct zt_identity u = ident("alice"), d = ident("laptop-1");
  struct tally t = {0};
  for (size_t c = 0; c < COUNT(blocks); c++) {
    struct rng r = {0x5eedull + c, 0, 0};
    struct zt_prefix block;
    const char *err = "";
    if (!zt_prefix_parse(blocks[c], &block, &err)) fail_msg("%s: %s", blocks[c], err);
    unsigned bits = block.family == AF_INET ? 32 : 128;
    struct policy_rule rule;
    memset(&rule, 0, sizeof(rule));
    rule.users = rule.devices = &any;
    rule.nusers = rule.ndevices = 1;
    rule.nallow = 3000;
    rule.ndeny = 200;
    rule.ninbound = 600;
    rule.allow = xcalloc(rule.nallow, sizeof(*rule.allow));
    rule.deny = xcalloc(rule.ndeny, sizeof(*rule.deny));
    rule.inbound = xcalloc(rule.ninbound, sizeof(*rule.inbound));
    struct policy_entry *lists[] = {rule.allow, rule.deny, rule.inbound};
    size_t counts[] = {rule.nallow, rule.ndeny, rule.ninbound};
    for (int l = 0; l < 3; l++)
      for (size_t i = 0; i < counts[l]; i++) {
        struct policy_entry *e = &lists[l][i];
        random_entry(&r, e);
        e->prefix = block;
        e->prefix.len = (uint8_t)(block.len + 1 + below(&r, bits - block.len));
        for (unsigned b = block.len; b < e->prefix.len; b++)
          if (rnd(&r) & 1) e->prefix.addr[b / 8] |= (uint8_t)(0x80u >> (b % 8));
      }
    struct policy p;
    memset(&p, 0, sizeof(p));
    p.rules = &rule;
    p.nrules = 1;
    struct acl *a = acl_compile(&p, &u, &d);
    assert_non_null(a);
    for (size_t i = 0; i < 12000; i++) {
      struct policy_query q;
      enum policy_dir dir = i % 2 ? POLICY_IN : POLICY_OUT;
      random_query(&r, &p, dir, &q);
      if (below(&r, 10) < 4) { /* anywhere in the block */
        q.addr.family = block.family;
        memcpy(q.addr.addr, block.addr, sizeof(q.addr.addr));
        for (unsigned b = block.len; b < bits; b++)
          if (rnd(&r) & 1) q.addr.addr[b / 8] |= (uint8_t)(0x80u >> (b % 8));
      }
      enum policy_verdict got = acl_check(a, dir, &q);
      enum policy_verdict ref = policy_eval(&p, &u, &d, dir, &q, NULL);
      char buf[160];
      if (got != ref)
        fail_msg("block %s query %zu %s %s: acl %s, policy_eval %s", blocks[c], i,
                 dir == POLICY_OUT ? "to" : "from", query_str(&q, buf, sizeof(buf)),
                 policy_verdict_name(got), policy_verdict_name(ref));
      t.n[dir][got]++;
    }
    acl_free(a);
    free(rule.allow);
    free(rule.deny);
    free(rule.inbound);
  }
  tally_check(&t);
}

static void test_differential_small(void **state) {
  /* many small policies: edges of every kind, nesting a few levels deep */
  struct tally t = {0};
  for (uint64_t seed = 1; seed <= 400; seed++)
    differential(seed, 1 + seed % 40, 3, 250, 60, 30, &t);
  tally_check(&t);
  print_message("%zu/%zu/%zu out allow/denied/deny, %zu/%zu in allow/deny\n",
                t.n[0][PV_ALLOW], t.n[0][PV_DENIED], t.n[0][PV_DENY], t.n[1][PV_ALLOW],
                t.n[1][PV_DENY]);
}

static void test_differential_large(void **state) {
  /* thousands of rules, crowded prefixes */
  struct tally t = {0};
  differential(1000001, 2500, 4, 3000, 1, 5, &t);
  tally_check(&t);
  print_message("%zu/%zu/%zu out allow/denied/deny, %zu/%zu in allow/deny\n",
                t.n[0][PV_ALLOW], t.n[0][PV_DENIED], t.n[0][PV_DENY], t.n[1][PV_ALLOW],
                t.n[1][PV_DENY]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_services),
      cmocka_unit_test(test_nesting),
      cmocka_unit_test(test_deny_order),
      cmocka_unit_test(test_inbound),
      cmocka_unit_test(test_pairs),
      cmocka_unit_test(test_host_routes_and_edges),
      cmocka_unit_test(test_empty_and_null),
      cmocka_unit_test(test_routes),
      cmocka_unit_test(test_routes_zero),
      cmocka_unit_test(test_sets_shared),
      cmocka_unit_test(test_clusters),
      cmocka_unit_test(test_differential_small),
      cmocka_unit_test(test_differential_large),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

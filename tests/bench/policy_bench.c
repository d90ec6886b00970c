/* policy_bench: the cost of the per-packet policy decision. For policies of
 * 10, 1,000 and 100,000 generated rules (most of them applying to the pair
 * measured, as with group rules) it compiles the pair's acl and measures
 * the nanoseconds per acl_check over a few million random packets, the
 * compile time and acl_memory, and for comparison the nanoseconds per
 * policy_eval (the list walk) at 10 and 1,000 rules. Each figure is the
 * median of 5 runs after a warm-up, in CPU time of the thread
 * (CLOCK_THREAD_CPUTIME_ID), so that other work on a shared machine does
 * not count; it still competes for the caches. It prints a table and judges
 * nothing.
 *
 *   policy_bench            (tests/bench/policy.sh runs it)
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "acl.h"
#include "addr.h"
#include "policy.h"

#define RUNS 5
#define NQUERIES (1u << 20) /* distinct packets, replayed */
#define CHECKS (4u << 20)   /* acl_check calls per run */
#define EVAL_RUN_NS 300000000.0 /* aim of one policy_eval run */

struct rng {
  uint64_t s;
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

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size);
  if (p == NULL) {
    fprintf(stderr, "policy_bench: out of memory\n");
    exit(1);
  }
  return p;
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
  qsort(v, n, sizeof(*v), cmp_double);
  return v[n / 2];
}

/* ---- policies ------------------------------------------------------------ */

static void match(struct policy_match *m, enum policy_match_kind kind, const char *name) {
  memset(m, 0, sizeof(*m));
  m->kind = kind;
  snprintf(m->name, sizeof(m->name), "%s", name);
}

/* A destination the way administrators write them: mostly hosts and /24s
 * of 100.64.0.0/10, some wider, some IPv6 in fd00::/8. */
static void random_prefix(struct rng *r, struct zt_prefix *p) {
  memset(p, 0, sizeof(*p));
  uint32_t k = below(r, 100);
  if (k < 15) {
    p->family = AF_INET6;
    p->addr[0] = 0xfd;
    p->addr[1] = 0x00;
    p->addr[2] = (uint8_t)below(r, 16);
    p->addr[7] = (uint8_t)below(r, 256);
    if (k < 10) {
      p->len = 128;
      p->addr[14] = (uint8_t)below(r, 256);
      p->addr[15] = (uint8_t)below(r, 256);
    } else {
      p->len = 64;
    }
    return;
  }
  uint32_t a = (100u << 24) | (64u << 16) | (below(r, 1u << 22)); /* 100.64.0.0/10 */
  p->family = AF_INET;
  p->len = k < 60 ? 32 : k < 90 ? 24 : (uint8_t)(16 + below(r, 8));
  a &= p->len == 32 ? ~0u : ~0u << (32 - p->len);
  p->addr[0] = (uint8_t)(a >> 24);
  p->addr[1] = (uint8_t)(a >> 16);
  p->addr[2] = (uint8_t)(a >> 8);
  p->addr[3] = (uint8_t)a;
}

/* The services of one destination, flattened as the loader does: "tcp/22",
 * "tcp/80,443", "tcp/8000-8100", "udp/53", "icmp", or nothing (any). */
static size_t random_services(struct rng *r, const struct zt_prefix *p,
                              struct policy_entry *out) {
  static const struct {
    enum policy_proto proto;
    uint16_t lo, hi;
  } svc[] = {
      {PP_TCP, 22, 22},     {PP_TCP, 80, 80},     {PP_TCP, 443, 443},
      {PP_TCP, 8000, 8100}, {PP_TCP, 3389, 3389}, {PP_TCP, 5432, 5432},
      {PP_UDP, 53, 53},     {PP_UDP, 5000, 5100}, {PP_ICMP, 0, 0},
  };
  size_t n = 0;
  if (below(r, 10) == 0) {
    memset(&out[0], 0, sizeof(out[0]));
    out[0].prefix = *p;
    out[0].proto = PP_ANY;
    return 1;
  }
  size_t want = 1 + below(r, 3);
  for (size_t i = 0; i < want; i++) {
    size_t k = below(r, sizeof(svc) / sizeof(svc[0]));
    memset(&out[n], 0, sizeof(out[n]));
    out[n].prefix = *p;
    out[n].proto = svc[k].proto;
    out[n].port_lo = svc[k].lo;
    out[n].port_hi = svc[k].hi;
    out[n].line = 1;
    n++;
  }
  return n;
}

static size_t random_entries(struct rng *r, size_t ndest, struct policy_entry **out) {
  *out = xcalloc(ndest * 3, sizeof(**out));
  size_t n = 0;
  for (size_t d = 0; d < ndest; d++) {
    struct zt_prefix p;
    random_prefix(r, &p);
    n += random_services(r, &p, *out + n);
  }
  return n;
}

/* |nrules| rules; about two in three apply to alice (groups eng, vpn) on
 * laptop-042 (group managed). */
static struct policy *make_policy(struct rng *r, size_t nrules) {
  struct policy *p = xcalloc(1, sizeof(*p));
  p->rules = xcalloc(nrules, sizeof(*p->rules));
  p->nrules = nrules;
  for (size_t i = 0; i < nrules; i++) {
    struct policy_rule *rule = &p->rules[i];
    char other[32];
    snprintf(rule->name, sizeof(rule->name), "rule-%zu", i);
    rule->line = (unsigned)i + 1;
    rule->users = xcalloc(2, sizeof(*rule->users));
    rule->devices = xcalloc(1, sizeof(*rule->devices));
    rule->nusers = 2;
    rule->ndevices = 1;
    snprintf(other, sizeof(other), "user-%u", below(r, 1000));
    uint32_t k = below(r, 6);
    match(&rule->users[0], PM_NAME, other);
    if (k == 0)
      match(&rule->users[1], PM_NAME, "alice");
    else if (k <= 2)
      match(&rule->users[1], PM_GROUP, k == 1 ? "eng" : "vpn");
    else if (k == 3)
      match(&rule->users[1], PM_ANY, "");
    else
      match(&rule->users[1], PM_GROUP, "sales");
    k = below(r, 10);
    if (k < 5)
      match(&rule->devices[0], PM_ANY, "");
    else if (k < 9)
      match(&rule->devices[0], PM_GROUP, "managed");
    else
      match(&rule->devices[0], PM_GROUP, "byod");
    rule->nallow = random_entries(r, 1 + below(r, 3), &rule->allow);
    rule->ndeny = below(r, 20) == 0 ? random_entries(r, 1, &rule->deny) : 0;
    rule->ninbound = below(r, 50) == 0 ? random_entries(r, 1, &rule->inbound) : 0;
  }
  return p;
}

static void free_policy(struct policy *p) {
  for (size_t i = 0; i < p->nrules; i++) {
    free(p->rules[i].users);
    free(p->rules[i].devices);
    free(p->rules[i].allow);
    free(p->rules[i].deny);
    free(p->rules[i].inbound);
  }
  free(p->rules);
  free(p);
}

/* ---- packets --------------------------------------------------------------- */

struct packet {
  struct policy_query q;
  enum policy_dir dir;
};

/* Two in three packets go to a destination of some rule's entry, the rest
 * anywhere in the same ranges; one in ten is inbound. */
static void make_packets(struct rng *r, const struct policy *p, struct packet *pk, size_t n) {
  static const uint16_t ports[] = {22, 53, 80, 443, 3389, 5000, 5432, 8000, 8080, 8100, 9999};
  for (size_t i = 0; i < n; i++) {
    struct policy_query *q = &pk[i].q;
    memset(q, 0, sizeof(*q));
    pk[i].dir = below(r, 10) == 0 ? POLICY_IN : POLICY_OUT;
    const struct policy_rule *rule = &p->rules[below(r, (uint32_t)p->nrules)];
    struct zt_prefix dst;
    if (below(r, 3) != 0 && rule->nallow > 0)
      dst = rule->allow[below(r, (uint32_t)rule->nallow)].prefix;
    else
      random_prefix(r, &dst);
    unsigned bits = dst.family == AF_INET ? 32 : 128;
    q->addr.family = dst.family;
    memcpy(q->addr.addr, dst.addr, sizeof(q->addr.addr));
    for (unsigned b = dst.len; b < bits; b++)
      if (rnd(r) & 1) q->addr.addr[b / 8] |= (uint8_t)(0x80u >> (b % 8));
    uint32_t k = below(r, 10);
    if (k < 6) {
      q->ipproto = IPPROTO_TCP;
    } else if (k < 8) {
      q->ipproto = IPPROTO_UDP;
    } else if (k < 9) {
      q->ipproto = dst.family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
    } else {
      q->ipproto = 47;
    }
    q->has_port = q->ipproto == IPPROTO_TCP || q->ipproto == IPPROTO_UDP;
    q->port = ports[below(r, sizeof(ports) / sizeof(ports[0]))];
  }
}

/* ---- measurements ------------------------------------------------------------ */

static volatile unsigned sink;

static double bench_acl(const struct acl *a, const struct packet *pk) {
  double runs[RUNS];
  unsigned s = 0;
  for (size_t i = 0; i < NQUERIES; i++) s += acl_check(a, pk[i].dir, &pk[i].q); /* warm up */
  for (int run = 0; run < RUNS; run++) {
    double t0 = now_ns();
    for (size_t i = 0; i < CHECKS; i++) {
      const struct packet *k = &pk[i & (NQUERIES - 1)];
      s += acl_check(a, k->dir, &k->q);
    }
    runs[run] = (now_ns() - t0) / CHECKS;
  }
  sink += s;
  return median(runs, RUNS);
}

static double bench_eval(const struct policy *p, const struct zt_identity *u,
                         const struct zt_identity *d, const struct packet *pk) {
  double runs[RUNS];
  unsigned s = 0;
  /* warm up, and size the runs from it */
  size_t n = 2000;
  double t0 = now_ns();
  for (size_t i = 0; i < n; i++) s += policy_eval(p, u, d, pk[i].dir, &pk[i].q, NULL);
  double per = (now_ns() - t0) / (double)n;
  size_t calls = (size_t)(EVAL_RUN_NS / (per > 1 ? per : 1));
  if (calls < 1000) calls = 1000;
  for (int run = 0; run < RUNS; run++) {
    t0 = now_ns();
    for (size_t i = 0; i < calls; i++) {
      const struct packet *k = &pk[i & (NQUERIES - 1)];
      s += policy_eval(p, u, d, k->dir, &k->q, NULL);
    }
    runs[run] = (now_ns() - t0) / (double)calls;
  }
  sink += s;
  return median(runs, RUNS);
}

static void identity(struct zt_identity *id, const char *name, const char *g1, const char *g2) {
  memset(id, 0, sizeof(*id));
  snprintf(id->name, sizeof(id->name), "%s", name);
  if (g1) snprintf(id->groups[id->ngroups++], sizeof(id->groups[0]), "%s", g1);
  if (g2) snprintf(id->groups[id->ngroups++], sizeof(id->groups[0]), "%s", g2);
}

int main(void) {
  static const size_t sizes[] = {10, 1000, 100000};
  struct zt_identity user, device;
  identity(&user, "alice", "eng", "vpn");
  identity(&device, "laptop-042", "managed", NULL);
  struct packet *pk = xcalloc(NQUERIES, sizeof(*pk));

  printf("policy decision per packet: CPU ns, median of %d runs (%u packets, %u checks a run)\n\n",
         RUNS, NQUERIES, CHECKS);
  printf("%8s %9s %9s %11s %11s %9s %10s %9s\n", "rules", "applying", "entries", "compile ms",
         "acl bytes", "acl ns", "eval ns", "allowed");
  for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
    struct rng r = {0x5eed0000ull + sizes[s]};
    struct policy *p = make_policy(&r, sizes[s]);
    size_t applying = 0, entries = 0;
    for (size_t i = 0; i < p->nrules; i++) {
      if (!policy_rule_applies(&p->rules[i], &user, &device)) continue;
      applying++;
      entries += p->rules[i].nallow + p->rules[i].ndeny + p->rules[i].ninbound;
    }
    make_packets(&r, p, pk, NQUERIES);

    double compile[RUNS];
    struct acl *a = NULL;
    for (int run = 0; run < RUNS; run++) {
      acl_free(a);
      double t0 = now_ns();
      a = acl_compile(p, &user, &device);
      compile[run] = (now_ns() - t0) / 1e6;
      if (a == NULL) {
        fprintf(stderr, "policy_bench: acl_compile failed\n");
        return 1;
      }
    }
    size_t allowed = 0;
    for (size_t i = 0; i < NQUERIES; i++)
      allowed += acl_check(a, pk[i].dir, &pk[i].q) == PV_ALLOW;

    double acl_ns = bench_acl(a, pk);
    char eval[32] = "-";
    if (sizes[s] <= 1000) snprintf(eval, sizeof(eval), "%.1f", bench_eval(p, &user, &device, pk));
    printf("%8zu %9zu %9zu %11.2f %11zu %9.1f %10s %8.1f%%\n", sizes[s], applying, entries,
           median(compile, RUNS), acl_memory(a), acl_ns, eval,
           100.0 * (double)allowed / NQUERIES);
    fflush(stdout);
    acl_free(a);
    free_policy(p);
  }
  free(pk);
  return 0;
}

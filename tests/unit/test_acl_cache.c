/* acl_cache: pairs with the same applying rules share one compiled acl;
 * different rule sets do not; the cache is bounded and lets go of what no
 * session holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "acl_cache.h"
#include "policy.h"
#include "testutil.h"

static const char policy_text[] =
    "rules = (\n"
    "  { name = \"eng\"; users = [ \"group:engineering\" ]; devices = [ \"group:managed\" ];\n"
    "    allow = [ \"198.51.100.0/24 tcp/22\" ]; },\n"
    "  { name = \"web\"; users = [ \"*\" ]; devices = [ \"*\" ];\n"
    "    allow = [ \"198.51.100.10 tcp/443\" ]; },\n"
    "  { name = \"bob\"; users = [ \"bob\" ]; devices = [ \"*\" ];\n"
    "    allow = [ \"198.51.100.20 tcp/80\" ]; }\n"
    ");\n";

static struct policy *load(struct tu_dir *dir) {
  char path[PATH_MAX], err[1024];
  tu_write_str(dir, "policy.conf", policy_text, path);
  struct policy *p = policy_load(path, err, sizeof(err));
  if (!p) fail_msg("%s", err);
  return p;
}

static struct zt_identity id(const char *name, const char *group) {
  struct zt_identity i;
  memset(&i, 0, sizeof(i));
  snprintf(i.name, sizeof(i.name), "%s", name);
  if (group) {
    i.ngroups = 1;
    snprintf(i.groups[0], sizeof(i.groups[0]), "%s", group);
  }
  return i;
}

static enum policy_verdict check_tcp(const struct acl *a, const char *ip, uint16_t port) {
  struct policy_query q;
  memset(&q, 0, sizeof(q));
  assert_true(zt_ip_parse(ip, &q.addr));
  q.ipproto = 6;
  q.has_port = 1;
  q.port = port;
  return acl_check(a, POLICY_OUT, &q);
}

static void test_shared_by_rule_set(void **state) {
  (void)state;
  struct tu_dir dir;
  tu_dir_make(&dir);
  struct policy *p = load(&dir);
  struct acl_cache *c = acl_cache_new(p);
  assert_non_null(c);
  struct zt_identity alice = id("alice", "engineering"), carol = id("carol", "engineering");
  struct zt_identity bob = id("bob", "sales"), dave = id("dave", "sales");
  struct zt_identity managed = id("laptop-042", "managed"), byod = id("laptop-077", "byod");

  /* alice and carol on managed laptops: rules eng + web, one acl */
  struct acl *a1 = acl_cache_get(c, &alice, &managed);
  struct acl *a2 = acl_cache_get(c, &carol, &managed);
  assert_non_null(a1);
  assert_ptr_equal(a1, a2);
  assert_int_equal(acl_refs(a1), 3); /* two sessions and the cache */
  assert_int_equal(check_tcp(a1, "198.51.100.7", 22), PV_ALLOW);
  /* alice on a byod laptop: web only, another acl */
  struct acl *a3 = acl_cache_get(c, &alice, &byod);
  assert_ptr_not_equal(a3, a1);
  assert_int_equal(check_tcp(a3, "198.51.100.7", 22), PV_DENY);
  assert_int_equal(check_tcp(a3, "198.51.100.10", 443), PV_ALLOW);
  /* dave (sales) on byod has the same rules as alice on byod: web */
  struct acl *a4 = acl_cache_get(c, &dave, &byod);
  assert_ptr_equal(a4, a3);
  /* bob: web + bob */
  struct acl *a5 = acl_cache_get(c, &bob, &byod);
  assert_ptr_not_equal(a5, a3);
  assert_int_equal(check_tcp(a5, "198.51.100.20", 80), PV_ALLOW);
  assert_int_equal(acl_cache_count(c), 3);

  /* the cache lets go; the sessions' references keep the acls alive */
  acl_cache_free(c);
  assert_int_equal(acl_refs(a1), 2);
  assert_int_equal(check_tcp(a2, "198.51.100.7", 22), PV_ALLOW);
  acl_free(a1);
  acl_free(a2);
  acl_free(a3);
  acl_free(a4);
  acl_free(a5);
  policy_free(p);
  tu_dir_remove(&dir);
}

/* More rule sets than the cache keeps: unused ones are swept, and when all
 * are in use the next acl is compiled for its session alone. */
static void test_bounded(void **state) {
  (void)state;
  size_t n = ACL_CACHE_MAX + 10;
  size_t len = 32 + n * 128;
  char *text = malloc(len);
  assert_non_null(text);
  size_t o = (size_t)snprintf(text, len, "rules = (\n");
  for (size_t i = 0; i < n; i++)
    o += (size_t)snprintf(text + o, len - o,
                          "  { name = \"r%zu\"; users = [ \"u%zu\" ]; devices = [ \"*\" ]; "
                          "allow = [ \"198.51.100.%zu tcp/%zu\" ]; }%s\n",
                          i, i, i % 250 + 1, i + 1, i + 1 < n ? "," : "");
  snprintf(text + o, len - o, ");\n");
  struct tu_dir dir;
  char path[PATH_MAX], err[1024];
  tu_dir_make(&dir);
  tu_write_str(&dir, "policy.conf", text, path);
  free(text);
  struct policy *p = policy_load(path, err, sizeof(err));
  if (!p) fail_msg("%s", err);
  struct acl_cache *c = acl_cache_new(p);
  struct zt_identity dev = id("laptop", NULL);
  struct acl **held = calloc(n, sizeof(*held));
  assert_non_null(held);
  for (size_t i = 0; i < n; i++) {
    char name[16];
    snprintf(name, sizeof(name), "u%zu", i);
    struct zt_identity u = id(name, NULL);
    held[i] = acl_cache_get(c, &u, &dev);
    assert_non_null(held[i]);
    assert_true(acl_cache_count(c) <= ACL_CACHE_MAX);
    char ip[32];
    snprintf(ip, sizeof(ip), "198.51.100.%zu", i % 250 + 1);
    assert_int_equal(check_tcp(held[i], ip, (uint16_t)(i + 1)), PV_ALLOW);
  }
  /* every set is in use: the last ones were not cached */
  assert_int_equal(acl_cache_count(c), ACL_CACHE_MAX);
  assert_int_equal(acl_refs(held[n - 1]), 1);
  /* the sessions of the first half end: their sets can be swept */
  for (size_t i = 0; i < n / 2; i++) acl_free(held[i]);
  /* u0's set is still cached, so asking for it needs no room */
  struct zt_identity first = id("u0", NULL);
  struct acl *cached = acl_cache_get(c, &first, &dev);
  assert_int_equal(acl_refs(cached), 2);
  assert_int_equal(acl_cache_count(c), ACL_CACHE_MAX);
  /* the last set was never cached: caching it now sweeps the unused ones */
  char name[16];
  snprintf(name, sizeof(name), "u%zu", n - 1);
  struct zt_identity last = id(name, NULL);
  struct acl *again = acl_cache_get(c, &last, &dev);
  assert_ptr_not_equal(again, held[n - 1]);
  assert_int_equal(acl_cache_count(c), ACL_CACHE_MAX - n / 2 + 1 + 1); /* u0 is held */
  assert_int_equal(acl_refs(again), 2);
  acl_free(cached);
  acl_free(again);
  for (size_t i = n / 2; i < n; i++) acl_free(held[i]);
  free(held);
  acl_cache_free(c);
  policy_free(p);
  tu_dir_remove(&dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_shared_by_rule_set),
      cmocka_unit_test(test_bounded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

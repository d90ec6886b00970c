/* server/source_limits.c: the per-source token bucket (burst and refill on
 * an injected clock), per-source handshake counts, IPv6 sources grouped per
 * /64, independence of sources, and the table's bound: a million sources
 * keep it at its capacity, entries with handshakes in progress are never
 * evicted, and sources whose hashes collide keep their own state. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "source_limits.h"

static struct src_key v4(uint32_t host_order) {
  struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(host_order)};
  struct src_key k;
  assert_int_equal(src_key_from_sockaddr((struct sockaddr *)&in, &k), 1);
  return k;
}

static struct src_key v6(const char *addr) {
  struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(4433)};
  struct src_key k;
  assert_int_equal(inet_pton(AF_INET6, addr, &in6.sin6_addr), 1);
  assert_int_equal(src_key_from_sockaddr((struct sockaddr *)&in6, &k), 1);
  return k;
}

/* Admits and at once ends a handshake: only the bucket changes. */
static enum src_verdict connect_close(struct src_limits *t, const struct src_key *k,
                                      uint64_t now) {
  enum src_verdict v = src_limits_admit(t, k, now);
  if (v == SRC_ADMIT) src_limits_release(t, k);
  return v;
}

/* Connections admitted in a row at |now| until the bucket is empty. */
static unsigned drain(struct src_limits *t, const struct src_key *k, uint64_t now) {
  unsigned n = 0;
  while (n < 100000 && connect_close(t, k, now) == SRC_ADMIT) n++;
  return n;
}

static void test_burst_and_refill(void **state) {
  (void)state;
  struct src_limits *t = src_limits_new(256, 16, 10); /* 10/s, burst 20 */
  assert_non_null(t);
  struct src_key a = v4(0xc0000203); /* 192.0.2.3 */
  const uint64_t t0 = 5000;
  assert_int_equal(drain(t, &a, t0), 20);
  assert_int_equal(connect_close(t, &a, t0), SRC_RATE);
  /* one token per 100 ms */
  assert_int_equal(connect_close(t, &a, t0 + 99), SRC_RATE);
  assert_int_equal(connect_close(t, &a, t0 + 100), SRC_ADMIT);
  assert_int_equal(connect_close(t, &a, t0 + 100), SRC_RATE);
  assert_int_equal(drain(t, &a, t0 + 650), 5);
  /* a refusal takes nothing: after 1 s, 10 more */
  assert_int_equal(drain(t, &a, t0 + 1650), 10);
  /* full after 2 s, and never more than the burst however long it waits */
  assert_int_equal(drain(t, &a, t0 + 3650), 20);
  assert_int_equal(drain(t, &a, t0 + 3600 * 1000ull), 20);
  /* a clock that goes back adds nothing */
  assert_int_equal(connect_close(t, &a, t0), SRC_RATE);
  src_limits_free(t);

  /* the smallest rate: 1/s, burst 2, a token after 1000 ms and not before */
  t = src_limits_new(256, 16, 1);
  assert_non_null(t);
  assert_int_equal(drain(t, &a, 0), 2);
  assert_int_equal(connect_close(t, &a, 999), SRC_RATE);
  assert_int_equal(connect_close(t, &a, 1000), SRC_ADMIT);
  src_limits_free(t);
}

static void test_handshakes_per_source(void **state) {
  (void)state;
  struct src_limits *t = src_limits_new(5, 3, 2); /* burst 4 */
  assert_non_null(t);
  struct src_key a = v4(0xc0000202), b = v4(0xc0000203), c = v4(0xc0000204);
  for (int i = 0; i < 3; i++) assert_int_equal(src_limits_admit(t, &a, 0), SRC_ADMIT);
  assert_int_equal(src_limits_handshakes(t, &a), 3);
  assert_int_equal(src_limits_admit(t, &a, 0), SRC_HANDSHAKES);
  assert_int_equal(src_limits_handshakes(t, &a), 3);
  src_limits_release(t, &a);
  assert_int_equal(src_limits_handshakes(t, &a), 2);
  /* the refusal above took no token: one is left, then the bucket is empty */
  assert_int_equal(src_limits_admit(t, &a, 0), SRC_ADMIT);
  src_limits_release(t, &a);
  assert_int_equal(src_limits_admit(t, &a, 0), SRC_RATE);
  assert_int_equal(src_limits_handshakes(t, &a), 2);
  /* the global bound: 2 from a, 2 from b, 1 from c, then nobody */
  assert_int_equal(src_limits_admit(t, &b, 0), SRC_ADMIT);
  assert_int_equal(src_limits_admit(t, &b, 0), SRC_ADMIT);
  assert_int_equal(src_limits_admit(t, &c, 0), SRC_ADMIT);
  assert_int_equal(src_limits_admit(t, &c, 0), SRC_FULL);
  src_limits_release(t, &b);
  assert_int_equal(src_limits_admit(t, &c, 0), SRC_ADMIT);
  assert_int_equal(src_limits_handshakes(t, &c), 2);
  /* releasing what was never counted changes nothing */
  struct src_key stranger = v4(0xc6336401);
  src_limits_release(t, &stranger);
  assert_int_equal(src_limits_handshakes(t, &stranger), 0);
  for (int i = 0; i < 2; i++) src_limits_release(t, &a);
  src_limits_release(t, &a); /* one too many: ignored */
  assert_int_equal(src_limits_handshakes(t, &a), 0);
  assert_int_equal(src_limits_handshakes(t, &b), 1);
  assert_int_equal(src_limits_admit(t, &b, 0), SRC_ADMIT);
  src_limits_free(t);
}

static void test_ipv6_per_64(void **state) {
  (void)state;
  char buf[64];
  struct src_key a1 = v6("2001:db8:1:2::1"), a2 = v6("2001:db8:1:2:ffff:eeee:dddd:9");
  struct src_key b = v6("2001:db8:1:3::1");
  assert_memory_equal(&a1, &a2, sizeof(a1));
  assert_memory_not_equal(&a1, &b, sizeof(a1));
  assert_string_equal(src_key_format(&a2, buf, sizeof(buf)), "2001:db8:1:2::/64");
  /* an IPv4-mapped address is that IPv4 source */
  struct src_key m = v6("::ffff:192.0.2.3"), p = v4(0xc0000203);
  assert_memory_equal(&m, &p, sizeof(m));
  assert_string_equal(src_key_format(&m, buf, sizeof(buf)), "192.0.2.3");
  struct sockaddr_un_like { sa_family_t family; char path[14]; } other = {AF_UNIX, "x"};
  struct src_key k;
  assert_int_equal(src_key_from_sockaddr((struct sockaddr *)(void *)&other, &k), 0);

  /* the /64 shares one bucket and one handshake count */
  struct src_limits *t = src_limits_new(64, 4, 5); /* burst 10 */
  assert_non_null(t);
  for (int i = 0; i < 4; i++)
    assert_int_equal(src_limits_admit(t, i % 2 ? &a1 : &a2, 0), SRC_ADMIT);
  assert_int_equal(src_limits_admit(t, &a1, 0), SRC_HANDSHAKES);
  assert_int_equal(src_limits_handshakes(t, &a2), 4);
  for (int i = 0; i < 4; i++) src_limits_release(t, &a1);
  assert_int_equal(drain(t, &a2, 0), 6);
  assert_int_equal(connect_close(t, &a1, 0), SRC_RATE);
  /* the next /64 is another source */
  assert_int_equal(drain(t, &b, 0), 10);
  src_limits_free(t);
}

static void test_sources_independent(void **state) {
  (void)state;
  struct src_limits *t = src_limits_new(256, 8, 10);
  assert_non_null(t);
  struct src_key flood = v4(0xc0000203), good = v4(0xc0000202);
  for (int i = 0; i < 8; i++) assert_int_equal(src_limits_admit(t, &flood, 0), SRC_ADMIT);
  for (int i = 0; i < 2000; i++)
    assert_int_not_equal(src_limits_admit(t, &flood, (uint64_t)i), SRC_ADMIT);
  for (int i = 0; i < 8; i++) src_limits_release(t, &flood);
  for (int i = 0; i < 2000; i++) connect_close(t, &flood, 2000);
  assert_int_equal(connect_close(t, &flood, 2000), SRC_RATE);
  /* the good source has its whole allowance */
  assert_int_equal(src_limits_handshakes(t, &good), 0);
  for (int i = 0; i < 8; i++) assert_int_equal(src_limits_admit(t, &good, 2000), SRC_ADMIT);
  assert_int_equal(src_limits_admit(t, &good, 2000), SRC_HANDSHAKES);
  for (int i = 0; i < 8; i++) src_limits_release(t, &good);
  assert_int_equal(drain(t, &good, 2000), 12);
  src_limits_free(t);
}

/* A million sources, each connecting once: the table stays at its
 * capacity, and the sources with handshakes in progress stay counted. */
static void test_bound_and_eviction(void **state) {
  (void)state;
  const unsigned max_hs = 64;
  struct src_limits *t = src_limits_new(max_hs, 1, 1);
  assert_non_null(t);
  size_t cap = src_limits_capacity(t);
  assert_int_equal(cap, SRC_TABLE_ENTRIES + max_hs);
  /* all handshakes but one stay in progress, so connections still come in */
  for (uint32_t i = 0; i + 1 < max_hs; i++) {
    struct src_key k = v4(0x0a000000 + i);
    assert_int_equal(src_limits_admit(t, &k, 0), SRC_ADMIT);
  }
  /* a source being rate limited: its bucket drained */
  struct src_key limited = v4(0xc0000203);
  assert_int_equal(drain(t, &limited, 1999), 2);
  size_t most = 0;
  for (uint32_t i = 0; i < 1000000; i++) {
    struct src_key k = v4(0x64400000 + i);
    /* first with the clock standing still: no entry's bucket is full, so
     * eviction takes any without handshakes; then with it running */
    uint64_t now = i < 500000 ? 2000 : 2000 + (i - 500000) / 8;
    if (connect_close(t, &k, now) != SRC_ADMIT) fail_msg("source %u refused", i);
    size_t n = src_limits_count(t);
    if (n > most) most = n;
  }
  assert_int_equal(most, cap);
  assert_int_equal(src_limits_count(t), cap);
  for (uint32_t i = 0; i + 1 < max_hs; i++) {
    struct src_key k = v4(0x0a000000 + i);
    assert_int_equal(src_limits_handshakes(t, &k), 1);
    assert_int_equal(src_limits_admit(t, &k, 70000), SRC_HANDSHAKES);
  }
  struct src_key last = v4(0xc0000204), more = v4(0xc0000205);
  assert_int_equal(src_limits_admit(t, &last, 70000), SRC_ADMIT);
  assert_int_equal(src_limits_admit(t, &more, 70000), SRC_FULL);
  src_limits_free(t);

  /* entries whose bucket refilled go before a drained one */
  t = src_limits_new(max_hs, 1, 1);
  assert_non_null(t);
  for (uint32_t i = 0; i + 1 < cap; i++) {
    struct src_key k = v4(0x64400000 + i);
    assert_int_equal(connect_close(t, &k, 0), SRC_ADMIT);
  }
  assert_int_equal(drain(t, &limited, 1999), 2);
  assert_int_equal(src_limits_count(t), cap);
  for (uint32_t i = 0; i < cap / 2; i++) {
    struct src_key k = v4(0x0b000000 + i);
    assert_int_equal(connect_close(t, &k, 2000), SRC_ADMIT);
  }
  assert_int_equal(src_limits_count(t), cap);
  /* still remembered: its bucket is not refilled */
  assert_int_equal(connect_close(t, &limited, 2000), SRC_RATE);
  src_limits_free(t);
}

/* Sources with the same home slot share a probe run; removing entries
 * from it (eviction) must leave the others reachable with their counts. */
static void test_collisions(void **state) {
  (void)state;
  const unsigned max_hs = 4096;
  struct src_limits *t = src_limits_new(max_hs, 64, 1000);
  assert_non_null(t);
  struct src_key first = v4(0x01000000), same[16];
  size_t slot = src_limits_home_slot(t, &first), n = 0;
  same[n++] = first;
  for (uint32_t i = 1; n < 16 && i < 50000000; i++) {
    struct src_key k = v4(0x01000000 + i);
    if (src_limits_home_slot(t, &k) == slot) same[n++] = k;
  }
  assert_int_equal(n, 16);
  /* even ones hold handshakes (i + 1 of them), odd ones only a bucket */
  for (size_t i = 0; i < n; i++) {
    if (i % 2) {
      assert_int_equal(connect_close(t, &same[i], 0), SRC_ADMIT);
      continue;
    }
    for (size_t j = 0; j <= i; j++) assert_int_equal(src_limits_admit(t, &same[i], 0), SRC_ADMIT);
  }
  for (size_t i = 0; i < n; i += 2) assert_int_equal(src_limits_handshakes(t, &same[i]), i + 1);
  /* three tables' worth of other sources evicts every entry without
   * handshakes, the odd ones in the run among them */
  size_t cap = src_limits_capacity(t);
  for (uint32_t i = 0; i < 3 * cap; i++) {
    struct src_key k = v4(0x64400000 + i);
    assert_int_equal(connect_close(t, &k, 5000 + i), SRC_ADMIT);
    assert_true(src_limits_count(t) <= cap);
  }
  for (size_t i = 0; i < n; i += 2) {
    assert_int_equal(src_limits_handshakes(t, &same[i]), i + 1);
    src_limits_release(t, &same[i]);
    assert_int_equal(src_limits_handshakes(t, &same[i]), i);
  }
  for (size_t i = 1; i < n; i += 2) assert_int_equal(src_limits_handshakes(t, &same[i]), 0);
  src_limits_free(t);
}

static void test_bad_parameters(void **state) {
  (void)state;
  assert_null(src_limits_new(0, 1, 1));
  assert_null(src_limits_new(1, 0, 1));
  assert_null(src_limits_new(1, 1, 0));
  assert_null(src_limits_new(65536, 1, 1));
  src_limits_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_burst_and_refill),    cmocka_unit_test(test_handshakes_per_source),
      cmocka_unit_test(test_ipv6_per_64),         cmocka_unit_test(test_sources_independent),
      cmocka_unit_test(test_bound_and_eviction),  cmocka_unit_test(test_collisions),
      cmocka_unit_test(test_bad_parameters),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

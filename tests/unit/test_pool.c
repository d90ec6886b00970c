/* pool: tunnel addresses handed out to sessions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "addr.h"
#include "pool.h"

static void pool_of(struct zt_pool *pool, const char *prefix) {
  struct zt_prefix p;
  const char *err = NULL;
  if (!zt_prefix_parse(prefix, &p, &err)) fail_msg("%s: %s", prefix, err);
  if (!zt_pool_init(pool, &p, &err)) fail_msg("pool %s: %s", prefix, err);
}

static const char *addr_at(const struct zt_pool *pool, uint32_t index, char *buf) {
  struct zt_ip ip;
  zt_pool_addr(&pool->prefix, index, &ip);
  assert_int_equal(ip.family, pool->prefix.family);
  return zt_ip_format(&ip, buf);
}

static void test_slash30(void **state) {
  struct zt_pool pool;
  uint32_t idx = 0;
  char buf[ZT_ADDR_STRLEN];
  pool_of(&pool, "192.0.2.0/30");
  assert_int_equal(zt_pool_capacity(&pool), 1);
  assert_int_equal(zt_pool_alloc(&pool, &idx), 1);
  assert_int_equal(idx, 2);
  assert_string_equal(addr_at(&pool, idx, buf), "192.0.2.2");
  assert_int_equal(zt_pool_alloc(&pool, &idx), 0);
  assert_int_equal(pool.used, 1);
  /* the server's own address sits at index 1 */
  assert_string_equal(addr_at(&pool, ZT_POOL_SERVER_INDEX, buf), "192.0.2.1");
  zt_pool_free(&pool);
}

static void test_slash24(void **state) {
  struct zt_pool pool;
  uint32_t idx;
  char buf[ZT_ADDR_STRLEN];
  pool_of(&pool, "198.51.100.0/24");
  assert_int_equal(zt_pool_capacity(&pool), 253);
  for (uint32_t want = 2; want <= 254; want++) {
    assert_int_equal(zt_pool_alloc(&pool, &idx), 1);
    assert_int_equal(idx, want);
  }
  assert_int_equal(pool.used, 253);
  assert_string_equal(addr_at(&pool, 254, buf), "198.51.100.254");
  /* exhausted: never .255 (broadcast), .0 or .1 */
  idx = 12345;
  assert_int_equal(zt_pool_alloc(&pool, &idx), 0);
  assert_int_equal(idx, 12345);
  zt_pool_free(&pool);
}

static void test_release_reuses_lowest(void **state) {
  struct zt_pool pool;
  uint32_t idx;
  pool_of(&pool, "10.9.0.0/24");
  for (int i = 0; i < 253; i++) assert_int_equal(zt_pool_alloc(&pool, &idx), 1);
  zt_pool_release(&pool, 100);
  zt_pool_release(&pool, 50);
  zt_pool_release(&pool, 200);
  assert_int_equal(pool.used, 250);
  assert_int_equal(zt_pool_alloc(&pool, &idx), 1);
  assert_int_equal(idx, 50);
  assert_int_equal(zt_pool_alloc(&pool, &idx), 1);
  assert_int_equal(idx, 100);
  assert_int_equal(zt_pool_alloc(&pool, &idx), 1);
  assert_int_equal(idx, 200);
  assert_int_equal(zt_pool_alloc(&pool, &idx), 0);
  /* word boundaries: 63, 64, 65 */
  zt_pool_release(&pool, 65);
  zt_pool_release(&pool, 64);
  zt_pool_release(&pool, 63);
  assert_int_equal(zt_pool_alloc(&pool, &idx), 1);
  assert_int_equal(idx, 63);
  assert_int_equal(zt_pool_alloc(&pool, &idx), 1);
  assert_int_equal(idx, 64);
  assert_int_equal(zt_pool_alloc(&pool, &idx), 1);
  assert_int_equal(idx, 65);
  zt_pool_free(&pool);
}

static void test_release_harmless(void **state) {
  struct zt_pool pool;
  uint32_t idx;
  pool_of(&pool, "10.9.0.0/24");
  assert_int_equal(zt_pool_alloc(&pool, &idx), 1);
  assert_int_equal(zt_pool_alloc(&pool, &idx), 1);
  assert_int_equal(pool.used, 2);
  zt_pool_release(&pool, 2);
  zt_pool_release(&pool, 2); /* twice */
  assert_int_equal(pool.used, 1);
  zt_pool_release(&pool, 77); /* never allocated */
  static const uint32_t out[] = {0, 1, 255, 256, 65535, 65536, 1u << 31, UINT32_MAX};
  for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++) zt_pool_release(&pool, out[i]);
  assert_int_equal(pool.used, 1);
  /* index 3 is still taken, 2 is free again */
  assert_int_equal(zt_pool_alloc(&pool, &idx), 1);
  assert_int_equal(idx, 2);
  assert_int_equal(zt_pool_alloc(&pool, &idx), 1);
  assert_int_equal(idx, 4);
  assert_int_equal(pool.used, 3);
  zt_pool_free(&pool);
  zt_pool_free(&pool); /* a second free is harmless */
}

static void test_v6_capped(void **state) {
  struct zt_pool pool;
  uint32_t idx = 0, n = 0, last = 0;
  char buf[ZT_ADDR_STRLEN];
  pool_of(&pool, "fd00:5a::/64");
  assert_int_equal(pool.size, ZT_POOL_MAX);
  assert_int_equal(zt_pool_capacity(&pool), ZT_POOL_MAX - 2);
  while (zt_pool_alloc(&pool, &idx)) {
    assert_int_equal(idx, n + 2);
    last = idx;
    n++;
    if (n > ZT_POOL_MAX) fail_msg("more than ZT_POOL_MAX allocations");
  }
  assert_int_equal(n, ZT_POOL_MAX - 2);
  assert_int_equal(last, ZT_POOL_MAX - 1);
  assert_string_equal(addr_at(&pool, last, buf), "fd00:5a::ffff");
  assert_string_equal(addr_at(&pool, 2, buf), "fd00:5a::2");
  zt_pool_release(&pool, 40000);
  assert_int_equal(zt_pool_alloc(&pool, &idx), 1);
  assert_int_equal(idx, 40000);
  zt_pool_free(&pool);
}

static void test_sizes(void **state) {
  static const struct {
    const char *prefix;
    uint32_t capacity;
  } cases[] = {
      {"192.0.2.0/30", 1},
      {"192.0.2.0/29", 5},
      {"192.0.2.0/24", 253},
      {"10.0.0.0/17", 32765},
      /* A /16 is exactly ZT_POOL_MAX addresses: the pool is the whole
       * prefix, so its broadcast address (x.y.255.255) must stay out. */
      {"10.0.0.0/16", 65533},
      /* Larger prefixes are capped: the last index is not the broadcast. */
      {"10.0.0.0/15", ZT_POOL_MAX - 2},
      {"10.0.0.0/8", ZT_POOL_MAX - 2},
      {"fd00::/126", 2},
      {"fd00::/120", 254},
      {"fd00::/112", ZT_POOL_MAX - 2},
      {"fd00::/64", ZT_POOL_MAX - 2},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct zt_pool pool;
    pool_of(&pool, cases[i].prefix);
    if (zt_pool_capacity(&pool) != cases[i].capacity)
      fail_msg("%s: capacity %u, want %u", cases[i].prefix, zt_pool_capacity(&pool),
               cases[i].capacity);
    /* Every address the pool can hand out lies inside the prefix and is
     * neither the network nor the server address. */
    uint32_t idx, n = 0, prev = 0;
    while (zt_pool_alloc(&pool, &idx)) {
      struct zt_ip ip;
      zt_pool_addr(&pool.prefix, idx, &ip);
      assert_true(zt_prefix_contains(&pool.prefix, &ip));
      assert_true(idx > ZT_POOL_SERVER_INDEX);
      assert_true(idx > prev);
      prev = idx;
      n++;
    }
    assert_int_equal(n, cases[i].capacity);
    zt_pool_free(&pool);
  }
}

static void test_too_small(void **state) {
  static const char *const small[] = {"192.0.2.0/31", "192.0.2.1/32", "fd00::/127",
                                      "fd00::1/128"};
  for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
    struct zt_prefix p;
    struct zt_pool pool;
    const char *err = NULL;
    assert_int_equal(zt_prefix_parse(small[i], &p, &err), 1);
    err = NULL;
    if (zt_pool_init(&pool, &p, &err)) fail_msg("%s accepted", small[i]);
    assert_non_null(err);
    assert_non_null(strstr(err, "too small"));
    assert_null(pool.bits);
    zt_pool_free(&pool);
  }
  struct zt_prefix none = {0};
  struct zt_pool pool;
  const char *err = NULL;
  assert_int_equal(zt_pool_init(&pool, &none, &err), 0);
  assert_non_null(err);
}

static void test_addr(void **state) {
  static const struct {
    const char *prefix;
    uint32_t index;
    const char *want;
  } cases[] = {
      {"10.0.0.0/8", 0, "10.0.0.0"},
      {"10.0.0.0/8", 1, "10.0.0.1"},
      {"10.0.0.0/8", 0x010203, "10.1.2.3"},
      {"10.0.0.0/8", 0xffffff, "10.255.255.255"},
      {"100.64.0.0/10", 0x3fffff, "100.127.255.255"},
      {"192.0.2.0/24", 254, "192.0.2.254"},
      {"192.0.2.64/26", 5, "192.0.2.69"},
      {"fd00:5a::/64", 2, "fd00:5a::2"},
      {"fd00:5a::/64", 0x1234, "fd00:5a::1234"},
      {"fd00:5a::/64", 0x12345678, "fd00:5a::1234:5678"},
      {"fd00:5a::/96", 0xffffffff, "fd00:5a::ffff:ffff"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct zt_prefix p;
    struct zt_ip ip;
    const char *err;
    char buf[ZT_ADDR_STRLEN];
    assert_int_equal(zt_prefix_parse(cases[i].prefix, &p, &err), 1);
    memset(&ip, 0xa5, sizeof(ip));
    zt_pool_addr(&p, cases[i].index, &ip);
    assert_int_equal(ip.family, p.family);
    assert_string_equal(zt_ip_format(&ip, buf), cases[i].want);
    if (p.family == AF_INET) /* bytes past the address stay zero */
      for (size_t k = 4; k < 16; k++) assert_int_equal(ip.addr[k], 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_slash30),
      cmocka_unit_test(test_slash24),
      cmocka_unit_test(test_release_reuses_lowest),
      cmocka_unit_test(test_release_harmless),
      cmocka_unit_test(test_v6_capped),
      cmocka_unit_test(test_sizes),
      cmocka_unit_test(test_too_small),
      cmocka_unit_test(test_addr),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* addr: addresses, prefixes and host:port endpoints. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "addr.h"

static void test_ip_parse(void **state) {
  struct zt_ip ip;
  assert_int_equal(zt_ip_parse("192.0.2.1", &ip), 1);
  assert_int_equal(ip.family, AF_INET);
  assert_memory_equal(ip.addr, "\xc0\x00\x02\x01", 4);
  assert_int_equal(zt_ip_parse("fd00::1", &ip), 1);
  assert_int_equal(ip.family, AF_INET6);
  assert_int_equal(ip.addr[0], 0xfd);
  assert_int_equal(ip.addr[15], 1);
  static const char *const bad[] = {"", "1.2.3", "1.2.3.256", "::g", "host",
                                    " 1.2.3.4", "1.2.3.4/32"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(zt_ip_parse(bad[i], &ip), 0);
  assert_int_equal(zt_ip_len(AF_INET), 4);
  assert_int_equal(zt_ip_len(AF_INET6), 16);
  assert_int_equal(zt_ip_len(AF_UNIX), 0);
}

struct prefix_case {
  const char *in;
  int ok;
  int family;
  unsigned len;
  const char *formatted; /* expected zt_prefix_format output when ok */
  const char *err;       /* expected substring of the error when not ok */
};

static const struct prefix_case prefix_cases[] = {
    {"10.0.0.0/8", 1, AF_INET, 8, "10.0.0.0/8", NULL},
    {"100.64.0.0/10", 1, AF_INET, 10, "100.64.0.0/10", NULL},
    {"192.0.2.0/24", 1, AF_INET, 24, "192.0.2.0/24", NULL},
    {"192.0.2.7/32", 1, AF_INET, 32, "192.0.2.7/32", NULL},
    {"0.0.0.0/0", 1, AF_INET, 0, "0.0.0.0/0", NULL},
    {"192.0.2.7", 1, AF_INET, 32, "192.0.2.7/32", NULL},
    {"fd00::/8", 1, AF_INET6, 8, "fd00::/8", NULL},
    {"fd00:5a::/64", 1, AF_INET6, 64, "fd00:5a::/64", NULL},
    {"2001:db8::1/128", 1, AF_INET6, 128, "2001:db8::1/128", NULL},
    {"::/0", 1, AF_INET6, 0, "::/0", NULL},
    {"fd00::1", 1, AF_INET6, 128, "fd00::1/128", NULL},
    {"192.0.2.0/33", 0, 0, 0, NULL, "length"},
    {"fd00::/129", 0, 0, 0, NULL, "length"},
    {"192.0.2.0/", 0, 0, 0, NULL, "length"},
    {"192.0.2.0/-1", 0, 0, 0, NULL, "length"},
    {"192.0.2.0/+8", 0, 0, 0, NULL, "length"},
    {"192.0.2.0/ 8", 0, 0, 0, NULL, "length"},
    {"192.0.2.0/8x", 0, 0, 0, NULL, "length"},
    {"192.0.2.0/0024", 0, 0, 0, NULL, "length"},
    {"192.0.2.0/99999999999999999999", 0, 0, 0, NULL, "length"},
    {"192.0.2.1/24", 0, 0, 0, NULL, "host bits"},
    {"11.0.0.0/7", 0, 0, 0, NULL, "host bits"},
    {"fd00::1/64", 0, 0, 0, NULL, "host bits"},
    {"192.0.2.0/0", 0, 0, 0, NULL, "host bits"},
    {"garbage", 0, 0, 0, NULL, "address"},
    {"garbage/24", 0, 0, 0, NULL, "address"},
    {"", 0, 0, 0, NULL, "address"},
    {"/24", 0, 0, 0, NULL, "address"},
    {"1.2.3/24", 0, 0, 0, NULL, "address"},
    {"fd00::1::2/64", 0, 0, 0, NULL, "address"},
    {"0000000000000000000000000000000000000000000000000000000000000000000000/8", 0,
     0, 0, NULL, "address"},
};

static void test_prefix_parse(void **state) {
  for (size_t i = 0; i < sizeof(prefix_cases) / sizeof(prefix_cases[0]); i++) {
    const struct prefix_case *c = &prefix_cases[i];
    struct zt_prefix p;
    const char *err = NULL;
    int ok = zt_prefix_parse(c->in, &p, &err);
    if (ok != c->ok) fail_msg("'%s': got %d, want %d", c->in, ok, c->ok);
    if (ok) {
      char buf[ZT_ADDR_STRLEN];
      assert_int_equal(p.family, c->family);
      assert_int_equal(p.len, c->len);
      assert_string_equal(zt_prefix_format(&p, buf), c->formatted);
      /* The formatted form parses back to the same prefix. */
      struct zt_prefix again;
      assert_int_equal(zt_prefix_parse(buf, &again, &err), 1);
      assert_int_equal(again.family, p.family);
      assert_int_equal(again.len, p.len);
      assert_memory_equal(again.addr, p.addr, sizeof(p.addr));
    } else {
      assert_non_null(err);
      if (!strstr(err, c->err))
        fail_msg("'%s': error '%s' lacks '%s'", c->in, err, c->err);
    }
  }
}

static void test_prefix_contains(void **state) {
  static const struct {
    const char *prefix, *ip;
    int in;
  } cases[] = {
      {"192.0.2.0/24", "192.0.2.0", 1},
      {"192.0.2.0/24", "192.0.2.255", 1},
      {"192.0.2.0/24", "192.0.3.0", 0},
      {"192.0.2.0/24", "192.0.1.255", 0},
      {"100.64.0.0/10", "100.127.255.255", 1},
      {"100.64.0.0/10", "100.128.0.0", 0},
      {"100.64.0.0/10", "100.63.255.255", 0},
      {"0.0.0.0/0", "203.0.113.9", 1},
      {"192.0.2.7/32", "192.0.2.7", 1},
      {"192.0.2.7/32", "192.0.2.6", 0},
      {"192.0.2.0/31", "192.0.2.1", 1},
      {"192.0.2.0/31", "192.0.2.2", 0},
      {"fd00::/8", "fdff:ffff::1", 1},
      {"fd00::/8", "fe00::1", 0},
      {"fd00:5a::/64", "fd00:5a::ffff:ffff:ffff:ffff", 1},
      {"fd00:5a::/64", "fd00:5a:0:1::", 0},
      {"fc00::/7", "fdff::1", 1},
      {"fc00::/7", "fd00::1", 1},
      {"fc00::/7", "fe00::1", 0},
      {"::/0", "2001:db8::1", 1},
      {"2001:db8::1/128", "2001:db8::1", 1},
      {"2001:db8::1/128", "2001:db8::2", 0},
      /* families never mix, whatever the bytes */
      {"0.0.0.0/0", "::", 0},
      {"::/0", "0.0.0.0", 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct zt_prefix p;
    struct zt_ip ip;
    const char *err;
    if (!zt_prefix_parse(cases[i].prefix, &p, &err) || !zt_ip_parse(cases[i].ip, &ip))
      fail_msg("bad case %s / %s", cases[i].prefix, cases[i].ip);
    if (zt_prefix_contains(&p, &ip) != cases[i].in)
      fail_msg("%s in %s: want %d", cases[i].ip, cases[i].prefix, cases[i].in);
  }
}

struct hostport_case {
  const char *in;
  int ok;
  const char *host;
  uint16_t port;
};

static const struct hostport_case hostport_cases[] = {
    {"192.0.2.1:8443", 1, "192.0.2.1", 8443},
    {"[fd00::1]:443", 1, "fd00::1", 443},
    {"host.example:1", 1, "host.example", 1},
    {"gw.corp.example:65535", 1, "gw.corp.example", 65535},
    {"[::]:80", 1, "::", 80},
    {"192.0.2.1", 0, NULL, 0},         /* missing port */
    {"192.0.2.1:", 0, NULL, 0},        /* empty port */
    {"host.example:0", 0, NULL, 0},    /* port 0 */
    {"host.example:65536", 0, NULL, 0},
    {"host.example:99999", 0, NULL, 0},
    {"host.example:123456", 0, NULL, 0},
    {"host.example:-1", 0, NULL, 0},
    {"host.example:+1", 0, NULL, 0},
    {"host.example: 1", 0, NULL, 0},
    {"host.example:1x", 0, NULL, 0},
    {"fd00::1:443", 0, NULL, 0},       /* bare v6 without brackets */
    {"::1", 0, NULL, 0},
    {"[fd00::1]", 0, NULL, 0},         /* brackets without port */
    {"[fd00::1]443", 0, NULL, 0},
    {"[fd00::1:443", 0, NULL, 0},
    {"[]:443", 0, NULL, 0},
    {":443", 0, NULL, 0},              /* empty host */
    {"", 0, NULL, 0},
};

static void test_hostport_split(void **state) {
  for (size_t i = 0; i < sizeof(hostport_cases) / sizeof(hostport_cases[0]); i++) {
    const struct hostport_case *c = &hostport_cases[i];
    char host[256] = "untouched";
    uint16_t port = 7;
    int ok = zt_hostport_split(c->in, host, sizeof(host), &port);
    if (ok != c->ok) fail_msg("'%s': got %d, want %d", c->in, ok, c->ok);
    if (ok) {
      assert_string_equal(host, c->host);
      assert_int_equal(port, c->port);
    } else {
      assert_int_equal(port, 7); /* outputs untouched on failure */
    }
  }
}

static void test_hostport_host_len(void **state) {
  char host[8];
  uint16_t port;
  /* 7 bytes + NUL fit exactly; 8 do not. */
  assert_int_equal(zt_hostport_split("abcdefg:1", host, sizeof(host), &port), 1);
  assert_string_equal(host, "abcdefg");
  assert_int_equal(zt_hostport_split("abcdefgh:1", host, sizeof(host), &port), 0);
  assert_int_equal(zt_hostport_split("[abcdefgh]:1", host, sizeof(host), &port), 0);
}

static void test_format_round_trip(void **state) {
  static const char *const ips[] = {"0.0.0.0", "192.0.2.1", "255.255.255.255",
                                    "::", "::1", "fd00:5a::1",
                                    "2001:db8:1:2:3:4:5:6"};
  for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
    struct zt_ip ip, again;
    char buf[ZT_ADDR_STRLEN];
    assert_int_equal(zt_ip_parse(ips[i], &ip), 1);
    assert_string_equal(zt_ip_format(&ip, buf), ips[i]);
    assert_int_equal(zt_ip_parse(buf, &again), 1);
    assert_memory_equal(&ip, &again, sizeof(ip));
  }
  /* An unknown family formats as "?" rather than garbage. */
  struct zt_ip none = {0};
  char buf[ZT_ADDR_STRLEN];
  assert_string_equal(zt_ip_format(&none, buf), "?");
}

static void test_sockaddr_format(void **state) {
  struct sockaddr_in in4 = {.sin_family = AF_INET, .sin_port = htons(8443)};
  struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
  char buf[80];
  inet_pton(AF_INET, "192.0.2.1", &in4.sin_addr);
  inet_pton(AF_INET6, "fd00::1", &in6.sin6_addr);
  assert_string_equal(zt_sockaddr_format((struct sockaddr *)&in4, buf, sizeof(buf)),
                      "192.0.2.1:8443");
  assert_string_equal(zt_sockaddr_format((struct sockaddr *)&in6, buf, sizeof(buf)),
                      "[fd00::1]:443");
  /* The formatted endpoints split back into the same host and port. */
  char host[64];
  uint16_t port;
  assert_int_equal(zt_hostport_split(buf, host, sizeof(host), &port), 1);
  assert_string_equal(host, "fd00::1");
  assert_int_equal(port, 443);
  struct sockaddr un = {.sa_family = AF_UNIX};
  assert_string_equal(zt_sockaddr_format(&un, buf, sizeof(buf)), "?");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ip_parse),
      cmocka_unit_test(test_prefix_parse),
      cmocka_unit_test(test_prefix_contains),
      cmocka_unit_test(test_hostport_split),
      cmocka_unit_test(test_hostport_host_len),
      cmocka_unit_test(test_format_round_trip),
      cmocka_unit_test(test_sockaddr_format),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

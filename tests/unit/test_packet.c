/* packet: addresses and protocol of IPv4/IPv6 packets from untrusted bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "packet.h"

/* An IPv4 header of |ihl| words (options zero) plus |payload| bytes, with
 * the total length field set to |total| (or the real length if 0). */
static size_t make_v4(uint8_t *p, unsigned ihl, size_t payload, unsigned total) {
  size_t len = ihl * 4 + payload;
  memset(p, 0, len);
  p[0] = (uint8_t)(0x40 | ihl);
  if (total == 0) total = (unsigned)len;
  p[2] = (uint8_t)(total >> 8);
  p[3] = (uint8_t)total;
  p[8] = 64;  /* ttl */
  p[9] = 17;  /* UDP */
  memcpy(p + 12, "\x0a\x00\x00\x02", 4);
  memcpy(p + 16, "\xc0\x00\x02\x07", 4);
  return len;
}

static size_t make_v6(uint8_t *p, size_t payload, int payload_field) {
  size_t len = 40 + payload;
  unsigned pl = payload_field >= 0 ? (unsigned)payload_field : (unsigned)payload;
  memset(p, 0, len);
  p[0] = 0x60;
  p[1] = 0x0a; /* traffic class / flow label bits must not matter */
  p[3] = 0xbc;
  p[4] = (uint8_t)(pl >> 8);
  p[5] = (uint8_t)pl;
  p[6] = 58; /* ICMPv6 */
  p[7] = 255;
  p[8] = 0xfd;
  p[23] = 0x02;
  p[24] = 0xfd;
  p[25] = 0x77;
  p[39] = 0x07;
  return len;
}

static void test_v4(void **state) {
  uint8_t p[100];
  struct zt_pkt pkt;
  size_t len = make_v4(p, 5, 8, 0);
  assert_int_equal(zt_pkt_parse(p, len, &pkt), 1);
  assert_int_equal(pkt.src.family, AF_INET);
  assert_int_equal(pkt.dst.family, AF_INET);
  assert_memory_equal(pkt.src.addr, "\x0a\x00\x00\x02", 4);
  assert_memory_equal(pkt.dst.addr, "\xc0\x00\x02\x07", 4);
  assert_int_equal(pkt.proto, 17);
  /* header only, 20 bytes */
  len = make_v4(p, 5, 0, 0);
  assert_int_equal(zt_pkt_parse(p, len, &pkt), 1);
}

static void test_v4_options(void **state) {
  uint8_t p[100];
  struct zt_pkt pkt;
  for (unsigned ihl = 6; ihl <= 15; ihl++) {
    size_t len = make_v4(p, ihl, 4, 0);
    p[20] = 0x94; /* router alert option: must not be read as an address */
    p[21] = 0x04;
    assert_int_equal(zt_pkt_parse(p, len, &pkt), 1);
    assert_memory_equal(pkt.src.addr, "\x0a\x00\x00\x02", 4);
    assert_memory_equal(pkt.dst.addr, "\xc0\x00\x02\x07", 4);
  }
  /* IHL 6 with no room for the options */
  size_t len = make_v4(p, 5, 0, 0);
  p[0] = 0x46;
  assert_int_equal(zt_pkt_parse(p, len, &pkt), 0);
  /* IHL 15 (60 bytes) in a 40-byte packet */
  len = make_v4(p, 5, 20, 0);
  p[0] = 0x4f;
  assert_int_equal(zt_pkt_parse(p, len, &pkt), 0);
}

static void test_v4_bad(void **state) {
  uint8_t p[100];
  struct zt_pkt pkt;
  for (unsigned ihl = 0; ihl < 5; ihl++) {
    size_t len = make_v4(p, 5, 20, 0);
    p[0] = (uint8_t)(0x40 | ihl);
    if (zt_pkt_parse(p, len, &pkt)) fail_msg("IHL %u accepted", ihl);
  }
  size_t len = make_v4(p, 5, 8, 0);
  /* total length longer, shorter, zero */
  static const unsigned totals[] = {29, 27, 20, 0xffff};
  for (size_t i = 0; i < sizeof(totals) / sizeof(totals[0]); i++) {
    make_v4(p, 5, 8, totals[i]);
    if (zt_pkt_parse(p, len, &pkt)) fail_msg("total %u accepted", totals[i]);
  }
  make_v4(p, 5, 8, 0);
  p[2] = p[3] = 0;
  assert_int_equal(zt_pkt_parse(p, len, &pkt), 0);
  /* every truncation of a valid packet (total length then disagrees) */
  len = make_v4(p, 5, 8, 0);
  for (size_t n = 0; n < len; n++)
    if (zt_pkt_parse(p, n, &pkt)) fail_msg("prefix of %zu bytes accepted", n);
  /* truncations whose total length field agrees */
  for (size_t n = 0; n < 20; n++) {
    make_v4(p, 5, 0, (unsigned)n);
    if (zt_pkt_parse(p, n, &pkt)) fail_msg("%zu-byte v4 accepted", n);
  }
}

static void test_v6(void **state) {
  uint8_t p[200];
  struct zt_pkt pkt;
  size_t len = make_v6(p, 16, -1);
  assert_int_equal(zt_pkt_parse(p, len, &pkt), 1);
  assert_int_equal(pkt.src.family, AF_INET6);
  assert_int_equal(pkt.dst.family, AF_INET6);
  assert_memory_equal(pkt.src.addr, "\xfd\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x02", 16);
  assert_memory_equal(pkt.dst.addr, "\xfd\x77\0\0\0\0\0\0\0\0\0\0\0\0\0\x07", 16);
  assert_int_equal(pkt.proto, 58);
  len = make_v6(p, 0, -1);
  assert_int_equal(zt_pkt_parse(p, len, &pkt), 1);
}

static void test_v6_bad(void **state) {
  uint8_t p[200];
  struct zt_pkt pkt;
  size_t len = make_v6(p, 16, 17);
  assert_int_equal(zt_pkt_parse(p, len, &pkt), 0);
  make_v6(p, 16, 15);
  assert_int_equal(zt_pkt_parse(p, len, &pkt), 0);
  make_v6(p, 16, 0xffff);
  assert_int_equal(zt_pkt_parse(p, len, &pkt), 0);
  len = make_v6(p, 16, -1);
  for (size_t n = 0; n < len; n++)
    if (zt_pkt_parse(p, n, &pkt)) fail_msg("prefix of %zu bytes accepted", n);
  /* shorter than the fixed header, even with a payload length of 0 */
  for (size_t n = 0; n < 40; n++) {
    make_v6(p, 0, 0);
    if (zt_pkt_parse(p, n, &pkt)) fail_msg("%zu-byte v6 accepted", n);
  }
}

static void test_versions(void **state) {
  uint8_t p[100];
  struct zt_pkt pkt;
  for (unsigned v = 0; v < 16; v++) {
    if (v == 4 || v == 6) continue;
    size_t len = make_v4(p, 5, 40, 0);
    p[0] = (uint8_t)(v << 4 | 5);
    if (zt_pkt_parse(p, len, &pkt)) fail_msg("version %u accepted", v);
  }
  assert_int_equal(zt_pkt_parse(p, 0, &pkt), 0);
  /* a v6 header labelled 4 and vice versa */
  size_t len = make_v6(p, 0, -1);
  p[0] = 0x45;
  assert_int_equal(zt_pkt_parse(p, len, &pkt), 0);
}

/* A rough sweep: random bytes never crash and every success is consistent. */
static void test_random(void **state) {
  uint8_t p[128];
  struct zt_pkt pkt;
  srand(1);
  for (int i = 0; i < 200000; i++) {
    size_t len = (size_t)rand() % sizeof(p);
    for (size_t k = 0; k < len; k++) p[k] = (uint8_t)rand();
    if (len > 0 && (rand() & 1)) p[0] = (uint8_t)((rand() & 1 ? 0x40 : 0x60) | (p[0] & 15));
    if (len >= 6 && (rand() & 1)) {
      p[2] = (uint8_t)(len >> 8);
      p[3] = (uint8_t)len;
      p[4] = (uint8_t)((len - 40) >> 8);
      p[5] = (uint8_t)(len - 40);
    }
    if (zt_pkt_parse(p, len, &pkt)) {
      if (p[0] >> 4 == 4) {
        assert_true(len >= 20 && len >= (size_t)(p[0] & 15) * 4);
        assert_int_equal(pkt.src.family, AF_INET);
      } else {
        assert_int_equal(p[0] >> 4, 6);
        assert_true(len >= 40);
        assert_int_equal(pkt.src.family, AF_INET6);
      }
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_v4),
      cmocka_unit_test(test_v4_options),
      cmocka_unit_test(test_v4_bad),
      cmocka_unit_test(test_v6),
      cmocka_unit_test(test_v6_bad),
      cmocka_unit_test(test_versions),
      cmocka_unit_test(test_random),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* packet: addresses and protocol of IPv4/IPv6 packets from untrusted bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <openssl/bytestring.h>

#include "addr.h"
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

/* ---- transport headers ---- */

/* Packets for the transport tests are built with CBB from readable parts:
 * hex strings (spaces ignored) for the headers under test. */
struct bytes {
  uint8_t d[2048];
  size_t n;
};

static void put(struct bytes *b, const uint8_t *p, size_t n) {
  assert_true(b->n + n <= sizeof(b->d));
  memcpy(b->d + b->n, p, n);
  b->n += n;
}

static void put_hex(struct bytes *b, const char *hex) {
  for (const char *c = hex; *c;) {
    unsigned v;
    if (*c == ' ') {
      c++;
      continue;
    }
    if (sscanf(c, "%2x", &v) != 1 || c[1] == '\0') fail_msg("bad hex at %s", c);
    uint8_t byte = (uint8_t)v;
    put(b, &byte, 1);
    c += 2;
  }
}

static void ip(const char *s, struct zt_ip *out) {
  if (!zt_ip_parse(s, out)) fail_msg("bad address %s", s);
}

/* wrap4 makes an IPv4 packet: |opts| (hex, a multiple of 4 bytes), the
 * flags and fragment offset field |frag|, protocol |proto|, |payload|. */
static void wrap4(struct bytes *out, const char *src, const char *dst, uint8_t proto,
                  uint16_t frag, const char *opts, const struct bytes *payload) {
  struct bytes o = {.n = 0};
  struct zt_ip s, d;
  CBB cbb;
  size_t len = 0;
  put_hex(&o, opts ? opts : "");
  assert_int_equal(o.n % 4, 0);
  ip(src, &s);
  ip(dst, &d);
  assert_true(CBB_init_fixed(&cbb, out->d, sizeof(out->d)));
  assert_true(CBB_add_u8(&cbb, (uint8_t)(0x40 | (20 + o.n) / 4)) && CBB_add_u8(&cbb, 0) &&
              CBB_add_u16(&cbb, (uint16_t)(20 + o.n + payload->n)) &&
              CBB_add_u16(&cbb, 0x1234) && CBB_add_u16(&cbb, frag) && CBB_add_u8(&cbb, 64) &&
              CBB_add_u8(&cbb, proto) && CBB_add_u16(&cbb, 0) &&
              CBB_add_bytes(&cbb, s.addr, 4) && CBB_add_bytes(&cbb, d.addr, 4) &&
              CBB_add_bytes(&cbb, o.d, o.n) && CBB_add_bytes(&cbb, payload->d, payload->n) &&
              CBB_finish(&cbb, NULL, &len));
  out->n = len;
}

/* wrap6 makes an IPv6 packet with next header |nh| and |payload| (which
 * starts with the extension headers, if any). */
static void wrap6(struct bytes *out, const char *src, const char *dst, uint8_t nh,
                  const struct bytes *payload) {
  struct zt_ip s, d;
  CBB cbb;
  size_t len = 0;
  ip(src, &s);
  ip(dst, &d);
  assert_true(CBB_init_fixed(&cbb, out->d, sizeof(out->d)));
  assert_true(CBB_add_u32(&cbb, 0x6000abcd) && CBB_add_u16(&cbb, (uint16_t)payload->n) &&
              CBB_add_u8(&cbb, nh) && CBB_add_u8(&cbb, 64) && CBB_add_bytes(&cbb, s.addr, 16) &&
              CBB_add_bytes(&cbb, d.addr, 16) && CBB_add_bytes(&cbb, payload->d, payload->n) &&
              CBB_finish(&cbb, NULL, &len));
  out->n = len;
}

#define C4 "100.64.0.2"
#define R4 "198.51.100.7"
#define G4 "203.0.113.1"
#define C6 "fd00:5a::2"
#define R6 "fd00:77::7"
#define G6 "fd00:77::1"

/* TCP 40000 -> 443, SYN+ACK; UDP 5353 -> 53 with 4 bytes of data; echo
 * request id 0x4d2 seq 7 (v4 and v6 types). */
#define TCP_SYNACK "9c40 01bb 00000064 000000c8 50 12 ffff 0000 0000"
#define UDP_DNS "14e9 0035 000c 0000 64617461"
#define ECHO4 "08 00 0000 04d2 0007"
#define ECHO6 "80 00 0000 04d2 0007"

struct l4_case {
  const char *name;
  int v6;
  uint8_t proto; /* IPv4 protocol or the fixed header's next header */
  uint16_t frag; /* IPv4 flags and fragment offset */
  const char *opts, *payload;
  struct zt_l4 want;
};

#define TCP_WANT(p, f) \
  { .proto = (p), .has_ports = 1, .sport = 40000, .dport = 443, .tcp_flags = (f) }
#define UDP_WANT {.proto = 17, .has_ports = 1, .sport = 5353, .dport = 53}

static const struct l4_case l4_cases[] = {
    {"v4 tcp", 0, 6, 0x4000, NULL, TCP_SYNACK, TCP_WANT(6, 0x12)},
    {"v4 tcp 14 bytes", 0, 6, 0, NULL, "9c40 01bb 00000064 000000c8 50 11", TCP_WANT(6, 0x11)},
    {"v4 tcp 13 bytes", 0, 6, 0, NULL, "9c40 01bb 00000064 000000c8 50", {.proto = 6}},
    {"v4 tcp 4 bytes", 0, 6, 0, NULL, "9c40 01bb", {.proto = 6}},
    {"v4 tcp none", 0, 6, 0, NULL, "", {.proto = 6}},
    {"v4 tcp options", 0, 6, 0, "94040000 01010101", TCP_SYNACK, TCP_WANT(6, 0x12)},
    {"v4 udp", 0, 17, 0, NULL, UDP_DNS, UDP_WANT},
    {"v4 udp 8 bytes", 0, 17, 0, NULL, "14e9 0035 0008 0000", UDP_WANT},
    {"v4 udp 7 bytes", 0, 17, 0, NULL, "14e9 0035 0008 00", {.proto = 17}},
    {"v4 first fragment", 0, 17, 0x2000, NULL, UDP_DNS, UDP_WANT},
    {"v4 later fragment", 0, 17, 0x2000 | 3, NULL, UDP_DNS, {.proto = 17}},
    {"v4 last fragment", 0, 6, 0x0001, NULL, TCP_SYNACK, {.proto = 6}},
    {"v4 later fragment icmp", 0, 1, 0x00b9, NULL, ECHO4, {.proto = 1}},
    {"v4 echo request", 0, 1, 0, NULL, ECHO4,
     {.proto = 1, .has_icmp = 1, .icmp_type = 8, .icmp_id = 0x4d2}},
    {"v4 echo reply", 0, 1, 0, NULL, "00 00 ffff 1111 0001 abcdef",
     {.proto = 1, .has_icmp = 1, .icmp_type = 0, .icmp_id = 0x1111}},
    {"v4 echo 7 bytes", 0, 1, 0, NULL, "08 00 0000 04d2 00",
     {.proto = 1, .has_icmp = 1, .icmp_type = 8}},
    {"v4 timestamp", 0, 1, 0, NULL, "0d 00 0000 04d2 0007",
     {.proto = 1, .has_icmp = 1, .icmp_type = 13}},
    {"v4 icmp 4 bytes", 0, 1, 0, NULL, "0d 01 0000",
     {.proto = 1, .has_icmp = 1, .icmp_type = 13, .icmp_code = 1}},
    {"v4 icmp 3 bytes", 0, 1, 0, NULL, "08 00 00", {.proto = 1}},
    {"v4 icmpv6 number", 0, 58, 0, NULL, ECHO6, {.proto = 58}},
    {"v4 gre", 0, 47, 0, NULL, "00000800 45000000", {.proto = 47}},
    {"v6 tcp", 1, 6, 0, NULL, TCP_SYNACK, TCP_WANT(6, 0x12)},
    {"v6 tcp 13 bytes", 1, 6, 0, NULL, "9c40 01bb 00000064 000000c8 50", {.proto = 6}},
    {"v6 udp", 1, 17, 0, NULL, UDP_DNS, UDP_WANT},
    {"v6 udp 4 bytes", 1, 17, 0, NULL, "14e9 0035", {.proto = 17}},
    {"v6 echo request", 1, 58, 0, NULL, ECHO6,
     {.proto = 58, .has_icmp = 1, .icmp_type = 128, .icmp_id = 0x4d2}},
    {"v6 echo reply", 1, 58, 0, NULL, "81 00 0000 beef 0001",
     {.proto = 58, .has_icmp = 1, .icmp_type = 129, .icmp_id = 0xbeef}},
    {"v6 neighbour solicitation", 1, 58, 0, NULL, "87 00 0000 00000000",
     {.proto = 58, .has_icmp = 1, .icmp_type = 135}},
    {"v6 icmp number", 1, 1, 0, NULL, ECHO4, {.proto = 1}},
    {"v6 hop-by-hop tcp", 1, 0, 0, NULL, "06 00 0000 00000000 " TCP_SYNACK, TCP_WANT(6, 0x12)},
    {"v6 hbh routing dstopts udp", 1, 0, 0, NULL,
     "2b 00 0000 00000000 3c 00 0000 00000000 11 01 0000 00000000 00000000 00000000 " UDP_DNS,
     UDP_WANT},
    {"v6 routing with addresses", 1, 43, 0, NULL,
     "3a 02 0000 00000000 fd000077000000000000000000000001 " ECHO6,
     {.proto = 58, .has_icmp = 1, .icmp_type = 128, .icmp_id = 0x4d2}},
    {"v6 first fragment", 1, 44, 0, NULL, "06 00 0001 12345678 " TCP_SYNACK, TCP_WANT(6, 0x12)},
    {"v6 atomic fragment", 1, 44, 0, NULL, "11 00 0000 12345678 " UDP_DNS, UDP_WANT},
    {"v6 later fragment", 1, 44, 0, NULL, "06 00 0008 12345678 " TCP_SYNACK, {.proto = 6}},
    {"v6 hbh, later fragment", 1, 0, 0, NULL, "2c 00 0000 00000000 11 00 05a0 12345678 " UDP_DNS,
     {.proto = 17}},
    {"v6 ah", 1, 51, 0, NULL, "06 04 0000 00000001 00000001 00000000 00000000 00000000 " TCP_SYNACK,
     {.proto = 51}},
    {"v6 hbh esp", 1, 0, 0, NULL, "32 00 0000 00000000 00000001 00000001", {.proto = 50}},
    {"v6 no next header", 1, 59, 0, NULL, "", {.proto = 59}},
    {"v6 hbh truncated", 1, 0, 0, NULL, "06 01 0000 00000000", {.proto = 0}},
    {"v6 hbh 1 byte", 1, 0, 0, NULL, "06", {.proto = 0}},
    {"v6 fragment truncated", 1, 44, 0, NULL, "06 00 0000 1234", {.proto = 44}},
    {"v6 hbh, tcp truncated", 1, 0, 0, NULL, "06 00 0000 00000000 9c40 01bb 0000", {.proto = 6}},
    {"v6 hbh, nothing after", 1, 0, 0, NULL, "11 00 0000 00000000", {.proto = 17}},
};

static void assert_l4(const char *name, const struct zt_l4 *got, const struct zt_l4 *want) {
  if (got->proto != want->proto || got->has_ports != want->has_ports ||
      got->sport != want->sport || got->dport != want->dport ||
      got->tcp_flags != want->tcp_flags || got->has_icmp != want->has_icmp ||
      got->icmp_type != want->icmp_type || got->icmp_code != want->icmp_code ||
      got->icmp_id != want->icmp_id)
    fail_msg("%s: got proto %u ports %d %u>%u flags %02x icmp %d %u/%u id %u; want proto %u "
             "ports %d %u>%u flags %02x icmp %d %u/%u id %u",
             name, got->proto, got->has_ports, got->sport, got->dport, got->tcp_flags,
             got->has_icmp, got->icmp_type, got->icmp_code, got->icmp_id, want->proto,
             want->has_ports, want->sport, want->dport, want->tcp_flags, want->has_icmp,
             want->icmp_type, want->icmp_code, want->icmp_id);
}

static void build_case(const struct l4_case *c, struct bytes *pkt) {
  struct bytes payload = {.n = 0};
  put_hex(&payload, c->payload);
  if (c->v6)
    wrap6(pkt, C6, R6, c->proto, &payload);
  else
    wrap4(pkt, C4, R4, c->proto, c->frag, c->opts, &payload);
}

static void test_l4_table(void **state) {
  static const struct zt_ip none;
  for (size_t i = 0; i < sizeof(l4_cases) / sizeof(l4_cases[0]); i++) {
    const struct l4_case *c = &l4_cases[i];
    struct bytes b;
    struct zt_pkt p;
    build_case(c, &b);
    if (!zt_pkt_parse(b.d, b.n, &p)) fail_msg("%s: not parsed", c->name);
    assert_int_equal(p.proto, c->proto); /* the fixed header's, as before */
    assert_int_equal(p.src.family, c->v6 ? AF_INET6 : AF_INET);
    assert_l4(c->name, &p.l4, &c->want);
    if (p.is_icmp_error || memcmp(&p.inner_src, &none, sizeof(none)) != 0)
      fail_msg("%s: taken for an ICMP error", c->name);
  }
}

/* A chain of up to 8 extension headers is walked; the 9th is not. */
static void test_v6_ext_chain(void **state) {
  for (int n = 0; n <= 12; n++) {
    struct bytes payload = {.n = 0}, b;
    struct zt_pkt p;
    for (int k = 0; k < n; k++)
      put_hex(&payload, k == n - 1 ? "11 00 0000 00000000" : "3c 00 0000 00000000");
    put_hex(&payload, UDP_DNS);
    wrap6(&b, C6, R6, n == 0 ? 17 : 60, &payload);
    assert_int_equal(zt_pkt_parse(b.d, b.n, &p), 1);
    if (n <= 8) {
      const struct zt_l4 want = UDP_WANT;
      assert_l4("chain", &p.l4, &want);
    } else {
      assert_int_equal(p.l4.proto, 60);
      assert_int_equal(p.l4.has_ports, 0);
      assert_int_equal(p.l4.has_icmp, 0);
    }
  }
}

/* ---- ICMP errors ---- */

/* error4 / error6: an ICMP error of |type| from the router to the client
 * quoting the first |quoted| bytes of |orig|. |outer_ext| (hex) goes
 * between the IPv6 header and the ICMPv6 header. */
static void error4(struct bytes *out, uint8_t type, const struct bytes *orig, size_t quoted) {
  struct bytes icmp = {.n = 0};
  put_hex(&icmp, "00 00 0000 00000000");
  icmp.d[0] = type;
  put(&icmp, orig->d, quoted < orig->n ? quoted : orig->n);
  wrap4(out, G4, C4, 1, 0, NULL, &icmp);
}

static void error6(struct bytes *out, uint8_t type, const char *outer_ext,
                   const struct bytes *orig, size_t quoted) {
  struct bytes icmp = {.n = 0};
  put_hex(&icmp, outer_ext ? outer_ext : "");
  size_t at = icmp.n;
  put_hex(&icmp, "00 00 0000 00000500");
  icmp.d[at] = type;
  put(&icmp, orig->d, quoted < orig->n ? quoted : orig->n);
  wrap6(out, G6, C6, outer_ext ? 0 : 58, &icmp);
}

static void orig_pkt(struct bytes *out, int v6, uint8_t proto, uint16_t frag, const char *opts,
                     const char *payload) {
  struct bytes pl = {.n = 0};
  put_hex(&pl, payload);
  if (v6)
    wrap6(out, C6, R6, proto, &pl);
  else
    wrap4(out, C4, R4, proto, frag, opts, &pl);
}

static void assert_inner_addrs(const struct zt_pkt *p, int v6) {
  struct zt_ip c, r;
  ip(v6 ? C6 : C4, &c);
  ip(v6 ? R6 : R4, &r);
  assert_int_equal(p->is_icmp_error, 1);
  assert_int_equal(p->l4.has_icmp, 1);
  assert_int_equal(p->inner_src.family, c.family);
  assert_int_equal(p->inner_dst.family, c.family);
  assert_memory_equal(p->inner_src.addr, c.addr, 16);
  assert_memory_equal(p->inner_dst.addr, r.addr, 16);
}

struct error_case {
  const char *name;
  int v6;
  uint8_t type;
  const char *outer_ext; /* v6 only */
  uint8_t proto;         /* of the quoted packet */
  uint16_t frag;
  const char *opts, *payload;
  size_t quoted; /* bytes of the original packet quoted */
  int keyable;   /* inner_src set */
  struct zt_l4 want;
};

static const struct error_case error_cases[] = {
    {"v4 port unreachable, udp", 0, 3, NULL, 17, 0, NULL, UDP_DNS, 28, 1, UDP_WANT},
    {"v4 unreachable, all of udp", 0, 3, NULL, 17, 0, NULL, UDP_DNS, 1000, 1, UDP_WANT},
    {"v4 time exceeded, tcp 8 bytes", 0, 11, NULL, 6, 0, NULL, TCP_SYNACK, 28, 1, TCP_WANT(6, 0)},
    {"v4 time exceeded, tcp whole", 0, 11, NULL, 6, 0, NULL, TCP_SYNACK, 40, 1, TCP_WANT(6, 0x12)},
    {"v4 source quench, tcp 4 bytes", 0, 4, NULL, 6, 0, NULL, TCP_SYNACK, 24, 1, TCP_WANT(6, 0)},
    {"v4 redirect, udp 3 bytes", 0, 5, NULL, 17, 0, NULL, UDP_DNS, 23, 1, {.proto = 17}},
    {"v4 parameter problem, options", 0, 12, NULL, 17, 0, "94040000", UDP_DNS, 32, 1, UDP_WANT},
    {"v4 echo quoted", 0, 11, NULL, 1, 0, NULL, ECHO4, 28, 1,
     {.proto = 1, .has_icmp = 1, .icmp_type = 8, .icmp_id = 0x4d2}},
    {"v4 later fragment quoted", 0, 3, NULL, 17, 0x0010, NULL, UDP_DNS, 28, 1, {.proto = 17}},
    {"v4 quote of the IP header only", 0, 3, NULL, 17, 0, NULL, UDP_DNS, 20, 1, {.proto = 17}},
    {"v4 quote cut in the IP header", 0, 3, NULL, 17, 0, NULL, UDP_DNS, 19, 0, {0}},
    {"v4 quote cut in the options", 0, 3, NULL, 17, 0, "94040000", UDP_DNS, 22, 0, {0}},
    {"v4 no quote", 0, 3, NULL, 17, 0, NULL, UDP_DNS, 0, 0, {0}},
    {"v6 unreachable, udp", 1, 1, NULL, 17, 0, NULL, UDP_DNS, 48, 1, UDP_WANT},
    {"v6 packet too big, tcp", 1, 2, NULL, 6, 0, NULL, TCP_SYNACK, 1000, 1, TCP_WANT(6, 0x12)},
    {"v6 time exceeded, echo", 1, 3, NULL, 58, 0, NULL, ECHO6, 48, 1,
     {.proto = 58, .has_icmp = 1, .icmp_type = 128, .icmp_id = 0x4d2}},
    {"v6 parameter problem, hbh udp", 1, 4, NULL, 0, 0, NULL, "11 00 0000 00000000 " UDP_DNS, 56,
     1, UDP_WANT},
    {"v6 error after an outer hbh", 1, 1, "3a 00 0000 00000000", 6, 0, NULL, TCP_SYNACK, 44, 1,
     TCP_WANT(6, 0)},
    {"v6 quote of a later fragment", 1, 1, NULL, 44, 0, NULL, "11 00 0010 00000001 " UDP_DNS, 56,
     1, {.proto = 17}},
    {"v6 quote cut in the fixed header", 1, 1, NULL, 17, 0, NULL, UDP_DNS, 39, 0, {0}},
    {"v6 quote cut in the hbh", 1, 1, NULL, 0, 0, NULL, "11 00 0000 00000000 " UDP_DNS, 44, 1,
     {.proto = 0}},
};

static void test_icmp_errors(void **state) {
  static const struct zt_ip none;
  for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
    const struct error_case *c = &error_cases[i];
    struct bytes orig, b;
    struct zt_pkt p;
    orig_pkt(&orig, c->v6, c->proto, c->frag, c->opts, c->payload);
    if (c->v6)
      error6(&b, c->type, c->outer_ext, &orig, c->quoted);
    else
      error4(&b, c->type, &orig, c->quoted);
    if (!zt_pkt_parse(b.d, b.n, &p)) fail_msg("%s: not parsed", c->name);
    if (!p.is_icmp_error) fail_msg("%s: not an error", c->name);
    assert_int_equal(p.l4.icmp_type, c->type);
    assert_int_equal(p.l4.icmp_id, 0);
    if (c->keyable) {
      assert_inner_addrs(&p, c->v6);
    } else {
      if (memcmp(&p.inner_src, &none, sizeof(none)) || memcmp(&p.inner_dst, &none, sizeof(none)))
        fail_msg("%s: an unusable quote gave addresses", c->name);
    }
    assert_l4(c->name, &p.inner, &c->want);
  }
}

/* Which ICMP types are errors; and an error quoting the other family, or
 * whose own header is cut, cannot be keyed. */
static void test_icmp_error_types(void **state) {
  struct bytes orig, b;
  struct zt_pkt p;
  for (unsigned type = 0; type < 256; type++) {
    orig_pkt(&orig, 0, 17, 0, NULL, UDP_DNS);
    error4(&b, (uint8_t)type, &orig, 28);
    assert_int_equal(zt_pkt_parse(b.d, b.n, &p), 1);
    int want = type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
    if (p.is_icmp_error != want) fail_msg("v4 type %u", type);
    assert_int_equal(p.inner_src.family, want ? AF_INET : 0);
    assert_int_equal(p.inner.has_ports, want);
    orig_pkt(&orig, 1, 17, 0, NULL, UDP_DNS);
    error6(&b, (uint8_t)type, NULL, &orig, 48);
    assert_int_equal(zt_pkt_parse(b.d, b.n, &p), 1);
    want = type >= 1 && type <= 4;
    if (p.is_icmp_error != want) fail_msg("v6 type %u", type);
    assert_int_equal(p.inner_src.family, want ? AF_INET6 : 0);
    assert_int_equal(p.inner.has_ports, want);
  }
  /* v4 error quoting a v6 packet and the other way round */
  orig_pkt(&orig, 1, 17, 0, NULL, UDP_DNS);
  error4(&b, 3, &orig, 48);
  assert_int_equal(zt_pkt_parse(b.d, b.n, &p), 1);
  assert_int_equal(p.is_icmp_error, 1);
  assert_int_equal(p.inner_src.family, 0);
  assert_int_equal(p.inner.proto, 0);
  orig_pkt(&orig, 0, 17, 0, NULL, UDP_DNS);
  error6(&b, 1, NULL, &orig, 28);
  assert_int_equal(zt_pkt_parse(b.d, b.n, &p), 1);
  assert_int_equal(p.is_icmp_error, 1);
  assert_int_equal(p.inner_src.family, 0);
  /* the error's own header cut after 4 and after 7 bytes */
  for (size_t n = 4; n < 8; n++) {
    struct bytes icmp = {.n = 0};
    put_hex(&icmp, "03 03 0000 000000");
    icmp.n = n;
    wrap4(&b, G4, C4, 1, 0, NULL, &icmp);
    assert_int_equal(zt_pkt_parse(b.d, b.n, &p), 1);
    assert_int_equal(p.is_icmp_error, 1);
    assert_int_equal(p.l4.icmp_code, 3);
    assert_int_equal(p.inner_src.family, 0);
  }
  /* a non-first fragment of an ICMP error is no error: no header there */
  orig_pkt(&orig, 0, 17, 0, NULL, UDP_DNS);
  error4(&b, 3, &orig, 28);
  struct bytes icmp = {.n = 0};
  put(&icmp, b.d + 20, b.n - 20);
  wrap4(&b, G4, C4, 1, 0x0020, NULL, &icmp);
  assert_int_equal(zt_pkt_parse(b.d, b.n, &p), 1);
  assert_int_equal(p.l4.has_icmp, 0);
  assert_int_equal(p.is_icmp_error, 0);
}

/* Every truncation of a transport header that still leaves a valid IP
 * packet parses, with fewer facts, never more. */
static void test_l4_truncations(void **state) {
  for (size_t i = 0; i < sizeof(l4_cases) / sizeof(l4_cases[0]); i++) {
    const struct l4_case *c = &l4_cases[i];
    struct bytes full, payload = {.n = 0}, b;
    struct zt_pkt p, pf;
    build_case(c, &full);
    assert_int_equal(zt_pkt_parse(full.d, full.n, &pf), 1);
    put_hex(&payload, c->payload);
    for (size_t n = 0; n <= payload.n; n++) {
      struct bytes cut = payload;
      cut.n = n;
      if (c->v6)
        wrap6(&b, C6, R6, c->proto, &cut);
      else
        wrap4(&b, C4, R4, c->proto, c->frag, c->opts, &cut);
      assert_int_equal(zt_pkt_parse(b.d, b.n, &p), 1);
      assert_true(p.l4.has_ports <= pf.l4.has_ports);
      assert_true(p.l4.has_icmp <= pf.l4.has_icmp);
      if (p.l4.has_ports) {
        assert_int_equal(p.l4.sport, pf.l4.sport);
        assert_int_equal(p.l4.dport, pf.l4.dport);
      }
      if (p.l4.icmp_id) assert_int_equal(p.l4.icmp_id, pf.l4.icmp_id);
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
      cmocka_unit_test(test_l4_table),
      cmocka_unit_test(test_v6_ext_chain),
      cmocka_unit_test(test_icmp_errors),
      cmocka_unit_test(test_icmp_error_types),
      cmocka_unit_test(test_l4_truncations),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

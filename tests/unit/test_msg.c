/* msg: USER_PROOF, ADMIT and REJECT/CLOSE bodies. Every parser is checked
 * against bodies built by hand here, not only by the matching builder, so a
 * bug shared by both cannot hide. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <openssl/mem.h>

#include "msg.h"
#include "proto.h"

/* A finished CBB as an owned buffer. */
struct buf {
  uint8_t *data;
  size_t len;
};

static void finish(CBB *cbb, struct buf *b) {
  assert_int_equal(CBB_finish(cbb, &b->data, &b->len), 1);
}

/* ---- USER_PROOF ----------------------------------------------------------- */

static uint8_t pattern[ZT_MAX_CERT_LEN + 16];

static void fill_pattern(void) {
  for (size_t i = 0; i < sizeof(pattern); i++) pattern[i] = (uint8_t)(i * 31 + 7);
}

/* Builds a proof whose certificate i is |lens[i]| bytes of the pattern
 * starting at offset i. */
static int build_proof(struct buf *b, size_t ncerts, const size_t *lens,
                       uint16_t scheme, size_t sig_len) {
  const uint8_t *certs[8];
  CBB cbb;
  for (size_t i = 0; i < ncerts; i++) certs[i] = pattern + i;
  assert_int_equal(CBB_init(&cbb, 0), 1);
  if (!zt_user_proof_build(&cbb, certs, lens, ncerts, scheme, pattern + 100,
                           sig_len)) {
    CBB_cleanup(&cbb);
    return 0;
  }
  finish(&cbb, b);
  return 1;
}

/* Builds a proof by hand: |version|, certificates of |lens|, scheme, sig. */
static void raw_proof(struct buf *b, uint8_t version, size_t ncerts,
                      const size_t *lens, size_t sig_len) {
  CBB cbb, chain, c, s;
  assert_int_equal(CBB_init(&cbb, 0), 1);
  assert_int_equal(CBB_add_u8(&cbb, version), 1);
  assert_int_equal(CBB_add_u16_length_prefixed(&cbb, &chain), 1);
  for (size_t i = 0; i < ncerts; i++) {
    assert_int_equal(CBB_add_u16_length_prefixed(&chain, &c), 1);
    assert_int_equal(CBB_add_bytes(&c, pattern, lens[i]), 1);
  }
  assert_int_equal(CBB_add_u16(&cbb, ZT_SIG_ED25519), 1);
  assert_int_equal(CBB_add_u16_length_prefixed(&cbb, &s), 1);
  assert_int_equal(CBB_add_bytes(&s, pattern, sig_len), 1);
  finish(&cbb, b);
}

static int parse_proof(const struct buf *b, struct zt_user_proof *p) {
  CBS cbs;
  CBS_init(&cbs, b->data, b->len);
  return zt_user_proof_parse(cbs, p);
}

static void test_proof_round_trip(void **state) {
  static const struct {
    size_t ncerts;
    size_t lens[4];
    uint16_t scheme;
    size_t sig_len;
  } cases[] = {
      {0, {0}, ZT_SIG_ECDSA_P256_SHA256, 72},
      {1, {300}, ZT_SIG_ED25519, 64},
      {4, {1, 500, 1000, ZT_MAX_CERT_LEN}, ZT_SIG_RSA_PSS_SHA256, ZT_MAX_SIG_LEN},
      {2, {ZT_MAX_CERT_LEN, 9}, ZT_SIG_ECDSA_P384_SHA384, 0},
  };
  fill_pattern();
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct buf b;
    struct zt_user_proof p;
    assert_int_equal(build_proof(&b, cases[i].ncerts, cases[i].lens,
                                 cases[i].scheme, cases[i].sig_len),
                     1);
    assert_int_equal(b.data[0], ZT_PROTO_VERSION);
    assert_int_equal(parse_proof(&b, &p), 1);
    assert_int_equal(p.ncerts, cases[i].ncerts);
    for (size_t k = 0; k < p.ncerts; k++) {
      assert_int_equal(CBS_len(&p.certs[k]), cases[i].lens[k]);
      assert_memory_equal(CBS_data(&p.certs[k]), pattern + k, cases[i].lens[k]);
      /* the parse points into the body */
      assert_true(CBS_data(&p.certs[k]) > b.data &&
                  CBS_data(&p.certs[k]) < b.data + b.len);
    }
    assert_int_equal(p.sig_scheme, cases[i].scheme);
    assert_int_equal(CBS_len(&p.sig), cases[i].sig_len);
    if (cases[i].sig_len)
      assert_memory_equal(CBS_data(&p.sig), pattern + 100, cases[i].sig_len);
    OPENSSL_free(b.data);
  }
}

static void test_proof_build_refuses(void **state) {
  static const size_t five[5] = {10, 10, 10, 10, 10};
  static const size_t zero[2] = {10, 0};
  static const size_t big[1] = {ZT_MAX_CERT_LEN + 1};
  struct buf b;
  fill_pattern();
  assert_int_equal(build_proof(&b, 5, five, ZT_SIG_ED25519, 64), 0);
  assert_int_equal(build_proof(&b, 2, zero, ZT_SIG_ED25519, 64), 0);
  assert_int_equal(build_proof(&b, 1, big, ZT_SIG_ED25519, 64), 0);
  assert_int_equal(build_proof(&b, 1, five, ZT_SIG_ED25519, ZT_MAX_SIG_LEN + 1), 0);
}

static void test_proof_parse_refuses(void **state) {
  static const size_t five[5] = {10, 10, 10, 10, 10};
  static const size_t four[4] = {10, 10, 10, 10};
  static const size_t zero[2] = {10, 0};
  static const size_t big[1] = {ZT_MAX_CERT_LEN + 1};
  static const size_t max[1] = {ZT_MAX_CERT_LEN};
  struct buf b;
  struct zt_user_proof p;
  fill_pattern();
  /* The hand-built form is accepted where it is valid ... */
  raw_proof(&b, ZT_PROTO_VERSION, 4, four, 64);
  assert_int_equal(parse_proof(&b, &p), 1);
  assert_int_equal(p.ncerts, 4);
  OPENSSL_free(b.data);
  raw_proof(&b, ZT_PROTO_VERSION, 1, max, ZT_MAX_SIG_LEN);
  assert_int_equal(parse_proof(&b, &p), 1);
  OPENSSL_free(b.data);
  /* ... and refused otherwise. */
  raw_proof(&b, ZT_PROTO_VERSION, 5, five, 64);
  assert_int_equal(parse_proof(&b, &p), 0);
  OPENSSL_free(b.data);
  raw_proof(&b, ZT_PROTO_VERSION, 2, zero, 64);
  assert_int_equal(parse_proof(&b, &p), 0);
  OPENSSL_free(b.data);
  raw_proof(&b, ZT_PROTO_VERSION, 1, big, 64);
  assert_int_equal(parse_proof(&b, &p), 0);
  OPENSSL_free(b.data);
  raw_proof(&b, ZT_PROTO_VERSION, 1, four, ZT_MAX_SIG_LEN + 1);
  assert_int_equal(parse_proof(&b, &p), 0);
  OPENSSL_free(b.data);
  static const uint8_t versions[] = {0, 2, 0x81, 0xff};
  for (size_t i = 0; i < sizeof(versions); i++) {
    raw_proof(&b, versions[i], 1, four, 64);
    assert_int_equal(parse_proof(&b, &p), 0);
    OPENSSL_free(b.data);
  }
}

static void test_proof_chain_garbage(void **state) {
  /* The chain's length covers a certificate header cut short. */
  static const uint8_t cut[] = {1, 0, 3, 0, 5, 0xaa, 0x08, 0x07, 0, 0};
  /* A certificate length running past the chain into the signature. */
  static const uint8_t over[] = {1, 0, 3, 0, 9, 0xaa, 0x08, 0x07, 0, 2, 1, 2};
  struct zt_user_proof p;
  CBS cbs;
  CBS_init(&cbs, cut, sizeof(cut));
  assert_int_equal(zt_user_proof_parse(cbs, &p), 0);
  CBS_init(&cbs, over, sizeof(over));
  assert_int_equal(zt_user_proof_parse(cbs, &p), 0);
  /* The smallest valid proof: no certificate, empty signature. */
  static const uint8_t empty[] = {1, 0, 0, 0x08, 0x07, 0, 0};
  CBS_init(&cbs, empty, sizeof(empty));
  assert_int_equal(zt_user_proof_parse(cbs, &p), 1);
  assert_int_equal(p.ncerts, 0);
  assert_int_equal(p.sig_scheme, ZT_SIG_ED25519);
}

static void test_proof_truncated_and_trailing(void **state) {
  static const size_t lens[3] = {40, 1, 77};
  struct buf b;
  struct zt_user_proof p;
  fill_pattern();
  assert_int_equal(build_proof(&b, 3, lens, ZT_SIG_ECDSA_P256_SHA256, 71), 1);
  for (size_t n = 0; n < b.len; n++) {
    CBS cbs;
    CBS_init(&cbs, b.data, n);
    if (zt_user_proof_parse(cbs, &p)) fail_msg("prefix of %zu/%zu bytes accepted", n, b.len);
  }
  uint8_t *longer = malloc(b.len + 1);
  assert_non_null(longer);
  memcpy(longer, b.data, b.len);
  longer[b.len] = 0;
  CBS cbs;
  CBS_init(&cbs, longer, b.len + 1);
  assert_int_equal(zt_user_proof_parse(cbs, &p), 0);
  CBS_init(&cbs, longer, b.len);
  assert_int_equal(zt_user_proof_parse(cbs, &p), 1);
  free(longer);
  OPENSSL_free(b.data);
}

/* ---- ADMIT --------------------------------------------------------------- */

static void pfx(struct zt_prefix *p, const char *s) {
  char buf[ZT_ADDR_STRLEN];
  /* Interface addresses have host bits set: parse the address alone. */
  const char *slash = strchr(s, '/');
  struct zt_ip ip;
  size_t alen = strlen(s) - strlen(slash);
  memcpy(buf, s, alen);
  buf[alen] = '\0';
  assert_int_equal(zt_ip_parse(buf, &ip), 1);
  memset(p, 0, sizeof(*p));
  p->family = ip.family;
  memcpy(p->addr, ip.addr, sizeof(p->addr));
  p->len = (uint8_t)atoi(slash + 1);
}

static void full_admit(struct zt_admit *a) {
  memset(a, 0, sizeof(*a));
  pfx(&a->addr4, "100.64.0.2/10");
  a->has_addr6 = 1;
  pfx(&a->addr6, "fd00:5a::2/64");
  a->mtu = 1400;
  a->keepalive = 25;
  a->session_id = 0x0123456789abcdefull;
  a->nroutes = 3;
  pfx(&a->routes[0], "10.0.0.0/8");
  pfx(&a->routes[1], "192.0.2.0/24");
  pfx(&a->routes[2], "fd00:77::/64");
  a->ndns = 2;
  assert_int_equal(zt_ip_parse("10.0.0.53", &a->dns[0]), 1);
  assert_int_equal(zt_ip_parse("fd00:77::53", &a->dns[1]), 1);
  a->ndomains = 2;
  strcpy(a->domains[0], "corp.example");
  strcpy(a->domains[1], "lab-1.corp.example");
  a->has_udp = 1;
  a->udp_port = 8443;
  a->udp_server_index = 0xdeadbeef;
  a->udp_client_index = 0x01020304;
  a->udp_cipher = 2;
  a->rekey_interval = 120;
  a->has_resume = 1;
  for (int i = 0; i < ZT_RESUME_TOKEN_LEN; i++) a->resume_token[i] = (uint8_t)(i * 7 + 1);
  a->reauth_interval = 3600;
  a->resumed = 1;
}

static void assert_prefix_equal(const struct zt_prefix *x, const struct zt_prefix *y) {
  assert_int_equal(x->family, y->family);
  assert_int_equal(x->len, y->len);
  assert_memory_equal(x->addr, y->addr, sizeof(x->addr));
}

static void assert_admit_equal(const struct zt_admit *x, const struct zt_admit *y) {
  assert_prefix_equal(&x->addr4, &y->addr4);
  assert_int_equal(x->has_addr6, y->has_addr6);
  if (x->has_addr6) assert_prefix_equal(&x->addr6, &y->addr6);
  assert_int_equal(x->mtu, y->mtu);
  assert_int_equal(x->keepalive, y->keepalive);
  assert_int_equal(x->session_id, y->session_id);
  assert_int_equal(x->nroutes, y->nroutes);
  for (size_t i = 0; i < x->nroutes; i++) assert_prefix_equal(&x->routes[i], &y->routes[i]);
  assert_int_equal(x->ndns, y->ndns);
  for (size_t i = 0; i < x->ndns; i++) {
    assert_int_equal(x->dns[i].family, y->dns[i].family);
    assert_memory_equal(x->dns[i].addr, y->dns[i].addr, 16);
  }
  assert_int_equal(x->ndomains, y->ndomains);
  for (size_t i = 0; i < x->ndomains; i++)
    assert_string_equal(x->domains[i], y->domains[i]);
  assert_int_equal(x->has_udp, y->has_udp);
  if (x->has_udp) {
    assert_int_equal(x->udp_port, y->udp_port);
    assert_int_equal(x->udp_server_index, y->udp_server_index);
    assert_int_equal(x->udp_client_index, y->udp_client_index);
    assert_int_equal(x->udp_cipher, y->udp_cipher);
    assert_int_equal(x->rekey_interval, y->rekey_interval);
  }
  assert_int_equal(x->has_resume, y->has_resume);
  if (x->has_resume) assert_memory_equal(x->resume_token, y->resume_token, ZT_RESUME_TOKEN_LEN);
  assert_int_equal(x->reauth_interval, y->reauth_interval);
  assert_int_equal(x->resumed, y->resumed);
}

static int build_admit(const struct zt_admit *a, struct buf *b) {
  CBB cbb;
  assert_int_equal(CBB_init(&cbb, 0), 1);
  if (!zt_admit_build(&cbb, a)) {
    CBB_cleanup(&cbb);
    return 0;
  }
  finish(&cbb, b);
  return 1;
}

static int parse_admit(const uint8_t *data, size_t len, struct zt_admit *a) {
  CBS cbs;
  CBS_init(&cbs, data, len);
  return zt_admit_parse(cbs, a);
}

static void test_admit_round_trip(void **state) {
  struct zt_admit a, got;
  struct buf b;
  full_admit(&a);
  assert_int_equal(build_admit(&a, &b), 1);
  assert_int_equal(parse_admit(b.data, b.len, &got), 1);
  assert_admit_equal(&a, &got);
  OPENSSL_free(b.data);

  /* The minimum: IPv4 only, nothing optional. */
  full_admit(&a);
  a.has_udp = a.has_resume = a.resumed = 0;
  a.reauth_interval = 0;
  a.has_addr6 = 0;
  a.nroutes = a.ndns = a.ndomains = 0;
  a.mtu = ZT_MIN_MTU;
  assert_int_equal(build_admit(&a, &b), 1);
  assert_int_equal(parse_admit(b.data, b.len, &got), 1);
  assert_admit_equal(&a, &got);
  assert_int_equal(got.has_addr6, 0);
  OPENSSL_free(b.data);

  /* Every list at its maximum. */
  full_admit(&a);
  a.nroutes = ZT_MAX_ROUTES;
  for (size_t i = 0; i < ZT_MAX_ROUTES; i++) {
    memset(&a.routes[i], 0, sizeof(a.routes[i]));
    a.routes[i].family = AF_INET;
    a.routes[i].addr[0] = 10;
    a.routes[i].addr[1] = (uint8_t)i;
    a.routes[i].len = 16;
  }
  a.ndns = ZT_MAX_DNS_SERVERS;
  for (size_t i = 0; i < ZT_MAX_DNS_SERVERS; i++) a.dns[i] = a.dns[i % 2];
  a.ndomains = ZT_MAX_DNS_DOMAINS;
  for (size_t i = 0; i < ZT_MAX_DNS_DOMAINS; i++) {
    memset(a.domains[i], 'a' + (int)i, ZT_MAX_DOMAIN_LEN);
    a.domains[i][ZT_MAX_DOMAIN_LEN] = '\0';
  }
  a.mtu = ZT_MAX_MTU;
  a.keepalive = 3600;
  assert_int_equal(build_admit(&a, &b), 1);
  assert_true(b.len <= ZT_MAX_ADMIT);
  assert_int_equal(parse_admit(b.data, b.len, &got), 1);
  assert_admit_equal(&a, &got);
  OPENSSL_free(b.data);
}

static void test_admit_build_refuses(void **state) {
  struct zt_admit a;
  struct buf b;
  full_admit(&a);
  a.nroutes = ZT_MAX_ROUTES + 1;
  assert_int_equal(build_admit(&a, &b), 0);
  full_admit(&a);
  a.ndns = ZT_MAX_DNS_SERVERS + 1;
  assert_int_equal(build_admit(&a, &b), 0);
  full_admit(&a);
  a.ndomains = ZT_MAX_DNS_DOMAINS + 1;
  assert_int_equal(build_admit(&a, &b), 0);
  full_admit(&a);
  strcpy(a.domains[1], "bad domain");
  assert_int_equal(build_admit(&a, &b), 0);
  full_admit(&a);
  a.addr4.family = 0;
  assert_int_equal(build_admit(&a, &b), 0);
  full_admit(&a);
  a.dns[0].family = AF_UNIX;
  assert_int_equal(build_admit(&a, &b), 0);
}

/* Raw attribute lists: each attribute given as type + value bytes. */
struct attr {
  uint8_t type;
  size_t len;
  uint8_t value[300];
};

#define A4(a, b, c, d, l) {ZT_ATTR_ADDR4, 5, {a, b, c, d, l}}
#define A6(l) {ZT_ATTR_ADDR6, 17, {0xfd, 0, 0, 0x5a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, l}}
#define MTU(v) {ZT_ATTR_MTU, 2, {(uint8_t)((v) >> 8), (uint8_t)(v)}}
#define KA(v) {ZT_ATTR_KEEPALIVE, 2, {(uint8_t)((v) >> 8), (uint8_t)(v)}}
#define SID {ZT_ATTR_SESSION_ID, 8, {1, 2, 3, 4, 5, 6, 7, 8}}
#define END {0, 0, {0}}
/* UDP: port, server index, client index, cipher, rekey interval. */
#define UDP(port, cipher, rekey)                                                  \
  {ZT_ATTR_UDP, 15, {(uint8_t)((port) >> 8), (uint8_t)(port), 1, 2, 3, 4, 5, 6, 7, 8, \
                     cipher, 0, 0, (uint8_t)((rekey) >> 8), (uint8_t)(rekey)}}

/* Bodies are lists ending with END; type 0 with len 1 marks a real type-0
 * attribute. */
struct admit_case {
  const char *what;
  int ok;
  struct attr attrs[8];
};

static const struct admit_case admit_cases[] = {
    {"minimal", 1, {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, END}},
    {"any order", 1, {SID, KA(10), MTU(1400), A4(100, 64, 0, 2, 10), END}},
    {"with v6", 1, {A4(100, 64, 0, 2, 10), A6(64), MTU(1280), KA(10), SID, END}},
    {"missing addr4", 0, {MTU(1400), KA(10), SID, END}},
    {"missing mtu", 0, {A4(100, 64, 0, 2, 10), KA(10), SID, END}},
    {"missing keepalive", 0, {A4(100, 64, 0, 2, 10), MTU(1400), SID, END}},
    {"missing session id", 0, {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), END}},
    {"empty body", 0, {END}},
    {"addr4 twice", 0,
     {A4(100, 64, 0, 2, 10), A4(100, 64, 0, 3, 10), MTU(1400), KA(10), SID, END}},
    {"addr6 twice", 0,
     {A4(100, 64, 0, 2, 10), A6(64), A6(64), MTU(1400), KA(10), SID, END}},
    {"mtu twice", 0, {A4(100, 64, 0, 2, 10), MTU(1400), MTU(1400), KA(10), SID, END}},
    {"keepalive twice", 0, {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), KA(10), SID, END}},
    {"session id twice", 0, {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, SID, END}},
    {"unknown 9", 0, {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, {9, 0, {0}}, END}},
    {"unknown 0", 0, {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, {0, 1, {0}}, END}},
    {"unknown 31", 0, {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, {31, 0, {0}}, END}},
    {"unknown 32", 0, {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, {32, 0, {0}}, END}},
    {"unknown 255", 0, {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, {255, 0, {0}}, END}},
    {"mtu 575", 0, {A4(100, 64, 0, 2, 10), MTU(575), KA(10), SID, END}},
    {"mtu 576", 1, {A4(100, 64, 0, 2, 10), MTU(576), KA(10), SID, END}},
    {"mtu 9000", 1, {A4(100, 64, 0, 2, 10), MTU(9000), KA(10), SID, END}},
    {"mtu 9001", 0, {A4(100, 64, 0, 2, 10), MTU(9001), KA(10), SID, END}},
    {"mtu 0", 0, {A4(100, 64, 0, 2, 10), MTU(0), KA(10), SID, END}},
    {"mtu 65535", 0, {A4(100, 64, 0, 2, 10), MTU(65535), KA(10), SID, END}},
    {"mtu 1279 with v6", 0, {A4(100, 64, 0, 2, 10), A6(64), MTU(1279), KA(10), SID, END}},
    {"mtu 3 bytes", 0,
     {A4(100, 64, 0, 2, 10), {ZT_ATTR_MTU, 3, {5, 0, 0}}, KA(10), SID, END}},
    {"mtu 1 byte", 0, {A4(100, 64, 0, 2, 10), {ZT_ATTR_MTU, 1, {5}}, KA(10), SID, END}},
    {"keepalive 0", 0, {A4(100, 64, 0, 2, 10), MTU(1400), KA(0), SID, END}},
    {"keepalive 1", 1, {A4(100, 64, 0, 2, 10), MTU(1400), KA(1), SID, END}},
    {"keepalive 3600", 1, {A4(100, 64, 0, 2, 10), MTU(1400), KA(3600), SID, END}},
    {"keepalive 3601", 0, {A4(100, 64, 0, 2, 10), MTU(1400), KA(3601), SID, END}},
    {"session id 7 bytes", 0,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10),
      {ZT_ATTR_SESSION_ID, 7, {1, 2, 3, 4, 5, 6, 7}}, END}},
    {"session id 9 bytes", 0,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10),
      {ZT_ATTR_SESSION_ID, 9, {1, 2, 3, 4, 5, 6, 7, 8, 9}}, END}},
    {"addr4 prefix 32", 1, {A4(100, 64, 0, 2, 32), MTU(1400), KA(10), SID, END}},
    {"addr4 prefix 33", 0, {A4(100, 64, 0, 2, 33), MTU(1400), KA(10), SID, END}},
    {"addr4 given 16 bytes", 0, {A6(64), MTU(1400), KA(10), SID, END}},
    {"addr4 4 bytes", 0,
     {{ZT_ATTR_ADDR4, 4, {100, 64, 0, 2}}, MTU(1400), KA(10), SID, END}},
    {"addr6 given 4 bytes", 0,
     {A4(100, 64, 0, 2, 10), {ZT_ATTR_ADDR6, 5, {100, 64, 0, 2, 10}}, MTU(1400),
      KA(10), SID, END}},
    {"addr6 prefix 129", 0, {A4(100, 64, 0, 2, 10), A6(129), MTU(1400), KA(10), SID, END}},
    {"route v4 /32", 1,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID,
      {ZT_ATTR_ROUTE, 5, {10, 1, 2, 3, 32}}, END}},
    {"route v4 /33", 0,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID,
      {ZT_ATTR_ROUTE, 5, {10, 1, 2, 3, 33}}, END}},
    {"route v4 /255", 0,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID,
      {ZT_ATTR_ROUTE, 5, {10, 1, 2, 3, 255}}, END}},
    {"route v6 /128", 1,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID,
      {ZT_ATTR_ROUTE, 17, {0xfd, 0, 0, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 128}},
      END}},
    {"route v6 /129", 0,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID,
      {ZT_ATTR_ROUTE, 17, {0xfd, 0, 0, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 129}},
      END}},
    {"route 6 bytes", 0,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID,
      {ZT_ATTR_ROUTE, 6, {10, 1, 2, 3, 0, 24}}, END}},
    {"route empty", 0,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, {ZT_ATTR_ROUTE, 0, {0}}, END}},
    {"dns v4", 1,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID,
      {ZT_ATTR_DNS_SERVER, 4, {10, 0, 0, 53}}, END}},
    {"dns 5 bytes", 0,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID,
      {ZT_ATTR_DNS_SERVER, 5, {10, 0, 0, 53, 0}}, END}},
    {"dns empty", 0,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, {ZT_ATTR_DNS_SERVER, 0, {0}}, END}},
    {"domain ok", 1,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID,
      {ZT_ATTR_DNS_DOMAIN, 12, "corp.example"}, END}},
    {"domain empty", 0,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, {ZT_ATTR_DNS_DOMAIN, 0, {0}}, END}},
    {"domain space", 0,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID,
      {ZT_ATTR_DNS_DOMAIN, 12, "corp example"}, END}},
    {"domain underscore", 0,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID,
      {ZT_ATTR_DNS_DOMAIN, 12, "corp_example"}, END}},
    {"domain NUL", 0,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID,
      {ZT_ATTR_DNS_DOMAIN, 12, "corp\0example"}, END}},
    {"domain newline", 0,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID,
      {ZT_ATTR_DNS_DOMAIN, 12, "corp.exampl\n"}, END}},
    {"udp ok", 1, {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, UDP(8443, 1, 120), END}},
    {"udp chacha", 1, {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, UDP(1, 2, 1), END}},
    {"udp twice", 0,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, UDP(8443, 1, 120), UDP(8443, 1, 120),
      END}},
    {"udp port 0", 0, {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, UDP(0, 1, 120), END}},
    {"udp cipher 0", 0, {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, UDP(8443, 0, 120), END}},
    {"udp cipher 3", 0, {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, UDP(8443, 3, 120), END}},
    {"udp rekey 0", 0, {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, UDP(8443, 1, 0), END}},
    {"udp 14 bytes", 0,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID,
      {ZT_ATTR_UDP, 14, {0x20, 0xfb, 1, 2, 3, 4, 5, 6, 7, 8, 1, 0, 0, 0}}, END}},
    {"resume ok", 1,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, {ZT_ATTR_RESUME, 32, {1}}, END}},
    {"resume 31 bytes", 0,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, {ZT_ATTR_RESUME, 31, {1}}, END}},
    {"resume 33 bytes", 0,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, {ZT_ATTR_RESUME, 33, {1}}, END}},
    {"reauth week", 1,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, {ZT_ATTR_REAUTH, 4, {0, 9, 0x3a, 0x80}},
      END}},
    {"reauth week + 1", 0,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, {ZT_ATTR_REAUTH, 4, {0, 9, 0x3a, 0x81}},
      END}},
    {"resumed", 1, {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, {ZT_ATTR_RESUMED, 0, {0}}, END}},
    {"resumed twice", 0,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, {ZT_ATTR_RESUMED, 0, {0}},
      {ZT_ATTR_RESUMED, 0, {0}}, END}},
    {"resumed 1 byte", 0,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, {ZT_ATTR_RESUMED, 1, {1}}, END}},
    {"reauth 2 bytes", 0,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID, {ZT_ATTR_REAUTH, 2, {0, 10}}, END}},
    {"domain high byte", 0,
     {A4(100, 64, 0, 2, 10), MTU(1400), KA(10), SID,
      {ZT_ATTR_DNS_DOMAIN, 12, "corp.exampl\xe9"}, END}},
};

/* Builds a body from |attrs| (up to END). */
static void raw_admit(const struct attr *attrs, struct buf *b) {
  CBB cbb, v;
  assert_int_equal(CBB_init(&cbb, 0), 1);
  for (const struct attr *a = attrs; a->type != 0 || a->len != 0; a++) {
    assert_int_equal(CBB_add_u8(&cbb, a->type), 1);
    assert_int_equal(CBB_add_u16_length_prefixed(&cbb, &v), 1);
    assert_int_equal(CBB_add_bytes(&v, a->value, a->len), 1);
  }
  finish(&cbb, b);
}

static void test_admit_cases(void **state) {
  for (size_t i = 0; i < sizeof(admit_cases) / sizeof(admit_cases[0]); i++) {
    const struct admit_case *c = &admit_cases[i];
    struct buf b;
    struct zt_admit a;
    raw_admit(c->attrs, &b);
    int ok = parse_admit(b.data, b.len, &a);
    if (ok != c->ok) fail_msg("%s: got %d, want %d", c->what, ok, c->ok);
    if (ok) {
      /* What was accepted builds back into something accepted and equal. */
      struct buf again;
      struct zt_admit a2;
      assert_int_equal(build_admit(&a, &again), 1);
      assert_int_equal(parse_admit(again.data, again.len, &a2), 1);
      assert_admit_equal(&a, &a2);
      OPENSSL_free(again.data);
    }
    OPENSSL_free(b.data);
  }
}

static void test_admit_values(void **state) {
  static const struct attr attrs[] = {
      A4(100, 64, 0, 2, 10), A6(64), MTU(1400), KA(25), SID,
      {ZT_ATTR_ROUTE, 5, {192, 0, 2, 0, 24}},
      {ZT_ATTR_DNS_SERVER, 16, {0xfd, 0, 0, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53}},
      {ZT_ATTR_DNS_DOMAIN, 4, "a-b."}, END};
  struct buf b;
  struct zt_admit a;
  raw_admit(attrs, &b);
  assert_int_equal(parse_admit(b.data, b.len, &a), 1);
  assert_int_equal(a.addr4.family, AF_INET);
  assert_memory_equal(a.addr4.addr, "\x64\x40\x00\x02", 4);
  assert_int_equal(a.addr4.len, 10);
  assert_int_equal(a.has_addr6, 1);
  assert_int_equal(a.addr6.family, AF_INET6);
  assert_int_equal(a.addr6.len, 64);
  assert_int_equal(a.addr6.addr[15], 2);
  assert_int_equal(a.mtu, 1400);
  assert_int_equal(a.keepalive, 25);
  assert_int_equal(a.session_id, 0x0102030405060708ull);
  assert_int_equal(a.nroutes, 1);
  assert_int_equal(a.routes[0].family, AF_INET);
  assert_int_equal(a.routes[0].len, 24);
  assert_int_equal(a.ndns, 1);
  assert_int_equal(a.dns[0].family, AF_INET6);
  assert_int_equal(a.dns[0].addr[15], 0x53);
  assert_int_equal(a.ndomains, 1);
  assert_string_equal(a.domains[0], "a-b.");
  OPENSSL_free(b.data);
}

/* Lists one past their limits, and the longest domain. */
static void test_admit_limits(void **state) {
  struct zt_admit a;
  struct zt_admit big;
  struct buf b;
  full_admit(&big);
  big.nroutes = ZT_MAX_ROUTES;
  for (size_t i = 0; i < ZT_MAX_ROUTES; i++) big.routes[i] = big.routes[0];
  assert_int_equal(build_admit(&big, &b), 1);
  assert_int_equal(parse_admit(b.data, b.len, &a), 1);
  /* one more route by hand */
  uint8_t *more = malloc(b.len + 8);
  assert_non_null(more);
  memcpy(more, b.data, b.len);
  memcpy(more + b.len, "\x04\x00\x05\x0a\x00\x00\x00\x08", 8);
  assert_int_equal(parse_admit(more, b.len + 8, &a), 0);
  free(more);
  OPENSSL_free(b.data);

  full_admit(&big);
  big.ndns = ZT_MAX_DNS_SERVERS;
  for (size_t i = 0; i < ZT_MAX_DNS_SERVERS; i++) big.dns[i] = big.dns[0];
  assert_int_equal(build_admit(&big, &b), 1);
  more = malloc(b.len + 7);
  assert_non_null(more);
  memcpy(more, b.data, b.len);
  memcpy(more + b.len, "\x05\x00\x04\x0a\x00\x00\x35", 7);
  assert_int_equal(parse_admit(b.data, b.len, &a), 1);
  assert_int_equal(parse_admit(more, b.len + 7, &a), 0);
  free(more);
  OPENSSL_free(b.data);

  full_admit(&big);
  big.ndomains = ZT_MAX_DNS_DOMAINS;
  for (size_t i = 0; i < ZT_MAX_DNS_DOMAINS; i++) strcpy(big.domains[i], "x.example");
  assert_int_equal(build_admit(&big, &b), 1);
  more = malloc(b.len + 4);
  assert_non_null(more);
  memcpy(more, b.data, b.len);
  memcpy(more + b.len, "\x06\x00\x01x", 4);
  assert_int_equal(parse_admit(b.data, b.len, &a), 1);
  assert_int_equal(parse_admit(more, b.len + 4, &a), 0);
  free(more);
  OPENSSL_free(b.data);

  /* A domain of 253 bytes passes, 254 does not. */
  static const uint8_t head[] = {1, 0, 5, 100, 64, 0, 2, 10, 3, 0, 2, 5, 120,
                                 7, 0, 2, 0, 10, 8, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1};
  uint8_t body[sizeof(head) + 3 + 254];
  memcpy(body, head, sizeof(head));
  for (size_t dl = 253; dl <= 254; dl++) {
    body[sizeof(head)] = ZT_ATTR_DNS_DOMAIN;
    body[sizeof(head) + 1] = 0;
    body[sizeof(head) + 2] = (uint8_t)dl;
    memset(body + sizeof(head) + 3, 'd', dl);
    int ok = parse_admit(body, sizeof(head) + 3 + dl, &a);
    assert_int_equal(ok, dl == 253);
    if (ok) assert_int_equal(strlen(a.domains[0]), 253);
  }
}

/* Every prefix of a valid body: it parses only when it ends on an attribute
 * boundary after all required attributes (the builder puts them first). */
static void test_admit_truncated_and_trailing(void **state) {
  struct zt_admit a, got;
  struct buf b;
  full_admit(&a);
  assert_int_equal(build_admit(&a, &b), 1);
  /* Walk the attributes to find their boundaries. */
  int boundary[2048] = {0};
  assert_true(b.len < sizeof(boundary) / sizeof(boundary[0]));
  size_t required_end = 0;
  unsigned seen = 0;
  CBS walk;
  CBS_init(&walk, b.data, b.len);
  while (CBS_len(&walk) > 0) {
    uint8_t type;
    CBS v;
    assert_int_equal(CBS_get_u8(&walk, &type), 1);
    assert_int_equal(CBS_get_u16_length_prefixed(&walk, &v), 1);
    size_t off = b.len - CBS_len(&walk);
    boundary[off] = 1;
    seen |= 1u << type;
    unsigned req = (1u << ZT_ATTR_ADDR4) | (1u << ZT_ATTR_MTU) |
                   (1u << ZT_ATTR_KEEPALIVE) | (1u << ZT_ATTR_SESSION_ID);
    if ((seen & req) == req && required_end == 0) required_end = off;
  }
  assert_true(required_end > 0);
  for (size_t n = 0; n < b.len; n++) {
    int want = boundary[n] && n >= required_end;
    if (parse_admit(b.data, n, &got) != want)
      fail_msg("prefix of %zu/%zu bytes: want %d", n, b.len, want);
  }
  uint8_t *longer = malloc(b.len + 2);
  assert_non_null(longer);
  memcpy(longer, b.data, b.len);
  longer[b.len] = ZT_ATTR_ROUTE; /* a trailing attribute header cut short */
  longer[b.len + 1] = 0;
  assert_int_equal(parse_admit(longer, b.len + 1, &got), 0);
  assert_int_equal(parse_admit(longer, b.len + 2, &got), 0);
  free(longer);
  OPENSSL_free(b.data);
}

static void test_domain_valid(void **state) {
  static const struct {
    const char *s;
    int ok;
  } cases[] = {
      {"corp.example", 1}, {"a", 1},   {"A-Z.0-9", 1},  {".", 1},
      {"", 0},             {" a", 0},  {"a b", 0},      {"a_b", 0},
      {"a/b", 0},          {"a:b", 0}, {"\xc3\xa9", 0}, {"a\tb", 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    if (zt_domain_valid(cases[i].s, strlen(cases[i].s)) != cases[i].ok)
      fail_msg("'%s': want %d", cases[i].s, cases[i].ok);
  char d[ZT_MAX_DOMAIN_LEN + 2];
  memset(d, 'a', sizeof(d));
  assert_int_equal(zt_domain_valid(d, ZT_MAX_DOMAIN_LEN), 1);
  assert_int_equal(zt_domain_valid(d, ZT_MAX_DOMAIN_LEN + 1), 0);
  assert_int_equal(zt_domain_valid("a\0b", 3), 0);
}

/* ---- REJECT / CLOSE reasons ---------------------------------------------- */

static void raw_reason(uint16_t code, const uint8_t *text, size_t len, struct buf *b) {
  CBB cbb, t;
  assert_int_equal(CBB_init(&cbb, 0), 1);
  assert_int_equal(CBB_add_u16(&cbb, code), 1);
  assert_int_equal(CBB_add_u16_length_prefixed(&cbb, &t), 1);
  assert_int_equal(CBB_add_bytes(&t, text, len), 1);
  finish(&cbb, b);
}

static int parse_reason(const struct buf *b, size_t len, struct zt_reason_msg *r) {
  CBS cbs;
  CBS_init(&cbs, b->data, len);
  return zt_reason_parse(cbs, r);
}

/* ROUTES: every route count up to the maximum round-trips, IPv4 and IPv6
 * mixed, and the largest fits the message limit. */
static void test_routes_round_trip(void **state) {
  static struct zt_prefix r[ZT_MAX_ROUTES];
  static struct zt_routes got;
  for (size_t i = 0; i < ZT_MAX_ROUTES; i++) {
    memset(&r[i], 0, sizeof(r[i]));
    r[i].family = i % 3 ? AF_INET : AF_INET6;
    r[i].addr[0] = i % 3 ? 198 : 0xfd;
    r[i].addr[1] = (uint8_t)i;
    r[i].len = i % 3 ? 16 : 64;
  }
  r[0].len = 0; /* a default route */
  memset(r[0].addr, 0, sizeof(r[0].addr));
  for (size_t n = 0; n <= ZT_MAX_ROUTES; n += n < 4 ? 1 : 63) {
    CBB cbb;
    struct buf b;
    assert_int_equal(CBB_init(&cbb, 0), 1);
    assert_int_equal(zt_routes_build(&cbb, r, n), 1);
    finish(&cbb, &b);
    assert_true(b.len <= ZT_MAX_ROUTES_MSG);
    CBS cbs;
    CBS_init(&cbs, b.data, b.len);
    assert_int_equal(zt_routes_parse(cbs, &got), 1);
    assert_int_equal(got.n, n);
    for (size_t i = 0; i < n; i++) {
      assert_int_equal(got.routes[i].family, r[i].family);
      assert_int_equal(got.routes[i].len, r[i].len);
      assert_memory_equal(got.routes[i].addr, r[i].addr, 16);
    }
    OPENSSL_free(b.data);
  }
  CBB cbb;
  assert_int_equal(CBB_init(&cbb, 0), 1);
  assert_int_equal(zt_routes_build(&cbb, r, ZT_MAX_ROUTES + 1), 0);
  CBB_cleanup(&cbb);
}

static void test_routes_parse_refuses(void **state) {
  static struct zt_routes got;
  static const struct {
    const char *name;
    uint8_t bytes[24];
    size_t len;
  } bad[] = {
      {"other attribute", {ZT_ATTR_MTU, 0, 2, 0x05, 0x78}, 5},
      {"host bits", {ZT_ATTR_ROUTE, 0, 5, 198, 51, 100, 1, 24}, 8},
      {"length too long", {ZT_ATTR_ROUTE, 0, 5, 198, 51, 100, 0, 33}, 8},
      {"odd size", {ZT_ATTR_ROUTE, 0, 4, 198, 51, 100, 24}, 7},
      {"truncated value", {ZT_ATTR_ROUTE, 0, 5, 198, 51, 100}, 6},
      {"truncated header", {ZT_ATTR_ROUTE, 0}, 2},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    CBS cbs;
    CBS_init(&cbs, bad[i].bytes, bad[i].len);
    if (zt_routes_parse(cbs, &got)) fail_msg("accepted: %s", bad[i].name);
  }
  /* one over the maximum */
  static uint8_t many[(ZT_MAX_ROUTES + 1) * 8];
  for (size_t i = 0; i <= ZT_MAX_ROUTES; i++) {
    const uint8_t one[] = {ZT_ATTR_ROUTE, 0, 5, 198, 51, (uint8_t)i, 0, 24};
    memcpy(many + i * 8, one, 8);
  }
  CBS cbs;
  CBS_init(&cbs, many, sizeof(many) - 8);
  assert_int_equal(zt_routes_parse(cbs, &got), 1);
  assert_int_equal(got.n, ZT_MAX_ROUTES);
  CBS_init(&cbs, many, sizeof(many));
  assert_int_equal(zt_routes_parse(cbs, &got), 0);
  /* empty: no routes at all is a valid update */
  CBS_init(&cbs, many, 0);
  assert_int_equal(zt_routes_parse(cbs, &got), 1);
  assert_int_equal(got.n, 0);
}

static void test_reason_round_trip(void **state) {
  static const struct {
    uint16_t code;
    const char *text;
  } cases[] = {
      {ZT_REASON_USER_AUTH, "user certificate is not issued by the user CA"},
      {ZT_REASON_SHUTDOWN, ""},
      {0, " leading and trailing spaces "},
      {0xffff, "~!\"#$%&'()*+,-./0123456789:;<=>?@[\\]^_`{|}~"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    CBB cbb;
    struct buf b;
    struct zt_reason_msg r;
    assert_int_equal(CBB_init(&cbb, 0), 1);
    assert_int_equal(zt_reason_build(&cbb, cases[i].code, cases[i].text), 1);
    finish(&cbb, &b);
    assert_int_equal(b.len, 4 + strlen(cases[i].text));
    assert_int_equal(parse_reason(&b, b.len, &r), 1);
    assert_int_equal(r.code, cases[i].code);
    assert_string_equal(r.text, cases[i].text);
    OPENSSL_free(b.data);
  }
}

static void test_reason_parse_refuses_unprintable(void **state) {
  static const uint8_t bad[] = {0x00, 0x01, '\t', '\n', '\r', 0x1b, 0x1f, 0x7f, 0x80, 0xff};
  for (size_t i = 0; i < sizeof(bad); i++) {
    uint8_t text[] = {'o', 'k', bad[i], 'x'};
    struct buf b;
    struct zt_reason_msg r;
    raw_reason(ZT_REASON_POLICY, text, sizeof(text), &b);
    if (parse_reason(&b, b.len, &r)) fail_msg("byte 0x%02x accepted", bad[i]);
    OPENSSL_free(b.data);
  }
  /* The printable edges pass. */
  static const uint8_t edge[] = {0x20, 0x7e};
  struct buf b;
  struct zt_reason_msg r;
  raw_reason(ZT_REASON_POLICY, edge, sizeof(edge), &b);
  assert_int_equal(parse_reason(&b, b.len, &r), 1);
  assert_string_equal(r.text, " ~");
  OPENSSL_free(b.data);
}

static void test_reason_build_replaces_unprintable(void **state) {
  CBB cbb;
  struct buf b;
  struct zt_reason_msg r;
  assert_int_equal(CBB_init(&cbb, 0), 1);
  assert_int_equal(zt_reason_build(&cbb, 7, "a\tb\nc\x1b[31m\x7f\xc3\xa9z"), 1);
  finish(&cbb, &b);
  assert_int_equal(parse_reason(&b, b.len, &r), 1);
  assert_string_equal(r.text, "a?b?c?[31m???z");
  OPENSSL_free(b.data);
}

static void test_reason_length_limits(void **state) {
  uint8_t text[ZT_MAX_REASON_TEXT + 100];
  memset(text, 'r', sizeof(text));
  struct buf b;
  struct zt_reason_msg r;
  /* at the limit */
  raw_reason(1, text, ZT_MAX_REASON_TEXT, &b);
  assert_int_equal(parse_reason(&b, b.len, &r), 1);
  assert_int_equal(strlen(r.text), ZT_MAX_REASON_TEXT);
  OPENSSL_free(b.data);
  /* one over */
  raw_reason(1, text, ZT_MAX_REASON_TEXT + 1, &b);
  assert_int_equal(parse_reason(&b, b.len, &r), 0);
  OPENSSL_free(b.data);
  /* the builder cuts to the limit */
  char s[ZT_MAX_REASON_TEXT + 100];
  memset(s, 'q', sizeof(s) - 1);
  s[sizeof(s) - 1] = '\0';
  CBB cbb;
  assert_int_equal(CBB_init(&cbb, 0), 1);
  assert_int_equal(zt_reason_build(&cbb, 2, s), 1);
  finish(&cbb, &b);
  assert_int_equal(b.len, 4 + ZT_MAX_REASON_TEXT);
  assert_int_equal(parse_reason(&b, b.len, &r), 1);
  assert_int_equal(strlen(r.text), ZT_MAX_REASON_TEXT);
  /* and the whole frame body stays within its type's limit */
  assert_true(b.len <= ZT_MAX_REASON_MSG);
  OPENSSL_free(b.data);
}

static void test_reason_truncated_and_trailing(void **state) {
  static const uint8_t text[] = "session ended";
  struct buf b;
  struct zt_reason_msg r;
  raw_reason(ZT_REASON_KILLED, text, sizeof(text) - 1, &b);
  for (size_t n = 0; n < b.len; n++)
    if (parse_reason(&b, n, &r)) fail_msg("prefix of %zu/%zu bytes accepted", n, b.len);
  assert_int_equal(parse_reason(&b, b.len, &r), 1);
  OPENSSL_free(b.data);
  static const uint8_t trailing[] = {0, 6, 0, 1, 'x', 0};
  CBS cbs;
  CBS_init(&cbs, trailing, sizeof(trailing));
  assert_int_equal(zt_reason_parse(cbs, &r), 0);
  CBS_init(&cbs, trailing, sizeof(trailing) - 1);
  assert_int_equal(zt_reason_parse(cbs, &r), 1);
  assert_int_equal(r.code, ZT_REASON_SHUTDOWN);
  assert_string_equal(r.text, "x");
}

/* ---- RESUME and PATH ------------------------------------------------------- */

static void test_resume_and_path(void **state) {
  struct zt_resume r = {.session_id = 0x1122334455667788ull}, got;
  uint8_t raw[ZT_RESUME_MSG_LEN + 1];
  memset(r.token, 0xa5, sizeof(r.token));
  CBB cbb;
  CBS cbs;
  size_t len;
  assert_int_equal(CBB_init_fixed(&cbb, raw, sizeof(raw)), 1);
  assert_int_equal(zt_resume_build(&cbb, &r), 1);
  assert_int_equal(CBB_finish(&cbb, NULL, &len), 1);
  assert_int_equal(len, ZT_RESUME_MSG_LEN);
  assert_int_equal(raw[0], 0x11); /* big endian, by hand */
  assert_int_equal(raw[7], 0x88);
  assert_int_equal(raw[8], 0xa5);
  for (size_t cut = 0; cut <= len + 1; cut++) {
    raw[ZT_RESUME_MSG_LEN] = 0;
    CBS_init(&cbs, raw, cut);
    assert_int_equal(zt_resume_parse(cbs, &got), cut == ZT_RESUME_MSG_LEN);
  }
  CBS_init(&cbs, raw, len);
  assert_int_equal(zt_resume_parse(cbs, &got), 1);
  assert_int_equal(got.session_id, r.session_id);
  assert_memory_equal(got.token, r.token, sizeof(r.token));

  uint8_t p[2], path;
  for (unsigned v = 0; v < 256; v++) {
    p[0] = (uint8_t)v;
    CBS_init(&cbs, p, 1);
    assert_int_equal(zt_path_parse(cbs, &path), v <= 1);
    if (v <= 1) assert_int_equal(path, v);
  }
  p[0] = ZT_PATH_UDP;
  CBS_init(&cbs, p, 2);
  assert_int_equal(zt_path_parse(cbs, &path), 0);
  CBS_init(&cbs, p, 0);
  assert_int_equal(zt_path_parse(cbs, &path), 0);
  assert_int_equal(CBB_init_fixed(&cbb, p, sizeof(p)), 1);
  assert_int_equal(zt_path_build(&cbb, ZT_PATH_TLS), 1);
  assert_int_equal(CBB_finish(&cbb, NULL, &len), 1);
  assert_int_equal(len, 1);
  assert_int_equal(p[0], 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_proof_round_trip),
      cmocka_unit_test(test_proof_build_refuses),
      cmocka_unit_test(test_proof_parse_refuses),
      cmocka_unit_test(test_proof_chain_garbage),
      cmocka_unit_test(test_proof_truncated_and_trailing),
      cmocka_unit_test(test_admit_round_trip),
      cmocka_unit_test(test_admit_build_refuses),
      cmocka_unit_test(test_admit_cases),
      cmocka_unit_test(test_admit_values),
      cmocka_unit_test(test_admit_limits),
      cmocka_unit_test(test_admit_truncated_and_trailing),
      cmocka_unit_test(test_domain_valid),
      cmocka_unit_test(test_routes_round_trip),
      cmocka_unit_test(test_routes_parse_refuses),
      cmocka_unit_test(test_reason_round_trip),
      cmocka_unit_test(test_reason_parse_refuses_unprintable),
      cmocka_unit_test(test_reason_build_replaces_unprintable),
      cmocka_unit_test(test_reason_length_limits),
      cmocka_unit_test(test_reason_truncated_and_trailing),
      cmocka_unit_test(test_resume_and_path),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

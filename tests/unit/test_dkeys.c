/* dkeys: the data channel's key schedule. Known answers for both directions
 * and epochs 0 and 1; the ratchet's chain; a sender's epoch e equal to its
 * receiver's epoch e after the receiver promoted; and the master secret
 * exported from real in-memory TLS 1.3 connections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include "dgram.h"
#include "dkeys.h"
#include "testutil.h"

static void unhex(const char *hex, uint8_t *out, size_t len) {
  assert_int_equal(strlen(hex), 2 * len);
  for (size_t i = 0; i < len; i++) {
    unsigned v;
    assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
    out[i] = (uint8_t)v;
  }
}

static void assert_hex(const uint8_t *got, size_t len, const char *hex) {
  uint8_t want[64];
  assert_true(len <= sizeof(want));
  unhex(hex, want, len);
  assert_memory_equal(got, want, len);
}

static void fixed_master(uint8_t m[ZT_DATA_SECRET_LEN]) {
  for (int i = 0; i < ZT_DATA_SECRET_LEN; i++) m[i] = (uint8_t)i;
}

static void test_names(void **state) {
  assert_int_equal(zt_aead_from_name("aes-256-gcm"), ZT_AEAD_AES256GCM);
  assert_int_equal(zt_aead_from_name("chacha20-poly1305"), ZT_AEAD_CHACHA20POLY1305);
  assert_int_equal(zt_aead_from_name("AES-256-GCM"), 0);
  assert_int_equal(zt_aead_from_name("aes-128-gcm"), 0);
  assert_int_equal(zt_aead_from_name(""), 0);
  assert_int_equal(zt_aead_from_name(NULL), 0);
  assert_string_equal(zt_aead_name(ZT_AEAD_AES256GCM), "aes-256-gcm");
  assert_string_equal(zt_aead_name(ZT_AEAD_CHACHA20POLY1305), "chacha20-poly1305");
  assert_null(zt_aead_name(0));
  assert_null(zt_aead_name(3));
  assert_ptr_equal(zt_aead_evp(ZT_AEAD_AES256GCM), EVP_aead_aes_256_gcm());
  assert_ptr_equal(zt_aead_evp(ZT_AEAD_CHACHA20POLY1305), EVP_aead_chacha20_poly1305());
  assert_null(zt_aead_evp(0));
  /* both take the key and nonce sizes the schedule makes */
  for (int id = ZT_AEAD_AES256GCM; id <= ZT_AEAD_CHACHA20POLY1305; id++) {
    assert_int_equal(EVP_AEAD_key_length(zt_aead_evp(id)), ZT_DATA_KEY_LEN);
    assert_int_equal(EVP_AEAD_nonce_length(zt_aead_evp(id)), ZT_DATA_IV_LEN);
  }
}

/* The vectors were computed independently of this code with Python's hmac
 * and hashlib (RFC 5869 HKDF-Expand written out: T(1) = HMAC-SHA256(PRK,
 * info || 0x01)), for master = 00 01 02 .. 1f and the labels in dkeys.h. */
static const struct {
  enum zt_dir dir;
  const char *secret0, *key0, *iv0, *secret1, *key1, *iv1;
} kat[] = {
    {ZT_DIR_C2S,
     "8aa3c2d68440ca19c3524ba691dfc385061c33de4a1d628c82c995b0b2de9f75",
     "fbf53fcc6cdf94f52eb6eedc99ae8f0f5a0202e4111f02f380efc225668142b4",
     "34f72c76f182e5430e5101af",
     "bc96cee7a85a963799732b2764146d65fec865ad5be6a2168b2ae0c9d1171478",
     "072b483504a325f4b7bdf23bec251d801c73e805c91ec1acceaf8c8e88f23804",
     "3385c4f13d749e30e5ca4ee0"},
    {ZT_DIR_S2C,
     "2a3b247ba83768f8d173c0ee83434839cbf01327fd5a1cba6875138edb194c37",
     "ba63597cec7d7cdbb6ca4ca9fb3baea8cb1638cd350cb41cf76bd1de627b38b2",
     "7c754cd8dd052910760df38b",
     "12b70a684c77df492ebce10d19d95894ee283e68f84bc89c24ef4deafdcdc989",
     "e6ae3ae02b949d3eb8eaca3137f67b95379e002072ba8a002a680ad5798974e9",
     "e47241559b7704f7b28cba96"},
};

static void test_known_answers(void **state) {
  uint8_t master[32], s[32], key[32], iv[12];
  fixed_master(master);
  for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
    zt_dkeys_epoch0(master, kat[i].dir, s);
    assert_hex(s, 32, kat[i].secret0);
    zt_dkeys_expand(s, 0, key, iv);
    assert_hex(key, 32, kat[i].key0);
    assert_hex(iv, 12, kat[i].iv0);
    zt_dkeys_next(s, 0, s); /* in place, as the ratchet does it */
    assert_hex(s, 32, kat[i].secret1);
    zt_dkeys_expand(s, 1, key, iv);
    assert_hex(key, 32, kat[i].key1);
    assert_hex(iv, 12, kat[i].iv1);
  }
}

static void test_directions_differ(void **state) {
  uint8_t master[32], c[32], s[32], kc[32], ks[32], ivc[12], ivs[12];
  fixed_master(master);
  master[7] ^= 0x5a;
  zt_dkeys_epoch0(master, ZT_DIR_C2S, c);
  zt_dkeys_epoch0(master, ZT_DIR_S2C, s);
  assert_memory_not_equal(c, s, 32);
  for (uint32_t e = 0; e < 4; e++) {
    zt_dkeys_expand(c, e, kc, ivc);
    zt_dkeys_expand(s, e, ks, ivs);
    assert_memory_not_equal(kc, ks, 32);
    assert_memory_not_equal(ivc, ivs, 12);
    zt_dkeys_next(c, e, c);
    zt_dkeys_next(s, e, s);
  }
}

/* 200 epochs of one direction: secrets, keys and IVs all distinct, key and
 * IV never equal to the secret; the ratchet in place and out of place agree,
 * and the epoch number enters each step. */
#define CHAIN 200
static void test_chain(void **state) {
  static uint8_t secrets[CHAIN][32], keys[CHAIN][32], ivs[CHAIN][12];
  uint8_t master[32], s[32], other[32];
  fixed_master(master);
  zt_dkeys_epoch0(master, ZT_DIR_C2S, s);
  for (uint32_t e = 0; e < CHAIN; e++) {
    memcpy(secrets[e], s, 32);
    zt_dkeys_expand(s, e, keys[e], ivs[e]);
    assert_memory_not_equal(keys[e], s, 32);
    zt_dkeys_next(s, e, other); /* out of place */
    zt_dkeys_next(s, e, s);     /* in place */
    assert_memory_equal(other, s, 32);
  }
  for (int a = 0; a < CHAIN; a++)
    for (int b = a + 1; b < CHAIN; b++) {
      assert_memory_not_equal(secrets[a], secrets[b], 32);
      assert_memory_not_equal(keys[a], keys[b], 32);
      assert_memory_not_equal(ivs[a], ivs[b], 12);
    }
  /* the same secret with another epoch number gives other keys */
  uint8_t k2[32], iv2[12];
  zt_dkeys_expand(secrets[5], 6, k2, iv2);
  assert_memory_not_equal(k2, keys[5], 32);
  zt_dkeys_next(secrets[5], 6, other);
  assert_memory_not_equal(other, secrets[6], 32);
}

/* A sender at epoch e and its receiver after promoting to e hold the same
 * IV and can talk; the receiver's precomputed next secret is the sender's
 * next step. */
static void test_sender_matches_receiver(void **state) {
  uint8_t master[32], buf[ZT_DGRAM_OVERHEAD + 8], next[32];
  fixed_master(master);
  for (int id = ZT_AEAD_AES256GCM; id <= ZT_AEAD_CHACHA20POLY1305; id++) {
    for (int dir = ZT_DIR_C2S; dir <= ZT_DIR_S2C; dir++) {
      struct zt_tx tx;
      struct zt_rx rx;
      assert_int_equal(zt_tx_init(&tx, id, master, dir, 77, 0), 1);
      assert_int_equal(zt_rx_init(&rx, id, master, dir, 77), 1);
      for (uint32_t e = 0; e < 6; e++) {
        uint8_t *pl;
        size_t plen;
        uint64_t ctr;
        int promoted;
        memcpy(buf + ZT_DGRAM_HDR, "epochXYZ", 8);
        size_t n = zt_tx_seal(&tx, buf, 8);
        assert_int_equal(n, sizeof(buf));
        assert_int_equal(zt_rx_open(&rx, buf, n, 0, &pl, &plen, &ctr, &promoted), ZT_OPEN_OK);
        assert_int_equal(promoted, e > 0);
        assert_int_equal(rx.cur.epoch, e);
        assert_int_equal(tx.epoch, e);
        assert_memory_equal(tx.iv, rx.cur.iv, 12);
        zt_dkeys_next(tx.secret, tx.epoch, next);
        assert_memory_equal(next, rx.next_secret, 32);
        assert_int_equal(zt_tx_rekey(&tx, 0), 1);
      }
      /* the other direction's receiver cannot open this one's datagrams */
      struct zt_rx other;
      uint8_t *pl;
      size_t plen;
      uint64_t ctr;
      int promoted;
      assert_int_equal(zt_rx_init(&other, id, master, !dir, 77), 1);
      struct zt_tx tx0;
      assert_int_equal(zt_tx_init(&tx0, id, master, dir, 77, 0), 1);
      size_t n = zt_tx_seal(&tx0, buf, 8);
      assert_int_equal(zt_rx_open(&other, buf, n, 0, &pl, &plen, &ctr, &promoted), ZT_OPEN_AUTH);
      zt_tx_free(&tx0);
      zt_rx_free(&other);
      zt_tx_free(&tx);
      zt_rx_free(&rx);
    }
  }
}

/* ---- the master secret from TLS ------------------------------------------------ */

static EVP_PKEY *srv_key;
static X509 *srv_cert;

static int setup(void **state) {
  /* a self-signed leaf: a CA certificate lacks digitalSignature */
  const struct tu_rdn subj[] = {{NID_commonName, "dkeys test server"}, {0, NULL}};
  struct tu_cert_spec spec = {.subject = subj, .serial = 1, .eku = "serverAuth"};
  srv_key = tu_key_new(TU_P256);
  srv_cert = tu_cert_new(&spec, srv_key);
  return 0;
}

static int teardown(void **state) {
  X509_free(srv_cert);
  EVP_PKEY_free(srv_key);
  return 0;
}

struct tls_pair {
  SSL *cli, *srv;
};

/* A TLS 1.3 connection over an in-memory BIO pair; the client does not
 * verify (the exporter does not depend on it). */
static void tls_pair_open(struct tls_pair *p) {
  SSL_CTX *sctx = SSL_CTX_new(TLS_method()), *cctx = SSL_CTX_new(TLS_method());
  assert_non_null(sctx);
  assert_non_null(cctx);
  assert_int_equal(SSL_CTX_set_min_proto_version(sctx, TLS1_3_VERSION), 1);
  assert_int_equal(SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION), 1);
  assert_int_equal(SSL_CTX_use_certificate(sctx, srv_cert), 1);
  assert_int_equal(SSL_CTX_use_PrivateKey(sctx, srv_key), 1);
  SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
  p->cli = SSL_new(cctx);
  p->srv = SSL_new(sctx);
  assert_non_null(p->cli);
  assert_non_null(p->srv);
  SSL_CTX_free(sctx);
  SSL_CTX_free(cctx);
  BIO *bc, *bs;
  assert_int_equal(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
  SSL_set_bio(p->cli, bc, bc);
  SSL_set_bio(p->srv, bs, bs);
  SSL_set_connect_state(p->cli);
  SSL_set_accept_state(p->srv);
  int cdone = 0, sdone = 0;
  for (int i = 0; i < 20 && !(cdone && sdone); i++) {
    if (!cdone) cdone = SSL_do_handshake(p->cli) == 1;
    if (!sdone) sdone = SSL_do_handshake(p->srv) == 1;
  }
  assert_true(cdone && sdone);
  assert_int_equal(SSL_version(p->cli), TLS1_3_VERSION);
}

static void tls_pair_close(struct tls_pair *p) {
  SSL_free(p->cli);
  SSL_free(p->srv);
}

static void test_master_from_tls(void **state) {
  struct tls_pair a, b;
  uint8_t ca[32], sa[32], cc[32], sc[32], cb[32], sb[32], direct[32], zero[32] = {0};
  tls_pair_open(&a);
  tls_pair_open(&b);
  assert_int_equal(zt_dkeys_master(a.cli, ZT_AEAD_AES256GCM, ca), 1);
  assert_int_equal(zt_dkeys_master(a.srv, ZT_AEAD_AES256GCM, sa), 1);
  assert_memory_equal(ca, sa, 32);
  assert_memory_not_equal(ca, zero, 32);
  assert_int_equal(zt_dkeys_master(a.cli, ZT_AEAD_CHACHA20POLY1305, cc), 1);
  assert_int_equal(zt_dkeys_master(a.srv, ZT_AEAD_CHACHA20POLY1305, sc), 1);
  assert_memory_equal(cc, sc, 32);
  assert_memory_not_equal(ca, cc, 32); /* the cipher id is in the context */
  assert_int_equal(zt_dkeys_master(b.cli, ZT_AEAD_AES256GCM, cb), 1);
  assert_int_equal(zt_dkeys_master(b.srv, ZT_AEAD_AES256GCM, sb), 1);
  assert_memory_equal(cb, sb, 32);
  assert_memory_not_equal(ca, cb, 32); /* another connection, another secret */
  /* it is exactly the exporter with the documented label and context */
  const uint8_t context = ZT_AEAD_CHACHA20POLY1305;
  assert_int_equal(SSL_export_keying_material(a.srv, direct, 32, "EXPORTER-ztvpn-data-v1",
                                              22, &context, 1, 1),
                   1);
  assert_memory_equal(direct, cc, 32);
  /* an unknown cipher gets nothing */
  memset(direct, 0xee, sizeof(direct));
  assert_int_equal(zt_dkeys_master(a.cli, 3, direct), 0);
  assert_memory_equal(direct, zero, 32);
  tls_pair_close(&a);
  tls_pair_close(&b);
}

/* Both ends of one connection, each with zt_dkeys_master, end up with
 * working channels in both directions. */
static void test_tls_ends_talk(void **state) {
  struct tls_pair p;
  uint8_t mc[32], ms[32], buf[ZT_DGRAM_OVERHEAD + 4];
  tls_pair_open(&p);
  assert_int_equal(zt_dkeys_master(p.cli, ZT_AEAD_AES256GCM, mc), 1);
  assert_int_equal(zt_dkeys_master(p.srv, ZT_AEAD_AES256GCM, ms), 1);
  for (int dir = ZT_DIR_C2S; dir <= ZT_DIR_S2C; dir++) {
    struct zt_tx tx;
    struct zt_rx rx;
    uint8_t *pl;
    size_t plen;
    uint64_t ctr;
    int promoted;
    assert_int_equal(zt_tx_init(&tx, ZT_AEAD_AES256GCM, dir == ZT_DIR_C2S ? mc : ms, dir, 9, 0), 1);
    assert_int_equal(zt_rx_init(&rx, ZT_AEAD_AES256GCM, dir == ZT_DIR_C2S ? ms : mc, dir, 9), 1);
    memcpy(buf + ZT_DGRAM_HDR, "ping", 4);
    size_t n = zt_tx_seal(&tx, buf, 4);
    assert_int_equal(zt_rx_open(&rx, buf, n, 0, &pl, &plen, &ctr, &promoted), ZT_OPEN_OK);
    assert_int_equal(plen, 4);
    assert_memory_equal(pl, "ping", 4);
    zt_tx_free(&tx);
    zt_rx_free(&rx);
  }
  tls_pair_close(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_known_answers),
      cmocka_unit_test(test_directions_differ),
      cmocka_unit_test(test_chain),
      cmocka_unit_test(test_sender_matches_receiver),
      cmocka_unit_test(test_master_from_tls),
      cmocka_unit_test(test_tls_ends_talk),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

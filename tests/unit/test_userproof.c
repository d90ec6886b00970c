/* userproof: signing the TLS exporter with the user's key and checking it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bytestring.h>
#include <openssl/mem.h>

#include "testutil.h"
#include "userproof.h"

static const struct {
  const char *name;
  enum tu_key_type type;
  uint16_t scheme;
} kinds[] = {
    {"P-256", TU_P256, ZT_SIG_ECDSA_P256_SHA256},
    {"P-384", TU_P384, ZT_SIG_ECDSA_P384_SHA384},
    {"Ed25519", TU_ED25519, ZT_SIG_ED25519},
    {"RSA-2048", TU_RSA2048, ZT_SIG_RSA_PSS_SHA256},
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static EVP_PKEY *keys[NKINDS];

static int setup(void **state) {
  for (size_t i = 0; i < NKINDS; i++) keys[i] = tu_key_new(kinds[i].type);
  return 0;
}

static int teardown(void **state) {
  for (size_t i = 0; i < NKINDS; i++) EVP_PKEY_free(keys[i]);
  return 0;
}

/* The public half alone, as the server gets it from the certificate. */
static EVP_PKEY *public_only(EVP_PKEY *key) {
  CBB cbb;
  uint8_t *der;
  size_t len;
  assert_int_equal(CBB_init(&cbb, 0), 1);
  assert_int_equal(EVP_marshal_public_key(&cbb, key), 1);
  assert_int_equal(CBB_finish(&cbb, &der, &len), 1);
  CBS cbs;
  CBS_init(&cbs, der, len);
  EVP_PKEY *pub = EVP_parse_public_key(&cbs);
  assert_non_null(pub);
  OPENSSL_free(der);
  return pub;
}

static void exporter_fill(uint8_t e[ZT_EXPORTER_LEN], uint8_t seed) {
  for (size_t i = 0; i < ZT_EXPORTER_LEN; i++) e[i] = (uint8_t)(seed + i * 13);
}

static void test_scheme(void **state) {
  for (size_t i = 0; i < NKINDS; i++) {
    uint16_t s = 0;
    assert_int_equal(zt_proof_scheme(keys[i], &s), 1);
    if (s != kinds[i].scheme) fail_msg("%s: scheme %04x", kinds[i].name, s);
  }
}

static void test_unsupported_keys(void **state) {
  static const enum tu_key_type bad[] = {TU_RSA1024, TU_P521};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    EVP_PKEY *k = tu_key_new(bad[i]);
    uint16_t s = 0xbeef;
    uint8_t e[ZT_EXPORTER_LEN], sig[ZT_MAX_SIG_LEN];
    size_t sig_len = 0;
    exporter_fill(e, 1);
    assert_int_equal(zt_proof_scheme(k, &s), 0);
    assert_int_equal(zt_proof_sign(k, e, &s, sig, &sig_len), 0);
    /* and a signature cannot be checked under any scheme */
    for (size_t j = 0; j < NKINDS; j++)
      assert_int_equal(zt_proof_verify(k, kinds[j].scheme, e, sig, sig_len), 0);
    EVP_PKEY_free(k);
  }
}

static void test_sign_verify(void **state) {
  for (size_t i = 0; i < NKINDS; i++) {
    uint8_t e[ZT_EXPORTER_LEN], other[ZT_EXPORTER_LEN], sig[ZT_MAX_SIG_LEN];
    size_t sig_len = 0;
    uint16_t scheme = 0;
    exporter_fill(e, 1);
    exporter_fill(other, 2);
    EVP_PKEY *pub = public_only(keys[i]);
    if (!zt_proof_sign(keys[i], e, &scheme, sig, &sig_len))
      fail_msg("%s: sign failed", kinds[i].name);
    assert_int_equal(scheme, kinds[i].scheme);
    assert_true(sig_len > 0 && sig_len <= ZT_MAX_SIG_LEN);
    if (!zt_proof_verify(pub, scheme, e, sig, sig_len))
      fail_msg("%s: own signature refused", kinds[i].name);
    /* another session's exporter */
    if (zt_proof_verify(pub, scheme, other, sig, sig_len))
      fail_msg("%s: signature accepted for another exporter", kinds[i].name);
    /* one changed exporter byte, first and last */
    e[0] ^= 1;
    assert_int_equal(zt_proof_verify(pub, scheme, e, sig, sig_len), 0);
    e[0] ^= 1;
    e[ZT_EXPORTER_LEN - 1] ^= 0x80;
    assert_int_equal(zt_proof_verify(pub, scheme, e, sig, sig_len), 0);
    e[ZT_EXPORTER_LEN - 1] ^= 0x80;
    /* every single flipped signature bit, sampled across the signature */
    for (size_t bit = 0; bit < sig_len * 8; bit += 7) {
      sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
      if (zt_proof_verify(pub, scheme, e, sig, sig_len))
        fail_msg("%s: flipped bit %zu accepted", kinds[i].name, bit);
      sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    /* cut or extended signatures */
    assert_int_equal(zt_proof_verify(pub, scheme, e, sig, sig_len - 1), 0);
    assert_int_equal(zt_proof_verify(pub, scheme, e, sig, 0), 0);
    uint8_t longer[ZT_MAX_SIG_LEN + 1];
    memcpy(longer, sig, sig_len);
    longer[sig_len] = 0;
    assert_int_equal(zt_proof_verify(pub, scheme, e, longer, sig_len + 1), 0);
    /* still fine after all that */
    assert_int_equal(zt_proof_verify(pub, scheme, e, sig, sig_len), 1);
    assert_int_equal(ERR_peek_error(), 0);
    EVP_PKEY_free(pub);
  }
}

static void test_scheme_must_match_key(void **state) {
  for (size_t i = 0; i < NKINDS; i++) {
    uint8_t e[ZT_EXPORTER_LEN], sig[ZT_MAX_SIG_LEN];
    size_t sig_len = 0;
    uint16_t scheme = 0;
    exporter_fill(e, 9);
    assert_int_equal(zt_proof_sign(keys[i], e, &scheme, sig, &sig_len), 1);
    for (size_t j = 0; j < NKINDS; j++) {
      if (j == i) continue;
      /* the right key with another scheme */
      if (zt_proof_verify(keys[i], kinds[j].scheme, e, sig, sig_len))
        fail_msg("%s key accepted under the %s scheme", kinds[i].name, kinds[j].name);
      /* another key with its own scheme */
      assert_int_equal(zt_proof_verify(keys[j], kinds[j].scheme, e, sig, sig_len), 0);
    }
    /* schemes that do not exist or are not allowed */
    static const uint16_t odd[] = {0, 0x0401 /* rsa_pkcs1_sha256 */, 0x0603, 0x0808, 0xffff};
    for (size_t k = 0; k < sizeof(odd) / sizeof(odd[0]); k++)
      assert_int_equal(zt_proof_verify(keys[i], odd[k], e, sig, sig_len), 0);
  }
}

/* A second key of the same kind does not verify the first key's proof. */
static void test_other_key_same_kind(void **state) {
  for (size_t i = 0; i < NKINDS; i++) {
    if (kinds[i].type == TU_RSA2048) continue; /* slow to make; covered above */
    EVP_PKEY *k2 = tu_key_new(kinds[i].type);
    uint8_t e[ZT_EXPORTER_LEN], sig[ZT_MAX_SIG_LEN];
    size_t sig_len;
    uint16_t scheme;
    exporter_fill(e, 3);
    assert_int_equal(zt_proof_sign(keys[i], e, &scheme, sig, &sig_len), 1);
    assert_int_equal(zt_proof_verify(k2, scheme, e, sig, sig_len), 0);
    EVP_PKEY_free(k2);
  }
}

/* The signed message is the context string, a zero byte and the exporter:
 * an Ed25519 signature over exactly that verifies. */
static void test_message_layout(void **state) {
  size_t ed = 2;
  assert_int_equal(kinds[ed].type, TU_ED25519);
  uint8_t e[ZT_EXPORTER_LEN], msg[sizeof(ZT_PROOF_CONTEXT) + ZT_EXPORTER_LEN];
  exporter_fill(e, 5);
  memcpy(msg, ZT_PROOF_CONTEXT, sizeof(ZT_PROOF_CONTEXT));
  memcpy(msg + sizeof(ZT_PROOF_CONTEXT), e, ZT_EXPORTER_LEN);
  assert_int_equal(msg[sizeof(ZT_PROOF_CONTEXT) - 1], 0);
  uint8_t sig[64];
  size_t sig_len = sizeof(sig);
  EVP_MD_CTX ctx;
  EVP_MD_CTX_init(&ctx);
  assert_int_equal(EVP_DigestSignInit(&ctx, NULL, NULL, NULL, keys[ed]), 1);
  assert_int_equal(EVP_DigestSign(&ctx, sig, &sig_len, msg, sizeof(msg)), 1);
  EVP_MD_CTX_cleanup(&ctx);
  assert_int_equal(zt_proof_verify(keys[ed], ZT_SIG_ED25519, e, sig, sig_len), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scheme),
      cmocka_unit_test(test_unsupported_keys),
      cmocka_unit_test(test_sign_verify),
      cmocka_unit_test(test_scheme_must_match_key),
      cmocka_unit_test(test_other_key_same_kind),
      cmocka_unit_test(test_message_layout),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

/* client/credentials.c: the device TLS context and the user chain and key
 * from the files client.conf names, and the USER_PROOF built from them: it
 * parses, carries the chain, verifies over its exporter only, and is
 * admitted by the concentrator's decision (server/admission.c). */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bytestring.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "admission.h"
#include "credentials.h"
#include "identity.h"
#include "msg.h"
#include "testutil.h"
#include "userproof.h"

static struct tu_dir dir;
static struct client_config base_cfg;
static X509 *user_ca;

/* user_files writes NAME.crt (issued by |issuer|, or a chain when |inter|
 * is given: leaf then intermediate) and NAME.key for a fresh |type| key. */
static void user_files(const char *name, enum tu_key_type type, X509 *issuer,
                       EVP_PKEY *issuer_key, X509 *inter) {
  char path[PATH_MAX], file[64];
  EVP_PKEY *k = tu_key_new(type);
  const struct tu_rdn subj[] = {{NID_organizationalUnitName, "engineering"},
                                {NID_commonName, name},
                                {0, NULL}};
  struct tu_cert_spec spec = {.subject = subj, .serial = 0x4000, .eku = "clientAuth",
                              .issuer = issuer, .issuer_key = issuer_key};
  X509 *x = tu_cert_new(&spec, k);
  X509 *chain[2] = {x, inter};
  snprintf(file, sizeof(file), "%s.crt", name);
  tu_write_certs(&dir, file, chain, inter ? 2 : 1, path);
  snprintf(file, sizeof(file), "%s.key", name);
  tu_write_key(&dir, file, k, 0600, path);
  X509_free(x);
  EVP_PKEY_free(k);
}

static int group_setup(void **state) {
  (void)state;
  char path[PATH_MAX];
  EVP_PKEY *server_ca_key, *device_ca_key, *user_ca_key, *inter_key;
  tu_dir_make(&dir);
  X509 *server_ca = tu_ca_new("Test Server CA", &server_ca_key);
  X509 *device_ca = tu_ca_new("Test Device CA", &device_ca_key);
  user_ca = tu_ca_new("Test User CA", &user_ca_key);
  tu_write_cert(&dir, "server-ca.crt", server_ca, path);
  tu_write_cert(&dir, "user-ca.crt", user_ca, path);

  const struct tu_rdn in[] = {{NID_commonName, "Test User Intermediate"}, {0, NULL}};
  inter_key = tu_key_new(TU_P256);
  struct tu_cert_spec ispec = {.subject = in, .serial = 0x1001, .is_ca = 1,
                               .issuer = user_ca, .issuer_key = user_ca_key};
  X509 *inter = tu_cert_new(&ispec, inter_key);

  user_files("device", TU_P256, device_ca, device_ca_key, NULL);
  user_files("alice", TU_P256, user_ca, user_ca_key, NULL);
  user_files("ivy", TU_P256, inter, inter_key, inter);
  user_files("erin", TU_ED25519, user_ca, user_ca_key, NULL);
  user_files("rob", TU_RSA2048, user_ca, user_ca_key, NULL);
  user_files("pat", TU_P384, user_ca, user_ca_key, NULL);
  user_files("old", TU_P521, user_ca, user_ca_key, NULL);
  user_files("weak", TU_RSA1024, user_ca, user_ca_key, NULL);

  /* alice's certificate with group-readable keys, and a foreign key */
  EVP_PKEY *k = tu_key_new(TU_P256);
  tu_write_key(&dir, "other.key", k, 0600, path);
  EVP_PKEY_free(k);
  char cmd[3 * PATH_MAX];
  snprintf(cmd, sizeof(cmd), "cp -p '%s/alice.key' '%s/alice-0644.key' && "
           "chmod 0644 '%s/alice-0644.key'", dir.path, dir.path, dir.path);
  assert_int_equal(system(cmd), 0);
  snprintf(cmd, sizeof(cmd), "cp -p '%s/device.key' '%s/device-0604.key' && "
           "chmod 0604 '%s/device-0604.key'", dir.path, dir.path, dir.path);
  assert_int_equal(system(cmd), 0);
  /* a user chain of five certificates */
  X509 *five[] = {inter, inter, inter, inter, inter};
  tu_write_certs(&dir, "five.crt", five, 5, path);

  X509_free(server_ca);
  X509_free(device_ca);
  X509_free(inter);
  EVP_PKEY_free(server_ca_key);
  EVP_PKEY_free(device_ca_key);
  EVP_PKEY_free(user_ca_key);
  EVP_PKEY_free(inter_key);

  tu_path(&dir, "server-ca.crt", base_cfg.server_ca);
  tu_path(&dir, "device.crt", base_cfg.device_cert);
  tu_path(&dir, "device.key", base_cfg.device_key);
  tu_path(&dir, "alice.crt", base_cfg.user_cert);
  tu_path(&dir, "alice.key", base_cfg.user_key);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  X509_free(user_ca);
  tu_dir_remove(&dir);
  return 0;
}

/* with_user points the configuration at NAME.crt and NAME.key. */
static struct client_config *with_user(const char *name) {
  static struct client_config cfg;
  cfg = base_cfg;
  char file[64];
  snprintf(file, sizeof(file), "%s.crt", name);
  tu_path(&dir, file, cfg.user_cert);
  snprintf(file, sizeof(file), "%s.key", name);
  tu_path(&dir, file, cfg.user_key);
  return &cfg;
}

static void load_ok(const struct client_config *cfg, struct client_creds *c) {
  char err[1024] = "";
  if (!client_creds_load(cfg, c, err, sizeof(err))) fail_msg("%s", err);
}

static void load_fail(const struct client_config *cfg, const char *text) {
  struct client_creds c;
  char err[1024] = "";
  memset(&c, 0x5a, sizeof(c));
  assert_int_equal(client_creds_load(cfg, &c, err, sizeof(err)), 0);
  tu_assert_contains(err, text);
  assert_null(c.tls);
  assert_null(c.user_chain);
  assert_null(c.user_key);
}

static void test_load(void **state) {
  (void)state;
  struct client_creds c;
  load_ok(&base_cfg, &c);
  assert_non_null(c.tls);
  assert_non_null(c.user_key);
  assert_int_equal(sk_X509_num(c.user_chain), 1);
  char cn[64];
  X509 *dev = SSL_CTX_get0_certificate(c.tls);
  assert_non_null(dev);
  assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(dev), NID_commonName, cn,
                                        sizeof(cn)) > 0);
  assert_string_equal(cn, "device");
  X509 *leaf = sk_X509_value(c.user_chain, 0);
  assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn,
                                        sizeof(cn)) > 0);
  assert_string_equal(cn, "alice");
  assert_true(SSL_CTX_get_verify_mode(c.tls) & SSL_VERIFY_PEER);
  client_creds_free(&c);
  assert_null(c.tls);
  assert_null(c.user_chain);
  assert_null(c.user_key);
  client_creds_free(&c);

  load_ok(with_user("ivy"), &c);
  assert_int_equal(sk_X509_num(c.user_chain), 2);
  client_creds_free(&c);
}

static void test_key_mode(void **state) {
  (void)state;
  struct client_config cfg = base_cfg;
  tu_path(&dir, "alice-0644.key", cfg.user_key);
  load_fail(&cfg, "readable by group or others");
  cfg = base_cfg;
  tu_path(&dir, "device-0604.key", cfg.device_key);
  load_fail(&cfg, "readable by group or others");
}

static void test_key_mismatch(void **state) {
  (void)state;
  struct client_config cfg = base_cfg;
  char want[2 * PATH_MAX];
  tu_path(&dir, "other.key", cfg.user_key);
  snprintf(want, sizeof(want), "%s does not belong to the certificate %s", cfg.user_key,
           cfg.user_cert);
  load_fail(&cfg, want);
  cfg = base_cfg;
  tu_path(&dir, "alice.key", cfg.user_key);
  tu_path(&dir, "erin.crt", cfg.user_cert); /* erin's certificate, alice's key */
  load_fail(&cfg, "does not belong to the certificate");
  cfg = base_cfg;
  tu_path(&dir, "other.key", cfg.device_key);
  load_fail(&cfg, "does not belong to the certificate");
}

static void test_missing_files(void **state) {
  (void)state;
  struct client_config cfg = base_cfg;
  tu_path(&dir, "nope-ca.crt", cfg.server_ca);
  load_fail(&cfg, "cannot load the server CA");
  cfg = base_cfg;
  tu_path(&dir, "nope.crt", cfg.user_cert);
  load_fail(&cfg, "cannot open certificate");
  cfg = base_cfg;
  tu_path(&dir, "nope.key", cfg.user_key);
  load_fail(&cfg, "cannot open private key");
  cfg = base_cfg;
  tu_path(&dir, "nope.crt", cfg.device_cert);
  load_fail(&cfg, "cannot open certificate");
  cfg = base_cfg;
  tu_path(&dir, "alice.key", cfg.user_cert); /* no certificate in it */
  load_fail(&cfg, "no PEM certificate");
}

static void test_chain_and_key_limits(void **state) {
  (void)state;
  struct client_config *cfg = with_user("ivy");
  tu_path(&dir, "five.crt", cfg->user_cert);
  load_fail(cfg, "more than 4 certificates");
  load_fail(with_user("old"), "unsupported key type");  /* P-521 */
  load_fail(with_user("weak"), "unsupported key type"); /* RSA 1024 */
}

/* The proof parses, carries the chain as loaded, and verifies with the
 * leaf's key over this exporter and no other. */
static void check_proof(const char *user, uint16_t scheme, size_t ncerts) {
  struct client_creds c;
  uint8_t ex[ZT_EXPORTER_LEN], other[ZT_EXPORTER_LEN];
  assert_int_equal(RAND_bytes(ex, sizeof(ex)), 1);
  memcpy(other, ex, sizeof(ex));
  other[0] ^= 0x80;
  load_ok(with_user(user), &c);
  assert_int_equal(sk_X509_num(c.user_chain), ncerts);

  CBB cbb;
  uint8_t *b = NULL;
  size_t len;
  assert_int_equal(CBB_init(&cbb, 1024), 1);
  assert_int_equal(client_proof_build(&c, ex, &cbb), 1);
  assert_int_equal(CBB_finish(&cbb, &b, &len), 1);

  CBS cbs;
  struct zt_user_proof p;
  CBS_init(&cbs, b, len);
  assert_int_equal(zt_user_proof_parse(cbs, &p), 1);
  assert_int_equal(p.ncerts, ncerts);
  for (size_t i = 0; i < ncerts; i++) {
    uint8_t *der = NULL;
    int dlen = i2d_X509(sk_X509_value(c.user_chain, i), &der);
    assert_true(dlen > 0);
    assert_int_equal(CBS_len(&p.certs[i]), dlen);
    assert_memory_equal(CBS_data(&p.certs[i]), der, (size_t)dlen);
    OPENSSL_free(der);
  }
  assert_int_equal(p.sig_scheme, scheme);
  EVP_PKEY *pub = X509_get_pubkey(sk_X509_value(c.user_chain, 0));
  assert_non_null(pub);
  assert_int_equal(zt_proof_verify(pub, p.sig_scheme, ex, CBS_data(&p.sig),
                                   CBS_len(&p.sig)), 1);
  assert_int_equal(zt_proof_verify(pub, p.sig_scheme, other, CBS_data(&p.sig),
                                   CBS_len(&p.sig)), 0);
  EVP_PKEY_free(pub);

  /* and the concentrator admits it, with the user CA as trust anchor */
  char ca[PATH_MAX], err[512], why[256];
  X509_STORE *store = zt_trust_load(tu_path(&dir, "user-ca.crt", ca), NULL, 0, err,
                                    sizeof(err));
  if (!store) fail_msg("%s", err);
  struct zt_identity id;
  uint16_t code = admission_check_proof(store, ex, cbs, &id, why, sizeof(why));
  if (code != 0) fail_msg("%s: refused (%u): %s", user, code, why);
  assert_string_equal(id.name, user);
  assert_int_equal(admission_check_proof(store, other, cbs, &id, why, sizeof(why)),
                   ZT_REASON_USER_AUTH);
  X509_STORE_free(store);
  OPENSSL_free(b);
  client_creds_free(&c);
}

static void test_proof_p256(void **state) {
  (void)state;
  check_proof("alice", ZT_SIG_ECDSA_P256_SHA256, 1);
}

static void test_proof_chain(void **state) {
  (void)state;
  check_proof("ivy", ZT_SIG_ECDSA_P256_SHA256, 2);
}

static void test_proof_other_keys(void **state) {
  (void)state;
  check_proof("erin", ZT_SIG_ED25519, 1);
  check_proof("rob", ZT_SIG_RSA_PSS_SHA256, 1);
  check_proof("pat", ZT_SIG_ECDSA_P384_SHA384, 1);
}

/* Two proofs over the same exporter differ for ECDSA (random nonce) but
 * both verify; the builder leaves nothing on the error queue. */
static void test_proof_fresh(void **state) {
  (void)state;
  struct client_creds c;
  uint8_t ex[ZT_EXPORTER_LEN] = {0};
  uint8_t *b1 = NULL, *b2 = NULL;
  size_t l1, l2;
  CBB cbb;
  load_ok(&base_cfg, &c);
  assert_int_equal(CBB_init(&cbb, 512), 1);
  assert_int_equal(client_proof_build(&c, ex, &cbb), 1);
  assert_int_equal(CBB_finish(&cbb, &b1, &l1), 1);
  assert_int_equal(CBB_init(&cbb, 512), 1);
  assert_int_equal(client_proof_build(&c, ex, &cbb), 1);
  assert_int_equal(CBB_finish(&cbb, &b2, &l2), 1);
  assert_false(l1 == l2 && memcmp(b1, b2, l1) == 0);
  assert_int_equal(ERR_peek_error(), 0);
  OPENSSL_free(b1);
  OPENSSL_free(b2);
  client_creds_free(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_load),
      cmocka_unit_test(test_key_mode),
      cmocka_unit_test(test_key_mismatch),
      cmocka_unit_test(test_missing_files),
      cmocka_unit_test(test_chain_and_key_limits),
      cmocka_unit_test(test_proof_p256),
      cmocka_unit_test(test_proof_chain),
      cmocka_unit_test(test_proof_other_keys),
      cmocka_unit_test(test_proof_fresh),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

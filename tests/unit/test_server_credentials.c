/* server/credentials.c: the concentrator's TLS context and user CA store
 * from the files server.conf names: the device and user CAs end up in the
 * right places, CRLs apply (failing closed for a CA without one), and bad
 * key files are refused with a reason. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/ssl.h>

#include "credentials.h"
#include "identity.h"
#include "testutil.h"

static struct tu_dir dir;
static X509 *device_ca, *user_ca, *laptop, *alice, *bob;
static struct server_config base_cfg;

enum { ALICE_SERIAL = 0x2001, BOB_SERIAL = 0x2002 };

static int group_setup(void **state) {
  (void)state;
  char path[PATH_MAX];
  EVP_PKEY *device_key, *user_key, *server_ca_key;
  tu_dir_make(&dir);
  device_ca = tu_ca_new("Test Device CA", &device_key);
  user_ca = tu_ca_new("Test User CA", &user_key);
  X509 *server_ca = tu_ca_new("Test Server CA", &server_ca_key);

  EVP_PKEY *k = tu_key_new(TU_P256);
  const struct tu_rdn gw[] = {{NID_commonName, "gw.corp.example"}, {0, NULL}};
  struct tu_cert_spec spec = {.subject = gw, .serial = 0x3001, .eku = "serverAuth",
                              .san = "DNS:gw.corp.example", .issuer = server_ca,
                              .issuer_key = server_ca_key};
  X509 *server = tu_cert_new(&spec, k);
  tu_write_cert(&dir, "server.crt", server, path);
  tu_write_key(&dir, "server.key", k, 0600, path);
  tu_write_key(&dir, "server-0644.key", k, 0644, path);
  tu_write_key(&dir, "server-0640.key", k, 0640, path);
  X509_free(server);
  EVP_PKEY_free(k);
  k = tu_key_new(TU_P256);
  tu_write_key(&dir, "other.key", k, 0600, path);
  EVP_PKEY_free(k);

  const struct tu_rdn lp[] = {{NID_commonName, "laptop-042"}, {0, NULL}};
  const struct tu_rdn al[] = {{NID_commonName, "alice"}, {0, NULL}};
  const struct tu_rdn bo[] = {{NID_commonName, "bob"}, {0, NULL}};
  k = tu_key_new(TU_P256);
  struct tu_cert_spec c = {.subject = lp, .serial = ALICE_SERIAL, .eku = "clientAuth",
                           .issuer = device_ca, .issuer_key = device_key};
  laptop = tu_cert_new(&c, k); /* same serial as alice, other CA */
  c.subject = al;
  c.issuer = user_ca;
  c.issuer_key = user_key;
  alice = tu_cert_new(&c, k);
  c.subject = bo;
  c.serial = BOB_SERIAL;
  bob = tu_cert_new(&c, k);
  EVP_PKEY_free(k);

  tu_write_cert(&dir, "device-ca.crt", device_ca, path);
  tu_write_cert(&dir, "user-ca.crt", user_ca, path);
  const long revoked[] = {ALICE_SERIAL};
  X509_CRL *crl = tu_crl_new(user_ca, user_key, revoked, 1, 86400);
  tu_write_crl(&dir, "user-ca.crl", crl, path);
  X509_CRL_free(crl);
  crl = tu_crl_new(device_ca, device_key, NULL, 0, 86400);
  tu_write_crl(&dir, "device-ca.crl", crl, path);
  X509_CRL_free(crl);
  tu_write_str(&dir, "junk.crl", "not a CRL\n", path);

  EVP_PKEY_free(device_key);
  EVP_PKEY_free(user_key);
  EVP_PKEY_free(server_ca_key);
  X509_free(server_ca);

  tu_path(&dir, "server.crt", base_cfg.cert);
  tu_path(&dir, "server.key", base_cfg.key);
  tu_path(&dir, "device-ca.crt", base_cfg.device_ca);
  tu_path(&dir, "user-ca.crt", base_cfg.user_ca);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  X509_free(device_ca);
  X509_free(user_ca);
  X509_free(laptop);
  X509_free(alice);
  X509_free(bob);
  tu_dir_remove(&dir);
  return 0;
}

/* verify returns the X509_V_ERR code of |leaf| against |store|. */
static int verify(X509_STORE *store, X509 *leaf) {
  int err = -1;
  int ok = zt_verify_chain(store, leaf, NULL, &err);
  assert_int_equal(ok, err == X509_V_OK);
  return err;
}

/* load_fail expects server_creds_load to refuse |cfg| with |text|. */
static void load_fail(const struct server_config *cfg, const char *text) {
  static struct server_creds c;
  char err[1024] = "";
  memset(&c, 0x5a, sizeof(c));
  assert_int_equal(server_creds_load(cfg, &c, err, sizeof(err)), 0);
  tu_assert_contains(err, text);
  assert_null(c.tls);
  assert_null(c.user_store);
}

static void test_load(void **state) {
  (void)state;
  struct server_creds c;
  char err[1024] = "";
  if (!server_creds_load(&base_cfg, &c, err, sizeof(err))) fail_msg("%s", err);
  assert_non_null(c.tls);
  assert_non_null(c.user_store);
  /* The context presents the server certificate and requires a device
   * certificate, verified against the device CA only. */
  X509 *mine = SSL_CTX_get0_certificate(c.tls);
  assert_non_null(mine);
  char cn[64];
  assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(mine), NID_commonName, cn,
                                        sizeof(cn)) > 0);
  assert_string_equal(cn, "gw.corp.example");
  int mode = SSL_CTX_get_verify_mode(c.tls);
  assert_true(mode & SSL_VERIFY_PEER);
  assert_true(mode & SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
  X509_STORE *devices = SSL_CTX_get_cert_store(c.tls);
  assert_int_equal(verify(devices, laptop), X509_V_OK);
  assert_int_not_equal(verify(devices, alice), X509_V_OK);
  /* The user store trusts the user CA only. */
  assert_int_equal(verify(c.user_store, alice), X509_V_OK);
  assert_int_not_equal(verify(c.user_store, laptop), X509_V_OK);
  server_creds_free(&c);
  assert_null(c.tls);
  assert_null(c.user_store);
  server_creds_free(&c); /* twice is harmless */
}

static void test_key_mode(void **state) {
  (void)state;
  struct server_config cfg = base_cfg;
  tu_path(&dir, "server-0644.key", cfg.key);
  load_fail(&cfg, "readable by group or others");
  tu_path(&dir, "server-0640.key", cfg.key);
  load_fail(&cfg, "readable by group or others");
}

static void test_key_mismatch(void **state) {
  (void)state;
  struct server_config cfg = base_cfg;
  tu_path(&dir, "other.key", cfg.key);
  load_fail(&cfg, "does not belong to the certificate");
}

static void test_missing_files(void **state) {
  (void)state;
  struct server_config cfg = base_cfg;
  tu_path(&dir, "nope-ca.crt", cfg.device_ca);
  load_fail(&cfg, "device CA: cannot open certificate");
  cfg = base_cfg;
  tu_path(&dir, "nope-ca.crt", cfg.user_ca);
  load_fail(&cfg, "user CA: cannot open certificate");
  cfg = base_cfg;
  tu_path(&dir, "server.key", cfg.user_ca); /* a file without a certificate */
  load_fail(&cfg, "no PEM certificate");
  cfg = base_cfg;
  tu_path(&dir, "nope.crt", cfg.cert);
  load_fail(&cfg, "cannot open certificate");
  cfg = base_cfg;
  tu_path(&dir, "nope.key", cfg.key);
  load_fail(&cfg, "cannot open private key");
  cfg = base_cfg;
  cfg.ncrl = 1;
  tu_path(&dir, "nope.crl", cfg.crl[0]);
  load_fail(&cfg, "cannot open CRL");
  tu_path(&dir, "junk.crl", cfg.crl[0]);
  load_fail(&cfg, "no PEM CRL");
}

/* With CRLs, a revoked user is refused, and a CA without a CRL of its own
 * rejects everything it issued (fail closed). */
static void test_crl(void **state) {
  (void)state;
  struct server_config cfg = base_cfg;
  struct server_creds c;
  char err[1024] = "";
  cfg.ncrl = 2;
  tu_path(&dir, "user-ca.crl", cfg.crl[0]);
  tu_path(&dir, "device-ca.crl", cfg.crl[1]);
  if (!server_creds_load(&cfg, &c, err, sizeof(err))) fail_msg("%s", err);
  assert_int_equal(verify(c.user_store, alice), X509_V_ERR_CERT_REVOKED);
  assert_int_equal(verify(c.user_store, bob), X509_V_OK);
  /* laptop has alice's serial, but on the device CA, whose CRL is empty */
  assert_int_equal(verify(SSL_CTX_get_cert_store(c.tls), laptop), X509_V_OK);
  server_creds_free(&c);

  cfg.ncrl = 1; /* only the user CA's CRL */
  if (!server_creds_load(&cfg, &c, err, sizeof(err))) fail_msg("%s", err);
  assert_int_equal(verify(c.user_store, bob), X509_V_OK);
  assert_int_equal(verify(SSL_CTX_get_cert_store(c.tls), laptop),
                   X509_V_ERR_UNABLE_TO_GET_CRL);
  server_creds_free(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_load),          cmocka_unit_test(test_key_mode),
      cmocka_unit_test(test_key_mismatch),  cmocka_unit_test(test_missing_files),
      cmocka_unit_test(test_crl),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

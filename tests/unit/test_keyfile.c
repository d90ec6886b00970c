/* keyfile: private keys (with the permission check) and certificate chains. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "keyfile.h"
#include "testutil.h"

struct fixture {
  struct tu_dir dir;
  EVP_PKEY *key, *other_key, *ca_key;
  X509 *cert, *ca;
  char key_path[PATH_MAX];
};

static int setup(void **state) {
  static struct fixture f;
  memset(&f, 0, sizeof(f));
  tu_dir_make(&f.dir);
  f.key = tu_key_new(TU_P256);
  f.other_key = tu_key_new(TU_P256);
  f.ca = tu_ca_new("keyfile test CA", &f.ca_key);
  const struct tu_rdn subj[] = {{NID_commonName, "leaf"}, {0, NULL}};
  struct tu_cert_spec spec = {.subject = subj, .serial = 2, .eku = "clientAuth",
                              .issuer = f.ca, .issuer_key = f.ca_key};
  f.cert = tu_cert_new(&spec, f.key);
  tu_write_key(&f.dir, "key.pem", f.key, 0600, f.key_path);
  *state = &f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  EVP_PKEY_free(f->key);
  EVP_PKEY_free(f->other_key);
  EVP_PKEY_free(f->ca_key);
  X509_free(f->cert);
  X509_free(f->ca);
  tu_dir_remove(&f->dir);
  return 0;
}

static void test_key_private_modes_load(void **state) {
  struct fixture *f = *state;
  static const mode_t ok[] = {0600, 0400, 0700, 0200};
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    char err[512] = "";
    assert_int_equal(chmod(f->key_path, ok[i]), 0);
    EVP_PKEY *k = zt_load_private_key(f->key_path, err, sizeof(err));
    if (!k) fail_msg("mode %04o refused: %s", ok[i], err);
    assert_int_equal(EVP_PKEY_cmp(k, f->key), 1);
    EVP_PKEY_free(k);
  }
  assert_int_equal(chmod(f->key_path, 0600), 0);
}

static void test_key_shared_modes_refused(void **state) {
  struct fixture *f = *state;
  static const mode_t bad[] = {0640, 0604, 0644, 0660, 0666, 0610, 0601, 0620, 0602, 0777};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char err[512] = "";
    assert_int_equal(chmod(f->key_path, bad[i]), 0);
    EVP_PKEY *k = zt_load_private_key(f->key_path, err, sizeof(err));
    if (k) fail_msg("mode %04o accepted", bad[i]);
    tu_assert_contains(err, "readable by group or others");
    tu_assert_contains(err, f->key_path);
  }
  assert_int_equal(chmod(f->key_path, 0600), 0);
}

static void test_key_missing(void **state) {
  struct fixture *f = *state;
  char path[PATH_MAX], err[512] = "";
  tu_path(&f->dir, "absent.pem", path);
  assert_null(zt_load_private_key(path, err, sizeof(err)));
  tu_assert_contains(err, "cannot open");
  tu_assert_contains(err, "No such file");
}

static void test_key_garbage(void **state) {
  struct fixture *f = *state;
  char path[PATH_MAX], err[512] = "";
  static const char *const junk[] = {
      "",
      "hello\n",
      "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
      "-----BEGIN PRIVATE KEY-----\n",
  };
  for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
    tu_write(&f->dir, "junk.pem", junk[i], strlen(junk[i]), 0600, path);
    err[0] = '\0';
    assert_null(zt_load_private_key(path, err, sizeof(err)));
    tu_assert_contains(err, "not a PEM private key");
    assert_int_equal(ERR_peek_error(), 0); /* the error queue is left clean */
  }
  /* a certificate is not a key */
  X509 *c = f->cert;
  tu_write_certs(&f->dir, "cert-as-key.pem", &c, 1, path);
  assert_int_equal(chmod(path, 0600), 0);
  assert_null(zt_load_private_key(path, err, sizeof(err)));
}

static void test_key_symlink_refused(void **state) {
  struct fixture *f = *state;
  char link[PATH_MAX], err[512] = "";
  tu_path(&f->dir, "link.pem", link);
  assert_int_equal(symlink(f->key_path, link), 0);
  assert_null(zt_load_private_key(link, err, sizeof(err)));
  tu_assert_contains(err, "cannot open");
  /* the target itself is fine */
  EVP_PKEY *k = zt_load_private_key(f->key_path, err, sizeof(err));
  assert_non_null(k);
  EVP_PKEY_free(k);
}

static void test_key_not_regular(void **state) {
  struct fixture *f = *state;
  char sub[PATH_MAX], err[512] = "";
  tu_path(&f->dir, "subdir", sub);
  assert_int_equal(mkdir(sub, 0700), 0);
  assert_null(zt_load_private_key(sub, err, sizeof(err)));
  tu_assert_contains(err, "not a regular file");
}

static void test_key_types(void **state) {
  struct fixture *f = *state;
  static const enum tu_key_type types[] = {TU_P384, TU_ED25519, TU_RSA2048};
  for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
    char path[PATH_MAX], err[512] = "";
    EVP_PKEY *k = tu_key_new(types[i]);
    tu_write_key(&f->dir, "k.pem", k, 0600, path);
    EVP_PKEY *got = zt_load_private_key(path, err, sizeof(err));
    assert_non_null(got);
    assert_int_equal(EVP_PKEY_cmp(got, k), 1);
    EVP_PKEY_free(got);
    EVP_PKEY_free(k);
  }
}

static void test_chain(void **state) {
  struct fixture *f = *state;
  char path[PATH_MAX], err[512] = "";
  X509 *both[2] = {f->cert, f->ca};
  tu_write_certs(&f->dir, "chain.pem", both, 2, path);
  STACK_OF(X509) *chain = zt_load_cert_chain(path, err, sizeof(err));
  assert_non_null(chain);
  assert_int_equal(sk_X509_num(chain), 2);
  assert_int_equal(X509_cmp(sk_X509_value(chain, 0), f->cert), 0); /* leaf first */
  assert_int_equal(X509_cmp(sk_X509_value(chain, 1), f->ca), 0);
  sk_X509_pop_free(chain, X509_free);
  assert_int_equal(ERR_peek_error(), 0);

  tu_write_cert(&f->dir, "one.pem", f->cert, path);
  chain = zt_load_cert_chain(path, err, sizeof(err));
  assert_non_null(chain);
  assert_int_equal(sk_X509_num(chain), 1);
  sk_X509_pop_free(chain, X509_free);
}

static void test_chain_none(void **state) {
  struct fixture *f = *state;
  char path[PATH_MAX], err[512] = "";
  tu_write_str(&f->dir, "empty.pem", "", path);
  assert_null(zt_load_cert_chain(path, err, sizeof(err)));
  tu_assert_contains(err, "no PEM certificate");
  /* a key file holds no certificate either */
  err[0] = '\0';
  assert_null(zt_load_cert_chain(f->key_path, err, sizeof(err)));
  tu_assert_contains(err, "no PEM certificate");
  tu_path(&f->dir, "absent.pem", path);
  assert_null(zt_load_cert_chain(path, err, sizeof(err)));
  tu_assert_contains(err, "cannot open");
  assert_int_equal(ERR_peek_error(), 0);
}

static void test_key_matches_cert(void **state) {
  struct fixture *f = *state;
  assert_int_equal(zt_key_matches_cert(f->key, f->cert), 1);
  assert_int_equal(zt_key_matches_cert(f->other_key, f->cert), 0);
  assert_int_equal(zt_key_matches_cert(f->ca_key, f->cert), 0);
  assert_int_equal(zt_key_matches_cert(f->ca_key, f->ca), 1);
  /* a key of another type never matches */
  EVP_PKEY *ed = tu_key_new(TU_ED25519);
  assert_int_equal(zt_key_matches_cert(ed, f->cert), 0);
  EVP_PKEY_free(ed);
  ERR_clear_error();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_key_private_modes_load),
      cmocka_unit_test(test_key_shared_modes_refused),
      cmocka_unit_test(test_key_missing),
      cmocka_unit_test(test_key_garbage),
      cmocka_unit_test(test_key_symlink_refused),
      cmocka_unit_test(test_key_not_regular),
      cmocka_unit_test(test_key_types),
      cmocka_unit_test(test_chain),
      cmocka_unit_test(test_chain_none),
      cmocka_unit_test(test_key_matches_cert),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

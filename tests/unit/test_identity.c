/* identity: names from certificates, trust stores with CRLs and chain
 * verification. Every certificate is made here with BoringSSL. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "identity.h"
#include "testutil.h"

struct fixture {
  struct tu_dir dir;
  EVP_PKEY *ca_key, *other_ca_key, *key;
  X509 *ca, *other_ca;
  char ca_path[PATH_MAX], other_ca_path[PATH_MAX];
};

static struct fixture fx;

static int setup(void **state) {
  memset(&fx, 0, sizeof(fx));
  tu_dir_make(&fx.dir);
  fx.ca = tu_ca_new("identity test CA", &fx.ca_key);
  fx.other_ca = tu_ca_new("some other CA", &fx.other_ca_key);
  fx.key = tu_key_new(TU_P256);
  tu_write_cert(&fx.dir, "ca.pem", fx.ca, fx.ca_path);
  tu_write_cert(&fx.dir, "other-ca.pem", fx.other_ca, fx.other_ca_path);
  *state = &fx;
  return 0;
}

static int teardown(void **state) {
  EVP_PKEY_free(fx.ca_key);
  EVP_PKEY_free(fx.other_ca_key);
  EVP_PKEY_free(fx.key);
  X509_free(fx.ca);
  X509_free(fx.other_ca);
  tu_dir_remove(&fx.dir);
  return 0;
}

/* A leaf issued by |issuer| (the test CA when NULL). */
static X509 *leaf(const struct tu_rdn *subj, long serial, const char *eku,
                  long not_before, long not_after, X509 *issuer, EVP_PKEY *ikey) {
  struct tu_cert_spec spec = {.subject = subj,
                              .serial = serial,
                              .eku = eku,
                              .not_before = not_before,
                              .not_after = not_after,
                              .issuer = issuer ? issuer : fx.ca,
                              .issuer_key = issuer ? ikey : fx.ca_key};
  return tu_cert_new(&spec, fx.key);
}

static X509 *leaf_named(const struct tu_rdn *subj) {
  return leaf(subj, 77, "clientAuth", 0, 0, NULL, NULL);
}

static X509_STORE *store_of(const char *ca, const char *const *crls, size_t ncrl) {
  char err[512] = "";
  X509_STORE *s = zt_trust_load(ca, crls, ncrl, err, sizeof(err));
  if (!s) fail_msg("zt_trust_load: %s", err);
  return s;
}

/* ---- names ---------------------------------------------------------------- */

static void test_identity_cn_and_ous(void **state) {
  const struct tu_rdn subj[] = {{NID_organizationName, "ztvpn test"},
                                {NID_organizationalUnitName, "engineering"},
                                {NID_organizationalUnitName, "on-call admins"},
                                {NID_commonName, "alice"},
                                {0, NULL}};
  X509 *x = leaf(subj, 0x1a2b3c, "clientAuth", 0, 7200, NULL, NULL);
  struct zt_identity id;
  char err[256] = "";
  time_t now = time(NULL);
  if (!zt_identity_from_cert(x, &id, err, sizeof(err))) fail_msg("%s", err);
  assert_string_equal(id.name, "alice");
  assert_int_equal(id.ngroups, 2);
  assert_string_equal(id.groups[0], "engineering");
  assert_string_equal(id.groups[1], "on-call admins");
  assert_string_equal(id.serial, "1a2b3c");
  assert_true(id.not_after >= now + 7200 - 5 && id.not_after <= now + 7200 + 5);
  X509_free(x);
}

static void test_identity_no_ou(void **state) {
  const struct tu_rdn subj[] = {{NID_commonName, "laptop-042"}, {0, NULL}};
  X509 *x = leaf_named(subj);
  struct zt_identity id;
  char err[256];
  assert_int_equal(zt_identity_from_cert(x, &id, err, sizeof(err)), 1);
  assert_string_equal(id.name, "laptop-042");
  assert_int_equal(id.ngroups, 0);
  X509_free(x);
}

static void test_identity_bad_names(void **state) {
  char cn64[65], cn65[66], ou65[66];
  memset(cn64, 'c', 64);
  cn64[64] = '\0';
  memset(cn65, 'c', 65);
  cn65[65] = '\0';
  memset(ou65, 'o', 65);
  ou65[65] = '\0';
  static struct tu_rdn many_ous[ZT_MAX_GROUPS + 3];
  for (int i = 0; i < ZT_MAX_GROUPS + 1; i++)
    many_ous[i] = (struct tu_rdn){NID_organizationalUnitName, "g"};
  many_ous[ZT_MAX_GROUPS + 1] = (struct tu_rdn){NID_commonName, "bob"};
  many_ous[ZT_MAX_GROUPS + 2] = (struct tu_rdn){0, NULL};
  const struct {
    const char *what;
    struct tu_rdn subj[4];
    const struct tu_rdn *ext;
    const char *err;
  } cases[] = {
      {"no CN", {{NID_organizationalUnitName, "eng"}, {0, NULL}}, NULL, "no CN"},
      {"empty subject", {{0, NULL}}, NULL, "no CN"},
      {"two CNs", {{NID_commonName, "alice"}, {NID_commonName, "bob"}, {0, NULL}}, NULL,
       "more than one CN"},
      {"65-byte CN", {{NID_commonName, cn65}, {0, NULL}}, NULL, "CN"},
      {"empty CN", {{NID_commonName, ""}, {0, NULL}}, NULL, "CN"},
      {"leading space", {{NID_commonName, " alice"}, {0, NULL}}, NULL, "CN"},
      {"trailing space", {{NID_commonName, "alice "}, {0, NULL}}, NULL, "CN"},
      {"control byte", {{NID_commonName, "ali\nce"}, {0, NULL}}, NULL, "CN"},
      {"non-ASCII", {{NID_commonName, "al\xc3\xaf" "ce"}, {0, NULL}}, NULL, "CN"},
      {"DEL", {{NID_commonName, "ali\x7f"}, {0, NULL}}, NULL, "CN"},
      {"65-byte OU", {{NID_organizationalUnitName, ou65}, {NID_commonName, "a"}, {0, NULL}},
       NULL, "OU"},
      {"empty OU", {{NID_organizationalUnitName, ""}, {NID_commonName, "a"}, {0, NULL}},
       NULL, "OU"},
      {"17 OUs", {{0, NULL}}, many_ous, "more than 16 OU"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    X509 *x = leaf_named(cases[i].ext ? cases[i].ext : cases[i].subj);
    struct zt_identity id;
    char err[256] = "";
    if (zt_identity_from_cert(x, &id, err, sizeof(err)))
      fail_msg("%s: accepted as '%s'", cases[i].what, id.name);
    if (!strstr(err, cases[i].err))
      fail_msg("%s: error '%s' lacks '%s'", cases[i].what, err, cases[i].err);
    X509_free(x);
  }
  /* the limits themselves pass: a 64-byte CN, 16 OUs */
  const struct tu_rdn ok64[] = {{NID_commonName, cn64}, {0, NULL}};
  X509 *x = leaf_named(ok64);
  struct zt_identity id;
  char err[256];
  assert_int_equal(zt_identity_from_cert(x, &id, err, sizeof(err)), 1);
  assert_string_equal(id.name, cn64);
  X509_free(x);
  x = leaf_named(many_ous + 1);
  assert_int_equal(zt_identity_from_cert(x, &id, err, sizeof(err)), 1);
  assert_int_equal(id.ngroups, ZT_MAX_GROUPS);
  assert_string_equal(id.name, "bob");
  X509_free(x);
}

/* ---- verification ------------------------------------------------------- */

static const struct tu_rdn alice[] = {{NID_organizationalUnitName, "eng"},
                                      {NID_commonName, "alice"},
                                      {0, NULL}};

static void expect_verify(X509_STORE *store, X509 *x, STACK_OF(X509) *untrusted,
                          int want) {
  int e = -12345;
  int ok = zt_verify_chain(store, x, untrusted, &e);
  if (e != want)
    fail_msg("verify error %d (%s), want %d (%s)", e, X509_verify_cert_error_string(e),
             want, X509_verify_cert_error_string(want));
  assert_int_equal(ok, want == X509_V_OK);
  assert_int_equal(ERR_peek_error(), 0);
}

static void test_verify_ok(void **state) {
  X509_STORE *store = store_of(fx.ca_path, NULL, 0);
  X509 *x = leaf_named(alice);
  expect_verify(store, x, NULL, X509_V_OK);
  /* verification can be repeated with the same store */
  expect_verify(store, x, NULL, X509_V_OK);
  X509_free(x);
  X509_STORE_free(store);
}

static void test_verify_refusals(void **state) {
  X509_STORE *store = store_of(fx.ca_path, NULL, 0);
  static const long day = 86400;
  struct {
    const char *what;
    X509 *x;
    int want;
  } cases[] = {
      {"expired", leaf(alice, 10, "clientAuth", -30 * day, -day, NULL, NULL),
       X509_V_ERR_CERT_HAS_EXPIRED},
      {"not yet valid", leaf(alice, 11, "clientAuth", day, 30 * day, NULL, NULL),
       X509_V_ERR_CERT_NOT_YET_VALID},
      {"serverAuth only", leaf(alice, 12, "serverAuth", 0, 0, NULL, NULL),
       X509_V_ERR_INVALID_PURPOSE},
      {"other CA", leaf(alice, 13, "clientAuth", 0, 0, fx.other_ca, fx.other_ca_key),
       X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int e = 0;
    if (zt_verify_chain(store, cases[i].x, NULL, &e)) fail_msg("%s: accepted", cases[i].what);
    if (e != cases[i].want)
      fail_msg("%s: error %d (%s), want %d", cases[i].what, e,
               X509_verify_cert_error_string(e), cases[i].want);
    X509_free(cases[i].x);
  }
  /* A self-signed leaf: without keyCertSign it does not count as its own
   * issuer, so it is reported like any unknown issuer. */
  const struct tu_cert_spec self = {.subject = alice, .serial = 14, .eku = "clientAuth"};
  X509 *x = tu_cert_new(&self, fx.key);
  expect_verify(store, x, NULL, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  X509_free(x);
  /* a self-signed CA certificate that is not the trusted one */
  EVP_PKEY *k = NULL;
  x = tu_ca_new("identity test CA", &k); /* same name as the real CA */
  expect_verify(store, x, NULL, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
  EVP_PKEY_free(k);
  X509_free(x);
  X509_STORE_free(store);
}

static void test_verify_intermediate(void **state) {
  EVP_PKEY *ikey = tu_key_new(TU_P256);
  const struct tu_rdn isubj[] = {{NID_commonName, "intermediate"}, {0, NULL}};
  struct tu_cert_spec ispec = {.subject = isubj, .serial = 50, .is_ca = 1,
                               .issuer = fx.ca, .issuer_key = fx.ca_key};
  X509 *inter = tu_cert_new(&ispec, ikey);
  X509 *x = leaf(alice, 51, "clientAuth", 0, 0, inter, ikey);
  X509_STORE *store = store_of(fx.ca_path, NULL, 0);
  STACK_OF(X509) *untrusted = sk_X509_new_null();
  assert_non_null(untrusted);
  expect_verify(store, x, untrusted, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  assert_int_equal(sk_X509_push(untrusted, inter), 1);
  expect_verify(store, x, untrusted, X509_V_OK);
  sk_X509_free(untrusted);
  X509_free(x);
  X509_free(inter);
  EVP_PKEY_free(ikey);
  X509_STORE_free(store);
}

static void test_verify_crl(void **state) {
  char crl_path[PATH_MAX], other_crl_path[PATH_MAX], expired_path[PATH_MAX];
  static const long revoked_serials[] = {0x666, 0x667};
  X509_CRL *crl = tu_crl_new(fx.ca, fx.ca_key, revoked_serials, 2, 86400);
  X509_CRL *other = tu_crl_new(fx.other_ca, fx.other_ca_key, NULL, 0, 86400);
  X509_CRL *expired = tu_crl_new(fx.ca, fx.ca_key, NULL, 0, -60);
  tu_write_crl(&fx.dir, "ca.crl", crl, crl_path);
  tu_write_crl(&fx.dir, "other.crl", other, other_crl_path);
  tu_write_crl(&fx.dir, "expired.crl", expired, expired_path);
  X509 *revoked = leaf(alice, 0x666, "clientAuth", 0, 0, NULL, NULL);
  X509 *good = leaf(alice, 0x668, "clientAuth", 0, 0, NULL, NULL);

  /* without CRLs nothing is checked */
  X509_STORE *store = store_of(fx.ca_path, NULL, 0);
  expect_verify(store, revoked, NULL, X509_V_OK);
  X509_STORE_free(store);

  const char *const crls[] = {crl_path, other_crl_path};
  store = store_of(fx.ca_path, crls, 2);
  expect_verify(store, revoked, NULL, X509_V_ERR_CERT_REVOKED);
  expect_verify(store, good, NULL, X509_V_OK);
  X509_STORE_free(store);

  /* fail closed: only another CA's CRL, or an expired one */
  const char *const only_other[] = {other_crl_path};
  store = store_of(fx.ca_path, only_other, 1);
  expect_verify(store, good, NULL, X509_V_ERR_UNABLE_TO_GET_CRL);
  X509_STORE_free(store);
  const char *const only_expired[] = {expired_path};
  store = store_of(fx.ca_path, only_expired, 1);
  expect_verify(store, good, NULL, X509_V_ERR_CRL_HAS_EXPIRED);
  X509_STORE_free(store);

  X509_free(revoked);
  X509_free(good);
  X509_CRL_free(crl);
  X509_CRL_free(other);
  X509_CRL_free(expired);
}

/* Two CRLs in one file and two CAs in one file. */
static void test_trust_bundles(void **state) {
  char cas_path[PATH_MAX], crls_path[PATH_MAX];
  X509 *both[2] = {fx.ca, fx.other_ca};
  tu_write_certs(&fx.dir, "cas.pem", both, 2, cas_path);
  static const long r1[] = {0x700}, r2[] = {0x701};
  X509_CRL *c1 = tu_crl_new(fx.ca, fx.ca_key, r1, 1, 86400);
  X509_CRL *c2 = tu_crl_new(fx.other_ca, fx.other_ca_key, r2, 1, 86400);
  tu_path(&fx.dir, "crls.pem", crls_path);
  FILE *f = fopen(crls_path, "we");
  assert_non_null(f);
  assert_int_equal(PEM_write_X509_CRL(f, c1), 1);
  assert_int_equal(PEM_write_X509_CRL(f, c2), 1);
  fclose(f);
  const char *const crls[] = {crls_path};
  X509_STORE *store = store_of(cas_path, crls, 1);
  X509 *a = leaf(alice, 0x700, "clientAuth", 0, 0, NULL, NULL);
  X509 *b = leaf(alice, 0x701, "clientAuth", 0, 0, fx.other_ca, fx.other_ca_key);
  X509 *c = leaf(alice, 0x701, "clientAuth", 0, 0, NULL, NULL);
  expect_verify(store, a, NULL, X509_V_ERR_CERT_REVOKED);
  expect_verify(store, b, NULL, X509_V_ERR_CERT_REVOKED);
  expect_verify(store, c, NULL, X509_V_OK); /* same serial, other issuer */
  X509_free(a);
  X509_free(b);
  X509_free(c);
  X509_CRL_free(c1);
  X509_CRL_free(c2);
  X509_STORE_free(store);
}

static void test_trust_load_errors(void **state) {
  char missing[PATH_MAX], empty[PATH_MAX], crl_path[PATH_MAX], err[512];
  tu_path(&fx.dir, "absent.pem", missing);
  tu_write_str(&fx.dir, "empty.pem", "not a certificate\n", empty);
  X509_CRL *crl = tu_crl_new(fx.ca, fx.ca_key, NULL, 0, 86400);
  tu_write_crl(&fx.dir, "ok.crl", crl, crl_path);
  X509_CRL_free(crl);

  err[0] = '\0';
  assert_null(zt_trust_load(missing, NULL, 0, err, sizeof(err)));
  tu_assert_contains(err, "cannot open");
  tu_assert_contains(err, missing);
  err[0] = '\0';
  assert_null(zt_trust_load(empty, NULL, 0, err, sizeof(err)));
  tu_assert_contains(err, "no PEM certificate");
  /* a CRL file that is missing, or that holds no CRL (a certificate) */
  const char *const crls_missing[] = {crl_path, missing};
  err[0] = '\0';
  assert_null(zt_trust_load(fx.ca_path, crls_missing, 2, err, sizeof(err)));
  tu_assert_contains(err, "cannot open CRL");
  const char *const crls_cert[] = {fx.ca_path};
  err[0] = '\0';
  assert_null(zt_trust_load(fx.ca_path, crls_cert, 1, err, sizeof(err)));
  tu_assert_contains(err, "no PEM CRL");
  const char *const crls_empty[] = {empty};
  err[0] = '\0';
  assert_null(zt_trust_load(fx.ca_path, crls_empty, 1, err, sizeof(err)));
  tu_assert_contains(err, "no PEM CRL");
  assert_int_equal(ERR_peek_error(), 0);
}

static void test_verify_error_text(void **state) {
  static const struct {
    int code;
    const char *kind, *want;
  } cases[] = {
      {X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, "user",
       "user certificate is not issued by the user CA"},
      {X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, "device",
       "device certificate is not issued by the device CA"},
      {X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, "user",
       "user certificate is not issued by the user CA"},
      {X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, "device",
       "device certificate is not issued by the device CA"},
      {X509_V_ERR_INVALID_PURPOSE, "device",
       "device certificate is not valid for client authentication"},
      {X509_V_ERR_CERT_HAS_EXPIRED, "user", "user certificate: certificate has expired"},
      {X509_V_ERR_CERT_REVOKED, "device", "device certificate: certificate revoked"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char out[256];
    zt_verify_error_text(cases[i].code, cases[i].kind, out, sizeof(out));
    assert_string_equal(out, cases[i].want);
  }
  char small[8];
  zt_verify_error_text(X509_V_ERR_CERT_REVOKED, "device", small, sizeof(small));
  assert_int_equal(strlen(small), sizeof(small) - 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_identity_cn_and_ous),
      cmocka_unit_test(test_identity_no_ou),
      cmocka_unit_test(test_identity_bad_names),
      cmocka_unit_test(test_verify_ok),
      cmocka_unit_test(test_verify_refusals),
      cmocka_unit_test(test_verify_intermediate),
      cmocka_unit_test(test_verify_crl),
      cmocka_unit_test(test_trust_bundles),
      cmocka_unit_test(test_trust_load_errors),
      cmocka_unit_test(test_verify_error_text),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

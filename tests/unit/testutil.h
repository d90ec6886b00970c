/* Helpers shared by the unit tests: a private temporary directory that is
 * removed afterwards, files written into it, and keys, certificates and CRLs
 * made on the spot with BoringSSL (no fixture files to go stale).
 *
 * Everything here is static and marked unused, so each test includes the
 * header and uses what it needs. Failures abort the test through cmocka. */
#ifndef ZTVPN_TESTUTIL_H
#define ZTVPN_TESTUTIL_H

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define TU_FN static __attribute__((unused))

/* ---- temporary files ---------------------------------------------------- */

struct tu_dir {
  char path[PATH_MAX];
};

/* tu_dir_make creates a fresh private directory under $TMPDIR or /tmp. */
TU_FN void tu_dir_make(struct tu_dir *d) {
  const char *base = getenv("TMPDIR");
  if (!base || !*base) base = "/tmp";
  snprintf(d->path, sizeof(d->path), "%s/zttest.XXXXXX", base);
  if (!mkdtemp(d->path)) fail_msg("mkdtemp %s failed", d->path);
}

TU_FN int tu_rm_one(const char *p, const struct stat *st, int flag,
                     struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(p);
}

/* tu_dir_remove deletes the directory and everything in it. */
TU_FN void tu_dir_remove(struct tu_dir *d) {
  if (d->path[0] == '\0') return;
  nftw(d->path, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
  d->path[0] = '\0';
}

/* tu_path writes "DIR/NAME" into |out| (PATH_MAX) and returns it. */
TU_FN char *tu_path(const struct tu_dir *d, const char *name, char *out) {
  snprintf(out, PATH_MAX, "%s/%s", d->path, name);
  return out;
}

/* tu_write writes |len| bytes to DIR/NAME with |mode|; |out| gets the path. */
TU_FN char *tu_write(const struct tu_dir *d, const char *name, const void *data,
                     size_t len, mode_t mode, char *out) {
  tu_path(d, name, out);
  int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) fail_msg("cannot create %s", out);
  if (len > 0 && write(fd, data, len) != (ssize_t)len) fail_msg("write %s", out);
  close(fd);
  if (chmod(out, mode) != 0) fail_msg("chmod %s", out);
  return out;
}

TU_FN char *tu_write_str(const struct tu_dir *d, const char *name,
                         const char *text, char *out) {
  return tu_write(d, name, text, strlen(text), 0600, out);
}

/* ---- keys ---------------------------------------------------------------- */

enum tu_key_type { TU_P256, TU_P384, TU_P521, TU_ED25519, TU_RSA2048, TU_RSA1024 };

TU_FN EVP_PKEY *tu_key_new(enum tu_key_type type) {
  EVP_PKEY *pkey = EVP_PKEY_new();
  assert_non_null(pkey);
  switch (type) {
    case TU_P256:
    case TU_P384:
    case TU_P521: {
      int nid = type == TU_P256   ? NID_X9_62_prime256v1
                : type == TU_P384 ? NID_secp384r1
                                  : NID_secp521r1;
      EC_KEY *ec = EC_KEY_new_by_curve_name(nid);
      assert_non_null(ec);
      assert_int_equal(EC_KEY_generate_key(ec), 1);
      assert_int_equal(EVP_PKEY_assign_EC_KEY(pkey, ec), 1);
      break;
    }
    case TU_ED25519: {
      EVP_PKEY_free(pkey);
      pkey = NULL;
      EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
      assert_non_null(kctx);
      assert_int_equal(EVP_PKEY_keygen_init(kctx), 1);
      assert_int_equal(EVP_PKEY_keygen(kctx, &pkey), 1);
      EVP_PKEY_CTX_free(kctx);
      break;
    }
    case TU_RSA2048:
    case TU_RSA1024: {
      RSA *rsa = RSA_new();
      BIGNUM *e = BN_new();
      assert_non_null(rsa);
      assert_non_null(e);
      assert_int_equal(BN_set_word(e, RSA_F4), 1);
      assert_int_equal(
          RSA_generate_key_ex(rsa, type == TU_RSA2048 ? 2048 : 1024, e, NULL), 1);
      BN_free(e);
      assert_int_equal(EVP_PKEY_assign_RSA(pkey, rsa), 1);
      break;
    }
  }
  return pkey;
}

/* tu_write_key writes |key| as PEM (PKCS#8) to DIR/NAME with |mode|. */
TU_FN char *tu_write_key(const struct tu_dir *d, const char *name,
                         EVP_PKEY *key, mode_t mode, char *out) {
  tu_path(d, name, out);
  int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) fail_msg("cannot create %s", out);
  FILE *f = fdopen(fd, "w");
  assert_non_null(f);
  assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
  fclose(f);
  if (chmod(out, mode) != 0) fail_msg("chmod %s", out);
  return out;
}

/* ---- certificates -------------------------------------------------------- */

/* One subject entry; the value goes in as a UTF8String as given, so lengths
 * beyond the X.520 bounds can be made on purpose. */
struct tu_rdn {
  int nid;
  const char *value;
};

struct tu_cert_spec {
  const struct tu_rdn *subject; /* terminated by nid 0; NULL: no entries */
  long serial;
  long not_before; /* seconds from now */
  long not_after;  /* seconds from now; 0 means one day */
  int is_ca;
  const char *eku; /* "clientAuth", "serverAuth", ...; NULL: none */
  const char *san; /* "DNS:gw.example"; NULL: none */
  X509 *issuer;    /* NULL: self-signed with |key| */
  EVP_PKEY *issuer_key;
};

TU_FN void tu_add_ext(X509 *x, X509 *issuer, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
  if (!ext) fail_msg("extension %d = %s refused", nid, value);
  assert_int_equal(X509_add_ext(x, ext, -1), 1);
  X509_EXTENSION_free(ext);
}

/* tu_cert_new issues a certificate for |key| following |spec|. */
TU_FN X509 *tu_cert_new(const struct tu_cert_spec *spec, EVP_PKEY *key) {
  X509 *x = X509_new();
  assert_non_null(x);
  assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
  assert_int_equal(
      ASN1_INTEGER_set(X509_get_serialNumber(x), spec->serial ? spec->serial : 1), 1);
  X509_NAME *name = X509_get_subject_name(x);
  for (const struct tu_rdn *r = spec->subject; r && r->nid; r++)
    assert_int_equal(X509_NAME_add_entry_by_NID(name, r->nid, V_ASN1_UTF8STRING,
                                                (const uint8_t *)r->value,
                                                (int)strlen(r->value), -1, 0),
                     1);
  X509 *issuer = spec->issuer ? spec->issuer : x;
  EVP_PKEY *ikey = spec->issuer ? spec->issuer_key : key;
  assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(issuer)), 1);
  assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), spec->not_before
                                                              ? spec->not_before
                                                              : -3600));
  assert_non_null(
      X509_gmtime_adj(X509_getm_notAfter(x), spec->not_after ? spec->not_after : 86400));
  assert_int_equal(X509_set_pubkey(x, key), 1);
  if (spec->is_ca) {
    tu_add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
    tu_add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    tu_add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
    tu_add_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
  }
  tu_add_ext(x, issuer, NID_subject_key_identifier, "hash");
  if (spec->eku) tu_add_ext(x, issuer, NID_ext_key_usage, spec->eku);
  if (spec->san) tu_add_ext(x, issuer, NID_subject_alt_name, spec->san);
  const EVP_MD *md = EVP_PKEY_id(ikey) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
  if (!X509_sign(x, ikey, md)) fail_msg("X509_sign failed");
  return x;
}

/* tu_ca_new makes a self-signed CA "CN=<cn>" with a fresh P-256 key. */
TU_FN X509 *tu_ca_new(const char *cn, EVP_PKEY **key_out) {
  const struct tu_rdn subj[] = {{NID_organizationName, "ztvpn test"},
                                {NID_commonName, cn},
                                {0, NULL}};
  struct tu_cert_spec spec = {.subject = subj, .serial = 0x1000, .is_ca = 1,
                              .not_after = 10L * 365 * 86400};
  *key_out = tu_key_new(TU_P256);
  return tu_cert_new(&spec, *key_out);
}

/* tu_write_certs writes |n| certificates as PEM to DIR/NAME. */
TU_FN char *tu_write_certs(const struct tu_dir *d, const char *name,
                           X509 *const *certs, size_t n, char *out) {
  tu_path(d, name, out);
  FILE *f = fopen(out, "we");
  if (!f) fail_msg("cannot create %s", out);
  for (size_t i = 0; i < n; i++) assert_int_equal(PEM_write_X509(f, certs[i]), 1);
  fclose(f);
  return out;
}

TU_FN char *tu_write_cert(const struct tu_dir *d, const char *name, X509 *cert,
                          char *out) {
  return tu_write_certs(d, name, &cert, 1, out);
}

/* tu_crl_new makes a CRL of |ca| revoking the |n| |serials|, valid from an
 * hour ago for |next_update| seconds from now. */
TU_FN X509_CRL *tu_crl_new(X509 *ca, EVP_PKEY *ca_key, const long *serials,
                           size_t n, long next_update) {
  X509_CRL *crl = X509_CRL_new();
  assert_non_null(crl);
  assert_int_equal(X509_CRL_set_version(crl, X509_CRL_VERSION_2), 1);
  assert_int_equal(X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)), 1);
  ASN1_TIME *t = X509_gmtime_adj(NULL, -3600);
  assert_non_null(t);
  assert_int_equal(X509_CRL_set1_lastUpdate(crl, t), 1);
  assert_non_null(X509_gmtime_adj(t, next_update));
  assert_int_equal(X509_CRL_set1_nextUpdate(crl, t), 1);
  for (size_t i = 0; i < n; i++) {
    X509_REVOKED *rev = X509_REVOKED_new();
    ASN1_INTEGER *serial = ASN1_INTEGER_new();
    assert_non_null(rev);
    assert_non_null(serial);
    assert_int_equal(ASN1_INTEGER_set(serial, serials[i]), 1);
    assert_int_equal(X509_REVOKED_set_serialNumber(rev, serial), 1);
    assert_non_null(X509_gmtime_adj(t, -60));
    assert_int_equal(X509_REVOKED_set_revocationDate(rev, t), 1);
    assert_int_equal(X509_CRL_add0_revoked(crl, rev), 1);
    ASN1_INTEGER_free(serial);
  }
  ASN1_TIME_free(t);
  assert_int_equal(X509_CRL_sort(crl), 1);
  if (!X509_CRL_sign(crl, ca_key, EVP_sha256())) fail_msg("X509_CRL_sign failed");
  return crl;
}

TU_FN char *tu_write_crl(const struct tu_dir *d, const char *name, X509_CRL *crl,
                         char *out) {
  tu_path(d, name, out);
  FILE *f = fopen(out, "we");
  if (!f) fail_msg("cannot create %s", out);
  assert_int_equal(PEM_write_X509_CRL(f, crl), 1);
  fclose(f);
  return out;
}

/* tu_contains fails the test unless |hay| contains |needle|. */
#define tu_assert_contains(hay, needle)                                      \
  do {                                                                       \
    const char *tu_h_ = (hay), *tu_n_ = (needle);                            \
    if (!strstr(tu_h_, tu_n_))                                               \
      fail_msg("\"%s\" does not contain \"%s\"", tu_h_, tu_n_);              \
  } while (0)

#endif

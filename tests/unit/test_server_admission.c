/* server/admission.c: the decision on a USER_PROOF, against certificates an
 * administrator would make. The PKI is made with the openssl CLI at the
 * start (`openssl ca` databases for a user CA, an intermediate under it and
 * a device CA), so revocation goes through a real CRL. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bytestring.h>
#include <openssl/mem.h>
#include <openssl/rand.h>

#include "admission.h"
#include "keyfile.h"
#include "msg.h"
#include "testutil.h"
#include "userproof.h"

static struct tu_dir dir;
static X509_STORE *store;     /* the user CA */
static X509_STORE *store_crl; /* the user CA with its CRL */
static uint8_t exporter[ZT_EXPORTER_LEN];

/* ---- the PKI, with the openssl CLI ------------------------------------- */

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...) {
  char cmd[4096], full[4096 + PATH_MAX + 32];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof(cmd), fmt, ap);
  va_end(ap);
  snprintf(full, sizeof(full), "( %s ) >>'%s/openssl.log' 2>&1", cmd, dir.path);
  int rc = system(full);
  if (rc != 0) {
    snprintf(full, sizeof(full), "tail -n 5 '%s/openssl.log' >&2", dir.path);
    if (system(full) != 0) print_error("no log\n");
    fail_msg("command failed (%d): %s", rc, cmd);
  }
}

static void write_file(const char *name, const char *text) {
  char path[PATH_MAX];
  tu_write_str(&dir, name, text, path);
}

/* make_ca creates DIR/NAME/ (an openssl ca database, NAME/ca.crt,
 * NAME/ca.key): self-signed when |issuer| is NULL, else issued by it. */
static void make_ca(const char *name, const char *subject, const char *issuer) {
  const char *d = dir.path;
  char cnf[4096], file[PATH_MAX];
  sh("mkdir -p '%s/%s/newcerts' && touch '%s/%s/index.txt' && echo 1000 >'%s/%s/serial'"
     " && echo 1000 >'%s/%s/crlnumber'",
     d, name, d, name, d, name, d, name);
  snprintf(cnf, sizeof(cnf),
           "[ ca ]\ndefault_ca = CA_default\n"
           "[ CA_default ]\ndir = %s/%s\n"
           "database = $dir/index.txt\nserial = $dir/serial\n"
           "crlnumber = $dir/crlnumber\nnew_certs_dir = $dir/newcerts\n"
           "certificate = $dir/ca.crt\nprivate_key = $dir/ca.key\n"
           "default_md = sha256\ndefault_days = 30\ndefault_crl_days = 30\n"
           "policy = policy_any\nunique_subject = no\npreserve = yes\n"
           "email_in_dn = no\n"
           "[ policy_any ]\norganizationName = optional\n"
           "organizationalUnitName = optional\ncommonName = supplied\n"
           "[ req ]\ndistinguished_name = req_dn\nprompt = no\n"
           "[ req_dn ]\nCN = unused\n"
           "[ ext_ca ]\nbasicConstraints = critical, CA:TRUE\n"
           "keyUsage = critical, keyCertSign, cRLSign\n"
           "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n"
           "[ ext_client ]\nbasicConstraints = critical, CA:FALSE\n"
           "keyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\n"
           "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid, issuer\n"
           "[ ext_noeku ]\nbasicConstraints = critical, CA:FALSE\n"
           "keyUsage = critical, digitalSignature\n"
           "[ ext_server ]\nbasicConstraints = critical, CA:FALSE\n"
           "keyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\n"
           "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid, issuer\n"
                      "[ crl_ext ]\nauthorityKeyIdentifier = keyid:always\n",
           d, name);
  snprintf(file, sizeof(file), "%s/openssl.cnf", name);
  write_file(file, cnf);
  sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out '%s/%s/ca.key'",
     d, name);
  if (!issuer) {
    sh("openssl req -x509 -new -config '%s/%s/openssl.cnf' -key '%s/%s/ca.key' "
       "-subj '%s' -days 30 -extensions ext_ca -out '%s/%s/ca.crt'",
       d, name, d, name, subject, d, name);
  } else {
    sh("openssl req -new -config '%s/%s/openssl.cnf' -key '%s/%s/ca.key' -subj '%s' "
       "-out '%s/%s/ca.csr'",
       d, name, d, name, subject, d, name);
    sh("openssl ca -batch -notext -config '%s/%s/openssl.cnf' -extensions ext_ca "
       "-in '%s/%s/ca.csr' -out '%s/%s/ca.crt'",
       d, issuer, d, name, d, name);
  }
}

/* issue makes DIR/NAME.crt and DIR/NAME.key (genpkey options |alg|) from
 * CA |ca| with extension section |ext|; |dates| adds -startdate/-enddate. */
static void issue(const char *ca, const char *name, const char *alg,
                  const char *subject, const char *ext, const char *dates) {
  const char *d = dir.path;
  sh("openssl genpkey %s -out '%s/%s.key'", alg, d, name);
  sh("openssl req -new -config '%s/%s/openssl.cnf' -key '%s/%s.key' -subj '%s' "
     "-out '%s/%s.csr'",
     d, ca, d, name, subject, d, name);
  sh("openssl ca -batch -notext -config '%s/%s/openssl.cnf' -extensions %s %s "
     "-in '%s/%s.csr' -out '%s/%s.crt'",
     d, ca, ext, dates ? dates : "", d, name, d, name);
}

#define P256 "-algorithm EC -pkeyopt ec_paramgen_curve:P-256"
#define P384 "-algorithm EC -pkeyopt ec_paramgen_curve:P-384"
#define ED25519 "-algorithm ED25519"
#define RSA2048 "-algorithm RSA -pkeyopt rsa_keygen_bits:2048"

static int group_setup(void **state) {
  (void)state;
  umask(077); /* keys must not be readable by others */
  tu_dir_make(&dir);
  make_ca("user-ca", "/O=ztvpn test/CN=Test User CA", NULL);
  make_ca("device-ca", "/O=ztvpn test/CN=Test Device CA", NULL);
  make_ca("user-inter", "/O=ztvpn test/CN=Test User Intermediate", "user-ca");
  issue("user-ca", "alice", P256, "/O=ztvpn test/OU=engineering/OU=admins/CN=alice",
        "ext_client", NULL);
  issue("user-ca", "bob", P256, "/O=ztvpn test/OU=sales/CN=bob", "ext_client", NULL);
  issue("user-ca", "erin", ED25519, "/OU=ops/CN=erin", "ext_client", NULL);
  issue("user-ca", "rob", RSA2048, "/CN=rob", "ext_client", NULL);
  issue("user-ca", "pat", P384, "/CN=pat", "ext_client", NULL);
  issue("user-ca", "carol", P256, "/OU=engineering/CN=carol", "ext_client",
        "-startdate 20200101000000Z -enddate 20200201000000Z");
  issue("user-ca", "srv", P256, "/CN=gw.corp.example", "ext_server", NULL);
  issue("user-ca", "noeku", P256, "/CN=noeku", "ext_noeku", NULL);
  issue("user-ca", "dave", P256, "/OU=engineering/CN=dave", "ext_client", NULL);
  issue("device-ca", "mallory", P256, "/OU=engineering/CN=mallory", "ext_client", NULL);
  issue("user-inter", "ivy", P256, "/OU=research/CN=ivy", "ext_client", NULL);
  sh("openssl ca -config '%s/user-ca/openssl.cnf' -revoke '%s/dave.crt' "
     "-crl_reason keyCompromise",
     dir.path, dir.path);
  sh("openssl ca -config '%s/user-ca/openssl.cnf' -gencrl -out '%s/user-ca.crl'",
     dir.path, dir.path);

  char ca[PATH_MAX], crl[PATH_MAX], err[512];
  tu_path(&dir, "user-ca/ca.crt", ca);
  tu_path(&dir, "user-ca.crl", crl);
  const char *crls[] = {crl};
  if (!(store = zt_trust_load(ca, NULL, 0, err, sizeof(err)))) fail_msg("%s", err);
  if (!(store_crl = zt_trust_load(ca, crls, 1, err, sizeof(err)))) fail_msg("%s", err);
  assert_int_equal(RAND_bytes(exporter, sizeof(exporter)), 1);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  X509_STORE_free(store);
  X509_STORE_free(store_crl);
  tu_dir_remove(&dir);
  return 0;
}

/* ---- proofs ------------------------------------------------------------ */

struct proof {
  uint8_t *der[ZT_MAX_CHAIN_CERTS + 1];
  size_t len[ZT_MAX_CHAIN_CERTS + 1];
  size_t n;
  uint16_t scheme;
  uint8_t sig[ZT_MAX_SIG_LEN];
  size_t sig_len;
};

/* add_cert appends the first certificate of DIR/|file| to the chain. */
static void add_cert(struct proof *p, const char *file) {
  char path[PATH_MAX], err[512];
  STACK_OF(X509) *chain = zt_load_cert_chain(tu_path(&dir, file, path), err, sizeof(err));
  if (!chain) fail_msg("%s", err);
  assert_true(p->n < ZT_MAX_CHAIN_CERTS + 1);
  uint8_t *der = NULL;
  int len = i2d_X509(sk_X509_value(chain, 0), &der);
  assert_true(len > 0);
  p->der[p->n] = der;
  p->len[p->n++] = (size_t)len;
  sk_X509_pop_free(chain, X509_free);
}

/* sign signs |ex| with DIR/|user|.key into the proof. */
static void sign(struct proof *p, const char *user, const uint8_t ex[ZT_EXPORTER_LEN]) {
  char path[PATH_MAX], name[64], err[512];
  snprintf(name, sizeof(name), "%s.key", user);
  EVP_PKEY *key = zt_load_private_key(tu_path(&dir, name, path), err, sizeof(err));
  if (!key) fail_msg("%s", err);
  assert_int_equal(zt_proof_sign(key, ex, &p->scheme, p->sig, &p->sig_len), 1);
  EVP_PKEY_free(key);
}

/* proof_of: |user|'s certificate and a signature with its key over the
 * shared exporter. */
static void proof_of(struct proof *p, const char *user) {
  char file[64];
  memset(p, 0, sizeof(*p));
  snprintf(file, sizeof(file), "%s.crt", user);
  add_cert(p, file);
  sign(p, user, exporter);
}

static void proof_free(struct proof *p) {
  for (size_t i = 0; i < p->n; i++) OPENSSL_free(p->der[i]);
  memset(p, 0, sizeof(*p));
}

/* body builds the USER_PROOF body; free it with OPENSSL_free. */
static uint8_t *body(const struct proof *p, size_t *len) {
  CBB cbb;
  uint8_t *out = NULL;
  assert_int_equal(CBB_init(&cbb, 1024), 1);
  assert_int_equal(zt_user_proof_build(&cbb, (const uint8_t *const *)p->der, p->len,
                                       p->n, p->scheme, p->sig, p->sig_len),
                   1);
  assert_int_equal(CBB_finish(&cbb, &out, len), 1);
  return out;
}

static uint16_t check_bytes(X509_STORE *s, const uint8_t *b, size_t len,
                            const uint8_t ex[ZT_EXPORTER_LEN], struct zt_identity *id,
                            char *why, size_t whylen) {
  CBS cbs;
  CBS_init(&cbs, b, len);
  memset(why, 0, whylen);
  return admission_check_proof(s, ex, cbs, id, why, whylen);
}

/* expect fails unless |p| checked against |s| and |ex| gives |code| and,
 * for a refusal, a reason containing |text|. */
static void expect(X509_STORE *s, const struct proof *p, const uint8_t ex[ZT_EXPORTER_LEN],
                   uint16_t code, const char *text) {
  struct zt_identity id;
  char why[512];
  size_t len;
  uint8_t *b = body(p, &len);
  uint16_t got = check_bytes(s, b, len, ex, &id, why, sizeof(why));
  OPENSSL_free(b);
  if (got != code)
    fail_msg("admission gave %u (\"%s\"), expected %u", got, why, code);
  if (code != 0) tu_assert_contains(why, text);
}

/* ---- tests ------------------------------------------------------------- */

static void test_valid_proof(void **state) {
  (void)state;
  struct proof p;
  struct zt_identity id;
  char why[256];
  size_t len;
  proof_of(&p, "alice");
  assert_int_equal(p.scheme, ZT_SIG_ECDSA_P256_SHA256);
  uint8_t *b = body(&p, &len);
  memset(&id, 0x5a, sizeof(id));
  assert_int_equal(check_bytes(store, b, len, exporter, &id, why, sizeof(why)), 0);
  assert_string_equal(id.name, "alice");
  assert_int_equal(id.ngroups, 2);
  assert_string_equal(id.groups[0], "engineering");
  assert_string_equal(id.groups[1], "admins");
  assert_true(strlen(id.serial) > 0);
  assert_true(id.not_after > time(NULL) + 20 * 86400); /* 30 days */
  assert_true(id.not_after < time(NULL) + 31 * 86400);
  /* The CRL store admits her too: the CRL is current and does not list her. */
  assert_int_equal(check_bytes(store_crl, b, len, exporter, &id, why, sizeof(why)), 0);
  assert_string_equal(id.name, "alice");
  OPENSSL_free(b);
  proof_free(&p);
}

static void test_valid_key_types(void **state) {
  (void)state;
  static const struct {
    const char *user;
    uint16_t scheme;
    const char *group;
  } users[] = {
      {"erin", ZT_SIG_ED25519, "ops"},
      {"rob", ZT_SIG_RSA_PSS_SHA256, NULL},
      {"pat", ZT_SIG_ECDSA_P384_SHA384, NULL},
  };
  for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
    struct proof p;
    struct zt_identity id;
    char why[256];
    size_t len;
    proof_of(&p, users[i].user);
    assert_int_equal(p.scheme, users[i].scheme);
    uint8_t *b = body(&p, &len);
    uint16_t code = check_bytes(store, b, len, exporter, &id, why, sizeof(why));
    if (code != 0) fail_msg("%s: %u %s", users[i].user, code, why);
    assert_string_equal(id.name, users[i].user);
    assert_int_equal(id.ngroups, users[i].group ? 1 : 0);
    if (users[i].group) assert_string_equal(id.groups[0], users[i].group);
    OPENSSL_free(b);
    proof_free(&p);
  }
}

/* A proof made for another session (another exporter) is refused, and so is
 * a signature that was changed or made by another user's key. */
static void test_wrong_signature(void **state) {
  (void)state;
  struct proof p;
  uint8_t other[ZT_EXPORTER_LEN];
  memcpy(other, exporter, sizeof(other));
  other[ZT_EXPORTER_LEN - 1] ^= 1;

  proof_of(&p, "alice");
  expect(store, &p, other, ZT_REASON_USER_AUTH, "does not verify");
  p.sig[p.sig_len / 2] ^= 0x40;
  expect(store, &p, exporter, ZT_REASON_USER_AUTH, "does not verify");
  p.sig_len = 0;
  expect(store, &p, exporter, ZT_REASON_USER_AUTH, "does not verify");
  sign(&p, "bob", exporter); /* alice's certificate, bob's key */
  expect(store, &p, exporter, ZT_REASON_USER_AUTH, "does not verify");
  sign(&p, "alice", exporter);
  expect(store, &p, exporter, 0, NULL);
  proof_free(&p);

  proof_of(&p, "erin");
  expect(store, &p, other, ZT_REASON_USER_AUTH, "does not verify");
  proof_free(&p);
  proof_of(&p, "rob");
  expect(store, &p, other, ZT_REASON_USER_AUTH, "does not verify");
  proof_free(&p);
}

/* The scheme follows from the key: claiming another one is refused even
 * when the signature bytes are genuine. */
static void test_scheme_mismatch(void **state) {
  (void)state;
  static const struct {
    const char *user;
    uint16_t claim;
  } cases[] = {
      {"alice", ZT_SIG_ED25519},         /* EC P-256 key */
      {"alice", ZT_SIG_ECDSA_P384_SHA384},
      {"alice", ZT_SIG_RSA_PSS_SHA256},
      {"alice", 0x0401},                  /* RSA PKCS#1 SHA-256: never */
      {"pat", ZT_SIG_ECDSA_P256_SHA256},  /* EC P-384 key */
      {"erin", ZT_SIG_ECDSA_P256_SHA256}, /* Ed25519 key */
      {"rob", 0x0401},                    /* RSA key, PKCS#1 v1.5 */
      {"rob", ZT_SIG_ED25519},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct proof p;
    proof_of(&p, cases[i].user);
    p.scheme = cases[i].claim;
    expect(store, &p, exporter, ZT_REASON_USER_AUTH, "does not verify");
    proof_free(&p);
  }
}

static void test_no_certificate(void **state) {
  (void)state;
  struct proof p;
  proof_of(&p, "alice");
  OPENSSL_free(p.der[0]);
  p.der[0] = NULL;
  p.n = 0;
  expect(store, &p, exporter, ZT_REASON_USER_AUTH, "no user certificate");
  proof_free(&p);
}

static void test_expired(void **state) {
  (void)state;
  struct proof p;
  proof_of(&p, "carol");
  expect(store, &p, exporter, ZT_REASON_USER_AUTH, "expired");
  proof_free(&p);
}

/* A device certificate (device CA) is never a user certificate. */
static void test_other_ca(void **state) {
  (void)state;
  struct proof p;
  proof_of(&p, "mallory");
  expect(store, &p, exporter, ZT_REASON_USER_AUTH, "not issued by the user CA");
  expect(store_crl, &p, exporter, ZT_REASON_USER_AUTH, "not issued by the user CA");
  proof_free(&p);
  /* nor is a CA certificate, even with its key */
  memset(&p, 0, sizeof(p));
  add_cert(&p, "user-inter/ca.crt");
  sign(&p, "user-inter/ca", exporter);
  expect(store, &p, exporter, ZT_REASON_USER_AUTH, "not valid for client authentication");
  proof_free(&p);
}

/* A trusted root as its own leaf skips BoringSSL's purpose checks: the CA
 * key must not make its holder a user named after the CA. */
static void test_root_as_user(void **state) {
  (void)state;
  struct proof p;
  memset(&p, 0, sizeof(p));
  add_cert(&p, "user-ca/ca.crt");
  sign(&p, "user-ca/ca", exporter);
  expect(store, &p, exporter, ZT_REASON_USER_AUTH, "is a CA certificate");
  proof_free(&p);
}

/* Without an extended key usage X.509 allows any use; ztvpn asks for
 * clientAuth explicitly. */
static void test_no_eku(void **state) {
  (void)state;
  struct proof p;
  proof_of(&p, "noeku");
  expect(store, &p, exporter, ZT_REASON_USER_AUTH, "lacks the clientAuth");
  proof_free(&p);
}

static void test_server_auth_only(void **state) {
  (void)state;
  struct proof p;
  proof_of(&p, "srv");
  expect(store, &p, exporter, ZT_REASON_USER_AUTH, "not valid for client authentication");
  proof_free(&p);
}

static void test_revoked(void **state) {
  (void)state;
  struct proof p;
  proof_of(&p, "dave");
  expect(store_crl, &p, exporter, ZT_REASON_USER_AUTH, "revoked");
  /* Without the CRL configured, nothing knows. */
  expect(store, &p, exporter, 0, NULL);
  proof_free(&p);
}

/* A user issued by an intermediate CA proves herself with the chain; the
 * leaf alone, or the chain in the wrong order, is refused. */
static void test_intermediate(void **state) {
  (void)state;
  struct proof p;
  proof_of(&p, "ivy");
  expect(store, &p, exporter, ZT_REASON_USER_AUTH, "not issued by the user CA");
  add_cert(&p, "user-inter/ca.crt");
  expect(store, &p, exporter, 0, NULL);
  /* extra, unrelated certificates do not hurt */
  add_cert(&p, "alice.crt");
  add_cert(&p, "user-ca/ca.crt");
  assert_int_equal(p.n, ZT_MAX_CHAIN_CERTS);
  expect(store, &p, exporter, 0, NULL);
  /* the intermediate as the leaf */
  uint8_t *d = p.der[0];
  size_t l = p.len[0];
  p.der[0] = p.der[1];
  p.len[0] = p.len[1];
  p.der[1] = d;
  p.len[1] = l;
  expect(store, &p, exporter, ZT_REASON_USER_AUTH, "");
  proof_free(&p);
}

/* Every way of cutting or padding the body is a protocol error. */
static void test_malformed(void **state) {
  (void)state;
  struct proof p;
  struct zt_identity id;
  char why[256];
  size_t len;
  proof_of(&p, "alice");
  uint8_t *b = body(&p, &len);
  for (size_t cut = 0; cut < len; cut++) {
    uint16_t code = check_bytes(store, b, cut, exporter, &id, why, sizeof(why));
    if (code != ZT_REASON_PROTOCOL)
      fail_msg("body cut to %zu of %zu bytes gave %u (%s)", cut, len, code, why);
    tu_assert_contains(why, "malformed user proof");
  }
  uint8_t *longer = malloc(len + 1);
  assert_non_null(longer);
  memcpy(longer, b, len);
  longer[len] = 0;
  assert_int_equal(check_bytes(store, longer, len + 1, exporter, &id, why, sizeof(why)),
                   ZT_REASON_PROTOCOL);
  longer[0] = 2; /* version */
  assert_int_equal(check_bytes(store, longer, len, exporter, &id, why, sizeof(why)),
                   ZT_REASON_PROTOCOL);
  longer[0] = 1;
  assert_int_equal(check_bytes(store, longer, len, exporter, &id, why, sizeof(why)), 0);
  free(longer);
  OPENSSL_free(b);
  /* five certificates, which the builder cannot make */
  CBB cbb, chain, cert, sig;
  assert_int_equal(CBB_init(&cbb, 4096), 1);
  assert_true(CBB_add_u8(&cbb, ZT_PROTO_VERSION) &&
              CBB_add_u16_length_prefixed(&cbb, &chain));
  for (int i = 0; i < ZT_MAX_CHAIN_CERTS + 1; i++)
    assert_true(CBB_add_u16_length_prefixed(&chain, &cert) &&
                CBB_add_bytes(&cert, p.der[0], p.len[0]));
  assert_true(CBB_add_u16(&cbb, p.scheme) && CBB_add_u16_length_prefixed(&cbb, &sig) &&
              CBB_add_bytes(&sig, p.sig, p.sig_len));
  assert_int_equal(CBB_finish(&cbb, &b, &len), 1);
  assert_int_equal(check_bytes(store, b, len, exporter, &id, why, sizeof(why)),
                   ZT_REASON_PROTOCOL);
  OPENSSL_free(b);
  proof_free(&p);
}

/* A certificate must be exactly one DER certificate: trailing bytes, a
 * truncated one or garbage are refused as user authentication failures. */
static void test_bad_certificate_der(void **state) {
  (void)state;
  struct proof p;
  proof_of(&p, "alice");
  uint8_t *padded = OPENSSL_malloc(p.len[0] + 1);
  assert_non_null(padded);
  memcpy(padded, p.der[0], p.len[0]);
  padded[p.len[0]] = 0;
  uint8_t *orig = p.der[0];
  size_t orig_len = p.len[0];
  p.der[0] = padded;
  p.len[0] = orig_len + 1;
  expect(store, &p, exporter, ZT_REASON_USER_AUTH, "not a valid X.509 certificate");
  p.len[0] = orig_len - 1;
  expect(store, &p, exporter, ZT_REASON_USER_AUTH, "not a valid X.509 certificate");
  memset(padded, 0x30, orig_len);
  p.len[0] = orig_len;
  expect(store, &p, exporter, ZT_REASON_USER_AUTH, "not a valid X.509 certificate");
  /* the good leaf, with a padded second certificate */
  memcpy(padded, orig, orig_len);
  p.der[0] = orig;
  p.der[1] = padded;
  p.len[1] = orig_len + 1;
  p.n = 2;
  expect(store, &p, exporter, ZT_REASON_USER_AUTH, "chain is not valid X.509");
  proof_free(&p);
}

/* The reason always fits the buffer given. */
static void test_short_reason_buffer(void **state) {
  (void)state;
  struct proof p;
  struct zt_identity id;
  char why[8];
  size_t len;
  proof_of(&p, "carol");
  uint8_t *b = body(&p, &len);
  memset(why, 'x', sizeof(why));
  CBS cbs;
  CBS_init(&cbs, b, len);
  assert_int_equal(admission_check_proof(store, exporter, cbs, &id, why, sizeof(why)),
                   ZT_REASON_USER_AUTH);
  assert_int_equal(strlen(why), sizeof(why) - 1);
  OPENSSL_free(b);
  proof_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid_proof),
      cmocka_unit_test(test_valid_key_types),
      cmocka_unit_test(test_wrong_signature),
      cmocka_unit_test(test_scheme_mismatch),
      cmocka_unit_test(test_no_certificate),
      cmocka_unit_test(test_expired),
      cmocka_unit_test(test_other_ca),
      cmocka_unit_test(test_server_auth_only), cmocka_unit_test(test_root_as_user),
      cmocka_unit_test(test_no_eku),
      cmocka_unit_test(test_revoked),
      cmocka_unit_test(test_intermediate),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_bad_certificate_der),
      cmocka_unit_test(test_short_reason_buffer),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* ztvpn-pki's library (common/pki): the index parser and writer, name and
 * time parsing, and certificates and CRLs made in-process, checked with
 * BoringSSL's own verifier. */
#include "testutil.h"

#include <time.h>

#include <openssl/bytestring.h>
#include <openssl/mem.h>

#include "ca_store.h"
#include "crl.h"
#include "index.h"
#include "keygen.h"
#include "names.h"
#include "pkifile.h"
#include "pkitime.h"

/* ---- index ---------------------------------------------------------------- */

static int parse_text(const char *text, enum zt_pki_kind kind, struct zt_pki_index *idx,
                      char *err, size_t errlen) {
  CBS in;
  CBS_init(&in, (const uint8_t *)text, strlen(text));
  zt_pki_index_init(idx);
  return zt_pki_index_parse(in, "idx", kind, idx, err, errlen);
}

static void test_index_round_trip(void **state) {
  (void)state;
  const char *text =
      "V 4A0B0C0D0E0F10111213141516171819 1867446384 - - device laptop-042\n"
      "R 7E11C5C474CFED64B1D3503DED8812C7 1580515200 1700000000 keyCompromise device laptop-013\n"
      "R 01 0 0 unspecified device a\n"
      "R 0102030405060708090A0B0C0D0E0F1011121314 253402300799 5 superseded device x.y_z@w-1\n"
      "R 7F 9 9 cessationOfOperation device b\n"
      "R 80 9 9 affiliationChanged device c\n";
  struct zt_pki_index idx;
  char err[256];
  CBB cbb;
  uint8_t *out;
  size_t len;
  assert_int_equal(parse_text(text, ZT_PKI_DEVICE, &idx, err, sizeof(err)), 1);
  assert_int_equal(idx.n, 6);
  assert_int_equal(idx.entries[0].revoked, 0);
  assert_int_equal(idx.entries[0].serial_len, 16);
  assert_int_equal(idx.entries[0].serial[0], 0x4A);
  assert_int_equal(idx.entries[0].not_after, 1867446384);
  assert_string_equal(idx.entries[0].name, "laptop-042");
  assert_int_equal(idx.entries[1].revoked, 1);
  assert_int_equal(idx.entries[1].revoked_at, 1700000000);
  assert_int_equal(idx.entries[1].reason, ZT_REASON_KEY_COMPROMISE);
  assert_int_equal(idx.entries[3].serial_len, 20);
  assert_int_equal(idx.entries[3].not_after, ZT_PKI_TIME_MAX);
  assert_int_equal(idx.entries[3].reason, ZT_REASON_SUPERSEDED);
  assert_int_equal(idx.entries[4].reason, ZT_REASON_CESSATION);
  assert_int_equal(idx.entries[5].reason, ZT_REASON_AFFILIATION_CHANGED);
  assert_true(CBB_init(&cbb, 0));
  assert_true(zt_pki_index_format(&cbb, &idx));
  assert_true(CBB_finish(&cbb, &out, &len));
  assert_int_equal(len, strlen(text));
  assert_memory_equal(out, text, len);
  OPENSSL_free(out);
  zt_pki_index_free(&idx);

  assert_int_equal(parse_text("", ZT_PKI_USER, &idx, err, sizeof(err)), 1);
  assert_int_equal(idx.n, 0);
}

static void test_index_errors(void **state) {
  (void)state;
  static const struct {
    const char *text;
    const char *err;
  } cases[] = {
      {"X 0A 1 - - device a\n", "idx:1: status is not V or R"},
      {"\n", "idx:1: status is not V or R"},
      {"V 0A 1 - - device a\nVV 0B 1 - - device b\n", "idx:2: status is not V or R"},
      {"V 0a 1 - - device a\n", "idx:1: bad serial number"},
      {"V A 1 - - device a\n", "idx:1: bad serial number"},
      {"V 00AB 1 - - device a\n", "idx:1: bad serial number"},
      {"V 0102030405060708090A0B0C0D0E0F101112131415 1 - - device a\n", "idx:1: bad serial number"},
      {"V 0G 1 - - device a\n", "idx:1: bad serial number"},
      {"V 0A 01 - - device a\n", "idx:1: bad notAfter"},
      {"V 0A -1 - - device a\n", "idx:1: bad notAfter"},
      {"V 0A 253402300800 - - device a\n", "idx:1: bad notAfter"},
      {"V 0A  1 - - device a\n", "idx:1: bad notAfter"},
      {"V 0A 1  - - device a\n", "idx:1: a valid entry has '-' as revocation time"},
      {"V 0A 1 5 - device a\n", "idx:1: a valid entry has '-' as revocation time"},
      {"R 0A 1 - keyCompromise device a\n", "idx:1: bad revocation time"},
      {"V 0A 1 - keyCompromise device a\n", "idx:1: a valid entry has '-' as reason"},
      {"R 0A 1 5 keycompromise device a\n", "idx:1: bad revocation reason"},
      {"R 0A 1 5 - device a\n", "idx:1: bad revocation reason"},
      {"V 0A 1 - - laptop a\n", "idx:1: bad kind"},
      {"V 0A 1 - - user a\n", "idx:1: a user certificate in the index of the device-ca"},
      {"V 0A 1 - - device .a\n", "idx:1: bad name"},
      {"V 0A 1 - - device a/b\n", "idx:1: bad name"},
      {"V 0A 1 - - device a b\n", "idx:1: bad name"},
      {"V 0A 1 - - device a\r\n", "idx:1: bad name"},
      {"V 0A 1 - - device \n", "idx:1: bad name"},
      {"V 0A 1 - - device\n", "idx:1: bad kind"},
      {"V 0A 1 - - device "
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
       "idx:1: bad name"},
      {"V 0A 1 - - device a", "idx:1: line does not end with a newline"},
      {"V 0A 1 - - device a\nV 0B 1 - - device b\nV 0A 2 - - device c\n",
       "idx:3: serial number repeated (first on line 1)"},
  };
  char err[256];
  struct zt_pki_index idx;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    err[0] = '\0';
    if (parse_text(cases[i].text, ZT_PKI_DEVICE, &idx, err, sizeof(err)))
      fail_msg("case %zu accepted: %s", i, cases[i].text);
    if (strncmp(err, cases[i].err, strlen(cases[i].err)) != 0)
      fail_msg("case %zu: got \"%s\", want \"%s...\"", i, err, cases[i].err);
    assert_int_equal(idx.n, 0);
    assert_null(idx.entries);
  }
  /* a NUL inside a field is a byte like any other, not its end */
  static const char nul_kind[] = "V 0A 1 - - device\0 a\n";
  CBS in;
  CBS_init(&in, (const uint8_t *)nul_kind, sizeof(nul_kind) - 1);
  zt_pki_index_init(&idx);
  assert_int_equal(zt_pki_index_parse(in, "idx", ZT_PKI_DEVICE, &idx, err, sizeof(err)), 0);
  assert_string_equal(err, "idx:1: bad kind (server, device or user)");
  /* a line too long, even if it were otherwise fine */
  char long_line[ZT_PKI_INDEX_LINE_MAX + 16];
  memset(long_line, 'a', sizeof(long_line));
  long_line[sizeof(long_line) - 1] = '\0';
  long_line[sizeof(long_line) - 2] = '\n';
  assert_int_equal(parse_text(long_line, ZT_PKI_DEVICE, &idx, err, sizeof(err)), 0);
  assert_string_equal(err, "idx:1: line longer than 256 bytes");
}

static void test_serial_parse(void **state) {
  (void)state;
  uint8_t s[ZT_PKI_SERIAL_MAX];
  size_t n;
  char hex[ZT_PKI_SERIAL_HEX];
  assert_true(zt_pki_serial_parse("abc", s, &n));
  assert_int_equal(n, 2);
  zt_pki_serial_hex(s, n, hex);
  assert_string_equal(hex, "0ABC");
  assert_true(zt_pki_serial_parse("0000fF", s, &n));
  assert_int_equal(n, 1);
  assert_int_equal(s[0], 0xff);
  assert_true(zt_pki_serial_parse("0102030405060708090A0B0C0D0E0F1011121314", s, &n));
  assert_int_equal(n, 20);
  assert_false(zt_pki_serial_parse("", s, &n));
  assert_false(zt_pki_serial_parse("0", s, &n));
  assert_false(zt_pki_serial_parse("000", s, &n));
  assert_false(zt_pki_serial_parse("12G4", s, &n));
  assert_false(zt_pki_serial_parse("0x12", s, &n));
  assert_false(zt_pki_serial_parse("0102030405060708090A0B0C0D0E0F101112131415", s, &n));
}

/* ---- names and times -------------------------------------------------------- */

static void test_names(void **state) {
  (void)state;
  static const char *const good[] = {"a", "laptop-042", "alice@corp.example", "A_b.c-9",
                                     "0", "gw.corp.example"};
  static const char *const bad[] = {"", ".hidden", "-opt", "_x", "@x", "a/b", "..", "a b",
                                    "a\tb", "caf\xc3\xa9", "a:b"};
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
    assert_true(zt_pki_name_ok(good[i], strlen(good[i])));
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (zt_pki_name_ok(bad[i], strlen(bad[i]))) fail_msg("accepted name \"%s\"", bad[i]);
  char n64[65], n65[66];
  memset(n64, 'a', 64);
  n64[64] = '\0';
  memset(n65, 'a', 65);
  n65[65] = '\0';
  assert_true(zt_pki_name_ok(n64, 64));
  assert_false(zt_pki_name_ok(n65, 65));
  /* the length given is what is checked: no reading past it */
  assert_true(zt_pki_name_ok("ab/c", 2));

  assert_true(zt_pki_org_ok("ztvpn demo"));
  assert_false(zt_pki_org_ok(" ztvpn"));
  assert_false(zt_pki_org_ok("ztvpn\n"));
  assert_false(zt_pki_org_ok(""));

  assert_true(zt_pki_dns_ok("gw.corp.example"));
  assert_true(zt_pki_dns_ok("*.corp.example"));
  assert_true(zt_pki_dns_ok("a"));
  assert_false(zt_pki_dns_ok("-a.example"));
  assert_false(zt_pki_dns_ok("a-.example"));
  assert_false(zt_pki_dns_ok("a..example"));
  assert_false(zt_pki_dns_ok("a.example."));
  assert_false(zt_pki_dns_ok(".a"));
  assert_false(zt_pki_dns_ok("a_b.example"));
  assert_false(zt_pki_dns_ok("*"));
  assert_false(zt_pki_dns_ok("a.*.example"));

  struct zt_pki_san san;
  char err[160];
  assert_true(zt_pki_san_parse("DNS:vpn.corp.example", &san, err, sizeof(err)));
  assert_int_equal(san.type, ZT_SAN_DNS);
  assert_string_equal(san.dns, "vpn.corp.example");
  assert_true(zt_pki_san_parse("IP:192.0.2.1", &san, err, sizeof(err)));
  assert_int_equal(san.type, ZT_SAN_IP);
  assert_int_equal(san.ip_len, 4);
  assert_memory_equal(san.ip, "\xc0\x00\x02\x01", 4);
  assert_true(zt_pki_san_parse("IP:fd00::1", &san, err, sizeof(err)));
  assert_int_equal(san.ip_len, 16);
  assert_false(zt_pki_san_parse("IP:192.0.2.256", &san, err, sizeof(err)));
  assert_non_null(strstr(err, "not an IPv4 or IPv6 address"));
  assert_false(zt_pki_san_parse("DNS:a,IP:1.2.3.4", &san, err, sizeof(err)));
  assert_false(zt_pki_san_parse("email:a@b", &san, err, sizeof(err)));
  assert_non_null(strstr(err, "expected DNS:NAME or IP:ADDRESS"));

  enum zt_pki_kind k;
  assert_true(zt_pki_kind_parse("device", &k));
  assert_int_equal(k, ZT_PKI_DEVICE);
  assert_string_equal(zt_pki_kind_ca(k), "device-ca");
  assert_string_equal(zt_pki_kind_dir(k), "devices");
  assert_false(zt_pki_kind_parse("devices", &k));
}

static void test_times(void **state) {
  (void)state;
  int64_t t;
  char iso[ZT_PKI_ISO_LEN];
  assert_true(zt_pki_time_parse("20200101000000Z", &t));
  assert_int_equal(t, 1577836800);
  assert_true(zt_pki_time_parse("19700101000000Z", &t));
  assert_int_equal(t, 0);
  assert_true(zt_pki_time_parse("20240229123456Z", &t));
  zt_pki_time_iso(t, iso);
  assert_string_equal(iso, "2024-02-29T12:34:56Z");
  assert_true(zt_pki_time_parse("99991231235959Z", &t));
  assert_int_equal(t, ZT_PKI_TIME_MAX);
  assert_true(zt_pki_time_parse("20000229000000Z", &t)); /* 400-year leap */
  static const char *const bad[] = {"20230229000000Z", "21000229000000Z", "19691231235959Z",
                                    "20201301000000Z", "20200100000000Z", "20200431000000Z",
                                    "20200101240000Z", "20200101006000Z", "20200101000060Z",
                                    "20200101000000",  "20200101000000z", "2020010100000Z",
                                    "202001010000000Z", "2020-1-1000000Z", ""};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (zt_pki_time_parse(bad[i], &t)) fail_msg("accepted time \"%s\"", bad[i]);
  int d;
  assert_true(zt_pki_days_parse("1", &d));
  assert_int_equal(d, 1);
  assert_true(zt_pki_days_parse("36500", &d));
  assert_false(zt_pki_days_parse("36501", &d));
  assert_false(zt_pki_days_parse("0", &d));
  assert_false(zt_pki_days_parse("010", &d));
  assert_false(zt_pki_days_parse("-1", &d));
  assert_false(zt_pki_days_parse("1d", &d));
  assert_false(zt_pki_days_parse("", &d));
}

/* ---- files -------------------------------------------------------------------- */

static void test_write_file(void **state) {
  (void)state;
  struct tu_dir d;
  char path[PATH_MAX], err[512];
  struct stat st;
  uint8_t *buf;
  size_t len;
  tu_dir_make(&d);
  tu_path(&d, "k", path);
  assert_true(zt_pki_write_file(path, "one", 3, 0600, 0, err, sizeof(err)));
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  assert_false(zt_pki_write_file(path, "two", 3, 0600, 0, err, sizeof(err)));
  assert_non_null(strstr(err, "exists; --force replaces it"));
  assert_true(zt_pki_write_file(path, "three", 5, 0644, 1, err, sizeof(err)));
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0644);
  assert_true(zt_pki_read_file(path, 100, &buf, &len, err, sizeof(err)));
  assert_int_equal(len, 5);
  assert_memory_equal(buf, "three", 5);
  free(buf);
  assert_false(zt_pki_read_file(path, 4, &buf, &len, err, sizeof(err)));
  tu_dir_remove(&d);
}

/* ---- certificates and CRLs ------------------------------------------------------- */

struct pki_fixture {
  struct tu_dir d;
  struct zt_pki_ca ca;
  int64_t now;
};

static void make_ca(struct pki_fixture *f, enum zt_pki_kind kind, int ed25519) {
  char err[512];
  struct zt_pki_ca_params p = {.ed25519 = ed25519, .days = 3650, .org = "ztvpn test",
                               .crl_days = 30, .now = f->now};
  if (!zt_pki_ca_create(f->d.path, kind, &p, 0, &f->ca, err, sizeof(err)))
    fail_msg("zt_pki_ca_create: %s", err);
}

/* verify: X509_verify_cert of |leaf| against the CA (and its CRL if
 * |crl|), for TLS client or server use. Returns the X509_V_ERR code. */
static int verify(X509 *ca, X509_CRL *crl, X509 *leaf, const char *purpose_name) {
  X509_STORE *store = X509_STORE_new();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  assert_non_null(store);
  assert_non_null(ctx);
  assert_true(X509_STORE_add_cert(store, ca));
  if (crl) {
    assert_true(X509_STORE_add_crl(store, crl));
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
  }
  assert_true(X509_STORE_CTX_init(ctx, store, leaf, NULL));
  X509_STORE_CTX_set_default(ctx, purpose_name);
  int ok = X509_verify_cert(ctx);
  int e = X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return ok == 1 ? X509_V_OK : (e == X509_V_OK ? -1 : e);
}

static void assert_name_entries(X509_NAME *name, const int *nids, const char *const *values,
                                int n) {
  assert_int_equal(X509_NAME_entry_count(name), n);
  for (int i = 0; i < n; i++) {
    X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
    const ASN1_STRING *s = X509_NAME_ENTRY_get_data(e);
    assert_int_equal(OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)), nids[i]);
    assert_int_equal(ASN1_STRING_length(s), (int)strlen(values[i]));
    assert_memory_equal(ASN1_STRING_get0_data(s), values[i], strlen(values[i]));
  }
}

static int64_t asn1_posix(const ASN1_TIME *t) {
  ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
  int days, secs;
  assert_true(ASN1_TIME_diff(&days, &secs, epoch, t));
  ASN1_TIME_free(epoch);
  return (int64_t)days * 86400 + secs;
}

/* issue: a key and a certificate from the fixture's CA. */
static X509 *issue(struct pki_fixture *f, enum zt_pki_profile profile, const char *name,
                   const char *const *ous, size_t nous, const struct zt_pki_san *sans,
                   size_t nsans, int64_t nb, int64_t na, int ed25519, EVP_PKEY **key_out) {
  char err[512];
  struct zt_pki_cert_spec spec = {.profile = profile, .org = "ztvpn test", .ous = ous,
                                  .nous = nous, .cn = name, .sans = sans, .nsans = nsans,
                                  .not_before = nb, .not_after = na};
  EVP_PKEY *key = zt_pki_keygen(ed25519);
  assert_non_null(key);
  X509 *x = zt_pki_ca_issue(&f->ca, &spec, name, key, err, sizeof(err));
  if (!x) fail_msg("zt_pki_ca_issue: %s", err);
  if (key_out)
    *key_out = key;
  else
    EVP_PKEY_free(key);
  return x;
}

static void test_device_certificate(void **state) {
  (void)state;
  struct pki_fixture f;
  char err[512];
  f.now = (int64_t)time(NULL);
  tu_dir_make(&f.d);
  make_ca(&f, ZT_PKI_DEVICE, 0);
  const char *const ous[] = {"managed", "eu"};
  int64_t nb = f.now - 300, na = f.now + 825 * 86400;
  X509 *x = issue(&f, ZT_PROFILE_CLIENT, "laptop-042", ous, 2, NULL, 0, nb, na, 0, NULL);

  assert_int_equal(verify(f.ca.cert, NULL, x, "ssl_client"), X509_V_OK);
  assert_int_equal(verify(f.ca.cert, NULL, x, "ssl_server"), X509_V_ERR_INVALID_PURPOSE);
  /* the CA itself: self-signed, its own trust anchor, a CA */
  assert_int_equal(X509_check_ca(f.ca.cert), 1);
  assert_int_equal(X509_get_key_usage(f.ca.cert), KU_KEY_CERT_SIGN | KU_CRL_SIGN);

  static const int nids[] = {NID_organizationName, NID_organizationalUnitName,
                             NID_organizationalUnitName, NID_commonName};
  static const char *const vals[] = {"ztvpn test", "managed", "eu", "laptop-042"};
  assert_name_entries(X509_get_subject_name(x), nids, vals, 4);
  assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(f.ca.cert)), 0);
  assert_int_equal(X509_get_version(x), X509_VERSION_3);
  assert_int_equal(X509_check_ca(x), 0);
  assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
  assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_CLIENT);
  assert_null(X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL));
  assert_non_null(X509_get0_subject_key_id(x));
  assert_non_null(X509_get0_authority_key_id(x));
  assert_int_equal(ASN1_STRING_cmp(X509_get0_authority_key_id(x),
                                   X509_get0_subject_key_id(f.ca.cert)), 0);
  assert_int_equal(asn1_posix(X509_get0_notBefore(x)), nb);
  assert_int_equal(asn1_posix(X509_get0_notAfter(x)), na);
  /* serial: 16 bytes, positive, recorded in the index */
  const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
  assert_int_equal(ASN1_STRING_type(serial), V_ASN1_INTEGER);
  assert_int_equal(ASN1_STRING_length(serial), 16);
  assert_int_equal(f.ca.index.n, 1);
  assert_memory_equal(f.ca.index.entries[0].serial, ASN1_STRING_get0_data(serial), 16);
  assert_int_equal(f.ca.index.entries[0].not_after, na);
  assert_string_equal(f.ca.index.entries[0].name, "laptop-042");

  /* the saved state opens again with the same index */
  zt_pki_ca_close(&f.ca);
  assert_true(zt_pki_ca_open(f.d.path, ZT_PKI_DEVICE, &f.ca, err, sizeof(err)));
  assert_int_equal(f.ca.index.n, 1);
  assert_int_equal(f.ca.crl_number, 2);
  /* and refuses a certificate that outlives the CA, or ends before it begins */
  struct zt_pki_cert_spec spec = {.profile = ZT_PROFILE_CLIENT, .org = "o", .cn = "x",
                                  .not_before = nb, .not_after = f.now + 3651 * 86400LL};
  EVP_PKEY *key = zt_pki_keygen(0);
  assert_null(zt_pki_ca_issue(&f.ca, &spec, "x", key, err, sizeof(err)));
  assert_non_null(strstr(err, "would outlive the device-ca"));
  spec.not_after = nb;
  assert_null(zt_pki_ca_issue(&f.ca, &spec, "x", key, err, sizeof(err)));
  assert_int_equal(f.ca.index.n, 1);
  EVP_PKEY_free(key);
  X509_free(x);
  zt_pki_ca_close(&f.ca);

  /* the key file: 0600; creating the CA again without force fails */
  struct stat st;
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/ca/device-ca/ca.key", f.d.path);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  struct zt_pki_ca_params p = {.days = 10, .org = "o", .crl_days = 30, .now = f.now};
  assert_false(zt_pki_ca_create(f.d.path, ZT_PKI_DEVICE, &p, 0, &f.ca, err, sizeof(err)));
  assert_non_null(strstr(err, "exists; --force replaces it"));
  tu_dir_remove(&f.d);
}

static void test_server_certificate(void **state) {
  (void)state;
  struct pki_fixture f;
  struct zt_pki_san sans[3];
  char err[160];
  f.now = (int64_t)time(NULL);
  tu_dir_make(&f.d);
  make_ca(&f, ZT_PKI_SERVER, 0);
  assert_true(zt_pki_san_parse("DNS:gw.corp.example", &sans[0], err, sizeof(err)));
  assert_true(zt_pki_san_parse("DNS:vpn.corp.example", &sans[1], err, sizeof(err)));
  assert_true(zt_pki_san_parse("IP:192.0.2.1", &sans[2], err, sizeof(err)));
  X509 *x = issue(&f, ZT_PROFILE_SERVER, "gw.corp.example", NULL, 0, sans, 3, f.now - 300,
                  f.now + 86400, 0, NULL);
  assert_int_equal(verify(f.ca.cert, NULL, x, "ssl_server"), X509_V_OK);
  assert_int_equal(verify(f.ca.cert, NULL, x, "ssl_client"), X509_V_ERR_INVALID_PURPOSE);
  assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_SERVER);
  assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
  assert_int_equal(X509_check_host(x, "gw.corp.example", strlen("gw.corp.example"), 0, NULL), 1);
  assert_int_equal(X509_check_host(x, "vpn.corp.example", strlen("vpn.corp.example"), 0, NULL), 1);
  assert_int_equal(X509_check_host(x, "x.corp.example", strlen("x.corp.example"), 0, NULL), 0);
  assert_int_equal(X509_check_ip_asc(x, "192.0.2.1", 0), 1);
  GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
  assert_non_null(gens);
  assert_int_equal(sk_GENERAL_NAME_num(gens), 3);
  GENERAL_NAMES_free(gens);
  X509_free(x);
  zt_pki_ca_close(&f.ca);
  tu_dir_remove(&f.d);
}

static X509_CRL *read_crl(const struct tu_dir *d, const char *name) {
  char path[PATH_MAX], err[256];
  uint8_t *buf;
  size_t len;
  snprintf(path, sizeof(path), "%s/%s.crl", d->path, name);
  if (!zt_pki_read_file(path, 1 << 20, &buf, &len, err, sizeof(err))) fail_msg("%s", err);
  BIO *bio = BIO_new_mem_buf(buf, len);
  X509_CRL *crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
  BIO_free(bio);
  free(buf);
  assert_non_null(crl);
  return crl;
}

static void test_revocation_crl(void **state) {
  (void)state;
  struct pki_fixture f;
  char err[512];
  f.now = (int64_t)time(NULL);
  tu_dir_make(&f.d);
  make_ca(&f, ZT_PKI_USER, 0);
  X509 *alice = issue(&f, ZT_PROFILE_CLIENT, "alice", NULL, 0, NULL, 0, f.now - 300,
                      f.now + 86400, 0, NULL);
  X509 *bob = issue(&f, ZT_PROFILE_CLIENT, "bob", NULL, 0, NULL, 0, f.now - 300,
                    f.now + 86400, 0, NULL);
  X509_CRL *crl = read_crl(&f.d, "user-ca");
  assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 0);
  assert_int_equal(verify(f.ca.cert, crl, alice, "ssl_client"), X509_V_OK);
  X509_CRL_free(crl);

  f.ca.index.entries[1].revoked = 1;
  f.ca.index.entries[1].revoked_at = f.now - 10;
  f.ca.index.entries[1].reason = ZT_REASON_KEY_COMPROMISE;
  assert_true(zt_pki_ca_save_index(&f.ca, err, sizeof(err)));
  assert_true(zt_pki_ca_publish_crl(&f.ca, f.now, 30, err, sizeof(err)));
  crl = read_crl(&f.d, "user-ca");
  EVP_PKEY *ca_pub = X509_get_pubkey(f.ca.cert);
  assert_int_equal(X509_CRL_verify(crl, ca_pub), 1);
  EVP_PKEY_free(ca_pub);
  assert_int_equal(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
  assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 1);
  X509_REVOKED *rev = NULL;
  assert_int_equal(X509_CRL_get0_by_serial(crl, &rev, (ASN1_INTEGER *)X509_get0_serialNumber(bob)), 1);
  assert_int_equal(asn1_posix(X509_REVOKED_get0_revocationDate(rev)), f.now - 10);
  ASN1_ENUMERATED *reason = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, NULL, NULL);
  assert_non_null(reason);
  assert_int_equal(ASN1_ENUMERATED_get(reason), 1);
  ASN1_ENUMERATED_free(reason);
  ASN1_INTEGER *number = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
  assert_non_null(number);
  assert_int_equal(ASN1_INTEGER_get(number), 2); /* the first was 1, from create */
  ASN1_INTEGER_free(number);
  assert_int_equal(asn1_posix(X509_CRL_get0_lastUpdate(crl)), f.now);
  assert_int_equal(asn1_posix(X509_CRL_get0_nextUpdate(crl)), f.now + 30 * 86400);
  assert_int_equal(verify(f.ca.cert, crl, bob, "ssl_client"), X509_V_ERR_CERT_REVOKED);
  assert_int_equal(verify(f.ca.cert, crl, alice, "ssl_client"), X509_V_OK);
  X509_CRL_free(crl);
  assert_int_equal(f.ca.crl_number, 3);

  X509_free(alice);
  X509_free(bob);
  zt_pki_ca_close(&f.ca);
  tu_dir_remove(&f.d);
}

static void test_ed25519(void **state) {
  (void)state;
  struct pki_fixture f;
  EVP_PKEY *key;
  f.now = (int64_t)time(NULL);
  tu_dir_make(&f.d);
  make_ca(&f, ZT_PKI_DEVICE, 1);
  assert_int_equal(EVP_PKEY_id(f.ca.key), EVP_PKEY_ED25519);
  X509 *x = issue(&f, ZT_PROFILE_CLIENT, "laptop-1", NULL, 0, NULL, 0, f.now - 300,
                  f.now + 86400, 1, &key);
  assert_int_equal(EVP_PKEY_id(key), EVP_PKEY_ED25519);
  assert_int_equal(X509_get_signature_nid(x), NID_ED25519);
  assert_int_equal(verify(f.ca.cert, NULL, x, "ssl_client"), X509_V_OK);
  /* the PKCS#8 PEM of the key reads back as the same key */
  uint8_t *pem;
  size_t len;
  assert_true(zt_pki_key_pem(key, &pem, &len));
  assert_non_null(strstr((const char *)pem, "-----BEGIN PRIVATE KEY-----"));
  BIO *bio = BIO_new_mem_buf(pem, len);
  EVP_PKEY *back = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
  BIO_free(bio);
  zt_pki_key_pem_free(pem, len);
  assert_non_null(back);
  assert_int_equal(EVP_PKEY_cmp(back, key), 1);
  EVP_PKEY_free(back);
  EVP_PKEY_free(key);
  X509_free(x);
  zt_pki_ca_close(&f.ca);
  tu_dir_remove(&f.d);
}

/* An expired certificate can be made (the test material needs it) and
 * verifies as expired. */
static void test_expired(void **state) {
  (void)state;
  struct pki_fixture f;
  f.now = (int64_t)time(NULL);
  tu_dir_make(&f.d);
  make_ca(&f, ZT_PKI_DEVICE, 0);
  X509 *x = issue(&f, ZT_PROFILE_CLIENT, "laptop-013", NULL, 0, NULL, 0, 1577836800,
                  1580515200, 0, NULL);
  assert_int_equal(verify(f.ca.cert, NULL, x, "ssl_client"), X509_V_ERR_CERT_HAS_EXPIRED);
  X509_free(x);
  zt_pki_ca_close(&f.ca);
  tu_dir_remove(&f.d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_index_round_trip),
      cmocka_unit_test(test_index_errors),
      cmocka_unit_test(test_serial_parse),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_times),
      cmocka_unit_test(test_write_file),
      cmocka_unit_test(test_device_certificate),
      cmocka_unit_test(test_server_certificate),
      cmocka_unit_test(test_revocation_crl),
      cmocka_unit_test(test_ed25519),
      cmocka_unit_test(test_expired),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

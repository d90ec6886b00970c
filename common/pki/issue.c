#include "issue.h"

#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/nid.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

int zt_pki_serial_new(uint8_t out[ZT_PKI_SERIAL_LEN]) {
  if (!RAND_bytes(out, ZT_PKI_SERIAL_LEN)) return 0;
  /* Top bit clear: positive. Next bit set: no leading zero byte, so the
   * DER INTEGER is always 16 bytes and the hex form always 32 digits. */
  out[0] = (uint8_t)((out[0] & 0x7f) | 0x40);
  return 1;
}

static int add_name(X509_NAME *name, int nid, const char *value) {
  return X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8, (const uint8_t *)value,
                                    (int)strlen(value), -1, 0);
}

static X509_NAME *make_subject(const struct zt_pki_cert_spec *spec) {
  X509_NAME *name = X509_NAME_new();
  if (!name || !add_name(name, NID_organizationName, spec->org)) goto fail;
  for (size_t i = 0; i < spec->nous; i++)
    if (!add_name(name, NID_organizationalUnitName, spec->ous[i])) goto fail;
  if (!add_name(name, NID_commonName, spec->cn)) goto fail;
  return name;
fail:
  X509_NAME_free(name);
  return NULL;
}

static int set_serial(X509 *x, const uint8_t *serial) {
  BIGNUM *bn = BN_bin2bn(serial, ZT_PKI_SERIAL_LEN, NULL);
  ASN1_INTEGER *i = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
  int ok = i && X509_set_serialNumber(x, i);
  ASN1_INTEGER_free(i);
  BN_free(bn);
  return ok;
}

static int set_validity(X509 *x, int64_t not_before, int64_t not_after) {
  ASN1_TIME *a = ASN1_TIME_set(NULL, (time_t)not_before);
  ASN1_TIME *b = ASN1_TIME_set(NULL, (time_t)not_after);
  int ok = a && b && X509_set1_notBefore(x, a) && X509_set1_notAfter(x, b);
  ASN1_TIME_free(a);
  ASN1_TIME_free(b);
  return ok;
}

/* add_conf_ext adds an extension written the openssl.cnf way (Debian's
 * BoringSSL exports X509V3_EXT_nconf_nid, not X509V3_EXT_conf_nid). Only fixed
 * strings of this file go through it; names go in as values (add_sans). */
static int add_conf_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value) {
  X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
  int ok = ext && X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  return ok;
}

static int add_sans(X509 *x, const struct zt_pki_san *sans, size_t n) {
  GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
  int ok = gens != NULL;
  for (size_t i = 0; ok && i < n; i++) {
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_STRING *s = sans[i].type == ZT_SAN_DNS ? ASN1_IA5STRING_new() : ASN1_OCTET_STRING_new();
    if (!g || !s) {
      GENERAL_NAME_free(g);
      ASN1_STRING_free(s);
      ok = 0;
      break;
    }
    if (sans[i].type == ZT_SAN_DNS)
      ok = ASN1_STRING_set(s, sans[i].dns, (int)strlen(sans[i].dns));
    else
      ok = ASN1_STRING_set(s, sans[i].ip, (int)sans[i].ip_len);
    GENERAL_NAME_set0_value(g, sans[i].type == ZT_SAN_DNS ? GEN_DNS : GEN_IPADD, s);
    if (!ok || !sk_GENERAL_NAME_push(gens, g)) {
      GENERAL_NAME_free(g);
      ok = 0;
    }
  }
  ok = ok && X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1;
  GENERAL_NAMES_free(gens);
  return ok;
}

static int add_extensions(X509 *x, X509 *issuer, const struct zt_pki_cert_spec *spec) {
  X509V3_CTX ctx;
  int ca = spec->profile == ZT_PROFILE_CA;
  X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
  if (!add_conf_ext(x, &ctx, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE") ||
      !add_conf_ext(x, &ctx, NID_key_usage,
                    ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature") ||
      !add_conf_ext(x, &ctx, NID_subject_key_identifier, "hash") ||
      !add_conf_ext(x, &ctx, NID_authority_key_identifier, "keyid:always"))
    return 0;
  if (spec->profile == ZT_PROFILE_SERVER)
    return add_conf_ext(x, &ctx, NID_ext_key_usage, "serverAuth") &&
           add_sans(x, spec->sans, spec->nsans);
  if (spec->profile == ZT_PROFILE_CLIENT)
    return add_conf_ext(x, &ctx, NID_ext_key_usage, "clientAuth");
  return 1;
}

X509 *zt_pki_issue(const struct zt_pki_cert_spec *spec, EVP_PKEY *subject_key,
                   X509 *issuer, EVP_PKEY *issuer_key, char *err, size_t errlen) {
  X509 *x = X509_new();
  X509_NAME *subject = make_subject(spec);
  const EVP_MD *md = EVP_PKEY_id(issuer_key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
  const char *step = "subject";
  if (!x || !subject) goto fail;
  step = "fields";
  if (!X509_set_version(x, X509_VERSION_3) || !set_serial(x, spec->serial) ||
      !X509_set_subject_name(x, subject) ||
      !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject) ||
      !set_validity(x, spec->not_before, spec->not_after) || !X509_set_pubkey(x, subject_key))
    goto fail;
  step = "extensions";
  if (!add_extensions(x, issuer, spec)) goto fail;
  step = "signature";
  if (!X509_sign(x, issuer_key, md)) goto fail;
  X509_NAME_free(subject);
  return x;
fail:
  snprintf(err, errlen, "cannot build the certificate (%s): %s", step,
           ERR_reason_error_string(ERR_peek_last_error()) ? ERR_reason_error_string(ERR_peek_last_error()) : "error");
  ERR_clear_error();
  X509_NAME_free(subject);
  X509_free(x);
  return NULL;
}

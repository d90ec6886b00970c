#include "crl.h"

#include <stdio.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/nid.h>
#include <openssl/x509v3.h>

static int add_revoked(X509_CRL *crl, const struct zt_pki_entry *e) {
  X509_REVOKED *r = X509_REVOKED_new();
  BIGNUM *bn = BN_bin2bn(e->serial, e->serial_len, NULL);
  ASN1_INTEGER *serial = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
  ASN1_TIME *when = ASN1_TIME_set(NULL, (time_t)e->revoked_at);
  ASN1_ENUMERATED *reason = NULL;
  int ok = r && serial && when && X509_REVOKED_set_serialNumber(r, serial) &&
           X509_REVOKED_set_revocationDate(r, when);
  /* RFC 5280 5.3.1: the reason code unspecified SHOULD be absent. */
  if (ok && e->reason != ZT_REASON_UNSPECIFIED) {
    reason = ASN1_ENUMERATED_new();
    ok = reason && ASN1_ENUMERATED_set(reason, e->reason) &&
         X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, reason, 0, X509V3_ADD_DEFAULT) == 1;
  }
  ok = ok && X509_CRL_add0_revoked(crl, r);
  if (!ok) X509_REVOKED_free(r);
  ASN1_ENUMERATED_free(reason);
  ASN1_TIME_free(when);
  ASN1_INTEGER_free(serial);
  BN_free(bn);
  return ok;
}

static int add_extensions(X509_CRL *crl, X509 *ca, uint64_t number) {
  ASN1_INTEGER *n = ASN1_INTEGER_new();
  X509V3_CTX ctx;
  X509_EXTENSION *aki;
  int ok = n && ASN1_INTEGER_set_uint64(n, number) &&
           X509_CRL_add1_ext_i2d(crl, NID_crl_number, n, 0, X509V3_ADD_DEFAULT) == 1;
  ASN1_INTEGER_free(n);
  if (!ok) return 0;
  X509V3_set_ctx(&ctx, ca, NULL, NULL, crl, 0);
  aki = X509V3_EXT_nconf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
  ok = aki && X509_CRL_add_ext(crl, aki, -1);
  X509_EXTENSION_free(aki);
  return ok;
}

X509_CRL *zt_pki_crl_make(X509 *ca, EVP_PKEY *key, const struct zt_pki_index *idx,
                          uint64_t number, int64_t now, int days, char *err,
                          size_t errlen) {
  X509_CRL *crl = X509_CRL_new();
  ASN1_TIME *last = ASN1_TIME_set(NULL, (time_t)now);
  ASN1_TIME *next = ASN1_TIME_set(NULL, (time_t)(now + (int64_t)days * 86400));
  const EVP_MD *md = EVP_PKEY_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
  int ok = crl && last && next && X509_CRL_set_version(crl, X509_CRL_VERSION_2) &&
           X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) &&
           X509_CRL_set1_lastUpdate(crl, last) && X509_CRL_set1_nextUpdate(crl, next);
  for (size_t i = 0; ok && i < idx->n; i++)
    if (idx->entries[i].revoked) ok = add_revoked(crl, &idx->entries[i]);
  ok = ok && X509_CRL_sort(crl) && add_extensions(crl, ca, number) &&
       X509_CRL_sign(crl, key, md);
  ASN1_TIME_free(last);
  ASN1_TIME_free(next);
  if (!ok) {
    snprintf(err, errlen, "cannot build the CRL: %s",
             ERR_reason_error_string(ERR_peek_last_error()) ? ERR_reason_error_string(ERR_peek_last_error()) : "error");
    ERR_clear_error();
    X509_CRL_free(crl);
    return NULL;
  }
  return crl;
}

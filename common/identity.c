#include "identity.h"

#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "keyfile.h"

static int name_ok(const unsigned char *s, int len) {
  if (len < 1 || len > ZT_NAME_MAX || s[0] == ' ' || s[len - 1] == ' ') return 0;
  for (int i = 0; i < len; i++)
    if (s[i] < 0x20 || s[i] > 0x7e) return 0;
  return 1;
}

/* Entry |i| of |subj| as a checked string copied into |out|. */
static int copy_entry(X509_NAME *subj, int i, char *out) {
  ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
  unsigned char *utf8 = NULL;
  int len = ASN1_STRING_to_UTF8(&utf8, d);
  int ok = len > 0 && name_ok(utf8, len);
  if (ok) {
    memcpy(out, utf8, (size_t)len);
    out[len] = '\0';
  }
  OPENSSL_free(utf8);
  return ok;
}

int zt_identity_from_cert(X509 *cert, struct zt_identity *id, char *err,
                          size_t errlen) {
  X509_NAME *subj = X509_get_subject_name(cert);
  memset(id, 0, sizeof(*id));
  int cn = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
  if (cn < 0) {
    snprintf(err, errlen, "certificate subject has no CN");
    return 0;
  }
  if (X509_NAME_get_index_by_NID(subj, NID_commonName, cn) >= 0) {
    snprintf(err, errlen, "certificate subject has more than one CN");
    return 0;
  }
  if (!copy_entry(subj, cn, id->name)) {
    snprintf(err, errlen, "certificate CN is empty, too long or not printable");
    return 0;
  }
  for (int i = -1; (i = X509_NAME_get_index_by_NID(subj, NID_organizationalUnitName, i)) >= 0;) {
    if (id->ngroups == ZT_MAX_GROUPS) {
      snprintf(err, errlen, "certificate has more than %d OU values", ZT_MAX_GROUPS);
      return 0;
    }
    if (!copy_entry(subj, i, id->groups[id->ngroups++])) {
      snprintf(err, errlen, "certificate OU is empty, too long or not printable");
      return 0;
    }
  }
  BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert), NULL);
  char *hex = bn ? BN_bn2hex(bn) : NULL;
  snprintf(id->serial, sizeof(id->serial), "%s", hex ? hex : "?");
  OPENSSL_free(hex);
  BN_free(bn);
  int days = 0, secs = 0;
  /* notAfter as seconds from now, added to now: ASN1_TIME has no time_t getter. */
  time_t now = time(NULL);
  if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)))
    id->not_after = now + (time_t)days * 86400 + secs;
  return 1;
}

X509_STORE *zt_trust_load(const char *ca_file, const char *const *crl_files,
                          size_t ncrl, char *err, size_t errlen) {
  X509_STORE *store = X509_STORE_new();
  STACK_OF(X509) *cas = store ? zt_load_cert_chain(ca_file, err, errlen) : NULL;
  if (!cas) {
    X509_STORE_free(store);
    return NULL;
  }
  for (size_t i = 0; i < sk_X509_num(cas); i++) {
    if (!X509_STORE_add_cert(store, sk_X509_value(cas, i))) {
      snprintf(err, errlen, "%s: cannot add CA certificate", ca_file);
      goto fail;
    }
  }
  for (size_t i = 0; i < ncrl; i++) {
    FILE *f = fopen(crl_files[i], "re");
    if (!f) {
      snprintf(err, errlen, "cannot open CRL %s", crl_files[i]);
      goto fail;
    }
    int added = 0;
    X509_CRL *crl;
    while ((crl = PEM_read_X509_CRL(f, NULL, NULL, NULL)) != NULL) {
      /* Each CRL file may serve both stores; the issuer picks the match. */
      X509_STORE_add_crl(store, crl);
      X509_CRL_free(crl);
      added++;
    }
    ERR_clear_error();
    fclose(f);
    if (added == 0) {
      snprintf(err, errlen, "%s: no PEM CRL in the file", crl_files[i]);
      goto fail;
    }
  }
  if (ncrl > 0) X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
  sk_X509_pop_free(cas, X509_free);
  return store;
fail:
  sk_X509_pop_free(cas, X509_free);
  X509_STORE_free(store);
  return NULL;
}

int zt_verify_chain(X509_STORE *store, X509 *leaf, STACK_OF(X509) *untrusted,
                    int *x509_err) {
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  int ok = 0;
  *x509_err = X509_V_ERR_UNSPECIFIED;
  if (ctx && X509_STORE_CTX_init(ctx, store, leaf, untrusted) &&
      X509_STORE_CTX_set_default(ctx, "ssl_client")) {
    ok = X509_verify_cert(ctx) == 1;
    *x509_err = ok ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  }
  X509_STORE_CTX_free(ctx);
  ERR_clear_error();
  return ok;
}

void zt_verify_error_text(int x509_err, const char *kind, char *out, size_t len) {
  switch (x509_err) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      snprintf(out, len, "%s certificate is not issued by the %s CA", kind, kind);
      return;
    case X509_V_ERR_INVALID_PURPOSE:
      snprintf(out, len, "%s certificate is not valid for client authentication",
               kind);
      return;
    default:
      snprintf(out, len, "%s certificate: %s", kind,
               X509_verify_cert_error_string(x509_err));
  }
}

int zt_leaf_check(X509 *leaf, char *err, size_t errlen) {
  if (X509_check_ca(leaf) != 0) {
    snprintf(err, errlen, "certificate is a CA certificate");
    return 0;
  }
  if (!(X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) ||
      !(X509_get_extended_key_usage(leaf) & XKU_SSL_CLIENT)) {
    snprintf(err, errlen, "certificate lacks the clientAuth extended key usage");
    return 0;
  }
  return 1;
}

int zt_ca_files_distinct(const char *a, const char *b, char *err, size_t errlen) {
  STACK_OF(X509) *ca = zt_load_cert_chain(a, err, errlen);
  STACK_OF(X509) *cb = ca ? zt_load_cert_chain(b, err, errlen) : NULL;
  int ok = ca && cb;
  for (size_t i = 0; ok && i < sk_X509_num(ca); i++)
    for (size_t j = 0; ok && j < sk_X509_num(cb); j++)
      if (X509_cmp(sk_X509_value(ca, i), sk_X509_value(cb, j)) == 0) {
        snprintf(err, errlen, "%s and %s hold the same CA certificate: device and "
                 "user CAs must be separate", a, b);
        ok = 0;
      }
  sk_X509_pop_free(ca, X509_free);
  sk_X509_pop_free(cb, X509_free);
  return ok;
}

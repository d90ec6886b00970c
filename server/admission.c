#include "admission.h"

#include <stdio.h>

#include <openssl/err.h>

#include "msg.h"
#include "userproof.h"

/* Parses one DER certificate, requiring that it spans all of |der|. */
static X509 *parse_cert(CBS der) {
  const uint8_t *p = CBS_data(&der);
  X509 *x = d2i_X509(NULL, &p, (long)CBS_len(&der));
  if (x && p != CBS_data(&der) + CBS_len(&der)) {
    X509_free(x);
    x = NULL;
  }
  ERR_clear_error();
  return x;
}

uint16_t admission_check_proof(X509_STORE *user_store,
                               const uint8_t exporter[ZT_EXPORTER_LEN], CBS body,
                               struct zt_identity *user, char *why, size_t whylen) {
  return admission_check_proof_chain(user_store, exporter, body, user, NULL, why,
                                     whylen);
}

uint16_t admission_check_proof_chain(X509_STORE *user_store,
                                     const uint8_t exporter[ZT_EXPORTER_LEN], CBS body,
                                     struct zt_identity *user, STACK_OF(X509) **chain,
                                     char *why, size_t whylen) {
  struct zt_user_proof proof;
  X509 *leaf = NULL;
  STACK_OF(X509) *inter = NULL;
  EVP_PKEY *pub = NULL;
  uint16_t code = ZT_REASON_USER_AUTH;
  int x509_err;
  char err[256];

  if (!zt_user_proof_parse(body, &proof)) {
    snprintf(why, whylen, "malformed user proof");
    return ZT_REASON_PROTOCOL;
  }
  if (proof.ncerts == 0) {
    snprintf(why, whylen, "no user certificate");
    return ZT_REASON_USER_AUTH;
  }
  if (!(leaf = parse_cert(proof.certs[0])) || !(inter = sk_X509_new_null())) {
    snprintf(why, whylen, "user certificate is not a valid X.509 certificate");
    goto out;
  }
  for (size_t i = 1; i < proof.ncerts; i++) {
    X509 *x = parse_cert(proof.certs[i]);
    if (!x || !sk_X509_push(inter, x)) {
      X509_free(x);
      snprintf(why, whylen, "user certificate chain is not valid X.509");
      goto out;
    }
  }
  if (!zt_verify_chain(user_store, leaf, inter, &x509_err)) {
    zt_verify_error_text(x509_err, "user", why, whylen);
    goto out;
  }
  if (!zt_leaf_check(leaf, err, sizeof(err))) {
    snprintf(why, whylen, "user %s", err);
    goto out;
  }
  if (!zt_identity_from_cert(leaf, user, err, sizeof(err))) {
    snprintf(why, whylen, "user certificate: %s", err);
    goto out;
  }
  pub = X509_get_pubkey(leaf);
  if (!pub || !zt_proof_verify(pub, proof.sig_scheme, exporter, CBS_data(&proof.sig),
                               CBS_len(&proof.sig))) {
    snprintf(why, whylen,
             "user proof signature does not verify for this session");
    goto out;
  }
  if (chain) {
    /* leaf first, then the intermediates the client sent */
    if (sk_X509_insert(inter, leaf, 0) == 0) {
      snprintf(why, whylen, "out of memory");
      code = ZT_REASON_INTERNAL;
      goto out;
    }
    *chain = inter;
    inter = NULL;
    leaf = NULL;
  }
  code = 0;
out:
  ERR_clear_error();
  EVP_PKEY_free(pub);
  sk_X509_pop_free(inter, X509_free);
  X509_free(leaf);
  return code;
}

uint16_t admission_recheck(X509_STORE *store, STACK_OF(X509) *chain, const char *kind,
                           char *why, size_t whylen) {
  int x509_err = X509_V_ERR_UNSPECIFIED;
  STACK_OF(X509) *inter = NULL;
  X509 *leaf = chain ? sk_X509_value(chain, 0) : NULL;
  int ok = leaf != NULL && (inter = sk_X509_dup(chain)) != NULL;
  if (ok) {
    (void)sk_X509_shift(inter); /* the leaf; the rest are untrusted helpers */
    ok = zt_verify_chain(store, leaf, inter, &x509_err);
  }
  sk_X509_free(inter);
  ERR_clear_error();
  if (ok) return 0;
  if (x509_err == X509_V_ERR_CERT_REVOKED)
    snprintf(why, whylen, "%s certificate revoked", kind);
  else if (x509_err == X509_V_ERR_CERT_HAS_EXPIRED)
    snprintf(why, whylen, "%s certificate expired", kind);
  else
    zt_verify_error_text(x509_err, kind, why, whylen);
  return ZT_REASON_REVOKED;
}

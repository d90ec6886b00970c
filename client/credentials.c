#include "credentials.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "keyfile.h"
#include "msg.h"
#include "tls.h"
#include "userproof.h"

int client_creds_load(const struct client_config *cfg, struct client_creds *out,
                      char *err, size_t errlen) {
  memset(out, 0, sizeof(*out));
  out->tls = zt_tls_client_ctx(cfg->device_cert, cfg->device_key, cfg->server_ca,
                               err, errlen);
  if (!out->tls) return 0;
  if (!(out->user_chain = zt_load_cert_chain(cfg->user_cert, err, errlen)) ||
      !(out->user_key = zt_load_private_key(cfg->user_key, err, errlen)))
    goto fail;
  if (sk_X509_num(out->user_chain) > ZT_MAX_CHAIN_CERTS) {
    snprintf(err, errlen, "%s: more than %d certificates", cfg->user_cert,
             ZT_MAX_CHAIN_CERTS);
    goto fail;
  }
  if (!zt_key_matches_cert(out->user_key, sk_X509_value(out->user_chain, 0))) {
    snprintf(err, errlen, "%s does not belong to the certificate %s", cfg->user_key,
             cfg->user_cert);
    goto fail;
  }
  uint16_t scheme;
  if (!zt_proof_scheme(out->user_key, &scheme)) {
    snprintf(err, errlen, "%s: unsupported key type (use ECDSA P-256/P-384, "
             "Ed25519 or RSA >= 2048)", cfg->user_key);
    goto fail;
  }
  return 1;
fail:
  client_creds_free(out);
  return 0;
}

void client_creds_free(struct client_creds *c) {
  SSL_CTX_free(c->tls);
  sk_X509_pop_free(c->user_chain, X509_free);
  EVP_PKEY_free(c->user_key);
  memset(c, 0, sizeof(*c));
}

int client_proof_build(const struct client_creds *c,
                       const uint8_t exporter[ZT_EXPORTER_LEN], CBB *body) {
  uint8_t *der[ZT_MAX_CHAIN_CERTS] = {0};
  size_t lens[ZT_MAX_CHAIN_CERTS];
  uint8_t sig[ZT_MAX_SIG_LEN];
  size_t sig_len = 0, n = sk_X509_num(c->user_chain);
  uint16_t scheme;
  int ok = 0;
  for (size_t i = 0; i < n; i++) {
    int l = i2d_X509(sk_X509_value(c->user_chain, i), &der[i]);
    if (l <= 0) goto out;
    lens[i] = (size_t)l;
  }
  ok = zt_proof_sign(c->user_key, exporter, &scheme, sig, &sig_len) &&
       zt_user_proof_build(body, (const uint8_t *const *)der, lens, n, scheme, sig,
                           sig_len);
out:
  for (size_t i = 0; i < n; i++) OPENSSL_free(der[i]);
  ERR_clear_error();
  return ok;
}

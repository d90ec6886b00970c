#include "tls.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "conn.h"
#include "keyfile.h"
#include "proto.h"

#ifndef OPENSSL_IS_BORINGSSL
#error "ztvpn must be built against BoringSSL (Debian: android-libboringssl-dev; see README.md)"
#endif

static const uint16_t verify_prefs[] = {
    SSL_SIGN_ED25519,           SSL_SIGN_ECDSA_SECP256R1_SHA256,
    SSL_SIGN_ECDSA_SECP384R1_SHA384, SSL_SIGN_RSA_PSS_RSAE_SHA256,
    SSL_SIGN_RSA_PSS_RSAE_SHA384,    SSL_SIGN_RSA_PSS_RSAE_SHA512,
};

/* A context with the settings every ztvpn context has, and no identity. */
static SSL_CTX *settings_ctx(char *err, size_t errlen) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_method());
  if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
      !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
      !SSL_CTX_set_verify_algorithm_prefs(ctx, verify_prefs,
                                          sizeof(verify_prefs) / sizeof(verify_prefs[0]))) {
    snprintf(err, errlen, "cannot set up TLS 1.3");
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_info_callback(ctx, zt_conn_info_callback);
  return ctx;
}

static SSL_CTX *base_ctx(const char *cert_file, const char *key_file, char *err,
                         size_t errlen) {
  SSL_CTX *ctx = settings_ctx(err, errlen);
  STACK_OF(X509) *chain = NULL;
  EVP_PKEY *key = NULL;
  if (!ctx) return NULL;
  if (!(key = zt_load_private_key(key_file, err, errlen))) goto fail;
  if (!(chain = zt_load_cert_chain(cert_file, err, errlen))) goto fail;
  X509 *leaf = sk_X509_value(chain, 0);
  if (!zt_key_matches_cert(key, leaf)) {
    snprintf(err, errlen, "%s does not belong to the certificate %s", key_file,
             cert_file);
    goto fail;
  }
  if (!SSL_CTX_use_certificate(ctx, leaf) || !SSL_CTX_use_PrivateKey(ctx, key)) {
    snprintf(err, errlen, "cannot use certificate %s with key %s", cert_file,
             key_file);
    goto fail;
  }
  for (size_t i = 1; i < sk_X509_num(chain); i++) {
    if (!SSL_CTX_add1_chain_cert(ctx, sk_X509_value(chain, i))) {
      snprintf(err, errlen, "cannot add chain certificate of %s", cert_file);
      goto fail;
    }
  }
  sk_X509_pop_free(chain, X509_free);
  EVP_PKEY_free(key);
  return ctx;
fail:
  ERR_clear_error();
  sk_X509_pop_free(chain, X509_free);
  EVP_PKEY_free(key);
  SSL_CTX_free(ctx);
  return NULL;
}

static int alpn_select(SSL *ssl, const uint8_t **out, uint8_t *out_len,
                       const uint8_t *in, unsigned in_len, void *arg) {
  CBS list, name;
  CBS_init(&list, in, in_len);
  while (CBS_get_u8_length_prefixed(&list, &name)) {
    if (CBS_mem_equal(&name, (const uint8_t *)ZT_ALPN, strlen(ZT_ALPN))) {
      *out = CBS_data(&name);
      *out_len = (uint8_t)CBS_len(&name);
      return SSL_TLSEXT_ERR_OK;
    }
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL; /* no_application_protocol */
}

/* The server's half of a context: client certificates from |device_store|
 * required, ALPN chosen by us. Takes over |device_store|. */
static SSL_CTX *server_side(SSL_CTX *ctx, X509_STORE *device_store) {
  SSL_CTX_set_cert_store(ctx, device_store);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
  SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
  return ctx;
}

SSL_CTX *zt_tls_server_ctx(const char *cert_file, const char *key_file,
                           X509_STORE *device_store, char *err, size_t errlen) {
  SSL_CTX *ctx = base_ctx(cert_file, key_file, err, errlen);
  if (!ctx) {
    X509_STORE_free(device_store);
    return NULL;
  }
  return server_side(ctx, device_store);
}

SSL_CTX *zt_tls_server_ctx_renew(const SSL_CTX *current, X509_STORE *device_store,
                                 char *err, size_t errlen) {
  SSL_CTX *ctx = settings_ctx(err, errlen);
  STACK_OF(X509) *chain = NULL;
  X509 *leaf = SSL_CTX_get0_certificate(current);
  EVP_PKEY *key = SSL_CTX_get0_privatekey(current);
  int ok = ctx && leaf && key && SSL_CTX_get0_chain_certs(current, &chain) &&
           SSL_CTX_use_certificate(ctx, leaf) && SSL_CTX_use_PrivateKey(ctx, key);
  for (size_t i = 0; ok && chain && i < sk_X509_num(chain); i++)
    ok = SSL_CTX_add1_chain_cert(ctx, sk_X509_value(chain, i));
  if (!ok) {
    if (ctx) snprintf(err, errlen, "cannot reuse the certificate and key in force");
    ERR_clear_error();
    SSL_CTX_free(ctx);
    X509_STORE_free(device_store);
    return NULL;
  }
  return server_side(ctx, device_store);
}

SSL_CTX *zt_tls_client_ctx(const char *cert_file, const char *key_file,
                           const char *server_ca_file, char *err, size_t errlen) {
  static const uint8_t alpn[] = "\x07" ZT_ALPN;
  SSL_CTX *ctx = base_ctx(cert_file, key_file, err, errlen);
  if (!ctx) return NULL;
  if (!SSL_CTX_load_verify_locations(ctx, server_ca_file, NULL)) {
    snprintf(err, errlen, "%s: cannot load the server CA", server_ca_file);
    goto fail;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  /* SSL_CTX_set_alpn_protos returns 0 on success. */
  if (SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1) != 0) {
    snprintf(err, errlen, "cannot set ALPN");
    goto fail;
  }
  return ctx;
fail:
  ERR_clear_error();
  SSL_CTX_free(ctx);
  return NULL;
}

int zt_tls_client_expect_name(SSL *ssl, const char *name) {
  X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
  return SSL_set_tlsext_host_name(ssl, name) &&
         X509_VERIFY_PARAM_set1_host(param, name, strlen(name));
}

int zt_tls_alpn_ok(const SSL *ssl) {
  const uint8_t *p;
  unsigned len;
  SSL_get0_alpn_selected(ssl, &p, &len);
  return len == strlen(ZT_ALPN) && memcmp(p, ZT_ALPN, len) == 0;
}

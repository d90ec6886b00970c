/* TLS 1.3 contexts for both ends: mutual authentication, ALPN "ztvpn/1",
 * no session resumption (every connection proves its device afresh). */
#ifndef ZTVPN_TLS_H
#define ZTVPN_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

/* zt_tls_server_ctx makes the concentrator's context: its certificate chain
 * and key, and |device_store| (ownership passes to the context) as the only
 * trust anchor for client certificates, which are required. Returns the
 * context or NULL with a reason in |err|. */
SSL_CTX *zt_tls_server_ctx(const char *cert_file, const char *key_file,
                           X509_STORE *device_store, char *err, size_t errlen);

/* zt_tls_server_ctx_renew makes a context like |current| (its certificate
 * chain and key, as they are in memory) that trusts |device_store| (taken
 * over, also on failure) instead: a reload by the unprivileged network
 * process, which can no longer read the key file. Returns the context or
 * NULL with a reason in |err|. */
SSL_CTX *zt_tls_server_ctx_renew(const SSL_CTX *current, X509_STORE *device_store,
                                 char *err, size_t errlen);

/* zt_tls_client_ctx makes the client's context: the device certificate and
 * key it presents, and |server_ca_file| to verify the concentrator. */
SSL_CTX *zt_tls_client_ctx(const char *cert_file, const char *key_file,
                           const char *server_ca_file, char *err, size_t errlen);

/* zt_tls_client_expect_name makes |ssl| send |name| as SNI and require it in
 * the server certificate's subjectAltName. Returns 1 or 0. */
int zt_tls_client_expect_name(SSL *ssl, const char *name);

/* zt_tls_alpn_ok says whether the handshake agreed on ZT_ALPN. */
int zt_tls_alpn_ok(const SSL *ssl);

#endif

/* What the concentrator proves and trusts: its TLS context (certificate,
 * key, device CA) and the user CA store, loaded from the configuration. */
#ifndef ZTVPN_CREDENTIALS_H
#define ZTVPN_CREDENTIALS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "config.h"

struct server_creds {
  SSL_CTX *tls;
  X509_STORE *user_store;
};

/* server_creds_load loads every file |cfg| names for TLS (refusing keys
 * readable by others). Returns 1, or 0 with a reason in |err|. */
int server_creds_load(const struct server_config *cfg, struct server_creds *out,
                      char *err, size_t errlen);
void server_creds_free(struct server_creds *c);

/* server_creds_renew is server_creds_load for a reload: it reads the CAs and
 * the CRLs again but keeps the certificate chain and key of |current| (the
 * context in force). The network process of privilege separation cannot
 * read the key file, so a new certificate or key needs a restart. */
int server_creds_renew(const struct server_config *cfg, const SSL_CTX *current,
                       struct server_creds *out, char *err, size_t errlen);

/* server_reload_files_ok checks, as zt_conf_check_files does, the files of
 * |cfg| that a reload reads: all but the server's certificate and key.
 * Returns 1, or 0 with "FILE:LINE: message" in |err|. */
int server_reload_files_ok(const struct server_config *cfg, char *err, size_t errlen);

#endif

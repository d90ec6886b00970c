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

#endif

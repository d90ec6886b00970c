/* What the client proves: the device (TLS client certificate) and the user
 * (certificate chain and key for the user proof). */
#ifndef ZTVPN_CLIENT_CREDENTIALS_H
#define ZTVPN_CLIENT_CREDENTIALS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/bytestring.h>
#include <openssl/ssl.h>

#include "config.h"
#include "proto.h"

struct client_creds {
  SSL_CTX *tls;
  STACK_OF(X509) *user_chain; /* leaf first */
  EVP_PKEY *user_key;
};

/* client_creds_load loads every file |cfg| names (refusing keys readable by
 * others, and a user key that does not match its certificate). Returns 1,
 * or 0 with a reason in |err|. */
int client_creds_load(const struct client_config *cfg, struct client_creds *out,
                      char *err, size_t errlen);
void client_creds_free(struct client_creds *c);

/* client_proof_build writes a USER_PROOF body into |body|: the user chain
 * and a signature over |exporter|. Returns 1 or 0. */
int client_proof_build(const struct client_creds *c,
                       const uint8_t exporter[ZT_EXPORTER_LEN], CBB *body);

#endif

/* The user proof: a signature with the user's key over a value exported from
 * this TLS session (RFC 8446 7.5), so it cannot be replayed into another
 * session or onto another device. */
#ifndef ZTVPN_USERPROOF_H
#define ZTVPN_USERPROOF_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "proto.h"

/* zt_proof_exporter derives this session's exporter value. Returns 1 or 0. */
int zt_proof_exporter(SSL *ssl, uint8_t out[ZT_EXPORTER_LEN]);

/* zt_proof_scheme picks the signature scheme for |key| (ECDSA P-256/P-384,
 * Ed25519, RSA-PSS). Returns 1, or 0 for an unsupported key. */
int zt_proof_scheme(EVP_PKEY *key, uint16_t *scheme);

/* zt_proof_sign signs the proof message for |exporter| with |key| into |sig|
 * (ZT_MAX_SIG_LEN bytes). Returns 1 or 0. */
int zt_proof_sign(EVP_PKEY *key, const uint8_t exporter[ZT_EXPORTER_LEN],
                  uint16_t *scheme, uint8_t *sig, size_t *sig_len);

/* zt_proof_verify checks |sig| by |pub| under |scheme| over the proof message
 * for |exporter|. The scheme must be the one zt_proof_scheme gives for |pub|.
 * Returns 1 if valid. */
int zt_proof_verify(EVP_PKEY *pub, uint16_t scheme,
                    const uint8_t exporter[ZT_EXPORTER_LEN], const uint8_t *sig,
                    size_t sig_len);

#endif

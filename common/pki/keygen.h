/* Key pairs for ztvpn-pki: ECDSA P-256 by default, Ed25519 on request, and
 * their PKCS#8 PEM form. */
#ifndef ZTVPN_PKI_KEYGEN_H
#define ZTVPN_PKI_KEYGEN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/* zt_pki_keygen makes a fresh key pair (Ed25519 if |ed25519|, else ECDSA
 * P-256 with a named curve). Returns it (EVP_PKEY_free), or NULL. */
EVP_PKEY *zt_pki_keygen(int ed25519);

/* zt_pki_key_pem encodes |key| as an unencrypted PKCS#8 PEM private key into
 * a new buffer; the caller releases it with zt_pki_key_pem_free, which
 * wipes it. Returns 1, or 0. */
int zt_pki_key_pem(EVP_PKEY *key, uint8_t **out, size_t *len);

/* zt_pki_key_pem_free wipes and frees a buffer from zt_pki_key_pem. */
void zt_pki_key_pem_free(uint8_t *pem, size_t len);

#endif

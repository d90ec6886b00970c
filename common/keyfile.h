/* Loading keys and certificates from PEM files. */
#ifndef ZTVPN_KEYFILE_H
#define ZTVPN_KEYFILE_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

struct stat;

/* zt_key_mode_ok checks that the private key file described by |st| is a
 * regular file that neither group nor others may access. Returns 1, or 0
 * with a reason naming |path| in |err|. */
int zt_key_mode_ok(const struct stat *st, const char *path, char *err,
                   size_t errlen);

/* zt_load_private_key reads a PEM private key. It refuses a file that group
 * or others may read (a key that leaked is a key to revoke). Returns the key,
 * or NULL with a one-line reason in |err|. */
EVP_PKEY *zt_load_private_key(const char *path, char *err, size_t errlen);

/* zt_load_cert_chain reads every certificate of a PEM file, leaf first.
 * Returns a stack with at least one certificate, or NULL with |err|. */
STACK_OF(X509) *zt_load_cert_chain(const char *path, char *err, size_t errlen);

/* zt_key_matches_cert says whether |key| is the private half of |cert|. */
int zt_key_matches_cert(EVP_PKEY *key, X509 *cert);

#endif

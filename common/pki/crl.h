/* Certificate revocation lists: one v2 CRL per CA listing every revoked
 * entry of its index, with crlNumber and authorityKeyIdentifier. */
#ifndef ZTVPN_PKI_CRL_H
#define ZTVPN_PKI_CRL_H

#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "index.h"

#define ZT_PKI_CRL_DAYS 30

/* zt_pki_crl_make builds and signs with |key| the CRL of |ca| listing the
 * revoked entries of |idx| (with their revocation time and, unless
 * unspecified, their reason), crlNumber |number|, thisUpdate |now| and
 * nextUpdate |days| later. Returns it (X509_CRL_free), or NULL with |err|. */
X509_CRL *zt_pki_crl_make(X509 *ca, EVP_PKEY *key, const struct zt_pki_index *idx,
                          uint64_t number, int64_t now, int days, char *err,
                          size_t errlen);

#endif

/* Building and signing certificates: the three profiles ztvpn uses (CA,
 * TLS server, TLS client for devices and users), as RFC 5280 v3
 * certificates with random serial numbers. */
#ifndef ZTVPN_PKI_ISSUE_H
#define ZTVPN_PKI_ISSUE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "names.h"

#define ZT_PKI_SERIAL_LEN 16

enum zt_pki_profile {
  ZT_PROFILE_CA,     /* CA:TRUE critical, KU keyCertSign cRLSign critical */
  ZT_PROFILE_SERVER, /* CA:FALSE, KU digitalSignature, EKU serverAuth, SAN */
  ZT_PROFILE_CLIENT, /* CA:FALSE, KU digitalSignature, EKU clientAuth */
};

struct zt_pki_cert_spec {
  enum zt_pki_profile profile;
  const char *org;             /* O */
  const char *const *ous;      /* one OU each, in order */
  size_t nous;
  const char *cn;              /* CN */
  const struct zt_pki_san *sans; /* subjectAltName (server profile) */
  size_t nsans;
  int64_t not_before, not_after;
  uint8_t serial[ZT_PKI_SERIAL_LEN];
};

/* zt_pki_serial_new fills |out| with random bytes that make a positive
 * serial number of exactly ZT_PKI_SERIAL_LEN bytes. Returns 1, or 0. */
int zt_pki_serial_new(uint8_t out[ZT_PKI_SERIAL_LEN]);

/* zt_pki_issue builds the certificate of |spec| for the public half of
 * |subject_key| and signs it with |issuer_key|; |issuer| is the issuing CA
 * certificate, or NULL for a self-signed CA (then |issuer_key| is
 * |subject_key|). Besides the profile's extensions every certificate has a
 * subjectKeyIdentifier, and every issued one an authorityKeyIdentifier.
 * Returns the certificate (X509_free), or NULL with a reason in |err|. */
X509 *zt_pki_issue(const struct zt_pki_cert_spec *spec, EVP_PKEY *subject_key,
                   X509 *issuer, EVP_PKEY *issuer_key, char *err, size_t errlen);

#endif

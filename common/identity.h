/* Identities carried by certificates and the verification of their chains.
 * A device is the TLS client certificate (device CA); a user is the
 * certificate in the user proof (user CA). The CAs are separate trust
 * anchors, so one kind can never pass as the other. */
#ifndef ZTVPN_IDENTITY_H
#define ZTVPN_IDENTITY_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#define ZT_NAME_MAX 64   /* X.520 upper bound for a CN */
#define ZT_MAX_GROUPS 16

struct zt_identity {
  char name[ZT_NAME_MAX + 1];                   /* subject CN */
  size_t ngroups;
  char groups[ZT_MAX_GROUPS][ZT_NAME_MAX + 1];  /* subject OU values */
  char serial[80];                              /* hex, for audit records */
  time_t not_after;
};

/* zt_identity_from_cert extracts the CN (exactly one, 1..64 bytes of
 * printable ASCII without spaces at either end), the OUs (at most 16, same
 * rules), serial and notAfter. Returns 1, or 0 with a reason in |err|. */
int zt_identity_from_cert(X509 *cert, struct zt_identity *id, char *err,
                          size_t errlen);

/* zt_trust_load builds a store holding the CA certificates of |ca_file| and
 * the CRLs of |crl_files| (|ncrl| of them, may be 0). With CRLs present,
 * every leaf is checked against its issuer's CRL (X509_V_FLAG_CRL_CHECK): a
 * missing or expired CRL then rejects, failing closed. Returns the store or
 * NULL with |err|. */
X509_STORE *zt_trust_load(const char *ca_file, const char *const *crl_files,
                          size_t ncrl, char *err, size_t errlen);

/* zt_verify_chain verifies |leaf| with the |untrusted| intermediates (may be
 * NULL) against |store| for TLS client use (dates, key usage, extended key
 * usage clientAuth, revocation). Returns 1, or 0 with the X509_V_ERR code in
 * |*x509_err|. */
int zt_verify_chain(X509_STORE *store, X509 *leaf, STACK_OF(X509) *untrusted,
                    int *x509_err);

/* zt_leaf_check refuses a certificate that cannot stand for a device or a
 * user even though its chain verifies: a CA certificate (a trusted CA as its
 * own leaf skips BoringSSL's purpose checks), or one without the
 * clientAuth extended key usage. Returns 1, or 0 with a reason in |err|. */
int zt_leaf_check(X509 *leaf, char *err, size_t errlen);

/* zt_ca_files_distinct fails when the two CA files share a certificate: the
 * device and user trust anchors must be separate, whatever the paths say.
 * Returns 1, or 0 with a reason in |err|. */
int zt_ca_files_distinct(const char *a, const char *b, char *err, size_t errlen);

/* zt_verify_error_text describes an X509_V_ERR code the way an administrator
 * reads it; |kind| ("device" or "user") names the certificate. */
void zt_verify_error_text(int x509_err, const char *kind, char *out, size_t len);

#endif

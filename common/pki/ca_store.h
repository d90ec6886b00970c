/* One CA of a ztvpn-pki state directory DIR (common/pki/README.md):
 *   DIR/NAME.crt              the CA certificate (trust anchor), 0644
 *   DIR/NAME.crl              its current CRL (PEM), 0644
 *   DIR/ca/NAME/ca.key        its private key (PKCS#8 PEM), 0600, dir 0700
 *   DIR/ca/NAME/index         what it issued (index.h), 0600
 *   DIR/ca/NAME/crlnumber     the next crlNumber, decimal, 0600
 * for NAME server-ca, device-ca or user-ca. An open CA holds an exclusive
 * flock on DIR/ca/NAME, so two ztvpn-pki runs never lose each other's
 * index lines. */
#ifndef ZTVPN_PKI_CA_STORE_H
#define ZTVPN_PKI_CA_STORE_H

#include <limits.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "index.h"
#include "issue.h"
#include "names.h"

/* Certificates start this many seconds before they are made, so a gateway
 * whose clock is a little behind still accepts them. */
#define ZT_PKI_BACKDATE 300
#define ZT_PKI_CA_DAYS 3650

struct zt_pki_ca {
  enum zt_pki_kind kind;
  char dir[PATH_MAX / 2];   /* DIR */
  char cadir[PATH_MAX / 2]; /* DIR/ca/NAME */
  int lock_fd;
  X509 *cert;
  EVP_PKEY *key;
  struct zt_pki_index index;
  uint64_t crl_number; /* the number the next CRL gets */
};

struct zt_pki_ca_params {
  int ed25519;
  int days;         /* validity of the CA certificate */
  const char *org;  /* O=; the CN is "ORG KIND CA" */
  int crl_days;
  int64_t now;
};

/* zt_pki_ca_create makes the CA of |kind| in |dir| (key, self-signed
 * certificate, empty index, first CRL) and leaves it open in |ca|. Existing
 * files are replaced only with |force|. Returns 1, or 0 with |err|. */
int zt_pki_ca_create(const char *dir, enum zt_pki_kind kind,
                     const struct zt_pki_ca_params *p, int force,
                     struct zt_pki_ca *ca, char *err, size_t errlen);

/* zt_pki_ca_open locks and loads the CA of |kind| in |dir|: certificate,
 * key (refused if group or others may read it, or if it does not match the
 * certificate), index and crlnumber. Returns 1, or 0 with |err|; |ca| is
 * then closed. */
int zt_pki_ca_open(const char *dir, enum zt_pki_kind kind, struct zt_pki_ca *ca,
                   char *err, size_t errlen);

/* zt_pki_ca_close frees what |ca| holds and releases the lock. Safe to call
 * twice. */
void zt_pki_ca_close(struct zt_pki_ca *ca);

/* zt_pki_ca_issue signs |spec| (its serial is chosen here, fresh and unique
 * in the index) for |subject_key| with the CA, records it in the index
 * under |name| and saves the index. Refuses a certificate that would
 * outlive the CA or whose notAfter is not after its notBefore. Returns the
 * certificate, or NULL with |err|. */
X509 *zt_pki_ca_issue(struct zt_pki_ca *ca, struct zt_pki_cert_spec *spec,
                      const char *name, EVP_PKEY *subject_key, char *err,
                      size_t errlen);

/* zt_pki_ca_save_index writes the index (atomically). Returns 1, or 0. */
int zt_pki_ca_save_index(struct zt_pki_ca *ca, char *err, size_t errlen);

/* zt_pki_ca_publish_crl writes a fresh CRL (next crlNumber, valid |days|
 * from |now|) to DIR/NAME.crl by rename. Returns 1, or 0 with |err|. */
int zt_pki_ca_publish_crl(struct zt_pki_ca *ca, int64_t now, int days, char *err,
                          size_t errlen);

/* zt_pki_ca_not_after: the CA certificate's notAfter in seconds, or -1. */
int64_t zt_pki_ca_not_after(const struct zt_pki_ca *ca);

/* zt_pki_write_pem_cert writes |x| as PEM to |path| (mode 0644, by
 * zt_pki_write_file with |replace|). Returns 1, or 0 with |err|. */
int zt_pki_write_pem_cert(const char *path, X509 *x, int replace, char *err,
                          size_t errlen);

/* zt_pki_write_key writes |key| as PKCS#8 PEM to |path| (mode 0600 from the
 * start), wiping the encoded copy. Returns 1, or 0 with |err|. */
int zt_pki_write_key(const char *path, EVP_PKEY *key, int replace, char *err,
                     size_t errlen);

#endif

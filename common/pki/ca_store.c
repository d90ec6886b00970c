#include "ca_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/pem.h>

#include "crl.h"
#include "keyfile.h"
#include "keygen.h"
#include "pkifile.h"

#define CERT_FILE_MAX (64 * 1024)
#define CRLNUMBER_FILE_MAX 32

static void ca_init(struct zt_pki_ca *ca, enum zt_pki_kind kind) {
  memset(ca, 0, sizeof(*ca));
  ca->kind = kind;
  ca->lock_fd = -1;
  zt_pki_index_init(&ca->index);
}

void zt_pki_ca_close(struct zt_pki_ca *ca) {
  X509_free(ca->cert);
  EVP_PKEY_free(ca->key);
  ca->cert = NULL;
  ca->key = NULL;
  zt_pki_index_free(&ca->index);
  if (ca->lock_fd >= 0) close(ca->lock_fd); /* releases the flock */
  ca->lock_fd = -1;
}

/* set_paths and lock: DIR/ca/NAME must exist (made 0700 by create). */
static int set_paths(struct zt_pki_ca *ca, const char *dir, char *err, size_t errlen) {
  if (!zt_pki_path(ca->dir, sizeof(ca->dir), "%s", dir) ||
      !zt_pki_path(ca->cadir, sizeof(ca->cadir), "%s/ca/%s", dir, zt_pki_kind_ca(ca->kind))) {
    snprintf(err, errlen, "%s: path too long", dir);
    return 0;
  }
  return 1;
}

static int lock_ca(struct zt_pki_ca *ca, char *err, size_t errlen) {
  ca->lock_fd = open(ca->cadir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (ca->lock_fd < 0) {
    snprintf(err, errlen, "%s: %s (not a ztvpn-pki directory? run init)", ca->cadir,
             strerror(errno));
    return 0;
  }
  if (flock(ca->lock_fd, LOCK_EX) != 0) {
    snprintf(err, errlen, "%s: cannot lock: %s", ca->cadir, strerror(errno));
    return 0;
  }
  return 1;
}

static int write_crlnumber(struct zt_pki_ca *ca, uint64_t n, char *err, size_t errlen) {
  char path[PATH_MAX], text[24];
  int len = snprintf(text, sizeof(text), "%llu\n", (unsigned long long)n);
  if (!zt_pki_path(path, sizeof(path), "%s/crlnumber", ca->cadir)) {
    snprintf(err, errlen, "%s: path too long", ca->cadir);
    return 0;
  }
  return zt_pki_write_file(path, text, (size_t)len, 0600, 1, err, errlen);
}

static int read_crlnumber(struct zt_pki_ca *ca, char *err, size_t errlen) {
  char path[PATH_MAX];
  uint8_t *buf;
  size_t len;
  uint64_t v;
  CBS cbs, digits;
  if (!zt_pki_path(path, sizeof(path), "%s/crlnumber", ca->cadir) ||
      !zt_pki_read_file(path, CRLNUMBER_FILE_MAX, &buf, &len, err, errlen))
    return 0;
  CBS_init(&cbs, buf, len);
  int ok = CBS_get_until_first(&cbs, &digits, '\n') && CBS_len(&cbs) == 1 &&
           CBS_len(&digits) >= 1 && CBS_len(&digits) <= 18 && CBS_data(&digits)[0] != '0';
  v = 0;
  while (ok && CBS_len(&digits) > 0) {
    uint8_t c;
    ok = CBS_get_u8(&digits, &c) && c >= '0' && c <= '9';
    v = v * 10 + (uint64_t)(c - '0');
  }
  free(buf);
  if (!ok) {
    snprintf(err, errlen, "%s:1: expected a number from 1 to 10^18 and a newline", path);
    return 0;
  }
  ca->crl_number = v;
  return 1;
}

static X509 *read_cert(const char *path, char *err, size_t errlen) {
  uint8_t *buf;
  size_t len;
  X509 *x = NULL;
  if (!zt_pki_read_file(path, CERT_FILE_MAX, &buf, &len, err, errlen)) return NULL;
  BIO *bio = BIO_new_mem_buf(buf, len);
  if (bio) x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
  BIO_free(bio);
  free(buf);
  if (!x) snprintf(err, errlen, "%s: not a PEM certificate", path);
  ERR_clear_error();
  return x;
}

int zt_pki_ca_open(const char *dir, enum zt_pki_kind kind, struct zt_pki_ca *ca,
                   char *err, size_t errlen) {
  char path[PATH_MAX];
  uint8_t *buf;
  size_t len;
  ca_init(ca, kind);
  if (!set_paths(ca, dir, err, errlen) || !lock_ca(ca, err, errlen)) goto fail;
  if (!zt_pki_path(path, sizeof(path), "%s/%s.crt", dir, zt_pki_kind_ca(kind)) ||
      (ca->cert = read_cert(path, err, errlen)) == NULL)
    goto fail;
  if (!zt_pki_path(path, sizeof(path), "%s/ca.key", ca->cadir) ||
      (ca->key = zt_load_private_key(path, err, errlen)) == NULL)
    goto fail;
  if (!zt_key_matches_cert(ca->key, ca->cert)) {
    snprintf(err, errlen, "%s does not belong to %s/%s.crt", path, dir, zt_pki_kind_ca(kind));
    goto fail;
  }
  if (!zt_pki_path(path, sizeof(path), "%s/index", ca->cadir) ||
      !zt_pki_read_file(path, ZT_PKI_INDEX_FILE_MAX, &buf, &len, err, errlen))
    goto fail;
  CBS in;
  CBS_init(&in, buf, len);
  int ok = zt_pki_index_parse(in, path, kind, &ca->index, err, errlen);
  free(buf);
  if (!ok || !read_crlnumber(ca, err, errlen)) goto fail;
  return 1;
fail:
  zt_pki_ca_close(ca);
  return 0;
}

int64_t zt_pki_ca_not_after(const struct zt_pki_ca *ca) {
  ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
  int days, secs;
  int ok = epoch && ASN1_TIME_diff(&days, &secs, epoch, X509_get0_notAfter(ca->cert));
  ASN1_TIME_free(epoch);
  return ok ? (int64_t)days * 86400 + secs : -1;
}

int zt_pki_write_pem_cert(const char *path, X509 *x, int replace, char *err,
                          size_t errlen) {
  BIO *bio = BIO_new(BIO_s_mem());
  const uint8_t *data;
  size_t len;
  int ok = bio && PEM_write_bio_X509(bio, x) && BIO_mem_contents(bio, &data, &len);
  if (!ok)
    snprintf(err, errlen, "%s: cannot encode the certificate", path);
  else
    ok = zt_pki_write_file(path, data, len, 0644, replace, err, errlen);
  BIO_free(bio);
  return ok;
}

int zt_pki_write_key(const char *path, EVP_PKEY *key, int replace, char *err,
                     size_t errlen) {
  uint8_t *pem;
  size_t len;
  if (!zt_pki_key_pem(key, &pem, &len)) {
    snprintf(err, errlen, "%s: cannot encode the private key", path);
    return 0;
  }
  int ok = zt_pki_write_file(path, pem, len, 0600, replace, err, errlen);
  zt_pki_key_pem_free(pem, len);
  return ok;
}

int zt_pki_ca_save_index(struct zt_pki_ca *ca, char *err, size_t errlen) {
  char path[PATH_MAX];
  CBB cbb;
  uint8_t *data;
  size_t len;
  if (!zt_pki_path(path, sizeof(path), "%s/index", ca->cadir)) {
    snprintf(err, errlen, "%s: path too long", ca->cadir);
    return 0;
  }
  if (!CBB_init(&cbb, 4096) || !zt_pki_index_format(&cbb, &ca->index) ||
      !CBB_finish(&cbb, &data, &len)) {
    CBB_cleanup(&cbb);
    snprintf(err, errlen, "%s: cannot format the index", path);
    return 0;
  }
  int ok = zt_pki_write_file(path, data, len, 0600, 1, err, errlen);
  OPENSSL_free(data);
  return ok;
}

int zt_pki_ca_publish_crl(struct zt_pki_ca *ca, int64_t now, int days, char *err,
                          size_t errlen) {
  char path[PATH_MAX];
  const uint8_t *data;
  size_t len;
  X509_CRL *crl;
  BIO *bio;
  if (!zt_pki_path(path, sizeof(path), "%s/%s.crl", ca->dir, zt_pki_kind_ca(ca->kind))) {
    snprintf(err, errlen, "%s: path too long", ca->dir);
    return 0;
  }
  /* The number is used up before the CRL exists: a failure leaves a gap,
   * never two different CRLs with one number. */
  uint64_t number = ca->crl_number;
  if (!write_crlnumber(ca, number + 1, err, errlen)) return 0;
  ca->crl_number = number + 1;
  crl = zt_pki_crl_make(ca->cert, ca->key, &ca->index, number, now, days, err, errlen);
  if (!crl) return 0;
  bio = BIO_new(BIO_s_mem());
  int ok = bio && PEM_write_bio_X509_CRL(bio, crl) && BIO_mem_contents(bio, &data, &len);
  if (!ok)
    snprintf(err, errlen, "%s: cannot encode the CRL", path);
  else
    ok = zt_pki_write_file(path, data, len, 0644, 1, err, errlen);
  BIO_free(bio);
  X509_CRL_free(crl);
  return ok;
}

static int serial_taken(const struct zt_pki_index *idx, const uint8_t *serial) {
  for (size_t i = 0; i < idx->n; i++)
    if (idx->entries[i].serial_len == ZT_PKI_SERIAL_LEN &&
        memcmp(idx->entries[i].serial, serial, ZT_PKI_SERIAL_LEN) == 0)
      return 1;
  return 0;
}

X509 *zt_pki_ca_issue(struct zt_pki_ca *ca, struct zt_pki_cert_spec *spec,
                      const char *name, EVP_PKEY *subject_key, char *err,
                      size_t errlen) {
  struct zt_pki_entry e;
  int64_t ca_end = zt_pki_ca_not_after(ca);
  X509 *x;
  if (spec->not_after <= spec->not_before) {
    snprintf(err, errlen, "notAfter must be later than notBefore");
    return NULL;
  }
  if (ca_end < 0 || spec->not_after > ca_end) {
    snprintf(err, errlen, "the certificate would outlive the %s (valid until %lld); "
             "choose fewer --days or an earlier --not-after", zt_pki_kind_ca(ca->kind),
             (long long)ca_end);
    return NULL;
  }
  for (int tries = 0;; tries++) {
    if (tries == 8 || !zt_pki_serial_new(spec->serial)) {
      snprintf(err, errlen, "cannot pick a serial number");
      return NULL;
    }
    if (!serial_taken(&ca->index, spec->serial)) break;
  }
  x = zt_pki_issue(spec, subject_key, ca->cert, ca->key, err, errlen);
  if (!x) return NULL;
  memset(&e, 0, sizeof(e));
  memcpy(e.serial, spec->serial, ZT_PKI_SERIAL_LEN);
  e.serial_len = ZT_PKI_SERIAL_LEN;
  e.not_after = spec->not_after;
  e.kind = ca->kind;
  snprintf(e.name, sizeof(e.name), "%s", name);
  /* Recorded before the files are written: a certificate that exists is
   * always in the index, so it can always be revoked by name. */
  if (!zt_pki_index_add(&ca->index, &e)) {
    snprintf(err, errlen, "the %s index is full", zt_pki_kind_ca(ca->kind));
    X509_free(x);
    return NULL;
  }
  if (!zt_pki_ca_save_index(ca, err, errlen)) {
    ca->index.n--;
    X509_free(x);
    return NULL;
  }
  return x;
}

int zt_pki_ca_create(const char *dir, enum zt_pki_kind kind,
                     const struct zt_pki_ca_params *p, int force,
                     struct zt_pki_ca *ca, char *err, size_t errlen) {
  char path[PATH_MAX], cn[ZT_PKI_ORG_MAX + 16];
  struct zt_pki_cert_spec spec;
  ca_init(ca, kind);
  if (!set_paths(ca, dir, err, errlen) || !zt_pki_path(path, sizeof(path), "%s/ca", dir) ||
      !zt_pki_mkdir(path, 0700, err, errlen) || !zt_pki_mkdir(ca->cadir, 0700, err, errlen) ||
      !lock_ca(ca, err, errlen))
    goto fail;
  snprintf(cn, sizeof(cn), "%s %s CA", p->org, zt_pki_kind_name(kind));
  memset(&spec, 0, sizeof(spec));
  spec.profile = ZT_PROFILE_CA;
  spec.org = p->org;
  spec.cn = cn;
  spec.not_before = p->now - ZT_PKI_BACKDATE;
  spec.not_after = p->now + (int64_t)p->days * 86400;
  if (!zt_pki_serial_new(spec.serial) || (ca->key = zt_pki_keygen(p->ed25519)) == NULL) {
    snprintf(err, errlen, "cannot make a key");
    goto fail;
  }
  ca->cert = zt_pki_issue(&spec, ca->key, NULL, ca->key, err, errlen);
  if (!ca->cert) goto fail;
  if (!zt_pki_path(path, sizeof(path), "%s/ca.key", ca->cadir) ||
      !zt_pki_write_key(path, ca->key, force, err, errlen))
    goto fail;
  if (!zt_pki_path(path, sizeof(path), "%s/%s.crt", dir, zt_pki_kind_ca(kind)) ||
      !zt_pki_write_pem_cert(path, ca->cert, force, err, errlen))
    goto fail;
  ca->crl_number = 1;
  if (!zt_pki_ca_save_index(ca, err, errlen) ||
      !zt_pki_ca_publish_crl(ca, p->now, p->crl_days, err, errlen))
    goto fail;
  return 1;
fail:
  zt_pki_ca_close(ca);
  return 0;
}

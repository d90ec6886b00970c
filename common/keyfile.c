#include "keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

int zt_key_mode_ok(const struct stat *st, const char *path, char *err,
                   size_t errlen) {
  if (!S_ISREG(st->st_mode)) {
    snprintf(err, errlen, "private key %s is not a regular file", path);
    return 0;
  }
  if (st->st_mode & (S_IRWXG | S_IRWXO)) {
    snprintf(err, errlen,
             "private key %s is readable by group or others (mode %04o): "
             "refusing it; run chmod 600 %s",
             path, (unsigned)(st->st_mode & 07777), path);
    return 0;
  }
  return 1;
}

EVP_PKEY *zt_load_private_key(const char *path, char *err, size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    snprintf(err, errlen, "cannot open private key %s: %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  /* fstat on the open file: no window between the check and the read. */
  if (fstat(fd, &st) != 0 || !zt_key_mode_ok(&st, path, err, errlen)) {
    close(fd);
    return NULL;
  }
  FILE *f = fdopen(fd, "r");
  if (!f) {
    snprintf(err, errlen, "cannot read private key %s: %s", path, strerror(errno));
    close(fd);
    return NULL;
  }
  EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
  fclose(f);
  if (!key) {
    ERR_clear_error();
    snprintf(err, errlen, "%s: not a PEM private key (or it is encrypted)", path);
  }
  return key;
}

STACK_OF(X509) *zt_load_cert_chain(const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "re");
  if (!f) {
    snprintf(err, errlen, "cannot open certificate %s: %s", path, strerror(errno));
    return NULL;
  }
  STACK_OF(X509) *chain = sk_X509_new_null();
  X509 *x;
  while (chain && (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
    if (!sk_X509_push(chain, x)) {
      X509_free(x);
      break;
    }
  }
  ERR_clear_error(); /* the read that ends the loop always leaves an error */
  fclose(f);
  if (!chain || sk_X509_num(chain) == 0) {
    snprintf(err, errlen, "%s: no PEM certificate in the file", path);
    sk_X509_pop_free(chain, X509_free);
    return NULL;
  }
  return chain;
}

int zt_key_matches_cert(EVP_PKEY *key, X509 *cert) {
  EVP_PKEY *pub = X509_get_pubkey(cert);
  int ok = pub && EVP_PKEY_cmp(pub, key) == 1;
  EVP_PKEY_free(pub);
  return ok;
}

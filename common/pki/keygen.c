#include "keygen.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/pem.h>

EVP_PKEY *zt_pki_keygen(int ed25519) {
  EVP_PKEY *key = NULL;
  if (ed25519) {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (!ctx || !EVP_PKEY_keygen_init(ctx) || !EVP_PKEY_keygen(ctx, &key)) key = NULL;
    EVP_PKEY_CTX_free(ctx);
    return key;
  }
  EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
  key = EVP_PKEY_new();
  if (!ec || !key || !EC_KEY_generate_key(ec) || !EVP_PKEY_assign_EC_KEY(key, ec)) {
    EC_KEY_free(ec);
    EVP_PKEY_free(key);
    return NULL;
  }
  return key;
}

int zt_pki_key_pem(EVP_PKEY *key, uint8_t **out, size_t *len) {
  BIO *bio = BIO_new(BIO_s_mem());
  const uint8_t *data;
  size_t n;
  int ok = 0;
  if (!bio) return 0;
  if (PEM_write_bio_PKCS8PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) &&
      BIO_mem_contents(bio, &data, &n) && (*out = malloc(n)) != NULL) {
    memcpy(*out, data, n);
    *len = n;
    ok = 1;
  }
  /* The memory BIO holds the key too. */
  if (BIO_mem_contents(bio, &data, &n) && n > 0) OPENSSL_cleanse((void *)data, n);
  BIO_free(bio);
  return ok;
}

void zt_pki_key_pem_free(uint8_t *pem, size_t len) {
  if (!pem) return;
  OPENSSL_cleanse(pem, len);
  free(pem);
}

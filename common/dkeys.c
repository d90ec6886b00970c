#include "dkeys.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bytestring.h>
#include <openssl/digest.h>
#include <openssl/hkdf.h>
#include <openssl/mem.h>

#ifndef OPENSSL_IS_BORINGSSL
#error "ztvpn needs BoringSSL"
#endif

/* The longest info string: "ztvpn next epoch" and a u32. */
#define INFO_MAX 32

enum zt_aead_id zt_aead_from_name(const char *name) {
  if (!name) return 0;
  if (strcmp(name, "aes-256-gcm") == 0) return ZT_AEAD_AES256GCM;
  if (strcmp(name, "chacha20-poly1305") == 0) return ZT_AEAD_CHACHA20POLY1305;
  return 0;
}

const char *zt_aead_name(enum zt_aead_id id) {
  switch (id) {
    case ZT_AEAD_AES256GCM: return "aes-256-gcm";
    case ZT_AEAD_CHACHA20POLY1305: return "chacha20-poly1305";
  }
  return NULL;
}

const EVP_AEAD *zt_aead_evp(enum zt_aead_id id) {
  switch (id) {
    case ZT_AEAD_AES256GCM: return EVP_aead_aes_256_gcm();
    case ZT_AEAD_CHACHA20POLY1305: return EVP_aead_chacha20_poly1305();
  }
  return NULL;
}

int zt_dkeys_master(SSL *ssl, enum zt_aead_id aead, uint8_t master[ZT_DATA_SECRET_LEN]) {
  const uint8_t context = (uint8_t)aead;
  if (zt_aead_evp(aead) &&
      SSL_export_keying_material(ssl, master, ZT_DATA_SECRET_LEN, ZT_DATA_EXPORTER_LABEL,
                                 strlen(ZT_DATA_EXPORTER_LABEL), &context, 1, 1))
    return 1;
  OPENSSL_cleanse(master, ZT_DATA_SECRET_LEN);
  return 0;
}

/* HKDF-Expand-SHA256(prk, label || [u32 n], len). The inputs are fixed-size
 * and the output at most one hash long, so it cannot fail; if BoringSSL ever
 * says otherwise, going on with an unknown key would be worse than stopping. */
static void expand(const uint8_t prk[ZT_DATA_SECRET_LEN], const char *label,
                   int with_number, uint32_t n, uint8_t *out, size_t len) {
  uint8_t info[INFO_MAX];
  size_t info_len;
  CBB cbb;
  if (!CBB_init_fixed(&cbb, info, sizeof(info)) ||
      !CBB_add_bytes(&cbb, (const uint8_t *)label, strlen(label)) ||
      (with_number && !CBB_add_u32(&cbb, n)) || !CBB_finish(&cbb, NULL, &info_len) ||
      !HKDF_expand(out, len, EVP_sha256(), prk, ZT_DATA_SECRET_LEN, info, info_len))
    abort();
}

void zt_dkeys_epoch0(const uint8_t master[ZT_DATA_SECRET_LEN], enum zt_dir dir,
                     uint8_t out[ZT_DATA_SECRET_LEN]) {
  expand(master, dir == ZT_DIR_C2S ? "ztvpn c2s epoch 0" : "ztvpn s2c epoch 0", 0, 0, out,
         ZT_DATA_SECRET_LEN);
}

void zt_dkeys_next(const uint8_t cur[ZT_DATA_SECRET_LEN], uint32_t epoch,
                   uint8_t out[ZT_DATA_SECRET_LEN]) {
  /* through a copy, since |out| may be |cur| */
  uint8_t next[ZT_DATA_SECRET_LEN];
  expand(cur, "ztvpn next epoch", 1, epoch + 1, next, sizeof(next));
  memcpy(out, next, sizeof(next));
  OPENSSL_cleanse(next, sizeof(next));
}

void zt_dkeys_expand(const uint8_t secret[ZT_DATA_SECRET_LEN], uint32_t epoch,
                     uint8_t key[ZT_DATA_KEY_LEN], uint8_t iv[ZT_DATA_IV_LEN]) {
  expand(secret, "ztvpn key", 1, epoch, key, ZT_DATA_KEY_LEN);
  expand(secret, "ztvpn iv", 1, epoch, iv, ZT_DATA_IV_LEN);
}

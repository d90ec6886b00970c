#include "userproof.h"

#include <string.h>

#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/nid.h>
#include <openssl/rsa.h>

/* Signed bytes: context string, a zero byte, the exporter value. The context
 * keeps the signature from meaning anything in another protocol. */
#define PROOF_MSG_LEN (sizeof(ZT_PROOF_CONTEXT) + ZT_EXPORTER_LEN)

static void proof_message(const uint8_t exporter[ZT_EXPORTER_LEN],
                          uint8_t out[PROOF_MSG_LEN]) {
  memcpy(out, ZT_PROOF_CONTEXT, sizeof(ZT_PROOF_CONTEXT)); /* with its NUL */
  memcpy(out + sizeof(ZT_PROOF_CONTEXT), exporter, ZT_EXPORTER_LEN);
}

int zt_proof_exporter(SSL *ssl, uint8_t out[ZT_EXPORTER_LEN]) {
  return SSL_export_keying_material(ssl, out, ZT_EXPORTER_LEN, ZT_EXPORTER_LABEL,
                                    sizeof(ZT_EXPORTER_LABEL) - 1, NULL, 0, 0) == 1;
}

int zt_proof_scheme(EVP_PKEY *key, uint16_t *scheme) {
  switch (EVP_PKEY_id(key)) {
    case EVP_PKEY_EC: {
      const EC_GROUP *g = EC_KEY_get0_group(EVP_PKEY_get0_EC_KEY(key));
      int nid = g ? EC_GROUP_get_curve_name(g) : NID_undef;
      if (nid == NID_X9_62_prime256v1) *scheme = ZT_SIG_ECDSA_P256_SHA256;
      else if (nid == NID_secp384r1) *scheme = ZT_SIG_ECDSA_P384_SHA384;
      else return 0;
      return 1;
    }
    case EVP_PKEY_ED25519:
      *scheme = ZT_SIG_ED25519;
      return 1;
    case EVP_PKEY_RSA:
      if (EVP_PKEY_bits(key) < 2048) return 0;
      *scheme = ZT_SIG_RSA_PSS_SHA256;
      return 1;
    default:
      return 0;
  }
}

/* Digest and padding for |scheme| on |pctx|; Ed25519 signs the message. */
static const EVP_MD *scheme_md(uint16_t scheme) {
  switch (scheme) {
    case ZT_SIG_ECDSA_P256_SHA256:
    case ZT_SIG_RSA_PSS_SHA256: return EVP_sha256();
    case ZT_SIG_ECDSA_P384_SHA384: return EVP_sha384();
    default: return NULL;
  }
}

static int scheme_setup(EVP_PKEY_CTX *pctx, uint16_t scheme) {
  if (scheme != ZT_SIG_RSA_PSS_SHA256) return 1;
  return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, -1);
}

int zt_proof_sign(EVP_PKEY *key, const uint8_t exporter[ZT_EXPORTER_LEN],
                  uint16_t *scheme, uint8_t *sig, size_t *sig_len) {
  uint8_t msg[PROOF_MSG_LEN];
  EVP_MD_CTX ctx;
  EVP_PKEY_CTX *pctx = NULL;
  size_t len = 0;
  int ok = 0;
  if (!zt_proof_scheme(key, scheme)) return 0;
  proof_message(exporter, msg);
  EVP_MD_CTX_init(&ctx);
  if (EVP_DigestSignInit(&ctx, &pctx, scheme_md(*scheme), NULL, key) &&
      scheme_setup(pctx, *scheme) &&
      EVP_DigestSign(&ctx, NULL, &len, msg, sizeof(msg)) && len <= ZT_MAX_SIG_LEN &&
      EVP_DigestSign(&ctx, sig, &len, msg, sizeof(msg))) {
    *sig_len = len;
    ok = 1;
  }
  EVP_MD_CTX_cleanup(&ctx);
  ERR_clear_error();
  return ok;
}

int zt_proof_verify(EVP_PKEY *pub, uint16_t scheme,
                    const uint8_t exporter[ZT_EXPORTER_LEN], const uint8_t *sig,
                    size_t sig_len) {
  uint8_t msg[PROOF_MSG_LEN];
  uint16_t expected;
  EVP_MD_CTX ctx;
  EVP_PKEY_CTX *pctx = NULL;
  int ok = 0;
  /* The scheme follows from the key: a peer cannot pick a weaker one. */
  if (!zt_proof_scheme(pub, &expected) || expected != scheme) return 0;
  proof_message(exporter, msg);
  EVP_MD_CTX_init(&ctx);
  ok = EVP_DigestVerifyInit(&ctx, &pctx, scheme_md(scheme), NULL, pub) &&
       scheme_setup(pctx, scheme) &&
       EVP_DigestVerify(&ctx, sig, sig_len, msg, sizeof(msg)) == 1;
  EVP_MD_CTX_cleanup(&ctx);
  ERR_clear_error();
  return ok;
}

/* Keys of the UDP data channel: from the TLS session to one AEAD key and IV
 * per direction and key epoch.
 *
 * Derivation (all HKDF-Expand with SHA-256, RFC 5869; u32 is big endian):
 *
 *   master   = TLS-Exporter("EXPORTER-ztvpn-data-v1", context = u8 cipher id,
 *                           32)                      (RFC 8446 section 7.5)
 *   secret_0 = HKDF-Expand(master,   "ztvpn c2s epoch 0", 32)   client->server
 *            = HKDF-Expand(master,   "ztvpn s2c epoch 0", 32)   server->client
 *   secret_e+1 = HKDF-Expand(secret_e, "ztvpn next epoch" || u32(e + 1), 32)
 *   key_e    = HKDF-Expand(secret_e, "ztvpn key" || u32(e), 32)
 *   iv_e     = HKDF-Expand(secret_e, "ztvpn iv"  || u32(e), 12)
 *
 * (The labels are ASCII without a terminating NUL; "ztvpn " and the
 * direction and " epoch 0" are one string.) The cipher id is in the exporter
 * context so that the two ciphers never share a key. The epoch chain is a
 * ratchet: each side wipes secret_e once it holds secret_e+1, so the keys of
 * an epoch cannot be recomputed from a later state. Both ciphers take a
 * 32-byte key and a 12-byte nonce; the per-datagram nonce is iv_e XOR
 * (4 zero bytes || u64 counter), as in TLS 1.3 (dgram.h).
 *
 * Limits: a sender moves to the next epoch after ZT_REKEY_AFTER_PACKETS
 * (2^24) datagrams or the configured interval, whichever comes first: under
 * the 2^24.5 full-size records per AES-GCM key that RFC 8446 section 5.5
 * allows TLS 1.3. A receiver refuses counters from ZT_REJECT_AFTER_PACKETS
 * (2^25) on, the hard stop for a sender that failed to rekey. */
#ifndef ZTVPN_DKEYS_H
#define ZTVPN_DKEYS_H

#include <stdint.h>

#include <openssl/aead.h>
#include <openssl/ssl.h>

enum zt_aead_id { ZT_AEAD_AES256GCM = 1, ZT_AEAD_CHACHA20POLY1305 = 2 };
enum zt_dir { ZT_DIR_C2S = 0, ZT_DIR_S2C = 1 };

#define ZT_DATA_SECRET_LEN 32
#define ZT_DATA_KEY_LEN 32
#define ZT_DATA_IV_LEN 12
#define ZT_DATA_EXPORTER_LABEL "EXPORTER-ztvpn-data-v1"
#define ZT_REKEY_AFTER_PACKETS (1ull << 24)
#define ZT_REJECT_AFTER_PACKETS (1ull << 25)
#define ZT_EPOCH_GRACE_MS 5000

/* zt_aead_from_name maps "aes-256-gcm" and "chacha20-poly1305" (the
 * data_cipher setting) to their id; 0 when unknown. */
enum zt_aead_id zt_aead_from_name(const char *name);

/* zt_aead_name is the setting's spelling of |id|, or NULL when unknown. */
const char *zt_aead_name(enum zt_aead_id id);

/* zt_aead_evp is BoringSSL's AEAD for |id|, or NULL when unknown. */
const EVP_AEAD *zt_aead_evp(enum zt_aead_id id);

/* zt_dkeys_master derives the data master secret from an established TLS 1.3
 * connection; both ends get the same bytes. Returns 1, or 0 (|master| then
 * zero) for an unknown |aead| or when the exporter fails. */
int zt_dkeys_master(SSL *ssl, enum zt_aead_id aead, uint8_t master[ZT_DATA_SECRET_LEN]);

/* zt_dkeys_epoch0 writes the epoch 0 secret of direction |dir|. */
void zt_dkeys_epoch0(const uint8_t master[ZT_DATA_SECRET_LEN], enum zt_dir dir,
                     uint8_t out[ZT_DATA_SECRET_LEN]);

/* zt_dkeys_next writes the secret of epoch |epoch| + 1 from |cur|, the secret
 * of |epoch|. |out| may equal |cur| (the usual ratchet step). */
void zt_dkeys_next(const uint8_t cur[ZT_DATA_SECRET_LEN], uint32_t epoch,
                   uint8_t out[ZT_DATA_SECRET_LEN]);

/* zt_dkeys_expand writes the AEAD key and IV of epoch |epoch| from its
 * secret. */
void zt_dkeys_expand(const uint8_t secret[ZT_DATA_SECRET_LEN], uint32_t epoch,
                     uint8_t key[ZT_DATA_KEY_LEN], uint8_t iv[ZT_DATA_IV_LEN]);

#endif

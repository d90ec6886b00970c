/* Datagrams of the UDP data channel: the framing, and sealing and opening
 * with the keys of dkeys.h, per direction and key epoch.
 *
 * Layout (the UDP payload, big endian):
 *
 *   offset  0  u8   type      ZT_DGRAM_TYPE_DATA (1)
 *           1  u8   epoch     low 8 bits of the sender's key epoch
 *           2  u16  reserved  0 (a receiver drops anything else)
 *           4  u32  index     the receiver's session index, chosen by it
 *           8  u64  counter   per epoch, from 0, never repeated
 *          16  ...  ciphertext of the plaintext (same length)
 *     len - 16  16  AEAD tag
 *
 * AEAD: AES-256-GCM or ChaCha20-Poly1305 (BoringSSL EVP_AEAD), key of the
 * epoch, nonce = iv XOR (4 zero bytes || u64 counter), associated data = the
 * 16 header bytes. The plaintext is empty (a keepalive or path probe) or
 * exactly one IPv4 or IPv6 packet; its parsing is the caller's.
 *
 * A receiver keeps three epochs: the previous one (for ZT_EPOCH_GRACE_MS after
 * it was replaced, for datagrams still in flight), the current one and the
 * next one, precomputed. The header's 8-bit epoch picks among them (three
 * consecutive epochs differ in their low 8 bits); the first authenticated
 * datagram of the next epoch promotes it. So a sender rekeys on its own, with
 * no message, and loses no datagram to it, as long as it does not rekey twice
 * before the receiver has seen the first change. Each epoch has its own
 * replay window (replay.h), checked before the AEAD open and updated only
 * after it, so that neither replays nor forgeries cost more than one open
 * and neither moves any state. */
#ifndef ZTVPN_DGRAM_H
#define ZTVPN_DGRAM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/aead.h>

#include "dkeys.h"
#include "replay.h"

#define ZT_DGRAM_HDR 16
#define ZT_DGRAM_TAG 16
#define ZT_DGRAM_OVERHEAD (ZT_DGRAM_HDR + ZT_DGRAM_TAG)
#define ZT_DGRAM_TYPE_DATA 1

struct zt_dgram_hdr {
  uint8_t type, epoch;
  uint32_t index;
  uint64_t counter;
};

/* zt_dgram_parse_hdr parses the fixed header of |d| into |h|. Returns 1, or
 * 0 when |len| < ZT_DGRAM_OVERHEAD (no room for a tag), the type is not DATA
 * or the reserved field is not 0. */
int zt_dgram_parse_hdr(const uint8_t *d, size_t len, struct zt_dgram_hdr *h);

/* zt_dgram_peek_index reads the receiver index alone, to find the session
 * before anything else. Returns 1, or 0 when |len| < ZT_DGRAM_HDR. */
int zt_dgram_peek_index(const uint8_t *d, size_t len, uint32_t *index);

/* One direction, sending. zt_tx_seal may run on several threads at once for
 * one zt_tx (the counter is an atomic fetch-add; the rest is read-only), but
 * zt_tx_rekey and zt_tx_free need it to themselves. */
struct zt_tx {
  enum zt_aead_id aead;
  EVP_AEAD_CTX ctx;
  uint8_t iv[ZT_DATA_IV_LEN];
  uint8_t secret[ZT_DATA_SECRET_LEN]; /* of |epoch|: the ratchet's state */
  uint32_t epoch;
  _Atomic uint64_t counter; /* next counter to use */
  uint64_t epoch_started_ms;
  uint32_t peer_index; /* the receiver's index: goes into every header */
  int ready;
};

/* zt_tx_init sets up epoch 0 of direction |dir| from |master|, started at
 * |now_ms|. Returns 1, or 0 (|tx| then zero) for an unknown |aead|. */
int zt_tx_init(struct zt_tx *tx, enum zt_aead_id aead, const uint8_t master[ZT_DATA_SECRET_LEN],
               enum zt_dir dir, uint32_t peer_index, uint64_t now_ms);

/* zt_tx_seal seals in place: |d| holds ZT_DGRAM_HDR free bytes, then |plen|
 * plaintext bytes, then room for ZT_DGRAM_TAG. It takes the next counter,
 * writes the header and encrypts. Returns the datagram length (|plen| +
 * ZT_DGRAM_OVERHEAD), or 0 when the epoch is exhausted (counter >=
 * ZT_REJECT_AFTER_PACKETS: the caller must rekey; cannot happen if it rekeys
 * at zt_tx_should_rekey) or |tx| is not ready. */
size_t zt_tx_seal(struct zt_tx *tx, uint8_t *d, size_t plen);

/* zt_tx_should_rekey returns 1 when the counter has reached
 * ZT_REKEY_AFTER_PACKETS or the epoch is |interval_ms| old or older (0 = no
 * time limit), else 0. */
int zt_tx_should_rekey(const struct zt_tx *tx, uint64_t now_ms, uint64_t interval_ms);

/* zt_tx_rekey moves |tx| to the next epoch, counter 0, started at |now_ms|
 * (the ratchet: the old secret and key are wiped). Returns 1, or 0 when |tx|
 * is not ready or the epoch number would wrap (|tx| unchanged). */
int zt_tx_rekey(struct zt_tx *tx, uint64_t now_ms);

/* zt_tx_free wipes |tx|; safe on a zeroed or already freed one. */
void zt_tx_free(struct zt_tx *tx);

/* One epoch of a receiver. */
struct zt_rx_epoch {
  EVP_AEAD_CTX ctx;
  uint8_t iv[ZT_DATA_IV_LEN];
  uint32_t epoch;
  struct zt_replay replay;
  int ready;
};

/* One direction, receiving; used by one thread at a time. */
struct zt_rx {
  enum zt_aead_id aead;
  struct zt_rx_epoch prev, cur, next;
  uint8_t next_secret[ZT_DATA_SECRET_LEN]; /* secret of next.epoch, to ratchet on */
  uint64_t prev_until_ms;                  /* prev is accepted until then */
  uint32_t own_index;                      /* datagrams must carry it */
};

/* zt_rx_init sets up epoch 0 (current) and 1 (next) of direction |dir| from
 * |master|, for datagrams carrying |own_index|. Returns 1, or 0 (|rx| then
 * zero) for an unknown |aead|. */
int zt_rx_init(struct zt_rx *rx, enum zt_aead_id aead, const uint8_t master[ZT_DATA_SECRET_LEN],
               enum zt_dir dir, uint32_t own_index);

enum zt_open_result {
  ZT_OPEN_OK,
  ZT_OPEN_MALFORMED, /* short, not DATA, reserved bits set */
  ZT_OPEN_INDEX,     /* not this receiver's index */
  ZT_OPEN_EPOCH,     /* no key for its epoch, or counter beyond the limit */
  ZT_OPEN_REPLAY,    /* seen before, or older than the window */
  ZT_OPEN_AUTH,      /* the AEAD open failed: forged, corrupted, wrong key */
};

/* zt_rx_open opens |d| (|len| bytes) in place. On ZT_OPEN_OK, |*payload|
 * points into |d| at the plaintext (ZT_DGRAM_HDR bytes in), |*plen| is its
 * length (0 = keepalive), and |*counter| and |*promoted| (1 when this
 * datagram moved |rx| to a new epoch, else 0) are set. The checks, in order:
 * header parse (MALFORMED), index (INDEX), epoch among prev (before
 * prev_until_ms), cur and next (EPOCH), counter >= ZT_REJECT_AFTER_PACKETS
 * (EPOCH), replay check (REPLAY), AEAD open (AUTH), replay update (REPLAY),
 * then promotion. Nothing in |rx| changes unless the result is OK; the bytes
 * of |d| past the header are unspecified after AUTH. An OK open after the
 * grace period also wipes the previous epoch. */
enum zt_open_result zt_rx_open(struct zt_rx *rx, uint8_t *d, size_t len, uint64_t now_ms,
                               uint8_t **payload, size_t *plen, uint64_t *counter,
                               int *promoted);

/* zt_open_result_name names |r| as the drop-reason label of the metrics:
 * "ok", "malformed", "unknown-index", "epoch", "replay", "auth". */
const char *zt_open_result_name(enum zt_open_result r);

/* zt_rx_free wipes |rx|; safe on a zeroed or already freed one. */
void zt_rx_free(struct zt_rx *rx);

#endif

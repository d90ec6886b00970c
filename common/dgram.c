#include "dgram.h"

#include <string.h>

#include <openssl/bytestring.h>
#include <openssl/err.h>
#include <openssl/mem.h>

#ifndef OPENSSL_IS_BORINGSSL
#error "ztvpn needs BoringSSL"
#endif

/* ---- framing -------------------------------------------------------------- */

int zt_dgram_parse_hdr(const uint8_t *d, size_t len, struct zt_dgram_hdr *h) {
  CBS cbs;
  uint16_t reserved;
  if (len < ZT_DGRAM_OVERHEAD) return 0;
  CBS_init(&cbs, d, len);
  if (!CBS_get_u8(&cbs, &h->type) || !CBS_get_u8(&cbs, &h->epoch) ||
      !CBS_get_u16(&cbs, &reserved) || !CBS_get_u32(&cbs, &h->index) ||
      !CBS_get_u64(&cbs, &h->counter))
    return 0;
  return h->type == ZT_DGRAM_TYPE_DATA && reserved == 0;
}

int zt_dgram_peek_index(const uint8_t *d, size_t len, uint32_t *index) {
  CBS cbs;
  CBS_init(&cbs, d, len < ZT_DGRAM_HDR ? 0 : len);
  return CBS_skip(&cbs, 4) && CBS_get_u32(&cbs, index);
}

static int write_hdr(uint8_t *d, uint8_t epoch, uint32_t index, uint64_t counter) {
  CBB cbb;
  size_t len;
  return CBB_init_fixed(&cbb, d, ZT_DGRAM_HDR) && CBB_add_u8(&cbb, ZT_DGRAM_TYPE_DATA) &&
         CBB_add_u8(&cbb, epoch) && CBB_add_u16(&cbb, 0) && CBB_add_u32(&cbb, index) &&
         CBB_add_u64(&cbb, counter) && CBB_finish(&cbb, NULL, &len) && len == ZT_DGRAM_HDR;
}

/* TLS 1.3's per-record nonce: the IV with the counter XORed into its end. */
static void make_nonce(const uint8_t iv[ZT_DATA_IV_LEN], uint64_t counter,
                       uint8_t nonce[ZT_DATA_IV_LEN]) {
  memcpy(nonce, iv, ZT_DATA_IV_LEN);
  for (int i = 0; i < 8; i++) nonce[ZT_DATA_IV_LEN - 1 - i] ^= (uint8_t)(counter >> (8 * i));
}

/* The AEAD context and IV of epoch |epoch| from its secret. */
static int epoch_keys(enum zt_aead_id aead, const uint8_t secret[ZT_DATA_SECRET_LEN],
                      uint32_t epoch, EVP_AEAD_CTX *ctx, uint8_t iv[ZT_DATA_IV_LEN]) {
  uint8_t key[ZT_DATA_KEY_LEN];
  const EVP_AEAD *evp = zt_aead_evp(aead);
  zt_dkeys_expand(secret, epoch, key, iv);
  int ok = evp && EVP_AEAD_CTX_init(ctx, evp, key, sizeof(key), ZT_DGRAM_TAG, NULL);
  OPENSSL_cleanse(key, sizeof(key));
  if (!ok) {
    OPENSSL_cleanse(iv, ZT_DATA_IV_LEN);
    ERR_clear_error();
  }
  return ok;
}

/* ---- sending ------------------------------------------------------------- */

int zt_tx_init(struct zt_tx *tx, enum zt_aead_id aead, const uint8_t master[ZT_DATA_SECRET_LEN],
               enum zt_dir dir, uint32_t peer_index, uint64_t now_ms) {
  memset(tx, 0, sizeof(*tx));
  tx->aead = aead;
  zt_dkeys_epoch0(master, dir, tx->secret);
  if (!epoch_keys(aead, tx->secret, 0, &tx->ctx, tx->iv)) {
    OPENSSL_cleanse(tx, sizeof(*tx));
    return 0;
  }
  atomic_init(&tx->counter, 0);
  tx->epoch_started_ms = now_ms;
  tx->peer_index = peer_index;
  tx->ready = 1;
  return 1;
}

size_t zt_tx_seal(struct zt_tx *tx, uint8_t *d, size_t plen) {
  uint8_t nonce[ZT_DATA_IV_LEN];
  size_t out_len;
  if (!tx->ready) return 0;
  uint64_t counter = atomic_fetch_add_explicit(&tx->counter, 1, memory_order_relaxed);
  if (counter >= ZT_REJECT_AFTER_PACKETS) return 0;
  if (!write_hdr(d, (uint8_t)tx->epoch, tx->peer_index, counter)) return 0;
  make_nonce(tx->iv, counter, nonce);
  if (!EVP_AEAD_CTX_seal(&tx->ctx, d + ZT_DGRAM_HDR, &out_len, plen + ZT_DGRAM_TAG, nonce,
                         sizeof(nonce), d + ZT_DGRAM_HDR, plen, d, ZT_DGRAM_HDR)) {
    ERR_clear_error();
    return 0;
  }
  return ZT_DGRAM_HDR + out_len;
}

int zt_tx_should_rekey(const struct zt_tx *tx, uint64_t now_ms, uint64_t interval_ms) {
  if (atomic_load_explicit(&tx->counter, memory_order_relaxed) >= ZT_REKEY_AFTER_PACKETS)
    return 1;
  return interval_ms > 0 && now_ms >= tx->epoch_started_ms &&
         now_ms - tx->epoch_started_ms >= interval_ms;
}

int zt_tx_rekey(struct zt_tx *tx, uint64_t now_ms) {
  uint8_t secret[ZT_DATA_SECRET_LEN], iv[ZT_DATA_IV_LEN];
  EVP_AEAD_CTX ctx;
  if (!tx->ready || tx->epoch == UINT32_MAX) return 0;
  uint32_t epoch = tx->epoch + 1;
  zt_dkeys_next(tx->secret, tx->epoch, secret);
  if (!epoch_keys(tx->aead, secret, epoch, &ctx, iv)) {
    OPENSSL_cleanse(secret, sizeof(secret));
    return 0;
  }
  EVP_AEAD_CTX_cleanup(&tx->ctx);
  tx->ctx = ctx;
  memcpy(tx->secret, secret, sizeof(secret));
  memcpy(tx->iv, iv, sizeof(iv));
  tx->epoch = epoch;
  atomic_store_explicit(&tx->counter, 0, memory_order_relaxed);
  tx->epoch_started_ms = now_ms;
  OPENSSL_cleanse(secret, sizeof(secret));
  OPENSSL_cleanse(iv, sizeof(iv));
  OPENSSL_cleanse(&ctx, sizeof(ctx));
  return 1;
}

void zt_tx_free(struct zt_tx *tx) {
  if (tx->ready) EVP_AEAD_CTX_cleanup(&tx->ctx);
  OPENSSL_cleanse(tx, sizeof(*tx));
}

/* ---- receiving ----------------------------------------------------------- */

static int rx_epoch_init(struct zt_rx_epoch *e, enum zt_aead_id aead,
                         const uint8_t secret[ZT_DATA_SECRET_LEN], uint32_t epoch) {
  memset(e, 0, sizeof(*e));
  if (!epoch_keys(aead, secret, epoch, &e->ctx, e->iv)) return 0;
  e->epoch = epoch;
  zt_replay_init(&e->replay);
  e->ready = 1;
  return 1;
}

static void rx_epoch_wipe(struct zt_rx_epoch *e) {
  if (e->ready) EVP_AEAD_CTX_cleanup(&e->ctx);
  OPENSSL_cleanse(e, sizeof(*e));
}

/* Sets up the epoch after cur as next, from next_secret (the secret of
 * cur.epoch on entry), ratcheting next_secret forward. */
static int rx_precompute_next(struct zt_rx *rx) {
  if (rx->cur.epoch == UINT32_MAX) { /* no epoch after it: nothing to promote to */
    OPENSSL_cleanse(rx->next_secret, sizeof(rx->next_secret));
    return 1;
  }
  zt_dkeys_next(rx->next_secret, rx->cur.epoch, rx->next_secret);
  return rx_epoch_init(&rx->next, rx->aead, rx->next_secret, rx->cur.epoch + 1);
}

int zt_rx_init(struct zt_rx *rx, enum zt_aead_id aead, const uint8_t master[ZT_DATA_SECRET_LEN],
               enum zt_dir dir, uint32_t own_index) {
  memset(rx, 0, sizeof(*rx));
  rx->aead = aead;
  rx->own_index = own_index;
  zt_dkeys_epoch0(master, dir, rx->next_secret);
  if (!rx_epoch_init(&rx->cur, aead, rx->next_secret, 0) || !rx_precompute_next(rx)) {
    zt_rx_free(rx);
    return 0;
  }
  return 1;
}

/* prev := cur, cur := next, a new next; what falls out is wiped. The
 * contexts move by copy: BoringSSL keeps an EVP_AEAD_CTX's state inline and
 * free of pointers into itself. */
static void rx_promote(struct zt_rx *rx, uint64_t now_ms) {
  rx_epoch_wipe(&rx->prev);
  rx->prev = rx->cur;
  rx->cur = rx->next;
  OPENSSL_cleanse(&rx->next, sizeof(rx->next));
  rx->prev_until_ms = now_ms + ZT_EPOCH_GRACE_MS;
  /* Cannot fail short of a broken library; rx then merely refuses the
   * epoch after this one (EPOCH drops), which the session survives only by
   * re-authenticating. */
  if (!rx_precompute_next(rx)) rx_epoch_wipe(&rx->next);
}

static struct zt_rx_epoch *rx_find_epoch(struct zt_rx *rx, uint8_t epoch, uint64_t now_ms) {
  if (rx->cur.ready && (uint8_t)rx->cur.epoch == epoch) return &rx->cur;
  if (rx->next.ready && (uint8_t)rx->next.epoch == epoch) return &rx->next;
  if (rx->prev.ready && now_ms < rx->prev_until_ms && (uint8_t)rx->prev.epoch == epoch)
    return &rx->prev;
  return NULL;
}

enum zt_open_result zt_rx_open(struct zt_rx *rx, uint8_t *d, size_t len, uint64_t now_ms,
                               uint8_t **payload, size_t *plen, uint64_t *counter,
                               int *promoted) {
  struct zt_dgram_hdr h;
  uint8_t nonce[ZT_DATA_IV_LEN];
  size_t out_len;

  if (!zt_dgram_parse_hdr(d, len, &h)) return ZT_OPEN_MALFORMED;
  if (h.index != rx->own_index) return ZT_OPEN_INDEX;
  struct zt_rx_epoch *e = rx_find_epoch(rx, h.epoch, now_ms);
  if (!e || h.counter >= ZT_REJECT_AFTER_PACKETS) return ZT_OPEN_EPOCH;
  if (!zt_replay_check(&e->replay, h.counter)) return ZT_OPEN_REPLAY;
  make_nonce(e->iv, h.counter, nonce);
  if (!EVP_AEAD_CTX_open(&e->ctx, d + ZT_DGRAM_HDR, &out_len, len - ZT_DGRAM_HDR, nonce,
                         sizeof(nonce), d + ZT_DGRAM_HDR, len - ZT_DGRAM_HDR, d,
                         ZT_DGRAM_HDR)) {
    ERR_clear_error();
    return ZT_OPEN_AUTH;
  }
  if (!zt_replay_update(&e->replay, h.counter)) return ZT_OPEN_REPLAY;

  *promoted = 0;
  if (e == &rx->next) {
    rx_promote(rx, now_ms);
    *promoted = 1;
  } else if (rx->prev.ready && now_ms >= rx->prev_until_ms) {
    rx_epoch_wipe(&rx->prev);
  }
  *payload = d + ZT_DGRAM_HDR;
  *plen = out_len;
  *counter = h.counter;
  return ZT_OPEN_OK;
}

const char *zt_open_result_name(enum zt_open_result r) {
  switch (r) {
    case ZT_OPEN_OK: return "ok";
    case ZT_OPEN_MALFORMED: return "malformed";
    case ZT_OPEN_INDEX: return "unknown-index";
    case ZT_OPEN_EPOCH: return "epoch";
    case ZT_OPEN_REPLAY: return "replay";
    case ZT_OPEN_AUTH: return "auth";
  }
  return "unknown";
}

void zt_rx_free(struct zt_rx *rx) {
  rx_epoch_wipe(&rx->prev);
  rx_epoch_wipe(&rx->cur);
  rx_epoch_wipe(&rx->next);
  OPENSSL_cleanse(rx, sizeof(*rx));
}

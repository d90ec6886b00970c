/* Datagrams of the UDP data channel (common/dgram.h) against receivers in a
 * few states, all keyed from one fixed master secret (00 01 .. 1f, the one
 * fuzz/mkcorpus.py seals its seeds with).
 *
 * Input: one selector byte, then a datagram. The selector picks the cipher
 * (bit 0), the direction (bit 1) and the receiver's state (bits 2-3): fresh;
 * after counters 0-2 of epoch 0; promoted to epoch 1 with epoch 0 in its
 * grace period; the same after the grace period. Checked:
 * - the header parser and the index peek agree with the raw bytes;
 * - a refused datagram leaves the receiver unchanged to the byte, and its
 *   reason fits the bytes; an accepted one is the right length, at the right
 *   place, and refused as a replay the second time;
 * - the input's bytes sealed as a plaintext by the matching sender open to
 *   the same bytes, and with one bit flipped do not open. */
#include <string.h>

#include "dgram.h"
#include "dkeys.h"
#include "fuzz.h"

#define OWN_INDEX 0x0a0b0c0du
#define NOW 1000000u
#define MAX_PLAIN 2048

static uint8_t master[ZT_DATA_SECRET_LEN];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  for (int i = 0; i < ZT_DATA_SECRET_LEN; i++) master[i] = (uint8_t)i;
  return 0;
}

/* Seals |plen| bytes of |fill| through |tx| and opens them with |rx|. */
static void deliver(struct zt_tx *tx, struct zt_rx *rx, size_t plen, uint64_t now) {
  uint8_t b[ZT_DGRAM_OVERHEAD + 64], *pl;
  size_t n;
  uint64_t ctr;
  int promoted;
  FUZZ_CHECK(plen <= 64);
  memset(b + ZT_DGRAM_HDR, 0x45, plen);
  size_t len = zt_tx_seal(tx, b, plen);
  FUZZ_CHECK(len == plen + ZT_DGRAM_OVERHEAD);
  FUZZ_CHECK(zt_rx_open(rx, b, len, now, &pl, &n, &ctr, &promoted) == ZT_OPEN_OK);
}

/* The sender and receiver of state |sel|, and the time to open at. */
static uint64_t make_state(uint8_t sel, struct zt_tx *tx, struct zt_rx *rx) {
  enum zt_aead_id aead = (sel & 1) ? ZT_AEAD_CHACHA20POLY1305 : ZT_AEAD_AES256GCM;
  enum zt_dir dir = (sel & 2) ? ZT_DIR_S2C : ZT_DIR_C2S;
  int state = (sel >> 2) & 3;
  FUZZ_CHECK(zt_tx_init(tx, aead, master, dir, OWN_INDEX, NOW));
  FUZZ_CHECK(zt_rx_init(rx, aead, master, dir, OWN_INDEX));
  if (state == 0) return NOW;
  for (int i = 0; i < (state == 1 ? 3 : 2); i++) deliver(tx, rx, (size_t)i * 20, NOW);
  if (state == 1) return NOW;
  FUZZ_CHECK(zt_tx_rekey(tx, NOW));
  deliver(tx, rx, 0, NOW); /* promotes: epoch 0 accepted until NOW + grace */
  return state == 2 ? NOW : NOW + ZT_EPOCH_GRACE_MS;
}

static void check_open(uint8_t sel, const uint8_t *d, size_t len) {
  static uint8_t buf[70000];
  static struct zt_rx before;
  struct zt_tx tx;
  struct zt_rx rx;
  struct zt_dgram_hdr h;
  uint8_t *pl = NULL;
  size_t plen = 0;
  uint64_t ctr = 0;
  int promoted = -1;
  if (len > sizeof(buf)) return;

  uint64_t now = make_state(sel, &tx, &rx);
  int parsed = zt_dgram_parse_hdr(d, len, &h);
  before = rx;
  memcpy(buf, d, len);
  enum zt_open_result r = zt_rx_open(&rx, buf, len, now, &pl, &plen, &ctr, &promoted);
  FUZZ_CHECK(zt_open_result_name(r) != NULL);
  FUZZ_CHECK((r == ZT_OPEN_MALFORMED) == !parsed);
  if (r == ZT_OPEN_INDEX) FUZZ_CHECK(h.index != OWN_INDEX);
  if (r != ZT_OPEN_OK) {
    FUZZ_CHECK(memcmp(&before, &rx, sizeof(rx)) == 0);
  } else {
    FUZZ_CHECK(parsed && h.index == OWN_INDEX && h.counter == ctr);
    FUZZ_CHECK(h.counter < ZT_REJECT_AFTER_PACKETS);
    FUZZ_CHECK(pl == buf + ZT_DGRAM_HDR && plen == len - ZT_DGRAM_OVERHEAD);
    FUZZ_CHECK(promoted == (h.epoch == (uint8_t)before.next.epoch));
    memcpy(buf, d, len);
    FUZZ_CHECK(zt_rx_open(&rx, buf, len, now, &pl, &plen, &ctr, &promoted) == ZT_OPEN_REPLAY);
  }
  zt_tx_free(&tx);
  zt_rx_free(&rx);
}

/* The input as a plaintext, through the sender of state |sel| to its
 * receiver; then once more with one bit flipped. */
static void check_roundtrip(uint8_t sel, const uint8_t *p, size_t n) {
  static uint8_t buf[MAX_PLAIN + ZT_DGRAM_OVERHEAD], copy[sizeof(buf)];
  struct zt_tx tx;
  struct zt_rx rx;
  uint8_t *pl;
  size_t plen;
  uint64_t ctr;
  int promoted;
  if (n > MAX_PLAIN) n = MAX_PLAIN;

  uint64_t now = make_state(sel, &tx, &rx);
  uint64_t want_ctr = atomic_load(&tx.counter);
  memcpy(buf + ZT_DGRAM_HDR, p, n);
  size_t len = zt_tx_seal(&tx, buf, n);
  FUZZ_CHECK(len == n + ZT_DGRAM_OVERHEAD);
  memcpy(copy, buf, len);
  FUZZ_CHECK(zt_rx_open(&rx, buf, len, now, &pl, &plen, &ctr, &promoted) == ZT_OPEN_OK);
  FUZZ_CHECK(plen == n && (n == 0 || memcmp(pl, p, n) == 0));
  FUZZ_CHECK(ctr == want_ctr && promoted == 0);

  memcpy(buf, copy, len);
  size_t bit = (n ? p[0] * 256u + p[n - 1] : 0) % (len * 8);
  buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
  FUZZ_CHECK(zt_rx_open(&rx, buf, len, now, &pl, &plen, &ctr, &promoted) != ZT_OPEN_OK);
  zt_tx_free(&tx);
  zt_rx_free(&rx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  uint8_t sel = data[0];
  const uint8_t *d = data + 1;
  size_t len = size - 1;

  struct zt_dgram_hdr h;
  uint32_t index;
  int parsed = zt_dgram_parse_hdr(d, len, &h);
  FUZZ_CHECK(parsed == (len >= ZT_DGRAM_OVERHEAD && d[0] == ZT_DGRAM_TYPE_DATA && d[2] == 0 &&
                        d[3] == 0));
  int peeked = zt_dgram_peek_index(d, len, &index);
  FUZZ_CHECK(peeked == (len >= ZT_DGRAM_HDR));
  if (parsed) {
    FUZZ_CHECK(h.type == d[0] && h.epoch == d[1] && h.index == index);
    uint64_t c = 0;
    for (int i = 8; i < 16; i++) c = c << 8 | d[i];
    FUZZ_CHECK(h.counter == c);
  }

  check_open(sel, d, len);
  check_roundtrip(sel, d, len);
  return 0;
}

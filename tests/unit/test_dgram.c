/* dgram: sealing and opening datagrams. Round trips for both ciphers and
 * every length up to 1500 (and 9000); the header bytes; a known answer made
 * independently; truncations and every single-bit flip refused; wrong
 * index, replays, reordering; epoch changeover with interleaved epochs and
 * its grace period; the counter limits; rekey triggers; and that a refused
 * datagram changes nothing in the receiver. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/aead.h>

#include "dgram.h"
#include "dkeys.h"

#define INDEX 0x0a0b0c0du
#define NOW 1000000u
#define MAXLEN 9000

static const enum zt_aead_id ciphers[] = {ZT_AEAD_AES256GCM, ZT_AEAD_CHACHA20POLY1305};
#define NCIPHERS 2

static void fixed_master(uint8_t m[ZT_DATA_SECRET_LEN]) {
  for (int i = 0; i < ZT_DATA_SECRET_LEN; i++) m[i] = (uint8_t)i;
}

static void unhex(const char *hex, uint8_t *out, size_t len) {
  assert_int_equal(strlen(hex), 2 * len);
  for (size_t i = 0; i < len; i++) {
    unsigned v;
    assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
    out[i] = (uint8_t)v;
  }
}

/* A sender and its receiver for one direction. */
struct chan {
  struct zt_tx tx;
  struct zt_rx rx;
};

static void chan_open(struct chan *c, enum zt_aead_id id) {
  uint8_t m[32];
  fixed_master(m);
  assert_int_equal(zt_tx_init(&c->tx, id, m, ZT_DIR_C2S, INDEX, NOW), 1);
  assert_int_equal(zt_rx_init(&c->rx, id, m, ZT_DIR_C2S, INDEX), 1);
}

static void chan_close(struct chan *c) {
  zt_tx_free(&c->tx);
  zt_rx_free(&c->rx);
}

/* A sealed datagram kept aside (opening works in place, so each delivery
 * opens a copy). */
struct dg {
  uint8_t b[MAXLEN + ZT_DGRAM_OVERHEAD];
  size_t len;
  uint64_t counter;
  uint32_t epoch;
};

static void fill(uint8_t *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 8));
}

static void seal(struct zt_tx *tx, struct dg *d, size_t plen, unsigned seed) {
  fill(d->b + ZT_DGRAM_HDR, plen, seed);
  d->counter = atomic_load(&tx->counter);
  d->epoch = tx->epoch;
  d->len = zt_tx_seal(tx, d->b, plen);
  assert_int_equal(d->len, plen + ZT_DGRAM_OVERHEAD);
}

struct opened {
  enum zt_open_result r;
  uint8_t *payload;
  size_t plen;
  uint64_t counter;
  int promoted;
};

/* Opens a copy of |d| (first |len| bytes) into |copy|. */
static struct opened open_copy(struct zt_rx *rx, const struct dg *d, size_t len, uint64_t now,
                               struct dg *copy) {
  struct opened o = {.promoted = -1};
  memcpy(copy->b, d->b, len);
  o.r = zt_rx_open(rx, copy->b, len, now, &o.payload, &o.plen, &o.counter, &o.promoted);
  return o;
}

/* Opens |d| and requires OK with its plaintext (made by fill(seed)). */
static int open_ok(struct zt_rx *rx, const struct dg *d, uint64_t now, unsigned seed) {
  static struct dg copy;
  static uint8_t want[MAXLEN];
  struct opened o = open_copy(rx, d, d->len, now, &copy);
  if (o.r != ZT_OPEN_OK)
    fail_msg("epoch %u counter %llu: %s", d->epoch, (unsigned long long)d->counter,
             zt_open_result_name(o.r));
  assert_ptr_equal(o.payload, copy.b + ZT_DGRAM_HDR);
  assert_int_equal(o.plen, d->len - ZT_DGRAM_OVERHEAD);
  assert_int_equal(o.counter, d->counter);
  fill(want, o.plen, seed);
  assert_memory_equal(o.payload, want, o.plen);
  return o.promoted;
}

/* Opens |d| (|len| bytes) and requires a refusal that leaves |rx| as it was
 * to the byte. Returns the result. */
static enum zt_open_result open_refused(struct zt_rx *rx, const struct dg *d, size_t len,
                                        uint64_t now) {
  static struct dg copy;
  static struct zt_rx before;
  before = *rx;
  struct opened o = open_copy(rx, d, len, now, &copy);
  assert_int_not_equal(o.r, ZT_OPEN_OK);
  assert_memory_equal(&before, rx, sizeof(before));
  return o.r;
}

static struct dg d1, d2;

/* ---- framing ------------------------------------------------------------------ */

static void test_header_layout(void **state) {
  struct chan c;
  for (int k = 0; k < NCIPHERS; k++) {
    chan_open(&c, ciphers[k]);
    atomic_store(&c.tx.counter, 0x01234567);
    seal(&c.tx, &d1, 3, 1);
    static const uint8_t want[ZT_DGRAM_HDR] = {1, 0, 0, 0, 0x0a, 0x0b, 0x0c, 0x0d,
                                               0, 0, 0, 0, 0x01, 0x23, 0x45, 0x67};
    assert_memory_equal(d1.b, want, ZT_DGRAM_HDR);
    for (int e = 1; e <= 257; e++) assert_int_equal(zt_tx_rekey(&c.tx, NOW), 1);
    seal(&c.tx, &d1, 0, 1);
    assert_int_equal(d1.b[1], 257 & 0xff); /* the low 8 bits of the epoch */
    assert_int_equal(d1.len, ZT_DGRAM_OVERHEAD);

    struct zt_dgram_hdr h;
    uint32_t index;
    assert_int_equal(zt_dgram_parse_hdr(d1.b, d1.len, &h), 1);
    assert_int_equal(h.type, ZT_DGRAM_TYPE_DATA);
    assert_int_equal(h.epoch, 1);
    assert_int_equal(h.index, INDEX);
    assert_int_equal(h.counter, 0);
    assert_int_equal(zt_dgram_peek_index(d1.b, d1.len, &index), 1);
    assert_int_equal(index, INDEX);
    chan_close(&c);
  }
}

static void test_parse_hdr(void **state) {
  uint8_t b[ZT_DGRAM_OVERHEAD] = {1, 7, 0, 0, 0xde, 0xad, 0xbe, 0xef, 0xff, 0xfe, 0xfd, 0xfc,
                                  0xfb, 0xfa, 0xf9, 0xf8};
  struct zt_dgram_hdr h;
  uint32_t index;
  assert_int_equal(zt_dgram_parse_hdr(b, sizeof(b), &h), 1);
  assert_int_equal(h.epoch, 7);
  assert_int_equal(h.index, 0xdeadbeef);
  assert_true(h.counter == UINT64_C(0xfffefdfcfbfaf9f8));
  assert_int_equal(zt_dgram_parse_hdr(b, sizeof(b) - 1, &h), 0); /* no room for a tag */
  assert_int_equal(zt_dgram_peek_index(b, ZT_DGRAM_HDR, &index), 1);
  assert_int_equal(index, 0xdeadbeef);
  assert_int_equal(zt_dgram_peek_index(b, ZT_DGRAM_HDR - 1, &index), 0);
  assert_int_equal(zt_dgram_peek_index(b, 0, &index), 0);
  for (int t = 0; t < 256; t++) {
    b[0] = (uint8_t)t;
    assert_int_equal(zt_dgram_parse_hdr(b, sizeof(b), &h), t == ZT_DGRAM_TYPE_DATA);
  }
  b[0] = 1;
  for (int bit = 0; bit < 16; bit++) {
    b[2 + bit / 8] = (uint8_t)(1u << (bit % 8));
    assert_int_equal(zt_dgram_parse_hdr(b, sizeof(b), &h), 0);
    b[2] = b[3] = 0;
  }
  assert_int_equal(zt_open_result_name(ZT_OPEN_OK)[0], 'o');
  assert_string_equal(zt_open_result_name(ZT_OPEN_MALFORMED), "malformed");
  assert_string_equal(zt_open_result_name(ZT_OPEN_INDEX), "unknown-index");
  assert_string_equal(zt_open_result_name(ZT_OPEN_EPOCH), "epoch");
  assert_string_equal(zt_open_result_name(ZT_OPEN_REPLAY), "replay");
  assert_string_equal(zt_open_result_name(ZT_OPEN_AUTH), "auth");
}

/* Made independently with Python (hmac/hashlib HKDF-Expand and the
 * 'cryptography' package's AESGCM and ChaCha20Poly1305) from master 00..1f:
 * direction c2s, epoch 1, index 0a0b0c0d, counter 0x01020304, plaintext
 * "ztvpn datagram known answer", nonce = iv_1 XOR (0^4 || counter), AAD =
 * the header. */
static void test_known_answer(void **state) {
  static const char *const want_hex[NCIPHERS] = {
      "010100000a0b0c0d0000000001020304efc5f2e8bc1143af6ed81d52445a8e419d202353dfa95519"
      "655ff0b5a783f1fd913e8da522e348ce52dc03",
      "010100000a0b0c0d00000000010203046268955239829bfe183c0b5e6cc4b921c09181373487d323"
      "4ffe7195c2b4a281e9e3a8c7922967fa550e55",
  };
  static const char pt[] = "ztvpn datagram known answer";
  const size_t plen = sizeof(pt) - 1, len = plen + ZT_DGRAM_OVERHEAD;
  uint8_t want[64], b[64];
  struct chan c;
  for (int k = 0; k < NCIPHERS; k++) {
    chan_open(&c, ciphers[k]);
    unhex(want_hex[k], want, len);
    assert_int_equal(zt_tx_rekey(&c.tx, NOW), 1);
    atomic_store(&c.tx.counter, 0x01020304);
    memcpy(b + ZT_DGRAM_HDR, pt, plen);
    assert_int_equal(zt_tx_seal(&c.tx, b, plen), len);
    assert_memory_equal(b, want, len);
    uint8_t *pl;
    size_t n;
    uint64_t ctr;
    int promoted;
    memcpy(b, want, len);
    assert_int_equal(zt_rx_open(&c.rx, b, len, NOW, &pl, &n, &ctr, &promoted), ZT_OPEN_OK);
    assert_int_equal(n, plen);
    assert_memory_equal(pl, pt, plen);
    assert_int_equal(ctr, 0x01020304);
    assert_int_equal(promoted, 1);
    chan_close(&c);
  }
}

/* ---- round trips -------------------------------------------------------------------- */

static void test_roundtrip_lengths(void **state) {
  struct chan c;
  for (int k = 0; k < NCIPHERS; k++) {
    chan_open(&c, ciphers[k]);
    for (size_t n = 0; n <= 1501; n++) {
      size_t plen = n == 1501 ? 9000 : n;
      seal(&c.tx, &d1, plen, (unsigned)n);
      assert_int_equal(d1.b[0], 1);
      assert_int_equal(open_ok(&c.rx, &d1, NOW, (unsigned)n), 0);
    }
    assert_int_equal(atomic_load(&c.tx.counter), 1502);
    chan_close(&c);
  }
}

static void test_truncations(void **state) {
  struct chan c;
  for (int k = 0; k < NCIPHERS; k++) {
    chan_open(&c, ciphers[k]);
    seal(&c.tx, &d1, 100, 3);
    for (size_t len = 0; len < d1.len; len++) {
      enum zt_open_result r = open_refused(&c.rx, &d1, len, NOW);
      assert_int_equal(r, len < ZT_DGRAM_OVERHEAD ? ZT_OPEN_MALFORMED : ZT_OPEN_AUTH);
    }
    open_ok(&c.rx, &d1, NOW, 3); /* the whole one still opens */
    chan_close(&c);
  }
}

static void test_bit_flips(void **state) {
  struct chan c;
  int seen[6] = {0};
  for (int k = 0; k < NCIPHERS; k++) {
    chan_open(&c, ciphers[k]);
    seal(&c.tx, &d1, 40, 4);
    for (size_t bit = 0; bit < d1.len * 8; bit++) {
      d2 = d1;
      d2.b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
      seen[open_refused(&c.rx, &d2, d2.len, NOW)]++;
    }
    open_ok(&c.rx, &d1, NOW, 4); /* no forgery moved the window */
    chan_close(&c);
  }
  /* the flips met each check on the way */
  assert_true(seen[ZT_OPEN_MALFORMED] > 0);
  assert_true(seen[ZT_OPEN_INDEX] > 0);
  assert_true(seen[ZT_OPEN_EPOCH] > 0);
  assert_true(seen[ZT_OPEN_AUTH] > 0);
}

static void test_wrong_index(void **state) {
  struct chan c;
  chan_open(&c, ZT_AEAD_AES256GCM);
  c.tx.peer_index = INDEX + 1;
  seal(&c.tx, &d1, 10, 5);
  assert_int_equal(open_refused(&c.rx, &d1, d1.len, NOW), ZT_OPEN_INDEX);
  chan_close(&c);
}

static void test_replay_and_reorder(void **state) {
  enum { N = 600 };
  static struct dg all[N];
  static int order[N];
  struct chan c;
  for (int k = 0; k < NCIPHERS; k++) {
    chan_open(&c, ciphers[k]);
    for (int i = 0; i < N; i++) {
      seal(&c.tx, &all[i], (size_t)(i % 97), (unsigned)i);
      order[i] = i;
    }
    srand(42 + k);
    for (int i = N - 1; i > 0; i--) { /* shuffle: all within the window */
      int j = rand() % (i + 1), t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    for (int i = 0; i < N; i++) {
      open_ok(&c.rx, &all[order[i]], NOW, (unsigned)order[i]);
      int r = order[(i * 7) % (i + 1)]; /* one already delivered */
      assert_int_equal(open_refused(&c.rx, &all[r], all[r].len, NOW), ZT_OPEN_REPLAY);
    }
    for (int i = 0; i < N; i++)
      assert_int_equal(open_refused(&c.rx, &all[i], all[i].len, NOW), ZT_OPEN_REPLAY);
    chan_close(&c);
  }
}

/* A datagram older than the window is refused although authentic and
 * never seen; one just inside is accepted. */
static void test_too_old(void **state) {
  struct chan c;
  chan_open(&c, ZT_AEAD_CHACHA20POLY1305);
  seal(&c.tx, &d1, 20, 6); /* counter 0 */
  atomic_store(&c.tx.counter, ZT_REPLAY_WINDOW - 1);
  seal(&c.tx, &d2, 20, 7);
  open_ok(&c.rx, &d2, NOW, 7);
  open_ok(&c.rx, &d1, NOW, 6); /* W - 1 below the highest: inside */
  atomic_store(&c.tx.counter, ZT_REPLAY_WINDOW + 1);
  seal(&c.tx, &d2, 20, 8);
  open_ok(&c.rx, &d2, NOW, 8);
  atomic_store(&c.tx.counter, 1);
  seal(&c.tx, &d1, 20, 9); /* counter 1: W below the highest, outside */
  assert_int_equal(open_refused(&c.rx, &d1, d1.len, NOW), ZT_OPEN_REPLAY);
  seal(&c.tx, &d1, 20, 10); /* counter 2: inside */
  open_ok(&c.rx, &d1, NOW, 10);
  chan_close(&c);
}

/* ---- epochs ------------------------------------------------------------------------ */

/* The sender rekeys mid-stream; datagrams of both epochs arrive interleaved
 * (some of the old after the first of the new); each is accepted exactly
 * once, and the receiver promotes exactly once. Then many epochs, past the
 * 8-bit wrap of the header's epoch. */
static void test_epoch_changeover(void **state) {
  enum { PER = 50 };
  static struct dg old[PER], new[PER];
  struct chan c;
  for (int k = 0; k < NCIPHERS; k++) {
    chan_open(&c, ciphers[k]);
    for (int i = 0; i < PER; i++) seal(&c.tx, &old[i], 60, (unsigned)i);
    assert_int_equal(zt_tx_rekey(&c.tx, NOW), 1);
    assert_int_equal(atomic_load(&c.tx.counter), 0);
    for (int i = 0; i < PER; i++) seal(&c.tx, &new[i], 60, 1000u + (unsigned)i);
    int promotions = 0;
    for (int i = 0; i < PER; i++) {
      /* old i, new i (reversed order for odd i) */
      if (i % 2) {
        promotions += open_ok(&c.rx, &new[i], NOW + (uint64_t)i, 1000u + (unsigned)i);
        promotions += open_ok(&c.rx, &old[i], NOW + (uint64_t)i, (unsigned)i);
      } else {
        promotions += open_ok(&c.rx, &old[i], NOW + (uint64_t)i, (unsigned)i);
        promotions += open_ok(&c.rx, &new[i], NOW + (uint64_t)i, 1000u + (unsigned)i);
      }
    }
    assert_int_equal(promotions, 1);
    assert_int_equal(c.rx.cur.epoch, 1);
    assert_int_equal(c.rx.prev.epoch, 0);
    assert_int_equal(c.rx.next.epoch, 2);
    for (int i = 0; i < PER; i++) {
      assert_int_equal(open_refused(&c.rx, &old[i], old[i].len, NOW + PER), ZT_OPEN_REPLAY);
      assert_int_equal(open_refused(&c.rx, &new[i], new[i].len, NOW + PER), ZT_OPEN_REPLAY);
    }
    /* 300 more epochs, two datagrams each, the last of an epoch arriving
     * after the first of the next */
    promotions = 0;
    struct dg *held = NULL;
    for (int e = 2; e < 302; e++) {
      assert_int_equal(zt_tx_rekey(&c.tx, NOW), 1);
      seal(&c.tx, &d1, 10, (unsigned)e);
      seal(&c.tx, &d2, 10, 5000u + (unsigned)e);
      promotions += open_ok(&c.rx, &d1, NOW + 100, (unsigned)e);
      if (held) promotions += open_ok(&c.rx, held, NOW + 100, 5000u + (unsigned)e - 1);
      static struct dg keep;
      keep = d2;
      held = &keep;
    }
    promotions += open_ok(&c.rx, held, NOW + 100, 5000u + 301);
    assert_int_equal(promotions, 300);
    assert_int_equal(c.rx.cur.epoch, 301);
    chan_close(&c);
  }
}

static void test_grace_period(void **state) {
  struct chan c;
  struct dg late, later;
  chan_open(&c, ZT_AEAD_AES256GCM);
  seal(&c.tx, &late, 30, 1);
  seal(&c.tx, &later, 30, 2);
  assert_int_equal(zt_tx_rekey(&c.tx, NOW), 1);
  seal(&c.tx, &d1, 30, 3);
  assert_int_equal(open_ok(&c.rx, &d1, NOW, 3), 1); /* promoted at NOW */
  assert_int_equal(c.rx.prev_until_ms, NOW + ZT_EPOCH_GRACE_MS);
  open_ok(&c.rx, &late, NOW + ZT_EPOCH_GRACE_MS - 1, 1);
  assert_int_equal(open_refused(&c.rx, &later, later.len, NOW + ZT_EPOCH_GRACE_MS),
                   ZT_OPEN_EPOCH);
  assert_int_equal(c.rx.prev.ready, 1);
  /* the next authenticated datagram after the grace wipes the old epoch */
  seal(&c.tx, &d1, 30, 4);
  open_ok(&c.rx, &d1, NOW + ZT_EPOCH_GRACE_MS, 4);
  assert_int_equal(c.rx.prev.ready, 0);
  assert_int_equal(open_refused(&c.rx, &later, later.len, NOW), ZT_OPEN_EPOCH);
  chan_close(&c);
}

/* A receiver at epoch 0 refuses epoch 2: the sender rekeyed twice before
 * the receiver saw the first change. */
static void test_epoch_plus_two(void **state) {
  struct chan c;
  chan_open(&c, ZT_AEAD_CHACHA20POLY1305);
  assert_int_equal(zt_tx_rekey(&c.tx, NOW), 1);
  assert_int_equal(zt_tx_rekey(&c.tx, NOW), 1);
  seal(&c.tx, &d1, 30, 1);
  assert_int_equal(open_refused(&c.rx, &d1, d1.len, NOW), ZT_OPEN_EPOCH);
  /* and an epoch the receiver has left behind */
  chan_close(&c);
  chan_open(&c, ZT_AEAD_CHACHA20POLY1305);
  seal(&c.tx, &d2, 30, 2); /* epoch 0 */
  for (int e = 0; e < 2; e++) {
    assert_int_equal(zt_tx_rekey(&c.tx, NOW), 1);
    seal(&c.tx, &d1, 30, 3);
    assert_int_equal(open_ok(&c.rx, &d1, NOW, 3), 1);
  }
  assert_int_equal(open_refused(&c.rx, &d2, d2.len, NOW), ZT_OPEN_EPOCH);
  chan_close(&c);
}

/* Counters from ZT_REJECT_AFTER_PACKETS on: the sender stops, the receiver
 * refuses even an authentic datagram (sealed here by hand). */
static void test_counter_limit(void **state) {
  struct chan c;
  chan_open(&c, ZT_AEAD_AES256GCM);
  atomic_store(&c.tx.counter, ZT_REJECT_AFTER_PACKETS - 1);
  seal(&c.tx, &d1, 30, 1);
  open_ok(&c.rx, &d1, NOW, 1);
  assert_int_equal(zt_tx_seal(&c.tx, d1.b, 30), 0);
  assert_int_equal(zt_tx_seal(&c.tx, d1.b, 30), 0);
  assert_int_equal(zt_tx_should_rekey(&c.tx, NOW, 0), 1);
  assert_int_equal(zt_tx_rekey(&c.tx, NOW), 1);
  seal(&c.tx, &d1, 30, 2);
  assert_int_equal(d1.counter, 0);

  /* by hand: epoch 0, counter 2^25, with the real key */
  uint8_t m[32], secret[32], key[32], iv[12], nonce[12];
  fixed_master(m);
  zt_dkeys_epoch0(m, ZT_DIR_C2S, secret);
  zt_dkeys_expand(secret, 0, key, iv);
  EVP_AEAD_CTX ctx;
  assert_int_equal(EVP_AEAD_CTX_init(&ctx, EVP_aead_aes_256_gcm(), key, 32, 16, NULL), 1);
  for (uint64_t ctr = ZT_REJECT_AFTER_PACKETS - 1; ctr <= ZT_REJECT_AFTER_PACKETS + 1; ctr++) {
    const uint8_t hdr[16] = {1, 0, 0, 0, 0x0a, 0x0b, 0x0c, 0x0d, 0, 0, 0, 0,
                             (uint8_t)(ctr >> 24), (uint8_t)(ctr >> 16), (uint8_t)(ctr >> 8),
                             (uint8_t)ctr};
    memcpy(nonce, iv, 12);
    for (int i = 0; i < 8; i++) nonce[11 - i] ^= (uint8_t)(ctr >> (8 * i));
    memcpy(d2.b, hdr, 16);
    fill(d2.b + 16, 30, 9);
    size_t out;
    assert_int_equal(EVP_AEAD_CTX_seal(&ctx, d2.b + 16, &out, 46, nonce, 12, d2.b + 16, 30, hdr, 16), 1);
    d2.len = 16 + out;
    d2.counter = ctr;
    struct zt_rx fresh;
    assert_int_equal(zt_rx_init(&fresh, ZT_AEAD_AES256GCM, m, ZT_DIR_C2S, INDEX), 1);
    if (ctr < ZT_REJECT_AFTER_PACKETS)
      open_ok(&fresh, &d2, NOW, 9); /* the hand-made one is right */
    else
      assert_int_equal(open_refused(&fresh, &d2, d2.len, NOW), ZT_OPEN_EPOCH);
    zt_rx_free(&fresh);
  }
  EVP_AEAD_CTX_cleanup(&ctx);
  chan_close(&c);
}

static void test_should_rekey(void **state) {
  struct chan c;
  const uint64_t interval = 120000;
  chan_open(&c, ZT_AEAD_AES256GCM);
  assert_int_equal(zt_tx_should_rekey(&c.tx, NOW, interval), 0);
  assert_int_equal(zt_tx_should_rekey(&c.tx, NOW + interval - 1, interval), 0);
  assert_int_equal(zt_tx_should_rekey(&c.tx, NOW + interval, interval), 1);
  assert_int_equal(zt_tx_should_rekey(&c.tx, NOW + 10 * interval, 0), 0); /* no time limit */
  assert_int_equal(zt_tx_should_rekey(&c.tx, NOW - 1, interval), 0); /* clock behind */
  atomic_store(&c.tx.counter, ZT_REKEY_AFTER_PACKETS - 1);
  assert_int_equal(zt_tx_should_rekey(&c.tx, NOW, interval), 0);
  seal(&c.tx, &d1, 0, 0);
  assert_int_equal(zt_tx_should_rekey(&c.tx, NOW, interval), 1);
  uint8_t old_secret[32], old_iv[12];
  memcpy(old_secret, c.tx.secret, 32);
  memcpy(old_iv, c.tx.iv, 12);
  assert_int_equal(zt_tx_rekey(&c.tx, NOW + 5), 1);
  assert_int_equal(c.tx.epoch, 1);
  assert_int_equal(c.tx.epoch_started_ms, NOW + 5);
  assert_int_equal(atomic_load(&c.tx.counter), 0);
  assert_memory_not_equal(old_secret, c.tx.secret, 32);
  assert_memory_not_equal(old_iv, c.tx.iv, 12);
  assert_int_equal(zt_tx_should_rekey(&c.tx, NOW + 4 + interval, interval), 0);
  assert_int_equal(zt_tx_should_rekey(&c.tx, NOW + 5 + interval, interval), 1);
  chan_close(&c);
}

static int all_zero(const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i]) return 0;
  return 1;
}

static void test_init_and_free(void **state) {
  uint8_t m[32];
  struct zt_tx tx;
  struct zt_rx rx;
  fixed_master(m);
  assert_int_equal(zt_tx_init(&tx, 0, m, ZT_DIR_C2S, 1, 0), 0);
  assert_true(all_zero(&tx, sizeof(tx)));
  assert_int_equal(zt_tx_init(&tx, 3, m, ZT_DIR_C2S, 1, 0), 0);
  assert_int_equal(zt_rx_init(&rx, 3, m, ZT_DIR_C2S, 1), 0);
  assert_true(all_zero(&rx, sizeof(rx)));
  assert_int_equal(zt_tx_seal(&tx, d1.b, 10), 0); /* not ready */
  assert_int_equal(zt_tx_rekey(&tx, 0), 0);
  zt_tx_free(&tx); /* zeroed: fine */
  zt_rx_free(&rx);
  assert_int_equal(zt_tx_init(&tx, ZT_AEAD_AES256GCM, m, ZT_DIR_S2C, 1, 0), 1);
  assert_int_equal(zt_rx_init(&rx, ZT_AEAD_AES256GCM, m, ZT_DIR_S2C, 1), 1);
  assert_int_equal(tx.ready, 1);
  assert_int_equal(rx.cur.ready && rx.next.ready && !rx.prev.ready, 1);
  assert_int_equal(rx.next.epoch, 1);
  zt_tx_free(&tx);
  zt_rx_free(&rx);
  assert_true(all_zero(&tx, sizeof(tx))); /* secrets wiped */
  assert_true(all_zero(&rx, sizeof(rx)));
  zt_tx_free(&tx); /* twice: fine */
  zt_rx_free(&rx);
}

/* ---- threads ----------------------------------------------------------------------- */

enum { PER_THREAD = 20000 };
struct sealer {
  struct zt_tx *tx;
  uint64_t *counters;
};

static void *seal_many(void *arg) {
  struct sealer *s = arg;
  uint8_t b[ZT_DGRAM_OVERHEAD + 8];
  struct zt_dgram_hdr h;
  for (int i = 0; i < PER_THREAD; i++) {
    memset(b + ZT_DGRAM_HDR, 0x42, 8);
    if (zt_tx_seal(s->tx, b, 8) != sizeof(b) || !zt_dgram_parse_hdr(b, sizeof(b), &h))
      return NULL;
    s->counters[i] = h.counter;
  }
  return s;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Two threads sealing with one zt_tx never use a counter twice. */
static void test_concurrent_seal(void **state) {
  struct chan c;
  static uint64_t counters[2 * PER_THREAD];
  chan_open(&c, ZT_AEAD_AES256GCM);
  struct sealer s[2] = {{&c.tx, counters}, {&c.tx, counters + PER_THREAD}};
  pthread_t t[2];
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&t[i], NULL, seal_many, &s[i]), 0);
  for (int i = 0; i < 2; i++) {
    void *ret;
    assert_int_equal(pthread_join(t[i], &ret), 0);
    assert_ptr_equal(ret, &s[i]);
  }
  qsort(counters, 2 * PER_THREAD, sizeof(counters[0]), cmp_u64);
  for (uint64_t i = 0; i < 2 * PER_THREAD; i++) assert_int_equal(counters[i], i);
  chan_close(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_header_layout),
      cmocka_unit_test(test_parse_hdr),
      cmocka_unit_test(test_known_answer),
      cmocka_unit_test(test_roundtrip_lengths),
      cmocka_unit_test(test_truncations),
      cmocka_unit_test(test_bit_flips),
      cmocka_unit_test(test_wrong_index),
      cmocka_unit_test(test_replay_and_reorder),
      cmocka_unit_test(test_too_old),
      cmocka_unit_test(test_epoch_changeover),
      cmocka_unit_test(test_grace_period),
      cmocka_unit_test(test_epoch_plus_two),
      cmocka_unit_test(test_counter_limit),
      cmocka_unit_test(test_should_rekey),
      cmocka_unit_test(test_init_and_free),
      cmocka_unit_test(test_concurrent_seal),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

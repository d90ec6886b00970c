/* dgram_bench: the per-datagram cost of the UDP data channel's crypto. For
 * AES-256-GCM and ChaCha20-Poly1305 and 1400-byte (and 64-byte) packets it
 * measures ns per zt_tx_seal, per zt_rx_open and per seal + open pair, in
 * place as the data plane does it, with the Gbit/s of plaintext that makes
 * on one core; and the cost of refusing a forged datagram (one failed AEAD
 * open) and a replayed one (no open at all). Each figure is the median of 5
 * runs after a warm-up, in CPU time of the thread
 * (CLOCK_THREAD_CPUTIME_ID), so that other work on a shared machine does
 * not count. It prints a table and judges nothing.
 *
 *   dgram_bench
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dgram.h"
#include "dkeys.h"

#define RUNS 5
#define OPS (1u << 18) /* datagrams per run */
#define INDEX 0x0a0b0c0du
#define BATCH 64   /* datagrams between two clock reads when timing seal and open apart */

static double thread_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

enum what { SEAL, OPEN, PAIR, FORGED, REPLAYED };

struct bench {
  struct zt_tx tx;
  struct zt_rx rx;
  uint8_t buf[ZT_DGRAM_OVERHEAD + 1500];
  uint8_t keep[ZT_DGRAM_OVERHEAD + 1500];
  uint8_t batch[BATCH][ZT_DGRAM_OVERHEAD + 1500];
  size_t plen;
};

static void fail(const char *what) {
  fprintf(stderr, "dgram_bench: %s\n", what);
  exit(1);
}

static void seal1(struct bench *b, uint8_t *d) {
  if (zt_tx_should_rekey(&b->tx, 0, 0) && !zt_tx_rekey(&b->tx, 0)) fail("rekey");
  if (zt_tx_seal(&b->tx, d, b->plen) != b->plen + ZT_DGRAM_OVERHEAD) fail("seal");
}

static void open1(struct bench *b, uint8_t *d, enum zt_open_result want) {
  uint8_t *pl;
  size_t n;
  uint64_t ctr;
  int promoted;
  if (zt_rx_open(&b->rx, d, b->plen + ZT_DGRAM_OVERHEAD, 0, &pl, &n, &ctr, &promoted) != want)
    fail("unexpected open result");
}

/* ns per operation in one run of |w| (SEAL and OPEN: batches of BATCH
 * sealed, then opened, each batch timed apart; the plaintext is left in
 * place by the open for the next seal). */
static double run(struct bench *b, enum what w) {
  double ns = 0, t;
  size_t len = b->plen + ZT_DGRAM_OVERHEAD;
  switch (w) {
    case SEAL:
    case OPEN:
      for (unsigned i = 0; i < OPS; i += BATCH) {
        t = thread_ns();
        for (int k = 0; k < BATCH; k++) seal1(b, b->batch[k]);
        if (w == SEAL) ns += thread_ns() - t;
        t = thread_ns();
        for (int k = 0; k < BATCH; k++) open1(b, b->batch[k], ZT_OPEN_OK);
        if (w == OPEN) ns += thread_ns() - t;
      }
      return ns / OPS;
    case PAIR:
      t = thread_ns();
      for (unsigned i = 0; i < OPS; i++) {
        seal1(b, b->buf);
        open1(b, b->buf, ZT_OPEN_OK);
      }
      return (thread_ns() - t) / OPS;
    case FORGED:
    case REPLAYED:
      seal1(b, b->buf);
      memcpy(b->keep, b->buf, len);
      if (w == FORGED)
        b->keep[len - 1] ^= 1; /* the tag */
      else
        open1(b, b->buf, ZT_OPEN_OK);
      t = thread_ns();
      for (unsigned i = 0; i < OPS; i++) {
        memcpy(b->buf, b->keep, len); /* the open works in place */
        open1(b, b->buf, w == FORGED ? ZT_OPEN_AUTH : ZT_OPEN_REPLAY);
      }
      return (thread_ns() - t) / OPS; /* with one memcpy of the datagram */
  }
  return 0;
}

static double median(struct bench *b, enum what w) {
  double r[RUNS];
  run(b, w); /* warm-up */
  for (int i = 0; i < RUNS; i++) r[i] = run(b, w);
  qsort(r, RUNS, sizeof(r[0]), cmp_double);
  return r[RUNS / 2];
}

int main(void) {
  static const enum zt_aead_id ids[] = {ZT_AEAD_AES256GCM, ZT_AEAD_CHACHA20POLY1305};
  static const size_t sizes[] = {1400, 64};
  uint8_t master[ZT_DATA_SECRET_LEN];
  static struct bench b;
  for (int i = 0; i < ZT_DATA_SECRET_LEN; i++) master[i] = (uint8_t)(i * 7);

  printf("%-18s %6s %9s %9s %11s %9s %11s %11s\n", "cipher", "bytes", "seal ns", "open ns",
         "seal+open", "Gbit/s", "forged ns", "replay ns");
  for (size_t c = 0; c < sizeof(ids) / sizeof(ids[0]); c++) {
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
      if (!zt_tx_init(&b.tx, ids[c], master, ZT_DIR_C2S, INDEX, 0) ||
          !zt_rx_init(&b.rx, ids[c], master, ZT_DIR_C2S, INDEX))
        fail("init");
      b.plen = sizes[s];
      memset(b.buf + ZT_DGRAM_HDR, 0x45, b.plen);
      for (int k = 0; k < BATCH; k++) memset(b.batch[k] + ZT_DGRAM_HDR, 0x45, b.plen);
      double seal = median(&b, SEAL), open = median(&b, OPEN), pair = median(&b, PAIR);
      double forged = median(&b, FORGED), replayed = median(&b, REPLAYED);
      /* Gbit/s of plaintext through seal + open on one core */
      printf("%-18s %6zu %9.0f %9.0f %11.0f %9.2f %11.0f %11.0f\n", zt_aead_name(ids[c]),
             b.plen, seal, open, pair, b.plen * 8 / pair, forged, replayed);
      zt_tx_free(&b.tx);
      zt_rx_free(&b.rx);
    }
  }
  return 0;
}

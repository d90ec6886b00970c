/* replay: the anti-replay window against a naive reference (every counter
 * ever accepted in a hash set, and the highest), on long seeded random
 * sequences: in order, reordered, duplicated, far-ahead jumps, counters at
 * the window's edge, near UINT64_MAX, and counter 0 first and late. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "replay.h"

#define W ((uint64_t)ZT_REPLAY_WINDOW)

/* ---- the reference --------------------------------------------------------- */

#define SET_BITS 18
#define SET_SIZE (1u << SET_BITS) /* far more slots than any sequence accepts */

struct ref {
  uint64_t *keys;
  uint8_t *used;
  size_t count;
  int any;
  uint64_t highest;
};

static void ref_init(struct ref *f) {
  f->keys = calloc(SET_SIZE, sizeof(*f->keys));
  f->used = calloc(SET_SIZE, 1);
  assert_non_null(f->keys);
  assert_non_null(f->used);
  f->count = 0;
  f->any = 0;
  f->highest = 0;
}

static void ref_free(struct ref *f) {
  free(f->keys);
  free(f->used);
}

static size_t slot_of(uint64_t v) {
  return (size_t)((v * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - SET_BITS));
}

static int ref_seen(const struct ref *f, uint64_t v) {
  for (size_t i = slot_of(v);; i = (i + 1) & (SET_SIZE - 1)) {
    if (!f->used[i]) return 0;
    if (f->keys[i] == v) return 1;
  }
}

static void ref_add(struct ref *f, uint64_t v) {
  assert_true(f->count < SET_SIZE / 2);
  size_t i = slot_of(v);
  while (f->used[i]) i = (i + 1) & (SET_SIZE - 1);
  f->used[i] = 1;
  f->keys[i] = v;
  f->count++;
  if (!f->any || v > f->highest) f->highest = v;
  f->any = 1;
}

/* The rule, stated plainly: never seen, and not W or more below the highest
 * accepted; UINT64_MAX never. */
static int ref_acceptable(const struct ref *f, uint64_t v) {
  if (v == UINT64_MAX || ref_seen(f, v)) return 0;
  return !f->any || v > f->highest || f->highest - v < W;
}

/* ---- a seeded PRNG (splitmix64) ---------------------------------------------- */

static uint64_t rng_state;
static uint64_t rnd(void) {
  uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}
static uint64_t below(uint64_t n) { return rnd() % n; }

/* ---- driving both ------------------------------------------------------------ */

struct run {
  struct zt_replay r;
  struct ref f;
  uint64_t accepted, refused;
};

static void run_init(struct run *x) {
  zt_replay_init(&x->r);
  ref_init(&x->f);
  x->accepted = x->refused = 0;
}

/* Offers |ctr| as a receiver does: check, then (when |authentic|) update.
 * Both must agree with the reference; check must not touch the window. */
static void offer(struct run *x, uint64_t ctr, int authentic) {
  struct zt_replay before = x->r;
  int want = ref_acceptable(&x->f, ctr);
  int got = zt_replay_check(&x->r, ctr);
  if (got != want)
    fail_msg("check(%llu) = %d, reference %d (highest %llu)", (unsigned long long)ctr, got,
             want, (unsigned long long)x->f.highest);
  assert_memory_equal(&before, &x->r, sizeof(before));
  if (!authentic) return;
  got = zt_replay_update(&x->r, ctr);
  if (got != want)
    fail_msg("update(%llu) = %d, reference %d", (unsigned long long)ctr, got, want);
  if (want) {
    ref_add(&x->f, ctr);
    x->accepted++;
  } else {
    assert_memory_equal(&before, &x->r, sizeof(before)); /* a refused update changes nothing */
    x->refused++;
  }
}

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }
static uint64_t sat_sub(uint64_t a, uint64_t b) { return a < b ? 0 : a - b; }

/* The next counter of a sequence, relative to the highest accepted one: in
 * order most of the time, else reordered within the window, at its edges,
 * a duplicate, far behind, or far ahead (past the window and past two). */
static uint64_t pick(const struct run *x, const uint64_t *history, size_t nhist) {
  uint64_t hi = x->f.highest;
  uint64_t r = below(100);
  if (r < 40) return sat_add(hi, 1 + below(3));                      /* in order */
  if (r < 70) return sat_add(sat_sub(hi, below(W)), below(16));       /* reordered */
  if (r < 78) return sat_add(sat_sub(hi, W + 1), below(4));           /* edges */
  if (r < 88) return nhist ? history[below(nhist)] : hi;              /* duplicate */
  if (r < 95) return sat_sub(hi, W + below(3 * W));                   /* far behind */
  if (r < 98) return sat_add(hi, W - 2 + below(4));                   /* a window ahead */
  return sat_add(hi, 2 * W + below(4 * W));                           /* far ahead */
}

/* A sequence of |steps| offers starting at |start|; one in ten is a forgery
 * (checked, never updated). */
static void mixed(struct run *x, uint64_t start, size_t steps) {
  uint64_t history[64];
  size_t nhist = 0;
  offer(x, start, 1);
  for (size_t i = 0; i < steps; i++) {
    uint64_t c = pick(x, history, nhist);
    offer(x, c, below(10) != 0);
    history[nhist < 64 ? nhist++ : below(64)] = c;
  }
}

static void test_in_order(void **state) {
  struct run x;
  run_init(&x);
  for (uint64_t c = 0; c < 3 * W; c++) offer(&x, c, 1);
  assert_int_equal(x.accepted, 3 * W);
  /* everything again: all refused, whether still inside the window or not */
  for (uint64_t c = 0; c < 3 * W; c++) offer(&x, c, 1);
  assert_int_equal(x.refused, 3 * W);
  ref_free(&x.f);
}

static void test_random_sequences(void **state) {
  for (uint64_t seed = 1; seed <= 8; seed++) {
    struct run x;
    rng_state = seed;
    run_init(&x);
    mixed(&x, below(2) ? 0 : below(W), 40000);
    print_message("seed %llu: %llu accepted, %llu refused\n", (unsigned long long)seed, (unsigned long long)x.accepted, (unsigned long long)x.refused);
    /* the sequences must have exercised both outcomes a lot */
    assert_true(x.accepted > 5000);
    assert_true(x.refused > 5000);
    ref_free(&x.f);
  }
}

static void test_near_uint64_max(void **state) {
  for (uint64_t seed = 100; seed < 104; seed++) {
    struct run x;
    rng_state = seed;
    run_init(&x);
    mixed(&x, UINT64_MAX - 40 * W, 30000);
    for (uint64_t c = UINT64_MAX - 3; c != 0; c++) offer(&x, c, 1); /* up to the top */
    assert_int_equal(zt_replay_check(&x.r, UINT64_MAX), 0);
    ref_free(&x.f);
  }
  struct zt_replay r;
  zt_replay_init(&r);
  assert_int_equal(zt_replay_update(&r, UINT64_MAX), 0);
  assert_int_equal(zt_replay_update(&r, UINT64_MAX - 1), 1);
  assert_int_equal(r.next, UINT64_MAX);
  assert_int_equal(zt_replay_update(&r, UINT64_MAX - 1), 0);
  assert_int_equal(zt_replay_update(&r, UINT64_MAX - W), 1);
  assert_int_equal(zt_replay_update(&r, UINT64_MAX - W - 1), 0);
}

static void test_edges(void **state) {
  struct run x;
  run_init(&x);
  offer(&x, 0, 1); /* counter 0 first */
  assert_int_equal(x.accepted, 1);
  assert_int_equal(zt_replay_check(&x.r, 0), 0);
  offer(&x, W - 1, 1); /* 0 is still inside: highest - 0 = W - 1 */
  assert_int_equal(zt_replay_check(&x.r, 1), 1);
  offer(&x, W, 1); /* now 0 is out and 1 the oldest inside */
  assert_int_equal(zt_replay_check(&x.r, 0), 0);
  assert_int_equal(zt_replay_check(&x.r, 1), 1);
  offer(&x, 1, 1);
  offer(&x, 1, 1);
  /* a jump of exactly W, of W + 1, and of more than 2W: the old bits must
   * not survive into the positions the new counters take */
  offer(&x, 2 * W, 1);
  offer(&x, 3 * W + 1, 1);
  offer(&x, 2 * W + 2, 1);
  offer(&x, 2 * W + 1, 1); /* exactly W below the highest: out */
  offer(&x, 6 * W + 17, 1);
  for (uint64_t c = 5 * W + 18; c < 6 * W + 17; c += 7) offer(&x, c, 1);
  offer(&x, 0, 1); /* counter 0 late */
  offer(&x, 5 * W + 17, 1);
  ref_free(&x.f);

  /* 0 late in a fresh window: fine while the highest is below W */
  run_init(&x);
  offer(&x, 5, 1);
  offer(&x, W - 1, 1);
  offer(&x, 0, 1);
  assert_int_equal(x.accepted, 3);
  ref_free(&x.f);
}

/* Jumps of sizes around word boundaries, half the window, the window and
 * twice it, from several positions within a word, over a full window. */
static void test_jumps(void **state) {
  static const uint64_t jumps[] = {1,         2,     63,    64,    65,        127,
                                   128,       129,   W / 2, W - 65, W - 64,   W - 63,
                                   W - 1,     W,     W + 1, W + 63, W + 64,   W + 65,
                                   2 * W - 1, 2 * W, 2 * W + 1, 7 * W + 33};
  for (uint64_t start = 0; start < 64; start += 9) {
    for (size_t j = 0; j < sizeof(jumps) / sizeof(jumps[0]); j++) {
      struct run x;
      run_init(&x);
      for (uint64_t c = start; c < start + W; c += 2) offer(&x, c, 1);
      uint64_t top = x.f.highest + jumps[j];
      offer(&x, top, 1);
      for (uint64_t c = sat_sub(top, W + 2); c <= top; c++) offer(&x, c, 1);
      ref_free(&x.f);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_in_order),
      cmocka_unit_test(test_random_sequences),
      cmocka_unit_test(test_near_uint64_max),
      cmocka_unit_test(test_edges),
      cmocka_unit_test(test_jumps),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

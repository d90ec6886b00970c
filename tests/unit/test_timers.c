/* timers: the min-heap of one-shot timers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "timers.h"

/* Fired timers append their id here. */
static int fired[4096];
static size_t nfired;

static void record(void *arg) {
  assert_true(nfired < sizeof(fired) / sizeof(fired[0]));
  fired[nfired++] = (int)(intptr_t)arg;
}

/* Checks the heap: parent no later than child, slots match positions. */
static void check_heap(const struct zt_timers *ts) {
  for (size_t i = 0; i < ts->n; i++) {
    assert_int_equal(ts->heap[i]->slot, i + 1);
    if (i > 0) assert_true(ts->heap[(i - 1) / 2]->when_ms <= ts->heap[i]->when_ms);
  }
}

static void test_fire_in_order(void **state) {
  enum { N = 10 };
  static const uint64_t when[N] = {500, 100, 900, 300, 700, 200, 800, 400, 600, 1000};
  struct zt_timer t[N];
  struct zt_timers ts = {0};
  nfired = 0;
  for (int i = 0; i < N; i++) {
    zt_timer_init(&t[i], record, (void *)(intptr_t)i);
    assert_int_equal(t[i].slot, 0);
    assert_int_equal(zt_timer_arm(&ts, &t[i], when[i]), 1);
    assert_int_not_equal(t[i].slot, 0);
    check_heap(&ts);
  }
  zt_timers_run(&ts, 99); /* nothing due yet */
  assert_int_equal(nfired, 0);
  zt_timers_run(&ts, 450);
  assert_int_equal(nfired, 4);
  zt_timers_run(&ts, 10000);
  assert_int_equal(nfired, N);
  for (size_t i = 0; i < N; i++)
    assert_int_equal(when[fired[i]], (i + 1) * 100);
  for (int i = 0; i < N; i++) assert_int_equal(t[i].slot, 0); /* disarmed */
  assert_int_equal(ts.n, 0);
  zt_timers_run(&ts, 100000); /* none fire twice */
  assert_int_equal(nfired, N);
  zt_timers_free(&ts);
}

static void test_cancel_middle(void **state) {
  enum { N = 9 };
  struct zt_timer t[N];
  struct zt_timers ts = {0};
  nfired = 0;
  for (int i = 0; i < N; i++) {
    zt_timer_init(&t[i], record, (void *)(intptr_t)i);
    assert_int_equal(zt_timer_arm(&ts, &t[i], (uint64_t)(i + 1) * 10), 1);
  }
  zt_timer_cancel(&ts, &t[4]);
  zt_timer_cancel(&ts, &t[1]);
  zt_timer_cancel(&ts, &t[7]);
  zt_timer_cancel(&ts, &t[7]); /* twice */
  assert_int_equal(t[4].slot, 0);
  assert_int_equal(ts.n, N - 3);
  check_heap(&ts);
  /* canceling a timer that was never armed is harmless */
  struct zt_timer idle;
  zt_timer_init(&idle, record, (void *)(intptr_t)99);
  zt_timer_cancel(&ts, &idle);
  assert_int_equal(ts.n, N - 3);
  zt_timers_run(&ts, 1000);
  static const int want[] = {0, 2, 3, 5, 6, 8};
  assert_int_equal(nfired, 6);
  assert_memory_equal(fired, want, sizeof(want));
  /* cancel the root and the last element */
  for (int i = 0; i < N; i++) assert_int_equal(zt_timer_arm(&ts, &t[i], (uint64_t)i), 1);
  zt_timer_cancel(&ts, ts.heap[0]);
  check_heap(&ts);
  zt_timer_cancel(&ts, ts.heap[ts.n - 1]);
  check_heap(&ts);
  assert_int_equal(ts.n, N - 2);
  zt_timers_free(&ts);
}

static void test_rearm(void **state) {
  struct zt_timer a, b, c;
  struct zt_timers ts = {0};
  nfired = 0;
  zt_timer_init(&a, record, (void *)(intptr_t)0);
  zt_timer_init(&b, record, (void *)(intptr_t)1);
  zt_timer_init(&c, record, (void *)(intptr_t)2);
  assert_int_equal(zt_timer_arm(&ts, &a, 10), 1);
  assert_int_equal(zt_timer_arm(&ts, &b, 20), 1);
  assert_int_equal(zt_timer_arm(&ts, &c, 30), 1);
  assert_int_equal(zt_timer_arm(&ts, &a, 40), 1); /* later: now last */
  assert_int_equal(zt_timer_arm(&ts, &c, 5), 1);  /* earlier: now first */
  assert_int_equal(ts.n, 3);                      /* re-arming never duplicates */
  check_heap(&ts);
  assert_int_equal(zt_timers_timeout(&ts, 0, 1000), 5);
  zt_timers_run(&ts, 100);
  static const int want[] = {2, 1, 0};
  assert_int_equal(nfired, 3);
  assert_memory_equal(fired, want, sizeof(want));
  zt_timers_free(&ts);
}

/* A callback that re-arms its own timer, and one that cancels another. */
struct ctx {
  struct zt_timers *ts;
  struct zt_timer *self, *victim;
  int count;
};

static void rearm_self(void *arg) {
  struct ctx *c = arg;
  c->count++;
  if (c->count < 3) assert_int_equal(zt_timer_arm(c->ts, c->self, c->self->when_ms + 10), 1);
  if (c->victim) zt_timer_cancel(c->ts, c->victim);
}

static void test_callbacks_rearm_and_cancel(void **state) {
  struct zt_timers ts = {0};
  struct zt_timer t, v;
  struct ctx c = {&ts, &t, &v, 0};
  nfired = 0;
  zt_timer_init(&t, rearm_self, &c);
  zt_timer_init(&v, record, (void *)(intptr_t)7);
  assert_int_equal(zt_timer_arm(&ts, &t, 10), 1);
  assert_int_equal(zt_timer_arm(&ts, &v, 10), 1);
  /* the re-armed timer is due again within the same run */
  zt_timers_run(&ts, 100);
  assert_int_equal(c.count, 3);
  /* |v| fired or was cancelled by the first callback, never both ways */
  assert_true(nfired <= 1);
  assert_int_equal(ts.n, 0);
  zt_timers_free(&ts);
}

/* Reference model: the armed deadlines, searched linearly. */
static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void test_randomized(void **state) {
  enum { N = 500, OPS = 20000 };
  static struct zt_timer t[N];
  static uint64_t ref[N]; /* deadline, or UINT64_MAX when not armed */
  struct zt_timers ts = {0};
  srand(12345);
  for (int i = 0; i < N; i++) {
    zt_timer_init(&t[i], record, (void *)(intptr_t)i);
    ref[i] = UINT64_MAX;
  }
  uint64_t now = 0;
  for (int op = 0; op < OPS; op++) {
    int i = rand() % N;
    int r = rand() % 10;
    if (r < 6) {
      uint64_t when = now + (uint64_t)(rand() % 5000);
      assert_int_equal(zt_timer_arm(&ts, &t[i], when), 1);
      ref[i] = when;
    } else if (r < 9) {
      zt_timer_cancel(&ts, &t[i]);
      ref[i] = UINT64_MAX;
    } else {
      /* advance time: exactly the due timers fire, in deadline order */
      now += (uint64_t)(rand() % 300);
      nfired = 0;
      zt_timers_run(&ts, now);
      uint64_t due[N];
      size_t ndue = 0;
      for (int k = 0; k < N; k++)
        if (ref[k] <= now) {
          due[ndue++] = ref[k];
          ref[k] = UINT64_MAX;
        }
      assert_int_equal(nfired, ndue);
      qsort(due, ndue, sizeof(due[0]), cmp_u64);
      for (size_t k = 0; k < nfired; k++) {
        assert_int_equal(t[fired[k]].when_ms, due[k]);
        assert_int_equal(t[fired[k]].slot, 0);
      }
    }
    check_heap(&ts);
    /* size and minimum agree with the reference */
    size_t armed = 0;
    uint64_t min = UINT64_MAX;
    for (int k = 0; k < N; k++)
      if (ref[k] != UINT64_MAX) {
        armed++;
        if (ref[k] < min) min = ref[k];
        assert_int_not_equal(t[k].slot, 0);
      } else {
        assert_int_equal(t[k].slot, 0);
      }
    assert_int_equal(ts.n, armed);
    if (armed) assert_int_equal(ts.heap[0]->when_ms, min);
    int want = armed == 0 ? 60000 : min <= now ? 0 : (int)(min - now) > 60000 ? 60000 : (int)(min - now);
    assert_int_equal(zt_timers_timeout(&ts, now, 60000), want);
  }
  zt_timers_free(&ts);
  assert_null(ts.heap);
}

static void test_timeout(void **state) {
  struct zt_timers ts = {0};
  struct zt_timer t;
  zt_timer_init(&t, record, NULL);
  /* nothing armed: the cap, or -1 (wait forever) when uncapped */
  assert_int_equal(zt_timers_timeout(&ts, 1000, 5000), 5000);
  assert_int_equal(zt_timers_timeout(&ts, 1000, -1), -1);
  assert_int_equal(zt_timer_arm(&ts, &t, 1500), 1);
  assert_int_equal(zt_timers_timeout(&ts, 1000, 5000), 500);
  assert_int_equal(zt_timers_timeout(&ts, 1000, 100), 100);
  assert_int_equal(zt_timers_timeout(&ts, 1000, 0), 0);
  assert_int_equal(zt_timers_timeout(&ts, 1000, -1), 500);
  assert_int_equal(zt_timers_timeout(&ts, 1499, 5000), 1);
  assert_int_equal(zt_timers_timeout(&ts, 1500, 5000), 0);
  assert_int_equal(zt_timers_timeout(&ts, 99999, 5000), 0); /* overdue */
  /* A deadline beyond INT_MAX ms with no cap must not wrap to a negative
   * (infinite) or small wait. */
  assert_int_equal(zt_timer_arm(&ts, &t, 1000 + (1ull << 32) + 5), 1);
  int far = zt_timers_timeout(&ts, 1000, -1);
  assert_true(far > 1000000);
  assert_int_equal(zt_timers_timeout(&ts, 1000, 60000), 60000);
  zt_timers_free(&ts);
}

static void test_now_monotonic(void **state) {
  uint64_t a = zt_now_ms(), b = zt_now_ms();
  assert_true(b >= a);
  assert_true(a > 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fire_in_order),
      cmocka_unit_test(test_cancel_middle),
      cmocka_unit_test(test_rearm),
      cmocka_unit_test(test_callbacks_rearm_and_cancel),
      cmocka_unit_test(test_randomized),
      cmocka_unit_test(test_timeout),
      cmocka_unit_test(test_now_monotonic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

#include "replay.h"

#include <string.h>

_Static_assert(ZT_REPLAY_WINDOW % 64 == 0 && ZT_REPLAY_WINDOW > 0,
               "the window is a whole number of 64-bit words");

void zt_replay_init(struct zt_replay *r) { memset(r, 0, sizeof(*r)); }

static int bit_is_set(const struct zt_replay *r, uint64_t ctr) {
  uint64_t pos = ctr % ZT_REPLAY_WINDOW;
  return (int)((r->bits[pos / 64] >> (pos % 64)) & 1);
}

int zt_replay_check(const struct zt_replay *r, uint64_t ctr) {
  if (ctr == UINT64_MAX) return 0;
  if (ctr >= r->next) return 1;
  if (r->next - ctr > ZT_REPLAY_WINDOW) return 0;
  return !bit_is_set(r, ctr);
}

/* Clears the bits of counters first .. first + n - 1 (n <= the window): the
 * positions they take over from counters that have just left the window. */
static void clear_span(struct zt_replay *r, uint64_t first, uint64_t n) {
  uint64_t pos = first % ZT_REPLAY_WINDOW;
  while (n > 0) {
    uint64_t bit = pos % 64;
    uint64_t take = 64 - bit < n ? 64 - bit : n;
    uint64_t mask = take == 64 ? ~UINT64_C(0) : ((UINT64_C(1) << take) - 1) << bit;
    r->bits[pos / 64] &= ~mask;
    n -= take;
    pos = (pos + take) % ZT_REPLAY_WINDOW;
  }
}

int zt_replay_update(struct zt_replay *r, uint64_t ctr) {
  if (!zt_replay_check(r, ctr)) return 0;
  if (ctr >= r->next) {
    uint64_t span = ctr - r->next + 1; /* counters next .. ctr, all unseen */
    if (span >= ZT_REPLAY_WINDOW)
      memset(r->bits, 0, sizeof(r->bits));
    else
      clear_span(r, r->next, span);
    r->next = ctr + 1;
  }
  uint64_t pos = ctr % ZT_REPLAY_WINDOW;
  r->bits[pos / 64] |= UINT64_C(1) << (pos % 64);
  return 1;
}

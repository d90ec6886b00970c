/* The anti-replay window of the UDP data channel: which datagram counters of
 * one key epoch were already accepted.
 *
 * A ring of ZT_REPLAY_WINDOW bits indexed by counter mod ZT_REPLAY_WINDOW (as
 * in RFC 6479 and WireGuard's counter.c), but cleared bit-exactly rather than
 * word by word, so the whole ZT_REPLAY_WINDOW counters below the next
 * expected one are tracked, not (words - 1) * 64 of them. A counter is
 * accepted once, and only when it is above every accepted counter or within
 * ZT_REPLAY_WINDOW of the highest (highest - ctr < ZT_REPLAY_WINDOW). Reordering
 * deeper than that is lost, the price of a fixed, allocation-free state.
 *
 * UINT64_MAX is never accepted: |next| could not hold its successor. Senders
 * stop far below it (ZT_REJECT_AFTER_PACKETS in dkeys.h). */
#ifndef ZTVPN_REPLAY_H
#define ZTVPN_REPLAY_H

#include <stdint.h>

#define ZT_REPLAY_WINDOW 4096 /* counters; a multiple of 64 */

struct zt_replay {
  uint64_t next; /* highest accepted + 1; 0 = nothing accepted yet */
  uint64_t bits[ZT_REPLAY_WINDOW / 64];
};

/* zt_replay_init empties |r|: every counter but UINT64_MAX is new. */
void zt_replay_init(struct zt_replay *r);

/* zt_replay_check returns 1 when |ctr| is new and within the window (may be
 * accepted), 0 when it is a replay or too old. It does not change |r|: the
 * receiver asks before the AEAD open, so that a replay costs no decryption. */
int zt_replay_check(const struct zt_replay *r, uint64_t ctr);

/* zt_replay_update marks |ctr| as seen, once its datagram authenticated (a
 * forgery must not move the window). Returns 0 if it was already seen or fell
 * out of the window meanwhile (the datagram must then be dropped and |r| is
 * unchanged), 1 otherwise. A counter far ahead slides the window, clearing
 * the bits of the counters it skips in O(ZT_REPLAY_WINDOW / 64) at most. */
int zt_replay_update(struct zt_replay *r, uint64_t ctr);

#endif

/* Connections refused at accept by a pre-authentication limit: closed at
 * once, counted by reason, and logged at most once a second per reason, so
 * that a flood costs neither a session nor a log line per connection. */
#ifndef ZTVPN_REFUSALS_H
#define ZTVPN_REFUSALS_H

#include <stdint.h>

#include "counters.h"
#include "source_limits.h"
#include "timers.h"

struct server;

struct refusal_log {
  uint64_t last_ms;     /* when the last line for this reason was logged */
  uint64_t pending;     /* refused since then, not yet logged */
  struct src_key first; /* the first source among them */
  int several;          /* and some from other sources */
};

struct refusals {
  struct refusal_log by[REFUSE_MAX];
  struct zt_timer timer; /* logs the pending counts a second after a line */
};

/* refusals_init prepares |srv|'s refusal log; no timer is armed yet. */
void refusals_init(struct server *srv);

/* refuse closes the accepted socket |fd| from |src| with a reset (so it
 * costs nothing further), counts it under |why| and logs it: at once when
 * nothing was logged for |why| in the last second, otherwise in a summary
 * line ("refused 37 connections from 192.0.2.3 in the last second: ...")
 * a second after the previous line. */
void refuse(struct server *srv, int fd, enum refuse_reason why, const struct src_key *src);

#endif

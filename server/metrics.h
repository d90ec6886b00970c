/* The concentrator's counters as Prometheus metrics, in the text exposition
 * format 0.0.4: served by the metrics listener (metrics_http.h) and by
 * `ztvpn-ctl metrics`. README.md ("Metrics") lists them. */
#ifndef ZTVPN_SERVER_METRICS_H
#define ZTVPN_SERVER_METRICS_H

#include <stdint.h>

#include <openssl/bytestring.h>

#include "counters.h"

/* An exposition is a few kilobytes whatever the number of sessions (no
 * series per session); this bounds it all the same. */
#define METRICS_MAX_TEXT (256 * 1024)

struct server;
struct session;

/* What sessions that already ended carried: the server-wide totals are
 * these plus the live sessions, so they never fall when a session ends. */
struct session_totals {
  uint64_t bytes_in, bytes_out;     /* TLS plaintext, as struct zt_conn counts */
  uint64_t packets_in, packets_out; /* tunnel packets forwarded */
  uint64_t closed[REASON_SLOTS];    /* established sessions ended, by reason */
};

/* metrics_session_ended adds what |s| carried to |t| as |s| ends with
 * |code|; call it once per session, after its last byte was sent. */
void metrics_session_ended(struct session_totals *t, const struct session *s,
                           uint16_t code);

/* metrics_render appends the exposition of |srv| to |out|. It visits each
 * session once. Returns 1, or 0 when |out| could not take it all (a fixed
 * CBB too small, or allocation failure). */
int metrics_render(const struct server *srv, CBB *out);

/* metrics_label_value appends |v| as the inside of a quoted label value:
 * backslash, double quote and newline escaped as the format wants, any
 * other byte outside printable ASCII written as '?', so the result is one
 * line of valid UTF-8. Returns 1 or 0. */
int metrics_label_value(CBB *out, const char *v);

#endif

/* The answers of the control socket, shared with control.c only (which
 * reads the requests and sends what these write): each writes "ok" and its
 * body, in text or JSON, or "error MESSAGE", into a CBB. */
#ifndef ZTVPN_SERVER_CONTROL_ANSWER_H
#define ZTVPN_SERVER_CONTROL_ANSWER_H

#include <stdint.h>

#include <openssl/bytestring.h>

struct server;
struct zt_ctl_request;

/* control_answer_error writes "error |msg|" to |out|, with anything that is
 * not printable ASCII in |msg| replaced so that it stays one line. Returns
 * 1, or 0 on allocation failure. */
int control_answer_error(CBB *out, const char *msg);

/* control_answer_status writes the concentrator's status (version, uptime,
 * sessions, policy, reloads, counters) to |out|; |accepted| and |refused|
 * are the control connections so far. Returns 1, or 0 on allocation
 * failure. */
int control_answer_status(struct server *srv, int json, uint64_t accepted, uint64_t refused,
                          CBB *out);

/* control_answer_sessions writes the established sessions of |srv|, by id,
 * to |out|. Returns 1, or 0 on allocation failure. */
int control_answer_sessions(struct server *srv, int json, CBB *out);

/* control_answer_kill closes the established sessions that kill request
 * |r| names and writes which to |out|, or an error when none matched.
 * Returns 1, or 0 on allocation failure (the sessions are closed all the
 * same). */
int control_answer_kill(struct server *srv, const struct zt_ctl_request *r, CBB *out);

/* control_answer_metrics writes "ok" and the Prometheus exposition of |srv|
 * (metrics.h) to |out|. Returns 1, or 0 on allocation failure. */
int control_answer_metrics(struct server *srv, CBB *out);

/* control_answer_reload reloads |srv| and writes the outcome to |out| (a
 * failed reload is an error answer). Returns 1, or 0 on allocation
 * failure. */
int control_answer_reload(struct server *srv, int json, CBB *out);

#endif

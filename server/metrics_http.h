/* The metrics listener: a minimal HTTP/1.x server on metrics_listen
 * (server.conf; absent = none) that answers GET /metrics with the
 * exposition of metrics.h and closes. It runs in the main loop like the
 * control socket: non-blocking, each connection bounded in bytes (the
 * request head: 4 KiB) and time (2 s for the request), at most
 * METRICS_MAX_CONNS at once. */
#ifndef ZTVPN_SERVER_METRICS_HTTP_H
#define ZTVPN_SERVER_METRICS_HTTP_H

#include <stdint.h>

#include <openssl/bytestring.h>

#include "http_request.h"

#define METRICS_MAX_CONNS 8

struct server;
struct ev_source;

/* metrics_http_open binds the listener when the configuration names one
 * (in server_init, before any privilege is dropped: afterwards it only
 * accepts). A non-loopback address is allowed with a warning. Returns 1,
 * or 0 after logging why. */
int metrics_http_open(struct server *srv);

/* metrics_http_on_event handles an epoll event of kind EV_METRICS (the
 * listener) or EV_METRICS_CONN (a connection). */
void metrics_http_on_event(struct server *srv, struct ev_source *src, uint32_t events);

/* metrics_http_close closes every connection and the listener. */
void metrics_http_close(struct server *srv);

/* metrics_http_refused is how many connections were closed at accept
 * because METRICS_MAX_CONNS were in progress (0 without a listener). */
uint64_t metrics_http_refused(const struct server *srv);

/* metrics_http_respond writes the whole HTTP response to a request that
 * parsed as |r| (|req| is read only for HTTP_OK) into |out|: 200 with the
 * exposition for GET or HEAD /metrics (HEAD: no body), 200 with a short
 * page for /, 404 for other paths, 405 for other methods, 400, 414, 431,
 * 505 for the parse errors; always "Connection: close". Returns the
 * status code, or 0 when |out| could not take it. */
int metrics_http_respond(const struct server *srv, enum http_parse r,
                         const struct http_request *req, CBB *out);

#endif

/* The control protocol between ztvpn-ctl and the control socket of
 * ztvpn-server or ztvpn-client (a unix stream socket, mode 0600, root only).
 *
 * Request: one line of printable ASCII, at most ZT_CTL_MAX_REQUEST bytes
 * including the final "\n":
 *     FORMAT SP COMMAND [SP ARG]... LF
 * FORMAT is "text" or "json". Commands:
 *     status                       both programs
 *     sessions                     server
 *     kill id N | kill user NAME | kill device NAME     server
 *     reload                       server
 *     metrics                      server; text only (Prometheus format)
 * Response: a first line "ok" or "error MESSAGE", then the body in the
 * requested format, then the server closes the connection. The request is
 * untrusted input and is parsed with CBS; anything else is refused with
 * "error ..." and the connection is closed. */
#ifndef ZTVPN_CONTROL_H
#define ZTVPN_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/bytestring.h>

#include "identity.h"

#define ZT_CTL_MAX_REQUEST 512
#define ZT_CTL_TIMEOUT_MS 2000 /* a control client must send its line by then */

enum zt_ctl_cmd { ZT_CTL_STATUS, ZT_CTL_SESSIONS, ZT_CTL_KILL, ZT_CTL_RELOAD, ZT_CTL_METRICS };
enum zt_ctl_kill_by { ZT_CTL_KILL_ID, ZT_CTL_KILL_USER, ZT_CTL_KILL_DEVICE };

struct zt_ctl_request {
  int json;
  enum zt_ctl_cmd cmd;
  enum zt_ctl_kill_by by;   /* ZT_CTL_KILL */
  uint64_t id;              /* ZT_CTL_KILL_ID */
  char name[ZT_NAME_MAX + 1]; /* ZT_CTL_KILL_USER / _DEVICE */
};

/* zt_ctl_request_parse parses one request line |in| (with its final LF).
 * Returns 1, or 0 with a description in |err|. */
int zt_ctl_request_parse(CBS in, struct zt_ctl_request *out, char *err, size_t errlen);

/* zt_ctl_request_build writes |r| as a request line. Returns 1 or 0. */
int zt_ctl_request_build(CBB *out, const struct zt_ctl_request *r);

#endif

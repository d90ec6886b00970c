/* The unix socket under both daemons' control channels (control.h has the
 * request protocol): creating it safely, accepting only root (or the
 * daemon's own user), reading one bounded request line and writing the
 * answer without blocking the daemon's loop. Plus the few output helpers
 * both daemons use to answer in text or JSON. */
#ifndef ZTVPN_CTLSOCK_H
#define ZTVPN_CTLSOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>

#include <openssl/bytestring.h>

#include "control.h"

/* Longest answer a daemon builds (a sessions listing of every session);
 * beyond it the answer is an error rather than unbounded memory. */
#define ZT_CTL_MAX_RESPONSE (16 * 1024 * 1024)

struct zt_ctl_listener {
  int fd;                                 /* -1 when closed */
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  dev_t dev;                              /* the socket file we bound, so */
  ino_t ino;                              /* close never unlinks another's */
  uid_t owner;                            /* allowed besides root */
  int keep_file;                          /* another process removes it */
  uint64_t accepted, refused;
};

/* zt_ctlsock_listen creates the listening socket at |path|: the parent
 * directory is made (mode 0700) when it is missing (only that last
 * component); a path that does not fit sun_path is refused; a stale socket
 * (nobody answers) is removed, a live one means another instance runs and
 * fails; the socket is bound under umask 077 and set to mode 0600. Peers
 * of uid 0 or the process's effective uid are accepted. Returns 1, or 0
 * with a reason in |err| (nothing is left behind then). */
int zt_ctlsock_listen(struct zt_ctl_listener *l, const char *path, char *err,
                      size_t errlen);

enum zt_ctl_accept {
  ZT_CTL_ACCEPT_OK,      /* |*fd| is a non-blocking, close-on-exec connection */
  ZT_CTL_ACCEPT_NONE,    /* nothing (more) waiting */
  ZT_CTL_ACCEPT_REFUSED, /* a peer of another uid: closed, counted, logged */
  ZT_CTL_ACCEPT_ERROR,   /* accept failed (logged): try again later */
};

/* zt_ctlsock_accept accepts one connection and checks its peer with
 * SO_PEERCRED. The caller owns |*fd| on ZT_CTL_ACCEPT_OK. */
enum zt_ctl_accept zt_ctlsock_accept(struct zt_ctl_listener *l, int *fd);

/* zt_ctlsock_close closes the listener and removes its socket file, unless
 * the file is no longer the one it bound or |keep_file| is set. NULL-safe;
 * idempotent. */
void zt_ctlsock_close(struct zt_ctl_listener *l);

/* zt_ctlsock_unlink removes the socket file |l| bound, unless it is no
 * longer that file. For the process that created the socket when another
 * one (with keep_file set) serves it; |l->fd| may be closed already. */
void zt_ctlsock_unlink(const struct zt_ctl_listener *l);

/* zt_ctlsock_reject tells a peer |msg| as an "error" line, best effort and
 * without blocking, and closes |fd|. */
void zt_ctlsock_reject(int fd, const char *msg);

/* One control connection: a request line in, an answer out. */
struct zt_ctl_conn {
  int fd;                          /* owned; -1 when closed */
  uint8_t in[ZT_CTL_MAX_REQUEST];
  size_t in_len;
  uint8_t *out;                    /* the finished answer */
  size_t out_len, out_off;
};

enum zt_ctl_io {
  ZT_CTL_IO_WANT,     /* would block: wait for the socket */
  ZT_CTL_IO_DONE,     /* read: a line is ready; write: all sent */
  ZT_CTL_IO_TOO_LONG, /* read: ZT_CTL_MAX_REQUEST bytes without a newline */
  ZT_CTL_IO_EOF,      /* read: the peer closed before a newline */
  ZT_CTL_IO_ERR,      /* socket error */
};

/* zt_ctl_conn_init takes over |fd|. */
void zt_ctl_conn_init(struct zt_ctl_conn *c, int fd);
/* zt_ctl_conn_free closes the socket and frees the answer. */
void zt_ctl_conn_free(struct zt_ctl_conn *c);

/* zt_ctl_conn_read reads what is available, never more than
 * ZT_CTL_MAX_REQUEST bytes in all. On ZT_CTL_IO_DONE |*line| is the
 * request up to and including its first newline (bytes after it are
 * ignored: one request per connection). */
enum zt_ctl_io zt_ctl_conn_read(struct zt_ctl_conn *c, CBS *line);

/* zt_ctl_conn_answer finishes |cbb| (initialised by the caller, which no
 * longer owns it) as the answer to send. An answer longer than
 * ZT_CTL_MAX_RESPONSE, or a CBB that failed, is replaced by an error line.
 * Returns 1, or 0 when not even that could be allocated. */
int zt_ctl_conn_answer(struct zt_ctl_conn *c, CBB *cbb);

/* zt_ctl_conn_write sends as much of the answer as the socket takes. */
enum zt_ctl_io zt_ctl_conn_write(struct zt_ctl_conn *c);

/* ---- building answers ---------------------------------------------------- */

/* zt_ctl_printf appends formatted text. Returns 1 or 0. */
int zt_ctl_printf(CBB *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* zt_ctl_json_string appends |s| as a JSON string: quotes, backslashes and
 * every byte outside printable ASCII escaped. Returns 1 or 0. */
int zt_ctl_json_string(CBB *out, const char *s);

/* zt_ctl_time_iso writes |t| as "YYYY-MM-DDTHH:MM:SSZ" (UTC) into |buf|
 * (at least 32 bytes) and returns it. */
const char *zt_ctl_time_iso(time_t t, char *buf, size_t len);

/* A flat record, written as "key: value" lines (text) or as one JSON
 * object: the same calls give both, so the two formats never disagree.
 * Errors are sticky: zt_ctl_kv_end reports whether everything fit. */
struct zt_ctl_kv {
  CBB *out;
  int json, n, ok;
};

void zt_ctl_kv_begin(struct zt_ctl_kv *kv, CBB *out, int json);
/* zt_ctl_kv_str: |val| NULL is JSON null (text "-"). */
void zt_ctl_kv_str(struct zt_ctl_kv *kv, const char *key, const char *val);
void zt_ctl_kv_u64(struct zt_ctl_kv *kv, const char *key, uint64_t val);
void zt_ctl_kv_bool(struct zt_ctl_kv *kv, const char *key, int val);
/* zt_ctl_kv_list: a JSON array of strings; text: joined with ", " ("-"
 * when empty). */
void zt_ctl_kv_list(struct zt_ctl_kv *kv, const char *key, const char *const *vals,
                    size_t n);
/* zt_ctl_kv_counts: a JSON object of numbers; text: "name=N name=N". */
void zt_ctl_kv_counts(struct zt_ctl_kv *kv, const char *key, const char *const *names,
                      const uint64_t *vals, size_t n);
/* zt_ctl_kv_end closes the JSON object (no newline). Returns 1, or 0 if
 * anything failed. */
int zt_ctl_kv_end(struct zt_ctl_kv *kv);

#endif

/* A TLS stream carrying framed messages, over a non-blocking socket: the
 * buffering both programs share. It does TLS I/O only; what the messages
 * mean is the caller's business. */
#ifndef ZTVPN_CONN_H
#define ZTVPN_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/bytestring.h>
#include <openssl/ssl.h>

enum zt_io {
  ZT_IO_OK,   /* progress made (read: new bytes in |in|; flush: all sent) */
  ZT_IO_WANT, /* would block: wait for readability (or writability if
                 conn->want_write) */
  ZT_IO_EOF,  /* the peer closed */
  ZT_IO_ERR,  /* TLS or socket failure: see zt_conn_error */
};

struct zt_conn {
  int fd;
  SSL *ssl;
  int want_write;          /* the last WANT needs writability */
  int peer_alert;          /* alert description the peer sent, or -1 */
  uint8_t *in;             /* decrypted bytes not yet taken as frames; NULL
                              while there are none */
  size_t in_len, in_cap;   /* in_cap: also the size |in| is allocated at */
  uint8_t *out;            /* frames not yet accepted by SSL_write; from the
                              first frame queued until zt_conn_trim */
  size_t out_off, out_len, out_cap, out_max;
  uint64_t bytes_in, bytes_out; /* plaintext, for accounting */
};

/* zt_conn_init wraps connected socket |fd| (owned from now on) in a TLS
 * session from |ctx|, in the server or client role. |out_max| bounds the
 * bytes queued for sending. Returns 1 or 0. */
int zt_conn_init(struct zt_conn *c, int fd, SSL_CTX *ctx, int is_server,
                 size_t out_max);
/* zt_conn_free closes the socket and frees everything; NULL-safe fields. */
void zt_conn_free(struct zt_conn *c);

/* zt_conn_handshake advances the TLS handshake: OK when complete. */
enum zt_io zt_conn_handshake(struct zt_conn *c);

/* zt_conn_read reads decrypted bytes into |in| until it is full or the
 * socket has nothing more; OK means new bytes arrived. */
enum zt_io zt_conn_read(struct zt_conn *c);

/* zt_conn_frames gives the unread bytes as |cbs|; after taking frames, the
 * caller reports what remains with zt_conn_consumed. */
void zt_conn_pending(const struct zt_conn *c, CBS *cbs);
void zt_conn_consumed(struct zt_conn *c, const CBS *rest);

/* zt_conn_queue appends one frame. Returns 1, or 0 if it does not fit in
 * out_max (the caller counts a drop) or the type/length is invalid. */
int zt_conn_queue(struct zt_conn *c, uint8_t type, const uint8_t *body,
                  size_t len);
/* zt_conn_queued returns how many bytes wait to be sent. */
size_t zt_conn_queued(const struct zt_conn *c);

/* zt_conn_flush hands queued bytes to TLS: OK when all went out. */
enum zt_io zt_conn_flush(struct zt_conn *c);

/* zt_conn_trim frees the output buffer when it holds nothing, so that an
 * idle connection keeps no buffer (the next frame queued allocates a small
 * one). Owners call it when the connection is quiet, e.g. at a keepalive;
 * not after every flush, which would reallocate a busy connection's buffer
 * for every batch. */
void zt_conn_trim(struct zt_conn *c);

/* zt_conn_shutdown sends close_notify (best effort, non-blocking). */
void zt_conn_shutdown(struct zt_conn *c);

/* zt_conn_verify_error returns the X509_V_ERR code when certificate
 * verification ran on this connection and failed, or X509_V_OK when it did
 * not run (the handshake failed before) or passed. */
long zt_conn_verify_error(const struct zt_conn *c);

/* zt_conn_error describes the last TLS failure (verification result, alert
 * received, library error) into |buf|. */
const char *zt_conn_error(struct zt_conn *c, char *buf, size_t len);

/* zt_conn_info_callback records alerts the peer sends; tls.c installs it. */
void zt_conn_info_callback(const SSL *ssl, int type, int value);

#endif

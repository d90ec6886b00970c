#include "conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "frame.h"
#include "proto.h"

/* Room for the largest frame plus a full TLS record of the next one. */
#define CONN_IN_CAP (ZT_FRAME_HEADER_LEN + ZT_FRAME_MAX_BODY + 16384)
/* The buffers are sized for what the connection carries and exist only
 * while they hold bytes (the output one until zt_conn_trim): an idle
 * session then holds none, rather than 144 KiB of heap of which it touched
 * two pages, and whose untouched pages the next sessions placed there would
 * fault in (RSS that grew with every round of sessions). The input buffer
 * starts at one TLS record of plaintext and doubles, up to CONN_IN_CAP, only
 * when a frame does not fit; the output one starts at CONN_OUT_MIN. */
#define CONN_IN_MIN 16384
#define CONN_OUT_MIN 4096
/* TLS records carry at most 16 KiB of plaintext. */
#define CONN_WRITE_CHUNK 16384

void zt_conn_info_callback(const SSL *ssl, int type, int value) {
  /* SSL_CB_WRITE_ALERT shares the SSL_CB_ALERT bit: our own alerts are no
   * peer's verdict. */
  if ((type & SSL_CB_READ_ALERT) != SSL_CB_READ_ALERT) return;
  struct zt_conn *c = SSL_get_app_data(ssl);
  /* close_notify is not a failure and must not mask a real alert. */
  if (c && (value & 0xff) != SSL_AD_CLOSE_NOTIFY) c->peer_alert = value & 0xff;
}

int zt_conn_init(struct zt_conn *c, int fd, SSL_CTX *ctx, int is_server,
                 size_t out_max) {
  memset(c, 0, sizeof(*c));
  c->fd = fd;
  c->peer_alert = -1;
  c->out_max = out_max;
  c->in_cap = CONN_IN_MIN; /* the size of the next allocation */
  c->ssl = SSL_new(ctx);
  if (!c->ssl || !SSL_set_fd(c->ssl, fd)) return 0;
  SSL_set_app_data(c->ssl, c);
  if (is_server) SSL_set_accept_state(c->ssl);
  else SSL_set_connect_state(c->ssl);
  return 1;
}

void zt_conn_free(struct zt_conn *c) {
  SSL_free(c->ssl);
  c->ssl = NULL;
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  free(c->in);
  c->in = NULL;
  free(c->out);
  c->out = NULL;
}

/* Classifies the result |ret| of an SSL call. */
static enum zt_io ssl_result(struct zt_conn *c, int ret) {
  switch (SSL_get_error(c->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
      c->want_write = 0;
      return ZT_IO_WANT;
    case SSL_ERROR_WANT_WRITE:
      c->want_write = 1;
      return ZT_IO_WANT;
    case SSL_ERROR_ZERO_RETURN:
      return ZT_IO_EOF;
    case SSL_ERROR_SYSCALL:
      /* ret 0 with an empty error queue is a TCP close without close_notify. */
      return (ret == 0 && ERR_peek_error() == 0) ? ZT_IO_EOF : ZT_IO_ERR;
    default:
      return ZT_IO_ERR;
  }
}

enum zt_io zt_conn_handshake(struct zt_conn *c) {
  int r = SSL_do_handshake(c->ssl);
  return r == 1 ? ZT_IO_OK : ssl_result(c, r);
}

/* Frees the input buffer once it holds nothing (its size is kept). */
static void in_release_if_empty(struct zt_conn *c) {
  if (c->in_len > 0) return;
  free(c->in);
  c->in = NULL;
}

/* Makes |in| exist, and grows it when it is full on entry to a read: the
 * caller then took no frame, so the one it holds needs more room. */
static int in_reserve(struct zt_conn *c) {
  if (c->in && c->in_len == c->in_cap && c->in_cap < CONN_IN_CAP) {
    size_t cap = c->in_cap * 2 < CONN_IN_CAP ? c->in_cap * 2 : CONN_IN_CAP;
    uint8_t *p = realloc(c->in, cap);
    if (!p) return 0;
    c->in = p;
    c->in_cap = cap;
  }
  if (!c->in) c->in = malloc(c->in_cap);
  return c->in != NULL;
}

enum zt_io zt_conn_read(struct zt_conn *c) {
  size_t before = c->in_len;
  if (!in_reserve(c)) return ZT_IO_ERR;
  while (c->in_len < c->in_cap) {
    size_t room = c->in_cap - c->in_len;
    int r = SSL_read(c->ssl, c->in + c->in_len, room > INT32_MAX ? INT32_MAX : (int)room);
    if (r <= 0) {
      enum zt_io io = ssl_result(c, r);
      /* Deliver what arrived first; EOF or an error shows on the next call. */
      if (c->in_len > before) return ZT_IO_OK;
      in_release_if_empty(c);
      return io;
    }
    c->in_len += (size_t)r;
    c->bytes_in += (uint64_t)r;
  }
  return ZT_IO_OK;
}

void zt_conn_pending(const struct zt_conn *c, CBS *cbs) {
  CBS_init(cbs, c->in, c->in_len);
}

void zt_conn_consumed(struct zt_conn *c, const CBS *rest) {
  size_t left = CBS_len(rest);
  if (left && CBS_data(rest) != c->in) memmove(c->in, CBS_data(rest), left);
  c->in_len = left;
  in_release_if_empty(c);
}

size_t zt_conn_queued(const struct zt_conn *c) { return c->out_len; }

/* Makes room for |need| more bytes at the end of |out|. */
static int out_reserve(struct zt_conn *c, size_t need) {
  if (c->out_len + need > c->out_max) return 0;
  if (c->out_off > 0 && c->out_off + c->out_len + need > c->out_cap) {
    memmove(c->out, c->out + c->out_off, c->out_len);
    c->out_off = 0;
  }
  if (c->out_off + c->out_len + need <= c->out_cap) return 1;
  size_t cap = c->out_cap ? c->out_cap : CONN_OUT_MIN;
  while (cap < c->out_len + need) cap *= 2;
  if (cap > c->out_max) cap = c->out_max;
  uint8_t *p = realloc(c->out, cap);
  if (!p) return 0;
  c->out = p;
  c->out_cap = cap;
  return 1;
}

int zt_conn_queue(struct zt_conn *c, uint8_t type, const uint8_t *body,
                  size_t len) {
  size_t total = ZT_FRAME_HEADER_LEN + len;
  if (len > zt_frame_max_body(type) || !out_reserve(c, total)) return 0;
  CBB cbb;
  uint8_t *dst = c->out + c->out_off + c->out_len;
  if (!CBB_init_fixed(&cbb, dst, total) || !zt_frame_add(&cbb, type, body, len) ||
      CBB_len(&cbb) != total) {
    CBB_cleanup(&cbb);
    return 0;
  }
  CBB_cleanup(&cbb);
  c->out_len += total;
  return 1;
}

enum zt_io zt_conn_flush(struct zt_conn *c) {
  while (c->out_len > 0) {
    size_t n = c->out_len < CONN_WRITE_CHUNK ? c->out_len : CONN_WRITE_CHUNK;
    int r = SSL_write(c->ssl, c->out + c->out_off, (int)n);
    if (r <= 0) return ssl_result(c, r);
    c->out_off += (size_t)r;
    c->out_len -= (size_t)r;
    c->bytes_out += (uint64_t)r;
  }
  c->out_off = 0;
  c->want_write = 0;
  return ZT_IO_OK;
}

void zt_conn_trim(struct zt_conn *c) {
  if (c->out_len > 0) return;
  free(c->out);
  c->out = NULL;
  c->out_off = c->out_cap = 0;
}

void zt_conn_shutdown(struct zt_conn *c) {
  if (c->ssl && SSL_is_init_finished(c->ssl)) SSL_shutdown(c->ssl);
  ERR_clear_error();
}

long zt_conn_verify_error(const struct zt_conn *c) {
  long vr = c->ssl ? SSL_get_verify_result(c->ssl) : X509_V_OK;
  /* INVALID_CALL is the value before any verification took place. */
  return vr == X509_V_ERR_INVALID_CALL ? X509_V_OK : vr;
}

const char *zt_conn_error(struct zt_conn *c, char *buf, size_t len) {
  long vr = zt_conn_verify_error(c);
  unsigned long e = ERR_peek_last_error();
  if (c->peer_alert >= 0) {
    snprintf(buf, len, "peer sent TLS alert: %s",
             SSL_alert_desc_string_long(c->peer_alert));
  } else if (vr != X509_V_OK) {
    snprintf(buf, len, "certificate verification failed: %s",
             X509_verify_cert_error_string(vr));
  } else if (e != 0) {
    const char *r = ERR_reason_error_string(e);
    snprintf(buf, len, "TLS error: %s", r ? r : "unknown");
  } else if (errno != 0) {
    snprintf(buf, len, "%s", strerror(errno));
  } else {
    snprintf(buf, len, "connection failed");
  }
  ERR_clear_error();
  return buf;
}

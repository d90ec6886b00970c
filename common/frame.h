/* Framing of messages on the TLS stream: u8 type, u16 length, body. */
#ifndef ZTVPN_FRAME_H
#define ZTVPN_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/bytestring.h>

enum zt_frame_result {
  ZT_FRAME_OK,           /* one frame taken from the input */
  ZT_FRAME_NEED_MORE,    /* incomplete: the input is left untouched */
  ZT_FRAME_UNKNOWN_TYPE, /* a type this version does not define */
  ZT_FRAME_TOO_BIG,      /* the body exceeds its type's maximum */
};

/* zt_frame_max_body returns the largest body allowed for |type|, or 0 for an
 * unknown type. */
size_t zt_frame_max_body(uint8_t type);

/* zt_frame_next takes the next complete frame from |in|: on ZT_FRAME_OK it
 * sets |*type| and |body| (pointing into |in|'s data) and advances |in|. The
 * size check happens on the header alone, so an oversized frame is refused
 * before its body arrives. */
enum zt_frame_result zt_frame_next(CBS *in, uint8_t *type, CBS *body);

/* zt_frame_add appends a whole frame to |cbb|. Returns 1 or 0 (too big,
 * unknown type or allocation failure). */
int zt_frame_add(CBB *cbb, uint8_t type, const uint8_t *body, size_t len);

/* zt_frame_begin starts a frame of |type| on |cbb| and sets |body| to the
 * child that receives its body; CBB_flush(cbb) completes it. Returns 1 or 0. */
int zt_frame_begin(CBB *cbb, uint8_t type, CBB *body);

/* zt_frame_result_str describes a frame result for logs. */
const char *zt_frame_result_str(enum zt_frame_result r);

#endif

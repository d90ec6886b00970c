#include "frame.h"

#include "proto.h"

size_t zt_frame_max_body(uint8_t type) {
  switch (type) {
    case ZT_MSG_USER_PROOF: return ZT_MAX_USER_PROOF;
    case ZT_MSG_ADMIT: return ZT_MAX_ADMIT;
    case ZT_MSG_REJECT:
    case ZT_MSG_CLOSE: return ZT_MAX_REASON_MSG;
    case ZT_MSG_DATA: return ZT_MAX_DATA;
    case ZT_MSG_KEEPALIVE: return 0;
    case ZT_MSG_ROUTES: return ZT_MAX_ROUTES_MSG;
    case ZT_MSG_RESUME: return ZT_RESUME_MSG_LEN;
    case ZT_MSG_PATH: return ZT_PATH_MSG_LEN;
    default: return 0;
  }
}

static int zt_frame_type_known(uint8_t type) {
  return type >= ZT_MSG_USER_PROOF && type <= ZT_MSG_PATH;
}

enum zt_frame_result zt_frame_next(CBS *in, uint8_t *type, CBS *body) {
  CBS peek = *in;
  uint8_t t;
  uint16_t len;
  if (!CBS_get_u8(&peek, &t) || !CBS_get_u16(&peek, &len))
    return ZT_FRAME_NEED_MORE;
  if (!zt_frame_type_known(t)) return ZT_FRAME_UNKNOWN_TYPE;
  if (len > zt_frame_max_body(t)) return ZT_FRAME_TOO_BIG;
  if (!CBS_get_bytes(&peek, body, len)) return ZT_FRAME_NEED_MORE;
  *type = t;
  *in = peek;
  return ZT_FRAME_OK;
}

int zt_frame_begin(CBB *cbb, uint8_t type, CBB *body) {
  if (!zt_frame_type_known(type)) return 0;
  return CBB_add_u8(cbb, type) && CBB_add_u16_length_prefixed(cbb, body);
}

int zt_frame_add(CBB *cbb, uint8_t type, const uint8_t *body, size_t len) {
  CBB child;
  if (len > zt_frame_max_body(type)) return 0;
  return zt_frame_begin(cbb, type, &child) && CBB_add_bytes(&child, body, len) &&
         CBB_flush(cbb);
}

const char *zt_frame_result_str(enum zt_frame_result r) {
  switch (r) {
    case ZT_FRAME_OK: return "ok";
    case ZT_FRAME_NEED_MORE: return "incomplete frame";
    case ZT_FRAME_UNKNOWN_TYPE: return "unknown message type";
    case ZT_FRAME_TOO_BIG: return "message exceeds its maximum size";
  }
  return "?";
}

#include "proto.h"

int zt_reason_is_final(uint16_t code) {
  switch (code) {
    case ZT_REASON_USER_AUTH:
    case ZT_REASON_DEVICE_AUTH:
    case ZT_REASON_POLICY:
    case ZT_REASON_REVOKED:
    case ZT_REASON_KILLED:
    case ZT_REASON_PROTOCOL:
      return 1;
    default:
      return 0;
  }
}

const char *zt_reason_name(uint16_t code) {
  switch (code) {
    case ZT_REASON_PROTOCOL: return "protocol";
    case ZT_REASON_USER_AUTH: return "user-auth";
    case ZT_REASON_DEVICE_AUTH: return "device-auth";
    case ZT_REASON_POLICY: return "policy";
    case ZT_REASON_NO_ADDRESS: return "no-address";
    case ZT_REASON_SHUTDOWN: return "shutdown";
    case ZT_REASON_KILLED: return "killed";
    case ZT_REASON_TIMEOUT: return "timeout";
    case ZT_REASON_INTERNAL: return "internal";
    case ZT_REASON_REVOKED: return "revoked";
    default: return "unknown";
  }
}

/* The ztvpn wire protocol, version 1: every message type, limit and label in
 * one place. common/PROTOCOL.md describes the same in prose; keep them in step. */
#ifndef ZTVPN_PROTO_H
#define ZTVPN_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* ALPN names the protocol version; a server that does not speak it fails the
 * TLS handshake with no_application_protocol. */
#define ZT_ALPN "ztvpn/1"
#define ZT_PROTO_VERSION 1

/* User proof: the user signs ZT_PROOF_CONTEXT || 0x00 || exporter, where
 * exporter = TLS-Exporter(ZT_EXPORTER_LABEL, "", ZT_EXPORTER_LEN). */
#define ZT_EXPORTER_LABEL "EXPORTER-ztvpn-user-proof"
#define ZT_EXPORTER_LEN 32
#define ZT_PROOF_CONTEXT "ztvpn user proof v1"

/* Frame: u8 type, u16 body length (big endian), body. */
#define ZT_FRAME_HEADER_LEN 3
#define ZT_FRAME_MAX_BODY 65535

enum zt_msg_type {
  ZT_MSG_USER_PROOF = 1, /* client -> server, once, first message */
  ZT_MSG_ADMIT = 2,      /* server -> client, once: tunnel parameters */
  ZT_MSG_REJECT = 3,     /* server -> client, then the server closes */
  ZT_MSG_CLOSE = 4,      /* either way: orderly end with a reason */
  ZT_MSG_DATA = 5,       /* either way: one IP packet */
  ZT_MSG_KEEPALIVE = 6,  /* either way: empty, sent when otherwise idle */
  ZT_MSG_ROUTES = 7,     /* server -> client: the routes now in force */
  ZT_MSG_RESUME = 8,     /* client -> server, optional, before USER_PROOF:
                            attach this connection to a live session */
  ZT_MSG_PATH = 9,       /* client -> server: which path the server should
                            send data on (UDP works, or the TLS stream) */
};

/* Per-type body limits: anything larger closes the session. */
#define ZT_MAX_USER_PROOF 16384
#define ZT_MAX_ADMIT 8192
#define ZT_MAX_REASON_MSG 1024
#define ZT_MAX_DATA 65535
#define ZT_MAX_ROUTES_MSG 8192 /* ZT_MAX_ROUTES ROUTE attributes fit */
#define ZT_MIN_DATA 20 /* smallest IPv4 header */
#define ZT_RESUME_TOKEN_LEN 32
#define ZT_RESUME_MSG_LEN (8 + ZT_RESUME_TOKEN_LEN) /* u64 session id, token */
#define ZT_PATH_MSG_LEN 1                           /* u8 enum zt_path */

/* PATH: where the client wants the server's data. */
enum zt_path {
  ZT_PATH_TLS = 0, /* UDP does not get through: use the TLS stream */
  ZT_PATH_UDP = 1, /* authenticated UDP datagrams arrive both ways */
};

/* USER_PROOF fields. */
#define ZT_MAX_CHAIN_CERTS 4
#define ZT_MAX_CERT_LEN 8192
#define ZT_MAX_SIG_LEN 1024
/* Signature schemes use the TLS SignatureScheme code points. */
#define ZT_SIG_ECDSA_P256_SHA256 0x0403
#define ZT_SIG_ECDSA_P384_SHA384 0x0503
#define ZT_SIG_RSA_PSS_SHA256 0x0804
#define ZT_SIG_ED25519 0x0807

/* ADMIT attributes: u8 type, u16-length-prefixed value. */
enum zt_attr {
  ZT_ATTR_ADDR4 = 1,      /* 4-byte address, u8 prefix length; exactly once */
  ZT_ATTR_ADDR6 = 2,      /* 16-byte address, u8 prefix length; at most once */
  ZT_ATTR_MTU = 3,        /* u16; exactly once */
  ZT_ATTR_ROUTE = 4,      /* 4 or 16 address bytes, u8 prefix length; repeated */
  ZT_ATTR_DNS_SERVER = 5, /* 4 or 16 bytes; repeated */
  ZT_ATTR_DNS_DOMAIN = 6, /* name, 1..253 bytes of [a-zA-Z0-9.-]; repeated */
  ZT_ATTR_KEEPALIVE = 7,  /* u16 seconds; exactly once */
  ZT_ATTR_SESSION_ID = 8, /* u64; exactly once */
  ZT_ATTR_UDP = 9,        /* the UDP data channel, at most once: u16 port,
                             u32 server index, u32 client index, u8 cipher,
                             u32 rekey interval (s) */
  ZT_ATTR_RESUME = 10,    /* 32-byte resume token; at most once */
  ZT_ATTR_REAUTH = 11,    /* u32 seconds between re-authentications,
                             0 = never; at most once */
  ZT_ATTR_RESUMED = 12,   /* empty; at most once: this ADMIT continues the
                             session that RESUME named */
};
#define ZT_MAX_ROUTES 256
#define ZT_MAX_DNS_SERVERS 8
#define ZT_MAX_DNS_DOMAINS 8
#define ZT_MAX_DOMAIN_LEN 253
#define ZT_MIN_MTU 576
#define ZT_MAX_MTU 9000

/* Reasons carried by REJECT and CLOSE: u16 code, u16-prefixed text. */
#define ZT_MAX_REASON_TEXT 512
enum zt_reason {
  ZT_REASON_PROTOCOL = 1,      /* malformed or unexpected message */
  ZT_REASON_USER_AUTH = 2,     /* user certificate or proof refused */
  ZT_REASON_DEVICE_AUTH = 3,   /* device certificate refused */
  ZT_REASON_POLICY = 4,        /* the policy does not admit this pair */
  ZT_REASON_NO_ADDRESS = 5,    /* address pool exhausted */
  ZT_REASON_SHUTDOWN = 6,      /* the peer is stopping */
  ZT_REASON_KILLED = 7,        /* an administrator ended the session */
  ZT_REASON_TIMEOUT = 8,       /* handshake or keepalive timeout */
  ZT_REASON_INTERNAL = 9,      /* resource failure on the sender */
  ZT_REASON_REVOKED = 10,      /* a certificate was revoked or expired */
};

/* zt_reason_is_final says whether a client must stop (exit 1) rather than
 * reconnect after being told |code|: identity and policy decisions are. */
int zt_reason_is_final(uint16_t code);
/* zt_reason_name returns a short fixed name for |code| ("user-auth"). */
const char *zt_reason_name(uint16_t code);

/* Timers (seconds). The server pushes the keepalive interval; a peer that
 * sends nothing for ZT_DEAD_FACTOR intervals is declared dead. */
#define ZT_DEFAULT_KEEPALIVE 10
#define ZT_DEAD_FACTOR 3
#define ZT_HANDSHAKE_TIMEOUT 10

#endif

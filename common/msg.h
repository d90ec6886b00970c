/* Bodies of the control messages: each has a parser (untrusted bytes in,
 * validated struct out, all of the body consumed) and a builder (CBB). */
#ifndef ZTVPN_MSG_H
#define ZTVPN_MSG_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/bytestring.h>

#include "addr.h"
#include "proto.h"

/* USER_PROOF: u8 version, u16-prefixed list of u16-prefixed DER
 * certificates (leaf first), u16 signature scheme, u16-prefixed signature. */
struct zt_user_proof {
  CBS certs[ZT_MAX_CHAIN_CERTS]; /* point into the parsed body */
  size_t ncerts;                 /* 0 when the client sent no certificate */
  uint16_t sig_scheme;
  CBS sig;
};

/* zt_user_proof_parse validates |body|. An empty chain is syntactically
 * valid (admission rejects it with a clear reason). Returns 1 or 0. */
int zt_user_proof_parse(CBS body, struct zt_user_proof *out);
int zt_user_proof_build(CBB *body, const uint8_t *const *certs,
                        const size_t *cert_lens, size_t ncerts,
                        uint16_t sig_scheme, const uint8_t *sig,
                        size_t sig_len);

/* ADMIT: tunnel parameters as attributes (see enum zt_attr). */
struct zt_admit {
  struct zt_prefix addr4;
  int has_addr6;
  struct zt_prefix addr6;
  uint16_t mtu;
  uint16_t keepalive;
  uint64_t session_id;
  size_t nroutes;
  struct zt_prefix routes[ZT_MAX_ROUTES];
  size_t ndns;
  struct zt_ip dns[ZT_MAX_DNS_SERVERS];
  size_t ndomains;
  char domains[ZT_MAX_DNS_DOMAINS][ZT_MAX_DOMAIN_LEN + 1];
  /* The UDP data channel, when the server offers one. */
  int has_udp;
  uint16_t udp_port;
  uint32_t udp_server_index; /* goes into the client's datagrams */
  uint32_t udp_client_index; /* the server's datagrams carry it */
  uint8_t udp_cipher;        /* enum zt_aead_id */
  uint32_t rekey_interval;   /* seconds, 1..86400 */
  int has_resume;
  uint8_t resume_token[ZT_RESUME_TOKEN_LEN];
  uint32_t reauth_interval;  /* seconds; 0 = never */
  int resumed;               /* continues the session RESUME named */
};

/* zt_admit_parse fills |out| from |body|: unknown or repeated-once
 * attributes, missing required ones, bad lengths and out-of-range values
 * fail. Returns 1 or 0. */
int zt_admit_parse(CBS body, struct zt_admit *out);
int zt_admit_build(CBB *body, const struct zt_admit *a);

/* ROUTES: the routes now in force for the session, replacing those of ADMIT
 * (after a reload changed the pair's policy): 0..ZT_MAX_ROUTES ROUTE
 * attributes, nothing else. */
struct zt_routes {
  size_t n;
  struct zt_prefix routes[ZT_MAX_ROUTES];
};

/* zt_routes_parse fills |out| from |body|: any other attribute, a bad
 * length, host bits set or more than ZT_MAX_ROUTES fail. Returns 1 or 0. */
int zt_routes_parse(CBS body, struct zt_routes *out);
int zt_routes_build(CBB *body, const struct zt_prefix *routes, size_t n);

/* RESUME: u64 session id, the 32-byte token that session's ADMIT gave. */
struct zt_resume {
  uint64_t session_id;
  uint8_t token[ZT_RESUME_TOKEN_LEN];
};
int zt_resume_parse(CBS body, struct zt_resume *out);
int zt_resume_build(CBB *body, const struct zt_resume *r);

/* PATH: u8 enum zt_path. */
int zt_path_parse(CBS body, uint8_t *path);
int zt_path_build(CBB *body, uint8_t path);

/* REJECT and CLOSE: u16 reason code, u16-prefixed text of printable ASCII. */
struct zt_reason_msg {
  uint16_t code;
  char text[ZT_MAX_REASON_TEXT + 1];
};

int zt_reason_parse(CBS body, struct zt_reason_msg *out);
/* zt_reason_build truncates |text| to ZT_MAX_REASON_TEXT and replaces
 * non-printable bytes with '?'. */
int zt_reason_build(CBB *body, uint16_t code, const char *text);

/* zt_domain_valid says whether |s| (|len| bytes) is an acceptable DNS search
 * domain: 1..253 bytes of letters, digits, '-' and '.'. */
int zt_domain_valid(const char *s, size_t len);

#endif

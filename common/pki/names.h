/* What ztvpn-pki calls things: the three kinds of certificate and their CAs,
 * and the checks on every name that ends up in a file name or a certificate
 * (NAME, groups, the organization, --san values). */
#ifndef ZTVPN_PKI_NAMES_H
#define ZTVPN_PKI_NAMES_H

#include <stddef.h>
#include <stdint.h>

/* A NAME or group: 1..64 of [A-Za-z0-9._@-], starting with a letter or a
 * digit (so never "..", a hidden file or an option). */
#define ZT_PKI_NAME_MAX 64
#define ZT_PKI_ORG_MAX 64
/* A DNS name in a SAN (RFC 1035 length). */
#define ZT_PKI_DNS_MAX 253
#define ZT_PKI_MAX_GROUPS 16 /* what the server accepts (ZT_MAX_GROUPS) */
#define ZT_PKI_MAX_SANS 16

enum zt_pki_kind { ZT_PKI_SERVER = 0, ZT_PKI_DEVICE = 1, ZT_PKI_USER = 2 };
#define ZT_PKI_NKINDS 3

/* zt_pki_kind_parse maps "server", "device" or "user" to |*out|. Returns 1,
 * or 0 for anything else. */
int zt_pki_kind_parse(const char *s, enum zt_pki_kind *out);

/* zt_pki_kind_name: "server", "device", "user". */
const char *zt_pki_kind_name(enum zt_pki_kind kind);

/* zt_pki_kind_ca: the CA that issues this kind ("server-ca" ...). */
const char *zt_pki_kind_ca(enum zt_pki_kind kind);

/* zt_pki_kind_dir: where issued certificates go ("servers" ...). */
const char *zt_pki_kind_dir(enum zt_pki_kind kind);

/* zt_pki_name_ok says whether the |len| bytes at |s| are a valid NAME or
 * group (see ZT_PKI_NAME_MAX). */
int zt_pki_name_ok(const char *s, size_t len);

/* zt_pki_org_ok: 1..64 bytes of printable ASCII, no space at either end. */
int zt_pki_org_ok(const char *s);

/* zt_pki_dns_ok: a host name (letters, digits, '-', dot-separated labels of
 * 1..63 without '-' at either end, 253 at most), optionally "*." first. */
int zt_pki_dns_ok(const char *s);

enum zt_pki_san_type { ZT_SAN_DNS, ZT_SAN_IP };

struct zt_pki_san {
  enum zt_pki_san_type type;
  char dns[ZT_PKI_DNS_MAX + 1]; /* ZT_SAN_DNS */
  uint8_t ip[16];               /* ZT_SAN_IP: 4 or 16 bytes */
  size_t ip_len;
};

/* zt_pki_san_parse parses "DNS:name" or "IP:address" (IPv4 or IPv6).
 * Returns 1, or 0 with a reason in |err|. */
int zt_pki_san_parse(const char *arg, struct zt_pki_san *out, char *err,
                     size_t errlen);

#endif

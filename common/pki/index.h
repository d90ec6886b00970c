/* The issued-certificates index of one CA (DIR/ca/<ca>/index): one line per
 * certificate the CA issued, in the order they were issued,
 *
 *   V SERIAL NOTAFTER - - KIND NAME
 *   R SERIAL NOTAFTER REVOKED_AT REASON KIND NAME
 *
 * fields separated by one space, each line ended by '\n'. SERIAL is the
 * serial number in upper-case hex, 1..20 bytes, the first not zero;
 * NOTAFTER and REVOKED_AT are seconds since the epoch (decimal, no leading
 * zeros, at most 9999-12-31T23:59:59Z); REASON is a CRL reason name (see
 * zt_pki_reason_parse); KIND is server, device or user; NAME as in names.h.
 * Nothing else is accepted (no comments, no blank lines): the file is only
 * written by ztvpn-pki, and any other content means it was damaged. */
#ifndef ZTVPN_PKI_INDEX_H
#define ZTVPN_PKI_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/bytestring.h>

#include "names.h"

#define ZT_PKI_SERIAL_MAX 20     /* RFC 5280 4.1.2.2 */
#define ZT_PKI_SERIAL_HEX (2 * ZT_PKI_SERIAL_MAX + 1)
#define ZT_PKI_INDEX_MAX 100000  /* certificates per CA */
#define ZT_PKI_INDEX_LINE_MAX 256
#define ZT_PKI_INDEX_FILE_MAX (ZT_PKI_INDEX_MAX * ZT_PKI_INDEX_LINE_MAX)

/* RFC 5280 5.3.1 CRLReason values that ztvpn-pki writes. */
enum zt_pki_reason {
  ZT_REASON_UNSPECIFIED = 0,
  ZT_REASON_KEY_COMPROMISE = 1,
  ZT_REASON_AFFILIATION_CHANGED = 3,
  ZT_REASON_SUPERSEDED = 4,
  ZT_REASON_CESSATION = 5,
};

struct zt_pki_entry {
  int revoked;
  uint8_t serial[ZT_PKI_SERIAL_MAX];
  size_t serial_len;
  int64_t not_after;
  int64_t revoked_at;        /* when revoked */
  enum zt_pki_reason reason; /* when revoked */
  enum zt_pki_kind kind;
  char name[ZT_PKI_NAME_MAX + 1];
};

struct zt_pki_index {
  struct zt_pki_entry *entries;
  size_t n, cap;
};

/* zt_pki_reason_parse maps keyCompromise, superseded, cessationOfOperation,
 * affiliationChanged or unspecified (the |len| bytes at |s|) to |*out|.
 * Returns 1, or 0. */
int zt_pki_reason_parse(const char *s, size_t len, enum zt_pki_reason *out);

/* zt_pki_reason_name is the inverse of zt_pki_reason_parse. */
const char *zt_pki_reason_name(enum zt_pki_reason reason);

/* zt_pki_serial_hex writes |len| (1..20) bytes as upper-case hex. */
void zt_pki_serial_hex(const uint8_t *serial, size_t len, char out[ZT_PKI_SERIAL_HEX]);

/* zt_pki_serial_parse reads a serial number as an administrator types it:
 * 1..40 hex digits of either case, leading zeros ignored. Returns 1 and the
 * canonical bytes (first byte not zero), or 0. */
int zt_pki_serial_parse(const char *hex, uint8_t out[ZT_PKI_SERIAL_MAX], size_t *out_len);

/* zt_pki_index_init makes an empty index. */
void zt_pki_index_init(struct zt_pki_index *idx);

/* zt_pki_index_free frees the entries (the struct itself is the caller's). */
void zt_pki_index_free(struct zt_pki_index *idx);

/* zt_pki_index_add appends a copy of |e|. Returns 1, or 0 when the index is
 * full (ZT_PKI_INDEX_MAX) or memory runs out. */
int zt_pki_index_add(struct zt_pki_index *idx, const struct zt_pki_entry *e);

/* zt_pki_index_parse parses the whole index |in| into |out| (which must be
 * initialised and empty). |kind| is the only KIND its lines may carry.
 * Returns 1, or 0 with "FILE:LINE: message" in |err| (|file| names the
 * input) and |out| emptied. */
int zt_pki_index_parse(CBS in, const char *file, enum zt_pki_kind kind,
                       struct zt_pki_index *out, char *err, size_t errlen);

/* zt_pki_index_format appends the index in the format above to |cbb|.
 * Returns 1, or 0 on a CBB failure. Parsing the output gives |idx| back. */
int zt_pki_index_format(CBB *cbb, const struct zt_pki_index *idx);

#endif

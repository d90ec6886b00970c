#include "index.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkitime.h"

static const struct {
  const char *name;
  enum zt_pki_reason reason;
} reasons[] = {
    {"unspecified", ZT_REASON_UNSPECIFIED},
    {"keyCompromise", ZT_REASON_KEY_COMPROMISE},
    {"affiliationChanged", ZT_REASON_AFFILIATION_CHANGED},
    {"superseded", ZT_REASON_SUPERSEDED},
    {"cessationOfOperation", ZT_REASON_CESSATION},
};
#define NREASONS (sizeof(reasons) / sizeof(reasons[0]))

int zt_pki_reason_parse(const char *s, size_t len, enum zt_pki_reason *out) {
  for (size_t i = 0; i < NREASONS; i++) {
    if (strlen(reasons[i].name) == len && memcmp(reasons[i].name, s, len) == 0) {
      *out = reasons[i].reason;
      return 1;
    }
  }
  return 0;
}

const char *zt_pki_reason_name(enum zt_pki_reason reason) {
  for (size_t i = 0; i < NREASONS; i++)
    if (reasons[i].reason == reason) return reasons[i].name;
  return "unspecified";
}

void zt_pki_serial_hex(const uint8_t *serial, size_t len, char out[ZT_PKI_SERIAL_HEX]) {
  static const char hex[] = "0123456789ABCDEF";
  size_t i;
  for (i = 0; i < len && i < ZT_PKI_SERIAL_MAX; i++) {
    out[2 * i] = hex[serial[i] >> 4];
    out[2 * i + 1] = hex[serial[i] & 15];
  }
  out[2 * i] = '\0';
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

int zt_pki_serial_parse(const char *hex, uint8_t out[ZT_PKI_SERIAL_MAX], size_t *out_len) {
  size_t len = strnlen(hex, 2 * ZT_PKI_SERIAL_MAX + 1), n = 0;
  uint8_t buf[ZT_PKI_SERIAL_MAX];
  if (len < 1 || len > 2 * ZT_PKI_SERIAL_MAX) return 0;
  /* An odd count of digits has an implied leading zero. */
  size_t pad = len % 2;
  for (size_t pos = 0; pos < len + pad; pos += 2) {
    int hi = pos == 0 && pad ? 0 : hexval(hex[pos - pad]);
    int lo = hexval(hex[pos + 1 - pad]);
    if (hi < 0 || lo < 0) return 0;
    buf[n++] = (uint8_t)(hi << 4 | lo);
  }
  size_t skip = 0;
  while (skip < n && buf[skip] == 0) skip++;
  if (skip == n) return 0; /* zero is not a serial number */
  memcpy(out, buf + skip, n - skip);
  *out_len = n - skip;
  return 1;
}

void zt_pki_index_init(struct zt_pki_index *idx) { memset(idx, 0, sizeof(*idx)); }

void zt_pki_index_free(struct zt_pki_index *idx) {
  free(idx->entries);
  zt_pki_index_init(idx);
}

int zt_pki_index_add(struct zt_pki_index *idx, const struct zt_pki_entry *e) {
  if (idx->n >= ZT_PKI_INDEX_MAX) return 0;
  if (idx->n == idx->cap) {
    size_t cap = idx->cap ? idx->cap * 2 : 16;
    if (cap > ZT_PKI_INDEX_MAX) cap = ZT_PKI_INDEX_MAX;
    struct zt_pki_entry *p = realloc(idx->entries, cap * sizeof(*p));
    if (!p) return 0;
    idx->entries = p;
    idx->cap = cap;
  }
  idx->entries[idx->n++] = *e;
  return 1;
}

/* next_field takes the bytes up to the next space (or the rest of |line|
 * for the last field), which must not be empty. */
static int next_field(CBS *line, CBS *field, int last) {
  if (last) {
    *field = *line;
    CBS_init(line, NULL, 0);
  } else if (!CBS_get_until_first(line, field, ' ') || !CBS_skip(line, 1)) {
    return 0;
  }
  return CBS_len(field) > 0;
}

static int is_dash(const CBS *f) { return CBS_len(f) == 1 && CBS_data(f)[0] == '-'; }

/* Canonical decimal seconds: no sign, no leading zero, 0..ZT_PKI_TIME_MAX. */
static int parse_time(const CBS *f, int64_t *out) {
  const uint8_t *p = CBS_data(f);
  size_t len = CBS_len(f);
  int64_t v = 0;
  if (len < 1 || len > 12 || (len > 1 && p[0] == '0')) return 0;
  for (size_t i = 0; i < len; i++) {
    if (p[i] < '0' || p[i] > '9') return 0;
    v = v * 10 + (p[i] - '0');
  }
  if (v > ZT_PKI_TIME_MAX) return 0;
  *out = v;
  return 1;
}

/* Canonical serial: upper-case hex, an even count, first byte not zero. */
static int parse_serial(const CBS *f, struct zt_pki_entry *e) {
  const uint8_t *p = CBS_data(f);
  size_t len = CBS_len(f);
  if (len < 2 || len > 2 * ZT_PKI_SERIAL_MAX || len % 2) return 0;
  for (size_t i = 0; i < len; i += 2) {
    if ((p[i] >= 'a' && p[i] <= 'f') || (p[i + 1] >= 'a' && p[i + 1] <= 'f')) return 0;
    int hi = hexval((char)p[i]), lo = hexval((char)p[i + 1]);
    if (hi < 0 || lo < 0) return 0;
    e->serial[i / 2] = (uint8_t)(hi << 4 | lo);
  }
  e->serial_len = len / 2;
  return e->serial[0] != 0;
}

/* parse_line fills |e| from one line without its '\n'; on failure it puts
 * the message (without FILE:LINE) in |msg|. */
static int parse_line(CBS line, enum zt_pki_kind want, struct zt_pki_entry *e,
                      char *msg, size_t msglen) {
  CBS f;
  enum zt_pki_kind kind = want;
  memset(e, 0, sizeof(*e));
  if (!next_field(&line, &f, 0) || CBS_len(&f) != 1 ||
      (CBS_data(&f)[0] != 'V' && CBS_data(&f)[0] != 'R')) {
    snprintf(msg, msglen, "status is not V or R");
    return 0;
  }
  e->revoked = CBS_data(&f)[0] == 'R';
  if (!next_field(&line, &f, 0) || !parse_serial(&f, e)) {
    snprintf(msg, msglen, "bad serial number (1 to 20 bytes, upper-case hex, no leading 00)");
    return 0;
  }
  if (!next_field(&line, &f, 0) || !parse_time(&f, &e->not_after)) {
    snprintf(msg, msglen, "bad notAfter (seconds since 1970)");
    return 0;
  }
  if (!next_field(&line, &f, 0) ||
      (e->revoked ? !parse_time(&f, &e->revoked_at) : !is_dash(&f))) {
    snprintf(msg, msglen, e->revoked ? "bad revocation time" : "a valid entry has '-' as revocation time");
    return 0;
  }
  if (!next_field(&line, &f, 0) ||
      (e->revoked ? !zt_pki_reason_parse((const char *)CBS_data(&f), CBS_len(&f), &e->reason)
                  : !is_dash(&f))) {
    snprintf(msg, msglen, e->revoked ? "bad revocation reason" : "a valid entry has '-' as reason");
    return 0;
  }
  /* Compared as bytes: a NUL inside the field must not end it early. */
  int found = 0;
  if (next_field(&line, &f, 0)) {
    for (int k = 0; k < ZT_PKI_NKINDS && !found; k++) {
      const char *n = zt_pki_kind_name((enum zt_pki_kind)k);
      if (CBS_mem_equal(&f, (const uint8_t *)n, strlen(n))) {
        kind = (enum zt_pki_kind)k;
        found = 1;
      }
    }
  }
  if (!found) {
    snprintf(msg, msglen, "bad kind (server, device or user)");
    return 0;
  }
  if (kind != want) {
    snprintf(msg, msglen, "a %s certificate in the index of the %s", zt_pki_kind_name(kind),
             zt_pki_kind_ca(want));
    return 0;
  }
  e->kind = kind;
  if (!next_field(&line, &f, 1) || !zt_pki_name_ok((const char *)CBS_data(&f), CBS_len(&f))) {
    snprintf(msg, msglen, "bad name (1 to 64 of A-Z a-z 0-9 . _ @ -, starting with a letter or digit)");
    return 0;
  }
  memcpy(e->name, CBS_data(&f), CBS_len(&f));
  e->name[CBS_len(&f)] = '\0';
  return 1;
}

static int serial_cmp(const struct zt_pki_entry *a, const struct zt_pki_entry *b) {
  if (a->serial_len != b->serial_len) return a->serial_len < b->serial_len ? -1 : 1;
  return memcmp(a->serial, b->serial, a->serial_len);
}

static int order_by_serial(const void *a, const void *b, void *base) {
  const struct zt_pki_entry *entries = base;
  size_t i = *(const size_t *)a, j = *(const size_t *)b;
  int c = serial_cmp(&entries[i], &entries[j]);
  if (c) return c;
  return i < j ? -1 : i > j;
}

/* check_unique refuses a serial number that occurs twice (sorting the line
 * numbers by serial keeps it O(n log n) for a large index); the error names
 * the later line. */
static int check_unique(struct zt_pki_index *idx, const char *file, char *err,
                        size_t errlen) {
  size_t *order, bad = 0, first = 0;
  if (idx->n < 2) return 1;
  order = malloc(idx->n * sizeof(*order));
  if (!order) {
    snprintf(err, errlen, "%s: out of memory", file);
    zt_pki_index_free(idx);
    return 0;
  }
  for (size_t i = 0; i < idx->n; i++) order[i] = i;
  qsort_r(order, idx->n, sizeof(*order), order_by_serial, idx->entries);
  for (size_t i = 1; i < idx->n; i++) {
    if (serial_cmp(&idx->entries[order[i - 1]], &idx->entries[order[i]]) == 0 &&
        (!bad || order[i] < bad)) {
      bad = order[i];
      first = order[i - 1];
    }
  }
  free(order);
  if (!bad) return 1;
  snprintf(err, errlen, "%s:%zu: serial number repeated (first on line %zu)", file, bad + 1,
           first + 1);
  zt_pki_index_free(idx);
  return 0;
}

int zt_pki_index_parse(CBS in, const char *file, enum zt_pki_kind kind,
                       struct zt_pki_index *out, char *err, size_t errlen) {
  char msg[160];
  size_t lineno = 0;
  struct zt_pki_entry e;
  while (CBS_len(&in) > 0) {
    CBS line;
    lineno++;
    if (!CBS_get_until_first(&in, &line, '\n')) {
      snprintf(msg, sizeof(msg), "line does not end with a newline");
      goto fail;
    }
    CBS_skip(&in, 1);
    if (CBS_len(&line) > ZT_PKI_INDEX_LINE_MAX) {
      snprintf(msg, sizeof(msg), "line longer than %d bytes", ZT_PKI_INDEX_LINE_MAX);
      goto fail;
    }
    if (!parse_line(line, kind, &e, msg, sizeof(msg))) goto fail;
    if (!zt_pki_index_add(out, &e)) {
      snprintf(msg, sizeof(msg), "more than %d certificates", ZT_PKI_INDEX_MAX);
      goto fail;
    }
  }
  return check_unique(out, file, err, errlen);

fail:
  snprintf(err, errlen, "%s:%zu: %s", file, lineno, msg);
  zt_pki_index_free(out);
  return 0;
}

static int add_str(CBB *cbb, const char *s) {
  return CBB_add_bytes(cbb, (const uint8_t *)s, strlen(s));
}

int zt_pki_index_format(CBB *cbb, const struct zt_pki_index *idx) {
  for (size_t i = 0; i < idx->n; i++) {
    const struct zt_pki_entry *e = &idx->entries[i];
    char serial[ZT_PKI_SERIAL_HEX], line[ZT_PKI_INDEX_LINE_MAX + 2], rev[48];
    if (e->revoked)
      snprintf(rev, sizeof(rev), "%lld %s", (long long)e->revoked_at, zt_pki_reason_name(e->reason));
    else
      snprintf(rev, sizeof(rev), "- -");
    zt_pki_serial_hex(e->serial, e->serial_len, serial);
    int n = snprintf(line, sizeof(line), "%c %s %lld %s %s %s\n", e->revoked ? 'R' : 'V',
                     serial, (long long)e->not_after, rev, zt_pki_kind_name(e->kind), e->name);
    if (n < 0 || (size_t)n >= sizeof(line) || !add_str(cbb, line)) return 0;
  }
  return 1;
}

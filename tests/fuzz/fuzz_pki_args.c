/* What ztvpn-pki parses from its command line (common/pki/names.h,
 * pkitime.h, index.h): NAMEs and groups, --org, --san, --not-before/after,
 * --days, --serial and --reason. The first byte picks the parser; the rest,
 * up to a NUL, is the argument. Every accepted value is checked against an
 * independent statement of the rule or printed and parsed back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "index.h"
#include "names.h"
#include "pkitime.h"

static int name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == '@' || c == '-';
}

static void check_name(const char *s, size_t len) {
  if (!zt_pki_name_ok(s, len)) return;
  FUZZ_CHECK(len >= 1 && len <= ZT_PKI_NAME_MAX);
  FUZZ_CHECK(s[0] != '.' && s[0] != '-' && s[0] != '_' && s[0] != '@');
  for (size_t i = 0; i < len; i++) FUZZ_CHECK(name_char(s[i]));
}

static void check_dns(const char *s) {
  if (!zt_pki_dns_ok(s)) return;
  size_t len = strlen(s);
  FUZZ_CHECK(len >= 1 && len <= ZT_PKI_DNS_MAX && s[len - 1] != '.' && s[len - 1] != '-');
  FUZZ_CHECK(strstr(s, "..") == NULL && strchr(s + 1, '*') == NULL);
}

static void check_san(const char *s) {
  struct zt_pki_san san;
  char err[160];
  err[0] = '\0';
  if (!zt_pki_san_parse(s, &san, err, sizeof(err))) {
    FUZZ_CHECK(err[0] != '\0' && strnlen(err, sizeof(err)) < sizeof(err));
    return;
  }
  if (san.type == ZT_SAN_DNS) {
    FUZZ_CHECK(strcmp(san.dns, s + 4) == 0 && zt_pki_dns_ok(san.dns));
  } else {
    FUZZ_CHECK(san.type == ZT_SAN_IP && (san.ip_len == 4 || san.ip_len == 16));
  }
}

/* An accepted time prints in ISO form with the same digits. */
static void check_time(const char *s) {
  int64_t t;
  char iso[ZT_PKI_ISO_LEN], back[16];
  if (!zt_pki_time_parse(s, &t)) return;
  FUZZ_CHECK(t >= 0 && t <= ZT_PKI_TIME_MAX);
  zt_pki_time_iso(t, iso);
  snprintf(back, sizeof(back), "%.4s%.2s%.2s%.2s%.2s%.2sZ", iso, iso + 5, iso + 8, iso + 11,
           iso + 14, iso + 17);
  FUZZ_CHECK(strcmp(back, s) == 0);
}

static void check_days(const char *s) {
  int d;
  char back[16];
  if (!zt_pki_days_parse(s, &d)) return;
  FUZZ_CHECK(d >= 1 && d <= ZT_PKI_DAYS_MAX);
  snprintf(back, sizeof(back), "%d", d);
  FUZZ_CHECK(strcmp(back, s) == 0);
}

static void check_serial(const char *s) {
  uint8_t a[ZT_PKI_SERIAL_MAX], b[ZT_PKI_SERIAL_MAX];
  size_t na, nb;
  char hex[ZT_PKI_SERIAL_HEX];
  if (!zt_pki_serial_parse(s, a, &na)) return;
  FUZZ_CHECK(na >= 1 && na <= ZT_PKI_SERIAL_MAX && a[0] != 0);
  zt_pki_serial_hex(a, na, hex);
  FUZZ_CHECK(strlen(hex) == 2 * na);
  FUZZ_CHECK(zt_pki_serial_parse(hex, b, &nb) && nb == na && memcmp(a, b, na) == 0);
}

static void check_reason(const char *s) {
  enum zt_pki_reason r;
  if (!zt_pki_reason_parse(s, strlen(s), &r)) return;
  FUZZ_CHECK(strcmp(zt_pki_reason_name(r), s) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 4096) return 0;
  char *s = malloc(size);
  FUZZ_CHECK(s != NULL);
  memcpy(s, data + 1, size - 1);
  s[size - 1] = '\0';
  switch (data[0] % 8) {
    case 0: check_name(s, size - 1); break; /* raw bytes, NULs included */
    case 1:
      if (zt_pki_org_ok(s)) {
        size_t n = strlen(s);
        FUZZ_CHECK(n >= 1 && n <= ZT_PKI_ORG_MAX && s[0] != ' ' && s[n - 1] != ' ');
      }
      break;
    case 2: check_dns(s); break;
    case 3: check_san(s); break;
    case 4: check_time(s); break;
    case 5: check_days(s); break;
    case 6: check_serial(s); break;
    case 7: check_reason(s); break;
  }
  free(s);
  return 0;
}

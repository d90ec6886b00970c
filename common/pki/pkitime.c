#include "pkitime.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 1;
}

static int leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), without timegm's
 * dependence on the C library's time_t range. */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = y / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int zt_pki_time_parse(const char *s, int64_t *out) {
  static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int y, mo, d, h, mi, se;
  if (strlen(s) != 15 || s[14] != 'Z') return 0;
  if (!digits(s, 4, &y) || !digits(s + 4, 2, &mo) || !digits(s + 6, 2, &d) ||
      !digits(s + 8, 2, &h) || !digits(s + 10, 2, &mi) || !digits(s + 12, 2, &se))
    return 0;
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59) return 0;
  if (d > mdays[mo - 1] + (mo == 2 && leap(y))) return 0;
  *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
  return 1;
}

int zt_pki_days_parse(const char *s, int *out) {
  size_t len = strlen(s);
  int v;
  if (len < 1 || len > 5 || s[0] == '0' || !digits(s, (int)len, &v)) return 0;
  if (v > ZT_PKI_DAYS_MAX) return 0;
  *out = v;
  return 1;
}

void zt_pki_time_iso(int64_t t, char out[ZT_PKI_ISO_LEN]) {
  struct tm tm;
  time_t tt = (time_t)t;
  if (t < 0 || t > ZT_PKI_TIME_MAX || !gmtime_r(&tt, &tm)) {
    snprintf(out, ZT_PKI_ISO_LEN, "invalid");
    return;
  }
  snprintf(out, ZT_PKI_ISO_LEN, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

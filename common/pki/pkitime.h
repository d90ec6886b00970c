/* Times on ztvpn-pki's command line and in its output: YYYYMMDDHHMMSSZ
 * (UTC, as openssl ca -startdate/-enddate take it), --days counts, and the
 * ISO 8601 form `list` prints. Times are seconds since the epoch (int64). */
#ifndef ZTVPN_PKI_TIME_H
#define ZTVPN_PKI_TIME_H

#include <stdint.h>

#define ZT_PKI_DAYS_MAX 36500
/* 9999-12-31T23:59:59Z: the last time a certificate can carry. */
#define ZT_PKI_TIME_MAX INT64_C(253402300799)
#define ZT_PKI_ISO_LEN 21 /* "2027-01-01T00:00:00Z" and its NUL */

/* zt_pki_time_parse parses exactly 15 characters YYYYMMDDHHMMSSZ with a
 * year from 1970 to 9999 and a real calendar date. Returns 1, or 0. */
int zt_pki_time_parse(const char *s, int64_t *out);

/* zt_pki_days_parse parses a decimal count of days, 1..ZT_PKI_DAYS_MAX.
 * Returns 1, or 0. */
int zt_pki_days_parse(const char *s, int *out);

/* zt_pki_time_iso writes |t| (0..ZT_PKI_TIME_MAX) as YYYY-MM-DDTHH:MM:SSZ. */
void zt_pki_time_iso(int64_t t, char out[ZT_PKI_ISO_LEN]);

#endif

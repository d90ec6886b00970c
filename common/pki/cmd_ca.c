/* ztvpn-pki init, revoke and crl: the commands that change a CA itself. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ca_store.h"
#include "commands.h"
#include "crl.h"
#include "pkifile.h"

int zt_pki_cmd_init(const struct zt_pki_opts *o) {
  struct zt_pki_ca_params p = {
      .ed25519 = o->ed25519,
      .days = o->days ? o->days : ZT_PKI_CA_DAYS,
      .org = o->org ? o->org : "ztvpn",
      .crl_days = ZT_PKI_CRL_DAYS,
      .now = o->now,
  };
  char err[512], crt[PATH_MAX], key[PATH_MAX];
  struct zt_pki_ca ca;
  /* All or nothing: find every file in the way before making any. */
  for (int k = 0; k < ZT_PKI_NKINDS && !o->force; k++) {
    const char *name = zt_pki_kind_ca((enum zt_pki_kind)k);
    if (!zt_pki_path(crt, sizeof(crt), "%s/%s.crt", o->dir, name) ||
        !zt_pki_path(key, sizeof(key), "%s/ca/%s/ca.key", o->dir, name))
      return zt_pki_fail("%s: path too long", o->dir);
    if (access(crt, F_OK) == 0 || access(key, F_OK) == 0)
      return zt_pki_fail("%s exists; --force replaces the CAs (and forgets what they issued)",
                         access(crt, F_OK) == 0 ? crt : key);
  }
  if (!zt_pki_mkdir(o->dir, 0755, err, sizeof(err))) return zt_pki_fail("%s", err);
  for (int k = 0; k < ZT_PKI_NKINDS; k++) {
    if (!zt_pki_ca_create(o->dir, (enum zt_pki_kind)k, &p, o->force, &ca, err, sizeof(err)))
      return zt_pki_fail("%s", err);
    printf("%s/%s.crt\n", o->dir, zt_pki_kind_ca((enum zt_pki_kind)k));
    zt_pki_ca_close(&ca);
  }
  return 0;
}

static int same_serial(const struct zt_pki_entry *e, const struct zt_pki_opts *o) {
  return e->serial_len == o->serial_len && memcmp(e->serial, o->serial, o->serial_len) == 0;
}

/* revoke_in marks the matching entries of |ca| revoked, then saves the index
 * and publishes a CRL. Returns the number revoked (0: none matched, with
 * |*already| set when matches were all revoked before), or -1 on failure. */
static int revoke_in(struct zt_pki_ca *ca, const struct zt_pki_opts *o, int *already) {
  char err[512];
  int n = 0;
  for (size_t i = 0; i < ca->index.n; i++) {
    struct zt_pki_entry *e = &ca->index.entries[i];
    if (o->has_serial ? !same_serial(e, o) : strcmp(e->name, o->name) != 0) continue;
    if (e->revoked) {
      *already = 1;
      continue;
    }
    e->revoked = 1;
    e->revoked_at = o->now;
    e->reason = o->reason;
    n++;
  }
  if (n == 0) return 0;
  if (!zt_pki_ca_save_index(ca, err, sizeof(err)) ||
      !zt_pki_ca_publish_crl(ca, o->now, ZT_PKI_CRL_DAYS, err, sizeof(err))) {
    zt_pki_fail("%s", err);
    return -1;
  }
  return n;
}

int zt_pki_cmd_revoke(const struct zt_pki_opts *o) {
  char err[512];
  int already = 0, found = 0;
  for (int k = 0; k < ZT_PKI_NKINDS && !found; k++) {
    struct zt_pki_ca ca;
    if (!o->has_serial && (enum zt_pki_kind)k != o->kind) continue;
    if (!zt_pki_ca_open(o->dir, (enum zt_pki_kind)k, &ca, err, sizeof(err)))
      return zt_pki_fail("%s", err);
    int n = revoke_in(&ca, o, &already);
    if (n > 0) printf("%s/%s.crl\n", o->dir, zt_pki_kind_ca(ca.kind));
    zt_pki_ca_close(&ca);
    if (n < 0) return 1;
    found = n > 0;
  }
  if (found) return 0;
  char what[ZT_PKI_NAME_MAX + ZT_PKI_SERIAL_HEX + 32];
  if (o->has_serial) {
    char hex[ZT_PKI_SERIAL_HEX];
    zt_pki_serial_hex(o->serial, o->serial_len, hex);
    snprintf(what, sizeof(what), "serial %s", hex);
  } else {
    snprintf(what, sizeof(what), "%s %s", zt_pki_kind_name(o->kind), o->name);
  }
  return zt_pki_fail(already ? "%s is already revoked" : "%s: no such certificate was issued here", what);
}

int zt_pki_cmd_crl(const struct zt_pki_opts *o) {
  char err[512];
  for (int k = 0; k < ZT_PKI_NKINDS; k++) {
    struct zt_pki_ca ca;
    if (o->has_kind && (enum zt_pki_kind)k != o->kind) continue;
    if (!zt_pki_ca_open(o->dir, (enum zt_pki_kind)k, &ca, err, sizeof(err)))
      return zt_pki_fail("%s", err);
    int ok = zt_pki_ca_publish_crl(&ca, o->now, o->days ? o->days : ZT_PKI_CRL_DAYS, err,
                                   sizeof(err));
    zt_pki_ca_close(&ca);
    if (!ok) return zt_pki_fail("%s", err);
    printf("%s/%s.crl\n", o->dir, zt_pki_kind_ca((enum zt_pki_kind)k));
  }
  return 0;
}

/* ztvpn-pki list: what the CAs issued, from their indexes. */
#include <stdio.h>

#include "ca_store.h"
#include "commands.h"
#include "pkitime.h"

static const char *status(const struct zt_pki_entry *e, int64_t now) {
  if (e->revoked) return "revoked";
  return e->not_after < now ? "expired" : "valid";
}

int zt_pki_cmd_list(const struct zt_pki_opts *o) {
  char err[512], hex[ZT_PKI_SERIAL_HEX], when[ZT_PKI_ISO_LEN];
  int first = 1;
  int header = 0;
  for (int k = 0; k < ZT_PKI_NKINDS; k++) {
    struct zt_pki_ca ca;
    if (o->has_kind && (enum zt_pki_kind)k != o->kind) continue;
    if (!zt_pki_ca_open(o->dir, (enum zt_pki_kind)k, &ca, err, sizeof(err))) {
      if (header && o->json) printf("]\n");
      return zt_pki_fail("%s", err);
    }
    if (!header) {
      if (o->json) printf("[");
      else printf("%-6s  %-24s  %-32s  %-20s  %s\n", "KIND", "NAME", "SERIAL", "NOT AFTER", "STATUS");
      header = 1;
    }
    for (size_t i = 0; i < ca.index.n; i++) {
      const struct zt_pki_entry *e = &ca.index.entries[i];
      zt_pki_serial_hex(e->serial, e->serial_len, hex);
      zt_pki_time_iso(e->not_after, when);
      /* Names and serials are [A-Za-z0-9._@-] (the index parser checks):
       * nothing in them needs JSON escaping. */
      if (o->json)
        printf("%s\n {\"kind\":\"%s\",\"name\":\"%s\",\"serial\":\"%s\",\"not_after\":\"%s\","
               "\"status\":\"%s\"}",
               first ? "" : ",", zt_pki_kind_name(e->kind), e->name, hex, when, status(e, o->now));
      else
        printf("%-6s  %-24s  %-32s  %-20s  %s\n", zt_pki_kind_name(e->kind), e->name, hex, when,
               status(e, o->now));
      first = 0;
    }
    zt_pki_ca_close(&ca);
  }
  if (o->json) printf("%s]\n", first ? "" : "\n");
  return 0;
}

#include "names.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const char *const kind_names[ZT_PKI_NKINDS] = {"server", "device", "user"};
static const char *const kind_cas[ZT_PKI_NKINDS] = {"server-ca", "device-ca", "user-ca"};
static const char *const kind_dirs[ZT_PKI_NKINDS] = {"servers", "devices", "users"};

int zt_pki_kind_parse(const char *s, enum zt_pki_kind *out) {
  for (int k = 0; k < ZT_PKI_NKINDS; k++) {
    if (strcmp(s, kind_names[k]) == 0) {
      *out = (enum zt_pki_kind)k;
      return 1;
    }
  }
  return 0;
}

const char *zt_pki_kind_name(enum zt_pki_kind kind) { return kind_names[kind]; }
const char *zt_pki_kind_ca(enum zt_pki_kind kind) { return kind_cas[kind]; }
const char *zt_pki_kind_dir(enum zt_pki_kind kind) { return kind_dirs[kind]; }

static int is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int zt_pki_name_ok(const char *s, size_t len) {
  if (len < 1 || len > ZT_PKI_NAME_MAX || !is_alnum(s[0])) return 0;
  for (size_t i = 0; i < len; i++)
    if (!is_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '@' && s[i] != '-')
      return 0;
  return 1;
}

int zt_pki_org_ok(const char *s) {
  size_t len = strnlen(s, ZT_PKI_ORG_MAX + 1);
  if (len < 1 || len > ZT_PKI_ORG_MAX || s[0] == ' ' || s[len - 1] == ' ') return 0;
  for (size_t i = 0; i < len; i++)
    if (s[i] < 0x20 || s[i] > 0x7e) return 0;
  return 1;
}

int zt_pki_dns_ok(const char *s) {
  size_t len = strnlen(s, ZT_PKI_DNS_MAX + 1), label = 0;
  if (len < 1 || len > ZT_PKI_DNS_MAX) return 0;
  if (len > 2 && s[0] == '*' && s[1] == '.') s += 2, len -= 2;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '.') {
      if (label == 0 || s[i - 1] == '-') return 0;
      label = 0;
      continue;
    }
    if (!is_alnum(s[i]) && s[i] != '-') return 0;
    if (s[i] == '-' && label == 0) return 0;
    if (++label > 63) return 0;
  }
  return label > 0 && s[len - 1] != '-';
}

int zt_pki_san_parse(const char *arg, struct zt_pki_san *out, char *err,
                     size_t errlen) {
  memset(out, 0, sizeof(*out));
  if (strncmp(arg, "DNS:", 4) == 0) {
    if (!zt_pki_dns_ok(arg + 4)) {
      snprintf(err, errlen, "--san %.80s: not a valid DNS name", arg);
      return 0;
    }
    out->type = ZT_SAN_DNS;
    memcpy(out->dns, arg + 4, strlen(arg + 4) + 1);
    return 1;
  }
  if (strncmp(arg, "IP:", 3) == 0) {
    out->type = ZT_SAN_IP;
    if (inet_pton(AF_INET, arg + 3, out->ip) == 1) {
      out->ip_len = 4;
      return 1;
    }
    if (inet_pton(AF_INET6, arg + 3, out->ip) == 1) {
      out->ip_len = 16;
      return 1;
    }
    snprintf(err, errlen, "--san %.80s: not an IPv4 or IPv6 address", arg);
    return 0;
  }
  snprintf(err, errlen, "--san %.80s: expected DNS:NAME or IP:ADDRESS", arg);
  return 0;
}

/* The commands of ztvpn-pki (pki_main.c parses the command line into
 * struct zt_pki_opts; each command returns the exit status: 0, or 1 after
 * printing a one-line reason). */
#ifndef ZTVPN_PKI_COMMANDS_H
#define ZTVPN_PKI_COMMANDS_H

#include <stddef.h>
#include <stdint.h>

#include "index.h"
#include "names.h"

#define ZT_PKI_SERVER_DAYS 825
#define ZT_PKI_CLIENT_DAYS 825

struct zt_pki_opts {
  const char *dir;
  int force;
  int ed25519;
  int days;        /* 0: the command's default */
  const char *org;
  const char *groups[ZT_PKI_MAX_GROUPS];
  size_t ngroups;
  struct zt_pki_san sans[ZT_PKI_MAX_SANS];
  size_t nsans;
  int has_not_before, has_not_after;
  int64_t not_before, not_after;
  int has_kind;
  enum zt_pki_kind kind;
  const char *name;
  int has_serial;
  uint8_t serial[ZT_PKI_SERIAL_MAX];
  size_t serial_len;
  enum zt_pki_reason reason;
  int json;
  int64_t now;
};

int zt_pki_cmd_init(const struct zt_pki_opts *o);
/* server, device and user (o->kind says which) */
int zt_pki_cmd_issue(const struct zt_pki_opts *o);
int zt_pki_cmd_revoke(const struct zt_pki_opts *o);
int zt_pki_cmd_crl(const struct zt_pki_opts *o);
int zt_pki_cmd_list(const struct zt_pki_opts *o);

/* zt_pki_fail prints "ztvpn-pki: MESSAGE" and returns 1. */
int zt_pki_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

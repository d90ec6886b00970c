/* ztvpn-pki: the administrator's PKI for ztvpn (common/pki/README.md). This
 * file reads the command line; the commands live in cmd_*.c. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/base.h>
#ifndef OPENSSL_IS_BORINGSSL
#error "ztvpn-pki must be built against BoringSSL"
#endif

#include "commands.h"
#include "pkitime.h"

#ifndef ZTVPN_VERSION
#define ZTVPN_VERSION "unknown"
#endif

static void usage(FILE *f) {
  fprintf(f,
          "usage: ztvpn-pki [-d DIR] [--force] COMMAND ...\n"
          "  -d, --dir DIR   the PKI's directory (default .)\n"
          "  --force         let the command replace existing files\n"
          "  -h, --help      this help\n"
          "  -V, --version   print the version\n"
          "commands:\n"
          "  init [--ed25519] [--days N] [--org ORG]\n"
          "      make server-ca, device-ca and user-ca (3650 days, O=ztvpn) and their CRLs\n"
          "  server NAME [--san DNS:NAME|IP:ADDR]... [--days N] [--ed25519]\n"
          "      a gateway certificate: CN=NAME, SAN DNS:NAME and each --san (825 days)\n"
          "  device ID [--group G]... [--days N] [--ed25519] [--not-before T] [--not-after T]\n"
          "  user NAME [--group G]... [--days N] [--ed25519] [--not-before T] [--not-after T]\n"
          "      a device or user certificate: CN=NAME, one OU per group (825 days)\n"
          "  revoke {server|device|user} NAME | --serial HEX  [--reason REASON]\n"
          "      REASON: keyCompromise, superseded, cessationOfOperation,\n"
          "      affiliationChanged or unspecified (default); publishes a new CRL\n"
          "  crl [server|device|user] [--days N]\n"
          "      publish fresh CRLs (30 days), all three without an argument\n"
          "  list [server|device|user] [--json]\n"
          "      what was issued: kind, name, serial, notAfter, status\n"
          "T is YYYYMMDDHHMMSSZ (UTC). Exit status: 0 done, 1 failed, 2 usage error.\n");
}

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...) {
  va_list ap;
  fputs("ztvpn-pki: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs(" (-h for help)\n", stderr);
  exit(2);
}

int zt_pki_fail(const char *fmt, ...) {
  va_list ap;
  fputs("ztvpn-pki: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return 1;
}

enum {
  OPT_ED25519 = 256,
  OPT_DAYS,
  OPT_ORG,
  OPT_SAN,
  OPT_GROUP,
  OPT_NOT_BEFORE,
  OPT_NOT_AFTER,
  OPT_SERIAL,
  OPT_REASON,
  OPT_JSON,
};

static const struct option all_options[] = {
    {"ed25519", no_argument, NULL, OPT_ED25519},
    {"days", required_argument, NULL, OPT_DAYS},
    {"org", required_argument, NULL, OPT_ORG},
    {"san", required_argument, NULL, OPT_SAN},
    {"group", required_argument, NULL, OPT_GROUP},
    {"not-before", required_argument, NULL, OPT_NOT_BEFORE},
    {"not-after", required_argument, NULL, OPT_NOT_AFTER},
    {"serial", required_argument, NULL, OPT_SERIAL},
    {"reason", required_argument, NULL, OPT_REASON},
    {"json", no_argument, NULL, OPT_JSON},
    {NULL, 0, NULL, 0},
};

struct command {
  const char *name;
  int (*run)(const struct zt_pki_opts *);
  const int *allowed; /* option codes, ended by 0 */
  int min_args, max_args;
};

static const int init_opts[] = {OPT_ED25519, OPT_DAYS, OPT_ORG, 0};
static const int server_opts[] = {OPT_SAN, OPT_DAYS, OPT_ED25519, 0};
static const int client_opts[] = {OPT_GROUP, OPT_DAYS, OPT_ED25519, OPT_NOT_BEFORE, OPT_NOT_AFTER, 0};
static const int revoke_opts[] = {OPT_SERIAL, OPT_REASON, 0};
static const int crl_opts[] = {OPT_DAYS, 0};
static const int list_opts[] = {OPT_JSON, 0};

static const struct command commands[] = {
    {"init", zt_pki_cmd_init, init_opts, 0, 0},
    {"server", zt_pki_cmd_issue, server_opts, 1, 1},
    {"device", zt_pki_cmd_issue, client_opts, 1, 1},
    {"user", zt_pki_cmd_issue, client_opts, 1, 1},
    {"revoke", zt_pki_cmd_revoke, revoke_opts, 0, 2},
    {"crl", zt_pki_cmd_crl, crl_opts, 0, 1},
    {"list", zt_pki_cmd_list, list_opts, 0, 1},
};

static const char *option_name(int code) {
  for (const struct option *o = all_options; o->name; o++)
    if (o->val == code) return o->name;
  return "?";
}

static void parse_option(const struct command *cmd, int code, const char *arg,
                         struct zt_pki_opts *o) {
  int allowed = 0;
  for (const int *a = cmd->allowed; *a; a++) allowed |= *a == code;
  if (!allowed) usage_error("%s does not take --%s", cmd->name, option_name(code));
  switch (code) {
    case OPT_ED25519: o->ed25519 = 1; break;
    case OPT_JSON: o->json = 1; break;
    case OPT_DAYS:
      if (!zt_pki_days_parse(arg, &o->days))
        usage_error("--days %s: expected 1 to %d", arg, ZT_PKI_DAYS_MAX);
      break;
    case OPT_ORG:
      if (!zt_pki_org_ok(arg))
        usage_error("--org: 1 to %d printable ASCII characters, no space at either end",
                    ZT_PKI_ORG_MAX);
      o->org = arg;
      break;
    case OPT_SAN: {
      char err[160];
      if (o->nsans == ZT_PKI_MAX_SANS) usage_error("at most %d --san", ZT_PKI_MAX_SANS);
      if (!zt_pki_san_parse(arg, &o->sans[o->nsans], err, sizeof(err))) usage_error("%s", err);
      o->nsans++;
      break;
    }
    case OPT_GROUP:
      if (!zt_pki_name_ok(arg, strlen(arg)))
        usage_error("--group %.80s: 1 to %d of A-Z a-z 0-9 . _ @ -, starting with a letter or digit",
                    arg, ZT_PKI_NAME_MAX);
      if (o->ngroups == ZT_PKI_MAX_GROUPS) usage_error("at most %d --group", ZT_PKI_MAX_GROUPS);
      for (size_t i = 0; i < o->ngroups; i++)
        if (strcmp(o->groups[i], arg) == 0) usage_error("--group %s given twice", arg);
      o->groups[o->ngroups++] = arg;
      break;
    case OPT_NOT_BEFORE:
    case OPT_NOT_AFTER: {
      int64_t t;
      if (!zt_pki_time_parse(arg, &t))
        usage_error("--%s %.40s: expected YYYYMMDDHHMMSSZ (UTC)", option_name(code), arg);
      if (code == OPT_NOT_BEFORE) o->has_not_before = 1, o->not_before = t;
      else o->has_not_after = 1, o->not_after = t;
      break;
    }
    case OPT_SERIAL:
      if (!zt_pki_serial_parse(arg, o->serial, &o->serial_len))
        usage_error("--serial %.60s: expected 1 to 40 hex digits, not zero", arg);
      o->has_serial = 1;
      break;
    case OPT_REASON:
      if (!zt_pki_reason_parse(arg, strlen(arg), &o->reason))
        usage_error("--reason %.40s: expected keyCompromise, superseded, cessationOfOperation, "
                    "affiliationChanged or unspecified", arg);
      break;
  }
}

/* check_operands applies what each command needs of its words. */
static void check_operands(const struct command *cmd, int argc, char **argv,
                           struct zt_pki_opts *o) {
  if (argc < cmd->min_args || argc > cmd->max_args)
    usage_error("%s: wrong number of arguments", cmd->name);
  if (strcmp(cmd->name, "server") == 0 || strcmp(cmd->name, "device") == 0 ||
      strcmp(cmd->name, "user") == 0) {
    zt_pki_kind_parse(cmd->name, &o->kind);
    o->has_kind = 1;
    o->name = argv[0];
  } else if (strcmp(cmd->name, "revoke") == 0) {
    if (o->has_serial ? argc != 0 : argc != 2)
      usage_error("revoke takes KIND NAME, or --serial HEX alone");
    if (!o->has_serial) {
      if (!zt_pki_kind_parse(argv[0], &o->kind))
        usage_error("revoke %.20s: expected server, device or user", argv[0]);
      o->has_kind = 1;
      o->name = argv[1];
    }
  } else if (argc == 1) {
    if (!zt_pki_kind_parse(argv[0], &o->kind))
      usage_error("%s %.20s: expected server, device or user", cmd->name, argv[0]);
    o->has_kind = 1;
  }
  if (o->name && !zt_pki_name_ok(o->name, strlen(o->name)))
    usage_error("name %.80s: 1 to %d of A-Z a-z 0-9 . _ @ -, starting with a letter or digit",
                o->name, ZT_PKI_NAME_MAX);
  if (o->kind == ZT_PKI_SERVER && o->name && strcmp(cmd->name, "server") == 0 &&
      !zt_pki_dns_ok(o->name))
    usage_error("server %.80s: the name goes into the SAN, so it must be a DNS name", o->name);
  if (o->has_not_after && o->days) usage_error("--days and --not-after exclude each other");
  if (o->has_not_before && o->has_not_after && o->not_after <= o->not_before)
    usage_error("--not-after must be later than --not-before");
}

int main(int argc, char **argv) {
  static const struct option global[] = {
      {"dir", required_argument, NULL, 'd'},
      {"force", no_argument, NULL, 'f'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0},
  };
  struct zt_pki_opts o;
  const struct command *cmd = NULL;
  int opt;

  memset(&o, 0, sizeof(o));
  o.dir = ".";
  o.reason = ZT_REASON_UNSPECIFIED;
  while ((opt = getopt_long(argc, argv, "+d:hV", global, NULL)) != -1) {
    switch (opt) {
      case 'd': o.dir = optarg; break;
      case 'f': o.force = 1; break;
      case 'h': usage(stdout); return 0;
      case 'V': printf("ztvpn-pki %s\n", ZTVPN_VERSION); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (optind >= argc) {
    usage(stderr);
    return 2;
  }
  if (o.dir[0] == '\0') usage_error("-d: empty directory name");
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    if (strcmp(argv[optind], commands[i].name) == 0) cmd = &commands[i];
  if (!cmd) usage_error("unknown command \"%.40s\"", argv[optind]);

  /* The command's own options, anywhere among its words. */
  int sub_argc = argc - optind;
  char **sub_argv = argv + optind;
  optind = 0; /* GNU getopt: start over on the new vector */
  opterr = 0;
  while ((opt = getopt_long(sub_argc, sub_argv, ":", all_options, NULL)) != -1) {
    if (opt == '?') usage_error("%s: unknown option %s", cmd->name, sub_argv[optind - 1]);
    if (opt == ':') usage_error("%s: %s needs a value", cmd->name, sub_argv[optind - 1]);
    parse_option(cmd, opt, optarg, &o);
  }
  check_operands(cmd, sub_argc - optind, sub_argv + optind, &o);
  o.now = (int64_t)time(NULL);
  return cmd->run(&o);
}

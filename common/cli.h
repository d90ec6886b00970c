/* The command line both daemons share: -c FILE, -n, -d, -V; the server
 * also takes -q USER DEVICE DEST (the offline policy question). */
#ifndef ZTVPN_CLI_H
#define ZTVPN_CLI_H

struct zt_cli {
  const char *config; /* -c FILE */
  int check;          /* -n: check the configuration and exit */
  int debug;          /* -d: debug logging */
  int query;          /* -q: answer a policy question, then exit */
  char **args;        /* -q's operands: USER DEVICE DEST */
};

/* zt_cli_parse parses |argv| for program |prog| and sets up logging. It
 * prints the version and exits 0 for -V, and prints usage and exits 2 for
 * anything else it does not accept; -q only when |query_ok|. */
void zt_cli_parse(int argc, char **argv, const char *prog, const char *version,
                  int query_ok, struct zt_cli *out);

#endif

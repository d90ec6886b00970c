#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

static void usage(const char *prog, int query_ok) {
  fprintf(stderr,
          "usage: %s -c FILE [-n] [-d]\n"
          "  -c FILE  configuration file (libconfig)\n"
          "  -n       check the configuration and the files it names, then exit\n"
          "  -d       debug logging\n"
          "  -V, --version  print the version\n"
          "  -h, --help     this help\n",
          prog);
  if (query_ok)
    fprintf(stderr,
            "       %s -c FILE -q USER DEVICE DEST\n"
            "  -q       may USER on DEVICE reach DEST, and which rule decides?\n"
            "           USER, DEVICE: NAME, NAME:GROUP,GROUP or a certificate file\n"
            "           DEST: \"ADDR [tcp/N|udp/N|icmp|any]\", \"from ADDR ...\" for\n"
            "           unsolicited traffic to the client; exit 0 allowed, 1 not\n",
            prog);
  exit(2);
}

void zt_cli_parse(int argc, char **argv, const char *prog, const char *version,
                  int query_ok, struct zt_cli *out) {
  static const struct option longopts[] = {
      {"version", no_argument, NULL, 'V'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int opt;
  out->config = NULL;
  out->check = out->debug = out->query = 0;
  out->args = NULL;
  while ((opt = getopt_long(argc, argv, query_ok ? "c:ndqVh" : "c:ndVh", longopts,
                            NULL)) != -1) {
    switch (opt) {
      case 'c': out->config = optarg; break;
      case 'n': out->check = 1; break;
      case 'd': out->debug = 1; break;
      case 'q': out->query = 1; break;
      case 'V':
        printf("%s %s\n", prog, version);
        exit(0);
      default: usage(prog, query_ok);
    }
  }
  if (!out->config || optind != argc - (out->query ? 3 : 0)) usage(prog, query_ok);
  if (out->query) out->args = argv + optind;
  log_init(prog, out->debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
}

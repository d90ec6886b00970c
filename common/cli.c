#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

static void usage(const char *prog) {
  fprintf(stderr,
          "usage: %s -c FILE [-n] [-d]\n"
          "  -c FILE  configuration file (libconfig)\n"
          "  -n       check the configuration and the files it names, then exit\n"
          "  -d       debug logging\n"
          "  -V       print the version\n",
          prog);
  exit(2);
}

void zt_cli_parse(int argc, char **argv, const char *prog, const char *version,
                  struct zt_cli *out) {
  int opt;
  out->config = NULL;
  out->check = out->debug = 0;
  while ((opt = getopt(argc, argv, "c:ndVh")) != -1) {
    switch (opt) {
      case 'c': out->config = optarg; break;
      case 'n': out->check = 1; break;
      case 'd': out->debug = 1; break;
      case 'V':
        printf("%s %s\n", prog, version);
        exit(0);
      default: usage(prog);
    }
  }
  if (!out->config || optind != argc) usage(prog);
  log_init(prog, out->debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
}

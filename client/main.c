/* ztvpn-client: connects a laptop to the concentrator. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "client.h"
#include "config.h"
#include "credentials.h"
#include "log.h"

static void usage(void) {
  fprintf(stderr,
          "usage: ztvpn-client -c FILE [-n] [-d]\n"
          "  -c FILE  configuration file (libconfig)\n"
          "  -n       check the configuration and exit\n"
          "  -d       debug logging\n"
          "  -V       print the version\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *conf = NULL;
  int check = 0, debug = 0, opt;
  while ((opt = getopt(argc, argv, "c:ndVh")) != -1) {
    switch (opt) {
      case 'c': conf = optarg; break;
      case 'n': check = 1; break;
      case 'd': debug = 1; break;
      case 'V': printf("ztvpn-client %s\n", ZTVPN_VERSION); return 0;
      default: usage();
    }
  }
  if (!conf || optind != argc) usage();
  log_init("ztvpn-client", debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);

  static struct client_config cfg;
  char err[1024];
  if (!client_config_load(conf, &cfg, err, sizeof(err))) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  struct client_creds creds;
  /* Files first: their errors then point at the setting that names them. */
  if (!zt_conf_check_files(&cfg.files, err, sizeof(err))) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  if (!client_creds_load(&cfg, &creds, err, sizeof(err))) {
    fprintf(stderr, "%s: %s\n", conf, err);
    return 2;
  }
  if (check) {
    client_creds_free(&creds);
    printf("%s: configuration OK\n", conf);
    return 0;
  }
  static struct client c;
  int rc = client_run(&c, &cfg, &creds);
  client_creds_free(&creds);
  return rc;
}

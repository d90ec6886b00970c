/* ztvpn-server: the concentrator. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "credentials.h"
#include "log.h"
#include "server.h"

static void usage(void) {
  fprintf(stderr,
          "usage: ztvpn-server -c FILE [-n] [-d]\n"
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
      case 'V': printf("ztvpn-server %s\n", ZTVPN_VERSION); return 0;
      default: usage();
    }
  }
  if (!conf || optind != argc) usage();
  log_init("ztvpn-server", debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);

  static struct server_config cfg;
  char err[1024];
  if (!server_config_load(conf, &cfg, err, sizeof(err))) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  struct server_creds creds;
  /* Files first: their errors then point at the setting that names them. */
  if (!zt_conf_check_files(&cfg.files, err, sizeof(err))) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  if (!server_creds_load(&cfg, &creds, err, sizeof(err))) {
    fprintf(stderr, "%s: %s\n", conf, err);
    return 2;
  }
  if (check) {
    server_creds_free(&creds);
    printf("%s: configuration OK\n", conf);
    return 0;
  }
  static struct server srv;
  int rc = server_init(&srv, &cfg, &creds) ? server_run(&srv) : 1;
  server_creds_free(&creds);
  server_free(&srv);
  return rc;
}

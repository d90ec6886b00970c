/* ztvpn-server: the concentrator. */
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "credentials.h"
#include "cli.h"
#include "server.h"

int main(int argc, char **argv) {
  struct zt_cli cli;
  zt_cli_parse(argc, argv, "ztvpn-server", ZTVPN_VERSION, &cli);
  const char *conf = cli.config;

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
  if (cli.check) {
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

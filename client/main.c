/* ztvpn-client: connects a laptop to the concentrator. */
#include <stdio.h>
#include <stdlib.h>

#include "client.h"
#include "config.h"
#include "credentials.h"
#include "cli.h"

int main(int argc, char **argv) {
  struct zt_cli cli;
  zt_cli_parse(argc, argv, "ztvpn-client", ZTVPN_VERSION, 0, &cli);
  const char *conf = cli.config;

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
  if (cli.check) {
    client_creds_free(&creds);
    printf("%s: configuration OK\n", conf);
    return 0;
  }
  static struct client c;
  int rc = client_run(&c, &cfg, &creds);
  client_creds_free(&creds);
  return rc;
}

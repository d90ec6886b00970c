/* ztvpn-server: the concentrator. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "config.h"
#include "credentials.h"
#include "log.h"
#include "policy.h"
#include "privsep.h"
#include "query.h"
#include "server.h"

/* The policy in force: the file's, or without one the implicit policy that
 * lets every admitted pair reach tunnel.routes. NULL after printing why. */
static struct policy *load_policy(const struct server_config *cfg) {
  char err[1024];
  if (!cfg->has_policy) {
    if (cfg->nroutes == 0)
      log_warn("%s: neither a policy file nor tunnel.routes: no client can be admitted",
               cfg->file);
    struct policy *p = policy_from_routes(cfg->routes, cfg->nroutes);
    if (!p) fprintf(stderr, "%s: out of memory\n", cfg->file);
    return p;
  }
  struct policy *p = policy_load(cfg->policy, err, sizeof(err));
  if (!p) fprintf(stderr, "%s\n", err);
  return p;
}

int main(int argc, char **argv) {
  struct zt_cli cli;
  zt_cli_parse(argc, argv, "ztvpn-server", ZTVPN_VERSION, 1, &cli);
  const char *conf = cli.config;

  static struct server_config cfg;
  char err[1024];
  if (!server_config_load(conf, &cfg, err, sizeof(err))) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  /* Files first: their errors then point at the setting that names them. */
  if (!zt_conf_check_files(&cfg.files, err, sizeof(err))) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  struct policy *policy = load_policy(&cfg);
  if (!policy) return 2;
  if (cli.query) {
    int rc = query_run(policy, cli.args[0], cli.args[1], cli.args[2], stdout, stderr);
    policy_free(policy);
    return rc;
  }
  struct privsep_account account = {0};
  if (cfg.sandbox && !privsep_lookup(&cfg, &account, err, sizeof(err))) {
    fprintf(stderr, "%s\n", err);
    policy_free(policy);
    return 2;
  }
  struct server_creds creds;
  if (!server_creds_load(&cfg, &creds, err, sizeof(err))) {
    fprintf(stderr, "%s: %s\n", conf, err);
    policy_free(policy);
    return 2;
  }
  if (cli.check) {
    printf("%s: configuration OK (policy: %zu rules, %zu devices, %zu tests passed)\n",
           conf, policy->nrules, policy->ndevices, policy->ntests);
    server_creds_free(&creds);
    policy_free(policy);
    return 0;
  }
  if (!cfg.sandbox)
    log_warn("sandbox = false: the network-facing code runs as root, without "
             "privilege separation or seccomp");
  static struct server srv;
  int rc = 1;
  /* With the sandbox, privsep_serve returns in the network process only. */
  if (server_init(&srv, &cfg, &creds, policy) &&
      (!cfg.sandbox || privsep_serve(&srv, &account, &rc)))
    rc = server_run(&srv);
  server_creds_free(&creds);
  server_free(&srv);
  return rc;
}

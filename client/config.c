#include "config.h"

#include <stdio.h>
#include <string.h>

#include "addr.h"

static const char *const top_keys[] = {
    "server", "server_name", "server_ca", "device", "user", "tunnel",
    "control_socket", "connect_timeout", "max_backoff", "udp", NULL};
static const char *const cred_keys[] = {"certificate", "private_key", NULL};
static const char *const tunnel_keys[] = {"interface", NULL};

static int read_creds(struct zt_conf *c, config_setting_t *root, const char *name,
                      char *cert, char *key, struct zt_conf_files *files) {
  config_setting_t *g;
  if (!zt_conf_group(c, root, name, 1, &g) || !zt_conf_check_keys(c, g, cred_keys) ||
      !zt_conf_path(c, g, "certificate", 1, cert) ||
      !zt_conf_path(c, g, "private_key", 1, key))
    return 0;
  zt_conf_note_file(c, g, "certificate", cert, 0, files);
  zt_conf_note_file(c, g, "private_key", key, 1, files);
  return 1;
}

int client_config_load(const char *path, struct client_config *cfg, char *err,
                       size_t errlen) {
  struct zt_conf c;
  config_setting_t *root, *tunnel;
  const char *server = NULL, *name = NULL, *ifname = "ztvpn0";
  int timeout = 10, backoff = 30;
  int ok = 0;
  memset(cfg, 0, sizeof(*cfg));
  cfg->udp = 1;
  if (!zt_conf_load(&c, path)) goto out;
  root = config_root_setting(&c.cfg);
  if (!zt_conf_check_keys(&c, root, top_keys) ||
      !zt_conf_string(&c, root, "server", 1, &server) ||
      !zt_conf_string(&c, root, "server_name", 1, &name) ||
      !zt_conf_path(&c, root, "server_ca", 1, cfg->server_ca) ||
      !read_creds(&c, root, "device", cfg->device_cert, cfg->device_key, &cfg->files) ||
      !read_creds(&c, root, "user", cfg->user_cert, cfg->user_key, &cfg->files) ||
      !zt_conf_group(&c, root, "tunnel", 0, &tunnel) ||
      (tunnel && (!zt_conf_check_keys(&c, tunnel, tunnel_keys) ||
                  !zt_conf_string(&c, tunnel, "interface", 0, &ifname))) ||
      !zt_conf_path(&c, root, "control_socket", 0, cfg->control_socket) ||
      !zt_conf_int(&c, root, "connect_timeout", 0, 1, 120, &timeout) ||
      !zt_conf_int(&c, root, "max_backoff", 0, 1, 3600, &backoff) ||
      !zt_conf_bool(&c, root, "udp", 0, &cfg->udp))
    goto out;
  if (!zt_hostport_split(server, cfg->server_host, sizeof(cfg->server_host),
                         &cfg->server_port)) {
    zt_conf_fail(&c, config_setting_get_member(root, "server"),
                 "server must be HOST:PORT, e.g. \"192.0.2.1:8443\"");
    goto out;
  }
  if (strlen(name) >= sizeof(cfg->server_name)) {
    zt_conf_fail(&c, config_setting_get_member(root, "server_name"),
                 "server_name is too long");
    goto out;
  }
  if (strlen(ifname) >= IFNAMSIZ) {
    zt_conf_fail(&c, config_setting_get_member(tunnel, "interface"),
                 "interface name longer than %d characters", IFNAMSIZ - 1);
    goto out;
  }
  if (strcmp(cfg->device_cert, cfg->user_cert) == 0) {
    zt_conf_fail(&c, config_setting_get_member(root, "user"),
                 "the user certificate must not be the device certificate");
    goto out;
  }
  zt_conf_note_file(&c, root, "server_ca", cfg->server_ca, 0, &cfg->files);
  snprintf(cfg->server_name, sizeof(cfg->server_name), "%s", name);
  snprintf(cfg->interface, sizeof(cfg->interface), "%s", ifname);
  cfg->connect_timeout = (unsigned)timeout;
  cfg->max_backoff = (unsigned)backoff;
  ok = 1;
out:
  if (!ok) snprintf(err, errlen, "%s", c.err);
  zt_conf_free(&c);
  return ok;
}

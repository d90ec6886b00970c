#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "dkeys.h"
#include "dplane.h"
#include "msg.h"
#include "pool.h"

static const char *const top_keys[] = {
    "listen", "udp_listen", "tls", "tunnel", "policy", "control_socket", "metrics_listen",
    "max_sessions", "handshake_timeout", "max_handshakes", "max_handshakes_per_source",
    "connect_rate_per_source", "idle_timeout", "user", "sandbox", "data_cipher",
    "rekey_interval", "reauth_interval", "workers", NULL};
static const char *const tls_keys[] = {"certificate", "private_key", "device_ca",
                                       "user_ca", "crl", NULL};
static const char *const tunnel_keys[] = {"interface", "mtu", "pool4", "pool6",
                                          "routes", "dns", "keepalive", "full_tunnel", NULL};
static const char *const dns_keys[] = {"servers", "domains", NULL};

/* Reads a prefix-valued string member into |out|. */
static int get_prefix(struct zt_conf *c, config_setting_t *g, const char *name,
                      int required, struct zt_prefix *out, int *present) {
  const char *v = NULL, *err;
  if (!zt_conf_string(c, g, name, required, &v)) return 0;
  if (present) *present = v != NULL;
  if (!v) return 1;
  if (!zt_prefix_parse(v, out, &err))
    return zt_conf_fail(c, config_setting_get_member(g, name), "%s '%s': %s",
                        name, v, err);
  return 1;
}

/* The pre-authentication limits (README "Limits"). */
static int read_limits(struct zt_conf *c, config_setting_t *root,
                       struct server_config *cfg) {
  int hs = 256, per_source = -1, rate = 20, idle = 0;
  if (!zt_conf_int(c, root, "max_handshakes", 0, 1, 65535, &hs) ||
      !zt_conf_int(c, root, "max_handshakes_per_source", 0, 1, 65535, &per_source) ||
      !zt_conf_int(c, root, "connect_rate_per_source", 0, 1, 100000, &rate) ||
      !zt_conf_int(c, root, "idle_timeout", 0, 0, 604800, &idle))
    return 0;
  if (per_source > hs)
    return zt_conf_fail(c, config_setting_get_member(root, "max_handshakes_per_source"),
                        "'max_handshakes_per_source' (%d) must not exceed max_handshakes (%d)",
                        per_source, hs);
  /* Keepalives run every few seconds: a shorter idle timeout would end
   * sessions between two bursts of ordinary use. */
  if (idle != 0 && idle < 10)
    return zt_conf_fail(c, config_setting_get_member(root, "idle_timeout"),
                        "'idle_timeout' must be 0 (never) or between 10 and 604800 seconds");
  cfg->max_handshakes = (unsigned)hs;
  /* The default follows a smaller max_handshakes rather than refusing it. */
  cfg->max_handshakes_per_source = per_source > 0 ? (unsigned)per_source
                                   : hs < 16      ? (unsigned)hs
                                                  : 16;
  cfg->connect_rate_per_source = (unsigned)rate;
  cfg->idle_timeout = (unsigned)idle;
  return 1;
}

static int read_tls(struct zt_conf *c, config_setting_t *tls,
                    struct server_config *cfg) {
  config_setting_t *crl;
  if (!zt_conf_check_keys(c, tls, tls_keys) ||
      !zt_conf_path(c, tls, "certificate", 1, cfg->cert) ||
      !zt_conf_path(c, tls, "private_key", 1, cfg->key) ||
      !zt_conf_path(c, tls, "device_ca", 1, cfg->device_ca) ||
      !zt_conf_path(c, tls, "user_ca", 1, cfg->user_ca) ||
      !zt_conf_string_list(c, tls, "crl", SERVER_MAX_CRLS, &crl))
    return 0;
  if (strcmp(cfg->device_ca, cfg->user_ca) == 0)
    return zt_conf_fail(c, config_setting_get_member(tls, "user_ca"),
                        "device_ca and user_ca must be different CAs");
  for (int i = 0; crl && i < config_setting_length(crl); i++) {
    config_setting_t *e = config_setting_get_elem(crl, (unsigned)i);
    if (!zt_conf_resolve(c->dir, config_setting_get_string(e), cfg->crl[cfg->ncrl++]))
      return zt_conf_fail(c, e, "crl path too long");
    zt_conf_note_file(c, tls, "crl", cfg->crl[cfg->ncrl - 1], 0, &cfg->files);
  }
  zt_conf_note_file(c, tls, "certificate", cfg->cert, 0, &cfg->files);
  zt_conf_note_file(c, tls, "private_key", cfg->key, 1, &cfg->files);
  zt_conf_note_file(c, tls, "device_ca", cfg->device_ca, 0, &cfg->files);
  zt_conf_note_file(c, tls, "user_ca", cfg->user_ca, 0, &cfg->files);
  return 1;
}

static int read_dns(struct zt_conf *c, config_setting_t *dns,
                    struct server_config *cfg) {
  config_setting_t *servers, *domains;
  if (!dns) return 1;
  if (!zt_conf_check_keys(c, dns, dns_keys) ||
      !zt_conf_string_list(c, dns, "servers", ZT_MAX_DNS_SERVERS, &servers) ||
      !zt_conf_string_list(c, dns, "domains", ZT_MAX_DNS_DOMAINS, &domains))
    return 0;
  for (int i = 0; servers && i < config_setting_length(servers); i++) {
    config_setting_t *e = config_setting_get_elem(servers, (unsigned)i);
    if (!zt_ip_parse(config_setting_get_string(e), &cfg->dns[cfg->ndns++]))
      return zt_conf_fail(c, e, "dns server '%s' is not an IP address",
                          config_setting_get_string(e));
  }
  for (int i = 0; domains && i < config_setting_length(domains); i++) {
    config_setting_t *e = config_setting_get_elem(domains, (unsigned)i);
    const char *d = config_setting_get_string(e);
    if (!zt_domain_valid(d, strlen(d)))
      return zt_conf_fail(c, e, "dns domain '%s' is not a valid domain name", d);
    snprintf(cfg->domains[cfg->ndomains++], sizeof(cfg->domains[0]), "%s", d);
  }
  return 1;
}

static int read_tunnel(struct zt_conf *c, config_setting_t *t,
                       struct server_config *cfg) {
  const char *ifname = "ztvpn0";
  int mtu = 1400, keepalive = ZT_DEFAULT_KEEPALIVE, full = 0;
  config_setting_t *routes, *dns;
  const char *err;
  struct zt_pool probe;
  if (!zt_conf_check_keys(c, t, tunnel_keys) ||
      !zt_conf_string(c, t, "interface", 0, &ifname) ||
      !zt_conf_int(c, t, "mtu", 0, ZT_MIN_MTU, ZT_MAX_MTU, &mtu) ||
      !zt_conf_int(c, t, "keepalive", 0, 1, 3600, &keepalive) ||
      !zt_conf_bool(c, t, "full_tunnel", 0, &full) ||
      !get_prefix(c, t, "pool4", 1, &cfg->pool4, NULL) ||
      !get_prefix(c, t, "pool6", 0, &cfg->pool6, &cfg->has_pool6) ||
      !zt_conf_string_list(c, t, "routes", ZT_MAX_ROUTES, &routes) ||
      !zt_conf_group(c, t, "dns", 0, &dns) || !read_dns(c, dns, cfg))
    return 0;
  if (strlen(ifname) >= IFNAMSIZ)
    return zt_conf_fail(c, config_setting_get_member(t, "interface"),
                        "interface name longer than %d characters", IFNAMSIZ - 1);
  snprintf(cfg->interface, sizeof(cfg->interface), "%s", ifname);
  cfg->mtu = (unsigned)mtu;
  cfg->keepalive = (unsigned)keepalive;
  cfg->full_tunnel = full;
  if (cfg->pool4.family != AF_INET || !zt_pool_init(&probe, &cfg->pool4, &err))
    return zt_conf_fail(c, config_setting_get_member(t, "pool4"),
                        "pool4 must be an IPv4 prefix with room for clients");
  uint32_t cap4 = zt_pool_capacity(&probe);
  zt_pool_free(&probe);
  if (cfg->has_pool6) {
    config_setting_t *p6 = config_setting_get_member(t, "pool6");
    /* Clients get the same host index in both pools, so pool6 must be as big. */
    if (cfg->pool6.family != AF_INET6 || !zt_pool_init(&probe, &cfg->pool6, &err))
      return zt_conf_fail(c, p6, "pool6 must be an IPv6 prefix with room for clients");
    uint32_t cap6 = zt_pool_capacity(&probe);
    zt_pool_free(&probe);
    if (cap6 < cap4)
      return zt_conf_fail(c, p6, "pool6 must hold at least as many addresses as pool4");
    if (cfg->mtu < 1280)
      return zt_conf_fail(c, config_setting_get_member(t, "mtu"),
                          "IPv6 (pool6) needs an mtu of at least 1280");
  }
  for (int i = 0; routes && i < config_setting_length(routes); i++) {
    config_setting_t *e = config_setting_get_elem(routes, (unsigned)i);
    if (!zt_prefix_parse(config_setting_get_string(e), &cfg->routes[cfg->nroutes++], &err))
      return zt_conf_fail(c, e, "route '%s': %s", config_setting_get_string(e), err);
  }
  return 1;
}

/* The UDP data channel's address, cipher and key lifetimes. */
static int read_data(struct zt_conf *c, config_setting_t *root, const char *udp,
                     struct server_config *cfg) {
  const char *cipher = "aes-256-gcm";
  int rekey = 120, reauth = 3600, workers = 1;
  if (!zt_conf_int(c, root, "workers", 0, 1, DP_MAX_WORKERS, &workers) ||
      !zt_conf_string(c, root, "data_cipher", 0, &cipher) ||
      !zt_conf_int(c, root, "rekey_interval", 0, 1, 86400, &rekey) ||
      !zt_conf_int(c, root, "reauth_interval", 0, 0, 604800, &reauth))
    return 0;
  if (!(cfg->data_cipher = zt_aead_from_name(cipher)))
    return zt_conf_fail(c, config_setting_get_member(root, "data_cipher"),
                        "data_cipher must be \"aes-256-gcm\" or \"chacha20-poly1305\"");
  if (reauth != 0 && reauth < 10)
    return zt_conf_fail(c, config_setting_get_member(root, "reauth_interval"),
                        "reauth_interval must be 0 (never) or at least 10 seconds");
  cfg->workers = (unsigned)workers;
  cfg->rekey_interval = (unsigned)rekey;
  cfg->reauth_interval = (unsigned)reauth;
  if (!udp) return 1;
  if (!zt_hostport_split(udp, cfg->udp_host, sizeof(cfg->udp_host), &cfg->udp_port) ||
      !zt_ip_parse(cfg->udp_host, &(struct zt_ip){0}))
    return zt_conf_fail(c, config_setting_get_member(root, "udp_listen"),
                        "udp_listen must be ADDRESS:PORT, e.g. \"192.0.2.1:8443\"");
  cfg->has_udp_listen = 1;
  return 1;
}

/* The account of the network-facing process (privsep.c looks it up). */
static int read_privsep(struct zt_conf *c, config_setting_t *root,
                        struct server_config *cfg) {
  const char *user = "ztvpn";
  cfg->sandbox = 1;
  if (!zt_conf_string(c, root, "user", 0, &user) ||
      !zt_conf_bool(c, root, "sandbox", 0, &cfg->sandbox))
    return 0;
  config_setting_t *s = config_setting_get_member(root, "user");
  if (user[0] == '\0' || strlen(user) >= sizeof(cfg->user))
    return zt_conf_fail(c, s, "user must be an account name of 1 to %zu bytes",
                        sizeof(cfg->user) - 1);
  snprintf(cfg->user, sizeof(cfg->user), "%s", user);
  cfg->user_line = s ? config_setting_source_line(s) : 0;
  return 1;
}

int server_config_load(const char *path, struct server_config *cfg, char *err,
                       size_t errlen) {
  struct zt_conf c;
  config_setting_t *root, *tls, *tunnel;
  const char *listen = NULL, *udp = NULL, *metrics = NULL;
  int max_sessions = 1024, hs_timeout = ZT_HANDSHAKE_TIMEOUT;
  int ok = 0;
  memset(cfg, 0, sizeof(*cfg));
  snprintf(cfg->file, sizeof(cfg->file), "%s", path);
  if (!zt_conf_load(&c, path)) goto out;
  root = config_root_setting(&c.cfg);
  if (!zt_conf_check_keys(&c, root, top_keys) ||
      !zt_conf_string(&c, root, "listen", 1, &listen) ||
      !zt_conf_string(&c, root, "udp_listen", 0, &udp) ||
      !zt_conf_path(&c, root, "policy", 0, cfg->policy) ||
      !zt_conf_path(&c, root, "control_socket", 0, cfg->control_socket) ||
      !zt_conf_string(&c, root, "metrics_listen", 0, &metrics) ||
      !zt_conf_int(&c, root, "max_sessions", 0, 1, 65534, &max_sessions) ||
      !zt_conf_int(&c, root, "handshake_timeout", 0, 1, 300, &hs_timeout) ||
      !read_limits(&c, root, cfg) ||
      !read_privsep(&c, root, cfg) ||
      !read_data(&c, root, udp, cfg) ||
      !zt_conf_group(&c, root, "tls", 1, &tls) || !read_tls(&c, tls, cfg) ||
      !zt_conf_group(&c, root, "tunnel", 1, &tunnel) ||
      !read_tunnel(&c, tunnel, cfg))
    goto out;
  if (!zt_hostport_split(listen, cfg->listen_host, sizeof(cfg->listen_host),
                         &cfg->listen_port)) {
    zt_conf_fail(&c, config_setting_get_member(root, "listen"),
                 "listen must be ADDRESS:PORT, e.g. \"192.0.2.1:8443\"");
    goto out;
  }
  if (metrics) {
    struct zt_ip ip;
    /* An IP address, as the listener binds it: a name would need DNS. */
    if (!zt_hostport_split(metrics, cfg->metrics_host, sizeof(cfg->metrics_host),
                           &cfg->metrics_port) ||
        !zt_ip_parse(cfg->metrics_host, &ip)) {
      zt_conf_fail(&c, config_setting_get_member(root, "metrics_listen"),
                   "metrics_listen must be ADDRESS:PORT, e.g. \"127.0.0.1:9586\"");
      goto out;
    }
    cfg->has_metrics = 1;
  }
  cfg->has_policy = cfg->policy[0] != '\0';
  if (cfg->has_policy) zt_conf_note_file(&c, root, "policy", cfg->policy, 0, &cfg->files);
  cfg->max_sessions = (unsigned)max_sessions;
  cfg->handshake_timeout = (unsigned)hs_timeout;
  ok = 1;
out:
  if (!ok) snprintf(err, errlen, "%s", c.err);
  zt_conf_free(&c);
  return ok;
}

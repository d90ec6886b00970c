/* server/config.c: server.conf parsed into every field of struct
 * server_config, relative paths resolved against the file's directory, and
 * each refusal reported as "FILE:LINE: message" naming the line at fault. */
#include <arpa/inet.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dkeys.h"

#include "config.h"
#include "conftext.h"
#include "testutil.h"

/* Every setting server.conf knows, with non-default values. */
static const char *const base[] = {
    /*  1 */ "listen = \"192.0.2.1:8443\";",
    /*  2 */ "udp_listen = \"192.0.2.1:8443\";",
    /*  3 */ "tls = {",
    /*  4 */ "  certificate = \"server.crt\";",
    /*  5 */ "  private_key = \"keys/server.key\";",
    /*  6 */ "  device_ca = \"device-ca.crt\";",
    /*  7 */ "  user_ca = \"/etc/ztvpn/user-ca.crt\";",
    /*  8 */ "  crl = [ \"device-ca.crl\", \"crl/user-ca.crl\" ];",
    /*  9 */ "};",
    /* 10 */ "tunnel = {",
    /* 11 */ "  interface = \"zt-test\";",
    /* 12 */ "  mtu = 1380;",
    /* 13 */ "  pool4 = \"100.64.0.0/24\";",
    /* 14 */ "  pool6 = \"fd00:5a::/64\";",
    /* 15 */ "  routes = [ \"198.51.100.0/24\", \"fd00:77::/64\" ];",
    /* 16 */ "  dns = {",
    /* 17 */ "    servers = [ \"198.51.100.53\", \"fd00:77::53\" ];",
    /* 18 */ "    domains = [ \"corp.example\", \"eng.corp.example\" ];",
    /* 19 */ "  };",
    /* 20 */ "  keepalive = 15;",
    /* 21 */ "};",
    /* 22 */ "handshake_timeout = 7;",
    /* 23 */ "max_sessions = 99;",
    /* 24 */ "control_socket = \"run/server.sock\";",
    /* 25 */ "policy = \"policies/policy.conf\";",
};
#define NBASE (sizeof(base) / sizeof(base[0]))

/* Only what is required. */
static const char *const minimal[] = {
    "listen = \"[2001:db8::1]:443\";",
    "tls = {",
    "  certificate = \"s.crt\"; private_key = \"s.key\";",
    "  device_ca = \"d.crt\"; user_ca = \"u.crt\";",
    "};",
    "tunnel = { pool4 = \"10.9.0.0/30\"; };",
};

struct fixture {
  struct ct_fixture ct;
  struct server_config cfg;
};

static int setup(void **state) {
  static struct fixture f;
  memset(&f.cfg, 0, sizeof(f.cfg));
  ct_fixture_make(&f.ct, "server.conf");
  *state = &f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  ct_fixture_remove(&f->ct);
  return 0;
}

/* Writes the base with |edit| applied and loads it. */
static int load_edit(struct fixture *f, const struct ct_edit *edit) {
  ct_fixture_write(&f->ct, base, NBASE, edit);
  return server_config_load(f->ct.path, &f->cfg, f->ct.err, sizeof(f->ct.err));
}

static void assert_prefix(const struct zt_prefix *p, const char *want) {
  char buf[ZT_ADDR_STRLEN];
  assert_string_equal(zt_prefix_format(p, buf), want);
}

static void assert_ip(const struct zt_ip *ip, const char *want) {
  char buf[ZT_ADDR_STRLEN];
  assert_string_equal(zt_ip_format(ip, buf), want);
}

static void test_full_config(void **state) {
  struct fixture *f = *state;
  if (!load_edit(f, NULL)) fail_msg("%s", f->ct.err);
  const struct server_config *c = &f->cfg;
  assert_string_equal(c->listen_host, "192.0.2.1");
  assert_int_equal(c->listen_port, 8443);
  assert_int_equal(c->has_udp_listen, 1);
  ct_assert_dir_path(&f->ct, c->cert, "server.crt");
  ct_assert_dir_path(&f->ct, c->key, "keys/server.key");
  ct_assert_dir_path(&f->ct, c->device_ca, "device-ca.crt");
  assert_string_equal(c->user_ca, "/etc/ztvpn/user-ca.crt"); /* absolute: kept */
  assert_int_equal(c->ncrl, 2);
  ct_assert_dir_path(&f->ct, c->crl[0], "device-ca.crl");
  ct_assert_dir_path(&f->ct, c->crl[1], "crl/user-ca.crl");
  assert_string_equal(c->interface, "zt-test");
  assert_int_equal(c->mtu, 1380);
  assert_int_equal(c->keepalive, 15);
  assert_int_equal(c->handshake_timeout, 7);
  assert_int_equal(c->max_sessions, 99);
  assert_int_equal(c->pool4.family, AF_INET);
  assert_prefix(&c->pool4, "100.64.0.0/24");
  assert_int_equal(c->has_pool6, 1);
  assert_int_equal(c->pool6.family, AF_INET6);
  assert_prefix(&c->pool6, "fd00:5a::/64");
  assert_int_equal(c->nroutes, 2);
  assert_prefix(&c->routes[0], "198.51.100.0/24");
  assert_prefix(&c->routes[1], "fd00:77::/64");
  assert_int_equal(c->ndns, 2);
  assert_ip(&c->dns[0], "198.51.100.53");
  assert_ip(&c->dns[1], "fd00:77::53");
  assert_int_equal(c->ndomains, 2);
  assert_string_equal(c->domains[0], "corp.example");
  assert_string_equal(c->domains[1], "eng.corp.example");
  ct_assert_dir_path(&f->ct, c->control_socket, "run/server.sock");
  assert_int_equal(c->has_policy, 1);
  ct_assert_dir_path(&f->ct, c->policy, "policies/policy.conf");
  assert_int_equal(c->full_tunnel, 0);
  /* the policy file is checked like every other file the config names */
  int named = 0;
  for (size_t i = 0; i < c->files.n; i++)
    named += strcmp(c->files.f[i].path, c->policy) == 0;
  assert_int_equal(named, 1);
}

static void test_full_tunnel(void **state) {
  struct fixture *f = *state;
  const struct ct_edit on = {20, 20, "  keepalive = 15; full_tunnel = true;"};
  if (!load_edit(f, &on)) fail_msg("%s", f->ct.err);
  assert_int_equal(f->cfg.full_tunnel, 1);
}

/* The pre-authentication limits as set, and the per-source default
 * following a max_handshakes below it. */
static void test_limits(void **state) {
  struct fixture *f = *state;
  const struct ct_edit set = {23, 23,
                              "max_sessions = 99; max_handshakes = 1000;\n"
                              "max_handshakes_per_source = 1000; connect_rate_per_source = 100000;\n"
                              "idle_timeout = 604800;"};
  if (!load_edit(f, &set)) fail_msg("%s", f->ct.err);
  assert_int_equal(f->cfg.max_sessions, 99);
  assert_int_equal(f->cfg.max_handshakes, 1000);
  assert_int_equal(f->cfg.max_handshakes_per_source, 1000);
  assert_int_equal(f->cfg.connect_rate_per_source, 100000);
  assert_int_equal(f->cfg.idle_timeout, 604800);
  const struct ct_edit small = {23, 23, "max_handshakes = 4; idle_timeout = 10;"};
  if (!load_edit(f, &small)) fail_msg("%s", f->ct.err);
  assert_int_equal(f->cfg.max_handshakes, 4);
  assert_int_equal(f->cfg.max_handshakes_per_source, 4);
  assert_int_equal(f->cfg.idle_timeout, 10);
  const struct ct_edit lowest = {23, 23, "max_handshakes = 1; connect_rate_per_source = 1; idle_timeout = 0;"};
  if (!load_edit(f, &lowest)) fail_msg("%s", f->ct.err);
  assert_int_equal(f->cfg.max_handshakes, 1);
  assert_int_equal(f->cfg.max_handshakes_per_source, 1);
  assert_int_equal(f->cfg.connect_rate_per_source, 1);
  assert_int_equal(f->cfg.idle_timeout, 0);
}

/* The data channel's settings as set. */
static void test_data_channel(void **state) {
  struct fixture *f = *state;
  const struct ct_edit set = {2, 2,
                              "udp_listen = \"[2001:db8::1]:51820\"; data_cipher = \"chacha20-poly1305\";\n"
                              "rekey_interval = 1; reauth_interval = 10;"};
  if (!load_edit(f, &set)) fail_msg("%s", f->ct.err);
  assert_int_equal(f->cfg.has_udp_listen, 1);
  assert_string_equal(f->cfg.udp_host, "2001:db8::1");
  assert_int_equal(f->cfg.udp_port, 51820);
  assert_int_equal(f->cfg.data_cipher, ZT_AEAD_CHACHA20POLY1305);
  assert_int_equal(f->cfg.rekey_interval, 1);
  assert_int_equal(f->cfg.reauth_interval, 10);
  const struct ct_edit most = {2, 2, "rekey_interval = 86400; reauth_interval = 604800;"};
  if (!load_edit(f, &most)) fail_msg("%s", f->ct.err);
  assert_int_equal(f->cfg.has_udp_listen, 0);
  assert_int_equal(f->cfg.rekey_interval, 86400);
  assert_int_equal(f->cfg.reauth_interval, 604800);
  const struct ct_edit never = {2, 2, "reauth_interval = 0; data_cipher = \"aes-256-gcm\";"};
  if (!load_edit(f, &never)) fail_msg("%s", f->ct.err);
  assert_int_equal(f->cfg.reauth_interval, 0);
  assert_int_equal(f->cfg.data_cipher, ZT_AEAD_AES256GCM);
}

static void test_defaults(void **state) {
  struct fixture *f = *state;
  ct_write(f->ct.path, minimal, sizeof(minimal) / sizeof(minimal[0]), NULL);
  /* Whatever a previous load left must not show through. */
  memset(&f->cfg, 0x5a, sizeof(f->cfg));
  if (!server_config_load(f->ct.path, &f->cfg, f->ct.err, sizeof(f->ct.err)))
    fail_msg("%s", f->ct.err);
  const struct server_config *c = &f->cfg;
  assert_string_equal(c->listen_host, "2001:db8::1");
  assert_int_equal(c->listen_port, 443);
  assert_int_equal(c->has_udp_listen, 0);
  ct_assert_dir_path(&f->ct, c->cert, "s.crt");
  ct_assert_dir_path(&f->ct, c->key, "s.key");
  assert_int_equal(c->ncrl, 0);
  assert_string_equal(c->interface, "ztvpn0");
  assert_int_equal(c->mtu, 1400);
  assert_int_equal(c->keepalive, ZT_DEFAULT_KEEPALIVE);
  assert_int_equal(c->handshake_timeout, ZT_HANDSHAKE_TIMEOUT);
  assert_int_equal(c->max_sessions, 1024);
  assert_int_equal(c->max_handshakes, 256);
  assert_int_equal(c->max_handshakes_per_source, 16);
  assert_int_equal(c->connect_rate_per_source, 20);
  assert_int_equal(c->idle_timeout, 0);
  assert_int_equal(c->data_cipher, ZT_AEAD_AES256GCM);
  assert_int_equal(c->rekey_interval, 120);
  assert_int_equal(c->reauth_interval, 3600);
  assert_prefix(&c->pool4, "10.9.0.0/30"); /* the smallest pool: one client */
  assert_int_equal(c->has_pool6, 0);
  assert_int_equal(c->nroutes, 0);
  assert_int_equal(c->ndns, 0);
  assert_int_equal(c->ndomains, 0);
  assert_string_equal(c->control_socket, "");
  assert_int_equal(c->has_policy, 0);
  assert_int_equal(c->full_tunnel, 0);
}

/* A file named without a directory: paths stay relative to the working
 * directory, which is then the file's directory; a relative file name puts
 * its directory in front. Messages name the file as it was given. */
static void test_relative_config_path(void **state) {
  struct fixture *f = *state;
  char cwd[PATH_MAX], sub[PATH_MAX];
  assert_non_null(getcwd(cwd, sizeof(cwd)));
  ct_write(f->ct.path, base, NBASE, NULL);

  assert_int_equal(chdir(f->ct.dir.path), 0);
  int ok = server_config_load("server.conf", &f->cfg, f->ct.err, sizeof(f->ct.err));
  char cert[sizeof(f->cfg.cert)], crl1[sizeof(f->cfg.crl[1])];
  memcpy(cert, f->cfg.cert, sizeof(cert));
  memcpy(crl1, f->cfg.crl[1], sizeof(crl1));
  const struct ct_edit bad = {23, 23, "max_sessions = \"many\";"};
  ct_write("server.conf", base, NBASE, &bad);
  int bad_ok = server_config_load("server.conf", &f->cfg, f->ct.err, sizeof(f->ct.err));
  char bad_err[ZT_CONF_ERR_LEN];
  memcpy(bad_err, f->ct.err, sizeof(bad_err));

  /* and from the parent: "zttest.XXXXXX/server.conf" */
  const char *leaf = strrchr(f->ct.dir.path, '/') + 1;
  assert_int_equal(chdir(f->ct.dir.path), 0);
  assert_int_equal(chdir(".."), 0);
  ct_write(tu_path(&f->ct.dir, "server.conf", sub), base, NBASE, NULL);
  snprintf(sub, sizeof(sub), "%s/server.conf", leaf);
  int sub_ok = server_config_load(sub, &f->cfg, f->ct.err, sizeof(f->ct.err));
  assert_int_equal(chdir(cwd), 0);

  assert_int_equal(ok, 1);
  assert_string_equal(cert, "server.crt");
  assert_string_equal(crl1, "crl/user-ca.crl");
  assert_int_equal(bad_ok, 0);
  ct_assert_err(bad_err, "server.conf", 23, "'max_sessions' must be an integer");
  if (!sub_ok) fail_msg("%s", f->ct.err);
  snprintf(sub, sizeof(sub), "%s/server.crt", leaf);
  assert_string_equal(f->cfg.cert, sub);
  snprintf(sub, sizeof(sub), "%s/keys/server.key", leaf);
  assert_string_equal(f->cfg.key, sub);
  assert_string_equal(f->cfg.user_ca, "/etc/ztvpn/user-ca.crt");
}

static const struct ct_err_case err_cases[] = {
    /* syntax and unknown settings */
    {"syntax", {12, 12, "  mtu = = 1380;"}, 12, "syntax error"},
    /* libconfig names the line after the last one: the end of the file */
    {"unterminated group", {21, 21, NULL}, 25, "syntax error"},
    {"unknown top", {23, 23, "max_session = 99;"}, 23, "unknown setting 'max_session'"},
    {"unknown tls", {5, 5, "  privatekey = \"k\";"}, 5, "unknown setting 'privatekey'"},
    {"unknown tunnel", {20, 20, "  keep_alive = 15;"}, 20, "unknown setting 'keep_alive'"},
    {"unknown dns", {18, 18, "    domain = [ \"corp.example\" ];"}, 18,
     "unknown setting 'domain'"},
    {"unknown top group", {25, 24, "logging = { level = 1; };"}, 25,
     "unknown setting 'logging'"},
    /* missing required settings */
    {"missing listen", {1, 1, NULL}, 0, "missing setting 'listen'"},
    {"missing tls", {3, 9, NULL}, 0, "missing group 'tls'"},
    {"missing tunnel", {10, 21, NULL}, 0, "missing group 'tunnel'"},
    {"missing certificate", {4, 4, NULL}, 3, "missing setting 'certificate'"},
    {"missing private_key", {5, 5, NULL}, 3, "missing setting 'private_key'"},
    {"missing device_ca", {6, 6, NULL}, 3, "missing setting 'device_ca'"},
    {"missing user_ca", {7, 7, NULL}, 3, "missing setting 'user_ca'"},
    {"missing pool4", {13, 13, NULL}, 10, "missing setting 'pool4'"},
    /* wrong types and ranges */
    {"listen int", {1, 1, "listen = 8443;"}, 1, "'listen' must be a string"},
    {"listen empty", {1, 1, "listen = \"\";"}, 1, "'listen' is empty"},
    {"tls not group", {3, 9, "tls = [ \"server.crt\" ];"}, 3, "'tls' must be a group"},
    {"tunnel not group", {10, 21, "tunnel = \"ztvpn0\";"}, 10,
     "'tunnel' must be a group"},
    {"dns not group", {16, 19, "  dns = \"198.51.100.53\";"}, 16, "'dns' must be a group"},
    {"certificate int", {4, 4, "  certificate = 1;"}, 4, "'certificate' must be a string"},
    {"mtu string", {12, 12, "  mtu = \"1380\";"}, 12, "'mtu' must be an integer"},
    {"mtu float", {12, 12, "  mtu = 1380.0;"}, 12, "'mtu' must be an integer"},
    {"mtu low", {12, 12, "  mtu = 575;"}, 12, "'mtu' must be between 576 and 9000"},
    {"mtu high", {12, 12, "  mtu = 9001;"}, 12, "'mtu' must be between 576 and 9000"},
    {"keepalive 0", {20, 20, "  keepalive = 0;"}, 20, "'keepalive' must be between 1"},
    {"timeout", {22, 22, "handshake_timeout = 301;"}, 22,
     "'handshake_timeout' must be between 1 and 300"},
    {"sessions", {23, 23, "max_sessions = 0;"}, 23, "'max_sessions' must be between"},
    {"crl string", {8, 8, "  crl = \"device-ca.crl\";"}, 8,
     "'crl' must be a list of strings"},
    {"crl entry", {8, 8, "  crl = ( \"a.crl\", 2 );"}, 8, "'crl' entry 2 must be a string"},
    {"crl too many",
     {8, 8, "  crl = [ \"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\","
            "\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\" ];"},
     8, "'crl' has 17 entries; at most 16"},
    {"routes string", {15, 15, "  routes = \"198.51.100.0/24\";"}, 15,
     "'routes' must be a list of strings"},
    {"routes int", {15, 15, "  routes = ( \"198.51.100.0/24\", 7 );"}, 15,
     "'routes' entry 2 must be a string"},
    /* pools */
    {"pool4 v6", {13, 13, "  pool4 = \"fd00:1::/64\";"}, 13,
     "pool4 must be an IPv4 prefix with room for clients"},
    {"pool4 /31", {13, 13, "  pool4 = \"100.64.0.0/31\";"}, 13,
     "pool4 must be an IPv4 prefix with room for clients"},
    {"pool4 /32", {13, 13, "  pool4 = \"100.64.0.7\";"}, 13,
     "pool4 must be an IPv4 prefix with room for clients"},
    {"pool4 host bits", {13, 13, "  pool4 = \"100.64.0.1/24\";"}, 13,
     "pool4 '100.64.0.1/24': "},
    {"pool4 junk", {13, 13, "  pool4 = \"corp\";"}, 13, "pool4 'corp': "},
    {"pool4 int", {13, 13, "  pool4 = 24;"}, 13, "'pool4' must be a string"},
    {"pool6 v4", {14, 14, "  pool6 = \"10.0.0.0/8\";"}, 14,
     "pool6 must be an IPv6 prefix with room for clients"},
    {"pool6 /127", {14, 14, "  pool6 = \"fd00:5a::/127\";"}, 14,
     "pool6 must be an IPv6 prefix"},
    {"pool6 smaller", {13, 14, "  pool4 = \"100.64.0.0/16\";\n  pool6 = \"fd00:5a::/120\";"},
     14, "pool6 must hold at least as many addresses as pool4"},
    {"pool6 low mtu", {12, 12, "  mtu = 1279;"}, 12,
     "IPv6 (pool6) needs an mtu of at least 1280"},
    /* routes, dns */
    {"route host bits", {15, 15, "  routes = [ \"198.51.100.1/24\" ];"}, 15,
     "route '198.51.100.1/24': "},
    {"route host bits v6", {15, 15, "  routes = [ \"198.51.100.0/24\", \"fd00:77::1/64\" ];"},
     15, "route 'fd00:77::1/64': "},
    {"route on its line",
     {15, 15, "  routes = [\n    \"198.51.100.0/24\",\n    \"10.1.2.3/8\", \"10.0.0.0/8\" ];"},
     17, "route '10.1.2.3/8': "},
    {"route length", {15, 15, "  routes = [ \"10.0.0.0/33\" ];"}, 15, "route '10.0.0.0/33': "},
    {"dns name", {17, 17, "    servers = [ \"198.51.100.53\", \"ns.corp.example\" ];"}, 17,
     "dns server 'ns.corp.example' is not an IP address"},
    {"dns prefix", {17, 17, "    servers = [ \"198.51.100.0/24\" ];"}, 17,
     "dns server '198.51.100.0/24' is not an IP address"},
    {"dns too many",
     {17, 17, "    servers = [ \"1.1.1.1\",\"1.1.1.2\",\"1.1.1.3\",\"1.1.1.4\",\"1.1.1.5\","
              "\"1.1.1.6\",\"1.1.1.7\",\"1.1.1.8\",\"1.1.1.9\" ];"},
     17, "'servers' has 9 entries; at most 8"},
    {"domain space", {18, 18, "    domains = [ \"corp example\" ];"}, 18,
     "dns domain 'corp example' is not a valid domain name"},
    {"domain underscore", {18, 18, "    domains = [ \"a.b\", \"x_y.example\" ];"}, 18,
     "dns domain 'x_y.example' is not a valid domain name"},
    {"domain long",
     {18, 18, "    domains = [ \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example\" ];"},
     18, "is not a valid domain name"},
    /* the rest */
    {"same CA", {7, 7, "  user_ca = \"device-ca.crt\";"}, 7,
     "device_ca and user_ca must be different CAs"},
    {"listen no port", {1, 1, "listen = \"192.0.2.1\";"}, 1, "listen must be ADDRESS:PORT"},
    {"listen port 0", {1, 1, "listen = \"192.0.2.1:0\";"}, 1, "listen must be ADDRESS:PORT"},
    {"listen big port", {1, 1, "listen = \"192.0.2.1:65536\";"}, 1,
     "listen must be ADDRESS:PORT"},
    {"listen bare v6", {1, 1, "listen = \"2001:db8::1:443\";"}, 1,
     "listen must be ADDRESS:PORT"},
    {"interface long", {11, 11, "  interface = \"zt-0123456789abc\";"}, 11,
     "interface name longer than 15 characters"},
    {"full_tunnel type", {20, 20, "  full_tunnel = 1;"}, 20,
     "'full_tunnel' must be true or false"},
    {"policy type", {25, 25, "policy = [ \"a.conf\" ];"}, 25, "'policy' must be a string"},
    /* pre-authentication limits */
    {"max_handshakes 0", {23, 23, "max_handshakes = 0;"}, 23,
     "'max_handshakes' must be between 1 and 65535"},
    {"max_handshakes high", {23, 23, "max_handshakes = 65536;"}, 23,
     "'max_handshakes' must be between 1 and 65535"},
    {"max_handshakes string", {23, 23, "max_handshakes = \"256\";"}, 23,
     "'max_handshakes' must be an integer"},
    {"per source 0", {23, 23, "max_handshakes_per_source = 0;"}, 23,
     "'max_handshakes_per_source' must be between 1 and 65535"},
    {"per source above total", {22, 23, "max_handshakes = 8;\nmax_handshakes_per_source = 9;"},
     23, "'max_handshakes_per_source' (9) must not exceed max_handshakes (8)"},
    {"per source above default total", {23, 23, "max_handshakes_per_source = 257;"}, 23,
     "must not exceed max_handshakes (256)"},
    {"rate 0", {23, 23, "connect_rate_per_source = 0;"}, 23,
     "'connect_rate_per_source' must be between 1 and 100000"},
    {"rate high", {23, 23, "connect_rate_per_source = 100001;"}, 23,
     "'connect_rate_per_source' must be between 1 and 100000"},
    {"rate float", {23, 23, "connect_rate_per_source = 2.5;"}, 23,
     "'connect_rate_per_source' must be an integer"},
    {"idle short", {23, 23, "idle_timeout = 9;"}, 23,
     "'idle_timeout' must be 0 (never) or between 10 and 604800 seconds"},
    {"idle negative", {23, 23, "idle_timeout = -1;"}, 23,
     "'idle_timeout' must be between 0 and 604800"},
    {"idle week", {23, 23, "idle_timeout = 604801;"}, 23,
     "'idle_timeout' must be between 0 and 604800"},
    {"idle bool", {23, 23, "idle_timeout = false;"}, 23, "'idle_timeout' must be an integer"},
    {"udp no port", {2, 2, "udp_listen = \"192.0.2.1\";"}, 2,
     "udp_listen must be ADDRESS:PORT"},
    {"udp name", {2, 2, "udp_listen = \"gw.example:8443\";"}, 2,
     "udp_listen must be ADDRESS:PORT"},
    {"udp port 0", {2, 2, "udp_listen = \"192.0.2.1:0\";"}, 2,
     "udp_listen must be ADDRESS:PORT"},
    {"udp number", {2, 2, "udp_listen = 8443;"}, 2, "'udp_listen' must be a string"},
    {"cipher unknown", {23, 23, "data_cipher = \"aes-128-gcm\";"}, 23,
     "data_cipher must be \"aes-256-gcm\" or \"chacha20-poly1305\""},
    {"rekey 0", {23, 23, "rekey_interval = 0;"}, 23,
     "'rekey_interval' must be between 1 and 86400"},
    {"rekey day+1", {23, 23, "rekey_interval = 86401;"}, 23,
     "'rekey_interval' must be between 1 and 86400"},
    {"reauth short", {23, 23, "reauth_interval = 9;"}, 23,
     "reauth_interval must be 0 (never) or at least 10 seconds"},
    {"reauth week+1", {23, 23, "reauth_interval = 604801;"}, 23,
     "'reauth_interval' must be between 0 and 604800"},
};

static void test_errors(void **state) {
  struct fixture *f = *state;
  int failed = 0;
  for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
    const struct ct_err_case *c = &err_cases[i];
    if (load_edit(f, &c->edit)) {
      print_error("case '%s': accepted\n", c->name);
      failed++;
      continue;
    }
    if (!ct_err_case_ok(&f->ct, c)) failed++;
  }
  if (failed) fail_msg("%d of the cases failed", failed);
}

/* Edits that must still load, next to the refusals above. */
static void test_edges_accepted(void **state) {
  struct fixture *f = *state;
  static const struct ct_edit ok[] = {
      {11, 11, "  interface = \"zt-0123456789ab\";"},      /* 15 characters */
      {12, 12, "  mtu = 1280;"},                           /* IPv6 minimum */
      {12, 14, "  mtu = 576;\n  pool4 = \"100.64.0.0/24\";"}, /* no pool6: 576 */
      {13, 14, "  pool4 = \"100.64.0.0/24\";\n  pool6 = \"fd00:5a::/120\";"}, /* equal */
      {2, 2, NULL},                                         /* no udp_listen */
      {8, 8, "  crl = [ ];"},                                /* empty CRL list */
      {15, 15, "  routes = ( \"0.0.0.0/0\", \"::/0\" );"},   /* full tunnel, list */
      {16, 19, NULL},                                       /* no dns */
  };
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
    if (!load_edit(f, &ok[i])) fail_msg("edit %zu refused: %s", i, f->ct.err);
  /* the last one: no DNS at all */
  assert_int_equal(f->cfg.ndns, 0);
  assert_int_equal(f->cfg.ndomains, 0);
  const struct ct_edit crl_empty = {8, 8, "  crl = [ ];"};
  assert_int_equal(load_edit(f, &crl_empty), 1);
  assert_int_equal(f->cfg.ncrl, 0);
  const struct ct_edit full = {15, 15, "  routes = ( \"0.0.0.0/0\", \"::/0\" );"};
  assert_int_equal(load_edit(f, &full), 1);
  assert_int_equal(f->cfg.nroutes, 2);
  assert_prefix(&f->cfg.routes[0], "0.0.0.0/0");
  assert_prefix(&f->cfg.routes[1], "::/0");
}

static void test_missing_file(void **state) {
  struct fixture *f = *state;
  char path[PATH_MAX];
  tu_path(&f->ct.dir, "nonexistent.conf", path);
  assert_int_equal(server_config_load(path, &f->cfg, f->ct.err, sizeof(f->ct.err)), 0);
  ct_assert_err(f->ct.err, path, 0, "cannot read the file");
}

/* An error inside an @include'd file names that file and its line; the
 * include is found next to the including file, not in the working
 * directory. */
static void test_include(void **state) {
  struct fixture *f = *state;
  char inc[PATH_MAX];
  tu_write_str(&f->ct.dir, "tls.conf",
               "tls = {\n"
               "  certificate = \"server.crt\"; private_key = \"server.key\";\n"
               "  device_ca = \"device-ca.crt\"; user_ca = \"user-ca.crt\";\n"
               "};\n",
               inc);
  const struct ct_edit use = {3, 9, "@include \"tls.conf\""};
  if (!load_edit(f, &use)) fail_msg("%s", f->ct.err);
  ct_assert_dir_path(&f->ct, f->cfg.user_ca, "user-ca.crt");

  tu_write_str(&f->ct.dir, "tls.conf",
               "tls = {\n"
               "  certificate = \"server.crt\"; private_key = \"server.key\";\n"
               "  device_ca = \"device-ca.crt\"; user_ca = \"user-ca.crt\";\n"
               "  ciphers = \"all\";\n"
               "};\n",
               inc);
  assert_int_equal(load_edit(f, &use), 0);
  /* libconfig 1.5 reports the name as the @include spells it; the resolved
   * path would be better for an editor started elsewhere. Accept either. */
  if (strncmp(f->ct.err, "tls.conf:", 9) == 0)
    ct_assert_err(f->ct.err, "tls.conf", 4, "unknown setting 'ciphers'");
  else
    ct_assert_err(f->ct.err, inc, 4, "unknown setting 'ciphers'");
}

/* Every file the configuration names is noted with the line naming it, so
 * that zt_conf_check_files reports a missing or unsafe one as FILE:LINE. */
static void test_check_files(void **state) {
  struct fixture *f = *state;
  char p[PATH_MAX], key[PATH_MAX], crl[PATH_MAX], ca[PATH_MAX];
  tu_path(&f->ct.dir, "keys", p);
  assert_int_equal(mkdir(p, 0700), 0);
  tu_path(&f->ct.dir, "crl", p);
  assert_int_equal(mkdir(p, 0700), 0);
  tu_write_str(&f->ct.dir, "server.crt", "x", p);
  tu_write_str(&f->ct.dir, "keys/server.key", "x", key);
  tu_write_str(&f->ct.dir, "device-ca.crt", "x", ca);
  tu_write_str(&f->ct.dir, "user-ca.crt", "x", p);
  tu_write_str(&f->ct.dir, "device-ca.crl", "x", p);
  tu_write_str(&f->ct.dir, "crl/user-ca.crl", "x", crl);
  tu_path(&f->ct.dir, "policies", p);
  assert_int_equal(mkdir(p, 0700), 0);
  tu_write_str(&f->ct.dir, "policies/policy.conf", "x", p);
  const struct ct_edit local_ca = {7, 7, "  user_ca = \"user-ca.crt\";"};
  if (!load_edit(f, &local_ca)) fail_msg("%s", f->ct.err);
  assert_int_equal(f->cfg.files.n, 7);
  if (!zt_conf_check_files(&f->cfg.files, f->ct.err, sizeof(f->ct.err))) fail_msg("%s", f->ct.err);

  assert_int_equal(chmod(key, 0644), 0);
  assert_int_equal(zt_conf_check_files(&f->cfg.files, f->ct.err, sizeof(f->ct.err)), 0);
  ct_assert_err(f->ct.err, f->ct.path, 5, "readable by group or others");
  assert_int_equal(chmod(key, 0600), 0);

  assert_int_equal(unlink(crl), 0);
  assert_int_equal(zt_conf_check_files(&f->cfg.files, f->ct.err, sizeof(f->ct.err)), 0);
  ct_assert_err(f->ct.err, f->ct.path, 8, "cannot open");
  tu_write_str(&f->ct.dir, "crl/user-ca.crl", "x", crl);

  assert_int_equal(unlink(ca), 0);
  assert_int_equal(mkdir(ca, 0700), 0);
  assert_int_equal(zt_conf_check_files(&f->cfg.files, f->ct.err, sizeof(f->ct.err)), 0);
  ct_assert_err(f->ct.err, f->ct.path, 6, "is not a regular file");
  assert_int_equal(rmdir(ca), 0);
  tu_write_str(&f->ct.dir, "device-ca.crt", "x", ca);

  /* a key behind a symbolic link is not followed */
  tu_path(&f->ct.dir, "keys/real.key", p);
  assert_int_equal(rename(key, p), 0);
  assert_int_equal(symlink(p, key), 0);
  assert_int_equal(zt_conf_check_files(&f->cfg.files, f->ct.err, sizeof(f->ct.err)), 0);
  ct_assert_err(f->ct.err, f->ct.path, 5, "cannot open");
}

/* A short error buffer gets a truncated, terminated message. */
static void test_short_err_buffer(void **state) {
  struct fixture *f = *state;
  const struct ct_edit e = {23, 23, "max_session = 99;"};
  ct_write(f->ct.path, base, NBASE, &e);
  char small[12];
  memset(small, 'x', sizeof(small));
  assert_int_equal(server_config_load(f->ct.path, &f->cfg, small, sizeof(small)), 0);
  assert_int_equal(strlen(small), sizeof(small) - 1);
  assert_memory_equal(small, f->ct.path, sizeof(small) - 1);
}

int main(void) {
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_full_config),    T(test_full_tunnel),    T(test_defaults),       T(test_relative_config_path),
      T(test_errors),         T(test_edges_accepted), T(test_missing_file),
      T(test_include),        T(test_check_files),    T(test_short_err_buffer),
      T(test_limits),         T(test_data_channel),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}

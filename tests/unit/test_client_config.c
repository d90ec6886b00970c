/* client/config.c: client.conf parsed into every field of struct
 * client_config, relative paths resolved against the file's directory, and
 * each refusal reported as "FILE:LINE: message" naming the line at fault. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "conftext.h"
#include "testutil.h"

/* Every setting client.conf knows, with non-default values. */
static const char *const base[] = {
    /*  1 */ "server = \"gw.corp.example:8443\";",
    /*  2 */ "server_name = \"gw.corp.example\";",
    /*  3 */ "server_ca = \"server-ca.crt\";",
    /*  4 */ "device = {",
    /*  5 */ "  certificate = \"device.crt\";",
    /*  6 */ "  private_key = \"/secure/device.key\";",
    /*  7 */ "};",
    /*  8 */ "user = {",
    /*  9 */ "  certificate = \"users/alice.crt\";",
    /* 10 */ "  private_key = \"users/alice.key\";",
    /* 11 */ "};",
    /* 12 */ "tunnel = {",
    /* 13 */ "  interface = \"zt-client\";",
    /* 14 */ "};",
    /* 15 */ "control_socket = \"/run/ztvpn/client.sock\";",
    /* 16 */ "connect_timeout = 5;",
    /* 17 */ "max_backoff = 60; udp = false;",
};
#define NBASE (sizeof(base) / sizeof(base[0]))

struct fixture {
  struct ct_fixture ct;
  struct client_config cfg;
};

static int setup(void **state) {
  static struct fixture f;
  memset(&f.cfg, 0, sizeof(f.cfg));
  ct_fixture_make(&f.ct, "client.conf");
  *state = &f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  ct_fixture_remove(&f->ct);
  return 0;
}

static int load_edit(struct fixture *f, const struct ct_edit *edit) {
  ct_fixture_write(&f->ct, base, NBASE, edit);
  return client_config_load(f->ct.path, &f->cfg, f->ct.err, sizeof(f->ct.err));
}

static void test_full_config(void **state) {
  struct fixture *f = *state;
  if (!load_edit(f, NULL)) fail_msg("%s", f->ct.err);
  const struct client_config *c = &f->cfg;
  assert_string_equal(c->server_host, "gw.corp.example");
  assert_int_equal(c->server_port, 8443);
  assert_string_equal(c->server_name, "gw.corp.example");
  ct_assert_dir_path(&f->ct, c->server_ca, "server-ca.crt");
  ct_assert_dir_path(&f->ct, c->device_cert, "device.crt");
  assert_string_equal(c->device_key, "/secure/device.key");
  ct_assert_dir_path(&f->ct, c->user_cert, "users/alice.crt");
  ct_assert_dir_path(&f->ct, c->user_key, "users/alice.key");
  assert_string_equal(c->interface, "zt-client");
  assert_string_equal(c->control_socket, "/run/ztvpn/client.sock");
  assert_int_equal(c->connect_timeout, 5);
  assert_int_equal(c->max_backoff, 60);
  assert_int_equal(c->udp, 0);
}

static void test_defaults(void **state) {
  struct fixture *f = *state;
  static const char *const minimal[] = {
      "server = \"[2001:db8::7]:443\";",
      "server_name = \"gw\";",
      "server_ca = \"ca.crt\";",
      "device = { certificate = \"d.crt\"; private_key = \"d.key\"; };",
      "user = { certificate = \"u.crt\"; private_key = \"u.key\"; };",
  };
  ct_write(f->ct.path, minimal, sizeof(minimal) / sizeof(minimal[0]), NULL);
  memset(&f->cfg, 0x5a, sizeof(f->cfg));
  if (!client_config_load(f->ct.path, &f->cfg, f->ct.err, sizeof(f->ct.err)))
    fail_msg("%s", f->ct.err);
  const struct client_config *c = &f->cfg;
  assert_string_equal(c->server_host, "2001:db8::7");
  assert_int_equal(c->server_port, 443);
  assert_string_equal(c->server_name, "gw");
  ct_assert_dir_path(&f->ct, c->user_key, "u.key");
  assert_string_equal(c->interface, "ztvpn0");
  assert_string_equal(c->control_socket, "");
  assert_int_equal(c->connect_timeout, 10);
  assert_int_equal(c->max_backoff, 30);
  assert_int_equal(c->udp, 1);
  /* an empty tunnel group keeps the default name */
  static const char *const with_tunnel[] = {
      "server = \"192.0.2.1:1\"; server_name = \"gw\"; server_ca = \"ca.crt\";",
      "device = { certificate = \"d.crt\"; private_key = \"d.key\"; };",
      "user = { certificate = \"u.crt\"; private_key = \"u.key\"; };",
      "tunnel = { };",
  };
  ct_write(f->ct.path, with_tunnel, sizeof(with_tunnel) / sizeof(with_tunnel[0]), NULL);
  if (!client_config_load(f->ct.path, &f->cfg, f->ct.err, sizeof(f->ct.err)))
    fail_msg("%s", f->ct.err);
  assert_string_equal(c->interface, "ztvpn0");
  assert_string_equal(c->server_host, "192.0.2.1");
  assert_int_equal(c->server_port, 1);
}

static void test_relative_config_path(void **state) {
  struct fixture *f = *state;
  char cwd[PATH_MAX], sub[PATH_MAX];
  assert_non_null(getcwd(cwd, sizeof(cwd)));
  ct_write(f->ct.path, base, NBASE, NULL);
  const char *leaf = strrchr(f->ct.dir.path, '/') + 1;
  assert_int_equal(chdir(f->ct.dir.path), 0);
  assert_int_equal(chdir(".."), 0);
  snprintf(sub, sizeof(sub), "%s/client.conf", leaf);
  int ok = client_config_load(sub, &f->cfg, f->ct.err, sizeof(f->ct.err));
  assert_int_equal(chdir(cwd), 0);
  if (!ok) fail_msg("%s", f->ct.err);
  snprintf(sub, sizeof(sub), "%s/users/alice.crt", leaf);
  assert_string_equal(f->cfg.user_cert, sub);
  snprintf(sub, sizeof(sub), "%s/server-ca.crt", leaf);
  assert_string_equal(f->cfg.server_ca, sub);
  assert_string_equal(f->cfg.device_key, "/secure/device.key");
}

static const struct ct_err_case err_cases[] = {
    {"syntax", {16, 16, "connect_timeout = = 5;"}, 16, "syntax error"},
    {"syntax brace", {8, 8, "user = {{"}, 8, "syntax error"},
    {"unknown top", {17, 17, "maxbackoff = 60;"}, 17, "unknown setting 'maxbackoff'"},
    {"unknown device", {6, 6, "  key = \"/secure/device.key\";"}, 6, "unknown setting 'key'"},
    {"unknown user", {10, 10, "  pin = \"1234\";"}, 10, "unknown setting 'pin'"},
    {"unknown tunnel", {13, 13, "  mtu = 1400;"}, 13, "unknown setting 'mtu'"},
    {"missing server", {1, 1, NULL}, 0, "missing setting 'server'"},
    {"missing server_name", {2, 2, NULL}, 0, "missing setting 'server_name'"},
    {"missing server_ca", {3, 3, NULL}, 0, "missing setting 'server_ca'"},
    {"missing device", {4, 7, NULL}, 0, "missing group 'device'"},
    {"missing user", {8, 11, NULL}, 0, "missing group 'user'"},
    {"missing device cert", {5, 5, NULL}, 4, "missing setting 'certificate'"},
    {"missing user key", {10, 10, NULL}, 8, "missing setting 'private_key'"},
    {"server int", {1, 1, "server = 8443;"}, 1, "'server' must be a string"},
    {"server empty", {1, 1, "server = \"\";"}, 1, "'server' is empty"},
    {"device string", {4, 7, "device = \"device.crt\";"}, 4, "'device' must be a group"},
    {"user list", {8, 11, "user = ( \"a\", \"b\" );"}, 8, "'user' must be a group"},
    {"tunnel string", {12, 14, "tunnel = \"ztvpn0\";"}, 12, "'tunnel' must be a group"},
    {"interface int", {13, 13, "  interface = 0;"}, 13, "'interface' must be a string"},
    {"timeout string", {16, 16, "connect_timeout = \"5\";"}, 16,
     "'connect_timeout' must be an integer"},
    {"timeout 0", {16, 16, "connect_timeout = 0;"}, 16,
     "'connect_timeout' must be between 1 and 120"},
    {"backoff big", {17, 17, "max_backoff = 3601;"}, 17,
     "'max_backoff' must be between 1 and 3600"},
    {"udp number", {17, 17, "udp = 1;"}, 17, "'udp' must be true or false"},
    {"udp string", {17, 17, "udp = \"yes\";"}, 17, "'udp' must be true or false"},
    {"server no port", {1, 1, "server = \"gw.corp.example\";"}, 1,
     "server must be HOST:PORT"},
    {"server bare v6", {1, 1, "server = \"2001:db8::1\";"}, 1, "server must be HOST:PORT"},
    {"server bad port", {1, 1, "server = \"gw:https\";"}, 1, "server must be HOST:PORT"},
    {"interface long", {13, 13, "  interface = \"zt-0123456789abc\";"}, 13,
     "interface name longer than 15 characters"},
    {"user cert is device cert", {9, 9, "  certificate = \"device.crt\";"}, 8,
     "the user certificate must not be the device certificate"},
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

static void test_edges_accepted(void **state) {
  struct fixture *f = *state;
  const struct ct_edit name15 = {13, 13, "  interface = \"zt-0123456789ab\";"};
  if (!load_edit(f, &name15)) fail_msg("%s", f->ct.err);
  assert_string_equal(f->cfg.interface, "zt-0123456789ab");
  /* The same key file for both is odd but not refused; the same
   * certificate is. */
  const struct ct_edit v6 = {1, 1, "server = \"[fd00::1]:65535\";"};
  if (!load_edit(f, &v6)) fail_msg("%s", f->ct.err);
  assert_string_equal(f->cfg.server_host, "fd00::1");
  assert_int_equal(f->cfg.server_port, 65535);
  const struct ct_edit no_tunnel = {12, 14, NULL};
  if (!load_edit(f, &no_tunnel)) fail_msg("%s", f->ct.err);
  assert_string_equal(f->cfg.interface, "ztvpn0");
}

/* Every file the configuration names is noted with the line naming it, so
 * that zt_conf_check_files reports a missing or unsafe one as FILE:LINE. */
static void test_check_files(void **state) {
  struct fixture *f = *state;
  char p[PATH_MAX], ukey[PATH_MAX], ca[PATH_MAX], dcert[PATH_MAX];
  tu_path(&f->ct.dir, "users", p);
  assert_int_equal(mkdir(p, 0700), 0);
  tu_write_str(&f->ct.dir, "server-ca.crt", "x", ca);
  tu_write_str(&f->ct.dir, "device.crt", "x", dcert);
  tu_write_str(&f->ct.dir, "device.key", "x", p);
  tu_write_str(&f->ct.dir, "users/alice.crt", "x", p);
  tu_write_str(&f->ct.dir, "users/alice.key", "x", ukey);
  const struct ct_edit local_key = {6, 6, "  private_key = \"device.key\";"};
  if (!load_edit(f, &local_key)) fail_msg("%s", f->ct.err);
  assert_int_equal(f->cfg.files.n, 5);
  if (!zt_conf_check_files(&f->cfg.files, f->ct.err, sizeof(f->ct.err))) fail_msg("%s", f->ct.err);

  assert_int_equal(chmod(ukey, 0640), 0);
  assert_int_equal(zt_conf_check_files(&f->cfg.files, f->ct.err, sizeof(f->ct.err)), 0);
  ct_assert_err(f->ct.err, f->ct.path, 10, "readable by group or others");
  assert_int_equal(chmod(ukey, 0600), 0);

  assert_int_equal(unlink(ca), 0);
  assert_int_equal(zt_conf_check_files(&f->cfg.files, f->ct.err, sizeof(f->ct.err)), 0);
  ct_assert_err(f->ct.err, f->ct.path, 3, "cannot open");
  tu_write_str(&f->ct.dir, "server-ca.crt", "x", ca);

  assert_int_equal(unlink(dcert), 0);
  assert_int_equal(mkdir(dcert, 0700), 0);
  assert_int_equal(zt_conf_check_files(&f->cfg.files, f->ct.err, sizeof(f->ct.err)), 0);
  ct_assert_err(f->ct.err, f->ct.path, 5, "is not a regular file");
}

static void test_missing_file(void **state) {
  struct fixture *f = *state;
  char path[PATH_MAX];
  tu_path(&f->ct.dir, "nonexistent.conf", path);
  assert_int_equal(client_config_load(path, &f->cfg, f->ct.err, sizeof(f->ct.err)), 0);
  ct_assert_err(f->ct.err, path, 0, "cannot read the file");
}

int main(void) {
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_full_config), T(test_defaults),       T(test_relative_config_path),
      T(test_errors),      T(test_edges_accepted), T(test_check_files),
      T(test_missing_file),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* conf: loading libconfig files and the typed look-ups, with "FILE:LINE:"
 * messages pointing at the right line. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "testutil.h"

struct fixture {
  struct tu_dir dir;
  struct zt_conf conf;
  int loaded;
  char path[PATH_MAX];
};

static int setup(void **state) {
  static struct fixture f;
  memset(&f, 0, sizeof(f));
  tu_dir_make(&f.dir);
  *state = &f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  if (f->loaded) zt_conf_free(&f->conf);
  tu_dir_remove(&f->dir);
  return 0;
}

/* Writes |text| to DIR/NAME and loads it; returns zt_conf_load's result. */
static int load(struct fixture *f, const char *name, const char *text) {
  if (f->loaded) zt_conf_free(&f->conf);
  tu_write_str(&f->dir, name, text, f->path);
  f->loaded = 1;
  return zt_conf_load(&f->conf, f->path);
}

/* Checks that the error is "<path>:<line>: ..." and mentions |what|. */
static void expect_err(struct fixture *f, const char *path, unsigned line,
                       const char *what) {
  char prefix[PATH_MAX + 32];
  snprintf(prefix, sizeof(prefix), "%s:%u: ", path, line);
  if (strncmp(f->conf.err, prefix, strlen(prefix)) != 0)
    fail_msg("error \"%s\" does not start with \"%s\"", f->conf.err, prefix);
  tu_assert_contains(f->conf.err, what);
}

static const config_setting_t *root(struct fixture *f) {
  return config_root_setting(&f->conf.cfg);
}

static void test_load_ok(void **state) {
  struct fixture *f = *state;
  assert_int_equal(load(f, "ok.conf", "a = 1;\nb = \"x\";\n"), 1);
  assert_string_equal(f->conf.err, "");
  assert_string_equal(f->conf.file, f->path);
  assert_string_equal(f->conf.dir, f->dir.path);
}

static void test_syntax_error_line(void **state) {
  struct fixture *f = *state;
  static const struct {
    const char *text;
    unsigned line;
  } cases[] = {
      {"a = ;\n", 1},
      {"a = 1;\nb = \"x\";\nc = ;\nd = 4;\n", 3},
      {"# comment\n\n\nserver = {\n  listen = \"x\";\n  port = = 1;\n};\n", 6},
      {"a = 1;\nb = [1, \"mixed\"];\n", 2},
      {"a = 1;\nb = 2;\nc = 3 4;\n", 3},
      {"a = {\n  b = 1;\n", 3},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    if (load(f, "bad.conf", cases[i].text)) fail_msg("case %zu loaded", i);
    expect_err(f, f->path, cases[i].line, "");
    /* and a message after the location */
    assert_true(strlen(f->conf.err) > strlen(f->path) + 4);
  }
}

static void test_missing_file(void **state) {
  struct fixture *f = *state;
  char path[PATH_MAX];
  tu_path(&f->dir, "absent.conf", path);
  f->loaded = 1;
  assert_int_equal(zt_conf_load(&f->conf, path), 0);
  expect_err(f, path, 0, "cannot read");
}

static void test_include_relative_to_file(void **state) {
  struct fixture *f = *state;
  char inc[PATH_MAX], cwd[PATH_MAX];
  tu_write_str(&f->dir, "inc.conf", "x = 42;\ny = ;\n", inc);
  /* The include is found next to the file whatever the working directory. */
  assert_non_null(getcwd(cwd, sizeof(cwd)));
  assert_int_equal(chdir("/"), 0);
  int ok = load(f, "main.conf", "a = 1;\n@include \"inc.conf\"\n");
  assert_int_equal(chdir(cwd), 0);
  assert_int_equal(ok, 0);
  /* the error names the included file and its line */
  tu_assert_contains(f->conf.err, "inc.conf:2: ");
  tu_write_str(&f->dir, "inc.conf", "x = 42;\n", inc);
  assert_int_equal(chdir("/"), 0);
  ok = load(f, "main.conf", "a = 1;\n@include \"inc.conf\"\n");
  assert_int_equal(chdir(cwd), 0);
  assert_int_equal(ok, 1);
  int x = 0;
  assert_int_equal(zt_conf_int(&f->conf, root(f), "x", 1, 0, 100, &x), 1);
  assert_int_equal(x, 42);
}

static void test_check_keys(void **state) {
  struct fixture *f = *state;
  static const char *const allowed[] = {"listen", "port", "tls", NULL};
  static const char *const top[] = {"server", NULL};
  assert_int_equal(load(f, "k.conf",
                        "server = {\n"
                        "  listen = \"0.0.0.0\";\n"
                        "  port = 8443;\n"
                        "  lisen = \"typo\";\n"
                        "  tls = { a = 1; };\n"
                        "};\n"),
                   1);
  config_setting_t *g = NULL;
  assert_int_equal(zt_conf_group(&f->conf, root(f), "server", 1, &g), 1);
  assert_non_null(g);
  assert_int_equal(zt_conf_check_keys(&f->conf, root(f), top), 1);
  assert_int_equal(zt_conf_check_keys(&f->conf, g, allowed), 0);
  expect_err(f, f->path, 4, "unknown setting 'lisen'");
  /* at the top level */
  assert_int_equal(load(f, "k.conf", "server = {};\n\nextra = 1;\n"), 1);
  assert_int_equal(zt_conf_check_keys(&f->conf, root(f), top), 0);
  expect_err(f, f->path, 3, "unknown setting 'extra'");
  /* an empty group has nothing unknown */
  assert_int_equal(load(f, "k.conf", "server = {};\n"), 1);
  assert_int_equal(zt_conf_check_keys(&f->conf, root(f), top), 1);
}

static const char typed_conf[] =
    "s = \"text\";\n"          /* 1 */
    "i = 10;\n"                /* 2 */
    "f = 1.5;\n"               /* 3 */
    "big = 10L;\n"             /* 4 */
    "empty = \"\";\n"          /* 5 */
    "g = {\n"                  /* 6 */
    "  inner = 3;\n"           /* 7 */
    "};\n"                     /* 8 */
    "b = true;\n"              /* 9 */
    "rel = \"certs/a.pem\";\n" /* 10 */
    "abs = \"/etc/ztvpn/a.pem\";\n" /* 11 */
    "list = [\"a\", \"b\", \"c\"];\n" /* 12 */
    "ints = [1, 2];\n"                 /* 13 */
    "mixed = (\"a\",\n"                /* 14 */
    "         5);\n"                   /* 15 */
    "neg = -7;\n";                     /* 16 */

static void test_string(void **state) {
  struct fixture *f = *state;
  const char *v = "untouched";
  assert_int_equal(load(f, "t.conf", typed_conf), 1);
  assert_int_equal(zt_conf_string(&f->conf, root(f), "s", 1, &v), 1);
  assert_string_equal(v, "text");
  v = "untouched";
  assert_int_equal(zt_conf_string(&f->conf, root(f), "absent", 0, &v), 1);
  assert_string_equal(v, "untouched");
  assert_int_equal(zt_conf_string(&f->conf, root(f), "absent", 1, &v), 0);
  expect_err(f, f->path, 0, "missing setting 'absent'");
  assert_int_equal(zt_conf_string(&f->conf, root(f), "i", 1, &v), 0);
  expect_err(f, f->path, 2, "'i' must be a string");
  assert_int_equal(zt_conf_string(&f->conf, root(f), "g", 0, &v), 0);
  expect_err(f, f->path, 6, "'g' must be a string");
  assert_int_equal(zt_conf_string(&f->conf, root(f), "empty", 0, &v), 0);
  expect_err(f, f->path, 5, "'empty' is empty");
  assert_string_equal(v, "untouched");
  /* a missing member of a group points at the group's line */
  config_setting_t *g;
  assert_int_equal(zt_conf_group(&f->conf, root(f), "g", 1, &g), 1);
  assert_int_equal(zt_conf_string(&f->conf, g, "name", 1, &v), 0);
  expect_err(f, f->path, 6, "missing setting 'name'");
  /* a NULL group (an absent optional one) has no members */
  assert_int_equal(zt_conf_string(&f->conf, NULL, "s", 0, &v), 1);
  assert_string_equal(v, "untouched");
}

static void test_int(void **state) {
  struct fixture *f = *state;
  int v = -1;
  assert_int_equal(load(f, "t.conf", typed_conf), 1);
  assert_int_equal(zt_conf_int(&f->conf, root(f), "i", 1, 0, 100, &v), 1);
  assert_int_equal(v, 10);
  assert_int_equal(zt_conf_int(&f->conf, root(f), "i", 1, 10, 10, &v), 1);
  assert_int_equal(zt_conf_int(&f->conf, root(f), "neg", 1, -10, 0, &v), 1);
  assert_int_equal(v, -7);
  v = 99;
  assert_int_equal(zt_conf_int(&f->conf, root(f), "absent", 0, 0, 1, &v), 1);
  assert_int_equal(v, 99);
  assert_int_equal(zt_conf_int(&f->conf, root(f), "absent", 1, 0, 1, &v), 0);
  expect_err(f, f->path, 0, "missing setting 'absent'");
  assert_int_equal(zt_conf_int(&f->conf, root(f), "i", 1, 11, 100, &v), 0);
  expect_err(f, f->path, 2, "'i' must be between 11 and 100");
  assert_int_equal(zt_conf_int(&f->conf, root(f), "i", 1, 0, 9, &v), 0);
  expect_err(f, f->path, 2, "'i' must be between 0 and 9");
  assert_int_equal(zt_conf_int(&f->conf, root(f), "neg", 1, 0, 9, &v), 0);
  expect_err(f, f->path, 16, "between 0 and 9");
  assert_int_equal(v, 99);
  static const struct {
    const char *name;
    unsigned line;
  } wrong[] = {{"s", 1}, {"f", 3}, {"big", 4}, {"g", 6}, {"b", 9}, {"list", 12}};
  for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
    assert_int_equal(zt_conf_int(&f->conf, root(f), wrong[i].name, 1, 0, 100, &v), 0);
    expect_err(f, f->path, wrong[i].line, "must be an integer");
  }
  config_setting_t *g;
  assert_int_equal(zt_conf_group(&f->conf, root(f), "g", 1, &g), 1);
  assert_int_equal(zt_conf_int(&f->conf, g, "inner", 1, 0, 2, &v), 0);
  expect_err(f, f->path, 7, "'inner' must be between 0 and 2");
}

static void test_path(void **state) {
  struct fixture *f = *state;
  char out[ZT_PATH_LEN] = "untouched", want[PATH_MAX + 32];
  assert_int_equal(load(f, "t.conf", typed_conf), 1);
  assert_int_equal(zt_conf_path(&f->conf, root(f), "rel", 1, out), 1);
  snprintf(want, sizeof(want), "%s/certs/a.pem", f->dir.path);
  assert_string_equal(out, want);
  assert_int_equal(zt_conf_path(&f->conf, root(f), "abs", 1, out), 1);
  assert_string_equal(out, "/etc/ztvpn/a.pem");
  strcpy(out, "untouched");
  assert_int_equal(zt_conf_path(&f->conf, root(f), "absent", 0, out), 1);
  assert_string_equal(out, "untouched");
  assert_int_equal(zt_conf_path(&f->conf, root(f), "absent", 1, out), 0);
  expect_err(f, f->path, 0, "missing setting 'absent'");
  assert_int_equal(zt_conf_path(&f->conf, root(f), "i", 1, out), 0);
  expect_err(f, f->path, 2, "must be a string");
}

static void test_path_relative_load(void **state) {
  struct fixture *f = *state;
  char cwd[PATH_MAX], out[ZT_PATH_LEN];
  assert_int_equal(load(f, "t.conf", typed_conf), 1);
  zt_conf_free(&f->conf);
  f->loaded = 0;
  assert_non_null(getcwd(cwd, sizeof(cwd)));
  /* "t.conf" from inside the directory: paths stay relative to it */
  assert_int_equal(chdir(f->dir.path), 0);
  f->loaded = 1;
  int ok = zt_conf_load(&f->conf, "t.conf");
  assert_int_equal(chdir(cwd), 0);
  assert_int_equal(ok, 1);
  assert_string_equal(f->conf.dir, "");
  assert_int_equal(zt_conf_path(&f->conf, root(f), "rel", 1, out), 1);
  assert_string_equal(out, "certs/a.pem");
  assert_int_equal(zt_conf_path(&f->conf, root(f), "abs", 1, out), 1);
  assert_string_equal(out, "/etc/ztvpn/a.pem");
}

static void test_resolve(void **state) {
  char out[ZT_PATH_LEN];
  assert_int_equal(zt_conf_resolve("/etc/ztvpn", "a.pem", out), 1);
  assert_string_equal(out, "/etc/ztvpn/a.pem");
  assert_int_equal(zt_conf_resolve("/etc/ztvpn", "/a.pem", out), 1);
  assert_string_equal(out, "/a.pem");
  assert_int_equal(zt_conf_resolve("", "a.pem", out), 1);
  assert_string_equal(out, "a.pem");
  assert_int_equal(zt_conf_resolve("/", "a.pem", out), 1);
  assert_string_equal(out, "//a.pem");
  assert_int_equal(zt_conf_resolve("conf", "../a.pem", out), 1);
  assert_string_equal(out, "conf/../a.pem");
  /* too long for ZT_PATH_LEN */
  static char longname[ZT_PATH_LEN];
  memset(longname, 'x', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = '\0';
  assert_int_equal(zt_conf_resolve("/etc", longname, out), 0);
  longname[ZT_PATH_LEN - 6] = '\0'; /* "/etc/" + 4090 = 4095 bytes: fits */
  assert_int_equal(zt_conf_resolve("/etc", longname, out), 1);
  assert_int_equal(strlen(out), ZT_PATH_LEN - 1);
}

static void test_group(void **state) {
  struct fixture *f = *state;
  config_setting_t *g = (config_setting_t *)1;
  assert_int_equal(load(f, "t.conf", typed_conf), 1);
  assert_int_equal(zt_conf_group(&f->conf, root(f), "g", 1, &g), 1);
  assert_non_null(g);
  assert_int_equal(zt_conf_group(&f->conf, root(f), "absent", 0, &g), 1);
  assert_null(g);
  assert_int_equal(zt_conf_group(&f->conf, root(f), "absent", 1, &g), 0);
  expect_err(f, f->path, 0, "missing group 'absent'");
  assert_int_equal(zt_conf_group(&f->conf, root(f), "s", 1, &g), 0);
  expect_err(f, f->path, 1, "'s' must be a group");
  assert_null(g);
  assert_int_equal(zt_conf_group(&f->conf, root(f), "list", 0, &g), 0);
  expect_err(f, f->path, 12, "must be a group");
}

static void test_string_list(void **state) {
  struct fixture *f = *state;
  config_setting_t *l = (config_setting_t *)1;
  assert_int_equal(load(f, "t.conf", typed_conf), 1);
  assert_int_equal(zt_conf_string_list(&f->conf, root(f), "list", 3, &l), 1);
  assert_non_null(l);
  assert_int_equal(config_setting_length(l), 3);
  assert_string_equal(config_setting_get_string_elem(l, 2), "c");
  assert_int_equal(zt_conf_string_list(&f->conf, root(f), "absent", 3, &l), 1);
  assert_null(l);
  assert_int_equal(zt_conf_string_list(&f->conf, root(f), "list", 2, &l), 0);
  expect_err(f, f->path, 12, "'list' has 3 entries; at most 2");
  assert_null(l);
  assert_int_equal(zt_conf_string_list(&f->conf, root(f), "s", 3, &l), 0);
  expect_err(f, f->path, 1, "'s' must be a list of strings");
  assert_int_equal(zt_conf_string_list(&f->conf, root(f), "g", 3, &l), 0);
  expect_err(f, f->path, 6, "must be a list of strings");
  assert_int_equal(zt_conf_string_list(&f->conf, root(f), "ints", 3, &l), 0);
  expect_err(f, f->path, 13, "'ints' entry 1 must be a string");
  /* in a list, the offending element's own line */
  assert_int_equal(zt_conf_string_list(&f->conf, root(f), "mixed", 3, &l), 0);
  expect_err(f, f->path, 15, "'mixed' entry 2 must be a string");
  assert_null(l);
}

static void test_fail_format(void **state) {
  struct fixture *f = *state;
  assert_int_equal(load(f, "t.conf", typed_conf), 1);
  assert_int_equal(zt_conf_fail(&f->conf, NULL, "whole file: %d", 7), 0);
  expect_err(f, f->path, 0, "whole file: 7");
  config_setting_t *s = config_setting_get_member(root(f), "b");
  assert_int_equal(zt_conf_fail(&f->conf, s, "%s", "bad bool"), 0);
  expect_err(f, f->path, 9, "bad bool");
  /* a very long message is cut, never overflowed */
  char big[2000];
  memset(big, 'm', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  assert_int_equal(zt_conf_fail(&f->conf, s, "%s", big), 0);
  assert_true(strlen(f->conf.err) < ZT_CONF_ERR_LEN);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_load_ok, setup, teardown),
      cmocka_unit_test_setup_teardown(test_syntax_error_line, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_include_relative_to_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_check_keys, setup, teardown),
      cmocka_unit_test_setup_teardown(test_string, setup, teardown),
      cmocka_unit_test_setup_teardown(test_int, setup, teardown),
      cmocka_unit_test_setup_teardown(test_path, setup, teardown),
      cmocka_unit_test_setup_teardown(test_path_relative_load, setup, teardown),
      cmocka_unit_test(test_resolve),
      cmocka_unit_test_setup_teardown(test_group, setup, teardown),
      cmocka_unit_test_setup_teardown(test_string_list, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fail_format, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

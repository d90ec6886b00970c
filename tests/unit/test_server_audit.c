/* server/audit.c: one key=value line per event, with every byte a peer
 * chose (certificate names, reasons) quoted so that it can neither end the
 * field nor start another line. stderr is captured into a temporary file. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit.h"
#include "log.h"
#include "proto.h"
#include "session.h"
#include "testutil.h"

static struct tu_dir dir;
static char out_path[PATH_MAX];
static int saved_stderr = -1;
static char line[4096];

static int group_setup(void **state) {
  (void)state;
  tu_dir_make(&dir);
  tu_path(&dir, "stderr.log", out_path);
  log_init("ztvpn-server", LOG_LVL_INFO);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  tu_dir_remove(&dir);
  return 0;
}

static void capture_start(void) {
  fflush(stderr);
  int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  saved_stderr = dup(2);
  assert_true(saved_stderr >= 0);
  assert_int_equal(dup2(fd, 2), 2);
  close(fd);
}

/* capture_end restores stderr and returns what was written, which must be
 * exactly one line; the newline is removed. */
static const char *capture_end(void) {
  fflush(stderr);
  assert_int_equal(dup2(saved_stderr, 2), 2);
  close(saved_stderr);
  saved_stderr = -1;
  FILE *f = fopen(out_path, "re");
  assert_non_null(f);
  size_t n = fread(line, 1, sizeof(line) - 1, f);
  fclose(f);
  line[n] = '\0';
  if (n == 0 || line[n - 1] != '\n') fail_msg("not one whole line: \"%s\"", line);
  line[n - 1] = '\0';
  if (strchr(line, '\n')) fail_msg("more than one line: \"%s\"", line);
  return line;
}

static struct session *session_new(void) {
  static struct session s;
  memset(&s, 0, sizeof(s));
  s.id = 42;
  snprintf(s.peer, sizeof(s.peer), "192.0.2.2:52804");
  snprintf(s.device.name, sizeof(s.device.name), "laptop-042");
  snprintf(s.device.serial, sizeof(s.device.serial), "1001");
  snprintf(s.user.name, sizeof(s.user.name), "alice");
  snprintf(s.user.serial, sizeof(s.user.serial), "2002");
  assert_true(zt_ip_parse("100.64.0.2", &s.addr4));
  return &s;
}

static void test_admit(void **state) {
  (void)state;
  struct session *s = session_new();
  capture_start();
  audit_admit(s);
  const char *l = capture_end();
  assert_string_equal(l, "ztvpn-server: info: audit event=admit session=42 "
                         "user=\"alice\" device=\"laptop-042\" addr4=100.64.0.2 "
                         "endpoint=192.0.2.2:52804 user_serial=2002 device_serial=1001 "
                         "user_groups=\"\" device_groups=\"\"");
  s->user.ngroups = 2;
  snprintf(s->user.groups[0], sizeof(s->user.groups[0]), "engineering");
  snprintf(s->user.groups[1], sizeof(s->user.groups[1]), "on\"call");
  s->device.ngroups = 1;
  snprintf(s->device.groups[0], sizeof(s->device.groups[0]), "managed");
  capture_start();
  audit_admit(s);
  l = capture_end();
  tu_assert_contains(l, " user_groups=\"engineering,on\\\"call\" device_groups=\"managed\"");
  s->has_addr6 = 1;
  assert_true(zt_ip_parse("fd00:5a::2", &s->addr6));
  capture_start();
  audit_admit(s);
  l = capture_end();
  tu_assert_contains(l, " addr4=100.64.0.2 addr6=fd00:5a::2 endpoint=");
}

static void test_kill_and_reload(void **state) {
  (void)state;
  struct session *s = session_new();
  capture_start();
  audit_kill(s, "control");
  const char *l = capture_end();
  assert_string_equal(l, "ztvpn-server: info: audit event=kill session=42 user=\"alice\" "
                         "device=\"laptop-042\" by=control");
  capture_start();
  audit_reload(0, "signal", "policy.conf:3: syntax error \"here\"");
  l = capture_end();
  assert_string_equal(l, "ztvpn-server: info: audit event=reload result=failed "
                         "trigger=signal detail=\"policy.conf:3: syntax error \\\"here\\\"\"");
  capture_start();
  audit_reload(1, "control", "ok");
  l = capture_end();
  tu_assert_contains(l, "event=reload result=ok trigger=control detail=\"ok\"");
}

static void test_reject_quotes_detail(void **state) {
  (void)state;
  struct session *s = session_new();
  s->user.name[0] = '\0'; /* before admission */
  capture_start();
  audit_reject(s, ZT_REASON_USER_AUTH,
               "bad \"name\" \\ here\nevent=admit user=\"root\"\r\x01\x7f\xc3\xa9!");
  const char *l = capture_end();
  assert_string_equal(
      l, "ztvpn-server: info: audit event=reject session=42 reason=user-auth "
         "endpoint=192.0.2.2:52804 user=\"\" device=\"laptop-042\" "
         "detail=\"bad \\\"name\\\" \\\\ here?event=admit user=\\\"root\\\"????" "?!\"");
}

/* Names come from certificates: a quote or backslash in a CN must not end
 * the field. */
static void test_names_quoted(void **state) {
  (void)state;
  struct session *s = session_new();
  snprintf(s->device.name, sizeof(s->device.name), "x\" user=\"admin");
  snprintf(s->user.name, sizeof(s->user.name), "a\\\"b");
  capture_start();
  audit_end(s, ZT_REASON_SHUTDOWN, "client closed: client stopping");
  const char *l = capture_end();
  tu_assert_contains(l, " user=\"a\\\\\\\"b\" device=\"x\\\" user=\\\"admin\" "
                        "reason=shutdown detail=\"client closed: client stopping\" ");
  capture_start();
  audit_reject(s, ZT_REASON_DEVICE_AUTH, "");
  l = capture_end();
  tu_assert_contains(l, " reason=device-auth endpoint=192.0.2.2:52804 "
                        "user=\"a\\\\\\\"b\" device=\"x\\\" user=\\\"admin\" "
                        "detail=\"\"");
}

static void test_end_counters(void **state) {
  (void)state;
  struct session *s = session_new();
  s->conn.bytes_in = 123456789012ULL;
  s->conn.bytes_out = 7;
  s->pkts_in = 3;
  s->pkts_out = 18446744073709551615ULL;
  capture_start();
  audit_end(s, ZT_REASON_TIMEOUT, "keepalive timeout");
  const char *l = capture_end();
  assert_string_equal(l, "ztvpn-server: info: audit event=end session=42 user=\"alice\" "
                         "device=\"laptop-042\" reason=timeout "
                         "detail=\"keepalive timeout\" bytes_in=123456789012 bytes_out=7 "
                         "packets_in=3 packets_out=18446744073709551615");
}

/* A detail longer than the line is cut, but still ends the line, and a
 * detail made only of characters to escape never splits an escape. */
static void test_long_detail(void **state) {
  (void)state;
  struct session *s = session_new();
  char detail[3000];
  memset(detail, '"', sizeof(detail) - 1);
  detail[sizeof(detail) - 1] = '\0';
  capture_start();
  audit_reject(s, ZT_REASON_PROTOCOL, detail);
  const char *l = capture_end();
  const char *d = strstr(l, "detail=\"");
  assert_non_null(d);
  d += strlen("detail=\"");
  size_t n = strspn(d, "\\\"");
  assert_true(n > 100);
  /* whatever survived is whole \" pairs */
  for (size_t i = 0; i + 1 < n; i += 2) {
    assert_int_equal(d[i], '\\');
    assert_int_equal(d[i + 1], '"');
  }
  /* the detail is cut, not the record: the field is closed */
  assert_true(strlen(l) < 4200);
  assert_true(n % 2 == 1); /* escaped pairs, then the closing quote */
  assert_string_equal(d + n, ""); /* capture_end drops the newline */
}

/* At warning level the info records are not written. */
static void test_level(void **state) {
  (void)state;
  struct session *s = session_new();
  log_set_level(LOG_LVL_WARN);
  fflush(stderr);
  capture_start();
  audit_admit(s);
  fputs("marker\n", stderr);
  const char *l = capture_end();
  log_set_level(LOG_LVL_INFO);
  assert_string_equal(l, "marker");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_admit),        cmocka_unit_test(test_kill_and_reload),
      cmocka_unit_test(test_reject_quotes_detail),
      cmocka_unit_test(test_names_quoted), cmocka_unit_test(test_end_counters),
      cmocka_unit_test(test_long_detail),  cmocka_unit_test(test_level),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

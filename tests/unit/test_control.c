/* control: the request line of the control sockets. Every request has one
 * spelling; anything else is refused with a reason, and a request that
 * parses builds back into the same bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bytestring.h>
#include <openssl/mem.h>

#include "control.h"

static int parse(const char *line, struct zt_ctl_request *r, char *err, size_t errlen) {
  CBS in;
  CBS_init(&in, (const uint8_t *)line, strlen(line));
  return zt_ctl_request_parse(in, r, err, errlen);
}

/* Builds |r| and returns the line in |out|, or NULL when the build fails. */
static const char *build(const struct zt_ctl_request *r, char *out, size_t len) {
  CBB cbb;
  uint8_t *data;
  size_t n;
  assert_true(CBB_init(&cbb, 64));
  if (!zt_ctl_request_build(&cbb, r)) {
    CBB_cleanup(&cbb);
    return NULL;
  }
  assert_true(CBB_finish(&cbb, &data, &n));
  assert_true(n < len);
  memcpy(out, data, n);
  out[n] = '\0';
  OPENSSL_free(data);
  return out;
}

static void test_valid_requests(void **state) {
  static const struct {
    const char *line;
    int json;
    enum zt_ctl_cmd cmd;
    enum zt_ctl_kill_by by;
    uint64_t id;
    const char *name;
  } cases[] = {
      {"text status\n", 0, ZT_CTL_STATUS, 0, 0, ""},
      {"json status\n", 1, ZT_CTL_STATUS, 0, 0, ""},
      {"text sessions\n", 0, ZT_CTL_SESSIONS, 0, 0, ""},
      {"json sessions\n", 1, ZT_CTL_SESSIONS, 0, 0, ""},
      {"text reload\n", 0, ZT_CTL_RELOAD, 0, 0, ""},
      {"text kill id 1\n", 0, ZT_CTL_KILL, ZT_CTL_KILL_ID, 1, ""},
      {"json kill id 18446744073709551615\n", 1, ZT_CTL_KILL, ZT_CTL_KILL_ID,
       UINT64_MAX, ""},
      {"text kill user alice\n", 0, ZT_CTL_KILL, ZT_CTL_KILL_USER, 0, "alice"},
      {"text kill device laptop-042\n", 0, ZT_CTL_KILL, ZT_CTL_KILL_DEVICE, 0,
       "laptop-042"},
      /* a CN may have inner spaces and any printable byte */
      {"text kill user Alice  Smith\n", 0, ZT_CTL_KILL, ZT_CTL_KILL_USER, 0,
       "Alice  Smith"},
      {"text kill user a\"b\\c\n", 0, ZT_CTL_KILL, ZT_CTL_KILL_USER, 0, "a\"b\\c"},
      {"text kill device id\n", 0, ZT_CTL_KILL, ZT_CTL_KILL_DEVICE, 0, "id"},
      {"text kill user "
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
       0, ZT_CTL_KILL, ZT_CTL_KILL_USER, 0,
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct zt_ctl_request r;
    char err[128] = "", back[ZT_CTL_MAX_REQUEST + 1];
    if (!parse(cases[i].line, &r, err, sizeof(err)))
      fail_msg("case %zu (%s) refused: %s", i, cases[i].line, err);
    assert_int_equal(r.json, cases[i].json);
    assert_int_equal(r.cmd, cases[i].cmd);
    if (r.cmd == ZT_CTL_KILL) {
      assert_int_equal(r.by, cases[i].by);
      if (r.by == ZT_CTL_KILL_ID) assert_true(r.id == cases[i].id);
    }
    assert_string_equal(r.name, cases[i].name);
    assert_non_null(build(&r, back, sizeof(back)));
    assert_string_equal(back, cases[i].line);
  }
}

static void test_invalid_requests(void **state) {
  static const struct {
    const char *line;
    const char *err; /* a part of the reason */
  } cases[] = {
      {"", "newline"},
      {"text status", "newline"},
      {"\n", "empty request"},
      {"text\n", "missing command"},
      {"text \n", "stray space"},
      {" text status\n", "stray space"},
      {"text  status\n", "stray space"},
      {"text status \n", "unexpected"},
      {"text status\r\n", "printable"},
      {"text\tstatus\n", "printable"},
      {"text status\n\n", "printable"},
      {"TEXT status\n", "format"},
      {"xml status\n", "format"},
      {"text Status\n", "unknown command"},
      {"text stat\n", "unknown command"},
      {"text statusx\n", "unknown command"},
      {"text status now\n", "unexpected argument"},
      {"text sessions all\n", "unexpected argument"},
      {"text reload now\n", "unexpected argument"},
      {"text kill\n", "usage"},
      {"text kill id\n", "usage"},
      {"text kill id \n", "bad session id"},
      {"text kill 3\n", "usage"},
      {"text kill  id 3\n", "stray space"},
      {"text kill user\n", "usage"},
      {"text kill id 0\n", "bad session id"},
      {"text kill id 007\n", "bad session id"},
      {"text kill id -1\n", "bad session id"},
      {"text kill id +1\n", "bad session id"},
      {"text kill id 1x\n", "bad session id"},
      {"text kill id 1 2\n", "bad session id"},
      {"text kill id 18446744073709551616\n", "bad session id"},
      {"text kill id 99999999999999999999\n", "bad session id"},
      {"text kill id 123456789012345678901\n", "bad session id"},
      {"text kill group eng\n", "kill by"},
      {"text kill user \n", "bad name"},
      {"text kill user  alice\n", "bad name"},
      {"text kill user alice \n", "bad name"},
      {"text kill user "
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
       "bad name"},
      {"text kill user al\x01ice\n", "printable"},
      {"text kill user al\xc3\xa9ice\n", "printable"},
      {"text kill device a\x7f\n", "printable"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct zt_ctl_request r;
    char err[128] = "";
    if (parse(cases[i].line, &r, err, sizeof(err)))
      fail_msg("case %zu accepted: \"%s\"", i, cases[i].line);
    if (!strstr(err, cases[i].err))
      fail_msg("case %zu: reason \"%s\" lacks \"%s\"", i, err, cases[i].err);
  }
}

/* A NUL inside the line is not printable: strlen-based callers would
 * otherwise see another request than the one parsed. */
static void test_nul_refused(void **state) {
  static const uint8_t line[] = "text kill user al\0ice\n";
  struct zt_ctl_request r;
  char err[128] = "";
  CBS in;
  CBS_init(&in, line, sizeof(line) - 1);
  assert_int_equal(zt_ctl_request_parse(in, &r, err, sizeof(err)), 0);
  assert_non_null(strstr(err, "printable"));
}

static void test_length_bound(void **state) {
  char line[ZT_CTL_MAX_REQUEST + 2], err[128];
  struct zt_ctl_request r;
  /* ZT_CTL_MAX_REQUEST bytes with the newline: refused for its content, */
  memset(line, 'a', ZT_CTL_MAX_REQUEST - 1);
  line[ZT_CTL_MAX_REQUEST - 1] = '\n';
  line[ZT_CTL_MAX_REQUEST] = '\0';
  assert_int_equal(parse(line, &r, err, sizeof(err)), 0);
  assert_null(strstr(err, "too long"));
  /* one byte more: for its length. */
  memset(line, 'a', ZT_CTL_MAX_REQUEST);
  line[ZT_CTL_MAX_REQUEST] = '\n';
  line[ZT_CTL_MAX_REQUEST + 1] = '\0';
  assert_int_equal(parse(line, &r, err, sizeof(err)), 0);
  assert_non_null(strstr(err, "too long"));
}

static void test_build_refuses_invalid(void **state) {
  char out[ZT_CTL_MAX_REQUEST + 1];
  struct zt_ctl_request r;
  memset(&r, 0, sizeof(r));
  r.cmd = ZT_CTL_KILL;
  r.by = ZT_CTL_KILL_ID;
  r.id = 0;
  assert_null(build(&r, out, sizeof(out)));
  r.by = ZT_CTL_KILL_USER;
  assert_null(build(&r, out, sizeof(out))); /* empty name */
  strcpy(r.name, " alice");
  assert_null(build(&r, out, sizeof(out)));
  strcpy(r.name, "alice ");
  assert_null(build(&r, out, sizeof(out)));
  strcpy(r.name, "al\nice");
  assert_null(build(&r, out, sizeof(out)));
  memset(r.name, 'a', sizeof(r.name)); /* not terminated */
  assert_null(build(&r, out, sizeof(out)));
  r.by = (enum zt_ctl_kill_by)7;
  strcpy(r.name, "alice");
  assert_null(build(&r, out, sizeof(out)));
  r.by = ZT_CTL_KILL_DEVICE;
  assert_string_equal(build(&r, out, sizeof(out)), "text kill device alice\n");
  r.cmd = (enum zt_ctl_cmd)9;
  assert_null(build(&r, out, sizeof(out)));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid_requests),
      cmocka_unit_test(test_invalid_requests),
      cmocka_unit_test(test_nul_refused),
      cmocka_unit_test(test_length_bound),
      cmocka_unit_test(test_build_refuses_invalid),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

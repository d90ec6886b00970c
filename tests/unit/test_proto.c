/* proto: reason codes, their names and whether they end the client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"

static const struct {
  uint16_t code;
  const char *name;
  int final;
} reasons[] = {
    {ZT_REASON_PROTOCOL, "protocol", 1},
    {ZT_REASON_USER_AUTH, "user-auth", 1},
    {ZT_REASON_DEVICE_AUTH, "device-auth", 1},
    {ZT_REASON_POLICY, "policy", 1},
    {ZT_REASON_NO_ADDRESS, "no-address", 0},
    {ZT_REASON_SHUTDOWN, "shutdown", 0},
    {ZT_REASON_KILLED, "killed", 1},
    {ZT_REASON_TIMEOUT, "timeout", 0},
    {ZT_REASON_INTERNAL, "internal", 0},
    {ZT_REASON_REVOKED, "revoked", 1},
};

static void test_reason_table(void **state) {
  /* The table covers 1..10 with no gap, in order. */
  for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
    assert_int_equal(reasons[i].code, i + 1);
    assert_string_equal(zt_reason_name(reasons[i].code), reasons[i].name);
    if (zt_reason_is_final(reasons[i].code) != reasons[i].final)
      fail_msg("%s: is_final should be %d", reasons[i].name, reasons[i].final);
  }
}

static void test_names_distinct(void **state) {
  size_t n = sizeof(reasons) / sizeof(reasons[0]);
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++)
      assert_string_not_equal(zt_reason_name(reasons[i].code),
                              zt_reason_name(reasons[j].code));
}

static void test_unknown_codes(void **state) {
  static const uint16_t unknown[] = {0, 11, 12, 100, 0x7fff, 0xffff};
  for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
    assert_string_equal(zt_reason_name(unknown[i]), "unknown");
    /* An unknown reason from a newer server means "try again later". */
    assert_int_equal(zt_reason_is_final(unknown[i]), 0);
  }
}

static void test_constants(void **state) {
  /* Limits that other modules rely on fitting together. */
  assert_int_equal(strlen(ZT_ALPN), 7);
  assert_true(ZT_MAX_REASON_TEXT + 4 <= ZT_MAX_REASON_MSG);
  assert_true(ZT_MAX_DATA <= ZT_FRAME_MAX_BODY);
  assert_true(ZT_MAX_USER_PROOF <= ZT_FRAME_MAX_BODY);
  assert_true(ZT_MAX_CERT_LEN + 2 + 1 + 2 + 2 + 2 + ZT_MAX_SIG_LEN <= ZT_MAX_USER_PROOF);
  assert_true(ZT_MIN_MTU <= 1280 && 1280 <= ZT_MAX_MTU);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reason_table),
      cmocka_unit_test(test_names_distinct),
      cmocka_unit_test(test_unknown_codes),
      cmocka_unit_test(test_constants),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

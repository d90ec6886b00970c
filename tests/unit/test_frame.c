/* frame: u8 type, u16 length, body on the TLS stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/mem.h>

#include "frame.h"
#include "proto.h"

/* Checks that zt_frame_next refuses |in| with |want| and leaves it alone. */
static void expect_refused(const uint8_t *data, size_t len,
                           enum zt_frame_result want) {
  CBS in, body;
  uint8_t type = 0xee;
  CBS_init(&in, data, len);
  enum zt_frame_result r = zt_frame_next(&in, &type, &body);
  if (r != want)
    fail_msg("got '%s', want '%s'", zt_frame_result_str(r), zt_frame_result_str(want));
  assert_ptr_equal(CBS_data(&in), data);
  assert_int_equal(CBS_len(&in), len);
  assert_int_equal(type, 0xee);
}

static void test_complete_frame(void **state) {
  static const uint8_t f[] = {ZT_MSG_DATA, 0x00, 0x03, 'a', 'b', 'c'};
  CBS in, body;
  uint8_t type;
  CBS_init(&in, f, sizeof(f));
  assert_int_equal(zt_frame_next(&in, &type, &body), ZT_FRAME_OK);
  assert_int_equal(type, ZT_MSG_DATA);
  assert_int_equal(CBS_len(&body), 3);
  assert_ptr_equal(CBS_data(&body), f + 3); /* no copy */
  assert_int_equal(CBS_len(&in), 0);
  /* Nothing left: the next call asks for more. */
  assert_int_equal(zt_frame_next(&in, &type, &body), ZT_FRAME_NEED_MORE);
}

static void test_empty_keepalive(void **state) {
  static const uint8_t f[] = {ZT_MSG_KEEPALIVE, 0x00, 0x00};
  CBS in, body;
  uint8_t type;
  CBS_init(&in, f, sizeof(f));
  assert_int_equal(zt_frame_next(&in, &type, &body), ZT_FRAME_OK);
  assert_int_equal(type, ZT_MSG_KEEPALIVE);
  assert_int_equal(CBS_len(&body), 0);
  assert_int_equal(CBS_len(&in), 0);
}

static void test_truncated_header(void **state) {
  static const uint8_t f[] = {ZT_MSG_DATA, 0x00, 0x03, 'a', 'b', 'c'};
  expect_refused(f, 0, ZT_FRAME_NEED_MORE);
  expect_refused(f, 1, ZT_FRAME_NEED_MORE);
  expect_refused(f, 2, ZT_FRAME_NEED_MORE);
}

static void test_truncated_body(void **state) {
  static const uint8_t f[] = {ZT_MSG_DATA, 0x00, 0x03, 'a', 'b', 'c'};
  for (size_t len = 3; len < sizeof(f); len++) expect_refused(f, len, ZT_FRAME_NEED_MORE);
}

static void test_unknown_type(void **state) {
  static const uint8_t types[] = {0, 10, 11, 0x7f, 0x80, 0xff};
  for (size_t i = 0; i < sizeof(types); i++) {
    const uint8_t f[] = {types[i], 0x00, 0x00};
    expect_refused(f, sizeof(f), ZT_FRAME_UNKNOWN_TYPE);
    /* Known from the header alone: no body needed. */
    const uint8_t g[] = {types[i], 0xff, 0xff};
    expect_refused(g, sizeof(g), ZT_FRAME_UNKNOWN_TYPE);
    assert_int_equal(zt_frame_max_body(types[i]), 0);
  }
}

/* Each type's limit: the limit itself is fine, one more is refused from the
 * three header bytes alone, before any body arrives. */
static void test_oversized_per_type(void **state) {
  static const struct {
    uint8_t type;
    size_t max;
  } limits[] = {
      {ZT_MSG_USER_PROOF, ZT_MAX_USER_PROOF}, {ZT_MSG_ADMIT, ZT_MAX_ADMIT},
      {ZT_MSG_REJECT, ZT_MAX_REASON_MSG},     {ZT_MSG_CLOSE, ZT_MAX_REASON_MSG},
      {ZT_MSG_DATA, ZT_MAX_DATA},             {ZT_MSG_KEEPALIVE, 0},
      {ZT_MSG_ROUTES, ZT_MAX_ROUTES_MSG},
      {ZT_MSG_RESUME, ZT_RESUME_MSG_LEN},     {ZT_MSG_PATH, ZT_PATH_MSG_LEN},
  };
  for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
    uint8_t t = limits[i].type;
    size_t max = limits[i].max;
    assert_int_equal(zt_frame_max_body(t), max);
    /* at the limit: accepted, only the body is missing */
    if (max > 0) {
      const uint8_t at[] = {t, (uint8_t)(max >> 8), (uint8_t)max};
      expect_refused(at, sizeof(at), ZT_FRAME_NEED_MORE);
    }
    if (max < 0xffff) {
      size_t over = max + 1;
      const uint8_t hdr[] = {t, (uint8_t)(over >> 8), (uint8_t)over};
      expect_refused(hdr, sizeof(hdr), ZT_FRAME_TOO_BIG);
    }
  }
  /* The examples spelled out. */
  static const uint8_t ka1[] = {ZT_MSG_KEEPALIVE, 0x00, 0x01, 0x00};
  expect_refused(ka1, sizeof(ka1), ZT_FRAME_TOO_BIG);
  static const uint8_t up[] = {ZT_MSG_USER_PROOF, (ZT_MAX_USER_PROOF + 1) >> 8,
                               (ZT_MAX_USER_PROOF + 1) & 0xff};
  expect_refused(up, sizeof(up), ZT_FRAME_TOO_BIG);
}

/* A keepalive at the limit (0) is complete from the header, so the
 * "at limit" check above must not have passed by accident. */
static void test_keepalive_at_limit_complete(void **state) {
  static const uint8_t f[] = {ZT_MSG_KEEPALIVE, 0, 0};
  CBS in, body;
  uint8_t type;
  CBS_init(&in, f, sizeof(f));
  assert_int_equal(zt_frame_next(&in, &type, &body), ZT_FRAME_OK);
}

static void test_several_frames(void **state) {
  static const uint8_t f[] = {
      ZT_MSG_KEEPALIVE, 0, 0,                     /* */
      ZT_MSG_DATA,      0, 2, 0xaa, 0xbb,         /* */
      ZT_MSG_CLOSE,     0, 4, 0, 6, 0, 0,         /* */
      ZT_MSG_DATA,      0, 5, 1, 2,               /* truncated: 3 bytes missing */
  };
  static const struct {
    uint8_t type;
    size_t off, len;
  } want[] = {{ZT_MSG_KEEPALIVE, 3, 0}, {ZT_MSG_DATA, 6, 2}, {ZT_MSG_CLOSE, 11, 4}};
  CBS in, body;
  uint8_t type;
  CBS_init(&in, f, sizeof(f));
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(zt_frame_next(&in, &type, &body), ZT_FRAME_OK);
    assert_int_equal(type, want[i].type);
    assert_ptr_equal(CBS_data(&body), f + want[i].off);
    assert_int_equal(CBS_len(&body), want[i].len);
  }
  const uint8_t *rest = CBS_data(&in);
  assert_int_equal(CBS_len(&in), 5);
  assert_int_equal(zt_frame_next(&in, &type, &body), ZT_FRAME_NEED_MORE);
  assert_ptr_equal(CBS_data(&in), rest);
  assert_int_equal(CBS_len(&in), 5);
}

static void test_add_round_trip(void **state) {
  static const struct {
    uint8_t type;
    size_t len;
  } cases[] = {
      {ZT_MSG_KEEPALIVE, 0},   {ZT_MSG_DATA, 20},
      {ZT_MSG_DATA, 1400},     {ZT_MSG_DATA, ZT_MAX_DATA},
      {ZT_MSG_ADMIT, ZT_MAX_ADMIT}, {ZT_MSG_USER_PROOF, ZT_MAX_USER_PROOF},
      {ZT_MSG_REJECT, 5},      {ZT_MSG_CLOSE, ZT_MAX_REASON_MSG},
      {ZT_MSG_ROUTES, 0},      {ZT_MSG_ROUTES, ZT_MAX_ROUTES_MSG},
  };
  CBB cbb;
  assert_int_equal(CBB_init(&cbb, 0), 1);
  uint8_t *body = malloc(ZT_MAX_DATA);
  assert_non_null(body);
  for (size_t i = 0; i < ZT_MAX_DATA; i++) body[i] = (uint8_t)(i * 7 + 3);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    assert_int_equal(zt_frame_add(&cbb, cases[i].type, body, cases[i].len), 1);
  /* zt_frame_begin + CBB_flush builds the same thing. */
  CBB child;
  assert_int_equal(zt_frame_begin(&cbb, ZT_MSG_DATA, &child), 1);
  assert_int_equal(CBB_add_bytes(&child, body, 33), 1);
  assert_int_equal(CBB_flush(&cbb), 1);

  uint8_t *out;
  size_t out_len;
  assert_int_equal(CBB_finish(&cbb, &out, &out_len), 1);
  CBS in, got;
  uint8_t type;
  CBS_init(&in, out, out_len);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    assert_int_equal(zt_frame_next(&in, &type, &got), ZT_FRAME_OK);
    assert_int_equal(type, cases[i].type);
    assert_int_equal(CBS_len(&got), cases[i].len);
    if (cases[i].len) assert_memory_equal(CBS_data(&got), body, cases[i].len);
  }
  assert_int_equal(zt_frame_next(&in, &type, &got), ZT_FRAME_OK);
  assert_int_equal(type, ZT_MSG_DATA);
  assert_int_equal(CBS_len(&got), 33);
  assert_memory_equal(CBS_data(&got), body, 33);
  assert_int_equal(CBS_len(&in), 0);
  OPENSSL_free(out);
  free(body);
}

static void test_add_refuses(void **state) {
  static uint8_t body[ZT_MAX_DATA + 1];
  static const struct {
    uint8_t type;
    size_t len;
  } cases[] = {
      {ZT_MSG_KEEPALIVE, 1},
      {ZT_MSG_USER_PROOF, ZT_MAX_USER_PROOF + 1},
      {ZT_MSG_ADMIT, ZT_MAX_ADMIT + 1},
      {ZT_MSG_REJECT, ZT_MAX_REASON_MSG + 1},
      {ZT_MSG_CLOSE, ZT_MAX_REASON_MSG + 1},
      {ZT_MSG_DATA, ZT_MAX_DATA + 1},
      {ZT_MSG_ROUTES, ZT_MAX_ROUTES_MSG + 1},
      {ZT_MSG_RESUME, ZT_RESUME_MSG_LEN + 1},
      {ZT_MSG_PATH, ZT_PATH_MSG_LEN + 1},
      {0, 0},  /* unknown types, even empty */
      {10, 0},
      {0xff, 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    CBB cbb;
    assert_int_equal(CBB_init(&cbb, 0), 1);
    if (zt_frame_add(&cbb, cases[i].type, body, cases[i].len) != 0)
      fail_msg("type %u len %zu accepted", cases[i].type, cases[i].len);
    CBB_cleanup(&cbb);
  }
  CBB cbb, child;
  assert_int_equal(CBB_init(&cbb, 0), 1);
  assert_int_equal(zt_frame_begin(&cbb, 10, &child), 0);
  CBB_cleanup(&cbb);
}

static void test_result_str(void **state) {
  const enum zt_frame_result all[] = {ZT_FRAME_OK, ZT_FRAME_NEED_MORE,
                                      ZT_FRAME_UNKNOWN_TYPE, ZT_FRAME_TOO_BIG};
  for (size_t i = 0; i < 4; i++) {
    const char *s = zt_frame_result_str(all[i]);
    assert_non_null(s);
    assert_string_not_equal(s, "?");
    for (size_t j = 0; j < i; j++)
      assert_string_not_equal(s, zt_frame_result_str(all[j]));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_complete_frame),
      cmocka_unit_test(test_empty_keepalive),
      cmocka_unit_test(test_truncated_header),
      cmocka_unit_test(test_truncated_body),
      cmocka_unit_test(test_unknown_type),
      cmocka_unit_test(test_oversized_per_type),
      cmocka_unit_test(test_keepalive_at_limit_complete),
      cmocka_unit_test(test_several_frames),
      cmocka_unit_test(test_add_round_trip),
      cmocka_unit_test(test_add_refuses),
      cmocka_unit_test(test_result_str),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

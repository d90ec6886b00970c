/* server/http_request.c and the responses of server/metrics_http.c: a
 * table of request heads (valid, malformed, incomplete, oversized, with
 * junk after them) and what each parses to; and the response each request
 * gets: status, headers, Content-Length matching the body, no body for
 * HEAD, Allow on 405. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bytestring.h>

#include "http_request.h"
#include "metrics_http.h"
#include "server.h"

struct parse_case {
  const char *what, *in;
  enum http_parse want;
  enum http_method method; /* HTTP_OK only */
  const char *target;      /* HTTP_OK only */
};

#define H11 " HTTP/1.1\r\nHost: 127.0.0.1:9586\r\n"

static const struct parse_case cases[] = {
    {"GET", "GET /metrics" H11 "\r\n", HTTP_OK, HTTP_GET, "/metrics"},
    {"Prometheus-like", "GET /metrics HTTP/1.1\r\nHost: gw:9586\r\nUser-Agent: Prometheus/2.45\r\n"
     "Accept: application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4\r\n"
     "Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n",
     HTTP_OK, HTTP_GET, "/metrics"},
    {"HEAD", "HEAD /metrics" H11 "\r\n", HTTP_OK, HTTP_HEAD, "/metrics"},
    {"other method", "POST /metrics" H11 "Content-Length: 0\r\n\r\n", HTTP_OK, HTTP_OTHER, "/metrics"},
    {"lowercase get is another method", "get /metrics" H11 "\r\n", HTTP_OK, HTTP_OTHER, "/metrics"},
    {"HTTP/1.0 without Host", "GET /metrics HTTP/1.0\r\n\r\n", HTTP_OK, HTTP_GET, "/metrics"},
    {"query", "GET /metrics?x=1" H11 "\r\n", HTTP_OK, HTTP_GET, "/metrics?x=1"},
    {"root", "GET /" H11 "\r\n", HTTP_OK, HTTP_GET, "/"},
    {"empty field value and OWS", "GET /" H11 "X-Empty:\r\nX-Ows: \t v \t\r\n\r\n", HTTP_OK,
     HTTP_GET, "/"},
    {"pipelined junk after the head is ignored",
     "GET /metrics" H11 "\r\nGARBAGE\x01\x02\r\n\r\nGET / HTTP/9.9\r\n", HTTP_OK, HTTP_GET,
     "/metrics"},

    {"nothing yet", "", HTTP_NEED_MORE, 0, NULL},
    {"half a request line", "GET /met", HTTP_NEED_MORE, 0, NULL},
    {"no blank line yet", "GET /metrics" H11, HTTP_NEED_MORE, 0, NULL},
    {"a CR waiting for its LF", "GET /metrics" H11 "\r", HTTP_NEED_MORE, 0, NULL},

    {"bad method characters", "G(T /metrics" H11 "\r\n", HTTP_BAD, 0, NULL},
    {"method too long", "ABCDEFGHIJKLMNOPQ /metrics" H11 "\r\n", HTTP_BAD, 0, NULL},
    {"missing CRLF: bare LF", "GET /metrics HTTP/1.1\nHost: x\n\n", HTTP_BAD, 0, NULL},
    {"bare LF in a header", "GET /metrics" H11 "X: y\n\r\n", HTTP_BAD, 0, NULL},
    {"bare LF before anything else", "\n", HTTP_BAD, 0, NULL},
    {"empty request line", "\r\n\r\n", HTTP_BAD, 0, NULL},
    {"no version", "GET /metrics\r\nHost: x\r\n\r\n", HTTP_BAD, 0, NULL},
    {"double space", "GET  /metrics" H11 "\r\n", HTTP_BAD, 0, NULL},
    {"trailing space", "GET /metrics HTTP/1.1 \r\nHost: x\r\n\r\n", HTTP_BAD, 0, NULL},
    {"tab separator", "GET\t/metrics" H11 "\r\n", HTTP_BAD, 0, NULL},
    {"absolute-form target", "GET http://gw/metrics" H11 "\r\n", HTTP_BAD, 0, NULL},
    {"asterisk target", "OPTIONS *" H11 "\r\n", HTTP_BAD, 0, NULL},
    {"control byte in the target", "GET /me\x01trics" H11 "\r\n", HTTP_BAD, 0, NULL},
    {"8-bit byte in the target", "GET /m\xc3\xa9" H11 "\r\n", HTTP_BAD, 0, NULL},
    {"not HTTP", "GET /metrics FTP/1.1\r\nHost: x\r\n\r\n", HTTP_BAD, 0, NULL},
    {"lowercase version", "GET /metrics http/1.1\r\nHost: x\r\n\r\n", HTTP_BAD, 0, NULL},
    {"version with two digits", "GET /metrics HTTP/1.10\r\nHost: x\r\n\r\n", HTTP_BAD, 0, NULL},
    {"HTTP/2.0", "GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n", HTTP_BAD_VERSION, 0, NULL},
    {"HTTP/1.2", "GET /metrics HTTP/1.2\r\nHost: x\r\n\r\n", HTTP_BAD_VERSION, 0, NULL},
    {"HTTP/0.9", "GET /metrics HTTP/0.9\r\n\r\n", HTTP_BAD_VERSION, 0, NULL},
    {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", HTTP_BAD, 0, NULL},
    {"header without colon", "GET /metrics" H11 "NoColonHere\r\n\r\n", HTTP_BAD, 0, NULL},
    {"space before the colon", "GET /metrics" H11 "X-A : b\r\n\r\n", HTTP_BAD, 0, NULL},
    {"empty field name", "GET /metrics" H11 ": b\r\n\r\n", HTTP_BAD, 0, NULL},
    {"folded line", "GET /metrics" H11 "X-A: b\r\n c\r\n\r\n", HTTP_BAD, 0, NULL},
    {"DEL inside a value", "GET /metrics" H11 "X-A: b\x7f\r\n\r\n", HTTP_BAD, 0, NULL},
    {"obs-text in a value is allowed", "GET /" H11 "X-A: caf\xc3\xa9\r\n\r\n", HTTP_OK,
     HTTP_GET, "/"},
    {"CR inside a value", "GET /metrics" H11 "X-A: b\rc\r\n\r\n", HTTP_BAD, 0, NULL},
    {"HTTP/1.1 without Host", "GET /metrics HTTP/1.1\r\n\r\n", HTTP_BAD, 0, NULL},
    {"two Host fields", "GET /metrics" H11 "host: other\r\n\r\n", HTTP_BAD, 0, NULL},
};

static size_t case_len(const struct parse_case *c) {
  return strlen(c->in);
}

static void test_parse_table(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const struct parse_case *c = &cases[i];
    struct http_request r;
    CBS in;
    CBS_init(&in, (const uint8_t *)c->in, case_len(c));
    enum http_parse got = http_request_parse(in, &r);
    if (got != c->want) fail_msg("%s: parsed as %d, wanted %d", c->what, got, c->want);
    if (got != HTTP_OK) continue;
    assert_int_equal(r.method, c->method);
    assert_string_equal(r.target, c->target);
    assert_true(r.head_len > 0 && r.head_len <= case_len(c));
    assert_memory_equal(c->in + r.head_len - 4, "\r\n\r\n", 4);
  }
  /* A NUL inside a value: the table's strings end at their first NUL. */
  static const char nul[] = "GET /metrics" H11 "X-A: b\0c\r\n\r\n";
  struct http_request r;
  CBS in;
  CBS_init(&in, (const uint8_t *)nul, sizeof(nul) - 1);
  assert_int_equal(http_request_parse(in, &r), HTTP_BAD);
}

/* A complete head parses the same whatever amount of it has arrived: every
 * prefix is NEED_MORE (or already BAD), never a different success. */
static void test_prefixes(void **state) {
  (void)state;
  const char *req = "GET /metrics?a=b" H11 "Accept: */*\r\n\r\n";
  struct http_request r;
  CBS in;
  for (size_t n = 0; n < strlen(req); n++) {
    CBS_init(&in, (const uint8_t *)req, n);
    assert_int_equal(http_request_parse(in, &r), HTTP_NEED_MORE);
  }
  CBS_init(&in, (const uint8_t *)req, strlen(req));
  assert_int_equal(http_request_parse(in, &r), HTTP_OK);
  assert_true(http_request_path_is(&r, "/metrics"));
  assert_false(http_request_path_is(&r, "/metric"));
  assert_false(http_request_path_is(&r, "/"));
  assert_int_equal(r.minor, 1);
  assert_int_equal(r.nfields, 2);
}

static void test_sizes(void **state) {
  (void)state;
  struct http_request r;
  CBS in;
  char *buf = malloc(2 * HTTP_MAX_HEAD);
  assert_non_null(buf);

  /* A head of exactly HTTP_MAX_HEAD bytes is fine; one byte more is 431. */
  for (int extra = 0; extra <= 1; extra++) {
    const char *start = "GET /metrics" H11 "X-Pad: ";
    size_t fill = HTTP_MAX_HEAD - strlen(start) - 4 + (size_t)extra;
    snprintf(buf, 2 * HTTP_MAX_HEAD, "%s", start);
    memset(buf + strlen(start), 'a', fill);
    memcpy(buf + strlen(start) + fill, "\r\n\r\n", 5);
    CBS_init(&in, (const uint8_t *)buf, strlen(buf));
    assert_int_equal(http_request_parse(in, &r), extra ? HTTP_TOO_LARGE : HTTP_OK);
  }
  /* 4 KiB without the end of the head: 431 at once, not waiting for more. */
  memset(buf, 'a', HTTP_MAX_HEAD);
  memcpy(buf, "GET /", 5);
  CBS_init(&in, (const uint8_t *)buf, HTTP_MAX_HEAD);
  assert_int_equal(http_request_parse(in, &r), HTTP_TOO_LARGE);
  CBS_init(&in, (const uint8_t *)buf, HTTP_MAX_HEAD - 1);
  assert_int_equal(http_request_parse(in, &r), HTTP_NEED_MORE);

  /* Targets: HTTP_MAX_TARGET bytes pass, one more is 414. */
  for (int extra = 0; extra <= 1; extra++) {
    size_t tlen = HTTP_MAX_TARGET + (size_t)extra;
    buf[0] = '\0';
    strcat(buf, "GET ");
    memset(buf + 4, 'x', tlen);
    buf[4] = '/';
    snprintf(buf + 4 + tlen, 2 * HTTP_MAX_HEAD - 4 - tlen, "%s\r\n", H11);
    CBS_init(&in, (const uint8_t *)buf, strlen(buf));
    assert_int_equal(http_request_parse(in, &r), extra ? HTTP_URI_TOO_LONG : HTTP_OK);
  }

  /* HTTP_MAX_FIELDS header fields pass (Host is one of them), one more is 431. */
  for (int extra = 0; extra <= 1; extra++) {
    size_t o = (size_t)snprintf(buf, 2 * HTTP_MAX_HEAD, "GET /metrics" H11);
    for (int i = 1; i < HTTP_MAX_FIELDS + extra; i++)
      o += (size_t)snprintf(buf + o, 2 * HTTP_MAX_HEAD - o, "X%d: y\r\n", i);
    snprintf(buf + o, 2 * HTTP_MAX_HEAD - o, "\r\n");
    CBS_init(&in, (const uint8_t *)buf, strlen(buf));
    assert_int_equal(http_request_parse(in, &r), extra ? HTTP_TOO_LARGE : HTTP_OK);
  }
  free(buf);
}

/* ---- responses ----------------------------------------------------------------- */

struct answer {
  int code;
  char head[1024]; /* status line and fields, NUL-terminated */
  size_t body_len, content_length;
};

static void respond(const char *req_text, struct answer *a) {
  static struct server srv;
  static struct server_config cfg;
  struct http_request req;
  CBS in;
  CBB out;
  srv.cfg = &cfg;
  CBS_init(&in, (const uint8_t *)req_text, strlen(req_text));
  enum http_parse r = http_request_parse(in, &req);
  assert_true(CBB_init(&out, 0));
  a->code = metrics_http_respond(&srv, r, &req, &out);
  const char *p = (const char *)CBB_data(&out);
  size_t len = CBB_len(&out);
  const char *end = memmem(p, len, "\r\n\r\n", 4);
  assert_non_null(end);
  size_t hlen = (size_t)(end - p) + 4;
  assert_true(hlen < sizeof(a->head));
  memcpy(a->head, p, hlen);
  a->head[hlen] = '\0';
  a->body_len = len - hlen;
  const char *cl = strstr(a->head, "\r\nContent-Length: ");
  assert_non_null(cl);
  a->content_length = strtoul(cl + 18, NULL, 10);
  assert_non_null(strstr(a->head, "\r\nConnection: close\r\n"));
  CBB_cleanup(&out);
}

static void expect_status(const struct answer *a, int code) {
  char line[64];
  snprintf(line, sizeof(line), "HTTP/1.1 %d ", code);
  assert_int_equal(a->code, code);
  assert_memory_equal(a->head, line, strlen(line));
}

static void test_responses(void **state) {
  (void)state;
  struct answer a;
  respond("GET /metrics" H11 "\r\n", &a);
  expect_status(&a, 200);
  assert_non_null(strstr(a.head, "\r\nContent-Type: text/plain; version=0.0.4"));
  assert_true(a.body_len > 1000);
  assert_int_equal(a.body_len, a.content_length);
  size_t get_len = a.body_len;

  respond("HEAD /metrics" H11 "\r\n", &a);
  expect_status(&a, 200);
  assert_int_equal(a.body_len, 0);
  assert_int_equal(a.content_length, get_len);

  respond("GET /metrics?from=prometheus" H11 "\r\n", &a);
  expect_status(&a, 200);
  assert_int_equal(a.body_len, get_len);

  respond("GET /" H11 "\r\n", &a);
  expect_status(&a, 200);
  assert_int_equal(a.body_len, a.content_length);

  respond("GET /nope" H11 "\r\n", &a);
  expect_status(&a, 404);
  respond("GET /metrics/" H11 "\r\n", &a);
  expect_status(&a, 404);
  assert_int_equal(a.body_len, a.content_length);

  respond("POST /metrics" H11 "\r\n", &a);
  expect_status(&a, 405);
  assert_non_null(strstr(a.head, "\r\nAllow: GET, HEAD\r\n"));
  respond("DELETE /" H11 "\r\n", &a);
  expect_status(&a, 405);

  respond("GET /metrics HTTP/1.1\nHost: x\n\n", &a);
  expect_status(&a, 400);
  assert_int_equal(a.body_len, a.content_length);
  respond("GET /metrics HTTP/1.1\r\n\r\n", &a);
  expect_status(&a, 400);
  respond("GET /metrics HTTP/2.0\r\n\r\n", &a);
  expect_status(&a, 505);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_table),
      cmocka_unit_test(test_prefixes),
      cmocka_unit_test(test_sizes),
      cmocka_unit_test(test_responses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

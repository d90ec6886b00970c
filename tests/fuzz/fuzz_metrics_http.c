/* The metrics listener's request parser (server/http_request.h) and the
 * response chosen for what it parsed (server/metrics_http.h) on any bytes:
 * an accepted head lies within HTTP_MAX_HEAD bytes and ends in CRLF CRLF,
 * its fields are what the grammar allows, the bytes after it never change
 * the outcome; NEED_MORE only while there is room; every outcome gets one
 * well-formed response whose Content-Length is its body. */
#include <string.h>

#include <openssl/bytestring.h>

#include "fuzz.h"
#include "http_request.h"
#include "metrics_http.h"
#include "server.h"

static void check_response(enum http_parse r, const struct http_request *req) {
  static struct server srv;
  static struct server_config cfg;
  CBB out;
  srv.cfg = &cfg;
  FUZZ_CHECK(CBB_init(&out, 0));
  int code = metrics_http_respond(&srv, r, req, &out);
  FUZZ_CHECK(code >= 200 && code <= 599);
  const char *p = (const char *)CBB_data(&out);
  size_t len = CBB_len(&out);
  const char *end = memmem(p, len, "\r\n\r\n", 4);
  FUZZ_CHECK(len > 9 && memcmp(p, "HTTP/1.1 ", 9) == 0 && end != NULL);
  size_t head = (size_t)(end - p) + 4;
  const char *cl = memmem(p, head, "\r\nContent-Length: ", 18);
  FUZZ_CHECK(cl != NULL);
  size_t n = strtoul(cl + 18, NULL, 10);
  /* HEAD gets no body, whatever the path; 405 is never for HEAD. */
  int head_only = r == HTTP_OK && req->method == HTTP_HEAD;
  FUZZ_CHECK(len - head == (head_only ? 0 : n));
  FUZZ_CHECK(memmem(p, head, "\r\nConnection: close\r\n", 21) != NULL);
  CBB_cleanup(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct http_request req, again;
  CBS in;
  CBS_init(&in, data, size);
  enum http_parse r = http_request_parse(in, &req);
  if (r == HTTP_NEED_MORE) FUZZ_CHECK(size < HTTP_MAX_HEAD);
  if (r == HTTP_OK) {
    FUZZ_CHECK(req.head_len >= 4 && req.head_len <= size && req.head_len <= HTTP_MAX_HEAD);
    FUZZ_CHECK(memcmp(data + req.head_len - 4, "\r\n\r\n", 4) == 0);
    size_t tlen = strlen(req.target);
    FUZZ_CHECK(tlen >= 1 && tlen <= HTTP_MAX_TARGET && req.target[0] == '/');
    FUZZ_CHECK(req.path_len <= tlen);
    for (size_t i = 0; i < tlen; i++) FUZZ_CHECK(req.target[i] > 0x20 && req.target[i] < 0x7f);
    size_t mlen = strlen(req.method_name);
    FUZZ_CHECK(mlen >= 1 && mlen <= HTTP_MAX_METHOD);
    FUZZ_CHECK((req.method == HTTP_GET) == (strcmp(req.method_name, "GET") == 0));
    FUZZ_CHECK((req.method == HTTP_HEAD) == (strcmp(req.method_name, "HEAD") == 0));
    FUZZ_CHECK(req.minor == 0 || req.minor == 1);
    FUZZ_CHECK(req.nfields <= HTTP_MAX_FIELDS);
    /* What follows the head changes nothing. */
    CBS_init(&in, data, req.head_len);
    FUZZ_CHECK(http_request_parse(in, &again) == HTTP_OK);
    FUZZ_CHECK(strcmp(again.target, req.target) == 0 && again.method == req.method &&
               again.nfields == req.nfields && again.head_len == req.head_len);
  }
  check_response(r, &req);
  return 0;
}

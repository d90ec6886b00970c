#include "http_request.h"

#include <string.h>
#include <strings.h>

#ifndef OPENSSL_IS_BORINGSSL
#error "ztvpn needs BoringSSL (android-libboringssl-dev): see README.md"
#endif

/* RFC 9110 token characters: what a method and a field name are made of. */
static int is_tchar(uint8_t c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
    return 1;
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A field value byte: visible ASCII, obs-text, or the two blanks. */
static int is_value_byte(uint8_t c) {
  return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

static int all_tchars(const CBS *s) {
  for (size_t i = 0; i < CBS_len(s); i++)
    if (!is_tchar(CBS_data(s)[i])) return 0;
  return 1;
}

/* Finds the end of the head: the first CRLF CRLF within HTTP_MAX_HEAD
 * bytes. A LF without its CR anywhere before it is malformed at once, so a
 * client that ends lines in bare LF gets its 400 without waiting. */
static enum http_parse head_end(const CBS *in, size_t *len) {
  const uint8_t *p = CBS_data(in);
  size_t n = CBS_len(in) < HTTP_MAX_HEAD ? CBS_len(in) : HTTP_MAX_HEAD;
  for (size_t i = 0; i < n; i++) {
    if (p[i] != '\n') continue;
    if (i == 0 || p[i - 1] != '\r') return HTTP_BAD;
    if (i >= 3 && p[i - 2] == '\n' && p[i - 3] == '\r') {
      *len = i + 1;
      return HTTP_OK;
    }
  }
  return CBS_len(in) >= HTTP_MAX_HEAD ? HTTP_TOO_LARGE : HTTP_NEED_MORE;
}

/* Takes the next line (without its CRLF) off |head|, which head_end
 * guarantees ends in CRLF. */
static int get_line(CBS *head, CBS *line) {
  const uint8_t *p = CBS_data(head);
  for (size_t i = 0; i + 1 < CBS_len(head); i++)
    if (p[i] == '\r' && p[i + 1] == '\n')
      return CBS_get_bytes(head, line, i) && CBS_skip(head, 2);
  return 0;
}

/* Takes the bytes up to the next SP, and the SP. */
static int get_word(CBS *line, CBS *word) {
  const uint8_t *p = CBS_data(line);
  for (size_t i = 0; i < CBS_len(line); i++)
    if (p[i] == ' ') return CBS_get_bytes(line, word, i) && CBS_skip(line, 1);
  return 0;
}

static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

static enum http_parse parse_version(CBS v, int *minor) {
  const uint8_t *p = CBS_data(&v);
  if (CBS_len(&v) != 8 || memcmp(p, "HTTP/", 5) != 0 || !is_digit(p[5]) || p[6] != '.' ||
      !is_digit(p[7]))
    return HTTP_BAD;
  if (p[5] != '1' || p[7] > '1') return HTTP_BAD_VERSION;
  *minor = p[7] - '0';
  return HTTP_OK;
}

static enum http_parse parse_request_line(CBS line, struct http_request *out) {
  CBS method, target;
  if (!get_word(&line, &method) || !get_word(&line, &target)) return HTTP_BAD;
  if (CBS_len(&method) == 0 || CBS_len(&method) > HTTP_MAX_METHOD || !all_tchars(&method))
    return HTTP_BAD;
  for (size_t i = 0; i < CBS_len(&target); i++) {
    uint8_t c = CBS_data(&target)[i];
    if (c < 0x21 || c > 0x7e) return HTTP_BAD;
  }
  /* Only origin-form: no proxying, no "*" (OPTIONS), no absolute URIs. */
  if (CBS_len(&target) == 0 || CBS_data(&target)[0] != '/') return HTTP_BAD;
  enum http_parse v = parse_version(line, &out->minor);
  if (v != HTTP_OK) return v;
  if (CBS_len(&target) > HTTP_MAX_TARGET) return HTTP_URI_TOO_LONG;

  memcpy(out->method_name, CBS_data(&method), CBS_len(&method));
  out->method_name[CBS_len(&method)] = '\0';
  out->method = strcmp(out->method_name, "GET") == 0    ? HTTP_GET
                : strcmp(out->method_name, "HEAD") == 0 ? HTTP_HEAD
                                                        : HTTP_OTHER;
  memcpy(out->target, CBS_data(&target), CBS_len(&target));
  out->target[CBS_len(&target)] = '\0';
  const char *q = memchr(out->target, '?', CBS_len(&target));
  out->path_len = q ? (size_t)(q - out->target) : CBS_len(&target);
  return HTTP_OK;
}

/* One header field line; |*hosts| counts Host fields. */
static enum http_parse parse_field(CBS line, size_t *hosts) {
  const uint8_t *p = CBS_data(&line);
  size_t colon = 0;
  while (colon < CBS_len(&line) && p[colon] != ':') colon++;
  CBS name, value;
  /* A name must touch its colon: "Host : x" is refused (RFC 9112 5.1),
   * and so is a line starting with a blank (obsolete line folding). */
  if (colon == CBS_len(&line) || !CBS_get_bytes(&line, &name, colon) ||
      !CBS_skip(&line, 1) || CBS_len(&name) == 0 || !all_tchars(&name))
    return HTTP_BAD;
  value = line;
  for (size_t i = 0; i < CBS_len(&value); i++)
    if (!is_value_byte(CBS_data(&value)[i])) return HTTP_BAD;
  if (CBS_len(&name) == 4 && strncasecmp((const char *)CBS_data(&name), "host", 4) == 0)
    (*hosts)++;
  return HTTP_OK;
}

enum http_parse http_request_parse(CBS in, struct http_request *out) {
  size_t len = 0, hosts = 0;
  CBS head, line;
  memset(out, 0, sizeof(*out));
  enum http_parse r = head_end(&in, &len);
  if (r != HTTP_OK) return r;
  if (!CBS_get_bytes(&in, &head, len) || !get_line(&head, &line)) return HTTP_BAD;
  r = parse_request_line(line, out);
  if (r != HTTP_OK) return r;
  for (;;) {
    if (!get_line(&head, &line)) return HTTP_BAD;
    if (CBS_len(&line) == 0) break; /* the blank line: the last one */
    if (++out->nfields > HTTP_MAX_FIELDS) return HTTP_TOO_LARGE;
    r = parse_field(line, &hosts);
    if (r != HTTP_OK) return r;
  }
  if (CBS_len(&head) != 0) return HTTP_BAD;
  /* RFC 9112 3.2: a 1.1 request needs exactly one Host; 1.0 at most one. */
  if (hosts > 1 || (out->minor == 1 && hosts == 0)) return HTTP_BAD;
  out->head_len = len;
  return HTTP_OK;
}

int http_request_path_is(const struct http_request *r, const char *path) {
  return strlen(path) == r->path_len && memcmp(r->target, path, r->path_len) == 0;
}

/* The request head of a minimal HTTP/1.0 and HTTP/1.1 server (RFC 9112),
 * as the metrics listener needs it: the request line and the header
 * fields, parsed strictly with CBS from untrusted bytes. No body is read:
 * the server answers one request and closes the connection, so whatever
 * follows the head is ignored. */
#ifndef ZTVPN_SERVER_HTTP_REQUEST_H
#define ZTVPN_SERVER_HTTP_REQUEST_H

#include <stddef.h>

#include <openssl/bytestring.h>

#define HTTP_MAX_HEAD 4096   /* request line + header fields + blank line */
#define HTTP_MAX_TARGET 1024 /* the request target */
#define HTTP_MAX_METHOD 16
#define HTTP_MAX_FIELDS 64   /* header fields */

enum http_parse {
  HTTP_NEED_MORE,     /* no blank line yet, and room for more */
  HTTP_OK,            /* |out| is filled */
  HTTP_BAD,           /* malformed: 400 */
  HTTP_TOO_LARGE,     /* no end of the head within HTTP_MAX_HEAD bytes: 431 */
  HTTP_URI_TOO_LONG,  /* a target over HTTP_MAX_TARGET bytes: 414 */
  HTTP_BAD_VERSION,   /* a well-formed version other than 1.0 and 1.1: 505 */
};

enum http_method { HTTP_GET, HTTP_HEAD, HTTP_OTHER };

struct http_request {
  enum http_method method;
  char method_name[HTTP_MAX_METHOD + 1];
  char target[HTTP_MAX_TARGET + 1]; /* origin-form: starts with '/' */
  size_t path_len;                  /* the target up to its '?' */
  int minor;                        /* HTTP/1.|minor|: 0 or 1 */
  size_t nfields;
  size_t head_len;                  /* bytes up to and including the blank line */
};

/* http_request_parse parses the request head at the start of |in| (all
 * bytes received so far). Lines end in CRLF; a bare LF, a control byte, a
 * field without a colon or with a space before it, a folded line, a target
 * that is not origin-form, an HTTP/1.1 request without exactly one Host
 * field are HTTP_BAD. Returns HTTP_OK with |out| filled, or why not; |out|
 * is unspecified then. Bytes after the head are never looked at. */
enum http_parse http_request_parse(CBS in, struct http_request *out);

/* http_request_path_is says whether the path of |r| (its target without
 * the query) is exactly |path|. */
int http_request_path_is(const struct http_request *r, const char *path);

#endif

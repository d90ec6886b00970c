/* Control requests (common/control.h) and the JSON string escaping of the
 * answers (common/ctlsock.h): an accepted request is well-formed and builds
 * back into exactly the same bytes; any bytes escaped as a JSON string
 * decode back to themselves and never leave the string early. */
#include <string.h>

#include <openssl/bytestring.h>
#include <openssl/mem.h>

#include "control.h"
#include "ctlsock.h"
#include "fuzz.h"

static int hexval(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Decodes the JSON string |in| (with its quotes) as ctlsock writes it into
 * |out|; every escape must be well-formed. Returns the decoded length. */
static size_t json_decode(const uint8_t *in, size_t len, uint8_t *out) {
  size_t o = 0;
  FUZZ_CHECK(len >= 2 && in[0] == '"' && in[len - 1] == '"');
  for (size_t i = 1; i < len - 1; i++) {
    uint8_t c = in[i];
    FUZZ_CHECK(c >= 0x20 && c < 0x7f && c != '"'); /* raw bytes: printable only */
    if (c != '\\') {
      out[o++] = c;
      continue;
    }
    FUZZ_CHECK(i + 1 < len - 1);
    c = in[++i];
    if (c == '"' || c == '\\') {
      out[o++] = c;
      continue;
    }
    FUZZ_CHECK(c == 'u' && i + 4 < len - 1 && in[i + 1] == '0' && in[i + 2] == '0');
    int hi = hexval(in[i + 3]), lo = hexval(in[i + 4]);
    FUZZ_CHECK(hi >= 0 && lo >= 0);
    out[o++] = (uint8_t)(hi << 4 | lo);
    i += 4;
  }
  return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct zt_ctl_request r;
  char err[128];
  CBS in;
  CBB cbb;
  uint8_t *out;
  size_t out_len;

  CBS_init(&in, data, size);
  err[0] = '\0';
  if (zt_ctl_request_parse(in, &r, err, sizeof(err))) {
    FUZZ_CHECK(size <= ZT_CTL_MAX_REQUEST && data[size - 1] == '\n');
    FUZZ_CHECK(r.cmd == ZT_CTL_STATUS || r.cmd == ZT_CTL_SESSIONS ||
               r.cmd == ZT_CTL_KILL || r.cmd == ZT_CTL_RELOAD || r.cmd == ZT_CTL_METRICS);
    if (r.cmd == ZT_CTL_METRICS) FUZZ_CHECK(!r.json);
    if (r.cmd == ZT_CTL_KILL && r.by == ZT_CTL_KILL_ID) FUZZ_CHECK(r.id != 0);
    if (r.cmd == ZT_CTL_KILL && r.by != ZT_CTL_KILL_ID) {
      size_t n = strnlen(r.name, sizeof(r.name));
      FUZZ_CHECK(n >= 1 && n <= ZT_NAME_MAX);
      for (size_t i = 0; i < n; i++) FUZZ_CHECK(r.name[i] >= 0x20 && r.name[i] < 0x7f);
    }
    FUZZ_CHECK(CBB_init(&cbb, size));
    FUZZ_CHECK(zt_ctl_request_build(&cbb, &r));
    FUZZ_CHECK(CBB_finish(&cbb, &out, &out_len));
    FUZZ_CHECK(out_len == size && memcmp(out, data, size) == 0);
    OPENSSL_free(out);
  } else {
    FUZZ_CHECK(err[0] != '\0' && strnlen(err, sizeof(err)) < sizeof(err));
  }

  /* the input as a C string (up to its first NUL), escaped and decoded */
  char *text = malloc(size + 1);
  FUZZ_CHECK(text != NULL);
  memcpy(text, data, size);
  text[size] = '\0';
  size_t n = strlen(text);
  FUZZ_CHECK(CBB_init(&cbb, 0));
  FUZZ_CHECK(zt_ctl_json_string(&cbb, text));
  FUZZ_CHECK(CBB_finish(&cbb, &out, &out_len));
  uint8_t *back = malloc(out_len + 1);
  FUZZ_CHECK(back != NULL);
  FUZZ_CHECK(json_decode(out, out_len, back) == n && memcmp(back, text, n) == 0);
  free(back);
  OPENSSL_free(out);
  free(text);
  return 0;
}

/* REJECT/CLOSE bodies: an accepted reason builds back into the same bytes;
 * and the builder, given any bytes as text, makes something the parser
 * accepts. */
#include <string.h>

#include <openssl/bytestring.h>
#include <openssl/mem.h>

#include "fuzz.h"
#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  CBS body;
  struct zt_reason_msg r;
  CBB cbb;
  uint8_t *out;
  size_t out_len;
  CBS_init(&body, data, size);
  if (zt_reason_parse(body, &r)) {
    size_t n = strlen(r.text);
    FUZZ_CHECK(n <= ZT_MAX_REASON_TEXT && size == 4 + n);
    for (size_t i = 0; i < n; i++) FUZZ_CHECK(r.text[i] >= 0x20 && r.text[i] <= 0x7e);
    FUZZ_CHECK(CBB_init(&cbb, size));
    FUZZ_CHECK(zt_reason_build(&cbb, r.code, r.text));
    FUZZ_CHECK(CBB_finish(&cbb, &out, &out_len));
    FUZZ_CHECK(out_len == size && memcmp(out, data, size) == 0);
    OPENSSL_free(out);
  }
  /* the input as text (up to its first NUL) */
  char *text = malloc(size + 1);
  FUZZ_CHECK(text != NULL);
  memcpy(text, data, size);
  text[size] = '\0';
  FUZZ_CHECK(CBB_init(&cbb, 0));
  FUZZ_CHECK(zt_reason_build(&cbb, (uint16_t)size, text));
  FUZZ_CHECK(CBB_finish(&cbb, &out, &out_len));
  FUZZ_CHECK(out_len <= 4 + ZT_MAX_REASON_TEXT && out_len <= ZT_MAX_REASON_MSG);
  CBS_init(&body, out, out_len);
  FUZZ_CHECK(zt_reason_parse(body, &r));
  FUZZ_CHECK(r.code == (uint16_t)size);
  size_t n = strnlen(text, ZT_MAX_REASON_TEXT);
  FUZZ_CHECK(strlen(r.text) == n);
  for (size_t i = 0; i < n; i++) {
    uint8_t c = (uint8_t)text[i];
    FUZZ_CHECK(r.text[i] == ((c < 0x20 || c > 0x7e) ? '?' : (char)c));
  }
  OPENSSL_free(out);
  free(text);
  return 0;
}

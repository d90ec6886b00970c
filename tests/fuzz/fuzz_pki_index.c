/* ztvpn-pki's index parser (common/pki/index.h). The first byte picks the
 * CA kind the lines must carry; the rest is the file. An accepted index
 * formats back into exactly the same bytes (the format has one spelling
 * per entry); a refused one says "FILE:LINE: message" and leaves nothing. */
#include <string.h>

#include <openssl/bytestring.h>
#include <openssl/mem.h>

#include "fuzz.h"
#include "index.h"
#include "pkitime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct zt_pki_index idx;
  char err[256];
  CBS in;
  CBB cbb;
  uint8_t *out;
  size_t out_len;
  if (size < 1) return 0;
  enum zt_pki_kind kind = (enum zt_pki_kind)(data[0] % ZT_PKI_NKINDS);
  CBS_init(&in, data + 1, size - 1);
  zt_pki_index_init(&idx);
  err[0] = '\0';
  if (zt_pki_index_parse(in, "index", kind, &idx, err, sizeof(err))) {
    FUZZ_CHECK(idx.n <= ZT_PKI_INDEX_MAX);
    for (size_t i = 0; i < idx.n; i++) {
      const struct zt_pki_entry *e = &idx.entries[i];
      FUZZ_CHECK(e->kind == kind);
      FUZZ_CHECK(e->serial_len >= 1 && e->serial_len <= ZT_PKI_SERIAL_MAX && e->serial[0]);
      FUZZ_CHECK(e->not_after >= 0 && e->not_after <= ZT_PKI_TIME_MAX);
      FUZZ_CHECK(zt_pki_name_ok(e->name, strnlen(e->name, sizeof(e->name))));
      if (e->revoked) FUZZ_CHECK(e->revoked_at >= 0 && e->revoked_at <= ZT_PKI_TIME_MAX);
    }
    FUZZ_CHECK(CBB_init(&cbb, size));
    FUZZ_CHECK(zt_pki_index_format(&cbb, &idx));
    FUZZ_CHECK(CBB_finish(&cbb, &out, &out_len));
    FUZZ_CHECK(out_len == size - 1 && memcmp(out, data + 1, out_len) == 0);
    OPENSSL_free(out);
    zt_pki_index_free(&idx);
  } else {
    FUZZ_CHECK(idx.n == 0 && idx.entries == NULL);
    FUZZ_CHECK(strncmp(err, "index:", 6) == 0);
    size_t digits = strspn(err + 6, "0123456789");
    FUZZ_CHECK(digits > 0 && err[6 + digits] == ':' && err[7 + digits] == ' ' &&
               err[8 + digits] != '\0');
  }
  return 0;
}

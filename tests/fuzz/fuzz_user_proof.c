/* USER_PROOF bodies: whatever zt_user_proof_parse accepts must build back
 * into exactly the same bytes (the encoding has one form). */
#include <string.h>

#include <openssl/bytestring.h>
#include <openssl/mem.h>

#include "fuzz.h"
#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  CBS body;
  struct zt_user_proof p;
  CBS_init(&body, data, size);
  if (!zt_user_proof_parse(body, &p)) return 0;
  FUZZ_CHECK(p.ncerts <= ZT_MAX_CHAIN_CERTS);
  FUZZ_CHECK(CBS_len(&p.sig) <= ZT_MAX_SIG_LEN);
  const uint8_t *certs[ZT_MAX_CHAIN_CERTS];
  size_t lens[ZT_MAX_CHAIN_CERTS];
  for (size_t i = 0; i < p.ncerts; i++) {
    certs[i] = CBS_data(&p.certs[i]);
    lens[i] = CBS_len(&p.certs[i]);
    FUZZ_CHECK(lens[i] >= 1 && lens[i] <= ZT_MAX_CERT_LEN);
    FUZZ_CHECK(certs[i] >= data && certs[i] + lens[i] <= data + size);
  }
  CBB cbb;
  uint8_t *out;
  size_t out_len;
  FUZZ_CHECK(CBB_init(&cbb, size));
  FUZZ_CHECK(zt_user_proof_build(&cbb, certs, lens, p.ncerts, p.sig_scheme,
                                 CBS_data(&p.sig), CBS_len(&p.sig)));
  FUZZ_CHECK(CBB_finish(&cbb, &out, &out_len));
  FUZZ_CHECK(out_len == size && memcmp(out, data, size) == 0);
  OPENSSL_free(out);
  return 0;
}

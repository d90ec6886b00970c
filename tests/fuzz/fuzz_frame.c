/* Frame stream: zt_frame_next over the whole input, as a receive buffer is
 * consumed. Every frame taken must fit its type's limit, lie inside the
 * input, and re-encode to the same bytes. */
#include <string.h>

#include <openssl/bytestring.h>
#include <openssl/mem.h>

#include "frame.h"
#include "fuzz.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  CBS in;
  CBS_init(&in, data, size);
  for (;;) {
    CBS before = in, body;
    uint8_t type = 0;
    enum zt_frame_result r = zt_frame_next(&in, &type, &body);
    FUZZ_CHECK(zt_frame_result_str(r) != NULL);
    if (r != ZT_FRAME_OK) {
      /* refusals leave the input alone */
      FUZZ_CHECK(CBS_data(&in) == CBS_data(&before) && CBS_len(&in) == CBS_len(&before));
      if (r == ZT_FRAME_NEED_MORE) {
        FUZZ_CHECK(CBS_len(&in) < ZT_FRAME_HEADER_LEN ||
                   CBS_len(&in) < ZT_FRAME_HEADER_LEN +
                                      ((size_t)CBS_data(&in)[1] << 8 | CBS_data(&in)[2]));
      } else if (r == ZT_FRAME_TOO_BIG) {
        size_t len = (size_t)CBS_data(&in)[1] << 8 | CBS_data(&in)[2];
        FUZZ_CHECK(len > zt_frame_max_body(CBS_data(&in)[0]));
      } else {
        FUZZ_CHECK(r == ZT_FRAME_UNKNOWN_TYPE);
        FUZZ_CHECK(zt_frame_max_body(CBS_data(&in)[0]) == 0 &&
                   CBS_data(&in)[0] != ZT_MSG_KEEPALIVE);
      }
      break;
    }
    size_t taken = CBS_len(&before) - CBS_len(&in);
    FUZZ_CHECK(taken == ZT_FRAME_HEADER_LEN + CBS_len(&body));
    FUZZ_CHECK(CBS_len(&body) <= zt_frame_max_body(type));
    FUZZ_CHECK(CBS_data(&body) == CBS_data(&before) + ZT_FRAME_HEADER_LEN);
    /* the same frame, built again */
    CBB cbb;
    uint8_t *out;
    size_t out_len;
    FUZZ_CHECK(CBB_init(&cbb, taken));
    FUZZ_CHECK(zt_frame_add(&cbb, type, CBS_data(&body), CBS_len(&body)));
    FUZZ_CHECK(CBB_finish(&cbb, &out, &out_len));
    FUZZ_CHECK(out_len == taken && memcmp(out, CBS_data(&before), taken) == 0);
    OPENSSL_free(out);
  }
  return 0;
}

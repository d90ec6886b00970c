/* IP packets from the tunnel: zt_pkt_parse on any bytes, and its answer
 * checked against the header fields read independently. */
#include <string.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct zt_pkt p;
  /* a private copy, so reads past |size| are caught by ASan exactly */
  uint8_t *copy = malloc(size ? size : 1);
  FUZZ_CHECK(copy != NULL);
  memcpy(copy, data, size);
  int ok = zt_pkt_parse(copy, size, &p);
  if (ok) {
    FUZZ_CHECK(size >= 20);
    if (copy[0] >> 4 == 4) {
      FUZZ_CHECK((size_t)(copy[0] & 15) * 4 >= 20 && (size_t)(copy[0] & 15) * 4 <= size);
      FUZZ_CHECK(((size_t)copy[2] << 8 | copy[3]) == size);
      FUZZ_CHECK(p.src.family == AF_INET && p.dst.family == AF_INET);
      FUZZ_CHECK(p.proto == copy[9]);
      FUZZ_CHECK(memcmp(p.src.addr, copy + 12, 4) == 0 && memcmp(p.dst.addr, copy + 16, 4) == 0);
    } else {
      FUZZ_CHECK(copy[0] >> 4 == 6 && size >= 40);
      FUZZ_CHECK(((size_t)copy[4] << 8 | copy[5]) + 40 == size);
      FUZZ_CHECK(p.src.family == AF_INET6 && p.dst.family == AF_INET6);
      FUZZ_CHECK(p.proto == copy[6]);
      FUZZ_CHECK(memcmp(p.src.addr, copy + 8, 16) == 0 &&
                 memcmp(p.dst.addr, copy + 24, 16) == 0);
    }
  }
  free(copy);
  return 0;
}

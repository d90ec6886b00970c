/* Connection tracking on any packets (server/conntrack.h): a sequence of
 * packets from either side, with time passing between them, through
 * zt_pkt_parse, ct_key_from_pkt, ct_lookup and ct_insert on a small table
 * (so that reclaiming and refusing happen), then ct_retain. The table must
 * stay within its bound, find what it just stored with the side that
 * opened it, and give policy questions of the key's own family.
 *
 * Input: repeated [u8 flags][u8 seconds to wait][u16 length][packet]; flags
 * bit 0: sent by the client; bit 1: keep the flow at the final ct_retain. */
#include <string.h>

#include <openssl/bytestring.h>

#include "conntrack.h"
#include "fuzz.h"
#include "packet.h"

#define FLOWS 8

static int keep_odd(const struct ct_key *key, enum ct_origin origin, void *arg) {
  (void)origin;
  (void)arg;
  return key->client_port & 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct conntrack ct;
  CBS in, pkt;
  uint8_t flags, wait;
  uint64_t now = 1000;
  FUZZ_CHECK(ct_init(&ct, FLOWS));
  CBS_init(&in, data, size);
  while (CBS_get_u8(&in, &flags) && CBS_get_u8(&in, &wait) &&
         CBS_get_u16_length_prefixed(&in, &pkt)) {
    struct zt_pkt p;
    struct ct_key key;
    struct policy_query q;
    enum ct_origin origin;
    int from_client = flags & 1;
    now += (uint64_t)wait * 1000;
    /* a private copy, so reads past the packet are caught by ASan exactly */
    uint8_t *copy = malloc(CBS_len(&pkt) ? CBS_len(&pkt) : 1);
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, CBS_data(&pkt), CBS_len(&pkt));
    if (zt_pkt_parse(copy, CBS_len(&pkt), &p) && ct_key_from_pkt(&p, from_client, &key)) {
      FUZZ_CHECK(key.family == p.src.family);
      if (!ct_lookup(&ct, &key, now, p.l4.tcp_flags, &origin)) {
        origin = from_client ? CT_FROM_CLIENT : CT_FROM_REMOTE;
        if (ct_insert(&ct, &key, origin, now, p.l4.tcp_flags)) {
          enum ct_origin found;
          FUZZ_CHECK(ct_lookup(&ct, &key, now, 0, &found) && found == origin);
        }
      }
      ct_query(&key, origin, &q);
      FUZZ_CHECK(q.addr.family == key.family);
      FUZZ_CHECK(memcmp(q.addr.addr, key.remote, zt_ip_len(key.family)) == 0);
    }
    free(copy);
    FUZZ_CHECK(ct.count <= FLOWS);
  }
  size_t before = ct.count;
  size_t removed = ct_retain(&ct, keep_odd, NULL);
  FUZZ_CHECK(removed <= before && ct.count == before - removed);
  ct_free(&ct);
  return 0;
}

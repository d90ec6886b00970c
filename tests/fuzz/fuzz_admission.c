/* The concentrator's decision on a USER_PROOF (server/admission.c): the
 * input is the body, checked against a fixed user CA with its CRLs
 * (fuzz/data/, made with fuzz/mkadmission.py, like the seeds in
 * corpus/admission) and a fixed exporter, so that inputs derived from the
 * seeds reach chain verification, the identity and the signature. */
#include <string.h>

#include <openssl/bytestring.h>
#include <openssl/err.h>

#include "admission.h"
#include "fuzz.h"
#include "msg.h"

#ifndef ZT_FUZZ_DATA
#error "ZT_FUZZ_DATA must name tests/fuzz/data"
#endif

static X509_STORE *store;
static int verbose; /* ZT_FUZZ_VERBOSE=1: print each decision, for seeds */
static uint8_t exporter[ZT_EXPORTER_LEN]; /* exporter[i] = i, as in mkadmission.py */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  static const char *const crls[] = {ZT_FUZZ_DATA "/admission-ca.crl",
                                     ZT_FUZZ_DATA "/admission-inter.crl"};
  char err[512];
  for (size_t i = 0; i < sizeof(exporter); i++) exporter[i] = (uint8_t)i;
  verbose = getenv("ZT_FUZZ_VERBOSE") != NULL;
  store = zt_trust_load(ZT_FUZZ_DATA "/admission-ca.pem", crls, 2, err, sizeof(err));
  if (!store) {
    fprintf(stderr, "fuzz_admission: %s\n", err);
    abort();
  }
  return 0;
}

static int printable(const char *s) {
  for (; *s; s++)
    if (*s < 0x20 || *s > 0x7e) return 0;
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct zt_identity id;
  struct zt_user_proof parsed;
  char why[512];
  CBS body;
  CBS_init(&body, data, size);
  memset(why, 0x7f, sizeof(why));
  uint16_t code = admission_check_proof(store, exporter, body, &id, why, sizeof(why));
  if (verbose)
    fprintf(stderr, "admission: %u %s\n", code, code ? why : id.name);
  FUZZ_CHECK(code == 0 || code == ZT_REASON_PROTOCOL || code == ZT_REASON_USER_AUTH);
  /* protocol errors are exactly the bodies the parser refuses */
  FUZZ_CHECK(zt_user_proof_parse(body, &parsed) == (code != ZT_REASON_PROTOCOL));
  FUZZ_CHECK(ERR_peek_error() == 0);
  if (code != 0) {
    /* the reason goes to the client and the audit log */
    FUZZ_CHECK(memchr(why, '\0', sizeof(why)) != NULL);
    FUZZ_CHECK(why[0] != '\0' && printable(why));
    return 0;
  }
  /* admitted: a valid identity, bound to this exporter only */
  FUZZ_CHECK(parsed.ncerts >= 1);
  FUZZ_CHECK(id.name[0] != '\0' && strlen(id.name) <= ZT_NAME_MAX && printable(id.name));
  FUZZ_CHECK(id.ngroups <= ZT_MAX_GROUPS);
  for (size_t i = 0; i < id.ngroups; i++)
    FUZZ_CHECK(id.groups[i][0] != '\0' && printable(id.groups[i]));
  uint8_t other[ZT_EXPORTER_LEN];
  memcpy(other, exporter, sizeof(other));
  other[size % ZT_EXPORTER_LEN] ^= 0x01;
  FUZZ_CHECK(admission_check_proof(store, other, body, &id, why, sizeof(why)) ==
             ZT_REASON_USER_AUTH);
  return 0;
}

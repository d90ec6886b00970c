/* Admission of a user: the decision on a USER_PROOF, with no I/O, so that it
 * can be tested and fuzzed on its own. */
#ifndef ZTVPN_ADMISSION_H
#define ZTVPN_ADMISSION_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/bytestring.h>
#include <openssl/x509.h>

#include "identity.h"
#include "proto.h"

/* admission_check_proof decides on the USER_PROOF |body| received in a
 * session whose exporter value is |exporter|: the user chain must verify
 * against |user_store| and the signature must be over this exporter. On
 * success it fills |user| and returns 0; otherwise it returns the zt_reason
 * code (ZT_REASON_PROTOCOL or ZT_REASON_USER_AUTH) and writes the reason
 * shown to the client into |why|. */
uint16_t admission_check_proof(X509_STORE *user_store,
                               const uint8_t exporter[ZT_EXPORTER_LEN], CBS body,
                               struct zt_identity *user, char *why, size_t whylen);

/* admission_check_proof_chain is admission_check_proof that also hands the
 * verified user chain (leaf first) to the caller in |*chain| on success, so
 * that it can be verified again later (NULL: not wanted). The caller frees
 * it with sk_X509_pop_free(chain, X509_free). */
uint16_t admission_check_proof_chain(X509_STORE *user_store,
                                     const uint8_t exporter[ZT_EXPORTER_LEN], CBS body,
                                     struct zt_identity *user, STACK_OF(X509) **chain,
                                     char *why, size_t whylen);

/* admission_recheck verifies a kept |chain| (leaf first) again against
 * |store|, as it is now (fresh CRLs, the current time). Returns 0 when it
 * still verifies, else ZT_REASON_REVOKED with the reason in |why|, e.g.
 * "device certificate revoked"; |kind| is "device" or "user". */
uint16_t admission_recheck(X509_STORE *store, STACK_OF(X509) *chain, const char *kind,
                           char *why, size_t whylen);

#endif

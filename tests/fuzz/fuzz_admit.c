/* ADMIT and ROUTES bodies (the same attribute encoding): parse, build, parse
 * again; both parses must agree, and the rebuilt body is the input. */
#include <string.h>
#include <sys/socket.h>

#include <openssl/bytestring.h>
#include <openssl/mem.h>

#include "fuzz.h"
#include "msg.h"

static int prefix_equal(const struct zt_prefix *a, const struct zt_prefix *b) {
  return a->family == b->family && a->len == b->len &&
         memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

static int admit_equal(const struct zt_admit *a, const struct zt_admit *b) {
  if (!prefix_equal(&a->addr4, &b->addr4) || a->has_addr6 != b->has_addr6 ||
      (a->has_addr6 && !prefix_equal(&a->addr6, &b->addr6)) || a->mtu != b->mtu ||
      a->keepalive != b->keepalive || a->session_id != b->session_id ||
      a->nroutes != b->nroutes || a->ndns != b->ndns || a->ndomains != b->ndomains)
    return 0;
  for (size_t i = 0; i < a->nroutes; i++)
    if (!prefix_equal(&a->routes[i], &b->routes[i])) return 0;
  for (size_t i = 0; i < a->ndns; i++)
    if (a->dns[i].family != b->dns[i].family ||
        memcmp(a->dns[i].addr, b->dns[i].addr, 16) != 0)
      return 0;
  for (size_t i = 0; i < a->ndomains; i++)
    if (strcmp(a->domains[i], b->domains[i]) != 0) return 0;
  return 1;
}

/* Each is ~20 KB: keep them off the stack. */
static struct zt_admit first, second;
static struct zt_routes routes, routes_again;

static void check_routes(const uint8_t *data, size_t size) {
  CBS body;
  CBS_init(&body, data, size);
  if (!zt_routes_parse(body, &routes)) return;
  FUZZ_CHECK(routes.n <= ZT_MAX_ROUTES);
  CBB cbb;
  uint8_t *out;
  size_t out_len;
  FUZZ_CHECK(CBB_init(&cbb, size));
  FUZZ_CHECK(zt_routes_build(&cbb, routes.routes, routes.n));
  FUZZ_CHECK(CBB_finish(&cbb, &out, &out_len));
  FUZZ_CHECK(out_len == size && memcmp(out, data, size) == 0);
  CBS again;
  CBS_init(&again, out, out_len);
  FUZZ_CHECK(zt_routes_parse(again, &routes_again) && routes_again.n == routes.n);
  for (size_t i = 0; i < routes.n; i++)
    FUZZ_CHECK(prefix_equal(&routes.routes[i], &routes_again.routes[i]));
  OPENSSL_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  CBS body;
  check_routes(data, size);
  CBS_init(&body, data, size);
  if (!zt_admit_parse(body, &first)) return 0;
  FUZZ_CHECK(first.addr4.family == AF_INET && first.addr4.len <= 32);
  FUZZ_CHECK(!first.has_addr6 || (first.addr6.family == AF_INET6 && first.addr6.len <= 128));
  FUZZ_CHECK(first.mtu >= ZT_MIN_MTU && first.mtu <= ZT_MAX_MTU);
  FUZZ_CHECK(first.keepalive >= 1);
  FUZZ_CHECK(first.nroutes <= ZT_MAX_ROUTES && first.ndns <= ZT_MAX_DNS_SERVERS &&
             first.ndomains <= ZT_MAX_DNS_DOMAINS);
  for (size_t i = 0; i < first.ndomains; i++)
    FUZZ_CHECK(zt_domain_valid(first.domains[i], strlen(first.domains[i])));
  CBB cbb;
  uint8_t *out;
  size_t out_len;
  FUZZ_CHECK(CBB_init(&cbb, size));
  FUZZ_CHECK(zt_admit_build(&cbb, &first));
  FUZZ_CHECK(CBB_finish(&cbb, &out, &out_len));
  /* every accepted attribute is rebuilt once, at its own size */
  FUZZ_CHECK(out_len == size);
  CBS again;
  CBS_init(&again, out, out_len);
  FUZZ_CHECK(zt_admit_parse(again, &second));
  FUZZ_CHECK(admit_equal(&first, &second));
  OPENSSL_free(out);
  return 0;
}

#include "acl_cache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

/* Twice the entries, so probes stay short; a power of two. */
#define SLOTS (2 * ACL_CACHE_MAX)

struct slot {
  uint8_t digest[SHA256_DIGEST_LENGTH]; /* of the applying rule indices */
  struct acl *acl;                      /* NULL: free */
};

struct acl_cache {
  const struct policy *policy;
  const struct policy_rule **rules; /* scratch: the pair's applying rules */
  uint32_t *idx;                    /* scratch: their indices, hashed */
  size_t count;
  struct slot slots[SLOTS];
};

struct acl_cache *acl_cache_new(const struct policy *p) {
  struct acl_cache *c = calloc(1, sizeof(*c));
  size_t n = p->nrules ? p->nrules : 1;
  if (c == NULL) return NULL;
  c->policy = p;
  c->rules = malloc(n * sizeof(*c->rules));
  c->idx = malloc(n * sizeof(*c->idx));
  if (c->rules == NULL || c->idx == NULL) {
    acl_cache_free(c);
    return NULL;
  }
  return c;
}

void acl_cache_free(struct acl_cache *c) {
  if (c == NULL) return;
  for (size_t i = 0; i < SLOTS; i++) acl_free(c->slots[i].acl);
  free(c->rules);
  free(c->idx);
  free(c);
}

size_t acl_cache_count(const struct acl_cache *c) { return c->count; }

static size_t home(const uint8_t digest[SHA256_DIGEST_LENGTH]) {
  size_t h;
  memcpy(&h, digest, sizeof(h));
  return h & (SLOTS - 1);
}

/* find returns the slot holding |digest|, or the free slot where it would
 * go, or NULL when the table has neither. */
static struct slot *find(struct acl_cache *c, const uint8_t *digest) {
  for (size_t n = 0, i = home(digest); n < SLOTS; n++, i = (i + 1) & (SLOTS - 1)) {
    struct slot *s = &c->slots[i];
    if (s->acl == NULL || memcmp(s->digest, digest, SHA256_DIGEST_LENGTH) == 0) return s;
  }
  return NULL;
}

/* Drops the acls only the cache still holds, and re-inserts the others so
 * that no probe sequence has a hole. */
static void sweep(struct acl_cache *c) {
  struct slot *keep = malloc(SLOTS * sizeof(*keep));
  size_t nkeep = 0;
  if (keep == NULL) return; /* the cache stays full: acls go uncached */
  for (size_t i = 0; i < SLOTS; i++) {
    struct slot *s = &c->slots[i];
    if (s->acl == NULL) continue;
    if (acl_refs(s->acl) == 1)
      acl_free(s->acl);
    else
      keep[nkeep++] = *s;
    s->acl = NULL;
  }
  c->count = 0;
  for (size_t i = 0; i < nkeep; i++) {
    *find(c, keep[i].digest) = keep[i];
    c->count++;
  }
  free(keep);
}

struct acl *acl_cache_get(struct acl_cache *c, const struct zt_identity *user,
                          const struct zt_identity *device) {
  const struct policy *p = c->policy;
  uint8_t digest[SHA256_DIGEST_LENGTH];
  size_t n = 0;
  for (size_t r = 0; r < p->nrules; r++) {
    if (!policy_rule_applies(&p->rules[r], user, device)) continue;
    c->rules[n] = &p->rules[r];
    c->idx[n++] = (uint32_t)r;
  }
  SHA256((const uint8_t *)c->idx, n * sizeof(*c->idx), digest);
  struct slot *s = find(c, digest);
  if (s != NULL && s->acl != NULL) {
    acl_up_ref(s->acl);
    return s->acl;
  }
  struct acl *a = acl_compile_rules(c->rules, n);
  if (a == NULL) return NULL;
  if (c->count == ACL_CACHE_MAX) {
    sweep(c);
    s = c->count < ACL_CACHE_MAX ? find(c, digest) : NULL;
  }
  if (s != NULL) {
    memcpy(s->digest, digest, sizeof(digest));
    s->acl = a;
    c->count++;
    acl_up_ref(a); /* the cache's own reference */
  }
  return a;
}

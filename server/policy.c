/* Loading policy.conf: libconfig syntax, every setting validated and every
 * refusal reported as "FILE:LINE: message" at the setting at fault, then the
 * file's own tests list checked. The format, every key with an example, is
 * described in server/POLICY.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "policy.h"
#include "policy_impl.h"

static const char *const top_keys[] = {"devices", "rules", "tests", NULL};
static const char *const rule_keys[] = {"name",  "users", "devices", "allow",
                                        "deny",  "inbound", NULL};
static const char *const device_keys[] = {"id", "owners", NULL};
static const char *const test_keys[] = {"user", "user_groups", "device", "device_groups",
                                        "to",   "from",        "expect", "rule",
                                        NULL};

/* Longest part of a string value quoted in a message. */
#define QUOTE_MAX 200
#define QUOTE(s) (int)strnlen(s, QUOTE_MAX), (s), strlen(s) > QUOTE_MAX ? "..." : ""

/* line_of: array elements and groups in lists carry their own line in
 * libconfig 1.5; this falls back on the parent's just in case. */
static unsigned line_of(const config_setting_t *s) {
  unsigned line = 0;
  for (; s && line == 0; s = config_setting_parent(s)) line = config_setting_source_line(s);
  return line;
}

static int oom(struct zt_conf *c, const config_setting_t *s) {
  return zt_conf_fail(c, s, "out of memory");
}

/* ---- a name -> index hash, so duplicates are found in O(n) ------------- */

struct name_index {
  uint32_t *slot; /* item index + 1; 0 is empty */
  size_t mask;
  const char *base; /* the first item's name */
  size_t stride;    /* bytes between two items' names */
};

static int index_init(struct name_index *x, size_t n, const void *base, size_t stride) {
  size_t cap = 16;
  while (cap < 2 * n) cap <<= 1;
  x->slot = calloc(cap, sizeof(*x->slot));
  x->mask = cap - 1;
  x->base = base;
  x->stride = stride;
  return x->slot != NULL;
}

static void index_free(struct name_index *x) {
  free(x->slot);
  x->slot = NULL;
}

static uint64_t name_hash(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
  return h;
}

/* index_slot finds the slot holding |name|, or the empty slot where it
 * belongs (the table is never more than half full). */
static uint32_t *index_slot(const struct name_index *x, const char *name) {
  size_t i = (size_t)name_hash(name) & x->mask;
  while (x->slot[i] != 0 &&
         strcmp(x->base + (size_t)(x->slot[i] - 1) * x->stride, name) != 0)
    i = (i + 1) & x->mask;
  return &x->slot[i];
}

/* index_add adds item |i|. Returns 1, or 0 with the index of the item of
 * the same name already there in |*dup|. */
static int index_add(struct name_index *x, uint32_t i, uint32_t *dup) {
  uint32_t *s = index_slot(x, x->base + (size_t)i * x->stride);
  if (*s != 0) {
    *dup = *s - 1;
    return 0;
  }
  *s = i + 1;
  return 1;
}

static int index_has(const struct name_index *x, const char *name) {
  return *index_slot(x, name) != 0;
}

/* ---- typed pieces ------------------------------------------------------ */

/* group_list finds member |name| of |g|, a list of groups ("( { }, { } )";
 * "[]" is accepted as the empty list). Absent: |*out| NULL. */
static int group_list(struct zt_conf *c, const config_setting_t *g, const char *name,
                      int required, size_t max, config_setting_t **out) {
  config_setting_t *s = config_setting_get_member(g, name);
  *out = NULL;
  if (!s) return required ? zt_conf_fail(c, g, "missing setting '%s'", name) : 1;
  int type = config_setting_type(s), n = config_setting_length(s);
  if (type != CONFIG_TYPE_LIST && !(type == CONFIG_TYPE_ARRAY && n == 0))
    return zt_conf_fail(c, s, "'%s' must be a list of groups: %s = ( { ... }, ... );",
                        name, name);
  if ((size_t)n > max)
    return zt_conf_fail(c, s, "'%s' has %d entries; at most %zu are allowed", name, n,
                        max);
  for (int i = 0; i < n; i++) {
    config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
    if (config_setting_type(e) != CONFIG_TYPE_GROUP)
      return zt_conf_fail(c, e, "'%s' entry %d must be a group { ... }", name, i + 1);
  }
  *out = s;
  return 1;
}

static size_t length(const config_setting_t *s) {
  return s ? (size_t)config_setting_length(s) : 0;
}

/* read_matchers reads required, non-empty matcher list |name|. */
static int read_matchers(struct zt_conf *c, const config_setting_t *g, const char *name,
                         struct policy_match **out, size_t *n) {
  config_setting_t *s;
  const char *err;
  if (!zt_conf_string_list(c, g, name, POLICY_MAX_MATCHERS, &s)) return 0;
  if (!s) return zt_conf_fail(c, g, "missing setting '%s'", name);
  size_t len = length(s);
  if (len == 0)
    return zt_conf_fail(c, s, "'%s' is empty: name someone, or \"*\" for everyone", name);
  if (!(*out = calloc(len, sizeof(**out)))) return oom(c, s);
  *n = len;
  for (size_t i = 0; i < len; i++) {
    config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
    const char *v = config_setting_get_string(e);
    if (!policy_match_parse(v, &(*out)[i], &err))
      return zt_conf_fail(c, e, "%s \"%.*s%s\": %s", name, QUOTE(v), err);
  }
  return 1;
}

/* read_dests reads optional destination list |name|, flattened. */
static int read_dests(struct zt_conf *c, const config_setting_t *g, const char *name,
                      struct policy_entry **out, size_t *n) {
  config_setting_t *s;
  char why[256];
  size_t total = 0, k;
  if (!zt_conf_string_list(c, g, name, POLICY_MAX_DESTS, &s)) return 0;
  size_t len = length(s);
  /* Count first so that each rule holds exactly what it needs. */
  for (size_t i = 0; i < len; i++) {
    config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
    const char *v = config_setting_get_string(e);
    if (!policy_dest_parse(v, line_of(e), NULL, 0, &k, why, sizeof(why)))
      return zt_conf_fail(c, e, "%s \"%.*s%s\": %s", name, QUOTE(v), why);
    total += k;
  }
  if (total == 0) return 1;
  if (!(*out = calloc(total, sizeof(**out)))) return oom(c, s);
  *n = total;
  size_t at = 0;
  for (size_t i = 0; i < len; i++) {
    config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
    if (!policy_dest_parse(config_setting_get_string(e), line_of(e), *out + at,
                           total - at, &k, why, sizeof(why)))
      return zt_conf_fail(c, e, "%s: %s", name, why);
    at += k;
  }
  return 1;
}

/* read_name reads required member |name| that must pass policy_name_ok. */
static int read_name(struct zt_conf *c, const config_setting_t *g, const char *name,
                     char *out, size_t outlen) {
  const char *v;
  if (!zt_conf_string(c, g, name, 1, &v)) return 0;
  if (!policy_name_ok(v))
    return zt_conf_fail(c, config_setting_get_member(g, name),
                        "%s \"%.*s%s\": 1 to 64 printable ASCII characters without "
                        "spaces at either end",
                        name, QUOTE(v));
  snprintf(out, outlen, "%s", v);
  return 1;
}

/* ---- rules, devices, tests ---------------------------------------------- */

static int read_rule(struct zt_conf *c, const config_setting_t *g, struct policy_rule *r) {
  const char *name;
  r->line = line_of(g);
  if (!zt_conf_check_keys(c, g, rule_keys) || !zt_conf_string(c, g, "name", 1, &name))
    return 0;
  if (!policy_rule_name_ok(name))
    return zt_conf_fail(c, config_setting_get_member(g, "name"),
                        "rule name \"%.*s%s\": 1 to %d characters of A-Z a-z 0-9 . _ -",
                        QUOTE(name), POLICY_NAME_MAX);
  snprintf(r->name, sizeof(r->name), "%s", name);
  if (!read_matchers(c, g, "users", &r->users, &r->nusers) ||
      !read_matchers(c, g, "devices", &r->devices, &r->ndevices) ||
      !read_dests(c, g, "allow", &r->allow, &r->nallow) ||
      !read_dests(c, g, "deny", &r->deny, &r->ndeny) ||
      !read_dests(c, g, "inbound", &r->inbound, &r->ninbound))
    return 0;
  if (r->nallow + r->ndeny + r->ninbound == 0)
    return zt_conf_fail(c, g, "rule \"%s\" has no allow, deny or inbound entries", name);
  return 1;
}

static int read_rules(struct zt_conf *c, struct policy *p, const config_setting_t *list,
                      struct name_index *names) {
  size_t n = length(list);
  if (n > 0 && !(p->rules = calloc(n, sizeof(*p->rules)))) return oom(c, list);
  p->nrules = n;
  if (!index_init(names, n, p->rules ? p->rules[0].name : NULL, sizeof(*p->rules)))
    return oom(c, list);
  for (size_t i = 0; i < n; i++) {
    config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
    uint32_t dup;
    if (!read_rule(c, g, &p->rules[i])) return 0;
    if (!index_add(names, (uint32_t)i, &dup))
      return zt_conf_fail(c, config_setting_get_member(g, "name"),
                          "duplicate rule name \"%s\" (first at line %u)",
                          p->rules[i].name, p->rules[dup].line);
  }
  return 1;
}

static int device_order(const void *a, const void *b) {
  return strcmp(((const struct policy_device *)a)->id, ((const struct policy_device *)b)->id);
}

static int read_devices(struct zt_conf *c, struct policy *p, const config_setting_t *list) {
  struct name_index ids;
  size_t n = length(list);
  int ok = 0;
  if (n == 0) return 1;
  if (!(p->devices = calloc(n, sizeof(*p->devices)))) return oom(c, list);
  p->ndevices = n;
  if (!index_init(&ids, n, p->devices[0].id, sizeof(*p->devices))) return oom(c, list);
  for (size_t i = 0; i < n; i++) {
    config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
    struct policy_device *d = &p->devices[i];
    uint32_t dup;
    d->line = line_of(g);
    if (!zt_conf_check_keys(c, g, device_keys) ||
        !read_name(c, g, "id", d->id, sizeof(d->id)) ||
        !read_matchers(c, g, "owners", &d->owners, &d->nowners))
      goto out;
    if (!index_add(&ids, (uint32_t)i, &dup)) {
      zt_conf_fail(c, config_setting_get_member(g, "id"),
                   "duplicate device \"%s\" (first at line %u)", d->id,
                   p->devices[dup].line);
      goto out;
    }
  }
  /* policy_admits finds a device by binary search. */
  qsort(p->devices, n, sizeof(*p->devices), device_order);
  ok = 1;
out:
  index_free(&ids);
  return ok;
}

static int read_groups(struct zt_conf *c, const config_setting_t *g, const char *name,
                       struct zt_identity *id) {
  config_setting_t *s;
  if (!zt_conf_string_list(c, g, name, ZT_MAX_GROUPS, &s)) return 0;
  for (size_t i = 0; i < length(s); i++) {
    config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
    const char *v = config_setting_get_string(e);
    if (!policy_name_ok(v))
      return zt_conf_fail(c, e,
                          "%s \"%.*s%s\": 1 to 64 printable ASCII characters without "
                          "spaces at either end",
                          name, QUOTE(v));
    snprintf(id->groups[id->ngroups++], sizeof(id->groups[0]), "%s", v);
  }
  return 1;
}

static int read_test(struct zt_conf *c, const config_setting_t *g,
                     const struct name_index *rules, struct policy_test *t) {
  const char *expect, *to = NULL, *from = NULL, *rule = NULL, *err;
  t->line = line_of(g);
  if (!zt_conf_check_keys(c, g, test_keys) ||
      !read_name(c, g, "user", t->user.name, sizeof(t->user.name)) ||
      !read_groups(c, g, "user_groups", &t->user) ||
      !read_name(c, g, "device", t->device.name, sizeof(t->device.name)) ||
      !read_groups(c, g, "device_groups", &t->device) ||
      !zt_conf_string(c, g, "expect", 1, &expect) || !zt_conf_string(c, g, "to", 0, &to) ||
      !zt_conf_string(c, g, "from", 0, &from) || !zt_conf_string(c, g, "rule", 0, &rule))
    return 0;
  if (strcmp(expect, "allow") == 0)
    t->expect = PE_ALLOW;
  else if (strcmp(expect, "deny") == 0)
    t->expect = PE_DENY;
  else if (strcmp(expect, "reject") == 0)
    t->expect = PE_REJECT;
  else
    return zt_conf_fail(c, config_setting_get_member(g, "expect"),
                        "expect \"%.*s%s\": must be \"allow\", \"deny\" or \"reject\"",
                        QUOTE(expect));
  if (t->expect == PE_REJECT) {
    /* A rejected pair sends no packet: a destination would be ignored. */
    const char *extra = to ? "to" : from ? "from" : rule ? "rule" : NULL;
    if (extra)
      return zt_conf_fail(c, config_setting_get_member(g, extra),
                          "a test that expects \"reject\" takes no '%s'", extra);
    return 1;
  }
  if (to && from)
    return zt_conf_fail(c, config_setting_get_member(g, "from"),
                        "a test has 'to' or 'from', not both");
  if (!to && !from) return zt_conf_fail(c, g, "missing setting 'to' (or 'from')");
  const char *key = to ? "to" : "from", *q = to ? to : from;
  t->dir = to ? POLICY_OUT : POLICY_IN;
  if (!policy_query_parse(q, &t->query, &err))
    return zt_conf_fail(c, config_setting_get_member(g, key), "%s \"%.*s%s\": %s", key,
                        QUOTE(q), err);
  if (rule) {
    if (!policy_rule_name_ok(rule) || !index_has(rules, rule))
      return zt_conf_fail(c, config_setting_get_member(g, "rule"),
                          "rule \"%.*s%s\": no such rule", QUOTE(rule));
    snprintf(t->rule, sizeof(t->rule), "%s", rule);
  }
  return 1;
}

static int read_tests(struct zt_conf *c, struct policy *p, const config_setting_t *list,
                      const struct name_index *rules) {
  size_t n = length(list);
  if (n == 0) return 1;
  if (!(p->tests = calloc(n, sizeof(*p->tests)))) return oom(c, list);
  p->ntests = n;
  for (size_t i = 0; i < n; i++)
    if (!read_test(c, config_setting_get_elem(list, (unsigned)i), rules, &p->tests[i]))
      return 0;
  return 1;
}

/* run_tests reports the first failing expectation, and how many more. */
static int run_tests(struct zt_conf *c, const struct policy *p, const config_setting_t *list) {
  char msg[512], first[512];
  size_t failed = 0, at = 0;
  for (size_t i = 0; i < p->ntests; i++) {
    if (policy_test_check(p, &p->tests[i], failed ? msg : first, sizeof(msg))) continue;
    if (failed++ == 0) at = i;
  }
  if (failed == 0) return 1;
  const config_setting_t *g = config_setting_get_elem(list, (unsigned)at);
  if (failed == 1) return zt_conf_fail(c, g, "test failed: %s", first);
  return zt_conf_fail(c, g, "test failed: %s (and %zu more failing tests)", first,
                      failed - 1);
}

struct policy *policy_load(const char *path, char *err, size_t errlen) {
  struct zt_conf c;
  struct policy *p = NULL;
  struct name_index rule_names = {0};
  config_setting_t *root, *rules, *devices, *tests;
  int ok = 0;
  if (!zt_conf_load(&c, path)) goto out;
  root = config_root_setting(&c.cfg);
  if (!(p = calloc(1, sizeof(*p)))) {
    oom(&c, NULL);
    goto out;
  }
  snprintf(p->file, sizeof(p->file), "%s", path);
  if (!zt_conf_check_keys(&c, root, top_keys) ||
      !group_list(&c, root, "devices", 0, POLICY_MAX_DEVICES, &devices) ||
      !group_list(&c, root, "rules", 1, POLICY_MAX_RULES, &rules) ||
      !group_list(&c, root, "tests", 0, POLICY_MAX_TESTS, &tests) ||
      !read_rules(&c, p, rules, &rule_names) || !read_devices(&c, p, devices) ||
      !read_tests(&c, p, tests, &rule_names) || !run_tests(&c, p, tests))
    goto out;
  ok = 1;
out:
  if (!ok) {
    snprintf(err, errlen, "%s", c.err);
    policy_free(p);
    p = NULL;
  }
  index_free(&rule_names);
  zt_conf_free(&c);
  return p;
}

struct policy *policy_from_routes(const struct zt_prefix *routes, size_t n) {
  struct policy *p = calloc(1, sizeof(*p));
  if (!p) return NULL;
  struct policy_rule *r = p->rules = calloc(1, sizeof(*r));
  if (!r) goto fail;
  p->nrules = 1;
  snprintf(r->name, sizeof(r->name), "routes");
  r->users = calloc(1, sizeof(*r->users));
  r->devices = calloc(1, sizeof(*r->devices));
  if (!r->users || !r->devices) goto fail;
  r->nusers = r->ndevices = 1;
  r->users[0].kind = r->devices[0].kind = PM_ANY;
  if (n > 0) {
    if (!(r->allow = calloc(n, sizeof(*r->allow)))) goto fail;
    r->nallow = n;
    for (size_t i = 0; i < n; i++) {
      r->allow[i].prefix = routes[i];
      r->allow[i].proto = PP_ANY;
      r->allow[i].port_hi = 65535;
    }
  }
  return p;
fail:
  policy_free(p);
  return NULL;
}

void policy_free(struct policy *p) {
  if (!p) return;
  for (size_t i = 0; i < p->nrules && p->rules; i++) {
    struct policy_rule *r = &p->rules[i];
    free(r->users);
    free(r->devices);
    free(r->allow);
    free(r->deny);
    free(r->inbound);
  }
  for (size_t i = 0; i < p->ndevices && p->devices; i++) free(p->devices[i].owners);
  free(p->rules);
  free(p->devices);
  free(p->tests);
  free(p);
}

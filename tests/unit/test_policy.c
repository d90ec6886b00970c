/* server/policy*.c: policy.conf loaded into struct policy with every
 * refusal at the right line, the matchers, admission, the reference
 * evaluator, the file's own tests list, the query and identity strings,
 * and a 100,000-rule file. */
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <cmocka.h>

#include "conf.h"
#include "conftext.h"
#include "policy.h"
#include "testutil.h"

/* Pieces of the policy texts below. */
#define BOB77 "  { user = \"bob\"; device = \"laptop-077\"; "
#define BOB42 "  { user = \"bob\"; device = \"laptop-042\"; "
#define EVERYONE "users = [ \"*\" ]; devices = [ \"*\" ]; "

/* The example of POLICY.md, one setting per line where it matters. */
static const char *const base[] = {
    /*  1 */ "devices = (",
    /*  2 */ "  { id = \"laptop-042\"; owners = [ \"alice\", \"group:admins\" ]; },",
    /*  3 */ "  { id = \"laptop-001\"; owners = [ \"*\" ]; }",
    /*  4 */ ");",
    /*  5 */ "rules = (",
    /*  6 */ "  { name = \"eng-ssh\"; users = [ \"group:engineering\" ]; devices = [ \"group:managed\" ];",
    /*  7 */ "    allow = [ \"198.51.100.0/24 tcp/22\", \"198.51.100.10 tcp/80,443 udp/53 icmp\" ]; },",
    /*  8 */ "  { name = \"no-db\"; " EVERYONE "deny = [ \"198.51.100.20 tcp/5432\" ]; },",
    /*  9 */ "  { name = \"helpdesk-in\"; users = [ \"*\" ]; devices = [ \"group:managed\" ];",
    /* 10 */ "    inbound = [ \"198.51.100.30 tcp/22\" ]; },",
    /* 11 */ "  { name = \"web\"; users = [ \"*\" ]; devices = [ \"*\" ];",
    /* 12 */ "    allow = [ \"198.51.100.10 tcp/443\", \"fd00:c0::/64 tcp/443\" ]; }",
    /* 13 */ ");",
    /* 14 */ "tests = (",
    /* 15 */ "  { user = \"alice\"; user_groups = [ \"engineering\" ]; device = \"laptop-042\";",
    /* 16 */ "    device_groups = [ \"managed\" ]; to = \"198.51.100.10 tcp/22\"; expect = \"allow\"; rule = \"eng-ssh\"; },",
    /* 17 */ BOB77 "to = \"198.51.100.10 tcp/22\"; expect = \"deny\"; },",
    /* 18 */ BOB42 "expect = \"reject\"; },",
    /* 19 */ "  { user = \"carol\"; user_groups = [ \"admins\" ]; device = \"laptop-042\"; device_groups = [ \"managed\" ];",
    /* 20 */ "    from = \"198.51.100.30 tcp/22\"; expect = \"allow\"; }",
    /* 21 */ ");",
};
#define NBASE (sizeof(base) / sizeof(base[0]))

static int setup(void **state) {
  static struct ct_fixture f;
  ct_fixture_make(&f, "policy.conf");
  *state = &f;
  return 0;
}

static int teardown(void **state) {
  ct_fixture_remove(*state);
  return 0;
}

static struct policy *load_edit(struct ct_fixture *f, const struct ct_edit *edit) {
  ct_fixture_write(f, base, NBASE, edit);
  return policy_load(f->path, f->err, sizeof(f->err));
}

static struct policy *load_text(struct ct_fixture *f, const char *text) {
  char path[PATH_MAX];
  tu_write_str(&f->dir, "policy.conf", text, path);
  memset(f->err, 0, sizeof(f->err));
  return policy_load(f->path, f->err, sizeof(f->err));
}

static struct policy *must_load_text(struct ct_fixture *f, const char *text) {
  struct policy *p = load_text(f, text);
  if (!p) fail_msg("refused: %s", f->err);
  return p;
}

static void assert_prefix(const struct zt_prefix *p, const char *want) {
  char buf[ZT_ADDR_STRLEN];
  assert_string_equal(zt_prefix_format(p, buf), want);
}

static void assert_entry(const struct policy_entry *e, const char *prefix,
                         enum policy_proto proto, unsigned lo, unsigned hi, unsigned line) {
  assert_prefix(&e->prefix, prefix);
  assert_int_equal(e->proto, proto);
  assert_int_equal(e->port_lo, lo);
  assert_int_equal(e->port_hi, hi);
  assert_int_equal(e->line, line);
}

static struct zt_identity ident(const char *spec) {
  struct zt_identity id;
  if (!policy_identity_parse(spec, &id)) fail_msg("identity \"%s\" refused", spec);
  return id;
}

static struct policy_query query(const char *s) {
  struct policy_query q;
  const char *err = NULL;
  if (!policy_query_parse(s, &q, &err)) fail_msg("query \"%s\": %s", s, err);
  return q;
}

/* ---- loading ------------------------------------------------------------ */

static void test_full_file(void **state) {
  struct ct_fixture *f = *state;
  struct policy *p = load_edit(f, NULL);
  if (!p) fail_msg("%s", f->err);
  assert_string_equal(p->file, f->path);
  assert_int_equal(p->nrules, 4);
  assert_int_equal(p->ndevices, 2);
  assert_int_equal(p->ntests, 4);

  const struct policy_rule *r = &p->rules[0];
  assert_string_equal(r->name, "eng-ssh");
  assert_int_equal(r->line, 6);
  assert_int_equal(r->nusers, 1);
  assert_int_equal(r->users[0].kind, PM_GROUP);
  assert_string_equal(r->users[0].name, "engineering");
  assert_int_equal(r->devices[0].kind, PM_GROUP);
  assert_string_equal(r->devices[0].name, "managed");
  /* "198.51.100.10 tcp/80,443 udp/53 icmp" is four entries */
  assert_int_equal(r->nallow, 5);
  assert_int_equal(r->ndeny + r->ninbound, 0);
  assert_entry(&r->allow[0], "198.51.100.0/24", PP_TCP, 22, 22, 7);
  assert_entry(&r->allow[1], "198.51.100.10/32", PP_TCP, 80, 80, 7);
  assert_entry(&r->allow[2], "198.51.100.10/32", PP_TCP, 443, 443, 7);
  assert_entry(&r->allow[3], "198.51.100.10/32", PP_UDP, 53, 53, 7);
  assert_int_equal(r->allow[4].proto, PP_ICMP);

  r = &p->rules[1];
  assert_string_equal(r->name, "no-db");
  assert_int_equal(r->users[0].kind, PM_ANY);
  assert_string_equal(r->users[0].name, "");
  assert_int_equal(r->nallow + r->ninbound, 0);
  assert_int_equal(r->ndeny, 1);
  assert_entry(&r->deny[0], "198.51.100.20/32", PP_TCP, 5432, 5432, 8);

  r = &p->rules[2];
  assert_int_equal(r->ninbound, 1);
  assert_entry(&r->inbound[0], "198.51.100.30/32", PP_TCP, 22, 22, 10);
  r = &p->rules[3];
  assert_int_equal(r->nallow, 2);
  assert_entry(&r->allow[1], "fd00:c0::/64", PP_TCP, 443, 443, 12);

  /* devices sorted by id, whatever the file order */
  assert_string_equal(p->devices[0].id, "laptop-001");
  assert_int_equal(p->devices[0].line, 3);
  assert_int_equal(p->devices[0].owners[0].kind, PM_ANY);
  assert_string_equal(p->devices[1].id, "laptop-042");
  assert_int_equal(p->devices[1].nowners, 2);
  assert_int_equal(p->devices[1].owners[0].kind, PM_NAME);
  assert_string_equal(p->devices[1].owners[0].name, "alice");
  assert_int_equal(p->devices[1].owners[1].kind, PM_GROUP);
  assert_string_equal(p->devices[1].owners[1].name, "admins");

  const struct policy_test *t = &p->tests[0];
  assert_int_equal(t->line, 15);
  assert_string_equal(t->user.name, "alice");
  assert_int_equal(t->user.ngroups, 1);
  assert_string_equal(t->user.groups[0], "engineering");
  assert_string_equal(t->device.name, "laptop-042");
  assert_string_equal(t->device.groups[0], "managed");
  assert_int_equal(t->dir, POLICY_OUT);
  assert_int_equal(t->query.ipproto, IPPROTO_TCP);
  assert_int_equal(t->query.port, 22);
  assert_int_equal(t->expect, PE_ALLOW);
  assert_string_equal(t->rule, "eng-ssh");
  assert_int_equal(p->tests[1].expect, PE_DENY);
  assert_int_equal(p->tests[1].user.ngroups, 0);
  assert_int_equal(p->tests[2].expect, PE_REJECT);
  assert_int_equal(p->tests[3].dir, POLICY_IN);
  policy_free(p);
}

/* The example in server/POLICY.md is a valid policy whose tests pass. */
static void test_documented_example(void **state) {
  struct ct_fixture *f = *state;
  char doc[PATH_MAX];
  const char *slash = strrchr(__FILE__, '/');
  if (__FILE__[0] != '/' || !slash) skip(); /* built without absolute paths */
  snprintf(doc, sizeof(doc), "%.*s/../../server/POLICY.md", (int)(slash - __FILE__), __FILE__);
  FILE *in = fopen(doc, "re");
  if (!in) fail_msg("cannot open %s", doc);
  static char text[16384];
  size_t n = fread(text, 1, sizeof(text) - 1, in);
  fclose(in);
  text[n] = '\0';
  char *start = strstr(text, "## Example\n\n```\n");
  assert_non_null(start);
  start += strlen("## Example\n\n```\n");
  char *end = strstr(start, "```");
  assert_non_null(end);
  *end = '\0';
  struct policy *p = must_load_text(f, start);
  assert_int_equal(p->nrules, 4);
  assert_int_equal(p->ndevices, 1);
  assert_int_equal(p->ntests, 4);
  policy_free(p);
}

/* Every form of destination, flattened, each entry with its own line. */
static void test_destinations(void **state) {
  struct ct_fixture *f = *state;
  struct policy *p = must_load_text(
      f,
      "rules = ( { name = \"d\"; users = [ \"*\" ]; devices = [ \"*\" ];\n"
      "  allow = [\n"
      "    \"198.51.100.0/24\",\n"                        /* 3 */
      "    \"198.51.100.1 any\",\n"                       /* 4 */
      "    \"198.51.100.2 tcp udp\",\n"                   /* 5 */
      "    \"198.51.100.3  tcp/1-65535\tudp/8000-8100,9\",\n" /* 6 */
      "    \"fd00:c0::/64 icmp\",\n"                      /* 7 */
      "    \"0.0.0.0/0 tcp/65535\", \"::/0\" ];\n"        /* 8 */
      "  deny = [ \"fd00:c0::1 tcp/80,80\" ];\n"          /* 9 */
      "} );\n");
  const struct policy_rule *r = &p->rules[0];
  assert_int_equal(r->nallow, 10);
  assert_entry(&r->allow[0], "198.51.100.0/24", PP_ANY, 0, 65535, 3);
  assert_entry(&r->allow[1], "198.51.100.1/32", PP_ANY, 0, 65535, 4);
  assert_entry(&r->allow[2], "198.51.100.2/32", PP_TCP, 0, 65535, 5);
  assert_entry(&r->allow[3], "198.51.100.2/32", PP_UDP, 0, 65535, 5);
  assert_entry(&r->allow[4], "198.51.100.3/32", PP_TCP, 1, 65535, 6);
  assert_entry(&r->allow[5], "198.51.100.3/32", PP_UDP, 8000, 8100, 6);
  assert_entry(&r->allow[6], "198.51.100.3/32", PP_UDP, 9, 9, 6);
  assert_entry(&r->allow[7], "fd00:c0::/64", PP_ICMP, 0, 0, 7);
  assert_entry(&r->allow[8], "0.0.0.0/0", PP_TCP, 65535, 65535, 8);
  assert_entry(&r->allow[9], "::/0", PP_ANY, 0, 65535, 8);
  /* a repeated port is harmless and kept as written */
  assert_int_equal(r->ndeny, 2);
  assert_entry(&r->deny[1], "fd00:c0::1/128", PP_TCP, 80, 80, 9);
  policy_free(p);
}

/* What a policy may leave out. */
static void test_minimal(void **state) {
  struct ct_fixture *f = *state;
  struct policy *p = must_load_text(f, "rules = ();\n");
  assert_int_equal(p->nrules + p->ndevices + p->ntests, 0);
  struct zt_identity u = ident("alice"), d = ident("laptop-042");
  char why[128];
  assert_int_equal(policy_admits(p, &u, &d, why, sizeof(why)), 0);
  assert_string_equal(why, "no rule admits user alice on device laptop-042");
  policy_free(p);

  p = must_load_text(f, "rules = [];\ndevices = [];\ntests = ();\n");
  assert_int_equal(p->nrules + p->ndevices + p->ntests, 0);
  policy_free(p);
}

#define RULE8(body) {8, 8, "  { name = \"no-db\"; " body " },"}

static const struct ct_err_case err_cases[] = {
    /* syntax, unknown and missing settings, types */
    {"syntax", {8, 8, "  { name = = \"no-db\"; users = [ \"*\" ]; },"}, 8, "syntax error"},
    /* libconfig names the line after the last one: the end of the file */
    {"unterminated", {21, 21, NULL}, 21, "syntax error"},
    {"unknown top", {22, 21, "policy = 1;"}, 22, "unknown setting 'policy'"},
    {"unknown rule key", {11, 11, "  { name = \"web\"; user = [ \"*\" ]; devices = [ \"*\" ];"},
     11, "unknown setting 'user'"},
    {"unknown device key", {3, 3, "  { id = \"laptop-001\"; owner = [ \"*\" ]; }"}, 3,
     "unknown setting 'owner'"},
    {"unknown test key",
     {18, 18, BOB42 "expect = \"reject\"; why = \"x\"; },"},
     18, "unknown setting 'why'"},
    {"missing rules", {5, 13, NULL}, 0, "missing setting 'rules'"},
    {"rules group", {5, 13, "rules = { name = \"x\"; };"}, 5,
     "'rules' must be a list of groups"},
    {"rules entry", {5, 13, "rules = ( \"web\" );"}, 5, "'rules' entry 1 must be a group"},
    {"devices entry", {3, 4, "  \"laptop-001\" );"}, 3, "'devices' entry 2 must be a group"},
    {"tests string", {14, 21, "tests = \"all\";"}, 14, "'tests' must be a list of groups"},
    {"missing name", {8, 8, "  { " EVERYONE "deny = [ \"198.51.100.20\" ]; },"},
     8, "missing setting 'name'"},
    {"name int", {8, 8, "  { name = 5; " EVERYONE "deny = [ \"198.51.100.20\" ]; },"},
     8, "'name' must be a string"},
    /* rules */
    {"rule name space", {8, 8, "  { name = \"no db\"; " EVERYONE "deny = [ \"198.51.100.20\" ]; },"},
     8, "rule name \"no db\": 1 to 64 characters of A-Z a-z 0-9 . _ -"},
    {"rule name long",
     {8, 8, "  { name = \"r0123456789012345678901234567890123456789012345678901234567890123\";"
            " " EVERYONE "deny = [ \"198.51.100.20\" ]; },"},
     8, "rule name \"r0123"},
    {"duplicate rule", {11, 11, "  { name = \"no-db\"; users = [ \"*\" ]; devices = [ \"*\" ];"}, 11,
     "duplicate rule name \"no-db\" (first at line 8)"},
    {"missing users", RULE8("devices = [ \"*\" ]; deny = [ \"198.51.100.20\" ];"), 8,
     "missing setting 'users'"},
    {"empty devices", RULE8("users = [ \"*\" ]; devices = [ ]; deny = [ \"198.51.100.20\" ];"), 8,
     "'devices' is empty"},
    {"users string", RULE8("users = \"*\"; devices = [ \"*\" ]; deny = [ \"198.51.100.20\" ];"), 8,
     "'users' must be a list of strings"},
    {"empty group", RULE8("users = [ \"group:\" ]; devices = [ \"*\" ]; deny = [ \"198.51.100.20\" ];"),
     8, "users \"group:\": a group is \"group:NAME\""},
    {"name space", RULE8("users = [ \" alice\" ]; devices = [ \"*\" ]; deny = [ \"198.51.100.20\" ];"),
     8, "users \" alice\": a name is 1 to 64 printable ASCII"},
    {"no entries", RULE8("users = [ \"*\" ]; devices = [ \"*\" ];"), 8,
     "rule \"no-db\" has no allow, deny or inbound entries"},
    {"empty lists only", RULE8(EVERYONE "allow = [ ]; deny = [ ];"), 8,
     "rule \"no-db\" has no allow, deny or inbound entries"},
    /* destinations */
    {"port range", {7, 7, "    allow = [ \"198.51.100.0/24 tcp/99999\" ]; },"}, 7,
     "allow \"198.51.100.0/24 tcp/99999\": port 99999 out of range"},
    {"port zero", RULE8(EVERYONE "deny = [ \"198.51.100.20 udp/0\" ];"),
     8, "deny \"198.51.100.20 udp/0\": port 0 out of range"},
    {"port huge", {10, 10, "    inbound = [ \"198.51.100.30 tcp/22-999999999999\" ]; },"}, 10,
     "port 999999999999 out of range"},
    {"reversed", {7, 7, "    allow = [ \"198.51.100.0/24 tcp/443-80\" ]; },"}, 7,
     "port range 443-80 is reversed"},
    {"empty port", {7, 7, "    allow = [ \"198.51.100.0/24 tcp/80,,443\" ]; },"}, 7,
     "bad port list in \"tcp/80,,443\""},
    {"trailing comma", {7, 7, "    allow = [ \"198.51.100.0/24 tcp/80,\" ]; },"}, 7,
     "bad port list in \"tcp/80,\""},
    {"no port", {7, 7, "    allow = [ \"198.51.100.0/24 udp/\" ]; },"}, 7,
     "bad port list in \"udp/\""},
    {"port junk", {7, 7, "    allow = [ \"198.51.100.0/24 tcp/22x\" ]; },"}, 7,
     "bad port list in \"tcp/22x\""},
    {"unknown service", {7, 7, "    allow = [ \"198.51.100.0/24 sctp/22\" ]; },"}, 7,
     "unknown service \"sctp/22\""},
    {"upper case", {7, 7, "    allow = [ \"198.51.100.0/24 TCP/22\" ]; },"}, 7,
     "unknown service \"TCP/22\""},
    {"icmp port", {7, 7, "    allow = [ \"198.51.100.0/24 icmp/8\" ]; },"}, 7,
     "unknown service \"icmp/8\""},
    {"host bits", {7, 7, "    allow = [ \"198.51.100.1/24 tcp/22\" ]; },"}, 7,
     "address 198.51.100.1/24: host bits set"},
    {"name as address", {7, 7, "    allow = [ \"corp.example tcp/22\" ]; },"}, 7,
     "address corp.example: not an IPv4 or IPv6 address"},
    {"prefix length", {12, 12, "    allow = [ \"fd00:c0::/129\" ]; }"}, 12,
     "address fd00:c0::/129: prefix length out of range"},
    {"empty destination", {12, 12, "    allow = [ \"198.51.100.10 tcp/443\", \"  \" ]; }"}, 12,
     "allow \"  \": no address"},
    {"destination on its line",
     {12, 12, "    allow = [\n      \"198.51.100.10 tcp/443\",\n      \"fd00:c0::/64 tcp/44x\" ]; }"},
     14, "allow \"fd00:c0::/64 tcp/44x\": bad port list"},
    {"destination int", {12, 12, "    allow = ( \"198.51.100.10 tcp/443\", 443 ); }"}, 12,
     "'allow' entry 2 must be a string"},
    /* devices */
    {"duplicate device", {3, 3, "  { id = \"laptop-042\"; owners = [ \"*\" ]; }"}, 3,
     "duplicate device \"laptop-042\" (first at line 2)"},
    {"empty owners", {3, 3, "  { id = \"laptop-001\"; owners = [ ]; }"}, 3, "'owners' is empty"},
    {"missing owners", {3, 3, "  { id = \"laptop-001\"; }"}, 3, "missing setting 'owners'"},
    {"missing id", {3, 3, "  { owners = [ \"*\" ]; }"}, 3, "missing setting 'id'"},
    {"id space", {3, 3, "  { id = \"laptop 001 \"; owners = [ \"*\" ]; }"}, 3,
     "id \"laptop 001 \": 1 to 64 printable ASCII"},
    {"owner group", {3, 3, "  { id = \"laptop-001\"; owners = [ \"*\", \"group:\\tx\" ]; }"}, 3,
     "owners \"group:\tx\": a group"},
    /* tests */
    {"test missing user", {17, 17, "  { device = \"laptop-077\"; to = \"198.51.100.10 tcp/22\"; expect = \"deny\"; },"},
     17, "missing setting 'user'"},
    {"test missing expect", {17, 17, BOB77 "to = \"198.51.100.10 tcp/22\"; },"},
     17, "missing setting 'expect'"},
    {"test expect", {17, 17, BOB77 "to = \"198.51.100.10 tcp/22\"; expect = \"permit\"; },"},
     17, "expect \"permit\": must be \"allow\", \"deny\" or \"reject\""},
    {"test to and from",
     {17, 17, BOB77 "to = \"198.51.100.10 tcp/22\";\n"
              "    from = \"198.51.100.10 tcp/22\"; expect = \"deny\"; },"},
     18, "a test has 'to' or 'from', not both"},
    {"test neither", {17, 17, BOB77 "expect = \"deny\"; },"}, 17,
     "missing setting 'to' (or 'from')"},
    {"reject with to",
     {18, 18, BOB42 "expect = \"reject\"; to = \"198.51.100.10\"; },"},
     18, "a test that expects \"reject\" takes no 'to'"},
    {"reject with rule",
     {18, 18, BOB42 "expect = \"reject\"; rule = \"web\"; },"},
     18, "a test that expects \"reject\" takes no 'rule'"},
    {"test port list", {17, 17, BOB77 "to = \"198.51.100.10 tcp/22,80\"; expect = \"deny\"; },"},
     17, "to \"198.51.100.10 tcp/22,80\": a query names one port"},
    {"test prefix", {20, 20, "    from = \"198.51.100.0/24\"; expect = \"allow\"; }"}, 20,
     "from \"198.51.100.0/24\": not an IPv4 or IPv6 address"},
    {"test unknown rule", {17, 17, BOB77 "to = \"198.51.100.10 tcp/22\"; expect = \"deny\"; rule = \"nope\"; },"},
     17, "rule \"nope\": no such rule"},
    {"test user groups",
     {18, 18, "  { user = \"bob\"; user_groups = [ \"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\","
              "\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\" ]; device = \"laptop-042\"; expect = \"reject\"; },"},
     18, "'user_groups' has 17 entries; at most 16"},
    {"test device name", {18, 18, "  { user = \"bob\"; device = \"\"; expect = \"reject\"; },"}, 18,
     "'device' is empty"},
    /* failing expectations */
    {"fails: no rule", {17, 17, BOB77 "to = \"198.51.100.10 tcp/22\"; expect = \"allow\"; },"},
     17,
     "test failed: user bob on device laptop-077 to 198.51.100.10 tcp/22: expected allow, got deny "
     "(no rule matched)"},
    {"fails: denied", {17, 17, BOB77 "to = \"198.51.100.20 tcp/5432\"; expect = \"allow\"; },"},
     17, "expected allow, got denied by rule \"no-db\""},
    {"fails: not owner", {18, 18, BOB42 "to = \"198.51.100.10 tcp/443\"; expect = \"allow\"; },"},
     18,
     "test failed: user bob on device laptop-042 to 198.51.100.10 tcp/443: expected allow, got reject: "
     "user bob is not an owner of device laptop-042"},
    {"fails: admitted", {18, 18, "  { user = \"alice\"; device = \"laptop-042\"; expect = \"reject\"; },"},
     18, "test failed: user alice on device laptop-042: expected reject, got admitted by rule \"web\""},
    {"fails: other rule", {16, 16, "    device_groups = [ \"managed\" ]; to = \"198.51.100.10 tcp/22\"; expect = \"allow\"; rule = \"web\"; },"},
     15, "expected allow by rule \"web\", got allow by rule \"eng-ssh\""},
    {"fails: allowed", {17, 17, BOB77 "to = \"fd00:c0::9 tcp/443\"; expect = \"deny\"; },"},
     17, "to fd00:c0::9 tcp/443: expected deny, got allow by rule \"web\""},
    {"fails: deny by other", {17, 17, BOB77 "to = \"198.51.100.10 tcp/22\"; expect = \"deny\"; rule = \"no-db\"; },"},
     17, "expected deny by rule \"no-db\", got deny (no rule matched)"},
    {"fails: inbound", {20, 20, "    from = \"198.51.100.30 udp/22\"; expect = \"allow\"; }"}, 19,
     "user carol on device laptop-042 from 198.51.100.30 udp/22: expected allow, got deny"},
    {"fails: two", {17, 18, BOB77 "to = \"198.51.100.10 tcp/22\"; expect = \"allow\"; },\n"
                            BOB42 "expect = \"allow\"; to = \"198.51.100.10\"; },"},
     17, "expected allow, got deny (no rule matched) (and 1 more failing tests)"},
};

static void test_errors(void **state) {
  struct ct_fixture *f = *state;
  int failed = 0;
  for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
    const struct ct_err_case *c = &err_cases[i];
    struct policy *p = load_edit(f, &c->edit);
    if (p) {
      print_error("case '%s': accepted\n", c->name);
      policy_free(p);
      failed++;
      continue;
    }
    if (!ct_err_case_ok(f, c)) failed++;
  }
  if (failed) fail_msg("%d of the cases failed", failed);
}

/* Edits next to the refusals above that must still load. */
static void test_edges_accepted(void **state) {
  struct ct_fixture *f = *state;
  static const struct ct_edit ok[] = {
      /* 64-character rule name, every allowed character */
      {8, 8, "  { name = \"AZaz09._-r012345678901234567890123456789012345678901234567890123\";"
             " " EVERYONE "deny = [ \"198.51.100.20\" ]; },"},
      {7, 7, "    allow = [ \"198.51.100.0/24 tcp/1-65535 udp/65535 any\" ]; },"},
      {7, 7, "    allow = [ \"198.51.100.0/24 tcp/22\" ]; deny = [ ]; },"}, /* an empty list */
      {14, 21, NULL},                                                  /* no tests */
      {3, 3, "  { id = \"Laptop 001 (spare)\"; owners = [ \"*\", \"group:it staff\" ]; }"},
      /* deny test naming the deny rule */
      {17, 17, BOB77 "to = \"198.51.100.20 tcp/5432\";"
               " expect = \"deny\"; rule = \"no-db\"; },"},
      /* deny through default deny: icmp only allowed to engineering */
      {17, 17, BOB77 "to = \"198.51.100.10 icmp\"; expect = \"deny\"; },"},
      {17, 17, "  { user = \"bob\"; device = \"laptop-001\"; to = \"fd00:c0::1 tcp/443\"; expect = \"allow\"; },"},
  };
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    struct policy *p = load_edit(f, &ok[i]);
    if (!p) fail_msg("edit %zu refused: %s", i, f->err);
    policy_free(p);
  }
}

static void test_missing_file(void **state) {
  struct ct_fixture *f = *state;
  char path[PATH_MAX];
  tu_path(&f->dir, "nonexistent.conf", path);
  assert_null(policy_load(path, f->err, sizeof(f->err)));
  ct_assert_err(f->err, path, 0, "cannot read the file");
}

/* The limits of policy.h are refused with their own messages. */
static void test_limits(void **state) {
  struct ct_fixture *f = *state;
  size_t cap = 64 * 1024;
  char *text = malloc(cap);
  assert_non_null(text);

  /* POLICY_MAX_MATCHERS + 1 users */
  size_t n = (size_t)snprintf(text, cap, "rules = ( { name = \"r\"; devices = [ \"*\" ];\n"
                                         "  allow = [ \"198.51.100.1\" ];\n  users = [ ");
  for (int i = 0; i <= POLICY_MAX_MATCHERS; i++)
    n += (size_t)snprintf(text + n, cap - n, "%s\"u%d\"", i ? ", " : "", i);
  snprintf(text + n, cap - n, " ]; } );\n");
  assert_null(load_text(f, text));
  ct_assert_err(f->err, f->path, 3, "'users' has 257 entries; at most 256 are allowed");

  /* POLICY_MAX_DESTS + 1 destinations */
  n = (size_t)snprintf(text, cap, "rules = ( { name = \"r\"; users = [ \"*\" ]; devices = [ \"*\" ];\n"
                                  "  allow = [ ");
  for (int i = 0; i <= POLICY_MAX_DESTS; i++)
    n += (size_t)snprintf(text + n, cap - n, "%s\"198.51.100.%d\"", i ? ", " : "", i % 256);
  snprintf(text + n, cap - n, " ]; } );\n");
  assert_null(load_text(f, text));
  ct_assert_err(f->err, f->path, 2, "'allow' has 1025 entries; at most 1024 are allowed");

  /* a destination of POLICY_MAX_DEST_LEN characters loads, one more does not */
  for (int extra = 0; extra <= 1; extra++) {
    char dest[POLICY_MAX_DEST_LEN + 2];
    size_t d = (size_t)snprintf(dest, sizeof(dest), "198.51.100.7 tcp/1");
    while (d + 2 <= (size_t)POLICY_MAX_DEST_LEN) d += (size_t)snprintf(dest + d, sizeof(dest) - d, ",1");
    if (d < (size_t)POLICY_MAX_DEST_LEN) dest[d++] = ' ';
    if (extra) dest[d++] = ' ';
    dest[d] = '\0';
    assert_int_equal(strlen(dest), POLICY_MAX_DEST_LEN + extra);
    snprintf(text, cap,
             "rules = ( { name = \"r\"; users = [ \"*\" ]; devices = [ \"*\" ];\n"
             "  allow = [ \"%s\" ]; } );\n", dest);
    struct policy *p = load_text(f, text);
    if (extra) {
      assert_null(p);
      ct_assert_err(f->err, f->path, 2, "longer than 512 characters");
    } else {
      if (!p) fail_msg("%s", f->err);
      /* "tcp/1,1,...": one entry per port as written */
      assert_int_equal(p->rules[0].nallow, (POLICY_MAX_DEST_LEN - 16) / 2);
      policy_free(p);
    }
  }
  free(text);
}

/* ---- matchers and admission --------------------------------------------- */

static void test_matchers(void **state) {
  struct zt_identity alice = ident("alice:engineering,admins");
  struct zt_identity bob = ident("bob");
  struct policy_match any = {PM_ANY, ""}, name = {PM_NAME, "alice"},
                      group = {PM_GROUP, "admins"}, group2 = {PM_GROUP, "alice"},
                      other = {PM_NAME, "Alice"};
  assert_true(policy_match_ok(&any, &alice));
  assert_true(policy_match_ok(&any, &bob));
  assert_true(policy_match_ok(&name, &alice));
  assert_false(policy_match_ok(&name, &bob));
  assert_false(policy_match_ok(&other, &alice)); /* names are case-sensitive */
  assert_true(policy_match_ok(&group, &alice));
  assert_false(policy_match_ok(&group, &bob));
  assert_false(policy_match_ok(&group2, &alice)); /* a group is not a name */
  /* a group beyond ngroups does not count */
  struct zt_identity stale = alice;
  stale.ngroups = 1;
  assert_false(policy_match_ok(&group, &stale));

  struct policy_rule r = {.nusers = 2, .ndevices = 1};
  struct policy_match users[] = {name, {PM_GROUP, "sales"}}, devs[] = {{PM_GROUP, "managed"}};
  r.users = users;
  r.devices = devs;
  struct zt_identity managed = ident("laptop-042:managed"), byod = ident("laptop-077:byod");
  assert_true(policy_rule_applies(&r, &alice, &managed));
  assert_false(policy_rule_applies(&r, &alice, &byod));
  assert_false(policy_rule_applies(&r, &bob, &managed));
  struct zt_identity carol = ident("carol:sales");
  assert_true(policy_rule_applies(&r, &carol, &managed));
  /* users match the user and devices the device, never the other way */
  assert_false(policy_rule_applies(&r, &managed, &alice));
}

static void test_admission(void **state) {
  struct ct_fixture *f = *state;
  struct policy *p = must_load_text(
      f,
      "devices = (\n"
      "  { id = \"laptop-042\"; owners = [ \"alice\", \"group:admins\" ]; },\n"
      "  { id = \"kiosk\"; owners = [ \"*\" ]; }\n"
      ");\n"
      "rules = (\n"
      "  { name = \"deny-only\"; " EVERYONE "deny = [ \"198.51.100.20\" ]; },\n"
      "  { name = \"in-only\"; " EVERYONE "inbound = [ \"198.51.100.30\" ]; },\n"
      "  { name = \"eng\"; users = [ \"group:engineering\" ]; devices = [ \"*\" ];\n"
      "    allow = [ \"198.51.100.10\" ]; },\n"
      "  { name = \"kiosk\"; users = [ \"*\" ]; devices = [ \"kiosk\" ]; allow = [ \"198.51.100.80 tcp/80\" ]; }\n"
      ");\n");
  static const struct {
    const char *user, *device;
    int admitted;
    const char *why;
  } cases[] = {
      {"alice:engineering", "laptop-042", 1, NULL},
      {"alice:engineering", "laptop-077:byod", 1, NULL}, /* no device entry: rules decide */
      {"dave:engineering,admins", "laptop-042", 1, NULL}, /* owner by group */
      {"bob:engineering", "laptop-042", 0, "user bob is not an owner of device laptop-042"},
      /* owners first: even a user no rule admits hears about the owners */
      {"bob", "laptop-042", 0, "user bob is not an owner of device laptop-042"},
      {"bob", "laptop-077", 0, "no rule admits user bob on device laptop-077"},
      /* deny-only and inbound-only rules apply to everyone but admit no one */
      {"carol:sales", "laptop-077:managed", 0, "no rule admits user carol on device laptop-077"},
      {"bob", "kiosk", 1, NULL},
      {"alice", "kiosk:managed", 1, NULL},
      /* device names are exact: no prefix or case folding */
      {"bob", "Kiosk", 0, "no rule admits user bob on device Kiosk"},
      {"bob:engineering", "laptop-04", 1, NULL},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct zt_identity u = ident(cases[i].user), d = ident(cases[i].device);
    char why[128] = "";
    int got = policy_admits(p, &u, &d, why, sizeof(why));
    if (got != cases[i].admitted)
      fail_msg("case %zu (%s on %s): admitted %d (%s)", i, cases[i].user, cases[i].device, got,
               why);
    if (cases[i].why) assert_string_equal(why, cases[i].why);
  }
  /* |why| is optional */
  struct zt_identity u = ident("bob"), d = ident("laptop-042");
  assert_int_equal(policy_admits(p, &u, &d, NULL, 0), 0);
  /* a short buffer gets a terminated prefix */
  char small[8];
  assert_int_equal(policy_admits(p, &u, &d, small, sizeof(small)), 0);
  assert_string_equal(small, "user bo");
  policy_free(p);
}

/* Many devices: found by binary search whatever their order in the file. */
static void test_many_devices(void **state) {
  struct ct_fixture *f = *state;
  size_t cap = 4 * 1024 * 1024;
  char *text = malloc(cap);
  assert_non_null(text);
  size_t n = (size_t)snprintf(text, cap, "devices = (\n");
  for (int i = 0; i < 5000; i++) {
    int k = (i * 7919) % 5000; /* a permutation: not sorted in the file */
    n += (size_t)snprintf(text + n, cap - n, "%s  { id = \"dev-%d\"; owners = [ \"user-%d\" ]; }\n",
                          i ? "," : "", k, k);
  }
  snprintf(text + n, cap - n,
           ");\nrules = ( { name = \"all\"; users = [ \"*\" ]; devices = [ \"*\" ];"
           " allow = [ \"198.51.100.0/24\" ]; } );\n");
  struct policy *p = must_load_text(f, text);
  assert_int_equal(p->ndevices, 5000);
  for (size_t i = 1; i < p->ndevices; i++)
    assert_true(strcmp(p->devices[i - 1].id, p->devices[i].id) < 0);
  for (int k = 0; k < 5000; k += 37) {
    char dev[32], user[32], other[32];
    snprintf(dev, sizeof(dev), "dev-%d", k);
    snprintf(user, sizeof(user), "user-%d", k);
    snprintf(other, sizeof(other), "user-%d", (k + 1) % 5000);
    struct zt_identity d = ident(dev), u = ident(user), o = ident(other);
    assert_int_equal(policy_admits(p, &u, &d, NULL, 0), 1);
    assert_int_equal(policy_admits(p, &o, &d, NULL, 0), 0);
  }
  policy_free(p);
  free(text);
}

/* ---- the reference evaluator ------------------------------------------- */

static const char eval_policy[] =
    "rules = (\n"
    "  { name = \"early-deny\"; users = [ \"*\" ]; devices = [ \"*\" ];\n"
    "    deny = [ \"198.51.100.20 tcp/5432\" ]; },\n"
    "  { name = \"eng\"; users = [ \"group:engineering\" ]; devices = [ \"group:managed\" ];\n"
    "    allow = [ \"198.51.100.0/24 tcp/22\", \"198.51.100.10 tcp/80,443 udp/53 icmp\",\n"
    "              \"198.51.100.20\", \"198.51.100.40 tcp/8000-8100\", \"fd00:c0::/64 tcp/443 icmp\",\n"
    "              \"198.51.100.50 any\" ]; },\n"
    "  { name = \"alice-only\"; users = [ \"alice\" ]; devices = [ \"*\" ]; allow = [ \"203.0.113.0/24 udp\" ]; },\n"
    "  { name = \"late-deny\"; users = [ \"*\" ]; devices = [ \"*\" ];\n"
    "    deny = [ \"198.51.100.10 tcp/443\", \"fd00:c0::99 tcp\", \"198.51.100.30 tcp/22\" ]; },\n"
    "  { name = \"in\"; users = [ \"*\" ]; devices = [ \"group:managed\" ];\n"
    "    inbound = [ \"198.51.100.30 tcp/22\", \"fd00:c0::30 icmp\" ]; },\n"
    "  { name = \"tcp-all\"; users = [ \"bob\" ]; devices = [ \"*\" ]; allow = [ \"198.51.100.60 tcp\" ]; },\n"
    "  { name = \"in-late\"; " EVERYONE "inbound = [ \"198.51.100.30\" ]; }\n"
    ");\n";

/* A query policy_query_parse cannot write: explicit protocol and port flag. */
struct raw_query {
  const char *addr;
  uint8_t ipproto;
  int has_port;
  uint16_t port;
};

struct eval_case {
  const char *user, *device;
  enum policy_dir dir;
  const char *q;         /* NULL: use raw */
  struct raw_query raw;
  enum policy_verdict want;
  const char *rule;      /* deciding rule, NULL for none */
};

#define ALICE "alice:engineering"
#define L42 "laptop-042:managed"
#define BOB "bob:sales"
#define L77 "laptop-077:byod"
#define OUT(u, d, q, v, r) {u, d, POLICY_OUT, q, {NULL, 0, 0, 0}, v, r}
#define IN(u, d, q, v, r) {u, d, POLICY_IN, q, {NULL, 0, 0, 0}, v, r}
#define RAW(u, d, a, proto, hp, port, v, r) {u, d, POLICY_OUT, NULL, {a, proto, hp, port}, v, r}

static const struct eval_case eval_cases[] = {
    /* allow and default deny, prefix edges */
    OUT(ALICE, L42, "198.51.100.10 tcp/22", PV_ALLOW, "eng"),
    OUT(ALICE, L42, "198.51.100.0 tcp/22", PV_ALLOW, "eng"),
    OUT(ALICE, L42, "198.51.100.255 tcp/22", PV_ALLOW, "eng"),
    OUT(ALICE, L42, "198.51.101.0 tcp/22", PV_DENY, NULL),
    OUT(ALICE, L42, "198.51.99.255 tcp/22", PV_DENY, NULL),
    OUT(ALICE, L42, "198.51.100.11 tcp/23", PV_DENY, NULL),
    OUT(ALICE, L42, "198.51.100.10 tcp/80", PV_ALLOW, "eng"),
    OUT(ALICE, L42, "198.51.100.10 tcp/81", PV_DENY, NULL),
    OUT(ALICE, L42, "198.51.100.10 udp/53", PV_ALLOW, "eng"),
    OUT(ALICE, L42, "198.51.100.10 udp/22", PV_DENY, NULL),
    OUT(ALICE, L42, "198.51.100.10 tcp/53", PV_DENY, NULL),
    /* deny wins, before or after the allow */
    OUT(ALICE, L42, "198.51.100.10 tcp/443", PV_DENIED, "late-deny"),
    OUT(ALICE, L42, "198.51.100.20 tcp/5432", PV_DENIED, "early-deny"),
    OUT(ALICE, L42, "198.51.100.20 tcp/5433", PV_ALLOW, "eng"),
    OUT(ALICE, L42, "198.51.100.20 udp/5432", PV_ALLOW, "eng"),
    OUT(ALICE, L42, "198.51.100.30 tcp/22", PV_DENIED, "late-deny"),
    OUT(BOB, L77, "198.51.100.20 tcp/5432", PV_DENIED, "early-deny"), /* no allow needed */
    /* port range edges */
    OUT(ALICE, L42, "198.51.100.40 tcp/7999", PV_DENY, NULL),
    OUT(ALICE, L42, "198.51.100.40 tcp/8000", PV_ALLOW, "eng"),
    OUT(ALICE, L42, "198.51.100.40 tcp/8100", PV_ALLOW, "eng"),
    OUT(ALICE, L42, "198.51.100.40 tcp/8101", PV_DENY, NULL),
    OUT(BOB, L77, "198.51.100.60 tcp/1", PV_ALLOW, "tcp-all"),
    OUT(BOB, L77, "198.51.100.60 tcp/65535", PV_ALLOW, "tcp-all"),
    OUT(BOB, L77, "198.51.100.60 udp/1", PV_DENY, NULL),
    OUT(BOB, L77, "198.51.100.60 icmp", PV_DENY, NULL),
    OUT(BOB, L77, "198.51.100.60", PV_DENY, NULL),
    RAW(BOB, L77, "198.51.100.60", IPPROTO_TCP, 1, 0, PV_ALLOW, "tcp-all"),
    /* protocol-less questions: only "any" entries answer them */
    OUT(ALICE, L42, "198.51.100.10", PV_DENY, NULL),
    OUT(ALICE, L42, "198.51.100.10 any", PV_DENY, NULL),
    OUT(ALICE, L42, "198.51.100.50", PV_ALLOW, "eng"),
    OUT(ALICE, L42, "198.51.100.20", PV_ALLOW, "eng"),
    RAW(ALICE, L42, "198.51.100.50", 47, 0, 0, PV_ALLOW, "eng"), /* GRE */
    /* icmp is ICMP on IPv4 and ICMPv6 on IPv6 */
    OUT(ALICE, L42, "198.51.100.10 icmp", PV_ALLOW, "eng"),
    RAW(ALICE, L42, "198.51.100.10", IPPROTO_ICMPV6, 0, 0, PV_DENY, NULL),
    OUT(ALICE, L42, "fd00:c0::5 icmp", PV_ALLOW, "eng"),
    RAW(ALICE, L42, "fd00:c0::5", IPPROTO_ICMP, 0, 0, PV_DENY, NULL),
    /* IPv6 */
    OUT(ALICE, L42, "fd00:c0::5 tcp/443", PV_ALLOW, "eng"),
    OUT(ALICE, L42, "fd00:c0:0:0:ffff:ffff:ffff:ffff tcp/443", PV_ALLOW, "eng"),
    OUT(ALICE, L42, "fd00:c0:0:1:: tcp/443", PV_DENY, NULL),
    OUT(ALICE, L42, "fd00:c0::99 tcp/443", PV_DENIED, "late-deny"),
    OUT(ALICE, L42, "fd00:c0::99 udp/443", PV_DENY, NULL),
    /* an IPv4-mapped address is not the IPv4 address */
    OUT(ALICE, L42, "::ffff:198.51.100.10 tcp/22", PV_DENY, NULL),
    /* non-first fragments: no port, so only "any" entries match */
    RAW(ALICE, L42, "198.51.100.10", IPPROTO_TCP, 0, 0, PV_DENY, NULL),
    RAW(ALICE, L42, "198.51.100.10", IPPROTO_TCP, 0, 22, PV_DENY, NULL),
    RAW(ALICE, L42, "198.51.100.50", IPPROTO_UDP, 0, 0, PV_ALLOW, "eng"),
    RAW(ALICE, L42, "198.51.100.20", IPPROTO_TCP, 0, 5432, PV_ALLOW, "eng"),
    /* identity-specific rules */
    OUT(BOB, L77, "198.51.100.10 tcp/22", PV_DENY, NULL),
    OUT(ALICE, L77, "198.51.100.10 tcp/22", PV_DENY, NULL), /* byod: eng does not apply */
    OUT("alice", L77, "203.0.113.7 udp/9", PV_ALLOW, "alice-only"),
    OUT(BOB, L77, "203.0.113.7 udp/9", PV_DENY, NULL),
    /* inbound: only inbound entries; deny is for outbound only; first match */
    IN(ALICE, L42, "198.51.100.30 tcp/22", PV_ALLOW, "in"),
    IN(ALICE, L42, "198.51.100.30 tcp/23", PV_ALLOW, "in-late"),
    IN(BOB, L77, "198.51.100.30 tcp/22", PV_ALLOW, "in-late"),
    IN(ALICE, L42, "198.51.100.10 tcp/22", PV_DENY, NULL),
    IN(ALICE, L42, "198.51.100.20 tcp/5432", PV_DENY, NULL),
    IN(ALICE, L42, "fd00:c0::30 icmp", PV_ALLOW, "in"),
    IN(ALICE, L42, "fd00:c0::30 tcp/22", PV_DENY, NULL),
    IN(BOB, L77, "fd00:c0::30 icmp", PV_DENY, NULL),
};

static void test_eval(void **state) {
  struct ct_fixture *f = *state;
  struct policy *p = must_load_text(f, eval_policy);
  int failed = 0;
  for (size_t i = 0; i < sizeof(eval_cases) / sizeof(eval_cases[0]); i++) {
    const struct eval_case *c = &eval_cases[i];
    struct zt_identity u = ident(c->user), d = ident(c->device);
    struct policy_query q;
    if (c->q) {
      q = query(c->q);
    } else {
      memset(&q, 0, sizeof(q));
      assert_int_equal(zt_ip_parse(c->raw.addr, &q.addr), 1);
      q.ipproto = c->raw.ipproto;
      q.has_port = c->raw.has_port;
      q.port = c->raw.port;
    }
    static const struct policy_rule sentinel = {.name = "(not set)"};
    const struct policy_rule *r = &sentinel; /* must be overwritten */
    enum policy_verdict v = policy_eval(p, &u, &d, c->dir, &q, &r);
    enum policy_verdict v2 = policy_eval(p, &u, &d, c->dir, &q, NULL);
    const char *got = r ? r->name : NULL;
    if (v != c->want || v2 != v || (got == NULL) != (c->rule == NULL) ||
        (got && strcmp(got, c->rule) != 0)) {
      print_error("case %zu (%s on %s %s %s): got %s by %s, want %s by %s\n", i, c->user,
                  c->device, c->dir == POLICY_OUT ? "to" : "from", c->q ? c->q : c->raw.addr,
                  policy_verdict_name(v), got ? got : "-", policy_verdict_name(c->want),
                  c->rule ? c->rule : "-");
      failed++;
    }
  }
  policy_free(p);
  if (failed) fail_msg("%d of the cases failed", failed);
}

static void test_entry_matches(void **state) {
  struct policy_entry e;
  memset(&e, 0, sizeof(e));
  const char *err;
  assert_int_equal(zt_prefix_parse("198.51.100.0/25", &e.prefix, &err), 1);
  e.proto = PP_UDP;
  e.port_lo = 53;
  e.port_hi = 54;
  struct policy_query q = query("198.51.100.127 udp/54");
  assert_true(policy_entry_matches(&e, &q));
  q.port = 55;
  assert_false(policy_entry_matches(&e, &q));
  q.port = 52;
  assert_false(policy_entry_matches(&e, &q));
  q = query("198.51.100.128 udp/53");
  assert_false(policy_entry_matches(&e, &q));
  q = query("198.51.100.1 tcp/53");
  assert_false(policy_entry_matches(&e, &q));
  /* a /0 of one family never matches the other */
  assert_int_equal(zt_prefix_parse("::/0", &e.prefix, &err), 1);
  e.proto = PP_ANY;
  q = query("198.51.100.1");
  assert_false(policy_entry_matches(&e, &q));
  q = query("fd00::1 udp/1");
  assert_true(policy_entry_matches(&e, &q));
  assert_string_equal(policy_verdict_name(PV_ALLOW), "allow");
  assert_string_equal(policy_verdict_name(PV_DENY), "deny");
  assert_string_equal(policy_verdict_name(PV_DENIED), "denied");
}

/* ---- text forms ---------------------------------------------------------- */

static void test_query_parse(void **state) {
  static const struct {
    const char *s;
    int family;
    uint8_t ipproto;
    int has_port;
    uint16_t port;
  } good[] = {
      {"198.51.100.10 tcp/22", AF_INET, IPPROTO_TCP, 1, 22},
      {"198.51.100.10 udp/53", AF_INET, IPPROTO_UDP, 1, 53},
      {"198.51.100.10 udp/65535", AF_INET, IPPROTO_UDP, 1, 65535},
      {"198.51.100.10 tcp/1", AF_INET, IPPROTO_TCP, 1, 1},
      {"198.51.100.10 icmp", AF_INET, IPPROTO_ICMP, 0, 0},
      {"fd00:c0::10 icmp", AF_INET6, IPPROTO_ICMPV6, 0, 0},
      {"fd00:c0::10 tcp/443", AF_INET6, IPPROTO_TCP, 1, 443},
      {"198.51.100.10", AF_INET, IPPROTO_RAW, 0, 0},
      {"198.51.100.10 any", AF_INET, IPPROTO_RAW, 0, 0},
      {"  198.51.100.10\ttcp/22  ", AF_INET, IPPROTO_TCP, 1, 22},
  };
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    struct policy_query q = query(good[i].s);
    assert_int_equal(q.addr.family, good[i].family);
    assert_int_equal(q.ipproto, good[i].ipproto);
    assert_int_equal(q.has_port, good[i].has_port);
    assert_int_equal(q.port, good[i].port);
  }
  struct policy_query q = query("198.51.100.10 tcp/22");
  struct zt_ip want;
  assert_int_equal(zt_ip_parse("198.51.100.10", &want), 1);
  assert_memory_equal(&q.addr, &want, sizeof(want));

  static const struct {
    const char *s, *err;
  } bad[] = {
      {"", "empty query"},
      {"   ", "empty query"},
      {"198.51.100.0/24 tcp/22", "not an IPv4 or IPv6 address"},
      {"corp.example tcp/22", "not an IPv4 or IPv6 address"},
      {"198.51.100.10 tcp", "a query names one port"},
      {"198.51.100.10 udp", "a query names one port"},
      {"198.51.100.10 tcp/", "a query names one port"},
      {"198.51.100.10 tcp/22,80", "a query names one port"},
      {"198.51.100.10 tcp/22-80", "a query names one port"},
      {"198.51.100.10 tcp/0", "port out of range"},
      {"198.51.100.10 tcp/65536", "port out of range"},
      {"198.51.100.10 tcp/99999999999999999999", "port out of range"},
      {"198.51.100.10 sctp/22", "unknown service"},
      {"198.51.100.10 icmpv6", "unknown service"},
      {"198.51.100.10 tcp/22 udp/53", "at most one service"},
      {"198.51.100.10 icmp icmp", "at most one service"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    const char *err = NULL;
    if (policy_query_parse(bad[i].s, &q, &err)) fail_msg("\"%s\" accepted", bad[i].s);
    assert_non_null(err);
    if (!strstr(err, bad[i].err))
      fail_msg("\"%s\": got \"%s\", want \"%s\"", bad[i].s, err, bad[i].err);
  }
}

static void test_identity_parse(void **state) {
  struct zt_identity id;
  memset(&id, 0x5a, sizeof(id));
  assert_int_equal(policy_identity_parse("alice", &id), 1);
  assert_string_equal(id.name, "alice");
  assert_int_equal(id.ngroups, 0);
  assert_string_equal(id.serial, ""); /* nothing left from before */

  assert_int_equal(policy_identity_parse("Alice Smith:engineering,it staff", &id), 1);
  assert_string_equal(id.name, "Alice Smith");
  assert_int_equal(id.ngroups, 2);
  assert_string_equal(id.groups[0], "engineering");
  assert_string_equal(id.groups[1], "it staff");

  assert_int_equal(policy_identity_parse("d:1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", &id), 1);
  assert_int_equal(id.ngroups, ZT_MAX_GROUPS);
  assert_string_equal(id.groups[15], "16");

  static const char *const bad[] = {
      "",
      ":engineering",
      "alice:",
      "alice:eng,",
      "alice:,eng",
      " alice",
      "alice :eng",
      "alice:eng ",
      "alice:\teng",
      "d:1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (policy_identity_parse(bad[i], &id)) fail_msg("\"%s\" accepted", bad[i]);
  /* 64 characters is the most a certificate CN can have, in a name or a group */
  char s[2 * ZT_NAME_MAX + 4];
  memset(s, 'n', ZT_NAME_MAX);
  s[ZT_NAME_MAX] = ':';
  memset(s + ZT_NAME_MAX + 1, 'g', ZT_NAME_MAX);
  s[2 * ZT_NAME_MAX + 1] = '\0';
  assert_int_equal(policy_identity_parse(s, &id), 1);
  assert_int_equal(strlen(id.name), ZT_NAME_MAX);
  assert_int_equal(strlen(id.groups[0]), ZT_NAME_MAX);
  s[2 * ZT_NAME_MAX + 1] = 'g';
  s[2 * ZT_NAME_MAX + 2] = '\0';
  assert_int_equal(policy_identity_parse(s, &id), 0);
  memset(s, 'n', ZT_NAME_MAX + 1);
  s[ZT_NAME_MAX + 1] = '\0';
  assert_int_equal(policy_identity_parse(s, &id), 0);
}

/* ---- the implicit policy and large files ---------------------------------- */

static void test_from_routes(void **state) {
  struct zt_prefix routes[2];
  const char *err;
  assert_int_equal(zt_prefix_parse("198.51.100.0/24", &routes[0], &err), 1);
  assert_int_equal(zt_prefix_parse("fd00:77::/64", &routes[1], &err), 1);
  struct policy *p = policy_from_routes(routes, 2);
  assert_non_null(p);
  assert_int_equal(p->nrules, 1);
  assert_int_equal(p->ndevices + p->ntests, 0);
  assert_string_equal(p->rules[0].name, "routes");
  assert_int_equal(p->rules[0].nallow, 2);
  struct zt_identity u = ident("anyone:x"), d = ident("any-device");
  assert_int_equal(policy_admits(p, &u, &d, NULL, 0), 1);
  const struct policy_rule *r = NULL;
  struct policy_query q = query("198.51.100.7 udp/5000");
  assert_int_equal(policy_eval(p, &u, &d, POLICY_OUT, &q, &r), PV_ALLOW);
  assert_string_equal(r->name, "routes");
  q = query("fd00:77::1");
  assert_int_equal(policy_eval(p, &u, &d, POLICY_OUT, &q, &r), PV_ALLOW);
  q = query("203.0.113.1 tcp/80");
  assert_int_equal(policy_eval(p, &u, &d, POLICY_OUT, &q, &r), PV_DENY);
  assert_null(r);
  /* nothing comes in unsolicited */
  q = query("198.51.100.7 tcp/22");
  assert_int_equal(policy_eval(p, &u, &d, POLICY_IN, &q, &r), PV_DENY);
  policy_free(p);

  /* no routes: nothing to reach, so nobody is admitted */
  p = policy_from_routes(NULL, 0);
  assert_non_null(p);
  char why[128];
  assert_int_equal(policy_admits(p, &u, &d, why, sizeof(why)), 0);
  assert_string_equal(why, "no rule admits user anyone on device any-device");
  policy_free(p);
  policy_free(NULL);
}

static double seconds_since(const struct timespec *t0) {
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* 100,000 rules load in a moment; a duplicate name among them is found at
 * its line (hashing, not comparing every pair). */
static void test_large(void **state) {
  struct ct_fixture *f = *state;
  enum { N = 100000 };
  char path[PATH_MAX];
  tu_path(&f->dir, "policy.conf", path);
  for (int dup = 0; dup <= 1; dup++) {
    FILE *out = fopen(path, "we");
    assert_non_null(out);
    fprintf(out, "rules = (\n"); /* line 1; rule i on line i + 2 */
    for (int i = 0; i < N; i++)
      fprintf(out,
              "  { name = \"rule-%d\"; users = [ \"user-%d\", \"group:g%d\" ]; devices = [ \"*\" ];"
              " allow = [ \"100.%d.%d.0/24 tcp/%d,%d-%d udp/53\" ]; deny = [ \"100.%d.%d.7\" ]; }%s\n",
              dup && i == N - 1 ? 17 : i, i, i % 100, 64 + (i >> 16) % 64, (i >> 8) & 255,
              1 + i % 1000, 2000 + i % 1000, 3000 + i % 1000, 64 + (i >> 16) % 64,
              (i >> 8) & 255, i == N - 1 ? "" : ",");
    fprintf(out, ");\n"
                 "tests = ( { user = \"user-99999\"; device = \"d\"; to = \"100.65.134.1 tcp/2999\";"
                 " expect = \"allow\"; rule = \"rule-99999\"; } );\n");
    fclose(out);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct policy *p = policy_load(path, f->err, sizeof(f->err));
    double secs = seconds_since(&t0);
    print_message("%d rules%s: %.3f s\n", N, dup ? " with a duplicate" : "", secs);
    if (dup) {
      assert_null(p);
      ct_assert_err(f->err, path, N + 1, "duplicate rule name \"rule-17\" (first at line 19)");
      continue;
    }
    if (!p) fail_msg("%s", f->err);
    assert_int_equal(p->nrules, N);
    assert_int_equal(p->rules[N - 1].nallow, 3);
    assert_int_equal(p->rules[N - 1].line, N + 1);
    assert_entry(&p->rules[N - 1].allow[1], "100.65.134.0/24", PP_TCP, 2999, 3999, N + 1);
    struct zt_identity u = ident("user-5:g5"), d = ident("d");
    struct policy_query q = query("100.64.0.1 tcp/6");
    const struct policy_rule *r;
    assert_int_equal(policy_eval(p, &u, &d, POLICY_OUT, &q, &r), PV_ALLOW);
    assert_string_equal(r->name, "rule-5");
    q = query("100.64.0.7 tcp/6");
    assert_int_equal(policy_eval(p, &u, &d, POLICY_OUT, &q, &r), PV_DENIED);
    assert_string_equal(r->name, "rule-5"); /* its own deny, before any later one */
    policy_free(p);
  }
}

int main(void) {
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_full_file),     T(test_documented_example), T(test_destinations),
      T(test_minimal),
      T(test_errors),        T(test_edges_accepted), T(test_missing_file),
      T(test_limits),        T(test_matchers),       T(test_admission),
      T(test_many_devices),  T(test_eval),           T(test_entry_matches),
      T(test_query_parse),   T(test_identity_parse), T(test_from_routes),
      T(test_large),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}

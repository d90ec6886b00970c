/* The text forms of the policy: names and matchers, destination strings
 * ("198.51.100.0/24 tcp/22,8000-8100 icmp") flattened into entries, and the
 * single-packet questions of the tests list and the offline query
 * ("198.51.100.10 tcp/22"). Strings come from an administrator's file or
 * command line: they are read with CBS and every refusal names the token. */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/bytestring.h>

#include "policy.h"
#include "policy_impl.h"

int policy_name_ok(const char *s) {
  size_t n = strnlen(s, ZT_NAME_MAX + 1);
  if (n == 0 || n > ZT_NAME_MAX || s[0] == ' ' || s[n - 1] == ' ') return 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] < 0x20 || s[i] > 0x7e) return 0;
  return 1;
}

int policy_rule_name_ok(const char *s) {
  size_t n = strnlen(s, POLICY_NAME_MAX + 1);
  if (n == 0 || n > POLICY_NAME_MAX) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '_' || c == '-'))
      return 0;
  }
  return 1;
}

int policy_match_parse(const char *s, struct policy_match *m, const char **err) {
  static const char prefix[] = "group:";
  memset(m, 0, sizeof(*m));
  if (strcmp(s, "*") == 0) {
    m->kind = PM_ANY;
    return 1;
  }
  const char *name = s;
  m->kind = PM_NAME;
  if (strncmp(s, prefix, sizeof(prefix) - 1) == 0) {
    name = s + sizeof(prefix) - 1;
    m->kind = PM_GROUP;
  }
  if (!policy_name_ok(name)) {
    *err = m->kind == PM_GROUP
               ? "a group is \"group:NAME\", NAME being 1 to 64 printable ASCII "
                 "characters without spaces at either end"
               : "a name is 1 to 64 printable ASCII characters without spaces at "
                 "either end (or \"*\", or \"group:NAME\")";
    return 0;
  }
  snprintf(m->name, sizeof(m->name), "%s", name);
  return 1;
}

/* ---- tokens -------------------------------------------------------------- */

static int is_blank(uint8_t c) { return c == ' ' || c == '\t'; }

/* next_token takes the next run of non-blank bytes off |s| into |tok|.
 * Returns 0 when only blanks are left. */
static int next_token(CBS *s, CBS *tok) {
  while (CBS_len(s) > 0 && is_blank(CBS_data(s)[0])) CBS_skip(s, 1);
  size_t n = 0;
  while (n < CBS_len(s) && !is_blank(CBS_data(s)[n])) n++;
  return n > 0 && CBS_get_bytes(s, tok, n);
}

static int token_is(const CBS *tok, const char *word) {
  return CBS_mem_equal(tok, (const uint8_t *)word, strlen(word));
}

/* token_str copies |tok| into |buf| as a C string. Returns 0 if it does not
 * fit. */
static int token_str(const CBS *tok, char *buf, size_t len) {
  if (CBS_len(tok) >= len) return 0;
  memcpy(buf, CBS_data(tok), CBS_len(tok));
  buf[CBS_len(tok)] = '\0';
  return 1;
}

/* get_number reads a run of decimal digits into |*v|, saturating above
 * 65535 so that any length stays out of range. |*digits| receives the run
 * for messages. Returns 0 when there is no digit. */
static int get_number(CBS *s, uint32_t *v, CBS *digits) {
  size_t n = 0;
  *v = 0;
  while (n < CBS_len(s) && CBS_data(s)[n] >= '0' && CBS_data(s)[n] <= '9') {
    if (*v <= 65535) *v = *v * 10 + (uint32_t)(CBS_data(s)[n] - '0');
    n++;
  }
  return n > 0 && CBS_get_bytes(s, digits, n);
}

#define CBS_FMT(c) (int)CBS_len(c), (const char *)CBS_data(c)

/* ---- destination strings -------------------------------------------------- */

struct dest_out {
  struct policy_entry *out; /* NULL: count only */
  size_t max, n;
  const struct zt_prefix *prefix;
  unsigned line;
};

static int emit(struct dest_out *d, enum policy_proto proto, uint32_t lo, uint32_t hi) {
  if (d->out) {
    if (d->n == d->max) return 0;
    struct policy_entry *e = &d->out[d->n];
    memset(e, 0, sizeof(*e));
    e->prefix = *d->prefix;
    e->proto = proto;
    e->port_lo = (uint16_t)lo;
    e->port_hi = (uint16_t)hi;
    e->line = d->line;
  }
  d->n++;
  return 1;
}

/* parse_port reads "N" or "N-M" (the whole of |item|). */
static int parse_port(CBS *item, uint32_t *lo, uint32_t *hi, const CBS *tok, char *why,
                      size_t whylen) {
  CBS digits, dash;
  if (!get_number(item, lo, &digits)) goto bad;
  if (*lo < 1 || *lo > 65535) {
    snprintf(why, whylen, "port %.*s out of range (1-65535)", CBS_FMT(&digits));
    return 0;
  }
  *hi = *lo;
  if (CBS_len(item) > 0) {
    if (!CBS_get_bytes(item, &dash, 1) || !token_is(&dash, "-") ||
        !get_number(item, hi, &digits) || CBS_len(item) != 0)
      goto bad;
    if (*hi < 1 || *hi > 65535) {
      snprintf(why, whylen, "port %.*s out of range (1-65535)", CBS_FMT(&digits));
      return 0;
    }
    if (*hi < *lo) {
      snprintf(why, whylen, "port range %u-%u is reversed", *lo, *hi);
      return 0;
    }
  }
  return 1;
bad:
  snprintf(why, whylen,
           "bad port list in \"%.*s\": ports are N or N-M, separated by commas",
           CBS_FMT(tok));
  return 0;
}

/* parse_service reads one service token into entries. */
static int parse_service(const CBS *tok, struct dest_out *d, char *why, size_t whylen) {
  CBS s = *tok, word;
  enum policy_proto proto;
  if (token_is(tok, "any")) return emit(d, PP_ANY, 0, 65535);
  if (token_is(tok, "icmp")) return emit(d, PP_ICMP, 0, 0);
  if (token_is(tok, "tcp")) return emit(d, PP_TCP, 0, 65535);
  if (token_is(tok, "udp")) return emit(d, PP_UDP, 0, 65535);
  if (!CBS_get_until_first(&s, &word, '/') || !CBS_skip(&s, 1)) goto unknown;
  if (token_is(&word, "tcp"))
    proto = PP_TCP;
  else if (token_is(&word, "udp"))
    proto = PP_UDP;
  else
    goto unknown;
  /* s: "80,443,8000-8100" */
  for (;;) {
    CBS item;
    int more = CBS_get_until_first(&s, &item, ',');
    if (more)
      CBS_skip(&s, 1);
    else
      item = s;
    uint32_t lo, hi;
    if (!parse_port(&item, &lo, &hi, tok, why, whylen)) return 0;
    if (!emit(d, proto, lo, hi)) goto too_many;
    if (!more) return 1;
  }
unknown:
  snprintf(why, whylen,
           "unknown service \"%.*s\" (any, icmp, tcp, udp, tcp/PORTS or udp/PORTS)",
           CBS_FMT(tok));
  return 0;
too_many:
  snprintf(why, whylen, "too many services");
  return 0;
}

int policy_dest_parse(const char *s, unsigned line, struct policy_entry *out,
                      size_t max, size_t *n, char *why, size_t whylen) {
  CBS in, tok;
  char addr[ZT_ADDR_STRLEN];
  const char *err;
  struct zt_prefix prefix;
  struct dest_out d = {out, max, 0, &prefix, line};
  size_t len = strnlen(s, POLICY_MAX_DEST_LEN + 1);
  *n = 0;
  if (len > POLICY_MAX_DEST_LEN) {
    snprintf(why, whylen, "longer than %d characters", POLICY_MAX_DEST_LEN);
    return 0;
  }
  CBS_init(&in, (const uint8_t *)s, len);
  if (!next_token(&in, &tok)) {
    snprintf(why, whylen, "no address");
    return 0;
  }
  if (!token_str(&tok, addr, sizeof(addr))) {
    snprintf(why, whylen, "address %.*s: not an IPv4 or IPv6 address", CBS_FMT(&tok));
    return 0;
  }
  if (!zt_prefix_parse(addr, &prefix, &err)) {
    snprintf(why, whylen, "address %s: %s", addr, err);
    return 0;
  }
  int services = 0;
  while (next_token(&in, &tok)) {
    if (!parse_service(&tok, &d, why, whylen)) return 0;
    services++;
  }
  if (!services && !emit(&d, PP_ANY, 0, 65535)) return 0;
  *n = d.n;
  return 1;
}

/* ---- single packets -------------------------------------------------------- */

int policy_query_parse(const char *s, struct policy_query *q, const char **err) {
  CBS in, tok, word, digits;
  char addr[ZT_ADDR_STRLEN];
  size_t len = strnlen(s, POLICY_MAX_DEST_LEN + 1);
  memset(q, 0, sizeof(*q));
  if (len > POLICY_MAX_DEST_LEN) {
    *err = "query too long";
    return 0;
  }
  CBS_init(&in, (const uint8_t *)s, len);
  if (!next_token(&in, &tok)) {
    *err = "empty query: \"ADDRESS [tcp/PORT|udp/PORT|icmp|any]\"";
    return 0;
  }
  if (!token_str(&tok, addr, sizeof(addr)) || !zt_ip_parse(addr, &q->addr)) {
    *err = "not an IPv4 or IPv6 address";
    return 0;
  }
  q->ipproto = IPPROTO_RAW; /* what only "any protocol" entries match */
  if (!next_token(&in, &tok) || token_is(&tok, "any")) goto end;
  if (token_is(&tok, "icmp")) {
    q->ipproto = q->addr.family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
    goto end;
  }
  CBS rest = tok;
  if (!CBS_get_until_first(&rest, &word, '/') || !CBS_skip(&rest, 1)) {
    *err = token_is(&tok, "tcp") || token_is(&tok, "udp")
               ? "a query names one port: tcp/PORT or udp/PORT"
               : "unknown service (tcp/PORT, udp/PORT, icmp or any)";
    return 0;
  }
  if (token_is(&word, "tcp")) {
    q->ipproto = IPPROTO_TCP;
  } else if (token_is(&word, "udp")) {
    q->ipproto = IPPROTO_UDP;
  } else {
    *err = "unknown service (tcp/PORT, udp/PORT, icmp or any)";
    return 0;
  }
  uint32_t port;
  if (!get_number(&rest, &port, &digits) || CBS_len(&rest) != 0) {
    *err = "a query names one port: tcp/PORT or udp/PORT";
    return 0;
  }
  if (port < 1 || port > 65535) {
    *err = "port out of range (1-65535)";
    return 0;
  }
  q->has_port = 1;
  q->port = (uint16_t)port;
end:
  if (next_token(&in, &tok)) {
    *err = "a query names at most one service";
    return 0;
  }
  return 1;
}

const char *policy_query_format(const struct policy_query *q, char *buf, size_t len) {
  char a[ZT_ADDR_STRLEN];
  zt_ip_format(&q->addr, a);
  if (q->ipproto == IPPROTO_TCP && q->has_port)
    snprintf(buf, len, "%s tcp/%u", a, q->port);
  else if (q->ipproto == IPPROTO_UDP && q->has_port)
    snprintf(buf, len, "%s udp/%u", a, q->port);
  else if (q->ipproto == IPPROTO_ICMP || q->ipproto == IPPROTO_ICMPV6)
    snprintf(buf, len, "%s icmp", a);
  else if (q->ipproto == IPPROTO_RAW)
    snprintf(buf, len, "%s", a);
  else
    snprintf(buf, len, "%s proto %u%s", a, q->ipproto, q->has_port ? "" : " (no port)");
  return buf;
}

int policy_identity_parse(const char *s, struct zt_identity *id) {
  CBS in, part;
  memset(id, 0, sizeof(*id));
  CBS_init(&in, (const uint8_t *)s, strnlen(s, 4096));
  int has_groups = CBS_get_until_first(&in, &part, ':');
  if (!has_groups) part = in;
  if (!token_str(&part, id->name, sizeof(id->name)) || !policy_name_ok(id->name))
    return 0;
  if (!has_groups) return 1;
  CBS_skip(&in, 1);
  for (;;) {
    int more = CBS_get_until_first(&in, &part, ',');
    if (more)
      CBS_skip(&in, 1);
    else
      part = in;
    if (id->ngroups == ZT_MAX_GROUPS) return 0;
    char *g = id->groups[id->ngroups];
    if (!token_str(&part, g, sizeof(id->groups[0])) || !policy_name_ok(g)) return 0;
    id->ngroups++;
    if (!more) return 1;
  }
}

#include "control.h"

#include <stdio.h>
#include <string.h>

#ifndef OPENSSL_IS_BORINGSSL
#error "ztvpn needs BoringSSL (android-libboringssl-dev): see README.md"
#endif

/* The grammar is strict so that one request has exactly one spelling: a
 * request that parses builds back into the same bytes (the fuzz harness
 * checks it), and nothing odd (tabs, double spaces, CR, leading zeros)
 * reaches a handler. A NAME is the rest of the line, so that a certificate
 * CN with inner spaces can still be named. */

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), 0)

static int is_graph(uint8_t c) { return c > 0x20 && c < 0x7f; }

/* Takes the next token: the bytes up to a SP or the end of |line|, and the
 * SP. |*more| says whether a SP followed. Returns 0 for an empty token (a
 * stray space, or nothing left). */
static int get_token(CBS *line, CBS *tok, int *more) {
  size_t n = 0;
  const uint8_t *p = CBS_data(line);
  while (n < CBS_len(line) && p[n] != ' ') n++;
  if (!CBS_get_bytes(line, tok, n)) return 0;
  *more = CBS_len(line) > 0;
  if (*more && !CBS_skip(line, 1)) return 0;
  return n > 0;
}

static int token_is(const CBS *tok, const char *word) {
  return CBS_mem_equal(tok, (const uint8_t *)word, strlen(word));
}

/* A session id: 1..20 decimal digits, no leading zero, no overflow. */
static int parse_id(CBS tok, uint64_t *out) {
  uint64_t v = 0;
  uint8_t c;
  if (CBS_len(&tok) == 0 || CBS_len(&tok) > 20 || CBS_data(&tok)[0] == '0') return 0;
  while (CBS_get_u8(&tok, &c)) {
    if (c < '0' || c > '9' || v > (UINT64_MAX - (c - '0')) / 10) return 0;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return 1;
}

/* A name as certificates carry it (identity.h): 1..ZT_NAME_MAX printable
 * bytes without a space at either end. */
static int name_ok(const uint8_t *p, size_t n) {
  if (n == 0 || n > ZT_NAME_MAX || p[0] == ' ' || p[n - 1] == ' ') return 0;
  for (size_t i = 0; i < n; i++)
    if (p[i] != ' ' && !is_graph(p[i])) return 0;
  return 1;
}

int zt_ctl_request_parse(CBS in, struct zt_ctl_request *out, char *err, size_t errlen) {
  CBS line, tok;
  int more;
  memset(out, 0, sizeof(*out));
  if (CBS_len(&in) > ZT_CTL_MAX_REQUEST) return ERR("request too long");
  if (CBS_len(&in) == 0 || CBS_data(&in)[CBS_len(&in) - 1] != '\n')
    return ERR("request does not end with a newline");
  if (!CBS_get_bytes(&in, &line, CBS_len(&in) - 1)) return ERR("request too short");
  for (size_t i = 0; i < CBS_len(&line); i++)
    if (CBS_data(&line)[i] != ' ' && !is_graph(CBS_data(&line)[i]))
      return ERR("request is not printable ASCII");

  if (CBS_len(&line) == 0) return ERR("empty request");
  if (!get_token(&line, &tok, &more)) return ERR("malformed request: stray space");
  if (token_is(&tok, "text")) out->json = 0;
  else if (token_is(&tok, "json")) out->json = 1;
  else return ERR("unknown format (text or json)");
  if (!more) return ERR("missing command");
  if (!get_token(&line, &tok, &more)) return ERR("malformed request: stray space");

  if (token_is(&tok, "status")) out->cmd = ZT_CTL_STATUS;
  else if (token_is(&tok, "sessions")) out->cmd = ZT_CTL_SESSIONS;
  else if (token_is(&tok, "reload")) out->cmd = ZT_CTL_RELOAD;
  else if (token_is(&tok, "kill")) out->cmd = ZT_CTL_KILL;
  else if (token_is(&tok, "metrics")) out->cmd = ZT_CTL_METRICS;
  else return ERR("unknown command");
  /* The Prometheus text format is the machine format already. */
  if (out->cmd == ZT_CTL_METRICS && out->json)
    return ERR("metrics are Prometheus text only: no JSON form");
  if (out->cmd != ZT_CTL_KILL) return more ? ERR("unexpected argument") : 1;

  if (!more) return ERR("usage: kill id N | kill user NAME | kill device NAME");
  if (!get_token(&line, &tok, &more)) return ERR("malformed request: stray space");
  if (!more) return ERR("usage: kill id N | kill user NAME | kill device NAME");
  if (token_is(&tok, "id")) {
    out->by = ZT_CTL_KILL_ID;
    if (!get_token(&line, &tok, &more) || more || !parse_id(tok, &out->id))
      return ERR("bad session id");
    return 1;
  }
  if (token_is(&tok, "user")) out->by = ZT_CTL_KILL_USER;
  else if (token_is(&tok, "device")) out->by = ZT_CTL_KILL_DEVICE;
  else return ERR("kill by id, user or device");
  if (!name_ok(CBS_data(&line), CBS_len(&line)))
    return ERR("bad name (1 to %d printable characters)", ZT_NAME_MAX);
  memcpy(out->name, CBS_data(&line), CBS_len(&line));
  out->name[CBS_len(&line)] = '\0';
  return 1;
}

static int add_str(CBB *out, const char *s) {
  return CBB_add_bytes(out, (const uint8_t *)s, strlen(s));
}

int zt_ctl_request_build(CBB *out, const struct zt_ctl_request *r) {
  char id[24];
  if (!add_str(out, r->json ? "json " : "text ")) return 0;
  switch (r->cmd) {
    case ZT_CTL_STATUS: return add_str(out, "status\n");
    case ZT_CTL_SESSIONS: return add_str(out, "sessions\n");
    case ZT_CTL_RELOAD: return add_str(out, "reload\n");
    case ZT_CTL_METRICS: return !r->json && add_str(out, "metrics\n");
    case ZT_CTL_KILL: break;
    default: return 0;
  }
  switch (r->by) {
    case ZT_CTL_KILL_ID:
      if (r->id == 0) return 0;
      snprintf(id, sizeof(id), "%llu", (unsigned long long)r->id);
      return add_str(out, "kill id ") && add_str(out, id) && add_str(out, "\n");
    case ZT_CTL_KILL_USER:
    case ZT_CTL_KILL_DEVICE: {
      size_t n = strnlen(r->name, sizeof(r->name));
      if (n == sizeof(r->name) || !name_ok((const uint8_t *)r->name, n)) return 0;
      return add_str(out, r->by == ZT_CTL_KILL_USER ? "kill user " : "kill device ") &&
             CBB_add_bytes(out, (const uint8_t *)r->name, n) && add_str(out, "\n");
    }
    default: return 0;
  }
}

/* server/metrics.c: the exposition rendered from a hand-filled concentrator
 * (counters, two live sessions, totals of ended ones) has the exact sample
 * lines for those values, is valid text format 0.0.4 line by line (a small
 * grammar checker below), names every metric with one HELP and one TYPE
 * before its samples, escapes label values, and fails cleanly rather than
 * overflowing a fixed buffer that is too small. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bytestring.h>
#include <openssl/mem.h>

#include "metrics.h"
#include "proto.h"
#include "server.h"

struct fixture {
  struct server srv;
  struct server_config cfg;
  struct session live[2];
  struct dp dp[2]; /* two data-plane threads: counters add up */
};

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  f->cfg.max_sessions = 100;
  f->srv.cfg = &f->cfg;
  f->srv.started = 1700000000;
  struct server_counters *c = &f->srv.counters;
  c->connections = 20;
  c->admitted = 5;
  c->refused = 4;
  c->refused_by[REFUSE_SOURCE_RATE] = 3;
  c->refused_by[REFUSE_HANDSHAKES] = 1;
  c->rejected[ZT_REASON_USER_AUTH] = 6;
  c->rejected[ZT_REASON_DEVICE_AUTH] = 2;
  c->rejected[ZT_REASON_TIMEOUT] = 3;
  c->rejected[0] = 1;
  c->rejected[13] = 1; /* a code without a name: counted as "other" */
  f->srv.dp = f->dp;
  f->srv.ndp = 2;
  f->dp[0].drops[DROP_POLICY] = 4;
  f->dp[1].drops[DROP_POLICY] = 3;
  f->dp[1].drops[DROP_UNSOLICITED] = 2;
  f->dp[0].c.dgrams_in = 100;
  f->dp[1].c.dgrams_in = 23;
  f->dp[1].c.dgrams_out = 9;
  f->dp[0].c.dropped[ZT_OPEN_REPLAY] = 5;
  f->dp[1].c.dropped[ZT_OPEN_AUTH] = 6;
  f->dp[1].c.roams = 1;
  f->dp[0].c.rekeys = 2;
  f->dp[1].c.rekeys = 2;
  f->dp[0].c.fallbacks = 1;
  c->reauths = 3;
  f->live[0].on_udp = 1;
  c->idle_timeouts = 1;
  f->srv.reloads = 3;
  f->srv.reload_failures = 1;
  /* One established session, one still in its handshake. */
  f->live[0].state = SS_ESTABLISHED;
  f->live[0].conn.bytes_in = 1000;
  f->live[0].conn.bytes_out = 2000;
  f->live[0].pkts_in = 10;
  f->live[0].pkts_out = 20;
  f->live[1].state = SS_AWAIT_PROOF;
  f->live[1].conn.bytes_in = 300;
  f->live[0].next = &f->live[1];
  f->srv.sessions = &f->live[0];
  f->srv.nsessions = 2;
  f->srv.nhandshakes = 1;
  /* Two ended sessions, as session teardown reports them. */
  struct session gone = {.state = SS_ESTABLISHED};
  gone.conn.bytes_in = 5;
  gone.conn.bytes_out = 7;
  gone.pkts_in = 1;
  gone.pkts_out = 2;
  metrics_session_ended(&f->srv.ended, &gone, ZT_REASON_REVOKED);
  metrics_session_ended(&f->srv.ended, &gone, 999); /* a client's odd CLOSE code */
  gone.state = SS_HANDSHAKE; /* bytes count, no closed session */
  metrics_session_ended(&f->srv.ended, &gone, ZT_REASON_PROTOCOL);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  free(*state);
  return 0;
}

/* Renders |srv| into a NUL-terminated string (free with OPENSSL_free). */
static char *render(const struct server *srv) {
  CBB cbb;
  uint8_t *out;
  size_t len;
  assert_true(CBB_init(&cbb, 0));
  assert_true(metrics_render(srv, &cbb));
  assert_true(CBB_add_u8(&cbb, '\0'));
  assert_true(CBB_finish(&cbb, &out, &len));
  assert_int_equal(strlen((char *)out), len - 1);
  return (char *)out;
}

/* has_line: |text| has |line| as a whole line. */
static int has_line(const char *text, const char *line) {
  size_t n = strlen(line);
  for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
    if ((p == text || p[-1] == '\n') && p[n] == '\n') return 1;
  return 0;
}

static void test_exact_values(void **state) {
  struct fixture *f = *state;
  char *t = render(&f->srv);
  static const char *const want[] = {
      "ztvpn_start_time_seconds 1700000000",
      "ztvpn_sessions 1",
      "ztvpn_sessions_max 100",
      "ztvpn_handshakes_in_progress 1",
      "ztvpn_connections_total 20",
      "ztvpn_handshakes_total{result=\"admitted\"} 5",
      "ztvpn_handshakes_total{result=\"rejected\"} 10", /* 6 + 2 + 1 + 1 */
      "ztvpn_handshakes_total{result=\"refused\"} 4",
      "ztvpn_handshakes_total{result=\"timeout\"} 3",
      "ztvpn_rejections_total{reason=\"user-auth\"} 6",
      "ztvpn_rejections_total{reason=\"device-auth\"} 2",
      "ztvpn_rejections_total{reason=\"timeout\"} 3",
      "ztvpn_rejections_total{reason=\"other\"} 2",
      "ztvpn_rejections_total{reason=\"policy\"} 0", /* zeros are there too */
      "ztvpn_refused_total{limit=\"handshakes\"} 1",
      "ztvpn_refused_total{limit=\"source-handshakes\"} 0",
      "ztvpn_refused_total{limit=\"source-rate\"} 3",
      "ztvpn_sessions_closed_total{reason=\"revoked\"} 1",
      "ztvpn_sessions_closed_total{reason=\"other\"} 1",
      "ztvpn_sessions_closed_total{reason=\"protocol\"} 0",
      "ztvpn_idle_timeouts_total 1",
      /* live 1000 + 300, ended 5 + 5 + 5 */
      "ztvpn_bytes_total{direction=\"from_client\"} 1315",
      "ztvpn_bytes_total{direction=\"to_client\"} 2021",
      "ztvpn_packets_total{direction=\"from_client\"} 13",
      "ztvpn_packets_total{direction=\"to_client\"} 26",
      "ztvpn_drops_total{reason=\"policy\"} 7",
      "ztvpn_drops_total{reason=\"unsolicited\"} 2",
      "ztvpn_drops_total{reason=\"spoofed-source\"} 0",
      "ztvpn_policy_denied_total 7",
      "ztvpn_reloads_total{result=\"ok\"} 2",
      "ztvpn_reloads_total{result=\"failed\"} 1",
      "ztvpn_metrics_refused_total 0",
      "ztvpn_sessions_udp 1",
      "ztvpn_udp_datagrams_total{direction=\"in\"} 123",
      "ztvpn_udp_datagrams_total{direction=\"out\"} 9",
      "ztvpn_udp_dropped_total{reason=\"replay\"} 5",
      "ztvpn_udp_dropped_total{reason=\"auth\"} 6",
      "ztvpn_udp_dropped_total{reason=\"unknown-index\"} 0",
      "ztvpn_udp_roams_total 1",
      "ztvpn_rekeys_total 4",
      "ztvpn_reauths_total 3",
      "ztvpn_path_fallbacks_total 1",
      "# TYPE ztvpn_bytes_total counter",
      "# TYPE ztvpn_sessions gauge",
  };
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
    if (!has_line(t, want[i])) fail_msg("missing line: %s\n%s", want[i], t);
  }
  /* A code without a name never shows as "unknown". */
  assert_null(strstr(t, "\"unknown\""));
  OPENSSL_free(t);
}

/* ---- a checker for the text format, line by line -------------------------------- */

static int name_len(const char *p, int colon_ok) {
  int n = 0;
  while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z') || p[n] == '_' ||
         (colon_ok && p[n] == ':') || (n > 0 && p[n] >= '0' && p[n] <= '9'))
    n++;
  return n;
}

/* A label value up to its closing quote: only \\, \" and \n escapes, no raw
 * newline. Returns its length without the quote, or -1. */
static int label_value_len(const char *p) {
  int n = 0;
  for (;;) {
    if (p[n] == '"') return n;
    if (p[n] == '\0' || p[n] == '\n') return -1;
    if (p[n] == '\\') {
      if (p[n + 1] != '\\' && p[n + 1] != '"' && p[n + 1] != 'n') return -1;
      n++;
    }
    n++;
  }
}

/* A sample line: NAME[{L="V",...}] VALUE, the value a plain integer or
 * float. Returns the metric name's length, or 0. */
static int sample_ok(const char *line) {
  int n = name_len(line, 1);
  const char *p = line + n;
  if (n == 0) return 0;
  if (*p == '{') {
    p++;
    while (*p != '}') {
      int l = name_len(p, 0);
      if (l == 0 || p[l] != '=' || p[l + 1] != '"') return 0;
      p += l + 2;
      int v = label_value_len(p);
      if (v < 0) return 0;
      p += v + 1;
      if (*p == ',') p++;
      else if (*p != '}') return 0;
    }
    p++;
  }
  if (*p++ != ' ') return 0;
  char *end;
  strtod(p, &end);
  if (end == p || *end != '\0') return 0;
  for (; *p; p++)
    if (!strchr("0123456789.eE+-", *p)) return 0;
  return n;
}

struct seen {
  char name[64];
  int help, type, samples;
};

static struct seen *find(struct seen *s, size_t *n, const char *name, size_t len) {
  for (size_t i = 0; i < *n; i++)
    if (strlen(s[i].name) == len && memcmp(s[i].name, name, len) == 0) return &s[i];
  assert_true(*n < 64 && len < sizeof(s[0].name));
  memcpy(s[*n].name, name, len);
  s[*n].name[len] = '\0';
  return &s[(*n)++];
}

static void test_grammar(void **state) {
  struct fixture *f = *state;
  char *t = render(&f->srv);
  struct seen *seen = calloc(64, sizeof(*seen));
  size_t nseen = 0;
  const char *current = NULL;
  size_t current_len = 0;
  assert_true(strlen(t) > 0 && t[strlen(t) - 1] == '\n');
  for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
    if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
      int n = name_len(line + 7, 1);
      if (n == 0 || line[7 + n] != ' ') fail_msg("bad line: %s", line);
      struct seen *s = find(seen, &nseen, line + 7, (size_t)n);
      if (s->samples) fail_msg("HELP/TYPE after samples: %s", line);
      if (line[2] == 'H') {
        s->help++;
        continue;
      }
      const char *type = line + 8 + n;
      if (strcmp(type, "counter") != 0 && strcmp(type, "gauge") != 0)
        fail_msg("bad type: %s", line);
      if (strcmp(type, "counter") == 0 && (n < 6 || memcmp(line + 7 + n - 6, "_total", 6) != 0))
        fail_msg("counter without _total: %s", line);
      s->type++;
      current = s->name;
      current_len = (size_t)n;
      continue;
    }
    int n = sample_ok(line);
    if (n == 0) fail_msg("not exposition syntax: %s", line);
    /* The samples of a metric follow its own TYPE line. */
    if (!current || current_len != (size_t)n || memcmp(current, line, (size_t)n) != 0)
      fail_msg("sample outside its metric's block: %s", line);
    find(seen, &nseen, line, (size_t)n)->samples++;
  }
  assert_true(nseen >= 18);
  for (size_t i = 0; i < nseen; i++) {
    if (seen[i].help != 1 || seen[i].type != 1 || seen[i].samples == 0)
      fail_msg("%s: %d HELP, %d TYPE, %d samples", seen[i].name, seen[i].help, seen[i].type,
               seen[i].samples);
  }
  free(seen);
  OPENSSL_free(t);
}

/* ---- label values ---------------------------------------------------------------- */

static void expect_label(const char *in, const char *want) {
  CBB cbb;
  assert_true(CBB_init(&cbb, 0));
  assert_true(metrics_label_value(&cbb, in));
  assert_int_equal(CBB_len(&cbb), strlen(want));
  assert_memory_equal(CBB_data(&cbb), want, strlen(want));
  CBB_cleanup(&cbb);
}

static void test_label_escaping(void **state) {
  (void)state;
  expect_label("", "");
  expect_label("1.2.3", "1.2.3");
  expect_label("a\\b", "a\\\\b");
  expect_label("say \"hi\"", "say \\\"hi\\\"");
  expect_label("two\nlines", "two\\nlines");
  expect_label("\\\"\n", "\\\\\\\"\\n");
  /* Control bytes and non-ASCII: never raw, so always valid one-line UTF-8. */
  expect_label("tab\there\r\x01\x7f", "tab?here???");
  expect_label("caf\xc3\xa9", "caf??");
  /* What comes out passes the checker's label grammar. */
  char *line = NULL;
  CBB cbb;
  size_t len;
  assert_true(CBB_init(&cbb, 0));
  assert_true(CBB_add_bytes(&cbb, (const uint8_t *)"m{l=\"", 5));
  assert_true(metrics_label_value(&cbb, "x\\\"\n\"y\\"));
  assert_true(CBB_add_bytes(&cbb, (const uint8_t *)"\"} 1", 5)); /* with the NUL */
  assert_true(CBB_finish(&cbb, (uint8_t **)&line, &len));
  assert_int_equal(sample_ok(line), 1);
  OPENSSL_free(line);
}

/* ---- bounded output ------------------------------------------------------------- */

static void test_bounded_buffer(void **state) {
  struct fixture *f = *state;
  char *full = render(&f->srv);
  size_t need = strlen(full);
  uint8_t *buf = malloc(need + 16);
  assert_non_null(buf);
  /* Every size short of the whole text fails, and never writes past it. */
  for (size_t size = 0; size < need; size += (size < 64 || need - size < 64) ? 1 : 97) {
    CBB cbb;
    memset(buf, 0xAA, need + 16);
    assert_true(CBB_init_fixed(&cbb, buf, size));
    assert_false(metrics_render(&f->srv, &cbb));
    CBB_cleanup(&cbb);
    for (size_t i = size; i < need + 16; i++) assert_int_equal(buf[i], 0xAA);
  }
  CBB cbb;
  size_t len;
  assert_true(CBB_init_fixed(&cbb, buf, need));
  assert_true(metrics_render(&f->srv, &cbb));
  assert_true(CBB_finish(&cbb, NULL, &len));
  assert_int_equal(len, need);
  assert_memory_equal(buf, full, need);
  assert_true(need < METRICS_MAX_TEXT);
  free(buf);
  OPENSSL_free(full);
}

/* Rendering has no side effects: two scrapes give the same text, and one
 * with no sessions at all still lists every series. */
static void test_idempotent_and_empty(void **state) {
  struct fixture *f = *state;
  char *a = render(&f->srv), *b = render(&f->srv);
  assert_string_equal(a, b);
  struct server empty;
  memset(&empty, 0, sizeof(empty));
  empty.cfg = &f->cfg;
  char *e = render(&empty);
  assert_true(has_line(e, "ztvpn_sessions 0"));
  assert_true(has_line(e, "ztvpn_bytes_total{direction=\"to_client\"} 0"));
  assert_true(has_line(e, "ztvpn_rejections_total{reason=\"user-auth\"} 0"));
  /* Same series, other values: the same number of lines. */
  size_t la = 0, le = 0;
  for (char *p = a; *p; p++) la += *p == '\n';
  for (char *p = e; *p; p++) le += *p == '\n';
  assert_int_equal(la, le);
  OPENSSL_free(a);
  OPENSSL_free(b);
  OPENSSL_free(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_exact_values, setup, teardown),
      cmocka_unit_test_setup_teardown(test_grammar, setup, teardown),
      cmocka_unit_test(test_label_escaping),
      cmocka_unit_test_setup_teardown(test_bounded_buffer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_idempotent_and_empty, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

#include "metrics.h"

#include <stdio.h>
#include <string.h>

#include "metrics_http.h"
#include "proto.h"
#include "server.h"

#ifndef ZTVPN_VERSION
#define ZTVPN_VERSION "unknown"
#endif

/* Slot 0 of the reason arrays holds every code without a name of its own
 * (a client's CLOSE may carry any number): one series, "other". */
static uint16_t reason_slot(uint16_t code) {
  return code < REASON_SLOTS && strcmp(zt_reason_name(code), "unknown") != 0 ? code : 0;
}

static const char *slot_name(uint16_t slot) {
  return slot == 0 ? "other" : zt_reason_name(slot);
}

void metrics_session_ended(struct session_totals *t, const struct session *s,
                           uint16_t code) {
  t->bytes_in += s->conn.bytes_in;
  t->bytes_out += s->conn.bytes_out;
  t->packets_in += s->pkts_in;
  t->packets_out += s->pkts_out;
  if (s->state == SS_ESTABLISHED) t->closed[reason_slot(code)]++;
}

static int add_str(CBB *out, const char *s) {
  return CBB_add_bytes(out, (const uint8_t *)s, strlen(s));
}

int metrics_label_value(CBB *out, const char *v) {
  int ok = 1;
  for (const unsigned char *p = (const unsigned char *)v; *p && ok; p++) {
    if (*p == '\\') ok = add_str(out, "\\\\");
    else if (*p == '"') ok = add_str(out, "\\\"");
    else if (*p == '\n') ok = add_str(out, "\\n");
    else ok = CBB_add_u8(out, *p >= 0x20 && *p < 0x7f ? *p : '?');
  }
  return ok;
}

/* The HELP and TYPE lines of a metric. HELP text escapes only backslash
 * and newline; ours are constants without either. */
static int head(CBB *out, const char *name, const char *type, const char *help) {
  return add_str(out, "# HELP ") && add_str(out, name) && CBB_add_u8(out, ' ') &&
         add_str(out, help) && add_str(out, "\n# TYPE ") && add_str(out, name) &&
         CBB_add_u8(out, ' ') && add_str(out, type) && CBB_add_u8(out, '\n');
}

/* One sample: NAME VALUE, or NAME{LABEL="VALUE"} VALUE with |label|. */
static int sample(CBB *out, const char *name, const char *label, const char *lv,
                  uint64_t v) {
  char num[24];
  snprintf(num, sizeof(num), " %llu\n", (unsigned long long)v);
  if (!add_str(out, name)) return 0;
  if (label && !(CBB_add_u8(out, '{') && add_str(out, label) && add_str(out, "=\"") &&
                 metrics_label_value(out, lv) && add_str(out, "\"}")))
    return 0;
  return add_str(out, num);
}

static int single(CBB *out, const char *name, const char *type, const char *help,
                  uint64_t v) {
  return head(out, name, type, help) && sample(out, name, NULL, NULL, v);
}

/* A counter with one series per reason slot, zeros included, so that a
 * dashboard sees every reason before it first happens. */
static int by_reason(CBB *out, const char *name, const char *help, const uint64_t *slots) {
  uint64_t v[REASON_SLOTS] = {0};
  for (uint16_t code = 0; code < REASON_SLOTS; code++) v[reason_slot(code)] += slots[code];
  if (!head(out, name, "counter", help)) return 0;
  for (uint16_t slot = 0; slot < REASON_SLOTS; slot++)
    if (reason_slot(slot) == slot && !sample(out, name, "reason", slot_name(slot), v[slot]))
      return 0;
  return 1;
}

static int two_ways(CBB *out, const char *name, const char *help, uint64_t from_client,
                    uint64_t to_client) {
  return head(out, name, "counter", help) &&
         sample(out, name, "direction", "from_client", from_client) &&
         sample(out, name, "direction", "to_client", to_client);
}

static int handshakes(CBB *out, const struct server_counters *c) {
  /* Before admission, a timeout can only be the handshake deadline. */
  uint64_t rejected = 0, timeout = c->rejected[ZT_REASON_TIMEOUT];
  for (uint16_t code = 0; code < REASON_SLOTS; code++)
    if (code != ZT_REASON_TIMEOUT) rejected += c->rejected[code];
  static const char name[] = "ztvpn_handshakes_total";
  return head(out, name, "counter",
              "Accepted TCP connections by outcome: admitted; rejected before admission "
              "(ztvpn_rejections_total has the reasons); refused at accept by a limit "
              "(ztvpn_refused_total); closed at the handshake_timeout deadline") &&
         sample(out, name, "result", "admitted", c->admitted) &&
         sample(out, name, "result", "rejected", rejected) &&
         sample(out, name, "result", "refused", c->refused) &&
         sample(out, name, "result", "timeout", timeout);
}

static int identity(CBB *out, const struct server *srv) {
  return head(out, "ztvpn_build_info", "gauge", "Always 1; the version as a label") &&
         sample(out, "ztvpn_build_info", "version", ZTVPN_VERSION, 1) &&
         single(out, "ztvpn_start_time_seconds", "gauge",
                "When the concentrator started, in seconds since the Unix epoch",
                (uint64_t)(srv->started > 0 ? srv->started : 0)) &&
         single(out, "ztvpn_sessions", "gauge", "Established sessions",
                srv->nsessions - srv->nhandshakes) &&
         single(out, "ztvpn_sessions_max", "gauge", "The max_sessions setting",
                srv->cfg ? srv->cfg->max_sessions : 0) &&
         single(out, "ztvpn_handshakes_in_progress", "gauge",
                "Accepted connections not yet admitted or closed", srv->nhandshakes) &&
         single(out, "ztvpn_policy_rules", "gauge", "Rules of the policy in force",
                srv->policy ? srv->policy->nrules : 0);
}

static int connections(CBB *out, const struct server *srv) {
  const struct server_counters *c = &srv->counters;
  if (!single(out, "ztvpn_connections_total", "counter", "TCP connections accepted",
              c->connections) ||
      !handshakes(out, c) ||
      !by_reason(out, "ztvpn_rejections_total",
                 "Connections closed before admission, by reason (timeout: the handshake "
                 "deadline; shutdown: the client went away)",
                 c->rejected) ||
      !head(out, "ztvpn_refused_total", "counter",
            "Connections closed at accept, by the pre-authentication limit that refused "
            "them"))
    return 0;
  for (int r = 0; r < REFUSE_MAX; r++)
    if (!sample(out, "ztvpn_refused_total", "limit",
                refuse_reason_name((enum refuse_reason)r), c->refused_by[r]))
      return 0;
  return by_reason(out, "ztvpn_sessions_closed_total",
                   "Established sessions that ended, by reason (revoked: a certificate "
                   "revoked or expired; policy: no longer admitted after a reload; timeout: "
                   "no keepalive, or idle_timeout)",
                   srv->ended.closed) &&
         single(out, "ztvpn_idle_timeouts_total", "counter",
                "Sessions closed by idle_timeout (also counted in "
                "ztvpn_sessions_closed_total{reason=\"timeout\"})",
                c->idle_timeouts);
}

static int traffic(CBB *out, const struct server *srv) {
  struct session_totals t = srv->ended;
  uint64_t drops[DROP_MAX];
  server_drops(srv, drops);
  for (const struct session *s = srv->sessions; s; s = s->next) {
    t.bytes_in += s->conn.bytes_in;
    t.bytes_out += s->conn.bytes_out;
    t.packets_in += s->pkts_in;
    t.packets_out += s->pkts_out;
  }
  if (!two_ways(out, "ztvpn_bytes_total",
                "Bytes through the tunnels (TLS plaintext: framed packets and messages), "
                "live and ended sessions",
                t.bytes_in, t.bytes_out) ||
      !two_ways(out, "ztvpn_packets_total",
                "Tunnel packets forwarded: from_client to the network, to_client from it",
                t.packets_in, t.packets_out) ||
      !head(out, "ztvpn_drops_total", "counter", "Packets dropped, by reason"))
    return 0;
  for (int r = 0; r < DROP_MAX; r++)
    if (!sample(out, "ztvpn_drops_total", "reason", drop_reason_name((enum drop_reason)r),
                drops[r]))
      return 0;
  return single(out, "ztvpn_policy_denied_total", "counter",
                "Packets from clients that the policy denied: the same count as "
                "ztvpn_drops_total{reason=\"policy\"} (inbound traffic the policy does not "
                "allow is reason=\"unsolicited\")",
                drops[DROP_POLICY]);
}

static int reloads(CBB *out, const struct server *srv) {
  static const char name[] = "ztvpn_reloads_total";
  return head(out, name, "counter",
              "Reloads of the CRLs and the policy (SIGHUP or ztvpn-ctl reload); a failed "
              "one left the previous configuration in force") &&
         sample(out, name, "result", "ok", srv->reloads - srv->reload_failures) &&
         sample(out, name, "result", "failed", srv->reload_failures) &&
         single(out, "ztvpn_flows_ended_by_reload_total", "counter",
                "Flows ended because a reload narrowed the policy of their session",
                srv->counters.flows_dropped) &&
         single(out, "ztvpn_metrics_refused_total", "counter",
                "Metrics connections closed at accept: too many in progress",
                metrics_http_refused(srv));
}

/* The UDP data channel; all zero without udp_listen. */
static int data_channel(CBB *out, const struct server *srv) {
  struct udp_counters sum;
  const struct udp_counters *c = &sum;
  udp_counters_sum(srv, &sum);
  uint64_t on_udp = 0;
  for (const struct session *s = srv->sessions; s; s = s->next) on_udp += s->on_udp;
  if (!single(out, "ztvpn_sessions_udp", "gauge",
              "Established sessions whose data to the client goes over UDP now", on_udp) ||
      !head(out, "ztvpn_udp_datagrams_total", "counter",
            "Authenticated UDP datagrams received (in) and sent (out), probes included") ||
      !sample(out, "ztvpn_udp_datagrams_total", "direction", "in", c->dgrams_in) ||
      !sample(out, "ztvpn_udp_datagrams_total", "direction", "out", c->dgrams_out) ||
      !head(out, "ztvpn_udp_dropped_total", "counter",
            "UDP datagrams dropped unanswered, by reason: malformed, unknown-index, epoch "
            "(no key for it), replay, auth (failed authentication)"))
    return 0;
  for (int r = ZT_OPEN_MALFORMED; r <= ZT_OPEN_AUTH; r++)
    if (!sample(out, "ztvpn_udp_dropped_total", "reason",
                zt_open_result_name((enum zt_open_result)r), c->dropped[r]))
      return 0;
  return single(out, "ztvpn_udp_send_errors_total", "counter",
                "Datagrams the kernel refused to send (full buffer, unreachable client)",
                c->send_errors) &&
         single(out, "ztvpn_udp_roams_total", "counter",
                "Times a client's UDP address changed (the newest authenticated datagram "
                "came from elsewhere)",
                c->roams) &&
         single(out, "ztvpn_rekeys_total", "counter",
                "Key epoch changes of the UDP data channel, both directions", c->rekeys) &&
         single(out, "ztvpn_reauths_total", "counter",
                "Sessions re-authenticated on a new connection (both certificates and the "
                "user proof checked again)",
                srv->counters.reauths) &&
         single(out, "ztvpn_path_fallbacks_total", "counter",
                "Times a session's data to the client fell back from UDP to the TLS stream",
                c->fallbacks);
}

int metrics_render(const struct server *srv, CBB *out) {
  return identity(out, srv) && connections(out, srv) && traffic(out, srv) &&
         reloads(out, srv) && data_channel(out, srv);
}

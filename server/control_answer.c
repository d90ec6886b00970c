#include "control_answer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "ctlsock.h"
#include "log.h"
#include "privsep.h"
#include "proto.h"
#include "server.h"

#ifndef ZTVPN_VERSION
#define ZTVPN_VERSION "unknown"
#endif

int control_answer_error(CBB *out, const char *msg) {
  char line[1100];
  /* The message may quote a file or a name: it must stay one line. */
  snprintf(line, sizeof(line), "%s", msg);
  for (char *c = line; *c; c++)
    if (*c < 0x20 || *c > 0x7e) *c = '?';
  return zt_ctl_printf(out, "error %s\n", line);
}

static void group_ptrs(const struct zt_identity *id, const char **out) {
  for (size_t i = 0; i < id->ngroups && i < ZT_MAX_GROUPS; i++) out[i] = id->groups[i];
}

int control_answer_status(struct server *srv, int json, uint64_t accepted, uint64_t refused,
                          CBB *out) {
  struct zt_ctl_kv kv;
  char t[32], sandbox[128];
  time_t now = time(NULL);
  const char *reason_names[REASON_SLOTS], *drop_names[DROP_MAX], *refuse_names[REFUSE_MAX];
  uint64_t reason_counts[REASON_SLOTS];
  size_t nreasons = 0;
  for (uint16_t code = 0; code < REASON_SLOTS; code++) {
    const char *name = code == 0 ? "other" : zt_reason_name(code);
    if (code != 0 && strcmp(name, "unknown") == 0) continue;
    reason_names[nreasons] = name;
    reason_counts[nreasons++] = srv->counters.rejected[code];
  }
  for (int r = 0; r < DROP_MAX; r++) drop_names[r] = drop_reason_name((enum drop_reason)r);
  for (int r = 0; r < REFUSE_MAX; r++)
    refuse_names[r] = refuse_reason_name((enum refuse_reason)r);

  if (!zt_ctl_printf(out, "ok\n")) return 0;
  zt_ctl_kv_begin(&kv, out, json);
  zt_ctl_kv_str(&kv, "program", "ztvpn-server");
  zt_ctl_kv_str(&kv, "version", ZTVPN_VERSION);
  zt_ctl_kv_str(&kv, "sandbox", privsep_describe(sandbox, sizeof(sandbox)));
  zt_ctl_kv_str(&kv, "started", srv->started ? zt_ctl_time_iso(srv->started, t, sizeof(t)) : NULL);
  zt_ctl_kv_u64(&kv, "uptime_seconds",
                srv->started && now > srv->started ? (uint64_t)(now - srv->started) : 0);
  zt_ctl_kv_u64(&kv, "sessions_established", srv->nsessions - srv->nhandshakes);
  zt_ctl_kv_u64(&kv, "sessions_handshaking", srv->nhandshakes);
  zt_ctl_kv_u64(&kv, "max_sessions", srv->cfg->max_sessions);
  zt_ctl_kv_u64(&kv, "max_handshakes", srv->cfg->max_handshakes);
  zt_ctl_kv_u64(&kv, "max_handshakes_per_source", srv->cfg->max_handshakes_per_source);
  zt_ctl_kv_u64(&kv, "connect_rate_per_source", srv->cfg->connect_rate_per_source);
  zt_ctl_kv_u64(&kv, "handshake_timeout", srv->cfg->handshake_timeout);
  zt_ctl_kv_u64(&kv, "idle_timeout", srv->cfg->idle_timeout);
  zt_ctl_kv_u64(&kv, "workers", srv->ndp);
  zt_ctl_kv_str(&kv, "policy_file",
                srv->policy && srv->policy->file[0] ? srv->policy->file : NULL);
  zt_ctl_kv_u64(&kv, "policy_rules", srv->policy ? srv->policy->nrules : 0);
  zt_ctl_kv_u64(&kv, "reloads", srv->reloads);
  zt_ctl_kv_u64(&kv, "reload_failures", srv->reload_failures);
  zt_ctl_kv_str(&kv, "last_reload",
                srv->last_reload ? zt_ctl_time_iso(srv->last_reload, t, sizeof(t)) : NULL);
  zt_ctl_kv_str(&kv, "last_reload_result",
                srv->last_reload ? (srv->last_reload_ok ? "ok" : "failed") : NULL);
  zt_ctl_kv_u64(&kv, "connections", srv->counters.connections);
  zt_ctl_kv_u64(&kv, "refused", srv->counters.refused);
  zt_ctl_kv_counts(&kv, "refused_by", refuse_names, srv->counters.refused_by, REFUSE_MAX);
  zt_ctl_kv_u64(&kv, "handshake_timeouts", srv->counters.rejected[ZT_REASON_TIMEOUT]);
  zt_ctl_kv_u64(&kv, "idle_timeouts", srv->counters.idle_timeouts);
  zt_ctl_kv_u64(&kv, "admitted", srv->counters.admitted);
  zt_ctl_kv_counts(&kv, "rejected", reason_names, reason_counts, nreasons);
  zt_ctl_kv_u64(&kv, "ended", srv->counters.ended);
  uint64_t drops[DROP_MAX];
  server_drops(srv, drops);
  zt_ctl_kv_counts(&kv, "drops", drop_names, drops, DROP_MAX);
  zt_ctl_kv_u64(&kv, "control_accepted", accepted);
  zt_ctl_kv_u64(&kv, "control_refused", refused);
  return zt_ctl_kv_end(&kv) && (!json || CBB_add_u8(out, '\n'));
}

static uint64_t drops_total(const struct session *s) {
  uint64_t n = 0;
  for (int r = 0; r < DROP_MAX; r++) n += s->drops[r];
  return n;
}

static int session_json(const struct session *s, CBB *out) {
  struct zt_ctl_kv kv;
  char a4[ZT_ADDR_STRLEN], a6[ZT_ADDR_STRLEN], t[32];
  const char *ug[ZT_MAX_GROUPS], *dg[ZT_MAX_GROUPS], *drop_names[DROP_MAX];
  group_ptrs(&s->user, ug);
  group_ptrs(&s->device, dg);
  for (int r = 0; r < DROP_MAX; r++) drop_names[r] = drop_reason_name((enum drop_reason)r);
  zt_ctl_kv_begin(&kv, out, 1);
  zt_ctl_kv_u64(&kv, "id", s->id);
  zt_ctl_kv_str(&kv, "user", s->user.name);
  zt_ctl_kv_list(&kv, "user_groups", ug, s->user.ngroups);
  zt_ctl_kv_str(&kv, "device", s->device.name);
  zt_ctl_kv_list(&kv, "device_groups", dg, s->device.ngroups);
  zt_ctl_kv_str(&kv, "addr4", zt_ip_format(&s->addr4, a4));
  zt_ctl_kv_str(&kv, "addr6", s->has_addr6 ? zt_ip_format(&s->addr6, a6) : NULL);
  zt_ctl_kv_str(&kv, "endpoint", s->peer);
  zt_ctl_kv_str(&kv, "since", zt_ctl_time_iso(s->since, t, sizeof(t)));
  zt_ctl_kv_u64(&kv, "since_epoch", (uint64_t)s->since);
  zt_ctl_kv_u64(&kv, "bytes_in", s->conn.bytes_in);
  zt_ctl_kv_u64(&kv, "bytes_out", s->conn.bytes_out);
  zt_ctl_kv_u64(&kv, "packets_in", s->pkts_in);
  zt_ctl_kv_u64(&kv, "packets_out", s->pkts_out);
  zt_ctl_kv_u64(&kv, "drops_total", drops_total(s));
  zt_ctl_kv_counts(&kv, "drops", drop_names, s->drops, DROP_MAX);
  zt_ctl_kv_u64(&kv, "flows", s->ct.count);
  char ep[64] = "";
  if (s->udp_peer_len) zt_sockaddr_format((const struct sockaddr *)&s->udp_peer, ep, sizeof(ep));
  zt_ctl_kv_str(&kv, "path", s->on_udp ? "udp" : "tls");
  zt_ctl_kv_str(&kv, "udp_endpoint", ep);
  zt_ctl_kv_u64(&kv, "udp_datagrams_in", s->udp_in);
  zt_ctl_kv_u64(&kv, "udp_datagrams_out", s->udp_out);
  zt_ctl_kv_u64(&kv, "epoch_tx", s->dc ? s->dc->tx.epoch : 0);
  zt_ctl_kv_u64(&kv, "epoch_rx", s->dc ? s->dc->rx.cur.epoch : 0);
  zt_ctl_kv_u64(&kv, "worker", s->worker);
  zt_ctl_kv_u64(&kv, "rekeys", s->rekeys);
  zt_ctl_kv_u64(&kv, "reauths", s->reauths);
  return zt_ctl_kv_end(&kv);
}

/* The text listing's columns. */
enum {
  COL_ID, COL_USER, COL_DEVICE, COL_ADDR4, COL_ADDR6, COL_ENDPOINT, COL_SINCE,
  COL_BYTES_IN, COL_BYTES_OUT, COL_PKTS_IN, COL_PKTS_OUT, COL_DROPS, COL_FLOWS,
  COL_USER_GROUPS, COL_DEVICE_GROUPS, NCOLS
};
static const char *const col_names[NCOLS] = {
    "ID", "USER", "DEVICE", "ADDR4", "ADDR6", "ENDPOINT", "SINCE", "BYTES-IN",
    "BYTES-OUT", "PKTS-IN", "PKTS-OUT", "DROPS", "FLOWS", "USER-GROUPS", "DEVICE-GROUPS"};
#define COL_MAX (ZT_MAX_GROUPS * (ZT_NAME_MAX + 1) + 1)

static void groups_text(const struct zt_identity *id, char *out) {
  size_t o = 0;
  snprintf(out, COL_MAX, "-");
  for (size_t i = 0; i < id->ngroups && o < COL_MAX; i++)
    o += (size_t)snprintf(out + o, COL_MAX - o, "%s%s", i ? "," : "", id->groups[i]);
}

static void session_row(const struct session *s, char cols[NCOLS][COL_MAX]) {
  char a[ZT_ADDR_STRLEN];
  snprintf(cols[COL_ID], COL_MAX, "%llu", (unsigned long long)s->id);
  snprintf(cols[COL_USER], COL_MAX, "%s", s->user.name);
  snprintf(cols[COL_DEVICE], COL_MAX, "%s", s->device.name);
  snprintf(cols[COL_ADDR4], COL_MAX, "%s", zt_ip_format(&s->addr4, a));
  snprintf(cols[COL_ADDR6], COL_MAX, "%s", s->has_addr6 ? zt_ip_format(&s->addr6, a) : "-");
  snprintf(cols[COL_ENDPOINT], COL_MAX, "%s", s->peer);
  zt_ctl_time_iso(s->since, cols[COL_SINCE], COL_MAX);
  snprintf(cols[COL_BYTES_IN], COL_MAX, "%llu", (unsigned long long)s->conn.bytes_in);
  snprintf(cols[COL_BYTES_OUT], COL_MAX, "%llu", (unsigned long long)s->conn.bytes_out);
  snprintf(cols[COL_PKTS_IN], COL_MAX, "%llu", (unsigned long long)s->pkts_in);
  snprintf(cols[COL_PKTS_OUT], COL_MAX, "%llu", (unsigned long long)s->pkts_out);
  snprintf(cols[COL_DROPS], COL_MAX, "%llu", (unsigned long long)drops_total(s));
  snprintf(cols[COL_FLOWS], COL_MAX, "%zu", s->ct.count);
  groups_text(&s->user, cols[COL_USER_GROUPS]);
  groups_text(&s->device, cols[COL_DEVICE_GROUPS]);
}

static int add_row(CBB *out, char cols[NCOLS][COL_MAX], const size_t *width) {
  for (int c = 0; c < NCOLS; c++) {
    /* The last column is not padded: no trailing spaces. */
    int w = c == NCOLS - 1 ? 0 : (int)width[c];
    if (!zt_ctl_printf(out, "%s%-*s", c ? "  " : "", w, cols[c])) return 0;
  }
  return CBB_add_u8(out, '\n');
}

static int by_id(const void *a, const void *b) {
  const struct session *x = *(const struct session *const *)a;
  const struct session *y = *(const struct session *const *)b;
  return x->id < y->id ? -1 : x->id > y->id;
}

int control_answer_sessions(struct server *srv, int json, CBB *out) {
  size_t n = 0, width[NCOLS];
  int ok = 1;
  for (struct session *s = srv->sessions; s; s = s->next) n += s->state == SS_ESTABLISHED;
  const struct session **list = calloc(n ? n : 1, sizeof(*list));
  char (*cols)[COL_MAX] = malloc(NCOLS * sizeof(*cols));
  if (!list || !cols) {
    free(list);
    free(cols);
    return control_answer_error(out, "out of memory");
  }
  n = 0;
  for (struct session *s = srv->sessions; s; s = s->next)
    if (s->state == SS_ESTABLISHED) list[n++] = s;
  qsort(list, n, sizeof(*list), by_id);

  ok = zt_ctl_printf(out, "ok\n");
  if (json) {
    ok = ok && zt_ctl_printf(out, "{\"sessions\":[");
    for (size_t i = 0; i < n && ok; i++)
      ok = (i == 0 || CBB_add_u8(out, ',')) && session_json(list[i], out);
    ok = ok && zt_ctl_printf(out, "]}\n");
  } else {
    /* Two passes: the widths first, so the columns line up. */
    for (int c = 0; c < NCOLS; c++) width[c] = strlen(col_names[c]);
    for (size_t i = 0; i < n; i++) {
      session_row(list[i], cols);
      for (int c = 0; c < NCOLS; c++)
        if (strlen(cols[c]) > width[c]) width[c] = strlen(cols[c]);
    }
    for (int c = 0; c < NCOLS; c++) snprintf(cols[c], COL_MAX, "%s", col_names[c]);
    ok = ok && add_row(out, cols, width);
    for (size_t i = 0; i < n && ok; i++) {
      session_row(list[i], cols);
      ok = add_row(out, cols, width);
    }
  }
  free(list);
  free(cols);
  return ok;
}

static int kill_matches(const struct zt_ctl_request *r, const struct session *s) {
  if (s->state != SS_ESTABLISHED) return 0;
  switch (r->by) {
    case ZT_CTL_KILL_ID: return s->id == r->id;
    case ZT_CTL_KILL_USER: return strcmp(s->user.name, r->name) == 0;
    case ZT_CTL_KILL_DEVICE: return strcmp(s->device.name, r->name) == 0;
  }
  return 0;
}

int control_answer_kill(struct server *srv, const struct zt_ctl_request *r, CBB *out) {
  CBB body;
  size_t killed = 0;
  int ok = CBB_init(&body, 256) && (!r->json || zt_ctl_printf(&body, "{\"killed\":["));
  struct session *next;
  for (struct session *s = srv->sessions; s; s = next) {
    /* Closing frees |s|; it touches no other session. */
    next = s->next;
    if (!kill_matches(r, s)) continue;
    if (ok && r->json) ok = (killed == 0 || CBB_add_u8(&body, ',')) &&
                            zt_ctl_printf(&body, "%llu", (unsigned long long)s->id);
    else if (ok)
      ok = zt_ctl_printf(&body, "killed session %llu (user %s, device %s)\n",
                         (unsigned long long)s->id, s->user.name, s->device.name);
    log_info("control: killing session %llu (%s@%s)", (unsigned long long)s->id,
             s->user.name, s->device.name);
    audit_kill(s, "control");
    session_close(s, ZT_REASON_KILLED, "killed by an administrator");
    killed++;
  }
  if (ok && r->json) ok = zt_ctl_printf(&body, "]}\n");
  if (killed == 0) ok = control_answer_error(out, "no matching session");
  else ok = ok && zt_ctl_printf(out, "ok\n") && CBB_add_bytes(out, CBB_data(&body), CBB_len(&body));
  CBB_cleanup(&body);
  return ok;
}

int control_answer_reload(struct server *srv, int json, CBB *out) {
  char msg[1024] = "";
  log_info("control: reload requested");
  if (!server_reload(srv, "control", msg, sizeof(msg))) return control_answer_error(out, msg);
  if (!zt_ctl_printf(out, "ok\n")) return 0;
  if (!json) return zt_ctl_printf(out, "%s\n", msg);
  struct zt_ctl_kv kv;
  zt_ctl_kv_begin(&kv, out, 1);
  zt_ctl_kv_str(&kv, "result", "ok");
  zt_ctl_kv_str(&kv, "detail", msg);
  return zt_ctl_kv_end(&kv) && CBB_add_u8(out, '\n');
}

int control_answer_metrics(struct server *srv, CBB *out) {
  return zt_ctl_printf(out, "ok\n") && metrics_render(srv, out);
}

#include "audit.h"

#include <stdio.h>

#include "log.h"
#include "proto.h"
#include "session.h"

/* Quotes |in| for a key="value" field: peers choose some of these bytes. */
static const char *quote(const char *in, char *out, size_t len) {
  size_t o = 0;
  for (const char *p = in; *p && o + 3 < len; p++) {
    if (*p == '"' || *p == '\\') out[o++] = '\\';
    out[o++] = (*p >= 0x20 && *p <= 0x7e) ? *p : '?';
  }
  out[o] = '\0';
  return out;
}

/* Joins the groups of |id| with commas, quoted for a key="value" field. */
static const char *groups(const struct zt_identity *id, char *out, size_t len) {
  char joined[ZT_MAX_GROUPS * (ZT_NAME_MAX + 1) + 1];
  size_t o = 0;
  joined[0] = '\0';
  for (size_t i = 0; i < id->ngroups; i++)
    o += (size_t)snprintf(joined + o, sizeof(joined) - o, "%s%s", i ? "," : "",
                          id->groups[i]);
  return quote(joined, out, len);
}

void audit_admit(const struct session *s) {
  char a4[ZT_ADDR_STRLEN], a6[ZT_ADDR_STRLEN] = "", u[160], d[160];
  char ug[2400], dg[2400];
  zt_ip_format(&s->addr4, a4);
  if (s->has_addr6) zt_ip_format(&s->addr6, a6);
  log_info("audit event=admit session=%llu user=\"%s\" device=\"%s\" addr4=%s%s%s "
           "endpoint=%s user_serial=%s device_serial=%s user_groups=\"%s\" "
           "device_groups=\"%s\"",
           (unsigned long long)s->id, quote(s->user.name, u, sizeof(u)),
           quote(s->device.name, d, sizeof(d)), a4, s->has_addr6 ? " addr6=" : "",
           a6, s->peer, s->user.serial, s->device.serial,
           groups(&s->user, ug, sizeof(ug)), groups(&s->device, dg, sizeof(dg)));
}

void audit_reauth(const struct session *s) {
  char u[160], d[160];
  log_info("audit event=reauth session=%llu user=\"%s\" device=\"%s\" endpoint=%s "
           "user_serial=%s device_serial=%s count=%u",
           (unsigned long long)s->id, quote(s->user.name, u, sizeof(u)),
           quote(s->device.name, d, sizeof(d)), s->peer, s->user.serial, s->device.serial,
           s->reauths);
}

void audit_kill(const struct session *s, const char *by) {
  char u[160], d[160];
  log_info("audit event=kill session=%llu user=\"%s\" device=\"%s\" by=%s",
           (unsigned long long)s->id, quote(s->user.name, u, sizeof(u)),
           quote(s->device.name, d, sizeof(d)), by);
}

void audit_reload(int ok, const char *trigger, const char *detail) {
  char q[1100];
  log_info("audit event=reload result=%s trigger=%s detail=\"%s\"",
           ok ? "ok" : "failed", trigger, quote(detail, q, sizeof(q)));
}

void audit_reject(const struct session *s, uint16_t code, const char *detail) {
  char q[1100], u[160], d[160];
  /* user and device are empty when the refusal came before they were known. */
  log_info("audit event=reject session=%llu reason=%s endpoint=%s user=\"%s\" "
           "device=\"%s\" detail=\"%s\"",
           (unsigned long long)s->id, zt_reason_name(code), s->peer,
           quote(s->user.name, u, sizeof(u)), quote(s->device.name, d, sizeof(d)),
           quote(detail, q, sizeof(q)));
}

void audit_end(const struct session *s, uint16_t code, const char *detail) {
  char q[1100], u[160], d[160];
  log_info("audit event=end session=%llu user=\"%s\" device=\"%s\" reason=%s "
           "detail=\"%s\" bytes_in=%llu bytes_out=%llu packets_in=%llu "
           "packets_out=%llu",
           (unsigned long long)s->id, quote(s->user.name, u, sizeof(u)),
           quote(s->device.name, d, sizeof(d)), zt_reason_name(code),
           quote(detail, q, sizeof(q)), (unsigned long long)s->conn.bytes_in,
           (unsigned long long)s->conn.bytes_out, (unsigned long long)s->pkts_in,
           (unsigned long long)s->pkts_out);
}

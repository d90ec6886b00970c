/* Reload: fresh CRLs and policy, validated whole before they replace the
 * ones in force, then every live session judged again. */
#include <stdio.h>
#include <string.h>

#include "admission.h"
#include "audit.h"
#include "conntrack.h"
#include "credentials.h"
#include "log.h"
#include "server.h"

/* A flow stays only if the new policy would still let it be opened. */
static int flow_still_allowed(const struct ct_key *key, enum ct_origin origin, void *arg) {
  const struct acl *acl = arg;
  struct policy_query q;
  ct_query(key, origin, &q);
  return acl_check(acl, origin == CT_FROM_CLIENT ? POLICY_OUT : POLICY_IN, &q) == PV_ALLOW;
}

struct reload_tally {
  unsigned kept, revoked, refused;
  size_t flows_dropped;
};

/* Judges |s| under the credentials and policy now in force; may close it. */
static void reevaluate(struct server *srv, struct session *s, struct reload_tally *t) {
  char why[300];
  uint16_t code = admission_recheck(SSL_CTX_get_cert_store(srv->tls), s->device_chain,
                                    "device", why, sizeof(why));
  if (code == 0 && s->state == SS_ESTABLISHED)
    code = admission_recheck(srv->user_store, s->user_chain, "user", why, sizeof(why));
  if (code != 0) {
    t->revoked++;
    srv->counters.revoked++;
    session_close(s, code, why);
    return;
  }
  if (s->state != SS_ESTABLISHED) return; /* judged at its user proof */
  if (!policy_admits(srv->policy, &s->user, &s->device, why, sizeof(why))) {
    t->refused++;
    srv->counters.policy_closed++;
    session_close(s, ZT_REASON_POLICY, why);
    return;
  }
  struct acl *acl = acl_cache_get(srv->acls, &s->user, &s->device);
  if (!acl) {
    session_close(s, ZT_REASON_INTERNAL, "cannot compile the new policy");
    return;
  }
  acl_free(s->acl);
  s->acl = acl;
  size_t gone = ct_retain(&s->ct, flow_still_allowed, acl);
  t->flows_dropped += gone;
  srv->counters.flows_dropped += gone;
  session_set_expiry(s);
  session_arm_timer(s);
  t->kept++;
  /* Last: it may close |s| if the client cannot be written to. */
  session_update_routes(s);
}

int server_reload(struct server *srv, const char *trigger, char *msg, size_t msglen) {
  const struct server_config *cfg = srv->cfg;
  struct server_creds creds;
  struct policy *pol = NULL;
  struct acl_cache *acls = NULL;
  char err[1024];
  /* Not the server's own key: the network process cannot read it. */
  int ok = server_reload_files_ok(cfg, err, sizeof(err));
  if (ok && !server_creds_renew(cfg, srv->tls, &creds, msg, msglen)) {
    /* server_creds_load names no file: say which configuration it was. */
    snprintf(err, sizeof(err), "%s: %s", cfg->file, msg);
    ok = 0;
  }
  if (ok) {
    pol = cfg->has_policy ? policy_load(cfg->policy, err, sizeof(err))
                          : policy_from_routes(cfg->routes, cfg->nroutes);
    if (pol) acls = acl_cache_new(pol);
    if (!pol || !acls) {
      if (!cfg->has_policy || pol) snprintf(err, sizeof(err), "out of memory");
      policy_free(pol);
      server_creds_free(&creds);
      ok = 0;
    }
  }
  srv->reloads++;
  srv->last_reload = time(NULL);
  srv->last_reload_ok = ok;
  if (!ok) {
    srv->reload_failures++;
    snprintf(msg, msglen, "%s", err);
    log_err("reload refused, the previous configuration stays in force: %s", err);
    audit_reload(0, trigger, err);
    return 0;
  }
  SSL_CTX_free(srv->tls); /* sessions mid-handshake hold their own reference */
  X509_STORE_free(srv->user_store);
  acl_cache_free(srv->acls); /* sessions hold references to what they use */
  policy_free(srv->policy);
  srv->tls = creds.tls;
  srv->user_store = creds.user_store;
  srv->policy = pol;
  srv->acls = acls;
  srv->generation++;

  struct reload_tally t = {0};
  for (struct session *s = srv->sessions, *next; s; s = next) {
    next = s->next; /* |s| may be freed */
    if (s->state != SS_HANDSHAKE) reevaluate(srv, s, &t);
  }
  snprintf(msg, msglen,
           "policy %s: %zu rules; sessions kept %u, closed %u revoked, %u no longer "
           "admitted; %zu flows ended",
           cfg->has_policy ? cfg->policy : "(tunnel.routes)", pol->nrules, t.kept,
           t.revoked, t.refused, t.flows_dropped);
  log_info("reloaded: %s", msg);
  audit_reload(1, trigger, msg);
  return 1;
}

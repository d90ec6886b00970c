#include "credentials.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "tls.h"

/* The trust anchors and CRLs: the device store into |*devices|, the user
 * store into |out|. Returns 1, or 0 with a reason (nothing left held). */
static int load_trust(const struct server_config *cfg, X509_STORE **devices_out,
                      struct server_creds *out, char *err, size_t errlen) {
  char why[512];
  const char *crls[SERVER_MAX_CRLS];
  memset(out, 0, sizeof(*out));
  *devices_out = NULL;
  for (size_t i = 0; i < cfg->ncrl; i++) crls[i] = cfg->crl[i];
  X509_STORE *devices = zt_trust_load(cfg->device_ca, crls, cfg->ncrl, why, sizeof(why));
  if (!devices) {
    snprintf(err, errlen, "device CA: %s", why);
    return 0;
  }
  out->user_store = zt_trust_load(cfg->user_ca, crls, cfg->ncrl, why, sizeof(why));
  if (!out->user_store) {
    X509_STORE_free(devices);
    snprintf(err, errlen, "user CA: %s", why);
    return 0;
  }
  if (!zt_ca_files_distinct(cfg->device_ca, cfg->user_ca, why, sizeof(why))) {
    X509_STORE_free(devices);
    snprintf(err, errlen, "%s", why);
    server_creds_free(out);
    return 0;
  }
  *devices_out = devices;
  return 1;
}

int server_creds_load(const struct server_config *cfg, struct server_creds *out,
                      char *err, size_t errlen) {
  char why[512];
  X509_STORE *devices;
  if (!load_trust(cfg, &devices, out, err, errlen)) return 0;
  /* The context takes the device store, even when it fails. */
  out->tls = zt_tls_server_ctx(cfg->cert, cfg->key, devices, why, sizeof(why));
  if (!out->tls) {
    snprintf(err, errlen, "%s", why);
    server_creds_free(out);
    return 0;
  }
  return 1;
}

void server_creds_free(struct server_creds *c) {
  SSL_CTX_free(c->tls);
  X509_STORE_free(c->user_store);
  c->tls = NULL;
  c->user_store = NULL;
}

int server_creds_renew(const struct server_config *cfg, const SSL_CTX *current,
                       struct server_creds *out, char *err, size_t errlen) {
  char why[512];
  X509_STORE *devices;
  if (!load_trust(cfg, &devices, out, err, errlen)) return 0;
  out->tls = zt_tls_server_ctx_renew(current, devices, why, sizeof(why));
  if (!out->tls) {
    snprintf(err, errlen, "%s", why);
    server_creds_free(out);
    return 0;
  }
  return 1;
}

int server_reload_files_ok(const struct server_config *cfg, char *err, size_t errlen) {
  /* One file at a time: a whole zt_conf_files is too big for the stack. */
  struct zt_conf_files *one = malloc(sizeof(*one));
  int ok = one != NULL;
  if (!one) snprintf(err, errlen, "out of memory");
  for (size_t i = 0; ok && i < cfg->files.n; i++) {
    const struct zt_conf_file *f = &cfg->files.f[i];
    if (f->path == cfg->cert || f->path == cfg->key) continue;
    one->n = 1;
    one->f[0] = *f;
    ok = zt_conf_check_files(one, err, errlen);
  }
  free(one);
  return ok;
}

#include "credentials.h"

#include <stdio.h>
#include <string.h>

#include "identity.h"
#include "tls.h"

int server_creds_load(const struct server_config *cfg, struct server_creds *out,
                      char *err, size_t errlen) {
  char why[512];
  const char *crls[SERVER_MAX_CRLS];
  memset(out, 0, sizeof(*out));
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

/* ztvpn-pki server|device|user: a key pair and a certificate from the CA of
 * that kind, written to DIR/servers|devices|users/NAME.{key,crt} (and, for
 * the first server, DIR/server.{key,crt}). */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ca_store.h"
#include "commands.h"
#include "keygen.h"
#include "pkifile.h"

/* out_paths: the files of NAME, and whether DIR/server.* gets a copy. */
struct out_paths {
  char crt[PATH_MAX], key[PATH_MAX];
  int gateway;
  char gw_crt[PATH_MAX], gw_key[PATH_MAX];
};

static int plan_outputs(const struct zt_pki_opts *o, struct out_paths *p) {
  const char *sub = zt_pki_kind_dir(o->kind);
  if (!zt_pki_path(p->crt, sizeof(p->crt), "%s/%s/%s.crt", o->dir, sub, o->name) ||
      !zt_pki_path(p->key, sizeof(p->key), "%s/%s/%s.key", o->dir, sub, o->name) ||
      !zt_pki_path(p->gw_crt, sizeof(p->gw_crt), "%s/server.crt", o->dir) ||
      !zt_pki_path(p->gw_key, sizeof(p->gw_key), "%s/server.key", o->dir))
    return zt_pki_fail("%s: path too long", o->dir);
  if (!o->force && (access(p->crt, F_OK) == 0 || access(p->key, F_OK) == 0))
    return zt_pki_fail("%s exists; --force replaces it", access(p->crt, F_OK) == 0 ? p->crt : p->key);
  /* The gateway's own files: made by the first server, replaced only with
   * --force (which also replaces servers/NAME.*). */
  p->gateway = o->kind == ZT_PKI_SERVER &&
               (o->force || (access(p->gw_crt, F_OK) != 0 && access(p->gw_key, F_OK) != 0));
  return 0;
}

int zt_pki_cmd_issue(const struct zt_pki_opts *o) {
  struct zt_pki_ca ca;
  struct zt_pki_cert_spec spec;
  struct zt_pki_san sans[ZT_PKI_MAX_SANS + 1];
  struct out_paths out;
  char err[512], path[PATH_MAX];
  EVP_PKEY *key = NULL;
  X509 *x = NULL;
  int rc = 1;

  if (plan_outputs(o, &out) != 0) return 1;
  if (!zt_pki_ca_open(o->dir, o->kind, &ca, err, sizeof(err))) return zt_pki_fail("%s", err);

  memset(&spec, 0, sizeof(spec));
  spec.profile = o->kind == ZT_PKI_SERVER ? ZT_PROFILE_SERVER : ZT_PROFILE_CLIENT;
  /* The organization of issued certificates is the CA's. */
  char org[ZT_PKI_ORG_MAX + 1];
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(ca.cert), NID_organizationName, org,
                                sizeof(org)) <= 0) {
    zt_pki_fail("%s.crt has no organization (O=)", zt_pki_kind_ca(o->kind));
    goto done;
  }
  spec.org = org;
  spec.cn = o->name;
  spec.ous = o->groups;
  spec.nous = o->ngroups;
  if (o->kind == ZT_PKI_SERVER) {
    memset(&sans[0], 0, sizeof(sans[0]));
    sans[0].type = ZT_SAN_DNS;
    snprintf(sans[0].dns, sizeof(sans[0].dns), "%s", o->name);
    memcpy(&sans[1], o->sans, o->nsans * sizeof(sans[0]));
    spec.sans = sans;
    spec.nsans = o->nsans + 1;
  }
  spec.not_before = o->has_not_before ? o->not_before : o->now - ZT_PKI_BACKDATE;
  spec.not_after = o->has_not_after ? o->not_after
                                    : (o->has_not_before ? o->not_before : o->now) +
                                          (int64_t)(o->days ? o->days : ZT_PKI_CLIENT_DAYS) * 86400;

  if (!zt_pki_mkdir(o->dir, 0755, err, sizeof(err)) ||
      !zt_pki_path(path, sizeof(path), "%s/%s", o->dir, zt_pki_kind_dir(o->kind)) ||
      !zt_pki_mkdir(path, 0755, err, sizeof(err))) {
    zt_pki_fail("%s", err);
    goto done;
  }
  if ((key = zt_pki_keygen(o->ed25519)) == NULL) {
    zt_pki_fail("cannot make a key");
    goto done;
  }
  if ((x = zt_pki_ca_issue(&ca, &spec, o->name, key, err, sizeof(err))) == NULL ||
      !zt_pki_write_key(out.key, key, o->force, err, sizeof(err)) ||
      !zt_pki_write_pem_cert(out.crt, x, o->force, err, sizeof(err))) {
    zt_pki_fail("%s", err);
    goto done;
  }
  printf("%s\n", out.crt);
  if (out.gateway) {
    if (!zt_pki_write_key(out.gw_key, key, o->force, err, sizeof(err)) ||
        !zt_pki_write_pem_cert(out.gw_crt, x, o->force, err, sizeof(err))) {
      zt_pki_fail("%s", err);
      goto done;
    }
    printf("%s\n", out.gw_crt);
  }
  rc = 0;
done:
  X509_free(x);
  EVP_PKEY_free(key);
  zt_pki_ca_close(&ca);
  return rc;
}

#include "query.h"

#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

/* A certificate file is recognised by its name, so that a user called
 * "alice" is never confused with a file called alice in the cwd. */
static int looks_like_file(const char *s) {
  size_t n = strlen(s);
  return strchr(s, '/') || (n > 4 && (strcmp(s + n - 4, ".crt") == 0 ||
                                      strcmp(s + n - 4, ".pem") == 0));
}

static int identity_arg(const char *arg, const char *kind, struct zt_identity *id,
                        FILE *err) {
  char why[256];
  if (!looks_like_file(arg)) {
    if (policy_identity_parse(arg, id)) return 1;
    fprintf(err, "%s '%s': expected NAME, NAME:GROUP,GROUP or a certificate file\n",
            kind, arg);
    return 0;
  }
  FILE *f = fopen(arg, "r");
  X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
  int ok = x && zt_identity_from_cert(x, id, why, sizeof(why));
  if (!f) fprintf(err, "%s certificate %s: cannot open it\n", kind, arg);
  else if (!x) fprintf(err, "%s certificate %s: not a PEM certificate\n", kind, arg);
  else if (!ok) fprintf(err, "%s certificate %s: %s\n", kind, arg, why);
  X509_free(x);
  if (f) fclose(f);
  ERR_clear_error();
  return ok;
}

int query_run(const struct policy *p, const char *user, const char *device,
              const char *dest, FILE *out, FILE *err) {
  struct zt_identity u, d;
  struct policy_query q;
  enum policy_dir dir = POLICY_OUT;
  const char *why = NULL;
  char reason[300];
  memset(&u, 0, sizeof(u));
  memset(&d, 0, sizeof(d));
  if (strncmp(dest, "from ", 5) == 0) {
    dir = POLICY_IN;
    dest += 5;
  }
  if (!identity_arg(user, "user", &u, err) || !identity_arg(device, "device", &d, err))
    return 2;
  if (!policy_query_parse(dest, &q, &why)) {
    fprintf(err, "destination '%s': %s\n", dest, why);
    return 2;
  }
  if (!policy_admits(p, &u, &d, reason, sizeof(reason))) {
    fprintf(out, "reject: %s\n", reason);
    return 1;
  }
  const struct policy_rule *rule = NULL;
  enum policy_verdict v = policy_eval(p, &u, &d, dir, &q, &rule);
  if (rule)
    fprintf(out, "%s: rule \"%s\" (%s:%u)\n", policy_verdict_name(v), rule->name, p->file,
            rule->line);
  else
    fprintf(out, "%s: no rule allows it\n", policy_verdict_name(v));
  return v == PV_ALLOW ? 0 : 1;
}

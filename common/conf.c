#include "conf.h"

#include <stdarg.h>
#include <stdio.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyfile.h"

int zt_conf_resolve(const char *dir, const char *path, char *out) {
  int n;
  if (path[0] == '/' || dir[0] == '\0')
    n = snprintf(out, ZT_PATH_LEN, "%s", path);
  else
    n = snprintf(out, ZT_PATH_LEN, "%s/%s", dir, path);
  return n > 0 && n < ZT_PATH_LEN;
}

int zt_conf_load(struct zt_conf *c, const char *path) {
  config_init(&c->cfg);
  snprintf(c->file, sizeof(c->file), "%s", path);
  c->err[0] = '\0';
  const char *slash = strrchr(path, '/');
  if (slash) {
    snprintf(c->dir, sizeof(c->dir), "%.*s", (int)(slash - path), path);
    if (c->dir[0] == '\0') snprintf(c->dir, sizeof(c->dir), "/");
  } else {
    c->dir[0] = '\0';
  }
  /* @include follows the same rule as every other relative path. */
  config_set_include_dir(&c->cfg, c->dir[0] ? c->dir : ".");
  if (config_read_file(&c->cfg, path) == CONFIG_TRUE) return 1;
  if (config_error_type(&c->cfg) == CONFIG_ERR_FILE_IO) {
    snprintf(c->err, sizeof(c->err), "%s:0: cannot read the file", path);
  } else {
    const char *f = config_error_file(&c->cfg);
    snprintf(c->err, sizeof(c->err), "%s:%d: %s", f ? f : path,
             config_error_line(&c->cfg), config_error_text(&c->cfg));
  }
  return 0;
}

void zt_conf_free(struct zt_conf *c) { config_destroy(&c->cfg); }

int zt_conf_fail(struct zt_conf *c, const config_setting_t *s, const char *fmt,
                 ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  const char *f = s ? config_setting_source_file(s) : NULL;
  unsigned line = 0;
  /* Array elements carry no line of their own: report their parent's. */
  for (const config_setting_t *p = s; p && line == 0; p = config_setting_parent(p))
    line = config_setting_source_line(p);
  snprintf(c->err, sizeof(c->err), "%s:%u: %s", f ? f : c->file, line, msg);
  return 0;
}

int zt_conf_check_keys(struct zt_conf *c, const config_setting_t *g,
                       const char *const *allowed) {
  int n = config_setting_length(g);
  for (int i = 0; i < n; i++) {
    const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
    const char *name = config_setting_name(m);
    int ok = 0;
    for (const char *const *a = allowed; name && *a; a++)
      if (strcmp(*a, name) == 0) ok = 1;
    if (!ok)
      return zt_conf_fail(c, m, "unknown setting '%s'", name ? name : "?");
  }
  return 1;
}

static config_setting_t *member(const config_setting_t *g, const char *name) {
  return g ? config_setting_get_member(g, name) : NULL;
}

int zt_conf_string(struct zt_conf *c, const config_setting_t *g,
                   const char *name, int required, const char **out) {
  config_setting_t *s = member(g, name);
  if (!s) {
    if (required) return zt_conf_fail(c, g, "missing setting '%s'", name);
    return 1;
  }
  if (config_setting_type(s) != CONFIG_TYPE_STRING)
    return zt_conf_fail(c, s, "'%s' must be a string", name);
  const char *v = config_setting_get_string(s);
  if (!v || v[0] == '\0') return zt_conf_fail(c, s, "'%s' is empty", name);
  *out = v;
  return 1;
}

int zt_conf_int(struct zt_conf *c, const config_setting_t *g, const char *name,
                int required, int min, int max, int *out) {
  config_setting_t *s = member(g, name);
  if (!s) {
    if (required) return zt_conf_fail(c, g, "missing setting '%s'", name);
    return 1;
  }
  if (config_setting_type(s) != CONFIG_TYPE_INT)
    return zt_conf_fail(c, s, "'%s' must be an integer", name);
  int v = config_setting_get_int(s);
  if (v < min || v > max)
    return zt_conf_fail(c, s, "'%s' must be between %d and %d", name, min, max);
  *out = v;
  return 1;
}

int zt_conf_bool(struct zt_conf *c, const config_setting_t *g, const char *name,
                 int required, int *out) {
  config_setting_t *s = member(g, name);
  if (!s) {
    if (required) return zt_conf_fail(c, g, "missing setting '%s'", name);
    return 1;
  }
  if (config_setting_type(s) != CONFIG_TYPE_BOOL)
    return zt_conf_fail(c, s, "'%s' must be true or false", name);
  *out = config_setting_get_bool(s);
  return 1;
}

int zt_conf_path(struct zt_conf *c, const config_setting_t *g,
                 const char *name, int required, char *out) {
  const char *v = NULL;
  if (!zt_conf_string(c, g, name, required, &v)) return 0;
  if (!v) return 1;
  if (!zt_conf_resolve(c->dir, v, out))
    return zt_conf_fail(c, member(g, name), "'%s': path too long", name);
  return 1;
}

int zt_conf_group(struct zt_conf *c, const config_setting_t *g,
                  const char *name, int required, config_setting_t **out) {
  config_setting_t *s = member(g, name);
  *out = NULL;
  if (!s) {
    if (required) return zt_conf_fail(c, g, "missing group '%s'", name);
    return 1;
  }
  if (config_setting_type(s) != CONFIG_TYPE_GROUP)
    return zt_conf_fail(c, s, "'%s' must be a group: %s = { ... };", name, name);
  *out = s;
  return 1;
}

int zt_conf_string_list(struct zt_conf *c, const config_setting_t *g,
                        const char *name, size_t max, config_setting_t **out) {
  config_setting_t *s = member(g, name);
  *out = NULL;
  if (!s) return 1;
  int t = config_setting_type(s);
  if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
    return zt_conf_fail(c, s, "'%s' must be a list of strings: [ \"...\" ]", name);
  int n = config_setting_length(s);
  if ((size_t)n > max)
    return zt_conf_fail(c, s, "'%s' has %d entries; at most %zu are allowed", name,
                        n, max);
  for (int i = 0; i < n; i++) {
    config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
    if (config_setting_type(e) != CONFIG_TYPE_STRING)
      return zt_conf_fail(c, e, "'%s' entry %d must be a string", name, i + 1);
  }
  *out = s;
  return 1;
}

void zt_conf_note_file(struct zt_conf *c, const config_setting_t *g,
                       const char *name, const char *path, int is_private_key,
                       struct zt_conf_files *files) {
  if (files->n == ZT_CONF_MAX_FILES) return;
  const config_setting_t *s = config_setting_get_member(g, name);
  const char *f = s ? config_setting_source_file(s) : NULL;
  struct zt_conf_file *e = &files->f[files->n++];
  e->path = path;
  e->is_private_key = is_private_key;
  snprintf(e->where, sizeof(e->where), "%s:%u", f ? f : c->file,
           s ? config_setting_source_line(s) : 0);
}

int zt_conf_check_files(const struct zt_conf_files *files, char *err,
                        size_t errlen) {
  for (size_t i = 0; i < files->n; i++) {
    const struct zt_conf_file *e = &files->f[i];
    struct stat st;
    char why[ZT_PATH_LEN + 128];
    /* Keys are not followed through symlinks: the mode checked must be the
     * key's own. */
    int fd = open(e->path, O_RDONLY | O_CLOEXEC | (e->is_private_key ? O_NOFOLLOW : 0));
    if (fd < 0) {
      snprintf(err, errlen, "%s: cannot open %s: %s", e->where, e->path, strerror(errno));
      return 0;
    }
    int ok = fstat(fd, &st) == 0;
    close(fd);
    if (ok && e->is_private_key && !zt_key_mode_ok(&st, e->path, why, sizeof(why))) {
      snprintf(err, errlen, "%s: %s", e->where, why);
      return 0;
    }
    if (!ok || !S_ISREG(st.st_mode)) {
      snprintf(err, errlen, "%s: %s is not a regular file", e->where, e->path);
      return 0;
    }
  }
  return 1;
}

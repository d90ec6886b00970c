/* Helpers shared by the configuration readers: loading a libconfig file,
 * typed look-ups that report "FILE:LINE: message", unknown-key detection and
 * paths relative to the file's directory. */
#ifndef ZTVPN_CONF_H
#define ZTVPN_CONF_H

#include <libconfig.h>
#include <stddef.h>

#define ZT_CONF_ERR_LEN 768
#define ZT_PATH_LEN 4096

struct zt_conf {
  config_t cfg;
  char file[ZT_PATH_LEN]; /* as given, for messages */
  char dir[ZT_PATH_LEN];  /* directory that relative paths start from */
  char err[ZT_CONF_ERR_LEN];
};

/* zt_conf_load reads |path|. On failure |c->err| holds "FILE:LINE: message"
 * and 0 is returned; zt_conf_free is needed either way. */
int zt_conf_load(struct zt_conf *c, const char *path);
void zt_conf_free(struct zt_conf *c);

/* zt_conf_fail formats "FILE:LINE: message" for |s| (or the file's line 0 if
 * |s| is NULL) into |c->err| and returns 0. */
int zt_conf_fail(struct zt_conf *c, const config_setting_t *s, const char *fmt,
                 ...) __attribute__((format(printf, 3, 4)));

/* zt_conf_check_keys fails on any member of group |g| not in |allowed|
 * (NULL-terminated): a typo must not silently drop a setting. */
int zt_conf_check_keys(struct zt_conf *c, const config_setting_t *g,
                       const char *const *allowed);

/* Typed look-ups of member |name| of group |g|. When |required| is 0 and the
 * member is absent they return 1 and leave |*out| untouched; when present
 * with the wrong type or value, they fail with a message. */
int zt_conf_string(struct zt_conf *c, const config_setting_t *g,
                   const char *name, int required, const char **out);
int zt_conf_int(struct zt_conf *c, const config_setting_t *g, const char *name,
                int required, int min, int max, int *out);
int zt_conf_bool(struct zt_conf *c, const config_setting_t *g, const char *name,
                 int required, int *out);
/* zt_conf_path resolves a string member relative to the file's directory
 * into |out| (ZT_PATH_LEN bytes). */
int zt_conf_path(struct zt_conf *c, const config_setting_t *g,
                 const char *name, int required, char *out);
/* zt_conf_group finds a member group; absent optional groups give NULL. */
int zt_conf_group(struct zt_conf *c, const config_setting_t *g,
                  const char *name, int required, config_setting_t **out);
/* zt_conf_list finds an array or list member whose elements are strings;
 * absent gives *out == NULL. */
int zt_conf_string_list(struct zt_conf *c, const config_setting_t *g,
                        const char *name, size_t max, config_setting_t **out);

/* A file named by a configuration, with where it was named, so that a file
 * that cannot be used is reported as FILE:LINE like any other error. */
#define ZT_CONF_MAX_FILES 24
struct zt_conf_file {
  const char *path;       /* points into the caller's configuration struct */
  int is_private_key;
  char where[ZT_PATH_LEN + 16]; /* "FILE:LINE" of the setting */
};
struct zt_conf_files {
  size_t n;
  struct zt_conf_file f[ZT_CONF_MAX_FILES];
};

/* zt_conf_note_file records that setting |name| of |g| named |path|. */
void zt_conf_note_file(struct zt_conf *c, const config_setting_t *g,
                       const char *name, const char *path, int is_private_key,
                       struct zt_conf_files *files);

/* zt_conf_check_files checks that every noted file is a readable regular
 * file and that private keys are not accessible to group or others. Returns
 * 1, or 0 with "FILE:LINE: message" in |err|. */
int zt_conf_check_files(const struct zt_conf_files *files, char *err,
                        size_t errlen);

/* zt_conf_resolve joins |path| to |dir| unless it is absolute. Returns 1, or
 * 0 when the result does not fit. */
int zt_conf_resolve(const char *dir, const char *path, char *out);

#endif

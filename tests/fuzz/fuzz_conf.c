/* Configuration files: zt_conf_load on any bytes, then the typed look-ups
 * on every setting found, as the readers of both programs use them. The
 * input is written to one file in a private directory under /dev/shm that
 * is made once per run (with a second file to @include) and removed at
 * exit. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "fuzz.h"

static char dir[64], file[96], inc[96];

static void cleanup(void) {
  unlink(file);
  unlink(inc);
  rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  snprintf(dir, sizeof(dir), "/dev/shm/ztfuzz-conf.XXXXXX");
  if (!mkdtemp(dir)) {
    snprintf(dir, sizeof(dir), "/tmp/ztfuzz-conf.XXXXXX");
    if (!mkdtemp(dir)) abort();
  }
  snprintf(file, sizeof(file), "%s/in.conf", dir);
  snprintf(inc, sizeof(inc), "%s/inc.conf", dir);
  FILE *f = fopen(inc, "we");
  if (!f) abort();
  fputs("included = \"yes\";\nlevel = 2;\ng = { x = 1; };\n", f);
  fclose(f);
  atexit(cleanup);
  return 0;
}

static void write_input(const uint8_t *data, size_t size) {
  int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(write(fd, data, size) == (ssize_t)size);
  close(fd);
}

/* The message always has the "FILE:LINE: " form and fits. */
static void check_err(const struct zt_conf *c) {
  FUZZ_CHECK(memchr(c->err, '\0', sizeof(c->err)) != NULL);
  for (const char *p = c->err; (p = strchr(p, ':')) != NULL; p++) {
    size_t digits = strspn(p + 1, "0123456789");
    if (digits > 0 && p[1 + digits] == ':' && p[2 + digits] == ' ') return;
  }
  FUZZ_CHECK(!"no FILE:LINE: in the message");
}

static void visit(struct zt_conf *c, const config_setting_t *g, int depth) {
  static const char *const allowed[] = {"listen", "tls", "tunnel", "server", NULL};
  if (!zt_conf_check_keys(c, g, allowed)) check_err(c);
  int n = config_setting_length(g);
  for (int i = 0; i < n && i < 64; i++) {
    const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
    const char *name = config_setting_name(m);
    if (!name) continue;
    const char *s = NULL;
    int v = 0;
    char path[ZT_PATH_LEN];
    config_setting_t *sub = NULL;
    if (zt_conf_string(c, g, name, 1, &s)) FUZZ_CHECK(s != NULL && s[0] != '\0');
    else check_err(c);
    if (zt_conf_int(c, g, name, 1, -5, 70000, &v)) FUZZ_CHECK(v >= -5 && v <= 70000);
    else check_err(c);
    if (zt_conf_path(c, g, name, 0, path)) FUZZ_CHECK(memchr(path, '\0', sizeof(path)));
    else check_err(c);
    if (!zt_conf_string_list(c, g, name, 4, &sub)) check_err(c);
    else if (sub) FUZZ_CHECK(config_setting_length(sub) <= 4);
    if (zt_conf_group(c, g, name, 0, &sub)) {
      if (sub && depth < 8) visit(c, sub, depth + 1);
    } else {
      check_err(c);
    }
  }
  /* and a name that is not there */
  const char *s = NULL;
  if (!zt_conf_string(c, g, "zt-absent", 1, &s)) check_err(c);
}

/* @include may only name the two files of the private directory, spelled
 * plainly. Anything else could read /dev/zero or stdin, and a directory
 * (`@include "."`, or an empty name) makes libconfig 1.5's scanner call
 * exit(2) ("input in flex scanner failed"), which is not ours to find. */
static int includes_ok(const uint8_t *data, size_t size) {
  static const char *const ok[] = {" \"in.conf\"", " \"inc.conf\""};
  const uint8_t *p = data, *end = data + size;
  while ((p = memmem(p, (size_t)(end - p), "include", 7)) != NULL) {
    p += 7;
    int good = 0;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
      size_t n = strlen(ok[i]);
      if ((size_t)(end - p) >= n && memcmp(p, ok[i], n) == 0) good = 1;
    }
    if (!good) return 0;
  }
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!includes_ok(data, size)) return 0;
  write_input(data, size);
  struct zt_conf c;
  if (zt_conf_load(&c, file)) {
    visit(&c, config_root_setting(&c.cfg), 0);
  } else {
    check_err(&c);
    /* our file, or an included one named as in its @include */
    FUZZ_CHECK(strncmp(c.err, dir, strlen(dir)) == 0 || c.err[0] != '/');
  }
  zt_conf_free(&c);
  return 0;
}

/* For the harnesses of the configuration readers (fuzz_server_config,
 * fuzz_client_config): the input goes into NAME in a private directory
 * under /dev/shm (made once, removed at exit), next to an "inc.conf" that
 * inputs may @include; and the checks every refusal must pass.
 *
 * Everything here is static and marked unused. */
#ifndef ZTVPN_FUZZ_FILE_H
#define ZTVPN_FUZZ_FILE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#define FF_FN static __attribute__((unused))

static char ff_dir[64], ff_file[128], ff_inc[128];

FF_FN void ff_cleanup(void) {
  unlink(ff_file);
  unlink(ff_inc);
  rmdir(ff_dir);
}

/* ff_init makes the directory; |name| is the input's file name and
 * |include| the text of inc.conf. */
FF_FN void ff_init(const char *name, const char *include) {
  snprintf(ff_dir, sizeof(ff_dir), "/dev/shm/ztfuzz-cfg.XXXXXX");
  if (!mkdtemp(ff_dir)) {
    snprintf(ff_dir, sizeof(ff_dir), "/tmp/ztfuzz-cfg.XXXXXX");
    if (!mkdtemp(ff_dir)) abort();
  }
  snprintf(ff_file, sizeof(ff_file), "%s/%s", ff_dir, name);
  snprintf(ff_inc, sizeof(ff_inc), "%s/inc.conf", ff_dir);
  FILE *f = fopen(ff_inc, "we");
  if (!f) abort();
  fputs(include, f);
  fclose(f);
  atexit(ff_cleanup);
}

/* ff_write replaces the input file's content. */
FF_FN void ff_write(const uint8_t *data, size_t size) {
  int fd = open(ff_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(write(fd, data, size) == (ssize_t)size);
  close(fd);
}

/* ff_includes_ok accepts an input only if every "include" in it names
 * inc.conf or the input itself, spelled plainly. Anything else could read
 * /dev/zero or stdin, and a directory makes libconfig 1.5's scanner call
 * exit(2) ("input in flex scanner failed"), which is not ours to find. */
FF_FN int ff_includes_ok(const uint8_t *data, size_t size, const char *self) {
  char quoted_self[80];
  snprintf(quoted_self, sizeof(quoted_self), " \"%s\"", self);
  const char *const ok[] = {" \"inc.conf\"", quoted_self};
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

/* ff_check_err: a refusal is a terminated "FILE:LINE: message" naming the
 * input, inc.conf, or (as libconfig spells an included file) a bare name.
 * (Messages quote string values as written, so a "\n" escape in the file
 * shows as a line break: not checked.) */
FF_FN void ff_check_err(const char *err, size_t len) {
  FUZZ_CHECK(memchr(err, '\0', len) != NULL);
  const char *colon = strchr(err, ':');
  FUZZ_CHECK(colon != NULL);
  size_t digits = strspn(colon + 1, "0123456789");
  FUZZ_CHECK(digits > 0 && colon[1 + digits] == ':' && colon[2 + digits] == ' ');
  FUZZ_CHECK(colon[3 + digits] != '\0');
  FUZZ_CHECK(strncmp(err, ff_dir, strlen(ff_dir)) == 0 || err[0] != '/');
}

/* ff_path_ok: a path from the configuration is absolute (the input's
 * directory is) and terminated. */
FF_FN void ff_path_ok(const char *path, size_t len, int may_be_empty) {
  FUZZ_CHECK(memchr(path, '\0', len) != NULL);
  if (path[0] == '\0') {
    FUZZ_CHECK(may_be_empty);
    return;
  }
  FUZZ_CHECK(path[0] == '/');
}

#endif

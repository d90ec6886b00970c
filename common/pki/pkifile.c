#include "pkifile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int zt_pki_read_file(const char *path, size_t max, uint8_t **out, size_t *len,
                     char *err, size_t errlen) {
  struct stat st;
  uint8_t *buf;
  size_t got = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return 0;
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
    snprintf(err, errlen, "%s: not a regular file of at most %zu bytes", path, max);
    close(fd);
    return 0;
  }
  buf = malloc((size_t)st.st_size + 1);
  if (!buf) {
    snprintf(err, errlen, "%s: out of memory", path);
    close(fd);
    return 0;
  }
  while (got < (size_t)st.st_size) {
    ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  if (got != (size_t)st.st_size) {
    snprintf(err, errlen, "%s: short read", path);
    free(buf);
    return 0;
  }
  buf[got] = '\0';
  *out = buf;
  *len = got;
  return 1;
}

static int write_all(int fd, const uint8_t *p, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    p += n;
    len -= (size_t)n;
  }
  return 1;
}

int zt_pki_write_file(const char *path, const void *data, size_t len, mode_t mode,
                      int replace, char *err, size_t errlen) {
  char tmp[4096];
  const char *target = path;
  int fd;
  if (replace) {
    if (!zt_pki_path(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path)) {
      snprintf(err, errlen, "%s: path too long", path);
      return 0;
    }
    fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
    target = tmp;
  } else {
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode & 0600);
  }
  if (fd < 0) {
    if (errno == EEXIST)
      snprintf(err, errlen, "%s exists; --force replaces it", path);
    else
      snprintf(err, errlen, "%s: %s", target, strerror(errno));
    return 0;
  }
  if (!write_all(fd, data, len) || fchmod(fd, mode) != 0 || fsync(fd) != 0) {
    snprintf(err, errlen, "%s: %s", target, strerror(errno ? errno : EIO));
    close(fd);
    unlink(target);
    return 0;
  }
  if (close(fd) != 0 || (replace && rename(tmp, path) != 0)) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    unlink(target);
    return 0;
  }
  return 1;
}

int zt_pki_mkdir(const char *path, mode_t mode, char *err, size_t errlen) {
  struct stat st;
  if (mkdir(path, mode) == 0) return 1;
  if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 1;
  snprintf(err, errlen, "%s: %s", path, errno == EEXIST ? "exists and is not a directory" : strerror(errno));
  return 0;
}

int zt_pki_path(char *out, size_t outlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out, outlen, fmt, ap);
  va_end(ap);
  return n >= 0 && (size_t)n < outlen;
}

#include "ctlsock.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/mem.h>

#include "log.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), 0)

/* Makes the parent directory of |path| when it is missing: only the last
 * component, mode 0700, since the directory guards the socket as well. */
static int make_parent(const char *path, char *err, size_t errlen) {
  char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
  struct stat st;
  snprintf(dir, sizeof(dir), "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash) return 1;      /* relative to the working directory */
  if (slash == dir) return 1; /* the root directory */
  *slash = '\0';
  if (stat(dir, &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return ERR("control socket %s: %s is not a directory", path, dir);
    return 1;
  }
  if (errno != ENOENT || mkdir(dir, 0700) != 0)
    return ERR("control socket %s: cannot create directory %s: %s", path, dir,
               strerror(errno));
  return 1;
}

/* Handles whatever is already at |addr|: a stale socket is removed, a live
 * one (or anything that is not a socket) is refused. */
static int clear_stale(const struct sockaddr_un *addr, char *err, size_t errlen) {
  struct stat st;
  const char *path = addr->sun_path;
  if (lstat(path, &st) != 0) {
    if (errno == ENOENT) return 1;
    return ERR("control socket %s: %s", path, strerror(errno));
  }
  if (!S_ISSOCK(st.st_mode)) return ERR("control socket %s: exists and is not a socket", path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return ERR("control socket %s: socket: %s", path, strerror(errno));
  int rc = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
  int e = errno;
  close(fd);
  /* A full backlog (EAGAIN) also means someone is listening. */
  if (rc == 0 || e == EAGAIN || e == EINPROGRESS)
    return ERR("control socket %s: another instance is running", path);
  if (e != ECONNREFUSED)
    return ERR("control socket %s: cannot check the existing socket: %s", path, strerror(e));
  if (unlink(path) != 0 && errno != ENOENT)
    return ERR("control socket %s: cannot remove the stale socket: %s", path, strerror(errno));
  log_info("control socket %s: removed a stale socket", path);
  return 1;
}

int zt_ctlsock_listen(struct zt_ctl_listener *l, const char *path, char *err,
                      size_t errlen) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  struct stat st;
  memset(l, 0, sizeof(*l));
  l->fd = -1;
  if (path[0] == '\0') return ERR("control socket: empty path");
  if (strlen(path) >= sizeof(addr.sun_path))
    return ERR("control socket %s: path longer than %zu bytes", path,
               sizeof(addr.sun_path) - 1);
  memcpy(addr.sun_path, path, strlen(path) + 1);
  if (!make_parent(path, err, errlen) || !clear_stale(&addr, err, errlen)) return 0;

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return ERR("control socket %s: socket: %s", path, strerror(errno));
  /* The umask closes the window between bind and chmod in which the socket
   * would otherwise be reachable by anyone. */
  mode_t old = umask(077);
  int rc = bind(fd, (const struct sockaddr *)&addr, sizeof(addr));
  int e = errno;
  umask(old);
  if (rc != 0) {
    close(fd);
    return ERR("control socket %s: bind: %s", path, strerror(e));
  }
  if (chmod(path, 0600) != 0 || lstat(path, &st) != 0 || listen(fd, 16) != 0) {
    e = errno;
    unlink(path);
    close(fd);
    return ERR("control socket %s: %s", path, strerror(e));
  }
  l->fd = fd;
  memcpy(l->path, path, strlen(path) + 1);
  l->dev = st.st_dev;
  l->ino = st.st_ino;
  l->owner = geteuid();
  return 1;
}

enum zt_ctl_accept zt_ctlsock_accept(struct zt_ctl_listener *l, int *fd) {
  struct ucred cred;
  socklen_t len = sizeof(cred);
  int c = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (c < 0) {
    if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
      return ZT_CTL_ACCEPT_NONE;
    log_warn("control socket %s: accept: %s", l->path, strerror(errno));
    return ZT_CTL_ACCEPT_ERROR;
  }
  if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred)) {
    l->refused++;
    log_warn("control socket %s: refused a connection: no peer credentials", l->path);
    close(c);
    return ZT_CTL_ACCEPT_REFUSED;
  }
  if (cred.uid != 0 && cred.uid != l->owner) {
    l->refused++;
    log_warn("control socket %s: refused a connection from uid %u (pid %d): not root",
             l->path, (unsigned)cred.uid, (int)cred.pid);
    zt_ctlsock_reject(c, "permission denied");
    return ZT_CTL_ACCEPT_REFUSED;
  }
  l->accepted++;
  *fd = c;
  return ZT_CTL_ACCEPT_OK;
}

void zt_ctlsock_unlink(const struct zt_ctl_listener *l) {
  struct stat st;
  /* Another instance may have replaced a socket we thought stale: only our
   * own file is removed. */
  if (l->path[0] && lstat(l->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
    unlink(l->path);
}

void zt_ctlsock_close(struct zt_ctl_listener *l) {
  if (!l || l->fd < 0) return;
  if (!l->keep_file) zt_ctlsock_unlink(l);
  close(l->fd);
  l->fd = -1;
}

void zt_ctlsock_reject(int fd, const char *msg) {
  char line[256];
  int n = snprintf(line, sizeof(line), "error %s\n", msg);
  if (n > 0)
    (void)!send(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1,
                MSG_NOSIGNAL | MSG_DONTWAIT);
  close(fd);
}

void zt_ctl_conn_init(struct zt_ctl_conn *c, int fd) {
  memset(c, 0, sizeof(*c));
  c->fd = fd;
}

void zt_ctl_conn_free(struct zt_ctl_conn *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  OPENSSL_free(c->out);
  c->out = NULL;
  c->out_len = c->out_off = c->in_len = 0;
}

enum zt_ctl_io zt_ctl_conn_read(struct zt_ctl_conn *c, CBS *line) {
  for (;;) {
    const uint8_t *nl = memchr(c->in, '\n', c->in_len);
    if (nl) {
      CBS_init(line, c->in, (size_t)(nl - c->in) + 1);
      return ZT_CTL_IO_DONE;
    }
    if (c->in_len == sizeof(c->in)) return ZT_CTL_IO_TOO_LONG;
    ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
    if (n > 0) {
      c->in_len += (size_t)n;
      continue;
    }
    if (n == 0) return ZT_CTL_IO_EOF;
    if (errno == EINTR) continue;
    return errno == EAGAIN ? ZT_CTL_IO_WANT : ZT_CTL_IO_ERR;
  }
}

int zt_ctl_conn_answer(struct zt_ctl_conn *c, CBB *cbb) {
  static const char too_long[] = "error answer too large\n";
  static const char failed[] = "error out of memory\n";
  uint8_t *out = NULL;
  size_t len = 0;
  const char *replace = NULL;
  if (CBB_len(cbb) > ZT_CTL_MAX_RESPONSE) replace = too_long;
  else if (!CBB_finish(cbb, &out, &len)) replace = failed;
  if (replace) {
    CBB_cleanup(cbb);
    OPENSSL_free(out);
    out = OPENSSL_malloc(strlen(replace));
    if (!out) return 0;
    len = strlen(replace);
    memcpy(out, replace, len);
  }
  OPENSSL_free(c->out);
  c->out = out;
  c->out_len = len;
  c->out_off = 0;
  return 1;
}

enum zt_ctl_io zt_ctl_conn_write(struct zt_ctl_conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      c->out_off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && errno == EAGAIN ? ZT_CTL_IO_WANT : ZT_CTL_IO_ERR;
  }
  return ZT_CTL_IO_DONE;
}

/* ---- building answers ---------------------------------------------------- */

int zt_ctl_printf(CBB *out, const char *fmt, ...) {
  va_list ap;
  char small[256];
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof(small), fmt, ap);
  va_end(ap);
  if (n < 0) return 0;
  if ((size_t)n < sizeof(small)) return CBB_add_bytes(out, (const uint8_t *)small, (size_t)n);
  char *big = malloc((size_t)n + 1);
  if (!big) return 0;
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  int ok = CBB_add_bytes(out, (const uint8_t *)big, (size_t)n);
  free(big);
  return ok;
}

int zt_ctl_json_string(CBB *out, const char *s) {
  static const char hex[] = "0123456789abcdef";
  if (!CBB_add_u8(out, '"')) return 0;
  for (const uint8_t *p = (const uint8_t *)s; *p; p++) {
    uint8_t c = *p;
    int ok;
    if (c == '"' || c == '\\') {
      ok = CBB_add_u8(out, '\\') && CBB_add_u8(out, c);
    } else if (c < 0x20 || c >= 0x7f) {
      /* Names are printable ASCII, but nothing else may break the JSON. */
      uint8_t esc[6] = {'\\', 'u', '0', '0', (uint8_t)hex[c >> 4], (uint8_t)hex[c & 15]};
      ok = CBB_add_bytes(out, esc, sizeof(esc));
    } else {
      ok = CBB_add_u8(out, c);
    }
    if (!ok) return 0;
  }
  return CBB_add_u8(out, '"');
}

const char *zt_ctl_time_iso(time_t t, char *buf, size_t len) {
  struct tm tm;
  if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    snprintf(buf, len, "-");
  return buf;
}

void zt_ctl_kv_begin(struct zt_ctl_kv *kv, CBB *out, int json) {
  kv->out = out;
  kv->json = json;
  kv->n = 0;
  kv->ok = !json || CBB_add_u8(out, '{');
}

/* Starts one field: the separator and the key. */
static void key(struct zt_ctl_kv *kv, const char *k) {
  if (!kv->ok) return;
  if (kv->json)
    kv->ok = (kv->n == 0 || CBB_add_u8(kv->out, ',')) && zt_ctl_json_string(kv->out, k) &&
             CBB_add_u8(kv->out, ':');
  else
    kv->ok = zt_ctl_printf(kv->out, "%s: ", k);
  kv->n++;
}

static void end_field(struct zt_ctl_kv *kv) {
  if (kv->ok && !kv->json) kv->ok = CBB_add_u8(kv->out, '\n');
}

void zt_ctl_kv_str(struct zt_ctl_kv *kv, const char *k, const char *val) {
  key(kv, k);
  if (!kv->ok) return;
  if (kv->json)
    kv->ok = val ? zt_ctl_json_string(kv->out, val) : zt_ctl_printf(kv->out, "null");
  else
    kv->ok = zt_ctl_printf(kv->out, "%s", val && *val ? val : "-");
  end_field(kv);
}

void zt_ctl_kv_u64(struct zt_ctl_kv *kv, const char *k, uint64_t val) {
  key(kv, k);
  if (kv->ok) kv->ok = zt_ctl_printf(kv->out, "%llu", (unsigned long long)val);
  end_field(kv);
}

void zt_ctl_kv_bool(struct zt_ctl_kv *kv, const char *k, int val) {
  key(kv, k);
  if (kv->ok)
    kv->ok = zt_ctl_printf(kv->out, "%s", kv->json ? (val ? "true" : "false")
                                                   : (val ? "yes" : "no"));
  end_field(kv);
}

void zt_ctl_kv_list(struct zt_ctl_kv *kv, const char *k, const char *const *vals,
                    size_t n) {
  key(kv, k);
  if (kv->ok && kv->json) kv->ok = CBB_add_u8(kv->out, '[');
  for (size_t i = 0; i < n && kv->ok; i++) {
    if (kv->json)
      kv->ok = (i == 0 || CBB_add_u8(kv->out, ',')) && zt_ctl_json_string(kv->out, vals[i]);
    else
      kv->ok = zt_ctl_printf(kv->out, "%s%s", i ? ", " : "", vals[i]);
  }
  if (kv->ok) kv->ok = kv->json ? CBB_add_u8(kv->out, ']')
                       : n == 0 ? zt_ctl_printf(kv->out, "-")
                                : 1;
  end_field(kv);
}

void zt_ctl_kv_counts(struct zt_ctl_kv *kv, const char *k, const char *const *names,
                      const uint64_t *vals, size_t n) {
  key(kv, k);
  if (kv->ok && kv->json) kv->ok = CBB_add_u8(kv->out, '{');
  for (size_t i = 0; i < n && kv->ok; i++) {
    if (kv->json)
      kv->ok = (i == 0 || CBB_add_u8(kv->out, ',')) && zt_ctl_json_string(kv->out, names[i]) &&
               zt_ctl_printf(kv->out, ":%llu", (unsigned long long)vals[i]);
    else
      kv->ok = zt_ctl_printf(kv->out, "%s%s=%llu", i ? " " : "", names[i],
                             (unsigned long long)vals[i]);
  }
  if (kv->ok) kv->ok = kv->json ? CBB_add_u8(kv->out, '}') : n == 0 ? zt_ctl_printf(kv->out, "-") : 1;
  end_field(kv);
}

int zt_ctl_kv_end(struct zt_ctl_kv *kv) {
  if (kv->ok && kv->json) kv->ok = CBB_add_u8(kv->out, '}');
  return kv->ok;
}

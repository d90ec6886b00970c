#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

static const char *log_prog = "ztvpn";
static enum log_level log_max = LOG_LVL_INFO;

void log_init(const char *progname, enum log_level level) {
  log_prog = progname;
  log_max = level;
  /* Line-buffered so that lines from concurrent processes do not interleave. */
  setvbuf(stderr, NULL, _IOLBF, 0);
}

void log_set_level(enum log_level level) { log_max = level; }

static void vlog(enum log_level lvl, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void vlog(enum log_level lvl, const char *fmt, va_list ap) {
  static const char *const names[] = {"error", "warning", "info", "debug"};
  if (lvl > log_max) return;
  char line[4096]; /* room for an audit record with every field quoted */
  vsnprintf(line, sizeof(line), fmt, ap);
  fprintf(stderr, "%s: %s: %s\n", log_prog, names[lvl], line);
}

#define LOG_FN(name, lvl)            \
  void name(const char *fmt, ...) {  \
    va_list ap;                      \
    va_start(ap, fmt);               \
    vlog(lvl, fmt, ap);              \
    va_end(ap);                      \
  }
LOG_FN(log_err, LOG_LVL_ERR)
LOG_FN(log_warn, LOG_LVL_WARN)
LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_debug, LOG_LVL_DEBUG)

void fatal(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char line[1024];
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s: %s\n", log_prog, line);
  exit(code);
}

void log_ssl_errors(const char *what) {
  char buf[512] = "";
  size_t off = 0;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char one[256];
    ERR_error_string_n(e, one, sizeof(one));
    int n = snprintf(buf + off, sizeof(buf) - off, "%s%s", off ? "; " : "", one);
    if (n < 0 || (size_t)n >= sizeof(buf) - off) break;
    off += (size_t)n;
  }
  log_warn("%s%s%s", what, off ? ": " : "", buf);
}

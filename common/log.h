/* Logging to stderr (journald picks it up under systemd). One line per event. */
#ifndef ZTVPN_LOG_H
#define ZTVPN_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* log_init sets the program name printed before each line and the most
 * verbose level that is printed. */
void log_init(const char *progname, enum log_level level);
void log_set_level(enum log_level level);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_err logs at error level; it does not exit. */
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* fatal logs and exits with |code| (1 runtime, 2 configuration). */
void fatal(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* log_ssl_errors drains BoringSSL's error queue into one warning line
 * prefixed with |what|. */
void log_ssl_errors(const char *what);

#endif

/* Audit records: one key=value line per admission, rejection and session
 * end, so that journald and log shippers can parse them. */
#ifndef ZTVPN_AUDIT_H
#define ZTVPN_AUDIT_H

#include <stdint.h>

struct session;

void audit_admit(const struct session *s);
/* audit_reject records a refused client; |s| may be before admission. */
void audit_reject(const struct session *s, uint16_t code, const char *detail);
void audit_end(const struct session *s, uint16_t code, const char *detail);
/* audit_kill records that an administrator ended |s| (|by| says how, e.g.
 * "control"); the session's end record follows. */
/* audit_reauth: |s| re-authenticated (both certificates verified again) on
 * a new connection and continues there. */
void audit_reauth(const struct session *s);
void audit_kill(const struct session *s, const char *by);
/* audit_reload records a reload: |ok| says whether the new CRLs and policy
 * are in force; |detail| is the summary or the error. */
void audit_reload(int ok, const char *trigger, const char *detail);

#endif

/* Privilege separation of the concentrator. server_init does everything
 * that needs root (the TUN device and its addresses, the listening sockets,
 * the control socket, reading the private key); then the process forks:
 *
 *   - the child, the network process, gives up root for good (the account
 *     of `user`, no groups, no capabilities, no new privileges), enters the
 *     seccomp sandbox (sandbox.h) and runs the server loop;
 *   - the parent, the supervisor, keeps no descriptor and no secret of the
 *     server: it forwards SIGHUP, SIGTERM and SIGINT to the child, waits for
 *     it, says how it ended, removes the control socket file, and exits with
 *     the child's status (1 when it was killed).
 *
 * A crash or a compromise of the network process thus leaves an
 * unprivileged process that can only use what it already holds. */
#ifndef ZTVPN_PRIVSEP_H
#define ZTVPN_PRIVSEP_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"

struct server;

struct privsep_account {
  char name[64];
  uid_t uid;
  gid_t gid;
};

/* privsep_lookup finds the account of |cfg->user|. Returns 1, or 0 with
 * "FILE:LINE: message" in |err| when there is no such account (line 0 and
 * a hint to create it when the setting is absent and the default account
 * is missing) or when it is root. */
int privsep_lookup(const struct server_config *cfg, struct privsep_account *acct,
                   char *err, size_t errlen);

/* privsep_drop makes the calling process |acct| for good: no supplementary
 * groups, real, effective and saved gid and uid of |acct|, then checks
 * that no capability is left and that root cannot be regained. Returns 1,
 * or 0 with a reason in |err| (the process must then exit). */
int privsep_drop(const struct privsep_account *acct, char *err, size_t errlen);

/* privsep_serve runs |srv| (after a successful server_init) separated:
 * it returns only in the network process, sandboxed and unprivileged,
 * with 1 to go on with server_run and server_free; or with 0 after logging
 * why it cannot serve, to exit 2 (a file a reload needs is unreadable) or
 * 1 (anything else) as |*code| says. The supervisor does not return: it
 * releases |srv|, supervises and exits. */
int privsep_serve(struct server *srv, const struct privsep_account *acct, int *code);

/* privsep_describe writes the process's sandbox state for `ztvpn-ctl
 * status` into |buf| ("user ztvpn (uid 998), seccomp on", or "off") and
 * returns |buf|. */
const char *privsep_describe(char *buf, size_t len);

#endif

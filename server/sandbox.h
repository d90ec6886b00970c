/* The seccomp allow-list of the network-facing process (SANDBOX.md gives
 * the reason for each system call in it). Everything the process needs
 * from the kernel that is not on the list was done before: the TUN device,
 * the listening sockets and the account switch belong to the privileged
 * parent (privsep.h). */
#ifndef ZTVPN_SANDBOX_H
#define ZTVPN_SANDBOX_H

#include <stddef.h>

/* Sanitizer runtimes (ASan, LSan, UBSan) need more of the kernel than the
 * daemon does: LeakSanitizer stops the world at exit with a ptrace'ing
 * thread. Such builds are for tests, never for deployment, and widen the
 * list accordingly (see sandbox.c). */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define SANDBOX_SANITIZER_BUILD 1
#endif
#endif
#ifndef SANDBOX_SANITIZER_BUILD
#define SANDBOX_SANITIZER_BUILD 0
#endif

/* sandbox_install turns the calling process into the sandboxed network
 * process: it sets PR_SET_NO_NEW_PRIVS and loads the allow-list, for every
 * thread. A system call outside the list is not executed: the process gets
 * SIGSYS, whose handler writes "seccomp: forbidden system call NR (NAME)" to
 * stderr, writes NR (an int) to |report_fd| when that is >= 0 (the parent's
 * pipe, so the supervisor can name the call), and ends the process with
 * SIGSYS. Irreversible. Returns 1, or 0 with a reason in |err| (then no
 * filter is in place and the caller must not serve). */
int sandbox_install(int report_fd, char *err, size_t errlen);

/* sandbox_syscall_name writes the name of system call |nr| of this
 * architecture into |buf| ("unknown" when it has none) and returns |buf|. */
const char *sandbox_syscall_name(int nr, char *buf, size_t len);

#endif

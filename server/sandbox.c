#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <seccomp.h>

/* The pipe to the supervisor, for the handler. */
static int sigsys_report_fd = -1;

/* Async-signal-safe: write(2) and a hand-made decimal, nothing else. */
static void on_sigsys(int sig, siginfo_t *si, void *uctx) {
  static const char head[] = "seccomp: forbidden system call ";
  char line[64], digits[16];
  size_t n = 0, d = 0;
  int nr = si->si_syscall;
  unsigned v = nr < 0 ? 0u : (unsigned)nr;
  (void)uctx;
  memcpy(line, head, sizeof(head) - 1);
  n = sizeof(head) - 1;
  do {
    digits[d++] = (char)('0' + v % 10);
    v /= 10;
  } while (v && d < sizeof(digits));
  while (d) line[n++] = digits[--d];
  line[n++] = '\n';
  ssize_t rc = write(STDERR_FILENO, line, n);
  if (sigsys_report_fd >= 0) rc = write(sigsys_report_fd, &nr, sizeof(nr));
  (void)rc;
  /* Die of SIGSYS, so that the parent sees why: back to the default action,
   * raised now, delivered when the handler returns and unblocks it. */
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  sigaction(sig, &dfl, NULL);
  raise(sig);
}

/* Calls allowed whatever their arguments. */
static const int plain_calls[] = {
    /* I/O on descriptors opened before the sandbox, or by accept4/openat. */
    SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
    SCMP_SYS(pread64), SCMP_SYS(close), SCMP_SYS(fcntl), SCMP_SYS(lseek),
    SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(statx),
    /* Sockets that exist: the listener, clients, control connections. */
    SCMP_SYS(accept4), SCMP_SYS(recvfrom), SCMP_SYS(sendto), SCMP_SYS(recvmsg),
    SCMP_SYS(sendmsg), SCMP_SYS(recvmmsg), SCMP_SYS(sendmmsg), SCMP_SYS(shutdown),
    SCMP_SYS(getsockopt), SCMP_SYS(setsockopt), SCMP_SYS(getsockname),
    SCMP_SYS(getpeername),
    /* The event loop. */
    SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_pwait2),
    SCMP_SYS(epoll_ctl),
    /* Memory (executable mappings are handled below). */
    SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(brk), SCMP_SYS(madvise),
    /* Randomness, time. */
    SCMP_SYS(getrandom), SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday),
    SCMP_SYS(time), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
    /* Signals: the signalfd's mask, and the SIGSYS handler itself. */
    SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigaction),
    /* Identity, threads' housekeeping, the end. */
    SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getppid), SCMP_SYS(getuid),
    SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid), SCMP_SYS(futex),
    SCMP_SYS(sched_yield), SCMP_SYS(exit), SCMP_SYS(exit_group),
    /* glibc's qsort sizes its buffer by the machine's memory. */
    SCMP_SYS(sysinfo),
};

/* What the sanitizer runtimes do in the network process: LeakSanitizer's
 * exit check runs a task (clone) that lists the threads (/proc/PID/task),
 * ptraces them, waits for them and reads their registers; the runtimes use
 * the legacy x86_64 calls (open, stat, getdents), query their own limits
 * and set up signal stacks. Test builds only. */
static const int sanitizer_calls[] = {
    SCMP_SYS(clone), SCMP_SYS(ptrace), SCMP_SYS(wait4), SCMP_SYS(prctl),
    SCMP_SYS(sigaltstack), SCMP_SYS(getrlimit), SCMP_SYS(prlimit64),
    SCMP_SYS(sched_getaffinity), SCMP_SYS(readlink), SCMP_SYS(getdents64),
    SCMP_SYS(arch_prctl), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
    SCMP_SYS(set_tid_address), SCMP_SYS(getdents), SCMP_SYS(stat), SCMP_SYS(lstat),
};

/* Flags of open(2) and openat(2) that would write or create. */
#define READ_ONLY_MASK (O_ACCMODE | O_CREAT | O_TRUNC | (O_TMPFILE & ~O_DIRECTORY))

static int add_rules(scmp_filter_ctx ctx) {
  int rc = 0;
  pid_t self = getpid();
  for (size_t i = 0; i < sizeof(plain_calls) / sizeof(plain_calls[0]) && rc == 0; i++)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, plain_calls[i], 0);
  /* Reading files (a reload re-reads the CAs, the CRLs and the policy):
   * read-only access, nothing created or truncated. O_RDONLY is 0; the
   * O_TMPFILE flag includes O_DIRECTORY, which reading a directory uses. */
  if (rc == 0)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
                          SCMP_A2(SCMP_CMP_MASKED_EQ, READ_ONLY_MASK, 0));
  /* No new executable memory: code injected into data stays data. */
  if (rc == 0)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                          SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
  if (rc == 0)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                          SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
  /* Signals to itself only: raise() for SIGSYS above and for abort(). */
  if (rc == 0)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
                          SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self, 0));
  if (rc == 0)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
                          SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self, 0));
  if (SANDBOX_SANITIZER_BUILD && rc == 0) {
    /* The runtimes make the legacy open(2) call on x86_64 (read-only too). */
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 1,
                          SCMP_A1(SCMP_CMP_MASKED_EQ, READ_ONLY_MASK, 0));
    for (size_t i = 0; i < sizeof(sanitizer_calls) / sizeof(sanitizer_calls[0]) && rc == 0;
         i++)
      rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sanitizer_calls[i], 0);
  }
  return rc;
}

int sandbox_install(int report_fd, char *err, size_t errlen) {
  struct sigaction sa;
  sigset_t sys;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigemptyset(&sys);
  sigaddset(&sys, SIGSYS);
  sigsys_report_fd = report_fd;
  if (sigaction(SIGSYS, &sa, NULL) != 0 || sigprocmask(SIG_UNBLOCK, &sys, NULL) != 0) {
    snprintf(err, errlen, "seccomp: cannot handle SIGSYS: %s", strerror(errno));
    return 0;
  }
  /* The default action traps rather than kills outright: the handler can
   * tell which call it was, and the supervisor can report it. */
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
  if (!ctx) {
    snprintf(err, errlen, "seccomp: cannot create the filter");
    return 0;
  }
  int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);
  if (rc == 0) rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
  if (rc == 0) rc = add_rules(ctx);
  if (rc == 0) rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc != 0) {
    snprintf(err, errlen, "seccomp: cannot install the filter: %s", strerror(-rc));
    return 0;
  }
  return 1;
}

const char *sandbox_syscall_name(int nr, char *buf, size_t len) {
  char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
  snprintf(buf, len, "%s", name ? name : "unknown");
  free(name);
  return buf;
}

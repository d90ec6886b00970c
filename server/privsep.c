#include "privsep.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netlink/socket.h>

#include "control.h"
#include "ctlsock.h"
#include "dplane.h"
#include "log.h"
#include "sandbox.h"
#include "server.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), 0)

/* This process's own state, for privsep_describe. */
static struct {
  int on;
  char user[64];
  uid_t uid;
} sandboxed;

int privsep_lookup(const struct server_config *cfg, struct privsep_account *acct,
                   char *err, size_t errlen) {
  memset(acct, 0, sizeof(*acct));
  struct passwd *pw = getpwnam(cfg->user);
  if (!pw && cfg->user_line == 0)
    return ERR("%s:0: user \"%s\": no such account; the network-facing process runs as "
               "it: create it (useradd --system --no-create-home --home-dir /nonexistent "
               "--shell /usr/sbin/nologin --user-group %s, as packaging/install-deps.sh "
               "does) or name another with user = \"...\";",
               cfg->file, cfg->user, cfg->user);
  if (!pw)
    return ERR("%s:%d: user \"%s\": no such account", cfg->file, cfg->user_line, cfg->user);
  if (pw->pw_uid == 0 || pw->pw_gid == 0)
    return ERR("%s:%d: user \"%s\": has uid or gid 0; the network-facing process needs "
               "an unprivileged account (sandbox = false runs everything as root)",
               cfg->file, cfg->user_line, cfg->user);
  snprintf(acct->name, sizeof(acct->name), "%s", cfg->user);
  acct->uid = pw->pw_uid;
  acct->gid = pw->pw_gid;
  return 1;
}

/* Capabilities left in any set: effective, permitted, inheritable (capget)
 * and ambient. After setresuid away from root without PR_SET_KEEPCAPS the
 * kernel has cleared them all; this checks it rather than trusting it. */
static int has_capabilities(void) {
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
  memset(data, 0, sizeof(data));
  if (syscall(SYS_capget, &hdr, data) != 0) return 1;
  for (size_t i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
    if (data[i].effective || data[i].permitted || data[i].inheritable) return 1;
  for (int cap = 0; cap < 64; cap++) {
    int rc = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0);
    if (rc < 0) break; /* past the kernel's last capability */
    if (rc > 0) return 1;
  }
  return 0;
}

int privsep_drop(const struct privsep_account *acct, char *err, size_t errlen) {
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  uid_t u = acct->uid;
  gid_t g = acct->gid;
  if (setgroups(0, NULL) != 0) return ERR("setgroups: %s", strerror(errno));
  if (setresgid(g, g, g) != 0) return ERR("setresgid %u: %s", (unsigned)g, strerror(errno));
  if (setresuid(u, u, u) != 0) return ERR("setresuid %u: %s", (unsigned)u, strerror(errno));
  if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 || ru != u ||
      eu != u || su != u || rg != g || eg != g || sg != g || getgroups(0, NULL) != 0)
    return ERR("user %s: the switch of uid and gid did not take", acct->name);
  if (setuid(0) == 0 || setgid(0) == 0 || seteuid(0) == 0)
    return ERR("user %s: root could be regained", acct->name);
  if (has_capabilities()) return ERR("user %s: capabilities are left", acct->name);
  return 1;
}

/* Every file a reload reads again must be readable now: a clear error at
 * start rather than a failing reload later. */
static int reload_files_readable(const struct server_config *cfg, const char *user) {
  for (size_t i = 0; i < cfg->files.n; i++) {
    const char *path = cfg->files.f[i].path;
    if (path == cfg->cert || path == cfg->key) continue; /* read once, as root */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      log_err("%s: not readable by user %s: reloads would fail (%s)", path, user,
              strerror(errno));
      return 0;
    }
    close(fd);
  }
  return 1;
}

/* The network process, just forked: give up root and enter the sandbox. */
static int enter_child(struct server *srv, const struct privsep_account *acct,
                       pid_t supervisor, int report_fd, int *code) {
  char err[256];
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_UNBLOCK, &chld, NULL);
  *code = 1;
  /* The socket file is the supervisor's to remove; the netlink socket was
   * for configuring the device, which is done. */
  control_keep_file(srv, NULL);
  if (srv->tun.nl) nl_socket_free(srv->tun.nl);
  srv->tun.nl = NULL;
  /* epoll wakes for a signalfd on the signals of the process that added
   * it (signalfd(2)): the supervisor's. Added again, it wakes for ours. */
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &srv->sig_ev};
  if (epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->sig_fd, NULL) != 0 ||
      epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->sig_fd, &ev) != 0) {
    log_err("network process: cannot watch its signals: %s", strerror(errno));
    return 0;
  }
  /* The process holds the server's private key: no core file, ever. */
  struct rlimit none = {0, 0};
  if (setrlimit(RLIMIT_CORE, &none) != 0 || !privsep_drop(acct, err, sizeof(err))) {
    log_err("network process: %s", err[0] ? err : "cannot disable core files");
    return 0;
  }
  /* After the switch: a change of credentials clears the death signal. The
   * loop reads SIGTERM from its signalfd and shuts down cleanly. */
  if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != supervisor) {
    log_err("network process: the supervisor is gone");
    return 0;
  }
#if SANDBOX_SANITIZER_BUILD
  /* LeakSanitizer's exit check ptraces the process's own threads, which a
   * process made non-dumpable by the switch of uid forbids. Test builds
   * only; the core limit above still keeps the key off the disk. */
  prctl(PR_SET_DUMPABLE, 1);
#endif
  if (!reload_files_readable(srv->cfg, acct->name)) {
    *code = 2;
    return 0;
  }
  /* Threads exist before the filter (which then covers them): it allows no
   * new ones. */
  if (!dp_start(srv)) return 0;
  if (!sandbox_install(report_fd, err, sizeof(err))) {
    log_err("network process: %s", err);
    return 0;
  }
  sandboxed.on = 1;
  snprintf(sandboxed.user, sizeof(sandboxed.user), "%s", acct->name);
  sandboxed.uid = acct->uid;
  log_info("network process %d: user %s (uid %u), no capabilities, seccomp on",
           (int)getpid(), acct->name, (unsigned)acct->uid);
  return 1;
}

/* The forbidden call the child's SIGSYS handler reported, or -1. */
static int reported_syscall(int fd) {
  int nr, last = -1;
  while (read(fd, &nr, sizeof(nr)) == (ssize_t)sizeof(nr)) last = nr;
  return last;
}

/* How the child ended, logged; the supervisor's exit status. */
static int report_end(pid_t pid, int status, int report_fd) {
  if (WIFEXITED(status)) {
    if (WEXITSTATUS(status) != 0)
      log_err("network process (pid %d) exited with status %d", (int)pid,
              WEXITSTATUS(status));
    return WEXITSTATUS(status);
  }
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  if (sig == SIGSYS) {
    char name[64];
    int nr = reported_syscall(report_fd);
    if (nr >= 0)
      log_err("network process (pid %d) made a forbidden system call (%d, %s) and was "
              "killed by the seccomp sandbox",
              (int)pid, nr, sandbox_syscall_name(nr, name, sizeof(name)));
    else
      log_err("network process (pid %d) made a forbidden system call and was killed "
              "by the seccomp sandbox",
              (int)pid);
  } else {
    const char *abbrev = sig ? sigabbrev_np(sig) : NULL;
    log_err("network process (pid %d) was killed by signal %d (SIG%s)", (int)pid, sig,
            abbrev ? abbrev : "?");
  }
  return 1;
}

/* The supervisor: signals in, the child's end out. Never returns. */
__attribute__((noreturn)) static void supervise(pid_t pid, int report_fd, const struct zt_ctl_listener *ctl) {
  sigset_t set;
  siginfo_t si;
  int status = 0;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  for (;;) {
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) {
      log_err("supervisor: waitpid: %s", strerror(errno));
      status = 1 << 8;
      break;
    }
    if (sigwaitinfo(&set, &si) < 0) continue;
    if (si.si_signo != SIGCHLD) kill(pid, si.si_signo);
  }
  int code = report_end(pid, status, report_fd);
  close(report_fd);
  if (ctl) zt_ctlsock_unlink(ctl);
  exit(code);
}

int privsep_serve(struct server *srv, const struct privsep_account *acct, int *code) {
  int report[2];
  sigset_t chld;
  *code = 1;
  if (pipe2(report, O_CLOEXEC) != 0) {
    log_err("privilege separation: pipe: %s", strerror(errno));
    return 0;
  }
  /* Blocked before the fork: a child that dies at once is still seen. */
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  pid_t supervisor = getpid();
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    log_err("privilege separation: fork: %s", strerror(errno));
    close(report[0]);
    close(report[1]);
    return 0;
  }
  if (pid == 0) {
    close(report[0]);
    return enter_child(srv, acct, supervisor, report[1], code);
  }
  close(report[1]);
  fcntl(report[0], F_SETFL, O_NONBLOCK);
  /* The epoll instance is shared with the child: closing it first keeps
   * the release below from unregistering the child's descriptors. */
  struct zt_ctl_listener ctl;
  close(srv->epfd);
  srv->epfd = -1;
  control_keep_file(srv, &ctl);
  server_release(srv);
  log_debug("supervisor %d: network process %d started", (int)supervisor, (int)pid);
  supervise(pid, report[0], ctl.path[0] ? &ctl : NULL);
}

const char *privsep_describe(char *buf, size_t len) {
  if (sandboxed.on)
    snprintf(buf, len, "user %s (uid %u), seccomp on", sandboxed.user,
             (unsigned)sandboxed.uid);
  else
    snprintf(buf, len, "off");
  return buf;
}

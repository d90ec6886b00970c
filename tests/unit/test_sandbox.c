/* The seccomp allow-list (sandbox.c) and the privilege drop (privsep.c),
 * each tried in a forked child: what is allowed works, each forbidden call
 * kills the child with SIGSYS and is reported by number on the pipe. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "config.h"
#include "privsep.h"
#include "sandbox.h"

static char tmpdir[] = "/tmp/zt-sandbox-test.XXXXXX";

struct outcome {
  int status; /* from waitpid */
  int nr;     /* reported forbidden call, -1 if none */
};

/* Runs |body| in a forked child inside the sandbox; the child exits with
 * what |body| returns, or dies. */
static struct outcome run_sandboxed(int (*body)(void)) {
  int report[2];
  struct outcome o = {0, -1};
  assert_int_equal(pipe2(report, O_CLOEXEC), 0);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    char err[256];
    close(report[0]);
    if (!sandbox_install(report[1], err, sizeof(err))) {
      fprintf(stderr, "%s\n", err);
      _exit(100);
    }
    _exit(body());
  }
  close(report[1]);
  assert_int_equal(waitpid(pid, &o.status, 0), pid);
  int nr;
  while (read(report[0], &nr, sizeof(nr)) == (ssize_t)sizeof(nr)) o.nr = nr;
  close(report[0]);
  return o;
}

static void expect_killed(int (*body)(void), long nr) {
  struct outcome o = run_sandboxed(body);
  assert_true(WIFSIGNALED(o.status));
  assert_int_equal(WTERMSIG(o.status), SIGSYS);
  assert_int_equal(o.nr, nr);
}

/* ---- allowed ------------------------------------------------------------- */

static int allowed_calls(void) {
  char path[64], buf[16];
  uint8_t rnd[32];
  snprintf(path, sizeof(path), "%s/readable", tmpdir);
  int fd = openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 1;
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  if (n != 5 || memcmp(buf, "hello", 5) != 0) return 2;
  if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) return 3;
  /* A directory can be read (O_DIRECTORY is not a way to write). */
  fd = openat(AT_FDCWD, tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return 4;
  close(fd);
  void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return 5;
  munmap(m, 4096);
  free(malloc(1 << 20));
  return 0;
}

static void test_allowed(void **state) {
  struct outcome o = run_sandboxed(allowed_calls);
  assert_true(WIFEXITED(o.status));
  assert_int_equal(WEXITSTATUS(o.status), 0);
  assert_int_equal(o.nr, -1);
}

/* A pipe made before the sandbox carries data both ways inside it. */
static void test_pipe_made_before(void **state) {
  int p[2];
  assert_int_equal(pipe(p), 0);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    char err[256], buf[8];
    if (!sandbox_install(-1, err, sizeof(err))) _exit(100);
    if (write(p[1], "ping", 4) != 4) _exit(1);
    if (read(p[0], buf, sizeof(buf)) != 4 || memcmp(buf, "ping", 4) != 0) _exit(2);
    _exit(0);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  close(p[0]);
  close(p[1]);
}

/* ---- forbidden: one child each ------------------------------------------- */

static int do_socket(void) {
  return syscall(SYS_socket, AF_INET, SOCK_STREAM, 0) >= 0 ? 10 : 11;
}

static int do_execve(void) {
  char *argv[] = {"/bin/true", NULL}, *envp[] = {NULL};
  syscall(SYS_execve, "/bin/true", argv, envp);
  return 10;
}

static char created[128];

static int do_open_write(void) {
  return syscall(SYS_openat, AT_FDCWD, created, O_WRONLY | O_CREAT | O_CLOEXEC, 0600) >= 0
             ? 10
             : 11;
}

static int do_open_rdwr(void) {
  char path[64];
  snprintf(path, sizeof(path), "%s/readable", tmpdir);
  return syscall(SYS_openat, AT_FDCWD, path, O_RDWR | O_CLOEXEC) >= 0 ? 10 : 11;
}

static int do_ptrace(void) {
  return syscall(SYS_ptrace, PTRACE_TRACEME, 0, NULL, NULL) == 0 ? 10 : 11;
}

static int do_setuid(void) {
  return syscall(SYS_setuid, 0) == 0 ? 10 : 11;
}

static int do_mmap_exec(void) {
  return syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0) != (long)MAP_FAILED
             ? 10
             : 11;
}

static int do_kill_other(void) {
  return syscall(SYS_kill, getppid(), 0) == 0 ? 10 : 11;
}

static void test_socket(void **state) { expect_killed(do_socket, SYS_socket); }
static void test_execve(void **state) { expect_killed(do_execve, SYS_execve); }

static void test_open_for_writing(void **state) {
  snprintf(created, sizeof(created), "%s/created", tmpdir);
  expect_killed(do_open_write, SYS_openat);
  assert_int_equal(access(created, F_OK), -1); /* nothing was created */
  expect_killed(do_open_rdwr, SYS_openat);
}

static void test_ptrace(void **state) {
  if (SANDBOX_SANITIZER_BUILD) skip(); /* LeakSanitizer needs it there */
  expect_killed(do_ptrace, SYS_ptrace);
}

static void test_setuid(void **state) { expect_killed(do_setuid, SYS_setuid); }
static void test_mmap_exec(void **state) { expect_killed(do_mmap_exec, SYS_mmap); }
static void test_kill_other(void **state) { expect_killed(do_kill_other, SYS_kill); }

static void test_syscall_name(void **state) {
  char buf[32];
  assert_string_equal(sandbox_syscall_name(SYS_socket, buf, sizeof(buf)), "socket");
  assert_string_equal(sandbox_syscall_name(-5, buf, sizeof(buf)), "unknown");
}

/* ---- privsep: the account and the drop ---------------------------------- */

static struct server_config cfg;

static void test_lookup(void **state) {
  struct privsep_account a;
  char err[1024];
  snprintf(cfg.file, sizeof(cfg.file), "server.conf");
  snprintf(cfg.user, sizeof(cfg.user), "no-such-zt-user");
  cfg.user_line = 7;
  assert_int_equal(privsep_lookup(&cfg, &a, err, sizeof(err)), 0);
  assert_string_equal(err, "server.conf:7: user \"no-such-zt-user\": no such account");
  cfg.user_line = 0; /* the default account, missing */
  assert_int_equal(privsep_lookup(&cfg, &a, err, sizeof(err)), 0);
  assert_non_null(strstr(err, "server.conf:0: user \"no-such-zt-user\": no such account"));
  assert_non_null(strstr(err, "useradd --system"));
  snprintf(cfg.user, sizeof(cfg.user), "root");
  cfg.user_line = 3;
  assert_int_equal(privsep_lookup(&cfg, &a, err, sizeof(err)), 0);
  assert_non_null(strstr(err, "server.conf:3: user \"root\": has uid or gid 0"));
  snprintf(cfg.user, sizeof(cfg.user), "nobody");
  assert_int_equal(privsep_lookup(&cfg, &a, err, sizeof(err)), 1);
  assert_string_equal(a.name, "nobody");
  assert_true(a.uid != 0);
}

/* The value of "Key:" in /proc/self/status, or NULL. */
static const char *status_line(const char *key, char *out, size_t len) {
  FILE *f = fopen("/proc/self/status", "re");
  char line[256];
  const char *found = NULL;
  size_t klen = strlen(key);
  while (f && !found && fgets(line, sizeof(line), f)) {
    if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
      const char *v = line + klen + 1;
      while (*v == ' ' || *v == '\t') v++;
      snprintf(out, len, "%.*s", (int)strcspn(v, "\n"), v);
      found = out;
    }
  }
  if (f) fclose(f);
  return found;
}

/* 0, or the number of the first check that failed. */
static int dropped_child(const struct privsep_account *a) {
  char err[256], v[128], want[128];
  if (!privsep_drop(a, err, sizeof(err))) return 1;
  snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)a->uid, (unsigned)a->uid,
           (unsigned)a->uid, (unsigned)a->uid);
  if (!status_line("Uid", v, sizeof(v)) || strcmp(v, want) != 0) return 2;
  snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)a->gid, (unsigned)a->gid,
           (unsigned)a->gid, (unsigned)a->gid);
  if (!status_line("Gid", v, sizeof(v)) || strcmp(v, want) != 0) return 3;
  if (!status_line("Groups", v, sizeof(v)) || v[0] != '\0') return 4;
  static const char *const caps[] = {"CapInh", "CapPrm", "CapEff", "CapAmb"};
  for (size_t i = 0; i < 4; i++)
    if (!status_line(caps[i], v, sizeof(v)) || strcmp(v, "0000000000000000") != 0)
      return 5;
  if (setuid(0) == 0 || errno != EPERM) return 6;
  if (seteuid(0) == 0) return 7;
  return 0;
}

static void test_drop(void **state) {
  struct privsep_account a;
  char err[1024];
  if (geteuid() != 0) skip(); /* only root can switch accounts */
  snprintf(cfg.user, sizeof(cfg.user), "nobody");
  assert_int_equal(privsep_lookup(&cfg, &a, err, sizeof(err)), 1);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) _exit(dropped_child(&a));
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

static int setup(void **state) {
  char path[64];
  if (!mkdtemp(tmpdir)) return -1;
  snprintf(path, sizeof(path), "%s/readable", tmpdir);
  FILE *f = fopen(path, "we");
  if (!f) return -1;
  fputs("hello", f);
  return fclose(f);
}

static int teardown(void **state) {
  char path[64];
  snprintf(path, sizeof(path), "%s/readable", tmpdir);
  unlink(path);
  unlink(created);
  return rmdir(tmpdir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_allowed),      cmocka_unit_test(test_pipe_made_before),
      cmocka_unit_test(test_socket),       cmocka_unit_test(test_execve),
      cmocka_unit_test(test_open_for_writing), cmocka_unit_test(test_ptrace),
      cmocka_unit_test(test_setuid),       cmocka_unit_test(test_mmap_exec),
      cmocka_unit_test(test_kill_other),   cmocka_unit_test(test_syscall_name),
      cmocka_unit_test(test_lookup),       cmocka_unit_test(test_drop),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

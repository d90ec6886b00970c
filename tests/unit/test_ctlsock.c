/* ctlsock: the control sockets' unix socket: safe creation (directory,
 * mode, stale and live sockets), the peer check, the bounded request read,
 * the non-blocking answer write, and the text/JSON output helpers. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "testutil.h"

#include <openssl/bytestring.h>
#include <openssl/mem.h>

#include "ctlsock.h"
#include "log.h"

static struct tu_dir dir;

static int setup(void **state) {
  tu_dir_make(&dir);
  log_init("test_ctlsock", LOG_LVL_ERR);
  signal(SIGPIPE, SIG_IGN);
  return 0;
}

static int teardown(void **state) {
  tu_dir_remove(&dir);
  return 0;
}

static int connect_to(const char *path) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Accepts, waiting up to a second for the connection to arrive. */
static enum zt_ctl_accept accept_wait(struct zt_ctl_listener *l, int *fd) {
  struct pollfd p = {.fd = l->fd, .events = POLLIN};
  assert_int_equal(poll(&p, 1, 1000), 1);
  return zt_ctlsock_accept(l, fd);
}

static void test_listen_makes_dir_and_modes(void **state) {
  struct zt_ctl_listener l;
  char sub[PATH_MAX], path[PATH_MAX], err[256] = "";
  struct stat st;
  tu_path(&dir, "run", sub);
  snprintf(path, sizeof(path), "%s/server.sock", sub);
  mode_t old = umask(022);
  assert_int_equal(zt_ctlsock_listen(&l, path, err, sizeof(err)), 1);
  assert_int_equal(umask(old), 022); /* restored */
  assert_int_equal(stat(sub, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  assert_int_equal(st.st_mode & 07777, 0700);
  assert_int_equal(lstat(path, &st), 0);
  assert_true(S_ISSOCK(st.st_mode));
  assert_int_equal(st.st_mode & 07777, 0600);
  assert_true(fcntl(l.fd, F_GETFD) & FD_CLOEXEC);
  assert_true(fcntl(l.fd, F_GETFL) & O_NONBLOCK);
  zt_ctlsock_close(&l);
  assert_int_equal(l.fd, -1);
  assert_int_equal(lstat(path, &st), -1); /* removed on close */
  zt_ctlsock_close(&l);                   /* idempotent */
  zt_ctlsock_close(NULL);
  rmdir(sub);
}

static void test_listen_refusals(void **state) {
  struct zt_ctl_listener l;
  char path[PATH_MAX], err[256];
  struct stat st;
  /* longer than sun_path */
  char longp[200];
  memset(longp, 'a', sizeof(longp) - 1);
  longp[0] = '/';
  longp[sizeof(longp) - 1] = '\0';
  assert_int_equal(zt_ctlsock_listen(&l, longp, err, sizeof(err)), 0);
  assert_non_null(strstr(err, "path longer than"));
  assert_int_equal(l.fd, -1);
  assert_int_equal(zt_ctlsock_listen(&l, "", err, sizeof(err)), 0);
  /* only the last directory is made */
  tu_path(&dir, "no/such/dir.sock", path);
  assert_int_equal(zt_ctlsock_listen(&l, path, err, sizeof(err)), 0);
  assert_non_null(strstr(err, "cannot create directory"));
  tu_path(&dir, "no", path);
  assert_int_equal(stat(path, &st), -1);
  /* a parent that is a file */
  tu_write_str(&dir, "file", "x", path);
  tu_path(&dir, "file/x.sock", path);
  assert_int_equal(zt_ctlsock_listen(&l, path, err, sizeof(err)), 0);
  assert_non_null(strstr(err, "not a directory"));
  /* something that is not a socket is never removed */
  tu_write_str(&dir, "notsock", "keep me", path);
  assert_int_equal(zt_ctlsock_listen(&l, path, err, sizeof(err)), 0);
  assert_non_null(strstr(err, "not a socket"));
  assert_int_equal(stat(path, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  unlink(path);
  tu_path(&dir, "file", path);
  unlink(path);
}

static void test_stale_and_live(void **state) {
  struct zt_ctl_listener a, b;
  char path[PATH_MAX], err[256] = "";
  struct stat st;
  tu_path(&dir, "stale.sock", path);
  /* a socket file nobody listens on any more */
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  close(fd);
  assert_int_equal(lstat(path, &st), 0);
  if (!zt_ctlsock_listen(&a, path, err, sizeof(err))) fail_msg("stale socket: %s", err);
  /* a live one: another instance */
  assert_int_equal(zt_ctlsock_listen(&b, path, err, sizeof(err)), 0);
  assert_non_null(strstr(err, "another instance is running"));
  assert_int_equal(b.fd, -1);
  /* the refusal left the live socket in place and working */
  fd = connect_to(path);
  assert_true(fd >= 0);
  close(fd);
  /* a listener whose file was replaced leaves the new file alone */
  assert_int_equal(unlink(path), 0);
  tu_write_str(&dir, "stale.sock", "someone else's", path);
  zt_ctlsock_close(&a);
  assert_int_equal(lstat(path, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  unlink(path);
}

static void test_accept_own_uid(void **state) {
  struct zt_ctl_listener l;
  char path[PATH_MAX], err[256] = "";
  int fd = -1;
  tu_path(&dir, "own.sock", path);
  assert_int_equal(zt_ctlsock_listen(&l, path, err, sizeof(err)), 1);
  assert_int_equal(zt_ctlsock_accept(&l, &fd), ZT_CTL_ACCEPT_NONE);
  int c = connect_to(path);
  assert_true(c >= 0);
  assert_int_equal(accept_wait(&l, &fd), ZT_CTL_ACCEPT_OK);
  assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
  assert_int_equal(l.accepted, 1);
  assert_int_equal(l.refused, 0);
  close(fd);
  close(c);
  zt_ctlsock_close(&l);
}

/* A peer of another uid is closed with an error line and counted. As root
 * the peer is a child that becomes nobody; otherwise the listener is told
 * it belongs to another uid, so that our own uid is the stranger. */
static void test_accept_refuses_other_uid(void **state) {
  struct zt_ctl_listener l;
  char path[PATH_MAX], err[256] = "";
  int fd = -1;
  tu_path(&dir, "refuse.sock", path);
  assert_int_equal(zt_ctlsock_listen(&l, path, err, sizeof(err)), 1);
  if (geteuid() == 0) {
    assert_int_equal(chmod(dir.path, 0755), 0);
    assert_int_equal(chmod(path, 0666), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      char buf[64] = "";
      if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
      int c = connect_to(path);
      if (c < 0) _exit(4);
      ssize_t n = read(c, buf, sizeof(buf) - 1);
      _exit(n > 0 && strcmp(buf, "error permission denied\n") == 0 ? 0 : 5);
    }
    assert_int_equal(accept_wait(&l, &fd), ZT_CTL_ACCEPT_REFUSED);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    chmod(dir.path, 0700);
  } else {
    char buf[64] = "";
    l.owner = geteuid() + 1;
    int c = connect_to(path);
    assert_true(c >= 0);
    assert_int_equal(accept_wait(&l, &fd), ZT_CTL_ACCEPT_REFUSED);
    assert_true(read(c, buf, sizeof(buf) - 1) > 0);
    assert_string_equal(buf, "error permission denied\n");
    close(c);
  }
  assert_int_equal(l.refused, 1);
  assert_int_equal(l.accepted, 0);
  zt_ctlsock_close(&l);
}

static void pair(int sv[2]) {
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

static void test_read_line(void **state) {
  int sv[2];
  struct zt_ctl_conn c;
  CBS line;
  pair(sv);
  zt_ctl_conn_init(&c, sv[0]);
  assert_int_equal(zt_ctl_conn_read(&c, &line), ZT_CTL_IO_WANT);
  assert_int_equal(write(sv[1], "text st", 7), 7);
  assert_int_equal(zt_ctl_conn_read(&c, &line), ZT_CTL_IO_WANT);
  assert_int_equal(write(sv[1], "atus\nmore junk", 14), 14);
  assert_int_equal(zt_ctl_conn_read(&c, &line), ZT_CTL_IO_DONE);
  assert_int_equal(CBS_len(&line), 12);
  assert_memory_equal(CBS_data(&line), "text status\n", 12);
  zt_ctl_conn_free(&c);
  assert_int_equal(c.fd, -1);
  zt_ctl_conn_free(&c); /* twice is harmless */
  close(sv[1]);
}

static void test_read_bounds(void **state) {
  int sv[2];
  struct zt_ctl_conn c;
  CBS line;
  uint8_t big[ZT_CTL_MAX_REQUEST + 100];
  /* no newline in the first ZT_CTL_MAX_REQUEST bytes */
  pair(sv);
  zt_ctl_conn_init(&c, sv[0]);
  memset(big, 'a', sizeof(big));
  big[ZT_CTL_MAX_REQUEST] = '\n';
  assert_int_equal(write(sv[1], big, sizeof(big)), (ssize_t)sizeof(big));
  assert_int_equal(zt_ctl_conn_read(&c, &line), ZT_CTL_IO_TOO_LONG);
  assert_int_equal(c.in_len, ZT_CTL_MAX_REQUEST);
  zt_ctl_conn_free(&c);
  close(sv[1]);
  /* a newline as the last byte that fits */
  pair(sv);
  zt_ctl_conn_init(&c, sv[0]);
  big[ZT_CTL_MAX_REQUEST - 1] = '\n';
  assert_int_equal(write(sv[1], big, sizeof(big)), (ssize_t)sizeof(big));
  assert_int_equal(zt_ctl_conn_read(&c, &line), ZT_CTL_IO_DONE);
  assert_int_equal(CBS_len(&line), ZT_CTL_MAX_REQUEST);
  zt_ctl_conn_free(&c);
  close(sv[1]);
  /* the peer leaves before its newline */
  pair(sv);
  zt_ctl_conn_init(&c, sv[0]);
  assert_int_equal(write(sv[1], "text", 4), 4);
  close(sv[1]);
  assert_int_equal(zt_ctl_conn_read(&c, &line), ZT_CTL_IO_EOF);
  zt_ctl_conn_free(&c);
}

/* An answer far larger than the socket buffer goes out in pieces. */
static void test_write_nonblocking(void **state) {
  int sv[2];
  struct zt_ctl_conn c;
  const size_t total = 4 * 1024 * 1024;
  pair(sv);
  zt_ctl_conn_init(&c, sv[0]);
  CBB cbb;
  assert_true(CBB_init(&cbb, total));
  for (size_t i = 0; i < total; i++) assert_true(CBB_add_u8(&cbb, (uint8_t)(i * 7)));
  assert_int_equal(zt_ctl_conn_answer(&c, &cbb), 1);
  assert_int_equal(c.out_len, total);
  uint8_t *got = malloc(total);
  size_t have = 0;
  int wants = 0;
  for (int rounds = 0; rounds < 100000; rounds++) {
    enum zt_ctl_io io = zt_ctl_conn_write(&c);
    if (io == ZT_CTL_IO_WANT) wants++;
    else assert_int_equal(io, ZT_CTL_IO_DONE);
    ssize_t n;
    while ((n = read(sv[1], got + have, total - have)) > 0) have += (size_t)n;
    if (io == ZT_CTL_IO_DONE) break;
  }
  assert_true(wants > 0); /* it did have to wait */
  assert_int_equal(have, total);
  for (size_t i = 0; i < total; i++)
    if (got[i] != (uint8_t)(i * 7)) fail_msg("byte %zu differs", i);
  free(got);
  zt_ctl_conn_free(&c);
  /* a peer that left: an error, not a signal */
  assert_true(CBB_init(&cbb, 16));
  assert_true(zt_ctl_printf(&cbb, "ok\n"));
  zt_ctl_conn_init(&c, dup(sv[1]));
  close(sv[1]);
  assert_int_equal(zt_ctl_conn_answer(&c, &cbb), 1);
  assert_int_equal(zt_ctl_conn_write(&c), ZT_CTL_IO_ERR);
  zt_ctl_conn_free(&c);
}

static void test_answer_too_large(void **state) {
  struct zt_ctl_conn c;
  CBB cbb;
  zt_ctl_conn_init(&c, -1);
  assert_true(CBB_init(&cbb, 0));
  uint8_t *p;
  assert_true(CBB_add_space(&cbb, &p, ZT_CTL_MAX_RESPONSE + 1));
  memset(p, 'x', ZT_CTL_MAX_RESPONSE + 1);
  assert_int_equal(zt_ctl_conn_answer(&c, &cbb), 1);
  assert_int_equal(c.out_len, strlen("error answer too large\n"));
  assert_memory_equal(c.out, "error answer too large\n", c.out_len);
  zt_ctl_conn_free(&c);
}

/* Finishes |cbb| into a C string (caller frees). */
static char *finish(CBB *cbb) {
  uint8_t *data;
  size_t len;
  assert_true(CBB_add_u8(cbb, 0));
  assert_true(CBB_finish(cbb, &data, &len));
  return (char *)data;
}

static void test_json_string(void **state) {
  CBB cbb;
  assert_true(CBB_init(&cbb, 16));
  assert_true(zt_ctl_json_string(&cbb, "a\"b\\c/d\n\x01\x7f\xc3\xa9 e"));
  char *s = finish(&cbb);
  assert_string_equal(s, "\"a\\\"b\\\\c/d\\u000a\\u0001\\u007f\\u00c3\\u00a9 e\"");
  OPENSSL_free(s);
  assert_true(CBB_init(&cbb, 16));
  assert_true(zt_ctl_json_string(&cbb, ""));
  s = finish(&cbb);
  assert_string_equal(s, "\"\"");
  OPENSSL_free(s);
}

static void test_printf_long(void **state) {
  CBB cbb;
  char big[3000];
  memset(big, 'z', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  assert_true(CBB_init(&cbb, 16));
  assert_true(zt_ctl_printf(&cbb, "<%s>%d", big, 42));
  char *s = finish(&cbb);
  assert_int_equal(strlen(s), sizeof(big) - 1 + 4);
  assert_int_equal(s[0], '<');
  assert_string_equal(s + sizeof(big), ">42");
  OPENSSL_free(s);
}

static void test_time_iso(void **state) {
  char buf[32];
  assert_string_equal(zt_ctl_time_iso(0, buf, sizeof(buf)), "1970-01-01T00:00:00Z");
  assert_string_equal(zt_ctl_time_iso(1700000000, buf, sizeof(buf)), "2023-11-14T22:13:20Z");
}

static void fill(struct zt_ctl_kv *kv) {
  static const char *const list[] = {"eng", "x\"y"};
  static const char *const names[] = {"spoofed-source", "malformed"};
  static const uint64_t counts[] = {3, 18446744073709551615ull};
  zt_ctl_kv_str(kv, "user", "alice \"A\"");
  zt_ctl_kv_str(kv, "addr6", NULL);
  zt_ctl_kv_str(kv, "empty", "");
  zt_ctl_kv_u64(kv, "bytes", 12345);
  zt_ctl_kv_bool(kv, "up", 1);
  zt_ctl_kv_list(kv, "groups", list, 2);
  zt_ctl_kv_list(kv, "none", list, 0);
  zt_ctl_kv_counts(kv, "drops", names, counts, 2);
}

static void test_kv_text_and_json(void **state) {
  CBB cbb;
  struct zt_ctl_kv kv;
  assert_true(CBB_init(&cbb, 16));
  zt_ctl_kv_begin(&kv, &cbb, 0);
  fill(&kv);
  assert_int_equal(zt_ctl_kv_end(&kv), 1);
  char *s = finish(&cbb);
  assert_string_equal(s,
                      "user: alice \"A\"\n"
                      "addr6: -\n"
                      "empty: -\n"
                      "bytes: 12345\n"
                      "up: yes\n"
                      "groups: eng, x\"y\n"
                      "none: -\n"
                      "drops: spoofed-source=3 malformed=18446744073709551615\n");
  OPENSSL_free(s);

  assert_true(CBB_init(&cbb, 16));
  zt_ctl_kv_begin(&kv, &cbb, 1);
  fill(&kv);
  assert_int_equal(zt_ctl_kv_end(&kv), 1);
  s = finish(&cbb);
  assert_string_equal(s,
                      "{\"user\":\"alice \\\"A\\\"\",\"addr6\":null,\"empty\":\"\","
                      "\"bytes\":12345,\"up\":true,\"groups\":[\"eng\",\"x\\\"y\"],"
                      "\"none\":[],\"drops\":{\"spoofed-source\":3,"
                      "\"malformed\":18446744073709551615}}");
  OPENSSL_free(s);
}

/* A failed append makes the whole record fail, whatever comes after. */
static void test_kv_sticky_failure(void **state) {
  CBB cbb;
  uint8_t small[8];
  struct zt_ctl_kv kv;
  assert_true(CBB_init_fixed(&cbb, small, sizeof(small)));
  zt_ctl_kv_begin(&kv, &cbb, 1);
  zt_ctl_kv_str(&kv, "a-long-key", "value");
  zt_ctl_kv_u64(&kv, "b", 1);
  assert_int_equal(zt_ctl_kv_end(&kv), 0);
  CBB_cleanup(&cbb);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_listen_makes_dir_and_modes),
      cmocka_unit_test(test_listen_refusals),
      cmocka_unit_test(test_stale_and_live),
      cmocka_unit_test(test_accept_own_uid),
      cmocka_unit_test(test_accept_refuses_other_uid),
      cmocka_unit_test(test_read_line),
      cmocka_unit_test(test_read_bounds),
      cmocka_unit_test(test_write_nonblocking),
      cmocka_unit_test(test_answer_too_large),
      cmocka_unit_test(test_json_string),
      cmocka_unit_test(test_printf_long),
      cmocka_unit_test(test_time_iso),
      cmocka_unit_test(test_kv_text_and_json),
      cmocka_unit_test(test_kv_sticky_failure),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

/* log: one line per event on stderr, filtered by level. stderr is pointed at
 * a temporary file to read back what was written. */
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "log.h"
#include "testutil.h"

static struct tu_dir dir;
static char out_path[PATH_MAX];
static int saved_stderr = -1;

/* Per test: stderr goes to a fresh file. Whatever the test leaves unread
 * (cmocka's own failure messages included) is copied to the real stderr. */
static int setup(void **state) {
  tu_dir_make(&dir);
  tu_path(&dir, "stderr.txt", out_path);
  fflush(stderr);
  saved_stderr = dup(STDERR_FILENO);
  int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || saved_stderr < 0 || dup2(fd, STDERR_FILENO) < 0) return -1;
  close(fd);
  return 0;
}

static int teardown(void **state) {
  char buf[4096];
  fflush(stderr);
  dup2(saved_stderr, STDERR_FILENO);
  close(saved_stderr);
  int fd = open(out_path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
      if (write(STDERR_FILENO, buf, (size_t)n) != n) break;
    close(fd);
  }
  tu_dir_remove(&dir);
  return 0;
}

/* Returns what was written to stderr since the last call. */
static const char *captured(void) {
  static char buf[8192];
  fflush(stderr);
  FILE *f = fopen(out_path, "re");
  assert_non_null(f);
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  buf[n] = '\0';
  fclose(f);
  assert_int_equal(ftruncate(STDERR_FILENO, 0), 0);
  lseek(STDERR_FILENO, 0, SEEK_SET);
  return buf;
}

static void test_levels(void **state) {
  log_init("zttest", LOG_LVL_INFO);
  captured();
  log_err("e %d", 1);
  log_warn("w %s", "two");
  log_info("i");
  log_debug("d");
  assert_string_equal(captured(), "zttest: error: e 1\nzttest: warning: w two\nzttest: info: i\n");
  log_set_level(LOG_LVL_DEBUG);
  log_debug("now %s", "shown");
  assert_string_equal(captured(), "zttest: debug: now shown\n");
  log_set_level(LOG_LVL_ERR);
  log_warn("hidden");
  log_info("hidden");
  log_err("kept");
  assert_string_equal(captured(), "zttest: error: kept\n");
  log_set_level(LOG_LVL_INFO);
}

static void test_long_line_cut(void **state) {
  char big[6000];
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  log_init("zttest", LOG_LVL_INFO);
  captured();
  log_info("%s", big);
  const char *out = captured();
  /* one line, cut but terminated */
  assert_non_null(strchr(out, '\n'));
  assert_int_equal(strchr(out, '\n')[1], '\0');
  assert_true(strlen(out) < 4200);
}

static void test_ssl_errors(void **state) {
  log_init("zttest", LOG_LVL_INFO);
  captured();
  /* make the library queue an error: a PEM read of nothing */
  BIO *b = BIO_new_mem_buf("junk", 4);
  assert_null(PEM_read_bio_X509(b, NULL, NULL, NULL));
  BIO_free(b);
  assert_int_not_equal(ERR_peek_error(), 0);
  log_ssl_errors("loading");
  const char *out = captured();
  tu_assert_contains(out, "zttest: warning: loading: ");
  assert_int_equal(ERR_peek_error(), 0); /* drained */
  log_ssl_errors("nothing queued");
  assert_string_equal(captured(), "zttest: warning: nothing queued\n");
}

static void test_fatal_exits(void **state) {
  captured();
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    log_init("zttest", LOG_LVL_ERR);
    fatal(2, "bad config %s", "x.conf");
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 2);
  assert_string_equal(captured(), "zttest: bad config x.conf\n");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
      cmocka_unit_test_setup_teardown(test_long_line_cut, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ssl_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fatal_exits, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

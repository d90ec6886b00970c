/* Configuration texts for the tests of server/config.c, client/config.c and
 * server/policy*.c: a valid base file kept as an array of lines, edits that
 * replace a range of those lines, so that each error case knows the line its
 * "FILE:LINE: message" must name, and the fixture those tests share.
 *
 * Everything here is static and marked unused, like testutil.h. */
#ifndef ZTVPN_CONFTEXT_H
#define ZTVPN_CONFTEXT_H

#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "testutil.h"

/* struct ct_fixture is where a configuration test works: a private
 * directory, the path of the file under test in it, and room for the
 * loader's "FILE:LINE: message". */
struct ct_fixture {
  struct tu_dir dir;
  char path[PATH_MAX];
  char err[ZT_CONF_ERR_LEN];
};

/* ct_fixture_make zeroes |ct|, makes its fresh directory and sets |ct->path|
 * to |name| in it (the file is not created). */
TU_FN void ct_fixture_make(struct ct_fixture *ct, const char *name) {
  memset(ct, 0, sizeof(*ct));
  tu_dir_make(&ct->dir);
  tu_path(&ct->dir, name, ct->path);
}

/* ct_fixture_remove deletes the directory of |ct| and all in it. */
TU_FN void ct_fixture_remove(struct ct_fixture *ct) { tu_dir_remove(&ct->dir); }

/* ct_edit replaces base lines |from|..|to| (1-based, inclusive) with |with|,
 * which may hold several lines separated by '\n'; NULL deletes them. With
 * |to| == |from| - 1 nothing is replaced: |with| is inserted before line
 * |from|. A zeroed edit (from 0) leaves the base as it is. */
struct ct_edit {
  int from, to;
  const char *with;
};

/* ct_write writes |lines| (|n| of them) with |edit| applied to |path|. */
TU_FN void ct_write(const char *path, const char *const *lines, size_t n,
                    const struct ct_edit *edit) {
  FILE *f = fopen(path, "we");
  if (!f) fail_msg("cannot create %s", path);
  for (size_t i = 1; i <= n + 1; i++) {
    if (edit && edit->from > 0 && (size_t)edit->from == i && edit->with)
      fprintf(f, "%s\n", edit->with);
    if (i == n + 1) break;
    if (edit && edit->from > 0 && (int)i >= edit->from && (int)i <= edit->to)
      continue;
    fprintf(f, "%s\n", lines[i - 1]);
  }
  fclose(f);
}

/* ct_fixture_write writes |lines| (|n| of them) with |edit| applied to
 * |ct->path| and clears |ct->err| for the load that follows. */
TU_FN void ct_fixture_write(struct ct_fixture *ct, const char *const *lines,
                            size_t n, const struct ct_edit *edit) {
  ct_write(ct->path, lines, n, edit);
  memset(ct->err, 0, sizeof(ct->err));
}

/* ct_assert_dir_path fails unless |got| is |name| in the directory of |ct|
 * (a relative path of the file resolved against its directory). */
TU_FN void ct_assert_dir_path(const struct ct_fixture *ct, const char *got,
                              const char *name) {
  char want[PATH_MAX];
  assert_string_equal(got, tu_path(&ct->dir, name, want));
}

/* struct ct_err_case is one refusal: the base with |edit| applied must be
 * refused with a message "FILE:LINE: ..." that names |line| and contains
 * |msg|. */
struct ct_err_case {
  const char *name;
  struct ct_edit edit;
  unsigned line; /* the line the message must name */
  const char *msg;
};

/* ct_err_case_ok returns 1 if |ct->err| is the message case |c| wants;
 * otherwise it prints what it got (print_error) and returns 0, so that a
 * test can go through all its cases before it fails. */
TU_FN int ct_err_case_ok(const struct ct_fixture *ct, const struct ct_err_case *c) {
  char prefix[PATH_MAX + 32];
  snprintf(prefix, sizeof(prefix), "%s:%u: ", ct->path, c->line);
  if (strncmp(ct->err, prefix, strlen(prefix)) == 0 &&
      strstr(ct->err + strlen(prefix), c->msg))
    return 1;
  print_error("case '%s': got \"%s\", want \"%s...%s\"\n", c->name, ct->err, prefix,
              c->msg);
  return 0;
}

/* ct_assert_err fails unless |err| is "<path>:<line>: ..." and contains
 * |what|. */
TU_FN void ct_assert_err(const char *err, const char *path, unsigned line,
                         const char *what) {
  char prefix[PATH_MAX + 32];
  snprintf(prefix, sizeof(prefix), "%s:%u: ", path, line);
  if (strncmp(err, prefix, strlen(prefix)) != 0)
    fail_msg("error \"%s\" does not start with \"%s\"", err, prefix);
  tu_assert_contains(err + strlen(prefix), what);
}

#endif

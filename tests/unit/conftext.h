/* Configuration texts for the tests of server/config.c and client/config.c:
 * a valid base file kept as an array of lines, and edits that replace a
 * range of those lines, so that each error case knows the line its
 * "FILE:LINE: message" must name.
 *
 * Everything here is static and marked unused, like testutil.h. */
#ifndef ZTVPN_CONFTEXT_H
#define ZTVPN_CONFTEXT_H

#include <stdio.h>
#include <string.h>

#include "testutil.h"

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

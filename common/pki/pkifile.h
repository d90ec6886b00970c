/* How ztvpn-pki reads and writes its files: bounded reads, and writes that
 * never leave half a file and never widen a key's permissions. */
#ifndef ZTVPN_PKI_FILE_H
#define ZTVPN_PKI_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* zt_pki_read_file reads all of |path| (at most |max| bytes) into a new
 * buffer |*out| (free() it; NUL-terminated after |*len| bytes). Returns 1,
 * or 0 with a reason in |err|. */
int zt_pki_read_file(const char *path, size_t max, uint8_t **out, size_t *len,
                     char *err, size_t errlen);

/* zt_pki_write_file writes |data| to |path| with permissions |mode|. With
 * |replace| 0 the file is created with O_EXCL and an existing file is an
 * error ("... exists; --force replaces it"); with |replace| 1 the data goes
 * to a temporary file in the same directory (created 0600) that is renamed
 * over |path|, so a reader sees the old or the new file, never a mix. A
 * file is never readable beyond |mode| at any moment. Returns 1, or 0 with
 * a reason in |err|. */
int zt_pki_write_file(const char *path, const void *data, size_t len, mode_t mode,
                      int replace, char *err, size_t errlen);

/* zt_pki_mkdir creates |path| with |mode| unless it is already a directory.
 * Returns 1, or 0 with |err|. */
int zt_pki_mkdir(const char *path, mode_t mode, char *err, size_t errlen);

/* zt_pki_path formats a path into |out|. Returns 1, or 0 if it does not fit. */
int zt_pki_path(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

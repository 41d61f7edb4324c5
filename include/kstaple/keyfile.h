/* SPDX-License-Identifier: MIT */
/*
 * keyfile: private key files are opened, checked and read here, and nowhere else.
 *
 * A key file is refused when another user could read or change it: its mode has any group or
 * other bit (mode & 077), or it is owned by neither root nor the user kstaple runs as. The
 * check runs on the descriptor that is then read (fstat), so the file checked is the file
 * loaded. `[kstaple] allow_insecure_key_permissions = yes` turns the refusal into a warning.
 * The bytes read are kept in a buffer that ks_keyfile_free() wipes (OPENSSL_cleanse) before
 * freeing: key material does not linger in freed heap memory or in a stdio buffer.
 * Every error is logged here, naming the file; no key byte is ever logged.
 */
#ifndef KSTAPLE_KEYFILE_H
#define KSTAPLE_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kstaple/common.h"

#define KS_KEYFILE_MAX (1024 * 1024) /* larger "key files" are refused (-EFBIG) */

/*
 * Check the key file open on fd (path and cert are for messages; cert may be NULL).
 * -EPERM: group/other permission bits or a foreign owner (refused unless allow_insecure, in
 * which case a warning is logged and 0 returned); -EINVAL: not a regular file; -errno: fstat.
 */
KS_MUST_CHECK int ks_keyfile_check_fd(int fd, const char *path, const char *cert,
				      bool allow_insecure);

/* Same, for a path (stat follows symbolic links: the file that would be read is checked). */
KS_MUST_CHECK int ks_keyfile_check(const char *path, bool allow_insecure);

/*
 * Open path, check it (as above) and read it whole into *buf (*len bytes, NUL-terminated
 * beyond len). Free with ks_keyfile_free(). -ENOENT/-EACCES/...: cannot open; -EPERM/-EINVAL
 * as above; -EFBIG: larger than KS_KEYFILE_MAX; -EAGAIN: the file grew while being read.
 */
KS_MUST_CHECK int ks_keyfile_read(const char *path, const char *cert, bool allow_insecure,
				  uint8_t **buf, size_t *len);

/* Wipe and free a buffer from ks_keyfile_read (NULL is fine). */
void ks_keyfile_free(uint8_t *buf, size_t len);

#endif /* KSTAPLE_KEYFILE_H */

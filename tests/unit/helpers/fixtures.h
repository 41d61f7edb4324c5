/* SPDX-License-Identifier: MIT */
/*
 * Test helpers shared by the unit tests: locating the generated fixtures (KS_FIXTURES, made by
 * scripts/mkfixtures.sh) and reading them. Tests that need fixtures call ks_test_fixture() and
 * skip (cr_skip_test) when KS_FIXTURES is unset rather than fail on a missing directory.
 */
#ifndef KSTAPLE_TEST_FIXTURES_H
#define KSTAPLE_TEST_FIXTURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "kstaple/common.h"

/* The KS_FIXTURES directory, or NULL when the variable is unset or empty. */
const char *ks_test_fixtures_dir(void);

/*
 * "$KS_FIXTURES/rel" in a static buffer (overwritten by the next call from the same thread),
 * or NULL when KS_FIXTURES is unset or the path is too long. Copy it to keep two at once.
 */
const char *ks_test_fixture(const char *rel);

/* Same, for a printf-style relative path, e.g. ks_test_fixturef("pki/leaf/%s/cert.pem", n). */
const char *ks_test_fixturef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* true when "$KS_FIXTURES/rel" exists. */
bool ks_test_have_fixture(const char *rel);

/* Read a whole file into a malloc'd buffer (NUL-terminated beyond len). 0 or negative errno. */
KS_MUST_CHECK int ks_test_read_file(const char *path, uint8_t **buf, size_t *len);

/* The first certificate of the PEM file "$KS_FIXTURES/rel", or NULL. Free with X509_free. */
X509 *ks_test_x509(const char *rel);

/* The port of the fixture OCSP responder (pki/ocsp-port), or -1. */
int ks_test_ocsp_port(void);

/* A fresh empty directory under $TMPDIR (or /tmp), copied into dir (>= 64 bytes). 0 or -errno. */
KS_MUST_CHECK int ks_test_tmpdir(char *dir, size_t len);

/* Remove a directory made by ks_test_tmpdir and the plain files in it (best effort). */
void ks_test_rmdir(const char *dir);

#endif /* KSTAPLE_TEST_FIXTURES_H */

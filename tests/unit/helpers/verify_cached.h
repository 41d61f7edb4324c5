/* SPDX-License-Identifier: MIT */
#ifndef KSTAPLE_TEST_VERIFY_CACHED_H
#define KSTAPLE_TEST_VERIFY_CACHED_H

#include <stddef.h>
#include <stdint.h>

#include "kstaple/ocsp_certcache.h"
#include "kstaple/ocsp_verify.h"

/*
 * Verify der again with p through a fresh cache (cold, then warm) and through one cache shared
 * by the test process, and assert each result equals want field by field.
 */
void verify_cached_too(const uint8_t *der, size_t len, struct ks_verify_params p,
		       const struct ks_ocsp_result *want);

#endif /* KSTAPLE_TEST_VERIFY_CACHED_H */

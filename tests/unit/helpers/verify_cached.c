// SPDX-License-Identifier: MIT
/* Shared by the ocsp_verify suites: a verdict checked again through response-certificate caches. */
#include <criterion/criterion.h>

#include "verify_cached.h"

/*
 * A certificate cache must never change a verdict: every response verified here is verified
 * again through a fresh cache (cold, then warm) and through one cache shared by the whole test
 * (certificates of earlier responses cached), and the results must be identical.
 */
static struct ks_ocsp_certcache *shared_cc;

static void expect_same(const struct ks_ocsp_result *a, const struct ks_ocsp_result *b,
			const char *how)
{
	cr_assert_eq(b->verdict, a->verdict, "%s: %s (%s) instead of %s (%s)", how,
		     ks_verdict_name(b->verdict), b->detail, ks_verdict_name(a->verdict),
		     a->detail);
	cr_assert_str_eq(b->detail, a->detail, "%s", how);
	cr_assert(b->response_status == a->response_status && b->produced_at == a->produced_at &&
			  b->this_update == a->this_update && b->next_update == a->next_update &&
			  b->revocation_time == a->revocation_time &&
			  b->revocation_reason == a->revocation_reason,
		  "%s: the times or status differ", how);
}

void verify_cached_too(const uint8_t *der, size_t len, struct ks_verify_params p,
		       const struct ks_ocsp_result *want)
{
	struct ks_ocsp_certcache *cc = ks_ocsp_certcache_new(0);
	struct ks_ocsp_result got;

	cr_assert_not_null(cc);
	if (!shared_cc)
		shared_cc = ks_ocsp_certcache_new(4); /* small: evictions happen too */
	cr_assert_not_null(shared_cc);
	p.certs = cc;
	cr_assert_eq(ks_ocsp_verify(der, len, &p, &got), 0);
	expect_same(want, &got, "cold cache");
	cr_assert_eq(ks_ocsp_verify(der, len, &p, &got), 0);
	expect_same(want, &got, "warm cache");
	p.certs = shared_cc;
	cr_assert_eq(ks_ocsp_verify(der, len, &p, &got), 0);
	expect_same(want, &got, "shared cache");
	ks_ocsp_certcache_free(cc);
}

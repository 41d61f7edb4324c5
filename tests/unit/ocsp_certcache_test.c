// SPDX-License-Identifier: MIT
/*
 * ocsp_certcache: exact-bytes keys (another certificate, even one bit apart, is a miss),
 * bytes that are not exactly one certificate are refused and not cached, the issuance record
 * is per issuer and only written on success, LRU eviction, and concurrent lookups.
 * Its effect on verdicts is tested in ocsp_verify_test.c and ocsp_verify_craft_test.c, which
 * verify every response with and without a cache.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/fixtures.h"
#include "kstaple/ocsp_certcache.h"

struct der {
	uint8_t *p;
	size_t len;
};

static struct der der_of(const char *rel)
{
	X509 *x;
	struct der d = { 0 };
	unsigned char *p = NULL;
	int n;

	if (!ks_test_fixtures_dir())
		cr_skip_test("KS_FIXTURES is not set (make fixtures; see scripts/mkfixtures.sh)");
	x = ks_test_x509(rel);
	cr_assert_not_null(x, "cannot load %s", rel);
	n = i2d_X509(x, &p);
	cr_assert_gt(n, 0);
	d.p = malloc((size_t)n + 1); /* room for a trailing byte */
	cr_assert_not_null(d.p);
	memcpy(d.p, p, (size_t)n);
	d.len = (size_t)n;
	OPENSSL_free(p);
	X509_free(x);
	return d;
}

static void stats(struct ks_ocsp_certcache *cc, size_t hits, size_t parsed, size_t evicted)
{
	size_t h, p, e;

	ks_ocsp_certcache_stats(cc, &h, &p, &e);
	cr_assert(h == hits && p == parsed && e == evicted,
		  "hits %zu parsed %zu evicted %zu, want %zu %zu %zu", h, p, e, hits, parsed,
		  evicted);
}

Test(ocsp_certcache, same_bytes_hit_other_bytes_miss)
{
	struct ks_ocsp_certcache *cc = ks_ocsp_certcache_new(0);
	struct der a = der_of("pki/responder/delegate.crt"), b = der_of("pki/leaf/ecdsa/cert.pem");
	X509 *x1, *x2, *y, *z;

	cr_assert_not_null(cc);
	x1 = ks_ocsp_certcache_get(cc, a.p, a.len);
	x2 = ks_ocsp_certcache_get(cc, a.p, a.len);
	cr_assert(x1 && x1 == x2, "identical bytes share one object");
	stats(cc, 1, 1, 0);
	y = ks_ocsp_certcache_get(cc, b.p, b.len);
	cr_assert(y && y != x1, "another certificate is another entry");
	stats(cc, 1, 2, 0);
	/* The last byte of the signature flipped: still parses, but it is not the same cert. */
	a.p[a.len - 1] ^= 1;
	z = ks_ocsp_certcache_get(cc, a.p, a.len);
	cr_assert(z && z != x1, "one bit apart is a miss");
	stats(cc, 1, 3, 0);
	cr_assert_neq(X509_cmp(z, x1), 0);
	X509_free(x1);
	X509_free(x2);
	X509_free(y);
	X509_free(z);
	ks_ocsp_certcache_free(cc);
	free(a.p);
	free(b.p);
}

Test(ocsp_certcache, not_exactly_one_certificate_is_refused_and_not_cached)
{
	struct ks_ocsp_certcache *cc = ks_ocsp_certcache_new(0);
	struct der a = der_of("pki/responder/delegate.crt");
	X509 *x;

	cr_assert_not_null(cc);
	a.p[a.len] = 0x00;
	errno = 0;
	cr_assert_null(ks_ocsp_certcache_get(cc, a.p, a.len + 1), "trailing byte");
	cr_assert_eq(errno, EBADMSG);
	cr_assert_null(ks_ocsp_certcache_get(cc, a.p, a.len - 1), "truncated");
	cr_assert_null(ks_ocsp_certcache_get(cc, a.p, 0), "empty");
	a.p[0] = 0x31; /* SET, not SEQUENCE */
	cr_assert_null(ks_ocsp_certcache_get(cc, a.p, a.len), "wrong tag");
	stats(cc, 0, 0, 0);
	/* Refused twice: a failure is never remembered as a certificate. */
	cr_assert_null(ks_ocsp_certcache_get(cc, a.p, a.len));
	stats(cc, 0, 0, 0);
	a.p[0] = 0x30;
	x = ks_ocsp_certcache_get(cc, a.p, a.len);
	cr_assert_not_null(x);
	stats(cc, 0, 1, 0);
	X509_free(x);
	/* Without a cache: parsed every time, same rules. */
	x = ks_ocsp_certcache_get(NULL, a.p, a.len);
	cr_assert_not_null(x);
	X509_free(x);
	cr_assert_null(ks_ocsp_certcache_get(NULL, a.p, a.len + 1));
	ks_ocsp_certcache_free(cc);
	free(a.p);
}

Test(ocsp_certcache, issuance_is_remembered_per_issuer_and_only_when_noted)
{
	struct ks_ocsp_certcache *cc = ks_ocsp_certcache_new(0);
	struct der a = der_of("pki/responder/delegate.crt");
	X509 *issuer = ks_test_x509("pki/ca/intermediate/ca.crt");
	X509 *issuer2 = ks_test_x509("pki/ca/intermediate/ca.crt"); /* same bytes, other object */
	X509 *wrong = ks_test_x509("pki/wrongca/ca.crt");
	X509 *d, *outsider;

	cr_assert(cc && issuer && issuer2 && wrong);
	d = ks_ocsp_certcache_get(cc, a.p, a.len);
	cr_assert_not_null(d);
	cr_assert_not(ks_ocsp_certcache_issued_by(cc, d, issuer), "nothing noted yet");
	ks_ocsp_certcache_note_issued(cc, d, issuer);
	cr_assert(ks_ocsp_certcache_issued_by(cc, d, issuer));
	cr_assert(ks_ocsp_certcache_issued_by(cc, d, issuer2), "issuers compare by content");
	cr_assert_not(ks_ocsp_certcache_issued_by(cc, d, wrong), "another issuer");
	cr_assert_not(ks_ocsp_certcache_issued_by(NULL, d, issuer));
	/* An object that is not in the cache (same bytes, parsed elsewhere) knows nothing. */
	outsider = ks_ocsp_certcache_get(NULL, a.p, a.len);
	cr_assert_not_null(outsider);
	cr_assert_not(ks_ocsp_certcache_issued_by(cc, outsider, issuer));
	ks_ocsp_certcache_note_issued(cc, outsider, wrong); /* ignored: not an entry */
	cr_assert_not(ks_ocsp_certcache_issued_by(cc, d, wrong));
	X509_free(outsider);
	X509_free(d);
	X509_free(issuer);
	X509_free(issuer2);
	X509_free(wrong);
	ks_ocsp_certcache_free(cc);
	free(a.p);
}

Test(ocsp_certcache, least_recently_used_is_evicted_and_forgets_issuance)
{
	struct ks_ocsp_certcache *cc = ks_ocsp_certcache_new(2);
	struct der a = der_of("pki/responder/delegate.crt"), b = der_of("pki/leaf/ecdsa/cert.pem"),
		   c = der_of("pki/leaf/rsa/cert.pem");
	X509 *issuer = ks_test_x509("pki/ca/intermediate/ca.crt"), *x;

	cr_assert(cc && issuer);
	x = ks_ocsp_certcache_get(cc, a.p, a.len);
	ks_ocsp_certcache_note_issued(cc, x, issuer);
	X509_free(x);
	X509_free(ks_ocsp_certcache_get(cc, b.p, b.len));
	X509_free(ks_ocsp_certcache_get(cc, a.p, a.len)); /* a is now the most recent */
	X509_free(ks_ocsp_certcache_get(cc, c.p, c.len)); /* evicts b */
	stats(cc, 1, 3, 1);
	x = ks_ocsp_certcache_get(cc, a.p, a.len);
	cr_assert(ks_ocsp_certcache_issued_by(cc, x, issuer), "a survived with its record");
	X509_free(x);
	X509_free(ks_ocsp_certcache_get(cc, b.p, b.len)); /* parsed again, evicts c */
	stats(cc, 2, 4, 2);
	X509_free(ks_ocsp_certcache_get(cc, c.p, c.len)); /* parsed again, evicts a */
	x = ks_ocsp_certcache_get(cc, a.p, a.len);	  /* parsed again: a new entry */
	stats(cc, 2, 6, 4);
	cr_assert_not(ks_ocsp_certcache_issued_by(cc, x, issuer), "a new entry starts unverified");
	X509_free(x);
	cr_assert_null(ks_ocsp_certcache_new(100000), "bounded");
	X509_free(issuer);
	ks_ocsp_certcache_free(cc);
	free(a.p);
	free(b.p);
	free(c.p);
}

struct race {
	struct ks_ocsp_certcache *cc;
	struct der *ders;
	X509 *issuer;
};

static void *racer(void *arg)
{
	struct race *r = arg;

	for (int i = 0; i < 300; i++) {
		struct der *d = &r->ders[i % 3];
		X509 *x = ks_ocsp_certcache_get(r->cc, d->p, d->len);

		if (!x)
			return (void *)1;
		if (i % 5 == 0)
			ks_ocsp_certcache_note_issued(r->cc, x, r->issuer);
		(void)ks_ocsp_certcache_issued_by(r->cc, x, r->issuer);
		X509_free(x);
	}
	return NULL;
}

/* Run under ThreadSanitizer/ASan builds too: shared entries, eviction while others hold refs. */
Test(ocsp_certcache, concurrent_lookups_and_evictions)
{
	struct der ders[3] = { der_of("pki/responder/delegate.crt"),
			       der_of("pki/leaf/ecdsa/cert.pem"), der_of("pki/leaf/rsa/cert.pem") };
	struct race r = { ks_ocsp_certcache_new(2), ders,
			  ks_test_x509("pki/ca/intermediate/ca.crt") };
	pthread_t t[4];
	size_t h, p, e;
	void *ret;

	cr_assert(r.cc && r.issuer);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, racer, &r), 0);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(pthread_join(t[i], &ret), 0);
		cr_assert_null(ret, "a lookup failed");
	}
	ks_ocsp_certcache_stats(r.cc, &h, &p, &e);
	cr_assert_eq(h + p, 4 * 300, "every lookup was a hit or a parse");
	X509_free(r.issuer);
	ks_ocsp_certcache_free(r.cc);
	for (int i = 0; i < 3; i++)
		free(ders[i].p);
}

// SPDX-License-Identifier: MIT
/* cert_pool: intermediates parsed once and shared by exact DER bytes, never by name. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "helpers/fixtures.h"
#include "kstaple/cert_pool.h"
#include "kstaple/cert_store.h"
#include "kstaple/log.h"

static void setup(void)
{
	cr_assert(ks_test_fixtures_dir(),
		  "KS_FIXTURES is not set: run scripts/mkpki.sh DIR and KS_FIXTURES=DIR");
	ks_log_set_timestamps(0);
}

TestSuite(cert_pool, .init = setup);

/* DER of a fixture certificate (OPENSSL_free it). */
static int fixture_der(const char *rel, unsigned char **der)
{
	X509 *x = ks_test_x509(rel);
	int len;

	cr_assert_not_null(x, "fixture %s", rel);
	*der = NULL;
	len = i2d_X509(x, der);
	cr_assert_gt(len, 0);
	X509_free(x);
	return len;
}

Test(cert_pool, identical_bytes_share_one_parse)
{
	struct ks_cert_pool *pool = ks_cert_pool_new();
	unsigned char *inter, *root;
	int ilen = fixture_der("pki/ca/intermediate/ca.crt", &inter);
	int rlen = fixture_der("pki/ca/root/ca.crt", &root);
	X509 *a, *b, *c;
	size_t hits, parsed;

	cr_assert_not_null(pool);
	a = ks_cert_pool_get(pool, inter, (size_t)ilen);
	b = ks_cert_pool_get(pool, inter, (size_t)ilen);
	c = ks_cert_pool_get(pool, root, (size_t)rlen);
	cr_assert(a && b && c);
	cr_assert_eq(a, b, "the same bytes must give the same object");
	cr_assert_neq(a, c, "different certificates must not be confused");
	cr_assert_neq(X509_cmp(c, a), 0, "root != intermediate");
	ks_cert_pool_stats(pool, &hits, &parsed);
	cr_assert_eq(hits, 1);
	cr_assert_eq(parsed, 2);
	/* References outlive the pool. */
	ks_cert_pool_free(pool);
	cr_assert_not_null(X509_get_subject_name(a));
	cr_assert_not_null(X509_get0_pubkey(c));
	X509_free(a);
	X509_free(b);
	X509_free(c);
	OPENSSL_free(inter);
	OPENSSL_free(root);
}

Test(cert_pool, rejects_what_is_not_a_certificate_and_caches_nothing)
{
	static const uint8_t junk[] = { 0x30, 0x03, 0x02, 0x01, 0x00 };
	struct ks_cert_pool *pool = ks_cert_pool_new();
	unsigned char *inter;
	int ilen = fixture_der("pki/ca/intermediate/ca.crt", &inter);
	size_t hits, parsed;

	errno = 0;
	cr_assert_null(ks_cert_pool_get(pool, junk, sizeof(junk)));
	cr_assert_eq(errno, EBADMSG);
	errno = 0;
	cr_assert_null(ks_cert_pool_get(pool, inter, (size_t)ilen - 1), "truncated DER");
	cr_assert_eq(errno, EBADMSG);
	errno = 0;
	cr_assert_null(ks_cert_pool_get(pool, inter, 0));
	cr_assert_eq(errno, EBADMSG);
	ks_cert_pool_stats(pool, &hits, &parsed);
	cr_assert_eq(hits + parsed, 0, "failures must not be cached");
	ks_cert_pool_free(pool);
	OPENSSL_free(inter);
}

Test(cert_pool, without_a_pool_every_call_parses)
{
	unsigned char *inter;
	int ilen = fixture_der("pki/ca/intermediate/ca.crt", &inter);
	X509 *a = ks_cert_pool_get(NULL, inter, (size_t)ilen);
	X509 *b = ks_cert_pool_get(NULL, inter, (size_t)ilen);

	cr_assert(a && b && a != b);
	cr_assert_eq(X509_cmp(a, b), 0);
	X509_free(a);
	X509_free(b);
	OPENSSL_free(inter);
	ks_cert_pool_free(NULL);
}

struct racer {
	struct ks_cert_pool *pool;
	const unsigned char *der;
	size_t len;
	X509 *seen;
	bool mixed;
};

static void *race(void *arg)
{
	struct racer *r = arg;

	for (int i = 0; i < 200; i++) {
		X509 *x = ks_cert_pool_get(r->pool, r->der, r->len);

		if (!x || (r->seen && x != r->seen))
			r->mixed = true;
		if (!r->seen)
			r->seen = x;
		else
			X509_free(x);
	}
	return NULL;
}

Test(cert_pool, threads_share_one_object)
{
	struct ks_cert_pool *pool = ks_cert_pool_new();
	unsigned char *inter;
	int ilen = fixture_der("pki/ca/intermediate/ca.crt", &inter);
	struct racer r[4];
	pthread_t t[4];
	size_t hits, parsed;

	for (int i = 0; i < 4; i++) {
		r[i] = (struct racer){ .pool = pool, .der = inter, .len = (size_t)ilen };
		cr_assert_eq(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_join(t[i], NULL), 0);
	for (int i = 0; i < 4; i++) {
		cr_assert_not(r[i].mixed);
		cr_assert_eq(r[i].seen, r[0].seen);
		X509_free(r[i].seen);
	}
	ks_cert_pool_stats(pool, &hits, &parsed);
	cr_assert_eq(parsed, 1);
	cr_assert_eq(hits, 799);
	ks_cert_pool_free(pool);
	OPENSSL_free(inter);
}

static struct ks_cert *load(const char *name, struct ks_cert_pool *pool, const char *issuer)
{
	char chain[4096];
	struct ks_cert_spec spec = { .name = name, .chain_path = chain, .pool = pool };
	struct ks_cert *c = NULL;

	snprintf(chain, sizeof(chain), "%s", ks_test_fixturef("pki/leaf/%s/chain.pem", name));
	spec.issuer_path = issuer;
	if (ks_cert_load(&spec, time(NULL), &c) < 0)
		return NULL;
	return c;
}

Test(cert_pool, chains_loaded_with_a_pool_share_their_intermediate)
{
	struct ks_cert_pool *pool = ks_cert_pool_new();
	struct ks_cert *a = load("ecdsa", pool, NULL), *b = load("rsa", pool, NULL);
	struct ks_cert *plain = load("ecdsa", NULL, NULL);
	size_t hits, parsed;

	cr_assert(a && b && plain);
	cr_assert_eq(a->issuer, b->issuer, "one parsed intermediate for both chains");
	cr_assert_eq(sk_X509_value(a->chain, 0), sk_X509_value(b->chain, 0));
	cr_assert_neq(a->leaf, b->leaf);
	ks_cert_pool_stats(pool, &hits, &parsed);
	cr_assert_eq(parsed, 1);
	cr_assert_eq(hits, 1);
	/* Same identity as without the pool. */
	cr_assert_str_eq(a->certid_hex, plain->certid_hex);
	cr_assert_eq(X509_cmp(a->issuer, plain->issuer), 0);
	ks_cert_pool_free(pool);
	/* The certificates keep what they share after the pool is gone. */
	cr_assert_not_null(X509_get0_pubkey(b->issuer));
	ks_cert_free(a);
	ks_cert_free(b);
	ks_cert_free(plain);
}

/* An issuer with the intermediate's name but another key, as a PEM file. */
static void write_impostor(const char *path)
{
	X509 *inter = ks_test_x509("pki/ca/intermediate/ca.crt"), *x = X509_new();
	EVP_PKEY *k = EVP_EC_gen("P-256");
	FILE *f;

	cr_assert(inter && x && k);
	cr_assert_eq(X509_set_version(x, X509_VERSION_3), 1);
	cr_assert_eq(ASN1_INTEGER_set(X509_get_serialNumber(x), 78), 1);
	cr_assert_eq(X509_set_subject_name(x, X509_get_subject_name(inter)), 1);
	cr_assert_eq(X509_set_issuer_name(x, X509_get_subject_name(inter)), 1);
	cr_assert_not_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	cr_assert_not_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	cr_assert_eq(X509_set_pubkey(x, k), 1);
	cr_assert_gt(X509_sign(x, k, EVP_sha256()), 0);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	cr_assert_eq(PEM_write_X509(f, x), 1);
	fclose(f);
	EVP_PKEY_free(k);
	X509_free(x);
	X509_free(inter);
}

Test(cert_pool, pooled_impostor_issuer_is_still_rejected)
{
	struct ks_cert_pool *pool = ks_cert_pool_new();
	struct ks_cert *good = load("ecdsa", pool, NULL), *bad;
	char dir[256], path[300];
	size_t hits, parsed;

	/* The real intermediate is in the pool; the impostor has its name, not its bytes. */
	cr_assert_not_null(good);
	cr_assert_eq(ks_test_tmpdir(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/issuer.pem", dir);
	write_impostor(path);
	bad = load("rsa", pool, path);
	cr_assert_null(bad, "the issuer signature check must not be skipped for pooled issuers");
	bad = load("ecdsa", pool, path);
	cr_assert_null(bad);
	ks_cert_pool_stats(pool, &hits, &parsed);
	cr_assert_eq(parsed, 2, "the impostor is another entry, not a hit on the name");
	ks_cert_free(good);
	ks_cert_pool_free(pool);
	ks_test_rmdir(dir);
}

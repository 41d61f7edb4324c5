// SPDX-License-Identifier: MIT
/*
 * ocsp_verify: every verdict from the generated fixtures (scripts/mkfixtures.sh), moved clocks
 * with the exact skew boundaries, and adversarial input (truncations, trailing bytes, flips).
 * Responses the fixture script cannot make (SHA-256 CertID, no EKU extension at all, expired
 * delegate, nextUpdate before thisUpdate, ...) are built here with OpenSSL's OCSP API.
 *
 * "now" is derived from good.der's thisUpdate (read with OpenSSL, not with the code under
 * test), so these tests do not depend on how old the fixture set is.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>

#include "helpers/fixtures.h"
#include "helpers/verify_cached.h"
#include "kstaple/ocsp_verify.h"

#define SKEW KS_OCSP_DEFAULT_SKEW

struct fx {
	X509 *leaf, *issuer;
	uint8_t *der;
	size_t len;
};

static void need_fixtures(void)
{
	if (!ks_test_fixtures_dir())
		cr_skip_test("KS_FIXTURES is not set (make fixtures; see scripts/mkfixtures.sh)");
}

static X509 *load_x509(const char *rel)
{
	X509 *x = ks_test_x509(rel);

	cr_assert_not_null(x, "cannot load %s from KS_FIXTURES", rel);
	return x;
}

static void fx_load(struct fx *f, const char *file, const char *leaf)
{
	char rel[256];

	need_fixtures();
	snprintf(rel, sizeof(rel), "pki/leaf/%s/cert.pem", leaf);
	f->leaf = load_x509(rel);
	f->issuer = load_x509("pki/ca/intermediate/ca.crt");
	snprintf(rel, sizeof(rel), "ocsp/%s", file);
	cr_assert_eq(ks_test_read_file(ks_test_fixture(rel), &f->der, &f->len), 0, "read %s", rel);
}

static void fx_free(struct fx *f)
{
	X509_free(f->leaf);
	X509_free(f->issuer);
	free(f->der);
}

static int64_t asn1_unix(const ASN1_TIME *t)
{
	struct tm tm;

	cr_assert_not_null(t);
	cr_assert_eq(ASN1_TIME_to_tm(t, &tm), 1);
	return (int64_t)timegm(&tm);
}

/* thisUpdate of good.der, decoded independently of the code under test. */
static int64_t fixture_now(void)
{
	ASN1_GENERALIZEDTIME *thisupd = NULL;
	OCSP_RESPONSE *resp;
	OCSP_BASICRESP *bs;
	struct fx f;
	const uint8_t *q;
	int64_t t;

	fx_load(&f, "good.der", "ecdsa");
	q = f.der;
	resp = d2i_OCSP_RESPONSE(NULL, &q, (long)f.len);
	cr_assert_not_null(resp);
	bs = OCSP_response_get1_basic(resp);
	cr_assert_not_null(bs);
	OCSP_single_get0_status(OCSP_resp_get0(bs, 0), NULL, NULL, &thisupd, NULL);
	t = asn1_unix(thisupd);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	fx_free(&f);
	return t;
}

static struct ks_ocsp_result verify_at(const struct fx *f, int64_t now, int64_t skew)
{
	struct ks_verify_params p = {
		.leaf = f->leaf, .issuer = f->issuer, .now = now, .skew = skew
	};
	struct ks_ocsp_result res;

	cr_assert_eq(ks_ocsp_verify(f->der, f->len, &p, &res), 0);
	cr_assert_str_not_empty(res.detail, "every verdict carries a sentence");
	verify_cached_too(f->der, f->len, p, &res);
	return res;
}

/* Verify fixture `file` against `leaf` one minute after the fixtures were made. */
static struct ks_ocsp_result verify_fixture(const char *file, const char *leaf)
{
	int64_t now = fixture_now() + 60;
	struct ks_ocsp_result res;
	struct fx f;

	fx_load(&f, file, leaf);
	res = verify_at(&f, now, SKEW);
	fx_free(&f);
	return res;
}

#define EXPECT_VERDICT(file, leaf, v)                                                     \
	do {                                                                              \
		struct ks_ocsp_result r_ = verify_fixture(file, leaf);                    \
		cr_expect_eq(r_.verdict, v, "%s: got %s (%s), want %s", file,             \
			     ks_verdict_name(r_.verdict), r_.detail, ks_verdict_name(v)); \
	} while (0)

Test(ocsp_verify, expected_tsv_every_fixture)
{
	char line[512], file[128], leaf[64], verdict[64];
	int64_t now = fixture_now() + 60;
	unsigned n = 0;
	FILE *tsv;

	tsv = fopen(ks_test_fixture("ocsp/expected.tsv"), "r");
	cr_assert_not_null(tsv);
	while (fgets(line, sizeof(line), tsv)) {
		struct ks_ocsp_result res;
		struct fx f;

		cr_assert_eq(sscanf(line, "%127s %63s %63s", file, leaf, verdict), 3, "%s", line);
		fx_load(&f, file, leaf);
		res = verify_at(&f, now, SKEW);
		cr_expect_str_eq(ks_verdict_name(res.verdict), verdict, "%s: %s", file, res.detail);
		fx_free(&f);
		n++;
	}
	fclose(tsv);
	cr_assert_geq(n, 15, "expected.tsv lists only %u fixtures", n);
}

/* One named test per verdict, so a regression names its reason. */
Test(ocsp_verify, good)
{
	struct ks_ocsp_result r = verify_fixture("good.der", "ecdsa");

	cr_assert_eq(r.verdict, KS_V_GOOD, "%s", r.detail);
	cr_assert(ks_verdict_stapleable(r.verdict));
	cr_assert_eq(r.response_status, 0);
	cr_assert_gt(r.produced_at, 0);
	cr_assert_gt(r.next_update, r.this_update);
	cr_assert_eq(r.revocation_reason, -1);
}

Test(ocsp_verify, good_variants)
{
	EXPECT_VERDICT("good-rsa.der", "rsa", KS_V_GOOD);
	EXPECT_VERDICT("good-nocerts.der", "ecdsa", KS_V_GOOD);
	EXPECT_VERDICT("good-bykey.der", "ecdsa", KS_V_GOOD);
	EXPECT_VERDICT("good-muststaple.der", "muststaple", KS_V_GOOD);
}

Test(ocsp_verify, delegate_good)
{
	EXPECT_VERDICT("delegate.der", "ecdsa", KS_V_GOOD);
}

Test(ocsp_verify, revoked_time_and_reason)
{
	struct ks_ocsp_result r = verify_fixture("revoked.der", "revoked");

	cr_assert_eq(r.verdict, KS_V_REVOKED, "%s", r.detail);
	cr_assert(ks_verdict_stapleable(r.verdict));
	cr_assert_eq(r.revocation_reason, 1, "index.txt says keyCompromise");
	cr_assert_str_eq(ks_crl_reason_str(r.revocation_reason), "keyCompromise");
	cr_assert_gt(r.revocation_time, 0);
	cr_assert_leq(r.revocation_time, r.produced_at);
	cr_assert(strstr(r.detail, "keyCompromise"), "%s", r.detail);
}

Test(ocsp_verify, unknown)
{
	struct ks_ocsp_result r = verify_fixture("unknown.der", "unlisted");

	cr_assert_eq(r.verdict, KS_V_UNKNOWN, "%s", r.detail);
	cr_assert_not(ks_verdict_stapleable(r.verdict));
}

Test(ocsp_verify, malformed_truncated_html_empty)
{
	EXPECT_VERDICT("truncated.der", "ecdsa", KS_V_MALFORMED);
	EXPECT_VERDICT("html.der", "ecdsa", KS_V_MALFORMED);
	EXPECT_VERDICT("empty.der", "ecdsa", KS_V_MALFORMED);
}

Test(ocsp_verify, not_successful_names_the_status)
{
	struct ks_ocsp_result r = verify_fixture("trylater.der", "ecdsa");

	cr_assert_eq(r.verdict, KS_V_NOT_SUCCESSFUL);
	cr_assert_eq(r.response_status, 3);
	cr_assert(strstr(r.detail, "tryLater (3)"), "%s", r.detail);
	r = verify_fixture("internalerror.der", "ecdsa");
	cr_assert_eq(r.verdict, KS_V_NOT_SUCCESSFUL);
	cr_assert(strstr(r.detail, "internalError (2)"), "%s", r.detail);
	r = verify_fixture("unauthorized.der", "ecdsa");
	cr_assert_eq(r.verdict, KS_V_NOT_SUCCESSFUL);
	cr_assert(strstr(r.detail, "unauthorized (6)"), "%s", r.detail);
}

Test(ocsp_verify, not_basic)
{
	struct ks_ocsp_result r = verify_fixture("notbasic.der", "ecdsa");

	cr_assert_eq(r.verdict, KS_V_NOT_BASIC, "%s", r.detail);
	cr_assert(strstr(r.detail, "1.3.6.1.5.5.7.48.1.99"), "%s", r.detail);
}

Test(ocsp_verify, bad_signature)
{
	EXPECT_VERDICT("badsig.der", "ecdsa", KS_V_BAD_SIGNATURE);
}

Test(ocsp_verify, untrusted_signer)
{
	EXPECT_VERDICT("wrongkey.der", "ecdsa", KS_V_UNTRUSTED_SIGNER);
}

Test(ocsp_verify, delegate_no_eku)
{
	EXPECT_VERDICT("delegate-noeku.der", "ecdsa", KS_V_DELEGATE_NO_EKU);
}

Test(ocsp_verify, certid_mismatch)
{
	struct ks_ocsp_result r = verify_fixture("othercert.der", "ecdsa");

	cr_assert_eq(r.verdict, KS_V_CERTID_MISMATCH, "%s", r.detail);
	cr_assert(strstr(r.detail, "serial"), "%s", r.detail);
}

Test(ocsp_verify, multiple_responses)
{
	EXPECT_VERDICT("two.der", "ecdsa", KS_V_MULTIPLE_RESPONSES);
}

Test(ocsp_verify, not_yet_valid)
{
	EXPECT_VERDICT("notyet.der", "ecdsa", KS_V_NOT_YET_VALID);
}

Test(ocsp_verify, expired)
{
	EXPECT_VERDICT("expired.der", "ecdsa", KS_V_EXPIRED);
}

Test(ocsp_verify, no_next_update)
{
	EXPECT_VERDICT("nonext.der", "ecdsa", KS_V_NO_NEXT_UPDATE);
}

/* The validity window of good.der, walked with a moved clock: the skew boundaries are exact. */
Test(ocsp_verify, time_window_and_skew_boundaries)
{
	struct ks_ocsp_result r0, r;
	struct fx f;

	fx_load(&f, "good.der", "ecdsa");
	r0 = verify_at(&f, fixture_now() + 60, SKEW);
	cr_assert_eq(r0.verdict, KS_V_GOOD);
	/* thisUpdate <= now + skew */
	r = verify_at(&f, r0.this_update - SKEW, SKEW);
	cr_expect_eq(r.verdict, KS_V_GOOD, "at thisUpdate - skew: %s", r.detail);
	r = verify_at(&f, r0.this_update - SKEW - 1, SKEW);
	cr_expect_eq(r.verdict, KS_V_NOT_YET_VALID, "1s before thisUpdate - skew: %s", r.detail);
	/* now - skew <= nextUpdate */
	r = verify_at(&f, r0.next_update + SKEW, SKEW);
	cr_expect_eq(r.verdict, KS_V_GOOD, "at nextUpdate + skew: %s", r.detail);
	r = verify_at(&f, r0.next_update + SKEW + 1, SKEW);
	cr_expect_eq(r.verdict, KS_V_EXPIRED, "1s after nextUpdate + skew: %s", r.detail);
	/* No skew: the window is exactly [thisUpdate, nextUpdate]. */
	cr_expect_eq(verify_at(&f, r0.this_update, 0).verdict, KS_V_GOOD);
	cr_expect_eq(verify_at(&f, r0.this_update - 1, 0).verdict, KS_V_NOT_YET_VALID);
	cr_expect_eq(verify_at(&f, r0.next_update, 0).verdict, KS_V_GOOD);
	cr_expect_eq(verify_at(&f, r0.next_update + 1, 0).verdict, KS_V_EXPIRED);
	/* Far clocks do not overflow. */
	cr_expect_eq(verify_at(&f, INT64_MAX, SKEW).verdict, KS_V_EXPIRED);
	cr_expect_eq(verify_at(&f, INT64_MIN, SKEW).verdict, KS_V_NOT_YET_VALID);
	cr_expect_eq(verify_at(&f, 0, INT64_MAX).verdict, KS_V_GOOD);
	/* Times are reported even when the verdict is a rejection. */
	r = verify_at(&f, r0.next_update + 86400, SKEW);
	cr_expect_eq(r.this_update, r0.this_update);
	cr_expect_eq(r.next_update, r0.next_update);
	cr_expect_eq(r.produced_at, r0.produced_at);
	fx_free(&f);
}

Test(ocsp_verify, expired_fixture_is_good_when_clock_moved_back)
{
	struct ks_ocsp_result r;
	struct fx f;

	fx_load(&f, "expired.der", "ecdsa");
	r = verify_at(&f, fixture_now(), SKEW);
	cr_assert_eq(r.verdict, KS_V_EXPIRED);
	r = verify_at(&f, r.this_update + 60, SKEW);
	cr_assert_eq(r.verdict, KS_V_GOOD, "%s", r.detail);
	fx_free(&f);
}

Test(ocsp_verify, trailing_garbage_is_malformed)
{
	struct ks_ocsp_result r;
	struct fx f;
	uint8_t *b;

	fx_load(&f, "good.der", "ecdsa");
	b = malloc(f.len + 1);
	cr_assert_not_null(b);
	memcpy(b, f.der, f.len);
	b[f.len] = 0;
	free(f.der);
	f.der = b;
	f.len++;
	r = verify_at(&f, fixture_now() + 60, SKEW);
	cr_assert_eq(r.verdict, KS_V_MALFORMED);
	cr_assert(strstr(r.detail, "1 trailing byte"), "%s", r.detail);
	fx_free(&f);
}

Test(ocsp_verify, empty_and_one_byte_inputs)
{
	static const uint8_t one[] = { 0x30 };
	struct ks_ocsp_result r;
	struct fx f;

	fx_load(&f, "good.der", "ecdsa");
	free(f.der);
	f.der = NULL;
	f.len = 0;
	r = verify_at(&f, fixture_now(), SKEW);
	cr_assert_eq(r.verdict, KS_V_MALFORMED);
	cr_assert_eq(r.response_status, -1);
	f.der = (uint8_t *)one;
	f.len = 1;
	r = verify_at(&f, fixture_now(), SKEW);
	cr_assert_eq(r.verdict, KS_V_MALFORMED);
	f.der = NULL;
	fx_free(&f);
}

Test(ocsp_verify, every_truncation_of_good_is_malformed)
{
	int64_t now = fixture_now() + 60;
	struct fx f;
	uint8_t *full;
	size_t len;

	fx_load(&f, "good.der", "ecdsa");
	full = f.der;
	len = f.len;
	for (size_t n = 0; n < len; n++) {
		/* A fresh copy of exactly n bytes, so ASan sees any read past the end. */
		uint8_t *b = malloc(n ? n : 1);

		cr_assert_not_null(b);
		memcpy(b, full, n);
		f.der = b;
		f.len = n;
		cr_assert_eq(verify_at(&f, now, SKEW).verdict, KS_V_MALFORMED, "length %zu", n);
		free(b);
	}
	f.der = full;
	f.len = len;
	fx_free(&f);
}

/* Any single bit flip in a response without certs must lose the GOOD verdict: every byte is
 * either structure (malformed), signed data (bad signature) or the signature itself. */
Test(ocsp_verify, every_bit_flip_of_good_nocerts_is_rejected)
{
	int64_t now = fixture_now() + 60;
	struct fx f;

	fx_load(&f, "good-nocerts.der", "ecdsa");
	for (size_t i = 0; i < f.len; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			struct ks_ocsp_result r;

			f.der[i] ^= (uint8_t)(1u << bit);
			r = verify_at(&f, now, SKEW);
			cr_expect_neq(r.verdict, KS_V_GOOD, "byte %zu bit %d: %s", i, bit,
				      r.detail);
			f.der[i] ^= (uint8_t)(1u << bit);
		}
	}
	fx_free(&f);
}

/*
 * Bit flips in a response whose embedded certificate matters (the delegate signs it): every
 * flip goes through verify_at(), which also verifies through certificate caches that have
 * seen the intact certificate, and requires the same verdict. A flip in the certificate is
 * another certificate: it must miss the cache, and lose GOOD unless it only hit bytes no
 * check depends on (such as an extension OpenSSL ignores).
 */
Test(ocsp_verify, bit_flips_of_delegate_same_with_and_without_cache)
{
	int64_t now = fixture_now() + 60;
	struct ks_ocsp_result r;
	struct fx f;
	size_t good = 0;

	fx_load(&f, "delegate.der", "ecdsa");
	cr_assert_eq(verify_at(&f, now, SKEW).verdict, KS_V_GOOD);
	for (size_t i = 0; i < f.len; i++) {
		f.der[i] ^= (uint8_t)(1u << (i % 8));
		r = verify_at(&f, now, SKEW);
		good += r.verdict == KS_V_GOOD;
		f.der[i] ^= (uint8_t)(1u << (i % 8));
	}
	/* The signed part and the structure hold most bytes: nearly every flip is rejected. */
	cr_expect_lt(good, f.len / 4, "%zu of %zu flips still GOOD", good, f.len);
	fx_free(&f);
}

Test(ocsp_verify, invalid_params)
{
	struct ks_verify_params p = { .now = 1, .skew = SKEW };
	struct ks_ocsp_result res;
	struct fx f;

	fx_load(&f, "good.der", "ecdsa");
	cr_assert_eq(ks_ocsp_verify(f.der, f.len, &p, &res), -EINVAL, "no leaf/issuer");
	p.leaf = f.leaf;
	p.issuer = f.issuer;
	cr_assert_eq(ks_ocsp_verify(f.der, f.len, NULL, &res), -EINVAL);
	cr_assert_eq(ks_ocsp_verify(f.der, f.len, &p, NULL), -EINVAL);
	cr_assert_eq(ks_ocsp_verify(NULL, 5, &p, &res), -EINVAL);
	p.skew = -1;
	cr_assert_eq(ks_ocsp_verify(f.der, f.len, &p, &res), -EINVAL);
	fx_free(&f);
}

Test(ocsp_verify, leaves_the_openssl_error_queue_alone)
{
	struct fx f;

	fx_load(&f, "truncated.der", "ecdsa");
	ERR_clear_error();
	cr_assert_eq(verify_at(&f, 0, SKEW).verdict, KS_V_MALFORMED);
	cr_assert_eq(ERR_peek_error(), 0);
	fx_free(&f);
}

Test(ocsp_verify, verdict_tokens)
{
	static const char *const want[] = {
		"good",
		"revoked",
		"unknown",
		"malformed",
		"not-successful",
		"not-basic",
		"bad-signature",
		"untrusted-signer",
		"delegate-no-eku",
		"certid-mismatch",
		"multiple-responses",
		"not-yet-valid",
		"expired",
		"no-next-update",
	};

	cr_assert_eq(KS_ARRAY_SIZE(want), KS_V__COUNT);
	for (int v = 0; v < KS_V__COUNT; v++) {
		cr_expect_str_eq(ks_verdict_name(v), want[v]);
		cr_expect_str_not_empty(ks_verdict_str(v));
		cr_expect_eq(ks_verdict_stapleable(v), v == KS_V_GOOD || v == KS_V_REVOKED);
	}
	cr_expect_str_eq(ks_verdict_name(KS_V__COUNT), "invalid");
	cr_expect_str_eq(ks_verdict_name((enum ks_verdict) - 1), "invalid");
}

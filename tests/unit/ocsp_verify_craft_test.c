// SPDX-License-Identifier: MIT
/*
 * ocsp_verify against responses built here with OpenSSL's OCSP API, for the cases the fixture
 * script (openssl ocsp) cannot produce: SHA-256 CertIDs, no SingleResponse, nextUpdate before
 * thisUpdate, delegates without any EKU extension, outside their validity or forged, a key that
 * only claims the issuer's name, and hand-encoded outer structures (BER, trailing bytes inside
 * responseBytes, odd statuses). Keys and certificates come from KS_FIXTURES.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "helpers/fixtures.h"
#include "helpers/verify_cached.h"
#include "kstaple/ocsp_verify.h"

#define NOW  2000000000LL /* 2033-05-18: crafted responses are dated around it */
#define SKEW KS_OCSP_DEFAULT_SKEW
#define DAY  86400

struct pki {
	X509 *leaf, *rsa_leaf, *issuer;
	EVP_PKEY *issuer_key, *delegate_key, *wrong_key;
};

static struct pki pki;

static EVP_PKEY *load_key(const char *rel)
{
	const char *path = ks_test_fixture(rel);
	EVP_PKEY *k = NULL;
	FILE *f = path ? fopen(path, "r") : NULL;

	cr_assert_not_null(f, "cannot open %s", rel);
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	cr_assert_not_null(k, "cannot read key %s", rel);
	return k;
}

static void setup(void)
{
	if (!ks_test_fixtures_dir())
		cr_skip_test("KS_FIXTURES is not set (make fixtures; see scripts/mkfixtures.sh)");
	pki.leaf = ks_test_x509("pki/leaf/ecdsa/cert.pem");
	pki.rsa_leaf = ks_test_x509("pki/leaf/rsa/cert.pem");
	pki.issuer = ks_test_x509("pki/ca/intermediate/ca.crt");
	cr_assert(pki.leaf && pki.rsa_leaf && pki.issuer);
	pki.issuer_key = load_key("pki/ca/intermediate/ca.key");
	pki.delegate_key = load_key("pki/responder/delegate.key");
	pki.wrong_key = load_key("pki/wrongca/ca.key");
}

static void teardown(void)
{
	X509_free(pki.leaf);
	X509_free(pki.rsa_leaf);
	X509_free(pki.issuer);
	EVP_PKEY_free(pki.issuer_key);
	EVP_PKEY_free(pki.delegate_key);
	EVP_PKEY_free(pki.wrong_key);
	memset(&pki, 0, sizeof(pki));
}

TestSuite(ocsp_verify_craft, .init = setup, .fini = teardown);

/* A certificate named `cn`, for `key`, signed by (issuer_name, signing_key). */
static X509 *mk_cert(const char *cn, EVP_PKEY *key, const X509_NAME *issuer_name,
		     EVP_PKEY *signing_key, int64_t nb, int64_t na, const char *eku)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	cr_assert(x && n);
	cr_assert(X509_set_version(x, 2));
	cr_assert(ASN1_INTEGER_set(X509_get_serialNumber(x), 4242));
	cr_assert(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1,
					     -1, 0));
	cr_assert(X509_set_subject_name(x, n));
	cr_assert(X509_set_issuer_name(x, issuer_name ? issuer_name : n));
	cr_assert(ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb));
	cr_assert(ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na));
	cr_assert(X509_set_pubkey(x, key));
	if (eku) {
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, NID_ext_key_usage, eku);

		cr_assert_not_null(e);
		cr_assert(X509_add_ext(x, e, -1));
		X509_EXTENSION_free(e);
	}
	cr_assert(X509_sign(x, signing_key, EVP_sha256()));
	X509_NAME_free(n);
	return x;
}

static X509 *mk_delegate(int64_t nb, int64_t na, const char *eku)
{
	return mk_cert("crafted delegate", pki.delegate_key, X509_get_subject_name(pki.issuer),
		       pki.issuer_key, nb, na, eku);
}

struct craft {
	const EVP_MD *id_md; /* CertID hash; NULL: SHA-1 */
	int n;		     /* SingleResponses; -1: none */
	int status, reason;
	int64_t this_upd, next_upd; /* next_upd 0: absent */
	X509 *signer;		    /* NULL: the issuer */
	EVP_PKEY *key;
	unsigned long flags; /* OCSP_basic_sign flags */
	X509 *extra;	     /* added to certs after signing */
};

static ASN1_GENERALIZEDTIME *gt(int64_t t)
{
	return t ? ASN1_GENERALIZEDTIME_set(NULL, (time_t)t) : NULL;
}

static OCSP_BASICRESP *craft_basic(const struct craft *c)
{
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	ASN1_GENERALIZEDTIME *tu = gt(c->this_upd ? c->this_upd : NOW - 60);
	ASN1_GENERALIZEDTIME *nu = gt(c->next_upd), *rev = gt(NOW - 10 * DAY);
	int n = c->n == 0 ? 1 : c->n;

	cr_assert_not_null(bs);
	for (int i = 0; i < n; i++) {
		OCSP_CERTID *id =
			OCSP_cert_to_id(c->id_md ? c->id_md : EVP_sha1(), pki.leaf, pki.issuer);

		cr_assert_not_null(
			OCSP_basic_add1_status(bs, id, c->status, c->reason, rev, tu, nu));
		OCSP_CERTID_free(id);
	}
	cr_assert(OCSP_basic_sign(bs, c->signer ? c->signer : pki.issuer,
				  c->key ? c->key : pki.issuer_key, EVP_sha256(), NULL, c->flags));
	if (c->extra)
		cr_assert(OCSP_basic_add1_cert(bs, c->extra));
	ASN1_GENERALIZEDTIME_free(tu);
	ASN1_GENERALIZEDTIME_free(nu);
	ASN1_GENERALIZEDTIME_free(rev);
	return bs;
}

static struct ks_ocsp_result verify_der(const uint8_t *der, size_t len, X509 *leaf, int64_t now)
{
	struct ks_verify_params p = {
		.leaf = leaf, .issuer = pki.issuer, .now = now, .skew = SKEW
	};
	struct ks_ocsp_result res;

	cr_assert_eq(ks_ocsp_verify(der, len, &p, &res), 0);
	verify_cached_too(der, len, p, &res);
	return res;
}

static struct ks_ocsp_result verify_craft(const struct craft *c, X509 *leaf, int64_t now)
{
	OCSP_BASICRESP *bs = craft_basic(c);
	OCSP_RESPONSE *resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
	struct ks_ocsp_result res;
	uint8_t *der = NULL;
	int len = i2d_OCSP_RESPONSE(resp, &der);

	cr_assert_gt(len, 0);
	res = verify_der(der, (size_t)len, leaf ? leaf : pki.leaf, now);
	OPENSSL_free(der);
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	return res;
}

/* Defaults first, then the test's own designated initializers override them. */
#pragma GCC diagnostic ignored "-Woverride-init"
#define GOOD_CRAFT(...)                                                                            \
	(struct craft)                                                                             \
	{                                                                                          \
		.status = V_OCSP_CERTSTATUS_GOOD, .reason = -1, .next_upd = NOW + DAY, __VA_ARGS__ \
	}

#define ASSERT_VERDICT(r, v) \
	cr_assert_eq((r).verdict, v, "got %s (%s)", ks_verdict_name((r).verdict), (r).detail)

Test(ocsp_verify_craft, baseline_issuer_signed_is_good)
{
	ASSERT_VERDICT(verify_craft(&GOOD_CRAFT(), NULL, NOW), KS_V_GOOD);
	ASSERT_VERDICT(
		verify_craft(&GOOD_CRAFT(.flags = OCSP_RESPID_KEY | OCSP_NOCERTS), NULL, NOW),
		KS_V_GOOD);
}

Test(ocsp_verify_craft, certid_hash_is_the_responses_own)
{
	ASSERT_VERDICT(verify_craft(&GOOD_CRAFT(.id_md = EVP_sha256()), NULL, NOW), KS_V_GOOD);
	ASSERT_VERDICT(verify_craft(&GOOD_CRAFT(.id_md = EVP_sha384()), NULL, NOW), KS_V_GOOD);
	ASSERT_VERDICT(verify_craft(&GOOD_CRAFT(.id_md = EVP_sha256()), pki.rsa_leaf, NOW),
		       KS_V_CERTID_MISMATCH);
}

Test(ocsp_verify_craft, no_single_response_is_malformed)
{
	struct ks_ocsp_result r = verify_craft(&GOOD_CRAFT(.n = -1), NULL, NOW);

	ASSERT_VERDICT(r, KS_V_MALFORMED);
	cr_assert(strstr(r.detail, "no SingleResponse"), "%s", r.detail);
}

Test(ocsp_verify_craft, three_single_responses)
{
	struct ks_ocsp_result r = verify_craft(&GOOD_CRAFT(.n = 3), NULL, NOW);

	ASSERT_VERDICT(r, KS_V_MULTIPLE_RESPONSES);
	cr_assert(strstr(r.detail, "3 SingleResponses"), "%s", r.detail);
}

Test(ocsp_verify_craft, next_update_before_this_update_is_malformed)
{
	ASSERT_VERDICT(verify_craft(&GOOD_CRAFT(.this_upd = NOW, .next_upd = NOW - 100), NULL, NOW),
		       KS_V_MALFORMED);
}

Test(ocsp_verify_craft, revoked_without_reason)
{
	struct ks_ocsp_result r = verify_craft(
		&GOOD_CRAFT(.status = V_OCSP_CERTSTATUS_REVOKED, .reason = -1), NULL, NOW);

	ASSERT_VERDICT(r, KS_V_REVOKED);
	cr_assert_eq(r.revocation_reason, -1);
	cr_assert_eq(r.revocation_time, NOW - 10 * DAY);
	r = verify_craft(&GOOD_CRAFT(.status = V_OCSP_CERTSTATUS_REVOKED,
				     .reason = OCSP_REVOKED_STATUS_SUPERSEDED),
			 NULL, NOW);
	ASSERT_VERDICT(r, KS_V_REVOKED);
	cr_assert_eq(r.revocation_reason, 4);
}

Test(ocsp_verify_craft, delegate_with_eku_is_good_by_name_and_by_key)
{
	X509 *d = mk_delegate(NOW - DAY, NOW + DAY, "OCSPSigning");

	ASSERT_VERDICT(verify_craft(&GOOD_CRAFT(.signer = d, .key = pki.delegate_key), NULL, NOW),
		       KS_V_GOOD);
	ASSERT_VERDICT(verify_craft(&GOOD_CRAFT(.signer = d, .key = pki.delegate_key,
						.flags = OCSP_RESPID_KEY),
				    NULL, NOW),
		       KS_V_GOOD);
	/* Not carried in the response: nobody can check it. */
	ASSERT_VERDICT(verify_craft(&GOOD_CRAFT(.signer = d, .key = pki.delegate_key,
						.flags = OCSP_NOCERTS),
				    NULL, NOW),
		       KS_V_UNTRUSTED_SIGNER);
	X509_free(d);
}

/* OpenSSL treats "no EKU extension" as "any usage"; RFC 6960 §4.2.2.2 requires the EKU. */
Test(ocsp_verify_craft, delegate_without_any_eku_extension)
{
	X509 *d = mk_delegate(NOW - DAY, NOW + DAY, NULL);

	ASSERT_VERDICT(verify_craft(&GOOD_CRAFT(.signer = d, .key = pki.delegate_key), NULL, NOW),
		       KS_V_DELEGATE_NO_EKU);
	X509_free(d);
}

Test(ocsp_verify_craft, delegate_validity_is_checked_at_now)
{
	X509 *d = mk_delegate(NOW - DAY, NOW + DAY, "OCSPSigning");
	struct craft c = GOOD_CRAFT(.signer = d, .key = pki.delegate_key, .this_upd = NOW - 2 * DAY,
				    .next_upd = NOW + 3 * DAY);
	struct ks_ocsp_result r;

	ASSERT_VERDICT(verify_craft(&c, NULL, NOW + DAY), KS_V_GOOD);
	r = verify_craft(&c, NULL, NOW + DAY + 1);
	ASSERT_VERDICT(r, KS_V_UNTRUSTED_SIGNER);
	cr_assert(strstr(r.detail, "expired"), "%s", r.detail);
	ASSERT_VERDICT(verify_craft(&c, NULL, NOW - DAY), KS_V_GOOD);
	r = verify_craft(&c, NULL, NOW - DAY - 1);
	ASSERT_VERDICT(r, KS_V_UNTRUSTED_SIGNER);
	cr_assert(strstr(r.detail, "not valid before"), "%s", r.detail);
	X509_free(d);
}

/* Claims the intermediate as its issuer, but another key signed it. */
Test(ocsp_verify_craft, forged_delegate_is_untrusted)
{
	X509 *d = mk_cert("forged delegate", pki.delegate_key, X509_get_subject_name(pki.issuer),
			  pki.wrong_key, NOW - DAY, NOW + DAY, "OCSPSigning");
	struct ks_ocsp_result r =
		verify_craft(&GOOD_CRAFT(.signer = d, .key = pki.delegate_key), NULL, NOW);

	ASSERT_VERDICT(r, KS_V_UNTRUSTED_SIGNER);
	cr_assert(strstr(r.detail, "forged delegate"), "%s", r.detail);
	X509_free(d);
}

/* A proper delegate in certs, but the response was signed by another key of the same name. */
Test(ocsp_verify_craft, delegate_signature_must_verify)
{
	X509 *good = mk_delegate(NOW - DAY, NOW + DAY, "OCSPSigning");
	X509 *evil = mk_cert("crafted delegate", pki.wrong_key, X509_get_subject_name(pki.issuer),
			     pki.wrong_key, NOW - DAY, NOW + DAY, "OCSPSigning");
	struct ks_ocsp_result r = verify_craft(&GOOD_CRAFT(.signer = evil, .key = pki.wrong_key,
							   .flags = OCSP_NOCERTS, .extra = good),
					       NULL, NOW);

	ASSERT_VERDICT(r, KS_V_BAD_SIGNATURE);
	cr_assert(strstr(r.detail, "delegated responder"), "%s", r.detail);
	X509_free(good);
	X509_free(evil);
}

/* Same subject name as the issuer, different key: byName matches, the signature cannot. */
Test(ocsp_verify_craft, issuer_name_with_another_key_is_bad_signature)
{
	X509 *fake = mk_cert("x", pki.wrong_key, NULL, pki.wrong_key, NOW - DAY, NOW + DAY, NULL);

	cr_assert(X509_set_subject_name(fake, X509_get_subject_name(pki.issuer)));
	cr_assert(X509_sign(fake, pki.wrong_key, EVP_sha256()));
	ASSERT_VERDICT(verify_craft(&GOOD_CRAFT(.signer = fake, .key = pki.wrong_key), NULL, NOW),
		       KS_V_BAD_SIGNATURE);
	X509_free(fake);
}

/* X.690 length octets, short or long form. */
static size_t put_tlv(uint8_t *out, uint8_t tag, const uint8_t *v, size_t n)
{
	size_t o = 0;

	out[o++] = tag;
	if (n < 0x80) {
		out[o++] = (uint8_t)n;
	} else {
		out[o++] = 0x82;
		out[o++] = (uint8_t)(n >> 8);
		out[o++] = (uint8_t)n;
	}
	memmove(out + o, v, n);
	return o + n;
}

/* OCSPResponse { successful, [0] { SEQUENCE { id-pkix-ocsp-basic, OCTET STRING basic } } } */
static size_t wrap_basic(const uint8_t *basic, size_t n, uint8_t *out)
{
	static const uint8_t oid[] = { 0x06, 0x09, 0x2b, 0x06, 0x01, 0x05,
				       0x05, 0x07, 0x30, 0x01, 0x01 };
	uint8_t *a = malloc(n + 64), *b = malloc(n + 64);
	size_t k;

	cr_assert(a && b);
	memcpy(a, oid, sizeof(oid));
	k = sizeof(oid) + put_tlv(a + sizeof(oid), 0x04, basic, n);
	k = put_tlv(b, 0x30, a, k);
	k = put_tlv(a, 0xa0, b, k);
	memcpy(b, (const uint8_t[]){ 0x0a, 0x01, 0x00 }, 3);
	memcpy(b + 3, a, k);
	k = put_tlv(out, 0x30, b, k + 3);
	free(a);
	free(b);
	return k;
}

Test(ocsp_verify_craft, hand_wrapped_basic_is_good_and_trailing_inside_is_malformed)
{
	OCSP_BASICRESP *bs = craft_basic(&GOOD_CRAFT());
	uint8_t *basic = NULL, *out;
	int n = i2d_OCSP_BASICRESP(bs, &basic);
	struct ks_ocsp_result r;
	size_t k;

	cr_assert_gt(n, 0);
	out = malloc((size_t)n + 128);
	basic = OPENSSL_realloc(basic, (size_t)n + 1);
	cr_assert(out && basic);
	k = wrap_basic(basic, (size_t)n, out);
	ASSERT_VERDICT(verify_der(out, k, pki.leaf, NOW), KS_V_GOOD);
	/* One byte after the BasicOCSPResponse, inside the OCTET STRING: unsigned junk. */
	basic[n] = 0;
	k = wrap_basic(basic, (size_t)n + 1, out);
	r = verify_der(out, k, pki.leaf, NOW);
	ASSERT_VERDICT(r, KS_V_MALFORMED);
	cr_assert(strstr(r.detail, "BasicOCSPResponse"), "%s", r.detail);
	free(out);
	OPENSSL_free(basic);
	OCSP_BASICRESP_free(bs);
}

Test(ocsp_verify_craft, hand_encoded_outer_structures)
{
	static const struct {
		const char *name;
		uint8_t der[8];
		size_t len;
		enum ks_verdict v;
	} cases[] = {
		{ "successful without responseBytes",
		  { 0x30, 0x03, 0x0a, 0x01, 0x00 },
		  5,
		  KS_V_MALFORMED },
		{ "indefinite (BER) length",
		  { 0x30, 0x80, 0x0a, 0x01, 0x03, 0x00, 0x00 },
		  7,
		  KS_V_MALFORMED },
		{ "non-minimal length", { 0x30, 0x81, 0x03, 0x0a, 0x01, 0x03 }, 6, KS_V_MALFORMED },
		{ "two-octet status", { 0x30, 0x04, 0x0a, 0x02, 0x00, 0x03 }, 6, KS_V_MALFORMED },
		{ "INTEGER instead of ENUMERATED",
		  { 0x30, 0x03, 0x02, 0x01, 0x03 },
		  5,
		  KS_V_MALFORMED },
		{ "negative status", { 0x30, 0x03, 0x0a, 0x01, 0xff }, 5, KS_V_MALFORMED },
		{ "junk after status",
		  { 0x30, 0x05, 0x0a, 0x01, 0x03, 0x05, 0x00 },
		  7,
		  KS_V_MALFORMED },
		{ "unused status 4", { 0x30, 0x03, 0x0a, 0x01, 0x04 }, 5, KS_V_NOT_SUCCESSFUL },
		{ "malformedRequest", { 0x30, 0x03, 0x0a, 0x01, 0x01 }, 5, KS_V_NOT_SUCCESSFUL },
		{ "sigRequired", { 0x30, 0x03, 0x0a, 0x01, 0x05 }, 5, KS_V_NOT_SUCCESSFUL },
	};

	for (size_t i = 0; i < KS_ARRAY_SIZE(cases); i++) {
		struct ks_ocsp_result r = verify_der(cases[i].der, cases[i].len, pki.leaf, NOW);

		cr_expect_eq(r.verdict, cases[i].v, "%s: got %s (%s)", cases[i].name,
			     ks_verdict_name(r.verdict), r.detail);
	}
}

/* DER of a crafted response (OPENSSL_free it). */
static int craft_der(const struct craft *c, uint8_t **der)
{
	OCSP_BASICRESP *bs = craft_basic(c);
	OCSP_RESPONSE *resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
	int len;

	*der = NULL;
	len = i2d_OCSP_RESPONSE(resp, der);
	cr_assert_gt(len, 0);
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	return len;
}

static struct ks_ocsp_result verify_with(struct ks_ocsp_certcache *cc, const struct craft *c,
					 int64_t now)
{
	struct ks_verify_params p = {
		.leaf = pki.leaf, .issuer = pki.issuer, .now = now, .skew = SKEW, .certs = cc
	};
	struct ks_ocsp_result res;
	uint8_t *der;
	int len = craft_der(c, &der);

	cr_assert_eq(ks_ocsp_verify(der, (size_t)len, &p, &res), 0);
	OPENSSL_free(der);
	return res;
}

/*
 * The cache remembers that the good delegate was issued by the issuer. A forged delegate with
 * the same subject, key and validity (signed by another CA key) is other bytes: it must not
 * borrow that record, before or after the good one, and its failure must not be recorded.
 */
Test(ocsp_verify_craft, cached_delegate_record_is_not_borrowed_by_a_forgery)
{
	struct ks_ocsp_certcache *cc = ks_ocsp_certcache_new(0);
	X509 *good = mk_delegate(NOW - DAY, NOW + DAY, "OCSPSigning");
	X509 *forged =
		mk_cert("crafted delegate", pki.delegate_key, X509_get_subject_name(pki.issuer),
			pki.wrong_key, NOW - DAY, NOW + DAY, "OCSPSigning");
	struct craft cg = GOOD_CRAFT(.signer = good, .key = pki.delegate_key);
	struct craft cf = GOOD_CRAFT(.signer = forged, .key = pki.delegate_key);
	uint8_t *p = NULL;
	int n;
	X509 *cached;

	cr_assert_not_null(cc);
	ASSERT_VERDICT(verify_with(cc, &cf, NOW), KS_V_UNTRUSTED_SIGNER);
	ASSERT_VERDICT(verify_with(cc, &cf, NOW), KS_V_UNTRUSTED_SIGNER);
	/* The forgery is cached as a parsed certificate, but not as issued by the issuer. */
	n = i2d_X509(forged, &p);
	cr_assert_gt(n, 0);
	cached = ks_ocsp_certcache_get(cc, p, (size_t)n);
	cr_assert_not_null(cached);
	cr_assert_not(ks_ocsp_certcache_issued_by(cc, cached, pki.issuer));
	X509_free(cached);
	OPENSSL_free(p);
	ASSERT_VERDICT(verify_with(cc, &cg, NOW), KS_V_GOOD);
	ASSERT_VERDICT(verify_with(cc, &cg, NOW), KS_V_GOOD);
	ASSERT_VERDICT(verify_with(cc, &cf, NOW), KS_V_UNTRUSTED_SIGNER);
	X509_free(good);
	X509_free(forged);
	ks_ocsp_certcache_free(cc);
}

/* A warm cache skips only the issuance check: validity and EKU are judged every time. */
Test(ocsp_verify_craft, cached_delegate_validity_and_eku_still_checked)
{
	struct ks_ocsp_certcache *cc = ks_ocsp_certcache_new(0);
	X509 *d = mk_delegate(NOW - DAY, NOW + DAY, "OCSPSigning");
	X509 *noeku = mk_delegate(NOW - DAY, NOW + DAY, "serverAuth");
	struct craft c = GOOD_CRAFT(.signer = d, .key = pki.delegate_key, .this_upd = NOW - 2 * DAY,
				    .next_upd = NOW + 3 * DAY);
	struct craft cn = GOOD_CRAFT(.signer = noeku, .key = pki.delegate_key);
	struct ks_ocsp_result r;

	cr_assert_not_null(cc);
	ASSERT_VERDICT(verify_with(cc, &c, NOW), KS_V_GOOD);
	r = verify_with(cc, &c, NOW + DAY + 1);
	ASSERT_VERDICT(r, KS_V_UNTRUSTED_SIGNER);
	cr_assert(strstr(r.detail, "expired"), "%s", r.detail);
	r = verify_with(cc, &c, NOW - DAY - 1);
	ASSERT_VERDICT(r, KS_V_UNTRUSTED_SIGNER);
	ASSERT_VERDICT(verify_with(cc, &c, NOW), KS_V_GOOD);
	ASSERT_VERDICT(verify_with(cc, &cn, NOW), KS_V_DELEGATE_NO_EKU);
	ASSERT_VERDICT(verify_with(cc, &cn, NOW), KS_V_DELEGATE_NO_EKU);
	X509_free(d);
	X509_free(noeku);
	ks_ocsp_certcache_free(cc);
}

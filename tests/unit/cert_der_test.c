// SPDX-License-Identifier: MIT
/*
 * cert_der and the light path of cert_store: every fixture leaf read both ways (OpenSSL's X509
 * and the DER walker) gives the same fields, the same CertID and the same OCSP verdicts; damaged
 * DER is refused with -EBADMSG and the file named.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "helpers/log_capture.h"
#include "helpers/fixtures.h"
#include "kstaple/cert_der.h"
#include "kstaple/cert_store.h"
#include "kstaple/log.h"
#include "kstaple/ocsp_verify.h"

static const char *const leaves[] = { "ecdsa", "rsa", "noaia", "muststaple", "revoked", "expired" };

static void setup(void)
{
	cr_assert(ks_test_fixtures_dir(), "KS_FIXTURES is not set");
	ks_test_log_start();
}

static void teardown(void)
{
	ks_test_log_stop();
}

TestSuite(cert_der, .init = setup, .fini = teardown);

/* The DER of a fixture leaf (OPENSSL_free() it). */
static unsigned char *leaf_der(const char *name, int *len)
{
	char rel[128];
	unsigned char *der = NULL;
	X509 *x;

	snprintf(rel, sizeof(rel), "pki/leaf/%s/cert.pem", name);
	x = ks_test_x509(rel);
	cr_assert_not_null(x, "%s", rel);
	*len = i2d_X509(x, &der);
	cr_assert_gt(*len, 0);
	X509_free(x);
	return der;
}

static struct ks_cert *load(const char *name, bool light, const char *chain)
{
	struct ks_cert_spec spec = {
		.name = name, .chain_path = chain, .allow_expired = true, .light = light
	};
	struct ks_cert *c = NULL;
	int ret = ks_cert_load(&spec, time(NULL), &c);

	cr_assert_eq(ret, 0, "%s (light %d): %d, log: %s", name, light, ret, ks_test_logged());
	return c;
}

static void certid_der(const OCSP_CERTID *id, unsigned char **der, int *len)
{
	*der = NULL;
	*len = i2d_OCSP_CERTID((OCSP_CERTID *)id, der);
	cr_assert_gt(*len, 0);
}

Test(cert_der, walker_fields_equal_openssl_for_every_fixture_leaf)
{
	for (size_t i = 0; i < KS_ARRAY_SIZE(leaves); i++) {
		int len, n;
		unsigned char *der = leaf_der(leaves[i], &len);
		const unsigned char *p = der;
		X509 *x = d2i_X509(NULL, &p, len);
		const unsigned char *name;
		size_t name_len;
		struct ks_cert_der d;
		STACK_OF(OPENSSL_STRING) *urls = X509_get1_ocsp(x);
		ASN1_INTEGER *serial;
		int64_t t;

		cr_assert_eq(ks_cert_der_parse(der, (size_t)len, &d), 0, "%s", leaves[i]);
		p = d.serial.p;
		serial = d2i_ASN1_INTEGER(NULL, &p, (long)d.serial.len);
		cr_assert_eq(ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(x)), 0, "%s",
			     leaves[i]);
		cr_assert_eq(X509_NAME_get0_der(X509_get_issuer_name(x), &name, &name_len), 1);
		cr_assert(name_len == d.issuer.len && !memcmp(name, d.issuer.p, name_len));
		cr_assert_eq(X509_NAME_get0_der(X509_get_subject_name(x), &name, &name_len), 1);
		cr_assert(name_len == d.subject.len && !memcmp(name, d.subject.p, name_len));
		cr_assert_eq(ks_asn1_time_to_unix(X509_get0_notBefore(x), &t), 0);
		cr_assert_eq(t, d.not_before, "%s notBefore", leaves[i]);
		cr_assert_eq(ks_asn1_time_to_unix(X509_get0_notAfter(x), &t), 0);
		cr_assert_eq(t, d.not_after, "%s notAfter", leaves[i]);
		n = urls ? sk_OPENSSL_STRING_num(urls) : 0;
		cr_assert_eq((int)d.n_ocsp_urls, n, "%s: %zu URLs, OpenSSL %d", leaves[i],
			     d.n_ocsp_urls, n);
		for (int u = 0; u < n; u++) {
			const char *s = sk_OPENSSL_STRING_value(urls, u);

			cr_assert(strlen(s) == d.ocsp_urls[u].len &&
				  !memcmp(s, d.ocsp_urls[u].p, d.ocsp_urls[u].len));
		}
		cr_assert_eq(d.tlsfeature.p != NULL, strcmp(leaves[i], "muststaple") == 0);
		cr_assert_neq(ks_der_sig_alg(d.sig_alg.p, d.sig_alg.len), KS_SIG_UNKNOWN);
		X509_email_free(urls);
		ASN1_INTEGER_free(serial);
		X509_free(x);
		OPENSSL_free(der);
	}
}

Test(cert_der, light_load_equals_openssl_load_for_every_fixture_leaf)
{
	for (size_t i = 0; i < KS_ARRAY_SIZE(leaves); i++) {
		const char *chain = ks_test_fixturef("pki/leaf/%s/chain.pem", leaves[i]);
		char path[4096];
		struct ks_cert *full, *light;
		unsigned char *a, *b;
		int alen, blen;
		OCSP_CERTID *ref;

		snprintf(path, sizeof(path), "%s", chain);
		full = load(leaves[i], false, path);
		light = load(leaves[i], true, path);
		cr_assert_not_null(full->leaf);
		cr_assert_null(light->leaf, "%s: the light path was not taken: %s", leaves[i],
			       ks_test_logged());
		cr_assert_not_null(light->serial);
		cr_assert_not_null(light->leaf_issuer_name);
		cr_assert_eq(X509_cmp(full->issuer, light->issuer), 0);
		/* The light CertID is exactly OCSP_cert_to_id()'s. */
		ref = OCSP_cert_to_id(EVP_sha1(), full->leaf, full->issuer);
		certid_der(ref, &a, &alen);
		certid_der(light->certid, &b, &blen);
		cr_assert(alen == blen && !memcmp(a, b, (size_t)alen), "%s: CertID differs",
			  leaves[i]);
		cr_assert_eq(OCSP_id_cmp(ref, light->certid), 0);
		cr_assert_arr_eq(full->certid_hash, light->certid_hash, KS_CERTID_HASH_LEN);
		cr_assert_str_eq(full->certid_hex, light->certid_hex);
		cr_assert_str_eq(full->serial_hex, light->serial_hex);
		cr_assert_str_eq(full->subject, light->subject);
		cr_assert_eq(full->not_before, light->not_before);
		cr_assert_eq(full->not_after, light->not_after);
		cr_assert_eq(full->must_staple, light->must_staple, "%s", leaves[i]);
		cr_assert_eq(full->is_ecdsa, light->is_ecdsa, "%s", leaves[i]);
		cr_assert_eq(full->n_ocsp_urls, light->n_ocsp_urls);
		for (size_t u = 0; u < full->n_ocsp_urls; u++)
			cr_assert_str_eq(full->ocsp_urls[u], light->ocsp_urls[u]);
		cr_assert_eq(full->responder == NULL, light->responder == NULL);
		if (full->responder)
			cr_assert_str_eq(full->responder, light->responder);
		OPENSSL_free(a);
		OPENSSL_free(b);
		OCSP_CERTID_free(ref);
		ks_cert_free(full);
		ks_cert_free(light);
	}
}

/* Each fixture response gets the same verdict for a leaf loaded either way. */
Test(cert_der, verdicts_equal_for_light_and_openssl_leaves)
{
	FILE *f = fopen(ks_test_fixture("ocsp/expected.tsv"), "r");
	char line[512], file[128], leaf[64], verdict[64];
	int n = 0;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		char path[4096];
		struct ks_cert *full, *light;
		struct ks_ocsp_result r1, r2;
		uint8_t *der;
		size_t len;

		if (sscanf(line, "%127s %63s %63s", file, leaf, verdict) != 3)
			continue;
		snprintf(path, sizeof(path), "%s", ks_test_fixturef("pki/leaf/%s/chain.pem", leaf));
		full = load(leaf, false, path);
		light = load(leaf, true, path);
		cr_assert_eq(ks_test_read_file(ks_test_fixturef("ocsp/%s", file), &der, &len), 0);
		struct ks_verify_params p1 = {
			.leaf = full->leaf, .issuer = full->issuer, .now = time(NULL), .skew = 300
		};
		struct ks_verify_params p2 = { .issuer = light->issuer,
					       .leaf_issuer_name = light->leaf_issuer_name,
					       .leaf_serial = light->serial,
					       .now = p1.now,
					       .skew = 300 };
		cr_assert_eq(ks_ocsp_verify(der, len, &p1, &r1), 0);
		cr_assert_eq(ks_ocsp_verify(der, len, &p2, &r2), 0);
		cr_assert_eq(r1.verdict, r2.verdict, "%s: %s vs %s", file,
			     ks_verdict_name(r1.verdict), ks_verdict_name(r2.verdict));
		cr_assert_str_eq(ks_verdict_name(r2.verdict), verdict, "%s", file);
		cr_assert_str_eq(r1.detail, r2.detail);
		free(der);
		ks_cert_free(full);
		ks_cert_free(light);
		n++;
	}
	fclose(f);
	cr_assert_gt(n, 5, "expected.tsv lists the fixtures");
}

Test(cert_der, every_truncation_is_refused)
{
	int len;
	unsigned char *der = leaf_der("ecdsa", &len);
	struct ks_cert_der d;

	for (int n = 0; n < len; n++)
		cr_assert_eq(ks_cert_der_parse(der, (size_t)n, &d), -EBADMSG, "prefix %d", n);
	OPENSSL_free(der);
}

Test(cert_der, lying_lengths_and_garbage_are_refused)
{
	static const uint8_t garbage[] = "hello, I am not a certificate";
	static const uint8_t zeros[64];
	int len;
	unsigned char *der = leaf_der("rsa", &len);
	unsigned char *bad = malloc((size_t)len + 1);
	struct ks_cert_der d;

	cr_assert_not_null(bad);
	cr_assert_eq(ks_cert_der_parse(garbage, sizeof(garbage), &d), -EBADMSG);
	cr_assert_eq(ks_cert_der_parse(zeros, sizeof(zeros), &d), -EBADMSG);
	cr_assert_eq(ks_cert_der_parse(NULL, 0, &d), -EBADMSG);
	/* A trailing byte after the Certificate. */
	memcpy(bad, der, (size_t)len);
	bad[len] = 0;
	cr_assert_eq(ks_cert_der_parse(bad, (size_t)len + 1, &d), -EBADMSG);
	/* Outer length one more and one less than the truth (30 82 hi lo). */
	cr_assert_eq(der[0], 0x30);
	cr_assert_eq(der[1], 0x82);
	memcpy(bad, der, (size_t)len);
	bad[3]++;
	cr_assert_eq(ks_cert_der_parse(bad, (size_t)len, &d), -EBADMSG);
	bad[3] -= 2;
	cr_assert_eq(ks_cert_der_parse(bad, (size_t)len, &d), -EBADMSG);
	/* TBSCertificate's length one more: it would swallow the signatureAlgorithm. */
	memcpy(bad, der, (size_t)len);
	cr_assert_eq(bad[4], 0x30);
	bad[bad[5] == 0x82 ? 7 : 6]++;
	cr_assert_eq(ks_cert_der_parse(bad, (size_t)len, &d), -EBADMSG);
	/* Indefinite length (BER, not DER). */
	memcpy(bad, der, (size_t)len);
	bad[1] = 0x80;
	cr_assert_eq(ks_cert_der_parse(bad, (size_t)len, &d), -EBADMSG);
	/* Every single-byte change parses or is refused, never read out of bounds (ASan). */
	for (int i = 0; i < len; i++) {
		memcpy(bad, der, (size_t)len);
		bad[i] ^= 0xff;
		(void)!ks_cert_der_parse(bad, (size_t)len, &d);
	}
	free(bad);
	OPENSSL_free(der);
}

Test(cert_der, times_follow_rfc5280)
{
	int64_t t;

	cr_assert_eq(ks_der_time(0x17, (const uint8_t *)"700101000000Z", 13, &t), 0);
	cr_assert_eq(t, 0);
	cr_assert_eq(ks_der_time(0x17, (const uint8_t *)"491231235959Z", 13, &t), 0);
	cr_assert_eq(t, 2524607999); /* 2049-12-31T23:59:59Z: YY < 50 is 20YY */
	cr_assert_eq(ks_der_time(0x17, (const uint8_t *)"500101000000Z", 13, &t), 0);
	cr_assert_eq(t, -631152000); /* 1950-01-01 */
	cr_assert_eq(ks_der_time(0x18, (const uint8_t *)"20000229120000Z", 15, &t), 0);
	cr_assert_eq(t, 951825600);
	cr_assert_eq(ks_der_time(0x18, (const uint8_t *)"21000229120000Z", 15, &t), -EBADMSG);
	cr_assert_eq(ks_der_time(0x17, (const uint8_t *)"230229120000Z", 13, &t), -EBADMSG);
	cr_assert_eq(ks_der_time(0x17, (const uint8_t *)"2301011200Z", 11, &t), -EBADMSG);
	cr_assert_eq(ks_der_time(0x17, (const uint8_t *)"230101120000+", 13, &t), -EBADMSG);
	cr_assert_eq(ks_der_time(0x17, (const uint8_t *)"231301120000Z", 13, &t), -EBADMSG);
	cr_assert_eq(ks_der_time(0x17, (const uint8_t *)"230101240000Z", 13, &t), -EBADMSG);
	cr_assert_eq(ks_der_time(0x17, (const uint8_t *)"23010112 000Z", 13, &t), -EBADMSG);
	cr_assert_eq(ks_der_time(0x18, (const uint8_t *)"230101120000Z", 13, &t), -EBADMSG);
	cr_assert_eq(ks_der_time(0x04, (const uint8_t *)"230101120000Z", 13, &t), -EBADMSG);
}

/* Write a chain file: the leaf's DER (as given) in PEM, then the intermediate. */
static void write_chain(const char *path, const uint8_t *der, size_t len)
{
	FILE *f = fopen(path, "w");
	X509 *inter = ks_test_x509("pki/ca/intermediate/ca.crt");

	cr_assert_not_null(f);
	cr_assert_gt(PEM_write(f, "CERTIFICATE", "", der, (long)len), 0);
	cr_assert_eq(PEM_write_X509(f, inter), 1);
	fclose(f);
	X509_free(inter);
}

static void expect_load_fail(const char *path, bool light, int want)
{
	struct ks_cert_spec spec = { .name = "bad", .chain_path = path, .light = light };
	struct ks_cert *c = (struct ks_cert *)1;
	int ret = ks_cert_load(&spec, time(NULL), &c);

	cr_assert_eq(ret, want, "light %d: %d, log: %s", light, ret, ks_test_logged());
	cr_assert_null(c);
	cr_assert(strstr(ks_test_logged(), path), "the error names the file: %s", ks_test_logged());
}

Test(cert_der, damaged_leaf_is_refused_naming_the_file)
{
	char dir[256], path[300];
	int len;
	unsigned char *der = leaf_der("ecdsa", &len);

	cr_assert_eq(ks_test_tmpdir(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/chain.pem", dir);
	write_chain(path, der, (size_t)len - 10); /* truncated DER in valid PEM */
	expect_load_fail(path, true, -EBADMSG);
	write_chain(path, (const uint8_t *)"garbage garbage", 15);
	expect_load_fail(path, true, -EBADMSG);
	/* A flipped bit in the signature: not issued by the intermediate, either way. */
	der[len - 5] ^= 0x01;
	write_chain(path, der, (size_t)len);
	expect_load_fail(path, true, -ENOKEY);
	expect_load_fail(path, false, -ENOKEY);
	ks_test_rmdir(dir);
	OPENSSL_free(der);
}

Test(cert_der, signature_algorithms_map_exactly)
{
	static const uint8_t ecdsa256[] = { 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
					    0x48, 0xce, 0x3d, 0x04, 0x03, 0x02 };
	static const uint8_t rsa384[] = { 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
					  0xf7, 0x0d, 0x01, 0x01, 0x0c, 0x05, 0x00 };
	static const uint8_t rsa384_noparam[] = { 0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48,
						  0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c };
	static const uint8_t sha1rsa[] = { 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
					   0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00 };
	static const uint8_t ed25519[] = { 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70 };

	cr_assert_eq(ks_der_sig_alg(ecdsa256, sizeof(ecdsa256)), KS_SIG_ECDSA_SHA256);
	cr_assert_eq(ks_der_sig_alg(rsa384, sizeof(rsa384)), KS_SIG_RSA_SHA384);
	cr_assert_eq(ks_der_sig_alg(rsa384_noparam, sizeof(rsa384_noparam)), KS_SIG_UNKNOWN);
	cr_assert_eq(ks_der_sig_alg(sha1rsa, sizeof(sha1rsa)), KS_SIG_UNKNOWN);
	cr_assert_eq(ks_der_sig_alg(ed25519, sizeof(ed25519)), KS_SIG_ED25519);
	cr_assert_eq(ks_der_sig_alg(ecdsa256, sizeof(ecdsa256) - 1), KS_SIG_UNKNOWN);
}

/* The ecdsa fixture leaf, re-signed by the intermediate with md, in a chain file at path. */
static void write_resigned(const char *path, const EVP_MD *md)
{
	X509 *leaf = ks_test_x509("pki/leaf/ecdsa/cert.pem");
	FILE *kf = fopen(ks_test_fixture("pki/ca/intermediate/ca.key"), "r");
	EVP_PKEY *key = kf ? PEM_read_PrivateKey(kf, NULL, NULL, NULL) : NULL;
	unsigned char *der = NULL;
	int len;

	cr_assert_not_null(leaf);
	cr_assert_not_null(key);
	cr_assert_gt(X509_sign(leaf, key, md), 0);
	len = i2d_X509(leaf, &der);
	cr_assert_gt(len, 0);
	write_chain(path, der, (size_t)len);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
	fclose(kf);
	X509_free(leaf);
}

/* Handled algorithms take the light path; others fall back to OpenSSL, with the same result. */
Test(cert_der, unhandled_signature_algorithm_falls_back_to_openssl)
{
	static const struct {
		const char *md;
		bool light;
	} cases[] = {
		{ "SHA384", true }, { "SHA512", true }, { "SHA1", false }, { "SHA224", false }
	};
	char dir[256], path[300];

	cr_assert_eq(ks_test_tmpdir(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/chain.pem", dir);
	for (size_t i = 0; i < KS_ARRAY_SIZE(cases); i++) {
		EVP_MD *md = EVP_MD_fetch(NULL, cases[i].md, NULL);
		struct ks_cert *full, *light;

		cr_assert_not_null(md);
		write_resigned(path, md);
		full = load("resigned", false, path);
		light = load("resigned", true, path);
		cr_assert_eq(light->leaf == NULL, cases[i].light, "%s: light path %s", cases[i].md,
			     light->leaf ? "not taken" : "taken");
		cr_assert_str_eq(full->certid_hex, light->certid_hex);
		cr_assert_str_eq(full->subject, light->subject);
		ks_cert_free(full);
		ks_cert_free(light);
		EVP_MD_free(md);
	}
	ks_test_rmdir(dir);
}

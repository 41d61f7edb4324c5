// SPDX-License-Identifier: MIT
/* ocsp_request: the DER request, its RFC 5019 §5 GET form and the 255-byte rule. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>

#include "helpers/fixtures.h"
#include "kstaple/ocsp_request.h"

static void setup(void)
{
	cr_assert(ks_test_fixtures_dir(),
		  "KS_FIXTURES is not set: run scripts/mkpki.sh DIR and KS_FIXTURES=DIR");
}

TestSuite(ocsp_request, .init = setup);

static struct ks_cert *load(const char *name)
{
	char chain[4096];
	struct ks_cert_spec spec = { .name = name, .chain_path = chain };
	struct ks_cert *c = NULL;
	int ret;

	snprintf(chain, sizeof(chain), "%s", ks_test_fixturef("pki/leaf/%s/chain.pem", name));
	ret = ks_cert_load(&spec, time(NULL), &c);
	cr_assert_eq(ret, 0, "loading %s: %s", name, strerror(-ret));
	return c;
}

/* Percent-decoding then base64-decoding, written independently of the encoder under test. */
static size_t decode_get(const char *enc, uint8_t *out, size_t cap)
{
	char b64[1024];
	size_t n = 0;
	int len;

	for (const char *p = enc; *p; p++) {
		unsigned int x;

		cr_assert_lt(n, sizeof(b64) - 1);
		if (*p == '%') {
			cr_assert_eq(sscanf(p + 1, "%2X", &x), 1, "bad escape in %s", enc);
			b64[n++] = (char)x;
			p += 2;
		} else {
			cr_assert(strchr("+/=", *p) == NULL, "unescaped '%c' in %s", *p, enc);
			b64[n++] = *p;
		}
	}
	b64[n] = '\0';
	cr_assert_leq(3 * (n / 4), cap);
	len = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
	cr_assert_geq(len, 0, "not base64: %s", b64);
	/* EVP_DecodeBlock keeps the zero bytes that padding stands for: drop them. */
	if (n >= 1 && b64[n - 1] == '=')
		len--;
	if (n >= 2 && b64[n - 2] == '=')
		len--;
	return (size_t)len;
}

Test(ocsp_request, get_encoding_vectors)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} v[] = {
		/* RFC 4648 §10 test vectors, with '=' escaped. */
		{ "", 0, "" },
		{ "f", 1, "Zg%3D%3D" },
		{ "fo", 2, "Zm8%3D" },
		{ "foo", 3, "Zm9v" },
		{ "foobar", 6, "Zm9vYmFy" },
		/* 0xfb 0xff -> "+/8=": all three characters that must be escaped. */
		{ "\xfb\xff", 2, "%2B%2F8%3D" },
		{ "\xfb\xef\xbe", 3, "%2B%2B%2B%2B" },
		{ "\xff\xff\xff", 3, "%2F%2F%2F%2F" },
		{ "\x00\x00\x00", 3, "AAAA" },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *s = ks_ocsp_get_encode((const uint8_t *)v[i].in, v[i].len);

		cr_assert_not_null(s);
		cr_expect_str_eq(s, v[i].out, "vector %zu", i);
		free(s);
	}
	errno = 0;
	cr_assert_null(ks_ocsp_get_encode(NULL, 3));
	cr_assert_eq(errno, EINVAL);
}

Test(ocsp_request, get_encoding_round_trips_all_bytes)
{
	uint8_t in[256], back[400];
	char *s;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(255 - i);
	for (size_t len = 0; len <= sizeof(in); len += 37) {
		s = ks_ocsp_get_encode(in, len);
		cr_assert_not_null(s);
		cr_assert_eq(
			strspn(s,
			       "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789%"),
			strlen(s), "only unreserved characters and escapes: %s", s);
		cr_assert_eq(decode_get(s, back, sizeof(back)), len);
		cr_assert_eq(memcmp(in, back, len), 0);
		free(s);
	}
}

Test(ocsp_request, der_is_one_request_without_nonce)
{
	struct ks_cert *c = load("ecdsa");
	struct ks_ocsp_req r;
	const unsigned char *p;
	OCSP_REQUEST *req;
	OCSP_ONEREQ *one;

	cr_assert_eq(ks_ocsp_request_build(c, NULL, &r), 0);
	cr_assert_not_null(r.der);
	cr_assert_gt(r.len, 0);
	p = r.der;
	req = d2i_OCSP_REQUEST(NULL, &p, (long)r.len);
	cr_assert_not_null(req);
	cr_assert_eq(p, r.der + r.len, "the DER must be consumed exactly");
	cr_assert_eq(OCSP_request_onereq_count(req), 1);
	one = OCSP_request_onereq_get0(req, 0);
	cr_assert_eq(OCSP_id_cmp(OCSP_onereq_get0_id(one), c->certid), 0);
	/* RFC 5019 §2.1.1: no requestExtensions (so no nonce), no signature, no requestor. */
	cr_assert_lt(OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, -1), 0);
	cr_assert_eq(OCSP_REQUEST_get_ext_count(req), 0);
	cr_assert_eq(OCSP_ONEREQ_get_ext_count(one), 0);
	cr_assert_eq(OCSP_request_is_signed(req), 0);
	OCSP_REQUEST_free(req);
	ks_ocsp_request_free(&r);
	ks_cert_free(c);
}

/* The request must be byte-for-byte what `openssl ocsp -no_nonce -reqout` produces. */
static void compare_with_cli(const char *name)
{
	struct ks_cert *c = load(name);
	char dir[256], cmd[16384], out[300];
	char issuer[4096], cert[4096];
	struct ks_ocsp_req r;
	uint8_t *der;
	size_t len;
	int rc;

	if (system("command -v openssl >/dev/null 2>&1") != 0)
		cr_skip_test("the openssl command-line tool is not installed");
	snprintf(issuer, sizeof(issuer), "%s", ks_test_fixture("pki/ca/intermediate/ca.crt"));
	snprintf(cert, sizeof(cert), "%s", ks_test_fixturef("pki/leaf/%s/cert.pem", name));
	cr_assert_eq(ks_test_tmpdir(dir, sizeof(dir)), 0);
	snprintf(out, sizeof(out), "%s/req.der", dir);
	snprintf(cmd, sizeof(cmd),
		 "OPENSSL_CONF=/dev/null openssl ocsp -issuer '%s' -cert '%s' -no_nonce "
		 "-reqout '%s' >/dev/null 2>&1",
		 issuer, cert, out);
	rc = system(cmd);
	cr_assert_eq(rc, 0, "%s failed: %d", cmd, rc);
	cr_assert_eq(ks_test_read_file(out, &der, &len), 0);
	cr_assert_eq(ks_ocsp_request_build(c, NULL, &r), 0);
	cr_assert_eq(r.len, len, "%s: %zu bytes, openssl made %zu", name, r.len, len);
	cr_assert_eq(memcmp(r.der, der, len), 0, "%s: DER differs from openssl's", name);
	free(der);
	ks_ocsp_request_free(&r);
	ks_cert_free(c);
	ks_test_rmdir(dir);
}

Test(ocsp_request, matches_openssl_cli_ecdsa)
{
	compare_with_cli("ecdsa");
}

Test(ocsp_request, matches_openssl_cli_rsa)
{
	compare_with_cli("rsa");
}

/* The URL must be PREFIX + encoded request, and the request must decode to the DER. */
static void check_get_url(const struct ks_ocsp_req *r, const char *prefix)
{
	uint8_t back[512];
	size_t plen = strlen(prefix);

	cr_assert_not_null(r->get_url);
	cr_assert_eq(strncmp(r->get_url, prefix, plen), 0, "%s does not start with %s", r->get_url,
		     prefix);
	cr_assert_neq(r->get_url[plen], '/', "double slash in %s", r->get_url);
	cr_assert_eq(decode_get(r->get_url + plen, back, sizeof(back)), r->len);
	cr_assert_eq(memcmp(back, r->der, r->len), 0);
}

Test(ocsp_request, get_url_joins_with_one_slash)
{
	struct ks_cert *c = load("ecdsa");
	char want[128];
	struct ks_ocsp_req r;

	/* No path: a '/' is added. The default URL is the certificate's responder (AIA). */
	cr_assert_eq(ks_ocsp_request_build(c, NULL, &r), 0);
	snprintf(want, sizeof(want), "%s/", c->responder);
	check_get_url(&r, want);
	ks_ocsp_request_free(&r);

	cr_assert_eq(ks_ocsp_request_build(c, "http://ocsp.example/ocsp", &r), 0);
	check_get_url(&r, "http://ocsp.example/ocsp/");
	ks_ocsp_request_free(&r);

	/* The path already ends in '/': none added. */
	cr_assert_eq(ks_ocsp_request_build(c, "http://ocsp.example/ocsp/", &r), 0);
	check_get_url(&r, "http://ocsp.example/ocsp/");
	ks_ocsp_request_free(&r);

	cr_assert_eq(ks_ocsp_request_build(c, "http://ocsp.example/", &r), 0);
	check_get_url(&r, "http://ocsp.example/");
	ks_ocsp_request_free(&r);
	ks_cert_free(c);
}

/* A URL "http://" + n 'a's (+ "/" when slash) of the given total length. */
static void make_url(char *buf, size_t total, bool slash)
{
	size_t fill = total - strlen("http://") - (slash ? 1 : 0);

	strcpy(buf, "http://");
	memset(buf + 7, 'a', fill);
	buf[7 + fill] = '\0';
	if (slash)
		strcat(buf, "/");
	cr_assert_eq(strlen(buf), total);
}

/* RFC 5019 §5: GET iff the whole URL is <= 255 bytes; one byte more and the caller POSTs. */
Test(ocsp_request, get_url_limit_is_255_bytes_in_total)
{
	struct ks_cert *c = load("rsa");
	struct ks_ocsp_req r;
	char url[512];
	size_t enc_len;
	char *enc;

	cr_assert_eq(ks_ocsp_request_build(c, "http://x", &r), 0);
	enc = ks_ocsp_get_encode(r.der, r.len);
	enc_len = strlen(enc);
	free(enc);
	ks_ocsp_request_free(&r);
	cr_assert_lt(enc_len + 20, KS_OCSP_GET_MAX, "fixture request too long for this test");

	/* Without a trailing slash: url + "/" + enc == 255. */
	make_url(url, KS_OCSP_GET_MAX - 1 - enc_len, false);
	cr_assert_eq(ks_ocsp_request_build(c, url, &r), 0);
	cr_assert_not_null(r.get_url, "exactly 255 bytes must use GET");
	cr_assert_eq(strlen(r.get_url), KS_OCSP_GET_MAX);
	ks_ocsp_request_free(&r);

	make_url(url, KS_OCSP_GET_MAX - enc_len, false);
	cr_assert_eq(ks_ocsp_request_build(c, url, &r), 0);
	cr_assert_null(r.get_url, "256 bytes must not use GET: %s", r.get_url);
	cr_assert_not_null(r.der, "the POST body is still built");
	ks_ocsp_request_free(&r);

	/* With a trailing slash the URL itself may be one byte longer. */
	make_url(url, KS_OCSP_GET_MAX - enc_len, true);
	cr_assert_eq(ks_ocsp_request_build(c, url, &r), 0);
	cr_assert_not_null(r.get_url);
	cr_assert_eq(strlen(r.get_url), KS_OCSP_GET_MAX);
	ks_ocsp_request_free(&r);

	make_url(url, KS_OCSP_GET_MAX - enc_len + 1, true);
	cr_assert_eq(ks_ocsp_request_build(c, url, &r), 0);
	cr_assert_null(r.get_url);
	ks_ocsp_request_free(&r);
	ks_cert_free(c);
}

Test(ocsp_request, no_url_builds_der_only)
{
	struct ks_cert *c = load("noaia");
	struct ks_ocsp_req r;

	cr_assert_null(c->responder);
	cr_assert_eq(ks_ocsp_request_build(c, NULL, &r), 0);
	cr_assert_not_null(r.der);
	cr_assert_null(r.get_url);
	ks_ocsp_request_free(&r);
	cr_assert_null(r.der, "free leaves the struct empty");
	ks_ocsp_request_free(&r); /* twice is harmless */
	ks_ocsp_request_free(NULL);
	ks_cert_free(c);
}

Test(ocsp_request, requests_differ_between_certificates)
{
	struct ks_cert *a = load("ecdsa"), *b = load("rsa");
	struct ks_ocsp_req ra, rb;

	cr_assert_eq(ks_ocsp_request_build(a, NULL, &ra), 0);
	cr_assert_eq(ks_ocsp_request_build(b, NULL, &rb), 0);
	cr_assert(ra.len != rb.len || memcmp(ra.der, rb.der, ra.len) != 0);
	cr_assert_str_neq(ra.get_url, rb.get_url);
	ks_ocsp_request_free(&ra);
	ks_ocsp_request_free(&rb);
	ks_cert_free(a);
	ks_cert_free(b);
}

Test(ocsp_request, rejects_certificate_without_certid)
{
	struct ks_cert empty = { .name = "empty" };
	struct ks_ocsp_req r;

	cr_assert_eq(ks_ocsp_request_build(&empty, "http://x", &r), -EINVAL);
	cr_assert_null(r.der);
	cr_assert_null(r.get_url);
}

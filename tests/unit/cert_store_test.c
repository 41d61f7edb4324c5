// SPDX-License-Identifier: MIT
/* cert_store: loading the fixture PKI (scripts/mkpki.sh) and every way it can go wrong. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "helpers/log_capture.h"
#include "helpers/fixtures.h"
#include "kstaple/cert_store.h"
#include "kstaple/log.h"

/* Paths of one fixture leaf, owned (ks_test_fixture's buffer is reused by every call). */
struct leaf {
	char chain[4096], cert[4096], key[4096];
};

/* Every test captures the log to check what an operator would read, and how many lines. */
static void setup(void)
{
	cr_assert(ks_test_fixtures_dir(),
		  "KS_FIXTURES is not set: run scripts/mkpki.sh DIR and KS_FIXTURES=DIR");
	ks_test_log_start();
}

static void teardown(void)
{
	ks_test_log_stop();
}

TestSuite(cert_store, .init = setup, .fini = teardown);

static int log_lines(void)
{
	int n = 0;

	for (const char *p = ks_test_logged(); *p; p++)
		n += *p == '\n';
	return n;
}

static void leaf_paths(const char *name, struct leaf *l)
{
	snprintf(l->chain, sizeof(l->chain), "%s", ks_test_fixturef("pki/leaf/%s/chain.pem", name));
	snprintf(l->cert, sizeof(l->cert), "%s", ks_test_fixturef("pki/leaf/%s/cert.pem", name));
	snprintf(l->key, sizeof(l->key), "%s", ks_test_fixturef("pki/leaf/%s/key.pem", name));
	cr_assert_eq(access(l->chain, R_OK), 0, "missing fixture %s", l->chain);
}

static struct ks_cert_spec spec_for(const char *name, struct leaf *l)
{
	leaf_paths(name, l);
	return (struct ks_cert_spec){ .name = name, .chain_path = l->chain, .key_path = l->key };
}

static struct ks_cert *load_ok(const struct ks_cert_spec *spec)
{
	struct ks_cert *c = NULL;
	int ret = ks_cert_load(spec, time(NULL), &c);

	cr_assert_eq(ret, 0, "loading %s: %d (%s), log: %s", spec->name, ret, strerror(-ret),
		     ks_test_logged());
	cr_assert_not_null(c);
	return c;
}

static void expect_fail(const struct ks_cert_spec *spec, int64_t now, int want)
{
	struct ks_cert *c = (struct ks_cert *)1;
	int ret = ks_cert_load(spec, now, &c);

	cr_assert_eq(ret, want, "%s: got %d (%s), want %d (%s)", spec->name, ret, strerror(-ret),
		     want, strerror(-want));
	cr_assert_null(c);
	/* Logged once, where handled, naming the certificate. */
	cr_assert_eq(log_lines(), 1, "expected one log line, got: %s", ks_test_logged());
	cr_assert(strstr(ks_test_logged(), "[cert "), "log does not name the certificate: %s",
		  ks_test_logged());
}

static char *expected_url(void)
{
	static char url[64];
	int port = ks_test_ocsp_port();

	cr_assert_gt(port, 0, "cannot read pki/ocsp-port");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	return url;
}

static void check_common(const struct ks_cert *c, const char *chain_path)
{
	X509 *inter = ks_test_x509("pki/ca/intermediate/ca.crt");
	const ASN1_TIME *na = X509_get0_notAfter(c->leaf);
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c->leaf), NULL);
	char *serial = BN_bn2hex(bn);
	time_t t;

	cr_assert_not_null(inter);
	cr_assert_str_eq(c->chain_path, chain_path);
	cr_assert_eq(sk_X509_num(c->chain), 1, "chain.pem = leaf + intermediate");
	cr_assert_not_null(c->issuer);
	cr_assert_eq(X509_cmp(c->issuer, inter), 0, "issuer must be the intermediate");
	cr_assert_not_null(c->key);
	cr_assert_not_null(c->certid);
	cr_assert_eq(strlen(c->certid_hex), 64);
	cr_assert_eq(strspn(c->certid_hex, "0123456789abcdef"), 64, "%s", c->certid_hex);
	/* BN_bn2hex drops a leading zero nibble; compare numerically-equal upper-case hex. */
	cr_assert_str_eq(c->serial_hex + (strlen(c->serial_hex) > strlen(serial)), serial);
	cr_assert_not_null(c->subject);
	cr_assert(strstr(c->subject, "CN="), "subject: %s", c->subject);
	/* not_after is exactly notAfter: X509_cmp_time says "<=" at t and ">" at t - 1. */
	t = (time_t)c->not_after;
	cr_assert_eq(X509_cmp_time(na, &t), -1);
	t--;
	cr_assert_eq(X509_cmp_time(na, &t), 1);
	cr_assert_lt(c->not_before, c->not_after);
	OPENSSL_free(serial);
	BN_free(bn);
	X509_free(inter);
}

Test(cert_store, loads_ecdsa_chain_with_key)
{
	struct leaf l;
	struct ks_cert_spec spec = spec_for("ecdsa", &l);
	struct ks_cert *c = load_ok(&spec);

	check_common(c, l.chain);
	cr_assert_str_eq(c->name, "ecdsa");
	cr_assert(c->is_ecdsa);
	cr_assert_eq(c->n_ocsp_urls, 1);
	cr_assert_str_eq(c->ocsp_urls[0], expected_url());
	cr_assert_str_eq(c->responder, expected_url());
	cr_assert_not(c->must_staple);
	cr_assert_str_eq(ks_test_logged(), "", "a good load logs nothing at error level");
	ks_cert_free(c);
}

Test(cert_store, loads_rsa_chain_with_key)
{
	struct leaf l;
	struct ks_cert_spec spec = spec_for("rsa", &l);
	struct ks_cert *c = load_ok(&spec);

	check_common(c, l.chain);
	cr_assert_not(c->is_ecdsa);
	cr_assert_eq(c->n_ocsp_urls, 1);
	cr_assert_str_eq(c->responder, expected_url());
	cr_assert_not(c->must_staple);
	ks_cert_free(c);
}

Test(cert_store, detects_must_staple)
{
	struct leaf l;
	struct ks_cert_spec spec = spec_for("muststaple", &l);
	struct ks_cert *c = load_ok(&spec);

	cr_assert(c->must_staple);
	ks_cert_free(c);
}

Test(cert_store, no_aia_means_no_responder_unless_overridden)
{
	struct leaf l;
	struct ks_cert_spec spec = spec_for("noaia", &l);
	struct ks_cert *c = load_ok(&spec);

	cr_assert_eq(c->n_ocsp_urls, 0);
	cr_assert_null(c->ocsp_urls);
	cr_assert_null(c->responder);
	ks_cert_free(c);

	spec.responder = "http://ocsp.example.net/x";
	c = load_ok(&spec);
	cr_assert_eq(c->n_ocsp_urls, 0);
	cr_assert_str_eq(c->responder, "http://ocsp.example.net/x");
	ks_cert_free(c);
}

Test(cert_store, override_wins_over_aia)
{
	struct leaf l;
	struct ks_cert_spec spec = spec_for("ecdsa", &l);
	struct ks_cert *c;

	spec.responder = "http://override.example/";
	c = load_ok(&spec);
	cr_assert_eq(c->n_ocsp_urls, 1);
	cr_assert_str_eq(c->ocsp_urls[0], expected_url());
	cr_assert_str_eq(c->responder, "http://override.example/");
	ks_cert_free(c);
}

Test(cert_store, no_key_path_loads_without_key)
{
	struct leaf l;
	struct ks_cert_spec spec = spec_for("ecdsa", &l);
	struct ks_cert *c;

	spec.key_path = NULL;
	c = load_ok(&spec);
	cr_assert_null(c->key);
	ks_cert_free(c);
}

Test(cert_store, rejects_key_of_another_certificate)
{
	struct leaf l, r;
	struct ks_cert_spec spec = spec_for("ecdsa", &l);

	leaf_paths("rsa", &r);
	spec.key_path = r.key;
	expect_fail(&spec, time(NULL), -EKEYREJECTED);
	cr_assert(strstr(ks_test_logged(), r.key) && strstr(ks_test_logged(), "does not match"),
		  "%s", ks_test_logged());
	cr_assert(strstr(ks_test_logged(), l.chain), "%s", ks_test_logged());
}

Test(cert_store, missing_files_are_enoent)
{
	struct leaf l;
	struct ks_cert_spec spec = spec_for("ecdsa", &l);
	char missing[4200];

	snprintf(missing, sizeof(missing), "%s.does-not-exist", l.chain);
	spec.chain_path = missing;
	expect_fail(&spec, time(NULL), -ENOENT);
	cr_assert(strstr(ks_test_logged(), missing), "%s", ks_test_logged());
}

Test(cert_store, missing_key_is_enoent)
{
	struct leaf l;
	struct ks_cert_spec spec = spec_for("ecdsa", &l);

	spec.key_path = "/nonexistent/kstaple/key.pem";
	expect_fail(&spec, time(NULL), -ENOENT);
	cr_assert(strstr(ks_test_logged(), "/nonexistent/kstaple/key.pem"), "%s", ks_test_logged());
}

Test(cert_store, unreadable_file_is_eacces)
{
	struct leaf l;
	struct ks_cert_spec spec = spec_for("ecdsa", &l);
	char dir[256], path[300];
	int fd;

	if (geteuid() == 0)
		cr_skip_test("running as root: file permissions do not apply");
	cr_assert_eq(ks_test_tmpdir(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/chain.pem", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0);
	cr_assert_geq(fd, 0);
	close(fd);
	spec.chain_path = path;
	expect_fail(&spec, time(NULL), -EACCES);
	ks_test_rmdir(dir);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

Test(cert_store, file_without_certificate_is_ebadmsg)
{
	struct leaf l;
	struct ks_cert_spec spec = spec_for("ecdsa", &l);
	char dir[256], path[300];

	cr_assert_eq(ks_test_tmpdir(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/chain.pem", dir);
	write_file(path, "this is not a certificate\n");
	spec.chain_path = path;
	expect_fail(&spec, time(NULL), -EBADMSG);
	cr_assert(strstr(ks_test_logged(), "no certificate in") && strstr(ks_test_logged(), path),
		  "%s", ks_test_logged());
	ks_test_rmdir(dir);

	/* A key file given as the chain: PEM, but no certificate in it. */
	spec.chain_path = l.key;
	ks_test_log_reset();
	expect_fail(&spec, time(NULL), -EBADMSG);
}

Test(cert_store, damaged_intermediate_is_ebadmsg)
{
	struct leaf l;
	struct ks_cert_spec spec = spec_for("ecdsa", &l);
	char dir[256], path[300];
	uint8_t *leaf;
	size_t len;
	FILE *f;

	cr_assert_eq(ks_test_read_file(l.cert, &leaf, &len), 0);
	cr_assert_eq(ks_test_tmpdir(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/chain.pem", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fwrite(leaf, 1, len, f);
	fputs("-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n", f);
	fclose(f);
	free(leaf);
	spec.chain_path = path;
	expect_fail(&spec, time(NULL), -EBADMSG);
	cr_assert(strstr(ks_test_logged(), "malformed PEM block"), "%s", ks_test_logged());
	ks_test_rmdir(dir);
}

Test(cert_store, leaf_without_issuer_needs_issuer_setting)
{
	struct leaf l;
	struct ks_cert_spec spec = spec_for("ecdsa", &l);
	struct ks_cert *c;
	char issuer[4096];
	X509 *inter;

	spec.chain_path = l.cert;
	expect_fail(&spec, time(NULL), -ENOKEY);
	cr_assert(strstr(ks_test_logged(), "issuer ="), "the message must say what to set: %s",
		  ks_test_logged());
	cr_assert(strstr(ks_test_logged(), l.cert), "%s", ks_test_logged());

	snprintf(issuer, sizeof(issuer), "%s", ks_test_fixture("pki/ca/intermediate/ca.crt"));
	spec.issuer_path = issuer;
	c = load_ok(&spec);
	inter = ks_test_x509("pki/ca/intermediate/ca.crt");
	cr_assert_eq(X509_cmp(c->issuer, inter), 0);
	cr_assert_eq(sk_X509_num(c->chain), 0);
	X509_free(inter);
	ks_cert_free(c);
}

Test(cert_store, wrong_issuer_file_is_rejected)
{
	struct leaf l;
	struct ks_cert_spec spec = spec_for("ecdsa", &l);
	char issuer[4096];

	snprintf(issuer, sizeof(issuer), "%s", ks_test_fixture("pki/wrongca/ca.crt"));
	spec.issuer_path = issuer;
	expect_fail(&spec, time(NULL), -ENOKEY);
	cr_assert(strstr(ks_test_logged(), issuer) && strstr(ks_test_logged(), "did not issue"),
		  "%s", ks_test_logged());
}

Test(cert_store, root_is_not_the_leafs_issuer)
{
	struct leaf l;
	struct ks_cert_spec spec = spec_for("ecdsa", &l);
	char issuer[4096];

	/* The root issued the intermediate, not the leaf: a CertID over it would be wrong. */
	snprintf(issuer, sizeof(issuer), "%s", ks_test_fixture("pki/ca/root/ca.crt"));
	spec.issuer_path = issuer;
	expect_fail(&spec, time(NULL), -ENOKEY);
}

Test(cert_store, missing_issuer_file_is_enoent)
{
	struct leaf l;
	struct ks_cert_spec spec = spec_for("ecdsa", &l);

	spec.issuer_path = "/nonexistent/kstaple/issuer.pem";
	expect_fail(&spec, time(NULL), -ENOENT);
}

Test(cert_store, expired_leaf_is_rejected_unless_allowed)
{
	struct leaf l;
	struct ks_cert_spec spec = spec_for("expired", &l);
	X509 *x = ks_test_x509("pki/leaf/expired/cert.pem");
	struct ks_cert *c;
	char date[64];
	struct tm tm;

	cr_assert_not_null(x);
	cr_assert_eq(ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm), 1);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	X509_free(x);
	expect_fail(&spec, time(NULL), -EKEYEXPIRED);
	cr_assert(strstr(ks_test_logged(), "expired") && strstr(ks_test_logged(), date),
		  "the message must give notAfter (%s): %s", date, ks_test_logged());

	spec.allow_expired = true;
	c = load_ok(&spec);
	cr_assert_lt(c->not_after, time(NULL));
	ks_cert_free(c);
}

Test(cert_store, validity_boundaries_follow_now)
{
	struct leaf l;
	struct ks_cert_spec spec = spec_for("ecdsa", &l);
	struct ks_cert *c = load_ok(&spec), *c2 = NULL;
	int64_t nb = c->not_before, na = c->not_after;

	ks_cert_free(c);
	/* RFC 5280 §4.1.2.5: both ends of the validity period are inside it. */
	cr_assert_eq(ks_cert_load(&spec, na, &c2), 0);
	ks_cert_free(c2);
	cr_assert_eq(ks_cert_load(&spec, nb, &c2), 0);
	ks_cert_free(c2);
	expect_fail(&spec, na + 1, -EKEYEXPIRED);
}

Test(cert_store, not_yet_valid_is_rejected)
{
	struct leaf l;
	struct ks_cert_spec spec = spec_for("ecdsa", &l);
	struct ks_cert *c = load_ok(&spec);
	int64_t nb = c->not_before;

	ks_cert_free(c);
	expect_fail(&spec, nb - 1, -EKEYEXPIRED);
	cr_assert(strstr(ks_test_logged(), "not valid before"), "%s", ks_test_logged());
}

Test(cert_store, certid_hash_is_stable_and_distinct)
{
	struct leaf le, lr, lm;
	struct ks_cert_spec se = spec_for("ecdsa", &le), sr = spec_for("rsa", &lr);
	struct ks_cert_spec sm = spec_for("muststaple", &lm);
	struct ks_cert *a = load_ok(&se), *b = load_ok(&se), *r = load_ok(&sr), *m = load_ok(&sm);

	cr_assert_str_eq(a->certid_hex, b->certid_hex);
	cr_assert_eq(memcmp(a->certid_hash, b->certid_hash, KS_CERTID_HASH_LEN), 0);
	cr_assert_str_neq(a->certid_hex, r->certid_hex);
	cr_assert_str_neq(a->certid_hex, m->certid_hex);
	cr_assert_str_neq(r->certid_hex, m->certid_hex);
	/* Same issuer, different serials: the CertIDs differ only in serialNumber. */
	cr_assert_eq(OCSP_id_issuer_cmp(a->certid, r->certid), 0);
	cr_assert_neq(OCSP_id_cmp(a->certid, r->certid), 0);
	ks_cert_free(a);
	ks_cert_free(b);
	ks_cert_free(r);
	ks_cert_free(m);
}

Test(cert_store, certid_uses_sha1_over_issuer)
{
	struct leaf l;
	struct ks_cert_spec spec = spec_for("ecdsa", &l);
	struct ks_cert *c = load_ok(&spec);
	X509 *inter = ks_test_x509("pki/ca/intermediate/ca.crt");
	ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
	ASN1_OBJECT *md = NULL;
	ASN1_INTEGER *serial = NULL;
	unsigned char want[20];
	unsigned int n = 0;

	cr_assert_eq(OCSP_id_get0_info(&nh, &md, &kh, &serial, c->certid), 1);
	cr_assert_eq(OBJ_obj2nid(md), NID_sha1);
	/* RFC 6960 §4.1.1: issuerNameHash is the hash of the issuer's DN (DER). */
	cr_assert_eq(X509_NAME_digest(X509_get_subject_name(inter), EVP_sha1(), want, &n), 1);
	cr_assert_eq(ASN1_STRING_length(nh), 20);
	cr_assert_eq(memcmp(ASN1_STRING_get0_data(nh), want, 20), 0);
	/* issuerKeyHash: hash of the issuer's subjectPublicKey BIT STRING value. */
	cr_assert_eq(X509_pubkey_digest(inter, EVP_sha1(), want, &n), 1);
	cr_assert_eq(memcmp(ASN1_STRING_get0_data(kh), want, 20), 0);
	cr_assert_eq(ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(c->leaf)), 0);
	X509_free(inter);
	ks_cert_free(c);
}

Test(cert_store, x509_load_reports_errno)
{
	X509 *x;
	struct leaf l;

	leaf_paths("ecdsa", &l);
	errno = 0;
	cr_assert_null(ks_x509_load("/nonexistent/kstaple/x.pem"));
	cr_assert_eq(errno, ENOENT);
	errno = 0;
	cr_assert_null(ks_x509_load(l.key));
	cr_assert_eq(errno, EBADMSG);
	x = ks_x509_load(l.chain);
	cr_assert_not_null(x);
	X509_free(x);
	ks_cert_free(NULL);
}

/* RFC 7633 §4: Features ::= SEQUENCE OF INTEGER, status_request = 5. */
Test(cert_store, tlsfeature_parser)
{
	static const struct {
		const char *what;
		uint8_t der[12];
		size_t len;
		int ret;
		bool sr;
	} v[] = {
		{ "status_request", { 0x30, 0x03, 0x02, 0x01, 0x05 }, 5, 0, true },
		{ "other feature only", { 0x30, 0x03, 0x02, 0x01, 0x11 }, 5, 0, false },
		{ "5 among others",
		  { 0x30, 0x06, 0x02, 0x01, 0x11, 0x02, 0x01, 0x05 },
		  8,
		  0,
		  true },
		{ "empty list", { 0x30, 0x00 }, 2, 0, false },
		{ "two-octet 0x0105", { 0x30, 0x04, 0x02, 0x02, 0x01, 0x05 }, 6, 0, false },
		{ "negative -123", { 0x30, 0x03, 0x02, 0x01, 0x85 }, 5, 0, false },
		{ "non-minimal 5", { 0x30, 0x04, 0x02, 0x02, 0x00, 0x05 }, 6, -EBADMSG, false },
		{ "non-minimal -1", { 0x30, 0x04, 0x02, 0x02, 0xff, 0x85 }, 6, -EBADMSG, false },
		{ "empty INTEGER", { 0x30, 0x02, 0x02, 0x00 }, 4, -EBADMSG, false },
		{ "OCTET STRING element", { 0x30, 0x03, 0x04, 0x01, 0x05 }, 5, -EBADMSG, false },
		{ "SET not SEQUENCE", { 0x31, 0x03, 0x02, 0x01, 0x05 }, 5, -EBADMSG, false },
		{ "trailing byte", { 0x30, 0x03, 0x02, 0x01, 0x05, 0x00 }, 6, -EBADMSG, false },
		{ "truncated", { 0x30, 0x03, 0x02, 0x01 }, 4, -EBADMSG, false },
		{ "element overruns", { 0x30, 0x03, 0x02, 0x05, 0x05 }, 5, -EBADMSG, false },
		{ "indefinite length", { 0x30, 0x80, 0x02, 0x01, 0x05, 0, 0 }, 7, -EBADMSG, false },
		{ "nothing", { 0 }, 0, -EBADMSG, false },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		bool sr = !v[i].sr;
		int ret = ks_cert_parse_tlsfeature(v[i].der, v[i].len, &sr);

		cr_expect_eq(ret, v[i].ret, "%s: ret %d, want %d", v[i].what, ret, v[i].ret);
		if (v[i].ret == 0)
			cr_expect_eq(sr, v[i].sr, "%s", v[i].what);
	}
}

static int time_of(int (*set)(ASN1_TIME *, const char *), const char *s, int64_t *out)
{
	ASN1_TIME *t = ASN1_TIME_new();
	int ret;

	cr_assert_eq(set(t, s), 1, "cannot set %s", s);
	ret = ks_asn1_time_to_unix(t, out);
	ASN1_TIME_free(t);
	return ret;
}

static int set_x509(ASN1_TIME *t, const char *s)
{
	return ASN1_TIME_set_string_X509(t, s);
}

Test(cert_store, asn1_time_to_unix)
{
	ASN1_GENERALIZEDTIME *bad = ASN1_GENERALIZEDTIME_new();
	int64_t u = 0;

	cr_assert_eq(time_of(ASN1_TIME_set_string, "20260101000000Z", &u), 0);
	cr_assert_eq(u, 1767225600);
	cr_assert_eq(time_of(ASN1_TIME_set_string, "700101000000Z", &u), 0); /* UTCTime */
	cr_assert_eq(u, 0);
	/* UTCTime years 50-99 are 19YY (RFC 5280 §4.1.2.5.1); -1 is a valid answer here. */
	cr_assert_eq(time_of(ASN1_TIME_set_string, "691231235959Z", &u), 0);
	cr_assert_eq(u, -1);
	cr_assert_eq(time_of(set_x509, "20500101000000Z", &u), 0);
	cr_assert_eq(u, 2524608000);

	cr_assert_eq(ks_asn1_time_to_unix(NULL, &u), -EBADMSG);
	cr_assert_eq(ASN1_STRING_set(bad, "2026-01-01", 10), 1);
	cr_assert_eq(ks_asn1_time_to_unix(bad, &u), -EBADMSG);
	cr_assert_eq(ASN1_STRING_set(bad, "20261301000000Z", 15), 1); /* month 13 */
	cr_assert_eq(ks_asn1_time_to_unix(bad, &u), -EBADMSG);
	ASN1_GENERALIZEDTIME_free(bad);
}

/*
 * An impostor: the intermediate's name, no key identifiers, but a different key. Names and
 * AKID alone would accept it; only the signature check tells it did not sign the leaf.
 */
static void write_impostor(const char *path)
{
	X509 *inter = ks_test_x509("pki/ca/intermediate/ca.crt"), *x = X509_new();
	X509 *leaf = ks_test_x509("pki/leaf/ecdsa/cert.pem");
	EVP_PKEY *k = EVP_EC_gen("P-256");
	FILE *f;

	cr_assert(inter && x && k && leaf);
	cr_assert_eq(X509_set_version(x, X509_VERSION_3), 1);
	cr_assert_eq(ASN1_INTEGER_set(X509_get_serialNumber(x), 77), 1);
	cr_assert_eq(X509_set_subject_name(x, X509_get_subject_name(inter)), 1);
	cr_assert_eq(X509_set_issuer_name(x, X509_get_subject_name(inter)), 1);
	cr_assert_not_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	cr_assert_not_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	cr_assert_eq(X509_set_pubkey(x, k), 1);
	cr_assert_gt(X509_sign(x, k, EVP_sha256()), 0);
	cr_assert_eq(X509_check_issued(x, leaf), X509_V_OK,
		     "the impostor must pass the name/AKID checks for this test to mean anything");
	f = fopen(path, "w");
	cr_assert_not_null(f);
	cr_assert_eq(PEM_write_X509(f, x), 1);
	fclose(f);
	EVP_PKEY_free(k);
	X509_free(x);
	X509_free(inter);
	X509_free(leaf);
}

Test(cert_store, issuer_with_right_name_but_wrong_key_is_rejected)
{
	struct leaf l;
	struct ks_cert_spec spec = spec_for("ecdsa", &l);
	char dir[256], path[300];

	cr_assert_eq(ks_test_tmpdir(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/issuer.pem", dir);
	write_impostor(path);
	spec.issuer_path = path;
	expect_fail(&spec, time(NULL), -ENOKEY);
	ks_test_rmdir(dir);
}

/*
 * Private keys: the fast decoder (the leaf's key type, first PEM block) and the general reader
 * it falls back to must accept and refuse exactly the same files.
 */
static void write_key_file(const char *path, EVP_PKEY *k, bool traditional, const char *pass,
			   X509 *cert_first)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	BIO *b = f ? BIO_new_fp(f, BIO_CLOSE) : NULL;
	const EVP_CIPHER *enc = pass ? EVP_aes_256_cbc() : NULL;
	int len = pass ? (int)strlen(pass) : 0;

	cr_assert_not_null(b);
	if (cert_first)
		cr_assert_eq(PEM_write_bio_X509(b, cert_first), 1);
	if (traditional)
		cr_assert_eq(PEM_write_bio_PrivateKey_traditional(b, k, enc, (unsigned char *)pass,
								  len, NULL, NULL),
			     1);
	else
		cr_assert_eq(
			PEM_write_bio_PrivateKey(b, k, enc, (unsigned char *)pass, len, NULL, NULL),
			1);
	BIO_free(b);
}

static EVP_PKEY *fixture_key(const char *name)
{
	FILE *f = fopen(ks_test_fixturef("pki/leaf/%s/key.pem", name), "r");
	EVP_PKEY *k;

	cr_assert_not_null(f);
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	cr_assert_not_null(k);
	return k;
}

static void key_case(const char *leaf, EVP_PKEY *k, bool traditional, const char *pass,
		     bool cert_first, int want)
{
	struct leaf l;
	struct ks_cert_spec spec = spec_for(leaf, &l);
	char dir[256], path[300], rel[128];
	struct ks_cert *c = NULL;
	X509 *cert = NULL;
	int ret;

	if (cert_first) {
		snprintf(rel, sizeof(rel), "pki/leaf/%s/cert.pem", leaf);
		cert = ks_test_x509(rel);
		cr_assert_not_null(cert, "%s", rel);
	}
	cr_assert_eq(ks_test_tmpdir(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/key.pem", dir);
	write_key_file(path, k, traditional, pass, cert);
	spec.key_path = path;
	ret = ks_cert_load(&spec, time(NULL), &c);
	cr_assert_eq(ret, want, "%s key (traditional %d, encrypted %d, cert first %d): %d, log: %s",
		     leaf, traditional, !!pass, cert_first, ret, ks_test_logged());
	if (ret == 0) {
		cr_assert_eq(EVP_PKEY_eq(c->key, k), 1, "the key loaded is the key written");
		ks_cert_free(c);
	}
	X509_free(cert);
	ks_test_rmdir(dir);
}

Test(cert_store, key_encodings_load_the_same_key)
{
	static const char *const leaves[] = { "ecdsa", "rsa" };

	for (size_t i = 0; i < KS_ARRAY_SIZE(leaves); i++) {
		EVP_PKEY *k = fixture_key(leaves[i]);

		key_case(leaves[i], k, false, NULL, false, 0); /* PKCS#8 "PRIVATE KEY" */
		key_case(leaves[i], k, true, NULL, false, 0);  /* "EC/RSA PRIVATE KEY" */
		/* Not the fast path (first block is a certificate): the general reader. */
		key_case(leaves[i], k, false, NULL, true, 0);
		EVP_PKEY_free(k);
	}
}

Test(cert_store, encrypted_key_is_refused)
{
	EVP_PKEY *k = fixture_key("ecdsa");

	key_case("ecdsa", k, false, "secret", false, -EBADMSG);
	key_case("ecdsa", k, true, "secret", false, -EBADMSG);
	cr_assert(strstr(ks_test_logged(), "no usable private key"), "%s", ks_test_logged());
	EVP_PKEY_free(k);
}

Test(cert_store, key_of_the_same_type_but_another_certificate_is_rejected)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	/* Decodes as the leaf's key type (the fast path), then fails the match. */
	cr_assert_not_null(k);
	key_case("ecdsa", k, false, NULL, false, -EKEYREJECTED);
	key_case("ecdsa", k, true, NULL, true, -EKEYREJECTED);
	cr_assert(strstr(ks_test_logged(), "does not match"), "%s", ks_test_logged());
	EVP_PKEY_free(k);
}

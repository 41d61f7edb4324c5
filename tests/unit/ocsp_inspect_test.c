// SPDX-License-Identifier: MIT
/*
 * ocsp_inspect: text and JSON dumps of the generated fixtures. The JSON is checked by Python's
 * json module (a real parser), with assertions on its structure and values; the expected
 * values (serial, signer) are read from the certificates with OpenSSL, not hard-coded.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>

#include "helpers/fixtures.h"
#include "kstaple/ocsp_verify.h"

static void need_fixtures(void)
{
	if (!ks_test_fixtures_dir())
		cr_skip_test("KS_FIXTURES is not set (make fixtures; see scripts/mkfixtures.sh)");
}

static void read_fixture(const char *name, uint8_t **der, size_t *len)
{
	need_fixtures();
	cr_assert_eq(ks_test_read_file(ks_test_fixturef("ocsp/%s", name), der, len), 0, "%s", name);
}

/* Run ks_ocsp_inspect into a malloc'd string; returns its result. */
static int inspect(const uint8_t *der, size_t len, bool json, char **text)
{
	size_t n = 0;
	FILE *f = open_memstream(text, &n);
	int ret;

	cr_assert_not_null(f);
	ret = ks_ocsp_inspect(der, len, json, f);
	cr_assert_eq(fclose(f), 0);
	return ret;
}

static char *inspect_fixture(const char *name, bool json)
{
	uint8_t *der;
	size_t len;
	char *text;

	read_fixture(name, &der, &len);
	cr_assert_eq(inspect(der, len, json, &text), 0, "%s", name);
	free(der);
	return text;
}

/* The leaf's serial in upper-case hex, as OpenSSL's BN prints it. */
static char *leaf_serial(const char *leaf)
{
	char rel[128];
	X509 *x;
	BIGNUM *bn;
	char *hex, *copy;

	snprintf(rel, sizeof(rel), "pki/leaf/%s/cert.pem", leaf);
	x = ks_test_x509(rel);
	cr_assert_not_null(x);
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	hex = BN_bn2hex(bn);
	copy = strdup(hex);
	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(x);
	/* BN drops a leading zero octet, our dump keeps whole octets: callers use endswith. */
	return copy;
}

/*
 * Parse json with Python and evaluate `check` (a Python expression over `d`) on it.
 * Returns Python's exit status: 0 when it parsed and the expression held.
 */
static int python_check(const char *json, const char *check)
{
	char path[] = "/tmp/ks-inspect-XXXXXX", cmd[1024];
	int fd = mkstemp(path), st;
	size_t n = strlen(json);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, json, n), (ssize_t)n);
	close(fd);
	snprintf(cmd, sizeof(cmd),
		 "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
		 "sys.exit(0 if (%s) else 3)' %s 2>/dev/null",
		 check, path);
	st = system(cmd);
	unlink(path);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void need_python(void)
{
	if (system("python3 -c 'import json' >/dev/null 2>&1") != 0)
		cr_skip_test("python3 is not installed");
}

Test(ocsp_inspect, text_good_shows_serial_and_status)
{
	char *t = inspect_fixture("good.der", false), *serial = leaf_serial("ecdsa");

	cr_assert(strstr(t, "OCSP Response Status: successful (0)"), "%s", t);
	cr_assert(strstr(t, serial), "serial %s missing:\n%s", serial, t);
	cr_assert(strstr(t, "Cert Status:       good"), "%s", t);
	cr_assert(strstr(t, "Hash Algorithm:    sha1"), "%s", t);
	cr_assert(strstr(t, "Next Update:"), "%s", t);
	cr_assert_null(strstr(t, "Revocation"), "%s", t);
	free(serial);
	free(t);
}

Test(ocsp_inspect, text_revoked_shows_time_and_reason)
{
	char *t = inspect_fixture("revoked.der", false), *serial = leaf_serial("revoked");

	cr_assert(strstr(t, serial), "%s", t);
	cr_assert(strstr(t, "Cert Status:       revoked"), "%s", t);
	cr_assert(strstr(t, "Revocation Time:"), "%s", t);
	cr_assert(strstr(t, "Revocation Reason: keyCompromise (1)"), "%s", t);
	free(serial);
	free(t);
}

Test(ocsp_inspect, text_not_successful_is_just_the_status)
{
	char *t = inspect_fixture("trylater.der", false);

	cr_assert_str_eq(t, "OCSP Response Status: tryLater (3)\n");
	free(t);
	t = inspect_fixture("trylater.der", true);
	cr_assert_str_eq(t, "{\"response_status\":\"tryLater\"}\n");
	free(t);
}

Test(ocsp_inspect, not_basic_shows_its_type)
{
	char *t = inspect_fixture("notbasic.der", false);

	cr_assert(strstr(t, "Response Type: 1.3.6.1.5.5.7.48.1.99"), "%s", t);
	cr_assert_null(strstr(t, "Cert Status"), "%s", t);
	free(t);
}

Test(ocsp_inspect, json_good_parses_with_expected_fields)
{
	char *j = inspect_fixture("good.der", true), *serial = leaf_serial("ecdsa"), check[768];

	need_python();
	cr_assert_eq(j[0], '{');
	cr_assert_eq(j[strlen(j) - 1], '\n');
	snprintf(check, sizeof(check),
		 "d[\"response_status\"] == \"successful\" and len(d[\"responses\"]) == 1 and "
		 "d[\"responses\"][0][\"status\"] == \"good\" and "
		 "d[\"responses\"][0][\"certid\"][\"serial\"].endswith(\"%s\") and "
		 "d[\"responses\"][0][\"certid\"][\"hash_alg\"] == \"sha1\" and "
		 "len(d[\"responses\"][0][\"certid\"][\"issuer_key_hash\"]) == 40 and "
		 "d[\"responses\"][0][\"revocation_time\"] is None and "
		 "d[\"responses\"][0][\"next_update\"].endswith(\"Z\") and "
		 "d[\"produced_at\"][10] == \"T\" and d[\"certs\"] == 1 and "
		 "\"intermediate\" in d[\"signer_subject\"].lower() and "
		 "d[\"responder_id\"] == d[\"signer_subject\"]",
		 serial);
	cr_assert_eq(python_check(j, check), 0, "%s", j);
	/* And the checker can fail. */
	cr_assert_neq(python_check(j, "d[\"certs\"] == 2"), 0);
	cr_assert_neq(python_check("{\"a\":", "True"), 0);
	free(serial);
	free(j);
}

Test(ocsp_inspect, json_revoked_delegate_nocerts_two_nonext)
{
	char *j;

	need_python();
	j = inspect_fixture("revoked.der", true);
	cr_assert_eq(python_check(j, "d[\"responses\"][0][\"revocation_reason\"] == "
				     "\"keyCompromise\" and d[\"responses\"][0][\"revocation_"
				     "time\"].endswith(\"Z\")"),
		     0, "%s", j);
	free(j);
	j = inspect_fixture("delegate.der", true);
	cr_assert_eq(python_check(j, "\"delegate\" in d[\"signer_subject\"] and d[\"certs\"] == 1"),
		     0, "%s", j);
	free(j);
	j = inspect_fixture("good-nocerts.der", true);
	cr_assert_eq(python_check(j, "d[\"signer_subject\"] is None and d[\"certs\"] == 0"), 0,
		     "%s", j);
	free(j);
	j = inspect_fixture("good-bykey.der", true);
	cr_assert_eq(python_check(j, "d[\"responder_id\"].startswith(\"key:\") and "
				     "len(d[\"responder_id\"]) == 44"),
		     0, "%s", j);
	free(j);
	j = inspect_fixture("two.der", true);
	cr_assert_eq(python_check(j, "len(d[\"responses\"]) == 2"), 0, "%s", j);
	free(j);
	j = inspect_fixture("nonext.der", true);
	cr_assert_eq(python_check(j, "d[\"responses\"][0][\"next_update\"] is None"), 0, "%s", j);
	free(j);
}

Test(ocsp_inspect, every_fixture_dumps_valid_json_or_ebadmsg)
{
	char line[512], file[128], leaf[64], verdict[64];
	FILE *tsv;

	need_fixtures();
	need_python();
	tsv = fopen(ks_test_fixture("ocsp/expected.tsv"), "r");
	cr_assert_not_null(tsv);
	while (fgets(line, sizeof(line), tsv)) {
		uint8_t *der;
		size_t len;
		char *j = NULL;
		int ret;

		cr_assert_eq(sscanf(line, "%127s %63s %63s", file, leaf, verdict), 3);
		read_fixture(file, &der, &len);
		ret = inspect(der, len, true, &j);
		if (strcmp(verdict, "malformed") == 0) {
			cr_expect_eq(ret, -EBADMSG, "%s", file);
			cr_expect_str_empty(j, "%s wrote output", file);
		} else {
			cr_expect_eq(ret, 0, "%s", file);
			cr_expect_eq(python_check(j, "\"response_status\" in d"), 0, "%s: %s", file,
				     j);
		}
		free(j);
		free(der);
	}
	fclose(tsv);
}

Test(ocsp_inspect, every_truncation_is_ebadmsg)
{
	uint8_t *der;
	size_t len;

	read_fixture("good.der", &der, &len);
	for (size_t n = 0; n < len; n++) {
		uint8_t *b = malloc(n ? n : 1);
		char *t = NULL;

		cr_assert_not_null(b);
		memcpy(b, der, n);
		cr_assert_eq(inspect(b, n, n & 1, &t), -EBADMSG, "length %zu", n);
		free(t);
		free(b);
	}
	free(der);
}

Test(ocsp_inspect, write_errors_are_reported)
{
	uint8_t *der;
	size_t len;
	FILE *full;

	read_fixture("good.der", &der, &len);
	full = fopen("/dev/full", "w");
	if (!full)
		cr_skip_test("no /dev/full");
	setvbuf(full, NULL, _IONBF, 0);
	cr_assert_eq(ks_ocsp_inspect(der, len, false, full), -EIO);
	fclose(full);
	free(der);
}

Test(ocsp_inspect, crl_reason_names)
{
	cr_assert_str_eq(ks_crl_reason_str(0), "unspecified");
	cr_assert_str_eq(ks_crl_reason_str(1), "keyCompromise");
	cr_assert_str_eq(ks_crl_reason_str(2), "cACompromise");
	cr_assert_str_eq(ks_crl_reason_str(6), "certificateHold");
	cr_assert_str_eq(ks_crl_reason_str(7), "unspecified");
	cr_assert_str_eq(ks_crl_reason_str(8), "removeFromCRL");
	cr_assert_str_eq(ks_crl_reason_str(10), "aACompromise");
	cr_assert_str_eq(ks_crl_reason_str(11), "unspecified");
	cr_assert_str_eq(ks_crl_reason_str(-1), "unspecified");
}

/* A hostile responder name: quotes, backslashes, control and non-ASCII bytes in the JSON. */
Test(ocsp_inspect, json_escapes_hostile_names)
{
	static const char cn[] = "a\"b\\c\n\x01d\xc3\xa9";
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	OCSP_RESPONSE *resp;
	uint8_t *der = NULL;
	char *j = NULL;
	int len;

	need_python();
	cr_assert(key && x && n && bs);
	cr_assert(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
					     -1, 0));
	cr_assert(X509_set_subject_name(x, n) && X509_set_issuer_name(x, n));
	cr_assert(X509_set_pubkey(x, key));
	cr_assert(ASN1_TIME_set(X509_getm_notBefore(x), 0) &&
		  ASN1_TIME_set(X509_getm_notAfter(x), 0));
	cr_assert(X509_sign(x, key, EVP_sha256()));
	cr_assert(OCSP_basic_sign(bs, x, key, EVP_sha256(), NULL, 0));
	resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
	len = i2d_OCSP_RESPONSE(resp, &der);
	cr_assert_gt(len, 0);
	cr_assert_eq(inspect(der, (size_t)len, true, &j), 0);
	cr_assert_eq(python_check(j, "d[\"signer_subject\"] == d[\"responder_id\"] and "
				     "\"CN=\" in d[\"signer_subject\"] and d[\"responses\"] == []"),
		     0, "%s", j);
	for (const char *c = j; *c; c++)
		cr_assert(*c == '\n' || (*c >= 0x20 && *c < 0x7f), "raw byte 0x%02x in JSON", *c);
	free(j);
	OPENSSL_free(der);
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	X509_NAME_free(n);
	X509_free(x);
	EVP_PKEY_free(key);
}

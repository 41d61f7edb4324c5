// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: ks_cert_der_parse, the DER walker that reads fixture and configured leaf
 * certificates for `kstaple fetch` without OpenSSL's X509 (cert_der.h).
 * Seed corpus: tests/fuzz/corpus/cert_der/ plus today's fixture leaves (seed_cert_der in
 * tests/fuzz/run.sh).
 *
 * Besides crashes and sanitizer reports, OpenSSL's d2i_X509 is the oracle: the walker is stricter
 * (and reads less: Names and keys are not looked into), so when both accept an input, every
 * field the walker returns must be OpenSSL's: serial, issuer and subject Name bytes, the
 * TBSCertificate and signature bytes, notBefore/notAfter, and the OCSP URLs. Every span must lie
 * inside the input. A disagreement aborts.
 *
 *   tests/fuzz/run.sh 60 cert_der
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "kstaple/cert_der.h"
#include "kstaple/cert_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "cert_der: %s differs from OpenSSL\n", what);
		abort();
	}
}

static void span_inside(const struct ks_der_span *s, const uint8_t *data, size_t size)
{
	if (s->p && (s->p < data || s->len > size || s->p > data + size - s->len)) {
		fprintf(stderr, "cert_der: span outside the input\n");
		abort();
	}
}

static bool same_name(const X509_NAME *n, const struct ks_der_span *s)
{
	const unsigned char *p;
	size_t len;

	return X509_NAME_get0_der(n, &p, &len) == 1 && len == s->len && !memcmp(p, s->p, len);
}

static void compare_urls(X509 *x, const struct ks_cert_der *d)
{
	STACK_OF(OPENSSL_STRING) *urls = X509_get1_ocsp(x);

	/* NULL: OpenSSL found none or refused the extension (it reads GeneralNames we skip). */
	if (urls) {
		check((size_t)sk_OPENSSL_STRING_num(urls) == d->n_ocsp_urls, "OCSP URL count");
		for (size_t i = 0; i < d->n_ocsp_urls; i++) {
			const char *u = sk_OPENSSL_STRING_value(urls, (int)i);

			check(strlen(u) == d->ocsp_urls[i].len &&
				      !memcmp(u, d->ocsp_urls[i].p, d->ocsp_urls[i].len),
			      "OCSP URL");
		}
	}
	X509_email_free(urls);
}

static void compare(X509 *x, const struct ks_cert_der *d)
{
	const ASN1_BIT_STRING *sig;
	const unsigned char *p;
	ASN1_INTEGER *serial;
	int64_t t;

	p = d->serial.p;
	serial = d2i_ASN1_INTEGER(NULL, &p, (long)d->serial.len);
	check(serial && ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(x)) == 0, "serial");
	ASN1_INTEGER_free(serial);
	check(same_name(X509_get_issuer_name(x), &d->issuer), "issuer");
	check(same_name(X509_get_subject_name(x), &d->subject), "subject");
	X509_get0_signature(&sig, NULL, x);
	check(sig && (size_t)ASN1_STRING_length(sig) == d->sig.len &&
		      !memcmp(ASN1_STRING_get0_data(sig), d->sig.p, d->sig.len),
	      "signature");
	if (ks_asn1_time_to_unix(X509_get0_notBefore(x), &t) == 0)
		check(t == d->not_before, "notBefore");
	if (ks_asn1_time_to_unix(X509_get0_notAfter(x), &t) == 0)
		check(t == d->not_after, "notAfter");
	compare_urls(x, d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ks_cert_der d;
	const unsigned char *p = data;
	X509 *x;
	int r;

	r = ks_cert_der_parse(data, size, &d);
	if (r != 0 && r != -EBADMSG)
		abort(); /* the only documented failure is malformed input */
	if (r != 0)
		return 0;
	span_inside(&d.tbs, data, size);
	span_inside(&d.serial, data, size);
	span_inside(&d.sig_alg, data, size);
	span_inside(&d.issuer, data, size);
	span_inside(&d.subject, data, size);
	span_inside(&d.spki_alg, data, size);
	span_inside(&d.sig, data, size);
	span_inside(&d.akid_keyid, data, size);
	span_inside(&d.tlsfeature, data, size);
	for (size_t i = 0; i < d.n_ocsp_urls; i++)
		span_inside(&d.ocsp_urls[i], data, size);
	(void)ks_der_sig_alg(d.sig_alg.p, d.sig_alg.len);
	(void)ks_der_spki_is_ec(d.spki_alg.p, d.spki_alg.len);
	x = size <= 1 << 20 ? d2i_X509(NULL, &p, (long)size) : NULL;
	if (x && p == data + size)
		compare(x, &d);
	X509_free(x);
	ERR_clear_error();
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: ks_cert_parse_tlsfeature, the parser of the TLS Feature (must-staple)
 * extension's value (RFC 7633 §4: Features ::= SEQUENCE OF INTEGER) read from certificates.
 * Seed corpus: tests/fuzz/corpus/tlsfeature/ (written by seed_tlsfeature in tests/fuzz/run.sh).
 *
 * Besides crashes and sanitizer reports, OpenSSL's own decoder of the extension is the oracle:
 * our parser is strict DER, OpenSSL's is more lenient (BER lengths, trailing bytes), so every
 * input we accept must be accepted by OpenSSL too, with the same answer to "is
 * status_request (5) listed?". A disagreement aborts.
 *
 *   tests/fuzz/run.sh 60 tlsfeature
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "kstaple/cert_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* OpenSSL's reading: -1 when it refuses the value, else whether 5 is among the integers. */
static int openssl_status_request(const uint8_t *data, size_t size)
{
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;
	STACK_OF(ASN1_INTEGER) *feats = NULL;
	int found = -1;

	if (!os || size > INT_MAX || !ASN1_OCTET_STRING_set(os, data, (int)size))
		goto out;
	ext = X509_EXTENSION_create_by_NID(NULL, NID_tlsfeature, 0, os);
	if (!ext)
		goto out;
	feats = X509V3_EXT_d2i(ext);
	if (!feats)
		goto out;
	found = 0;
	for (int i = 0; i < sk_ASN1_INTEGER_num(feats); i++)
		if (ASN1_INTEGER_get(sk_ASN1_INTEGER_value(feats, i)) == 5)
			found = 1;
out:
	sk_ASN1_INTEGER_pop_free(feats, ASN1_INTEGER_free);
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	ERR_clear_error();
	return found;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool status_request = false;
	int r, theirs;

	r = ks_cert_parse_tlsfeature(data, size, &status_request);
	if (r != 0 && r != -EBADMSG)
		abort(); /* the only documented failure is malformed input */
	if (r != 0)
		return 0;
	theirs = openssl_status_request(data, size);
	if (theirs < 0) {
		fprintf(stderr, "tlsfeature: accepted %zu bytes that OpenSSL refuses\n", size);
		abort();
	}
	if (theirs != (int)status_request) {
		fprintf(stderr, "tlsfeature: status_request %d, OpenSSL says %d\n",
			(int)status_request, theirs);
		abort();
	}
	return 0;
}

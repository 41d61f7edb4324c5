// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the OCSP validator and the inspect dump: both parse untrusted bytes.
 *
 * Trust anchors are fixed for the whole run: the ecdsa leaf and the intermediate of the
 * generated fixtures (scripts/mkfixtures.sh), from $KS_FIXTURES or the directory compiled in
 * with -DKS_FUZZ_FIXTURES="\"DIR\"" (tests/fuzz/run.sh does both). Each input is verified twice:
 * at a fixed "now", and again at its own thisUpdate so that the signature, CertID and status
 * paths are reached whatever the age of the seed. Besides crashes and leaks, the target checks
 * the validator's promises: a verdict is always set with a sentence, and a stapleable verdict
 * really lies inside its time window.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>

#include "kstaple/ocsp_verify.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static X509 *leaf, *issuer;
static int64_t fixed_now;
static FILE *sink;

static X509 *load(const char *dir, const char *rel)
{
	char path[4096];
	X509 *x = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "r");
	if (f) {
		x = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (!x) {
		fprintf(stderr, "ocsp_verify_fuzz: cannot load %s (set KS_FIXTURES)\n", path);
		exit(1);
	}
	return x;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("KS_FIXTURES"), *now = getenv("KS_FUZZ_NOW");

	(void)argc;
	(void)argv;
#ifdef KS_FUZZ_FIXTURES
	if (!dir || !dir[0])
		dir = KS_FUZZ_FIXTURES;
#endif
	if (!dir || !dir[0]) {
		fprintf(stderr, "ocsp_verify_fuzz: set KS_FIXTURES to a mkfixtures.sh directory\n");
		exit(1);
	}
	leaf = load(dir, "pki/leaf/ecdsa/cert.pem");
	issuer = load(dir, "pki/ca/intermediate/ca.crt");
	/* The harness may read the clock; the code under test never does. */
	fixed_now = now ? strtoll(now, NULL, 10) : (int64_t)time(NULL);
	sink = fopen("/dev/null", "w");
	if (!sink)
		exit(1);
	return 0;
}

static void verify_at(const uint8_t *data, size_t size, int64_t now, struct ks_ocsp_result *r)
{
	struct ks_verify_params p = {
		.leaf = leaf, .issuer = issuer, .now = now, .skew = KS_OCSP_DEFAULT_SKEW
	};

	if (ks_ocsp_verify(data, size, &p, r) != 0)
		abort(); /* only local failures may fail, and there are none here but ENOMEM */
	if ((unsigned)r->verdict >= KS_V__COUNT || !r->detail[0] ||
	    !memchr(r->detail, '\0', sizeof(r->detail)))
		abort();
	if (ks_verdict_stapleable(r->verdict) &&
	    (!r->next_update || r->this_update > now + KS_OCSP_DEFAULT_SKEW ||
	     now - KS_OCSP_DEFAULT_SKEW > r->next_update))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ks_ocsp_result r;

	verify_at(data, size, fixed_now, &r);
	if (r.this_update)
		verify_at(data, size, r.this_update, &r);
	if (ks_ocsp_inspect(data, size, size & 1, sink) < 0)
		clearerr(sink);
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the userspace ClientHello classifier (the reference the BPF program is
 * checked against by tests/tools/hello_fuzz.c). Besides crashes, it checks the classifier's
 * promises on every input:
 *   - at most two verdicts (a hello and its retry), and hellos = status_request + no_status;
 *   - a status_request is counted only if the handshake bytes hold extension 5 starting with
 *     status_type ocsp (an independent scan);
 *   - a prefix of a connection never counts more hellos than the whole of it, and without a
 *     FIN it never counts a short hello.
 */
#include <stdlib.h>
#include <string.h>

#include "kstaple/hello_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Handshake record payloads concatenated, past one ChangeCipherSpec (the scan's input). */
static size_t handshake_bytes(const uint8_t *b, size_t n, uint8_t *out)
{
	size_t pos = 0, len = 0, k;

	while (pos + 5 <= n) {
		k = KS_MIN((size_t)b[pos + 3] << 8 | b[pos + 4], n - pos - 5);
		if (b[pos] == 22) {
			memcpy(out + len, b + pos + 5, k);
			len += k;
		} else if (b[pos] != 20) {
			break;
		}
		pos += 5 + k;
	}
	return len;
}

static int has_status_request(const uint8_t *b, size_t n)
{
	uint8_t *hs = malloc(n + 1);
	size_t len, i;
	int found = 0;

	if (!hs)
		abort();
	len = handshake_bytes(b, n, hs);
	for (i = 0; i + 5 <= len && !found; i++)
		found = hs[i] == 0 && hs[i + 1] == 5 && ((size_t)hs[i + 2] << 8 | hs[i + 3]) >= 5 &&
			hs[i + 4] == 1;
	free(hs);
	return found;
}

static void check(const struct ks_hello_counters *c, int r)
{
	if (r < 0 || r > 2 || c->hellos != c->status_request + c->no_status_request ||
	    c->status_request_v2 > c->hellos || c->hrr_hellos > 1 || c->hrr_hellos > c->hellos)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ks_hello_counters fin = { 0 }, open = { 0 }, prefix = { 0 };
	int r;

	r = ks_hello_classify(data, size, true, &fin);
	check(&fin, r);
	r = ks_hello_classify(data, size, false, &open);
	check(&open, r);
	if (open.unclassified_short || open.hellos != fin.hellos)
		abort();
	if (fin.status_request && !has_status_request(data, size))
		abort();
	if (size > 1) {
		r = ks_hello_classify(data, size / 2, false, &prefix);
		check(&prefix, r);
		if (prefix.hellos > fin.hellos)
			abort();
	}
	return 0;
}

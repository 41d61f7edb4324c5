// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the parser of kTLS control records (alerts, post-handshake messages,
 * KeyUpdate) on arbitrary bytes. Byte 0 picks the TLS version (even: 1.3, odd: 1.2), byte 1 is
 * the record content type, the rest is the record. Seed corpus: tests/fuzz/corpus/ktls_record/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kstaple/ktls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ks_ktls_ctl c;
	uint16_t version;
	uint8_t *rec;
	int ret;

	if (size < 2)
		return 0;
	version = data[0] & 1 ? TLS1_2_VERSION : TLS1_3_VERSION;
	/* An exact-size copy, so ASan sees any read past the record. */
	rec = malloc(size - 2 ? size - 2 : 1);
	if (!rec)
		return 0;
	memcpy(rec, data + 2, size - 2);
	ret = ks_ktls_parse_control(version, data[1], rec, size - 2, &c);
	/* Invariants: a failure always closes, a reason accompanies END and CLOSE, and a
	 * KeyUpdate is only reported for TLS 1.3 handshake records. */
	if (ret < 0 && c.action != KS_KTLS_CTL_CLOSE)
		abort();
	if (c.action != KS_KTLS_CTL_CONTINUE && (!c.reason || !c.reason[0]))
		abort();
	if (c.key_update && (version != TLS1_3_VERSION || data[1] != KS_TLS_CT_HANDSHAKE))
		abort();
	free(rec);
	return 0;
}

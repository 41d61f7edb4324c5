// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the JSON parser and the snapshot read back from it, as `kstaple stats`
 * does with what a control socket sent. The input is copied into a buffer of exactly its size.
 * An accepted snapshot must survive a round trip: written again as JSON, parsed again, both
 * give the same Prometheus text. Seeds: tests/fuzz/corpus/metrics_json/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kstaple/json.h"
#include "kstaple/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	struct ks_metrics_snapshot a, b;
	struct ks_metrics_arena *aa = NULL, *ab = NULL;
	struct ks_buf j = { 0 }, pa = { 0 }, pb = { 0 };
	struct ks_json *v = NULL;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (ks_json_parse(buf, size, &v) == 0 && !v)
		abort();
	ks_json_free(v);
	if (ks_metrics_from_json(buf, size, &a, &aa) == 0) {
		if (ks_metrics_json(&a, &j) < 0 || ks_metrics_from_json(j.p, j.len, &b, &ab) < 0)
			abort();
		if (ks_metrics_prometheus(&a, &pa) < 0 || ks_metrics_prometheus(&b, &pb) < 0 ||
		    pa.len != pb.len || memcmp(pa.p, pb.p, pa.len) != 0)
			abort();
	} else if (aa) {
		abort();
	}
	ks_metrics_snapshot_free(aa);
	ks_metrics_snapshot_free(ab);
	ks_buf_free(&j);
	ks_buf_free(&pa);
	ks_buf_free(&pb);
	free(buf);
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the /metrics request parser (ks_metrics_parse_request) and the response
 * built from its verdict. The input is copied into a buffer of exactly its size, so a read
 * past it is an ASan report. Checked: the result is one of the documented values, a complete
 * request's head lies inside the input and its path is an absolute path, and every response
 * is a status line with a Content-Length that matches the body. Seeds:
 * tests/fuzz/corpus/metrics_request/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kstaple/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_response(int r, const struct ks_metrics_req *req)
{
	struct ks_buf body = { 0 }, out = { 0 };
	const char *end;
	size_t clen;

	ks_buf_printf(&body, "kstaple_build_info{version=\"fuzz\"} 1\n");
	if (ks_metrics_http_response(r, req, &body, 0, &out) < 0)
		abort();
	if (strncmp(out.p, "HTTP/1.1 ", 9) != 0 || !(end = strstr(out.p, "\r\n\r\n")))
		abort();
	if (sscanf(strstr(out.p, "Content-Length: ") + 16, "%zu", &clen) != 1)
		abort();
	if (!(r == 1 && req->head) && out.len - (size_t)(end + 4 - out.p) != clen)
		abort();
	ks_buf_free(&body);
	ks_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	struct ks_metrics_req req;
	int r;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	r = ks_metrics_parse_request(buf, size, &req);
	switch (r) {
	case 1:
		if (req.head_len == 0 || req.head_len > size || req.head_len > KS_METRICS_REQ_MAX ||
		    req.path[0] != '/' || !memchr(req.path, '\0', sizeof(req.path)))
			abort();
		/* The head alone parses the same way. */
		if (ks_metrics_parse_request(buf, req.head_len, &(struct ks_metrics_req){ 0 }) != 1)
			abort();
		break;
	case 0:
		if (size >= KS_METRICS_REQ_MAX)
			abort(); /* a full buffer must get a verdict */
		free(buf);
		return 0;
	case -E2BIG:
	case -EBADMSG:
	case -EOPNOTSUPP:
	case -EPROTONOSUPPORT:
	case -ENAMETOOLONG:
		break;
	default:
		abort();
	}
	check_response(r, &req);
	free(buf);
	return 0;
}

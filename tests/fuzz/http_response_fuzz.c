// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the HTTP response handling around libcurl's output, i.e. what
 * user/http_fetch.c decides from what curl reports: ks_http_judge() (status, Content-Type,
 * announced and received length, the max_body cap, whether the transfer completed),
 * ks_http_judge_head() (the same before any body byte is stored) and ks_http_ocsp_ctype_ok().
 * Seed corpus: tests/fuzz/corpus/http_response/ (see the README there for the layout).
 *
 * Input layout (big-endian):
 *   [0..1]  HTTP status            [2]      flags: 1 complete, 2 over_limit,
 *   [3..6]  Content-Length                  4 Content-Length present, 8 no Content-Type
 *   [7..10] body bytes received    [11..14] max_body (0 means 1)
 *   [15]    length of the reason buffer (0: NULL)
 *   [16..]  the Content-Type header value (up to a NUL)
 *
 * Oracles, each a plain restatement of the rule written independently of the code: the class
 * of the result (status, then media type, then size, then completeness, then emptiness);
 * agreement of the three functions; and the reason text is NUL-terminated inside its buffer
 * and printable ASCII whatever the responder sent, because it ends up in log lines and JSON.
 *
 *   tests/fuzz/run.sh 60 http_response
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kstaple/http_fetch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR 16

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* RFC 9110 §8.3.1 media-type, compared case-insensitively; OWS around; parameters ignored. */
static bool media_type_is_ocsp(const char *s)
{
	static const char want[] = "application/ocsp-response";
	size_t i;

	if (!s)
		return false;
	s += strspn(s, " \t");
	for (i = 0; want[i]; i++)
		if (tolower((unsigned char)s[i]) != want[i])
			return false;
	s += i;
	s += strspn(s, " \t");
	return *s == '\0' || *s == ';';
}

static enum ks_http_err expected(const struct ks_http_response *r, int64_t max_body)
{
	if (r->status != 200)
		return KS_HTTP_ERR_STATUS;
	if (!media_type_is_ocsp(r->content_type))
		return KS_HTTP_ERR_CONTENT_TYPE;
	if (r->over_limit || (int64_t)r->body_len > max_body)
		return KS_HTTP_ERR_TOO_LARGE;
	if (!r->complete)
		return KS_HTTP_ERR_LOCAL;
	if (r->body_len == 0)
		return KS_HTTP_ERR_EMPTY;
	return KS_HTTP_OK;
}

static void check_why(const char *why, size_t len, const uint8_t *data, size_t size)
{
	size_t n = strnlen(why, len);

	if (n == len) {
		fprintf(stderr, "reason not NUL-terminated in %zu bytes\n", len);
		abort();
	}
	for (size_t i = 0; i < n; i++) {
		if (why[i] < 0x20 || why[i] > 0x7e) {
			fprintf(stderr, "byte 0x%02x at %zu of the reason '%s' (input %zu bytes)\n",
				(unsigned char)why[i], i, why, size);
			(void)data;
			abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ks_http_response r = { 0 };
	enum ks_http_err got, want, head;
	char ctype[512], why[320];
	size_t why_len, n;
	int64_t max_body;
	uint8_t flags;

	if (size < HDR)
		return 0;
	r.status = (long)((unsigned)data[0] << 8 | data[1]);
	flags = data[2];
	r.complete = flags & 1;
	r.over_limit = flags & 2;
	r.announced_len = flags & 4 ? (int64_t)be32(data + 3) : -1;
	r.body_len = be32(data + 7);
	max_body = be32(data + 11) ? be32(data + 11) : 1;
	why_len = data[15]; /* at most 255 < sizeof(why) */
	n = KS_MIN(size - HDR, sizeof(ctype) - 1);
	memcpy(ctype, data + HDR, n);
	ctype[n] = '\0';
	r.content_type = flags & 8 ? NULL : ctype;

	memset(why, 'X', sizeof(why));
	got = ks_http_judge(&r, max_body, why_len ? why : NULL, why_len);
	want = expected(&r, max_body);
	if (got != want || strcmp(ks_http_err_name(got), "?") == 0) {
		fprintf(stderr, "ks_http_judge: %s, want %s (status %ld, ctype '%s')\n",
			ks_http_err_name(got), ks_http_err_name(want), r.status, ctype);
		abort();
	}
	if (why_len)
		check_why(why, why_len, data, size);
	/* The full-size buffer too: nothing is cut off that could hide a bad byte. */
	got = ks_http_judge(&r, max_body, why, sizeof(why));
	check_why(why, sizeof(why), data, size);

	if (ks_http_ocsp_ctype_ok(r.content_type) != media_type_is_ocsp(r.content_type)) {
		fprintf(stderr, "ks_http_ocsp_ctype_ok('%s') disagrees\n", ctype);
		abort();
	}
	head = ks_http_judge_head(r.status, r.content_type);
	if (head != (r.status != 200			   ? KS_HTTP_ERR_STATUS
		     : !media_type_is_ocsp(r.content_type) ? KS_HTTP_ERR_CONTENT_TYPE
							   : KS_HTTP_OK)) {
		fprintf(stderr, "ks_http_judge_head: %s\n", ks_http_err_name(head));
		abort();
	}
	/* Whatever passes the head check passes the full one unless the body is the problem. */
	if (head != KS_HTTP_OK && got != head)
		abort();
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * http_fetch: the acceptance decision on its own (ks_http_judge, ks_http_judge_head), one case
 * per rule, and the reason text, which must stay printable whatever a responder sends (found
 * by the http_response fuzz target: a Content-Type with an escape sequence went to the log
 * verbatim).
 */
#include <string.h>

#include <criterion/criterion.h>

#include "kstaple/http_fetch.h"

#define OCSP_CT "application/ocsp-response"

static struct ks_http_response resp(long status, const char *ct, size_t len)
{
	return (struct ks_http_response){ .status = status,
					  .content_type = ct,
					  .body_len = len,
					  .announced_len = -1,
					  .complete = true };
}

static enum ks_http_err judge(struct ks_http_response r, char *why)
{
	return ks_http_judge(&r, 65536, why, 256);
}

Test(http_judge, one_rule_each)
{
	struct ks_http_response r;
	char why[256];

	cr_assert_eq(judge(resp(200, OCSP_CT, 1500), why), KS_HTTP_OK);
	cr_assert_str_eq(why, "ok");
	cr_assert_eq(judge(resp(200, "Application/OCSP-Response; charset=binary", 1), why),
		     KS_HTTP_OK);
	cr_assert_eq(judge(resp(500, OCSP_CT, 10), why), KS_HTTP_ERR_STATUS);
	cr_assert_str_eq(why, "HTTP status 500");
	cr_assert_eq(judge(resp(302, OCSP_CT, 0), why), KS_HTTP_ERR_STATUS);
	cr_assert_eq(judge(resp(200, "text/html", 100), why), KS_HTTP_ERR_CONTENT_TYPE);
	cr_assert_str_eq(why, "wrong content type 'text/html'");
	cr_assert_eq(judge(resp(200, NULL, 100), why), KS_HTTP_ERR_CONTENT_TYPE);
	cr_assert_eq(judge(resp(200, "", 100), why), KS_HTTP_ERR_CONTENT_TYPE);
	cr_assert_eq(judge(resp(200, OCSP_CT "x", 100), why), KS_HTTP_ERR_CONTENT_TYPE);
	cr_assert_eq(judge(resp(200, OCSP_CT, 0), why), KS_HTTP_ERR_EMPTY);
	cr_assert_eq(judge(resp(200, OCSP_CT, 65537), why), KS_HTTP_ERR_TOO_LARGE);
	cr_assert_eq(judge(resp(200, OCSP_CT, 65536), why), KS_HTTP_OK);
	r = resp(200, OCSP_CT, 65536);
	r.over_limit = true;
	r.announced_len = 10 << 20;
	cr_assert_eq(ks_http_judge(&r, 65536, why, sizeof(why)), KS_HTTP_ERR_TOO_LARGE);
	cr_assert_str_eq(why, "body over 65536 bytes (10485760 announced)");
	r = resp(200, OCSP_CT, 700);
	r.complete = false;
	cr_assert_eq(ks_http_judge(&r, 65536, why, sizeof(why)), KS_HTTP_ERR_LOCAL);
	/* The status decides first, whatever the rest says. */
	r = resp(404, "text/html", 0);
	r.over_limit = true;
	cr_assert_eq(ks_http_judge(&r, 65536, NULL, 0), KS_HTTP_ERR_STATUS);
}

Test(http_judge, head_agrees)
{
	cr_assert_eq(ks_http_judge_head(200, OCSP_CT), KS_HTTP_OK);
	cr_assert_eq(ks_http_judge_head(200, " " OCSP_CT " ;a=b"), KS_HTTP_OK);
	cr_assert_eq(ks_http_judge_head(503, OCSP_CT), KS_HTTP_ERR_STATUS);
	cr_assert_eq(ks_http_judge_head(200, NULL), KS_HTTP_ERR_CONTENT_TYPE);
	cr_assert_eq(ks_http_judge_head(200, "application/ocsp-request"), KS_HTTP_ERR_CONTENT_TYPE);
}

Test(http_judge, reason_is_printable_ascii)
{
	static const char *const evil[] = {
		"application/ocsp-response\x1b[2J",
		"text/html\r\nkstaple: error: [cert www] forged line",
		"application/\xc3\xa9t\xe9",
		"\x7f\x01\t",
	};
	char why[256];

	for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
		cr_assert_eq(judge(resp(200, evil[i], 100), why), KS_HTTP_ERR_CONTENT_TYPE);
		for (const char *p = why; *p; p++)
			cr_assert(*p >= 0x20 && *p <= 0x7e, "case %zu: byte 0x%02x in '%s'", i,
				  (unsigned char)*p, why);
		cr_assert(strncmp(why, "wrong content type '", 20) == 0, "%s", why);
	}
	/* A short buffer is cut, still terminated. */
	memset(why, 'X', sizeof(why));
	ks_http_judge(&(struct ks_http_response){ .status = 200, .content_type = evil[0] }, 1, why,
		      8);
	cr_assert_eq(strlen(why), 7);
}

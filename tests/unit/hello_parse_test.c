// SPDX-License-Identifier: MIT
/* The userspace ClientHello classifier (reference for bpf/hello.bpf.c). */
#include <criterion/criterion.h>

#include "helpers/hello_testlib.h"
#include "kstaple/hello_parse.h"

static struct tl_fixture fx[32];
static struct tl_buf s, hs, ex;

static struct ks_hello_counters classify(const uint8_t *b, size_t n, bool fin)
{
	struct ks_hello_counters c = { 0 };

	cr_assert_geq(ks_hello_classify(b, n, fin, &c), 0);
	return c;
}

static void assert_counts(const struct ks_hello_counters *got, const struct ks_hello_counters *want,
			  const char *what)
{
	char g[256], w[256];

	tl_counters_str(got, g, sizeof(g));
	tl_counters_str(want, w, sizeof(w));
	cr_assert_str_eq(g, w, "%s: got %s, want %s", what, g, w);
}

static void reset(void)
{
	s.len = hs.len = ex.len = 0;
}

Test(hello_parse, captured_hellos_exact)
{
	int n = tl_load_fixtures(fx, 32), i;

	cr_assert_geq(n, 8, "fixtures missing in %s (scripts/capture-hellos.sh)", tl_fixture_dir());
	for (i = 0; i < n; i++) {
		struct ks_hello_counters c = classify(fx[i].data, fx[i].len, true);

		assert_counts(&c, &fx[i].expect, fx[i].name);
	}
}

Test(hello_parse, every_truncation_is_short_or_pending)
{
	int n = tl_load_fixtures(fx, 32), i;
	size_t k;

	cr_assert_geq(n, 1);
	for (i = 0; i < n; i++) {
		if (fx[i].expect
			    .hrr_hellos) /* a cut in the second hello leaves the first counted */
			continue;
		for (k = 1; k < fx[i].len; k++) {
			struct ks_hello_counters fin = classify(fx[i].data, k, true);
			struct ks_hello_counters open = classify(fx[i].data, k, false);

			cr_assert_eq(fin.unclassified_short, 1, "%s cut at %zu", fx[i].name, k);
			cr_assert_eq(fin.hellos + fin.unclassified_malformed, 0, "%s/%zu",
				     fx[i].name, k);
			cr_assert_eq(open.hellos + open.unclassified_short, 0, "%s/%zu", fx[i].name,
				     k);
		}
	}
}

Test(hello_parse, fragmented_over_records_at_any_point)
{
	struct ks_hello_counters c;
	size_t i, j, k, n;

	reset();
	tl_ext_status_request(&ex);
	tl_hello(&hs, &ex, 2);
	n = hs.len;
	/* Three records, cut at every pair of points (fields straddle record boundaries). */
	for (i = 1; i < n; i++) {
		for (j = i + 1; j < n; j += 3) {
			s.len = 0;
			tl_records(&s, hs.b, i, i);
			tl_records(&s, hs.b + i, j - i, j - i);
			tl_records(&s, hs.b + j, n - j, n - j);
			c = classify(s.b, s.len, true);
			cr_assert_eq(c.status_request, 1, "cuts %zu %zu", i, j);
			cr_assert_eq(c.hellos, 1);
		}
	}
	/* KS_HELLO_MAX_RECORDS records are fine, one more is too long. */
	for (k = KS_HELLO_MAX_RECORDS; k <= KS_HELLO_MAX_RECORDS + 1; k++) {
		s.len = 0;
		for (i = 0; i + 1 < k; i++)
			tl_records(&s, hs.b + i, 1, 1);
		tl_records(&s, hs.b + k - 1, n - (k - 1), 16384);
		c = classify(s.b, s.len, true);
		if (k <= KS_HELLO_MAX_RECORDS)
			cr_assert_eq(c.status_request, 1, "%zu records", k);
		else
			cr_assert_eq(c.unclassified_too_long, 1, "%zu records", k);
	}
	s.len = 0;
	tl_records(&s, hs.b, n, 1); /* one byte per record: far too many */
	c = classify(s.b, s.len, true);
	cr_assert_eq(c.unclassified_too_long, 1);
	cr_assert_eq(c.hellos, 0);
}

Test(hello_parse, interleaved_record_type_is_malformed)
{
	struct ks_hello_counters c;

	reset();
	tl_ext_status_request(&ex);
	tl_hello(&hs, &ex, 0);
	tl_records(&s, hs.b, 20, 20);
	tl_put(&s, "\x15\x03\x03\x00\x02\x01\x00", 7); /* an alert between fragments */
	tl_records(&s, hs.b + 20, hs.len - 20, 16384);
	c = classify(s.b, s.len, true);
	cr_assert_eq(c.unclassified_malformed, 1);
	cr_assert_eq(c.status_request, 0);
}

Test(hello_parse, retried_hello_after_hrr)
{
	struct ks_hello_counters c;
	size_t one;

	reset();
	tl_stream(&s, true, false, 0);
	one = s.len;
	tl_ccs(&s);
	tl_stream(&s, false, true, 0);
	c = classify(s.b, s.len, true);
	cr_assert_eq(c.hellos, 2);
	cr_assert_eq(c.hrr_hellos, 1);
	cr_assert_eq(c.status_request, 1);
	cr_assert_eq(c.no_status_request, 1);
	cr_assert_eq(c.status_request_v2, 1);
	/* Without the (optional) ChangeCipherSpec too. */
	memmove(s.b + one, s.b + one + 6, s.len - one - 6);
	s.len -= 6;
	c = classify(s.b, s.len, true);
	cr_assert_eq(c.hrr_hellos, 1);
	/* Two ChangeCipherSpecs, or application data, are not a retried hello. */
	s.len = one;
	tl_ccs(&s);
	tl_ccs(&s);
	tl_stream(&s, true, false, 0);
	c = classify(s.b, s.len, true);
	cr_assert_eq(c.hellos, 1);
	cr_assert_eq(c.hrr_hellos, 0);
	s.len = one;
	tl_put(&s,
	       "\x17\x03\x03\x00\x04"
	       "abcd",
	       9);
	c = classify(s.b, s.len, true);
	cr_assert_eq(c.hellos, 1);
	cr_assert_eq(c.unclassified_malformed + c.unclassified_short, 0);
}

Test(hello_parse, non_tls_and_bad_records)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const uint8_t zero_len[] = { 22, 3, 1, 0, 0 };
	static const uint8_t huge[] = { 22, 3, 1, 0x40, 0x01, 1, 0, 0, 0 };
	static const uint8_t sslv2[] = { 0x80, 0x2e, 0x01, 0x00, 0x02 };
	static const uint8_t server_hello[] = { 22, 3, 3, 0, 4, 2, 0, 0, 0 };
	struct ks_hello_counters c;

	c = classify((const uint8_t *)http, strlen(http), true);
	cr_assert_eq(c.unclassified_non_tls, 1);
	c = classify(sslv2, sizeof(sslv2), true);
	cr_assert_eq(c.unclassified_non_tls, 1);
	c = classify(zero_len, sizeof(zero_len), true);
	cr_assert_eq(c.unclassified_malformed, 1);
	c = classify(huge, sizeof(huge), true);
	cr_assert_eq(c.unclassified_malformed, 1);
	c = classify(server_hello, sizeof(server_hello), true);
	cr_assert_eq(c.unclassified_malformed, 1);
	c = classify(zero_len, 3, true);
	cr_assert_eq(c.unclassified_short, 1);
	c = classify(NULL, 0, true);
	cr_assert_eq(c.hellos + c.unclassified_short, 0);
	cr_assert_eq(ks_hello_classify(NULL, 1, true, &c), -EINVAL);
}

/* Build a hello whose extensions block is ex, classify it, return the counters. */
static struct ks_hello_counters with_exts(void)
{
	hs.len = s.len = 0;
	tl_hello(&hs, &ex, 1);
	tl_records(&s, hs.b, hs.len, 16384);
	return classify(s.b, s.len, true);
}

Test(hello_parse, lying_lengths_never_count_status_request)
{
	static const uint8_t bad_exts_len[] = { 1, 0, 9, 0, 0 };  /* exts length past the end */
	static const uint8_t bad_rids_len[] = { 1, 0, 40, 0, 0 }; /* responder ids past the end */
	static const uint8_t short_body[] = { 1, 0, 0 };
	static const uint8_t other_type[] = { 2, 0, 0, 0, 0 };
	struct ks_hello_counters c;
	size_t at;

	reset();
	tl_ext(&ex, 5, bad_exts_len, sizeof(bad_exts_len));
	c = with_exts();
	cr_assert_eq(c.unclassified_malformed, 1);
	cr_assert_eq(c.status_request, 0);
	ex.len = 0;
	tl_ext(&ex, 5, bad_rids_len, sizeof(bad_rids_len));
	c = with_exts();
	cr_assert_eq(c.status_request, 0);
	cr_assert_eq(c.unclassified_malformed, 1);
	ex.len = 0;
	tl_ext(&ex, 5, short_body, sizeof(short_body));
	c = with_exts();
	cr_assert_eq(c.status_request + c.hellos, 0);
	ex.len = 0;
	tl_ext(&ex, 5, NULL, 0); /* empty status_request */
	c = with_exts();
	cr_assert_eq(c.unclassified_malformed, 1);
	ex.len = 0;
	tl_ext(&ex, 5, other_type, sizeof(other_type)); /* unknown status type: not OCSP */
	c = with_exts();
	cr_assert_eq(c.no_status_request, 1);
	ex.len = 0;
	tl_ext_status_request(&ex);
	tl_ext_status_request(&ex); /* duplicate */
	c = with_exts();
	cr_assert_eq(c.unclassified_malformed, 1);
	ex.len = 0;
	tl_ext(&ex, 17, "\x00\x00", 2); /* empty status_request_v2 list */
	c = with_exts();
	cr_assert_eq(c.unclassified_malformed, 1);

	/* An extension length running past the hello: malformed even with a status_request. */
	ex.len = 0;
	tl_ext_status_request(&ex);
	tl_ext(&ex, 43, "\x02\x03\x04", 3);
	hs.len = s.len = 0;
	tl_hello(&hs, &ex, 1);
	at = hs.len - 7 + 2; /* length of the last extension */
	hs.b[at] = 0x00;
	hs.b[at + 1] = 0x09;
	tl_records(&s, hs.b, hs.len, 16384);
	c = classify(s.b, s.len, true);
	cr_assert_eq(c.unclassified_malformed, 1);
	cr_assert_eq(c.status_request, 0);
}

Test(hello_parse, field_limits)
{
	struct ks_hello_counters c;
	unsigned int i;

	reset();
	for (i = 0; i < KS_HELLO_MAX_EXTS; i++)
		tl_ext(&ex, 0x1000 + i, NULL, 0);
	c = with_exts();
	cr_assert_eq(c.no_status_request, 1);
	tl_ext_status_request(&ex);
	c = with_exts();
	cr_assert_eq(c.unclassified_too_long, 1);
	cr_assert_eq(c.status_request, 0);

	/* A session id longer than 32 bytes. */
	ex.len = 0;
	tl_ext_status_request(&ex);
	hs.len = s.len = 0;
	tl_hello(&hs, &ex, 1);
	hs.b[4 + 2 + 32] = 33;
	tl_records(&s, hs.b, hs.len, 16384);
	c = classify(s.b, s.len, true);
	cr_assert_eq(c.unclassified_malformed, 1);

	/* A ClientHello length beyond KS_HELLO_MAX_LEN. */
	hs.b[4 + 2 + 32] = 32;
	hs.b[1] = 0x01;
	s.len = 0;
	tl_records(&s, hs.b, hs.len, 16384);
	c = classify(s.b, s.len, true);
	cr_assert_eq(c.unclassified_too_long, 1);

	/* No extensions at all (TLS 1.2 and earlier): a hello without status_request. */
	hs.len = s.len = 0;
	tl_hello(&hs, NULL, 1);
	tl_records(&s, hs.b, hs.len, 16384);
	c = classify(s.b, s.len, true);
	cr_assert_eq(c.no_status_request, 1);
	/* ... but a truncated extensions length is malformed. */
	hs.b[3] += 1;
	tl_put(&hs, "\x00", 1);
	s.len = 0;
	tl_records(&s, hs.b, hs.len, 16384);
	c = classify(s.b, s.len, true);
	cr_assert_eq(c.unclassified_malformed, 1);
}

Test(hello_parse, counters_add)
{
	struct ks_hello_counters a = { .hellos = 1, .status_request = 1 }, b = a;

	b.unclassified_too_long = 3;
	ks_hello_counters_add(&a, &b);
	cr_assert_eq(a.hellos, 2);
	cr_assert_eq(a.status_request, 2);
	cr_assert_eq(a.unclassified_too_long, 3);
}

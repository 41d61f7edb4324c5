// SPDX-License-Identifier: MIT
/*
 * bpf/hello.bpf.c run with bpf_prog_test_run_opts over crafted packets and captured hellos.
 * Every count is checked exactly, and against the userspace twin (user/hello_parse.c).
 * Skips (with the reason) where BPF programs cannot be loaded: not root, no BPF, no BTF.
 */
#include <criterion/criterion.h>
#include <linux/pkt_cls.h>
#include <unistd.h>

#include "helpers/hello_testlib.h"
#include "hello.skel.h"
#include "kstaple/hello_parse.h"

static struct hello_bpf *skel;
static int prog, counters;
static struct tl_fixture fx[32];
static struct tl_buf s, hs, ex;

static int quiet(enum libbpf_print_level l, const char *f, va_list ap)
{
	(void)l, (void)f, (void)ap;
	return 0;
}

/* Load the program with ports 443 and 8443 watched, or skip the test with the reason. */
static void load(void)
{
	uint16_t p443 = 443, p8443 = 8443;
	int err;

	libbpf_set_print(quiet);
	if (geteuid() != 0)
		cr_skip_test("BPF tests need root (CAP_BPF + CAP_NET_ADMIN)");
	skel = hello_bpf__open_and_load();
	if (!skel) {
		err = errno;
		cr_skip_test("cannot load bpf/hello.bpf.o on this kernel: %s", strerror(err));
	}
	prog = bpf_program__fd(skel->progs.ks_hello);
	counters = bpf_map__fd(skel->maps.ks_counters);
	cr_assert_eq(tl_watch(bpf_map__fd(skel->maps.ks_ports),
			      bpf_map__fd(skel->maps.ks_port_bits), p443),
		     0);
	cr_assert_eq(tl_watch(bpf_map__fd(skel->maps.ks_ports),
			      bpf_map__fd(skel->maps.ks_port_bits), p8443),
		     0);
}

static void unload(void)
{
	hello_bpf__destroy(skel);
	skel = NULL;
}

TestSuite(hello_bpf, .init = load, .fini = unload);

static struct ks_hello_counters now(uint16_t port)
{
	struct ks_hello_counters c;

	cr_assert_eq(tl_counters(counters, port, &c), 0);
	return c;
}

static struct ks_hello_counters diff(struct ks_hello_counters a, struct ks_hello_counters b)
{
	a.hellos -= b.hellos;
	a.status_request -= b.status_request;
	a.no_status_request -= b.no_status_request;
	a.status_request_v2 -= b.status_request_v2;
	a.hrr_hellos -= b.hrr_hellos;
	a.unclassified_malformed -= b.unclassified_malformed;
	a.unclassified_short -= b.unclassified_short;
	a.unclassified_non_tls -= b.unclassified_non_tls;
	a.unclassified_too_long -= b.unclassified_too_long;
	return a;
}

static uint16_t next_sport = 20000;

/* Counts of one connection carrying stream cut at cuts, on port 443. */
static struct ks_hello_counters conn(bool v6, const uint8_t *b, size_t n, const size_t *cuts,
				     size_t ncuts, bool fin)
{
	struct tl_flow f = { .v6 = v6, .sport = next_sport++, .dport = 443, .isn = 0xfffff000u };
	struct ks_hello_counters before = now(443);

	cr_assert_eq(tl_connection(prog, &f, b, n, cuts, ncuts, fin), 0);
	return diff(now(443), before);
}

static void assert_same(const struct ks_hello_counters *got, const struct ks_hello_counters *want,
			const char *what, size_t at)
{
	char g[256], w[256];

	tl_counters_str(got, g, sizeof(g));
	tl_counters_str(want, w, sizeof(w));
	cr_assert_str_eq(g, w, "%s (cut %zu): BPF %s, expected %s", what, at, g, w);
}

Test(hello_bpf, verifier_accepts_and_never_drops)
{
	static const uint8_t junk[] = { 22, 3, 1, 1, 0, 1, 0, 0 }; /* 3 of 4 header bytes */
	struct tl_flow f = { .sport = 1, .dport = 443, .isn = 7 };
	uint8_t pkt[64] = { 0 };

	/* Loading is the verifier test; now a few odd packets: all TC_ACT_OK. */
	cr_assert_eq(tl_run(prog, pkt, 14), TC_ACT_OK);
	cr_assert_eq(tl_run(prog, pkt, sizeof(pkt)), TC_ACT_OK);
	cr_assert_eq(tl_send(prog, &f, 7, TL_SYN, NULL, 0), TC_ACT_OK);
	cr_assert_eq(tl_send(prog, &f, 8, TL_ACK, junk, sizeof(junk)), TC_ACT_OK);
	cr_assert_eq(now(443).hellos + now(443).unclassified_short, 0);
	cr_assert_eq(tl_send(prog, &f, 16, TL_RST, NULL, 0), TC_ACT_OK);
	cr_assert_eq(now(443).unclassified_short, 1);
}

Test(hello_bpf, captured_hellos_ipv4_ipv6_one_segment)
{
	int n = tl_load_fixtures(fx, 32), i, v6;

	cr_assert_geq(n, 8, "fixtures missing in %s (scripts/capture-hellos.sh)", tl_fixture_dir());
	for (i = 0; i < n; i++) {
		for (v6 = 0; v6 < 2; v6++) {
			struct ks_hello_counters c = conn(v6, fx[i].data, fx[i].len, NULL, 0, true);

			assert_same(&c, &fx[i].expect, fx[i].name, 0);
		}
	}
}

/* Every fixture cut into two TCP segments at every byte, and into 1448-byte segments. */
Test(hello_bpf, captured_hellos_split_across_segments)
{
	int n = tl_load_fixtures(fx, 32), i;
	size_t k, cuts[8], nc;

	cr_assert_geq(n, 1);
	for (i = 0; i < n; i++) {
		for (k = 1; k < fx[i].len; k += (fx[i].len > 600 ? 7 : 1)) {
			struct ks_hello_counters c =
				conn(k & 1, fx[i].data, fx[i].len, &k, 1, true);

			assert_same(&c, &fx[i].expect, fx[i].name, k);
		}
		for (nc = 0; nc < 8 && (nc + 1) * 1448 < fx[i].len; nc++)
			cuts[nc] = (nc + 1) * 1448;
		struct ks_hello_counters c = conn(false, fx[i].data, fx[i].len, cuts, nc, true);

		assert_same(&c, &fx[i].expect, fx[i].name, 1448);
	}
}

/* Chromium's ~1.9 KB hello: status_request sits past byte 1448, in the second segment. */
Test(hello_bpf, chromium_status_request_in_second_segment)
{
	int n = tl_load_fixtures(fx, 32), i;
	size_t cut = 1448;

	for (i = 0; i < n && strcmp(fx[i].name, "chromium") != 0; i++)
		;
	if (i == n)
		cr_skip_test("no chromium fixture (chromium not installed when captured)");
	cr_assert_gt(fx[i].len, 1448);
	struct ks_hello_counters c = conn(true, fx[i].data, fx[i].len, &cut, 1, false);

	cr_assert_eq(c.status_request, 1);
	cr_assert_eq(c.hellos, 1);
	/* Only the first segment: nothing is counted yet, and a FIN then makes it short. */
	struct tl_flow f = { .sport = 9, .dport = 443, .isn = 100 };

	cr_assert_eq(tl_connection(prog, &f, fx[i].data, cut, NULL, 0, false), 0);
	cr_assert_eq(now(443).hellos, 1);
	cr_assert_eq(tl_send(prog, &f, 101 + (uint32_t)cut, TL_FIN | TL_ACK, NULL, 0), 0);
	cr_assert_eq(now(443).unclassified_short, 1);
}

Test(hello_bpf, multi_record_and_hrr_match_twin)
{
	struct ks_hello_counters c, want;
	size_t i, j, one;

	tl_ext_status_request(&ex);
	tl_hello(&hs, &ex, 3);
	for (i = 1; i < hs.len; i += 2) { /* two records cut at i, two segments cut at j */
		s.len = 0;
		tl_records(&s, hs.b, i, i);
		tl_records(&s, hs.b + i, hs.len - i, 16384);
		j = (i * 7) % s.len;
		c = conn(i & 2, s.b, s.len, &j, j ? 1 : 0, true);
		memset(&want, 0, sizeof(want));
		cr_assert_eq(ks_hello_classify(s.b, s.len, true, &want), 1);
		assert_same(&c, &want, "two records", i);
		cr_assert_eq(c.status_request, 1);
	}
	s.len = 0;
	tl_stream(&s, false, false, 0);
	one = s.len;
	tl_ccs(&s);
	tl_stream(&s, true, true, 0);
	for (j = 0; j < s.len; j += 5) {
		c = conn(j & 1, s.b, s.len, &j, j ? 1 : 0, true);
		cr_assert_eq(c.hellos, 2, "cut %zu", j);
		cr_assert_eq(c.hrr_hellos, 1);
		cr_assert_eq(c.status_request, 1);
		cr_assert_eq(c.no_status_request, 1);
		cr_assert_eq(c.status_request_v2, 1);
	}
	/* The retried hello split between segments right after the CCS. */
	j = one + 6;
	c = conn(false, s.b, s.len, &j, 1, false);
	cr_assert_eq(c.hrr_hellos, 1);
}

Test(hello_bpf, lying_lengths_and_garbage)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: example\r\n\r\n";
	struct ks_hello_counters c;
	size_t at;

	c = conn(false, (const uint8_t *)http, strlen(http), NULL, 0, true);
	cr_assert_eq(c.unclassified_non_tls, 1);
	cr_assert_eq(c.hellos, 0);

	/* status_request whose request_extensions length runs past the extension. */
	tl_ext(&ex, 5, "\x01\x00\x00\x00\x09", 5);
	tl_hello(&hs, &ex, 1);
	tl_records(&s, hs.b, hs.len, 16384);
	c = conn(true, s.b, s.len, NULL, 0, true);
	cr_assert_eq(c.unclassified_malformed, 1);
	cr_assert_eq(c.status_request, 0);

	/* Record length claiming more than the hello: the hello completes, nothing else. */
	s.len = hs.len = ex.len = 0;
	tl_ext_status_request(&ex);
	tl_hello(&hs, &ex, 1);
	tl_records(&s, hs.b, hs.len, 16384);
	s.b[3] = 0x3f;
	at = s.len;
	c = conn(false, s.b, s.len, &at, 0, false);
	cr_assert_eq(c.status_request, 1);
	cr_assert_eq(c.hellos, 1);
	/* ... and the same hello with a handshake length one byte too long is short at FIN. */
	s.b[3] = (uint8_t)((hs.len) >> 8);
	s.b[4] = (uint8_t)hs.len;
	s.b[5 + 3] += 1;
	c = conn(false, s.b, s.len, NULL, 0, true);
	cr_assert_eq(c.hellos + c.status_request, 0);
	cr_assert_eq(c.unclassified_malformed, 1); /* extensions block no longer ends the hello */
}

Test(hello_bpf, retransmit_reorder_and_unwatched_ports)
{
	struct tl_flow f = { .sport = 4242, .dport = 443, .isn = 1000 };
	struct ks_hello_counters c;
	size_t half;

	tl_stream(&s, true, false, 0);
	half = s.len / 2;
	cr_assert_eq(tl_send(prog, &f, 1000, TL_SYN, NULL, 0), 0);
	/* The second half first (out of order): ignored. */
	cr_assert_eq(tl_send(prog, &f, 1001 + (uint32_t)half, TL_ACK, s.b + half, s.len - half), 0);
	cr_assert_eq(tl_send(prog, &f, 1001, TL_ACK, s.b, half), 0);
	cr_assert_eq(tl_send(prog, &f, 1001, TL_ACK, s.b, half), 0); /* retransmission */
	cr_assert_eq(now(443).hellos, 0);
	cr_assert_eq(tl_send(prog, &f, 1001 + (uint32_t)half, TL_ACK, s.b + half, s.len - half), 0);
	/* The whole hello retransmitted from the start is not counted twice. */
	cr_assert_eq(tl_send(prog, &f, 1001, TL_ACK, s.b, s.len), 0);
	c = now(443);
	cr_assert_eq(c.hellos, 1);
	cr_assert_eq(c.status_request, 1);

	/* A connection whose SYN was not seen is not counted; nor is an unwatched port. */
	f.sport = 4343;
	cr_assert_eq(tl_send(prog, &f, 5001, TL_ACK, s.b, s.len), 0);
	f.dport = 444;
	cr_assert_eq(tl_connection(prog, &f, s.b, s.len, NULL, 0, true), 0);
	cr_assert_eq(now(443).hellos, 1);
	cr_assert_eq(now(444).hellos, 0);
	/* The other watched port has its own counters; TCP Fast Open data in the SYN counts. */
	f.dport = 8443;
	f.sport = 4444;
	cr_assert_eq(tl_send(prog, &f, 77, TL_SYN, s.b, s.len), 0);
	cr_assert_eq(now(8443).status_request, 1);
	cr_assert_eq(now(443).hellos, 1);
}

Test(hello_bpf, limits_match_twin)
{
	struct ks_hello_counters c, want;
	unsigned int i;
	size_t cut;

	/* KS_HELLO_MAX_EXTS empty extensions + status_request: too long, not a status_request. */
	for (i = 0; i < KS_HELLO_MAX_EXTS; i++)
		tl_ext(&ex, 0x2000 + i, NULL, 0);
	tl_ext_status_request(&ex);
	tl_hello(&hs, &ex, 0);
	for (i = 0; i < KS_HELLO_MAX_RECORDS - 1; i++)
		tl_records(&s, hs.b + i, 1, 1);
	tl_records(&s, hs.b + i, hs.len - i, 16384);
	cut = s.len / 3;
	c = conn(false, s.b, s.len, &cut, 1, true);
	memset(&want, 0, sizeof(want));
	cr_assert_eq(ks_hello_classify(s.b, s.len, true, &want), 1);
	assert_same(&c, &want, "limits", cut);
	cr_assert_eq(c.unclassified_too_long, 1);

	/*
	 * The most work one packet can hold: two hellos at every limit (KS_HELLO_MAX_EXTS
	 * extensions, status_request last, KS_HELLO_MAX_RECORDS records) and a CCS between them,
	 * in one segment. The per-packet loop budget must not run out before the twin's verdict.
	 */
	ex.len = hs.len = s.len = 0;
	for (i = 0; i < KS_HELLO_MAX_EXTS - 1; i++)
		tl_ext(&ex, 0x2000 + i, NULL, 0);
	tl_ext_status_request(&ex);
	tl_hello(&hs, &ex, 0);
	for (i = 0; i < KS_HELLO_MAX_RECORDS - 1; i++)
		tl_records(&s, hs.b + i, 1, 1);
	tl_records(&s, hs.b + i, hs.len - i, 16384);
	cut = s.len;
	tl_ccs(&s);
	tl_put(&s, s.b, cut);
	cr_assert_lt(s.len, TL_MAX_SEGMENT);
	c = conn(true, s.b, s.len, NULL, 0, true);
	memset(&want, 0, sizeof(want));
	cr_assert_eq(ks_hello_classify(s.b, s.len, true, &want), 2);
	assert_same(&c, &want, "two hellos at the limits", 0);
	cr_assert_eq(c.status_request, 2);
	cr_assert_eq(c.hrr_hellos, 1);
}

// SPDX-License-Identifier: MIT
/*
 * Differential fuzzer for bpf/hello.bpf.c: random and mutated ClientHello streams, cut into
 * random TCP segments over IPv4 or IPv6, are run through the program with
 * bpf_prog_test_run_opts. For every connection it checks that
 *   - every packet gets TC_ACT_OK and no run fails;
 *   - the BPF counters moved exactly as the userspace twin (user/hello_parse.c) says;
 *   - a status_request is never counted unless the stream's handshake bytes contain an
 *     extension of type 5 whose body starts with status_type ocsp (an independent check).
 *
 * usage: hello_fuzz [--seconds N] [--seed S]      (fixtures: $KS_HELLO_FIXTURES)
 * Exit 0 on success, 1 on a disagreement (the stream is dumped in hex), 77 when BPF cannot
 * be loaded here.
 */
#include <getopt.h>
#include <linux/pkt_cls.h>
#include <time.h>
#include <unistd.h>

#include "../unit/helpers/hello_testlib.h"
#include "hello.skel.h"
#include "kstaple/hello_parse.h"

static struct tl_fixture fx[32];
static int nfx;
static uint64_t rng_state;

static uint32_t rnd(void)
{
	/* xorshift64*: reproducible from --seed */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 32);
}

static uint32_t below(uint32_t n)
{
	return n ? rnd() % n : 0;
}

/* Handshake bytes of the records at the start of b (type 22 only), for re-fragmenting. */
static size_t derecord(const uint8_t *b, size_t n, uint8_t *out, size_t cap)
{
	size_t pos = 0, len = 0, k;

	while (pos + 5 <= n && b[pos] == 22) {
		k = (size_t)b[pos + 3] << 8 | b[pos + 4];
		k = KS_MIN(k, n - pos - 5); /* a record cut short still counts up to the cut */
		if (len + k > cap)
			break;
		memcpy(out + len, b + pos + 5, k);
		len += k;
		pos += 5 + k;
	}
	return len;
}

static const uint16_t interesting[] = { 0,    1,    2,	   4,	   5,	   17,	   32,	  33,
					0x7f, 0xff, 0x100, 0x3fff, 0x4000, 0x4001, 0xffff };

static void mutate(struct tl_buf *s)
{
	static uint8_t hs[70000];
	size_t n, k, frag, at;
	uint32_t m = below(8), i;

	switch (m) {
	case 0: /* flip a few bytes */
		for (i = below(4) + 1; i && s->len; i--)
			s->b[below((uint32_t)s->len)] ^= (uint8_t)(1u << below(8));
		break;
	case 1: /* an interesting 16-bit value somewhere (most fields are lengths) */
		if (s->len > 2) {
			at = below((uint32_t)s->len - 1);
			k = interesting[below(KS_ARRAY_SIZE(interesting))];
			s->b[at] = (uint8_t)(k >> 8);
			s->b[at + 1] = (uint8_t)k;
		}
		break;
	case 2: /* truncate */
		s->len = below((uint32_t)s->len + 1);
		break;
	case 3: /* re-fragment into records of random sizes */
		n = derecord(s->b, s->len, hs, sizeof(hs));
		if (!n)
			break;
		s->len = 0;
		for (at = 0; at < n; at += k) {
			frag = below(4) ? below(64) + 1 : below(2000) + 1;
			k = KS_MIN(frag, n - at);
			tl_records(s, hs + at, k, k);
		}
		break;
	case 4: /* a retried hello after a CCS (or not) */
		if (below(2))
			tl_ccs(s);
		tl_stream(s, below(2), below(2), below(300));
		break;
	case 5: /* random bytes inserted */
		if (s->len + 8 < sizeof(s->b)) {
			at = below((uint32_t)s->len + 1);
			k = below(8) + 1;
			memmove(s->b + at + k, s->b + at, s->len - at);
			for (i = 0; i < k; i++)
				s->b[at + i] = (uint8_t)rnd();
			s->len += k;
		}
		break;
	case 6: /* a bare status_request pattern planted anywhere */
		if (s->len > 9) {
			at = below((uint32_t)s->len - 9);
			memcpy(s->b + at, "\x00\x05\x00\x05\x01\x00\x00\x00\x00", 9);
		}
		break;
	default: /* pure garbage */
		s->len = below(600);
		for (i = 0; i < s->len; i++)
			s->b[i] = (uint8_t)rnd();
		if (s->len > 5 && below(2)) {
			s->b[0] = 22;
			s->b[1] = 3;
		}
		break;
	}
}

static void base(struct tl_buf *s)
{
	s->len = 0;
	if (nfx && below(2)) {
		struct tl_fixture *f = &fx[below((uint32_t)nfx)];

		tl_put(s, f->data, f->len);
	} else {
		tl_stream(s, below(2), below(2), below(4) ? below(200) : below(3000));
	}
}

/* Independent check: extension 5 with status_type 1 appears in the handshake bytes. */
static bool has_sr_pattern(const struct tl_buf *s)
{
	static uint8_t hs[70000];
	size_t n = derecord(s->b, s->len, hs, sizeof(hs)), i, pos;

	/* also look past one ChangeCipherSpec for a retried hello */
	for (pos = 0; pos + 6 <= s->len; pos++)
		if (s->b[pos] == 20 && s->b[pos + 3] == 0 && s->b[pos + 4] == 1 &&
		    s->b[pos + 5] == 1 && n + 1 < sizeof(hs)) {
			n += derecord(s->b + pos + 6, s->len - pos - 6, hs + n, sizeof(hs) - n);
			break;
		}
	for (i = 0; i + 5 <= n; i++)
		if (hs[i] == 0 && hs[i + 1] == 5 && hs[i + 4] == 1 &&
		    ((size_t)hs[i + 2] << 8 | hs[i + 3]) >= 5)
			return true;
	return false;
}

static void dump(const struct tl_buf *s, const size_t *cuts, size_t nc, bool fin, bool v6)
{
	size_t i;

	fprintf(stderr, "stream (%zu bytes, %s, fin=%d, cuts:", s->len, v6 ? "IPv6" : "IPv4", fin);
	for (i = 0; i < nc; i++)
		fprintf(stderr, " %zu", cuts[i]);
	fprintf(stderr, "):\n");
	for (i = 0; i < s->len; i++)
		fprintf(stderr, "%02x%s", s->b[i], (i % 32 == 31) ? "\n" : "");
	fprintf(stderr, "\n");
}

static int one(int prog, int counters, uint16_t sport)
{
	static struct tl_buf s;
	struct ks_hello_counters before, after, want = { 0 };
	struct tl_flow f = { .v6 = below(2), .sport = sport, .dport = 443, .isn = rnd() };
	size_t cuts[6], nc = below(6), i;
	bool fin = below(4) != 0;
	char g[256], w[256];
	uint32_t m;

	base(&s);
	for (m = below(3) + 1; m; m--)
		mutate(&s);
	for (i = 0; i < nc; i++)
		cuts[i] = below((uint32_t)s.len + 1);
	for (i = 1; i < nc; i++) /* insertion sort: cuts must increase */
		for (size_t j = i; j && cuts[j - 1] > cuts[j]; j--) {
			size_t t = cuts[j];

			cuts[j] = cuts[j - 1];
			cuts[j - 1] = t;
		}
	if (tl_counters(counters, 443, &before) < 0)
		return -1;
	if (tl_connection(prog, &f, s.b, s.len, cuts, nc, fin) < 0) {
		fprintf(stderr, "hello_fuzz: a packet was not TC_ACT_OK or the run failed\n");
		dump(&s, cuts, nc, fin, f.v6);
		return -1;
	}
	if (tl_counters(counters, 443, &after) < 0 || ks_hello_classify(s.b, s.len, fin, &want) < 0)
		return -1;
	after.hellos -= before.hellos;
	after.status_request -= before.status_request;
	after.no_status_request -= before.no_status_request;
	after.status_request_v2 -= before.status_request_v2;
	after.hrr_hellos -= before.hrr_hellos;
	after.unclassified_malformed -= before.unclassified_malformed;
	after.unclassified_short -= before.unclassified_short;
	after.unclassified_non_tls -= before.unclassified_non_tls;
	after.unclassified_too_long -= before.unclassified_too_long;
	tl_counters_str(&after, g, sizeof(g));
	tl_counters_str(&want, w, sizeof(w));
	if (strcmp(g, w) != 0) {
		fprintf(stderr, "hello_fuzz: BPF and twin disagree\n  BPF:  %s\n  twin: %s\n", g,
			w);
		dump(&s, cuts, nc, fin, f.v6);
		return -1;
	}
	if (after.status_request && !has_sr_pattern(&s)) {
		fprintf(stderr, "hello_fuzz: status_request counted without one in the stream\n");
		dump(&s, cuts, nc, fin, f.v6);
		return -1;
	}
	return after.status_request ? 1 : 0;
}

static int quiet(enum libbpf_print_level l, const char *fmt, va_list ap)
{
	(void)l, (void)fmt, (void)ap;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "seconds", required_argument, NULL, 's' },
					      { "seed", required_argument, NULL, 'r' },
					      { NULL, 0, NULL, 0 } };
	unsigned long long runs = 0, with_sr = 0;
	uint16_t port = 443, sport = 1024;
	double seconds = 10;
	struct hello_bpf *skel;
	time_t start;
	int opt, r;

	rng_state = (uint64_t)time(NULL) * 2654435761u + (uint64_t)getpid();
	while ((opt = getopt_long(argc, argv, "s:r:", opts, NULL)) != -1) {
		if (opt == 's')
			seconds = atof(optarg);
		else if (opt == 'r')
			rng_state = strtoull(optarg, NULL, 0);
		else
			return 64;
	}
	if (!rng_state)
		rng_state = 1;
	printf("hello_fuzz: seed %llu, %.0f s\n", (unsigned long long)rng_state, seconds);
	libbpf_set_print(quiet);
	skel = hello_bpf__open_and_load();
	if (!skel) {
		printf("hello_fuzz: skipped: cannot load the BPF program: %s\n", strerror(errno));
		return 77;
	}
	if (tl_watch(bpf_map__fd(skel->maps.ks_ports), bpf_map__fd(skel->maps.ks_port_bits), port) <
	    0)
		return 1;
	nfx = tl_load_fixtures(fx, 32);
	if (nfx < 0)
		nfx = 0;
	start = time(NULL);
	while (difftime(time(NULL), start) < seconds) {
		r = one(bpf_program__fd(skel->progs.ks_hello), bpf_map__fd(skel->maps.ks_counters),
			sport++);
		if (r < 0) {
			hello_bpf__destroy(skel);
			return 1;
		}
		with_sr += (unsigned long long)r;
		runs++;
		if (sport == 0)
			sport = 1024;
	}
	hello_bpf__destroy(skel);
	printf("hello_fuzz: %llu connections (%llu with a counted status_request, %d fixtures), "
	       "BPF and twin agree\n",
	       runs, with_sr, nfx);
	return 0;
}

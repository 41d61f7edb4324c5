// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../bench/hsbench.h"

static struct ks_bench_opts o;
static char err[256];

static void teardown(void)
{
	ks_bench_opts_free(&o);
}

TestSuite(hsbench_opts, .fini = teardown);

/* parse("--connect", "h:1", ..., NULL), with argv[0] supplied. */
static int parse(const char *first, ...)
{
	char *argv[64] = { "kstaple-bench" };
	int argc = 1;
	va_list ap;

	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *)) {
		cr_assert_lt(argc, 63);
		argv[argc++] = (char *)a;
	}
	va_end(ap);
	ks_bench_opts_free(&o); /* a previous parse in the same test */
	return ks_bench_parse_opts(&o, argc, argv, err, sizeof(err));
}

/* The parse fails and the message mentions `needle`. */
#define REFUSED(needle, ...)                                                               \
	do {                                                                               \
		cr_assert_eq(parse(__VA_ARGS__, NULL), -EINVAL, "accepted; expected '%s'", \
			     needle);                                                      \
		cr_assert(strstr(err, needle), "message '%s' lacks '%s'", err, needle);    \
	} while (0)

#define BASE "--connect", "127.0.0.1:4433"

Test(hsbench_opts, accepts_a_minimal_closed_loop)
{
	cr_assert_eq(parse(BASE, "--duration", "5", NULL), 0, "%s", err);
	cr_assert_eq(o.action, KS_BENCH_RUN);
	cr_assert_eq(o.mode, KS_BENCH_CLOSED);
	cr_assert_str_eq(o.host, "127.0.0.1");
	cr_assert_str_eq(o.port, "4433");
	cr_assert_eq(o.tls, 13);
	cr_assert_eq(o.connections, 8);
	cr_assert_float_eq(o.duration_s, 5.0, 1e-12);
	cr_assert_eq(o.count, 0);
	cr_assert_str_eq(err, "");
}

Test(hsbench_opts, rate_implies_open_loop)
{
	cr_assert_eq(parse(BASE, "-r", "250.5", "-N", "1000", "--warmup", "1", NULL), 0, "%s", err);
	cr_assert_eq(o.mode, KS_BENCH_OPEN);
	cr_assert_float_eq(o.rate, 250.5, 1e-12);
	cr_assert_eq(o.count, 1000);
	cr_assert_eq(o.connections, 64);
	cr_assert_eq(parse(BASE, "--mode", "open", "--rate", "10", "-d", "1", "-C", "3", NULL), 0);
	cr_assert_eq(o.connections, 3);
}

Test(hsbench_opts, accepts_every_option_together)
{
	char pid[16];

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	cr_assert_eq(parse("--connect", "[::1]:8443", "--sni", "example.test", "--tls", "1.2",
			   "--groups", "X25519:P-256", "--sigalgs", "ecdsa_secp256r1_sha256",
			   "--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256", "--count", "10",
			   "--resume", "--status", "--issuer", "/dev/null", "--csv", "/tmp/x.csv",
			   "--cdf", "/tmp/c.csv", "--first", "100", "--first-csv", "/tmp/f.csv",
			   "--label", "nginx run 2", "--server-pid", pid, "--timeout", "0.5",
			   "--wait", "3", "-q", NULL),
		     0, "%s", err);
	cr_assert_str_eq(o.host, "::1");
	cr_assert_str_eq(o.port, "8443");
	cr_assert_eq(o.tls, 12);
	cr_assert(o.resume && o.status && o.quiet);
	cr_assert_eq(o.first, 100);
	cr_assert_eq(o.npids, 1);
	cr_assert_eq(o.pids[0], getpid());
}

Test(hsbench_opts, refuses_nonsense_rates)
{
	REFUSED("--rate", BASE, "-d", "1", "--rate", "0");
	REFUSED("--rate", BASE, "-d", "1", "--rate", "-5");
	REFUSED("--rate", BASE, "-d", "1", "--rate", "fast");
	REFUSED("--rate", BASE, "-d", "1", "--rate", "nan");
	REFUSED("--rate", BASE, "-d", "1", "--rate", "inf");
	REFUSED("--rate", BASE, "-d", "1", "--rate", "1e400");
	REFUSED("--rate", BASE, "-d", "1", "--rate", "10/s");
}

Test(hsbench_opts, refuses_rate_in_closed_loop_and_open_loop_without_rate)
{
	REFUSED("closed loop", BASE, "-d", "1", "--mode", "closed", "--rate", "100");
	REFUSED("needs --rate", BASE, "-d", "1", "--mode", "open");
	REFUSED("--mode", BASE, "-d", "1", "--mode", "sideways");
}

Test(hsbench_opts, refuses_tls_versions_other_than_12_and_13)
{
	REFUSED("--tls", BASE, "-d", "1", "--tls", "1.1");
	REFUSED("--tls", BASE, "-d", "1", "--tls", "1.0");
	REFUSED("--tls", BASE, "-d", "1", "--tls", "13");
	REFUSED("--tls", BASE, "-d", "1", "--tls", "TLSv1.3");
	REFUSED("--tls", BASE, "-d", "1", "--tls", "");
}

Test(hsbench_opts, refuses_unknown_groups_sigalgs_and_ciphers)
{
	REFUSED("--groups", BASE, "-d", "1", "--groups", "X25520");
	REFUSED("--groups", BASE, "-d", "1", "--groups", "P-256:nosuchcurve");
	REFUSED("--sigalgs", BASE, "-d", "1", "--sigalgs", "ecdsa_with_magic");
	REFUSED("--ciphers", BASE, "-d", "1", "--ciphers", "TLS_AES_1024_GCM");
	REFUSED("--ciphers", BASE, "-d", "1", "--tls", "1.2", "--ciphers", "NOPE-CIPHER");
	/* A TLS 1.3 suite name is not a TLS 1.2 cipher: the check follows --tls. */
	REFUSED("--ciphers", BASE, "-d", "1", "--tls", "1.2", "--ciphers",
		"TLS_AES_128_GCM_SHA256");
	cr_assert_eq(parse(BASE, "-d", "1", "--groups", "P-256", "--sigalgs",
			   "rsa_pss_rsae_sha256:ecdsa_secp256r1_sha256", "--ciphers",
			   "TLS_AES_128_GCM_SHA256", NULL),
		     0, "%s", err);
}

Test(hsbench_opts, needs_exactly_one_of_duration_and_count)
{
	REFUSED("exactly one", BASE);
	REFUSED("exactly one", BASE, "--duration", "1", "--count", "10");
	REFUSED("--duration", BASE, "--duration", "0");
	REFUSED("--duration", BASE, "--duration", "-1");
	REFUSED("--count", BASE, "--count", "0");
	REFUSED("--count", BASE, "--count", "-1");
	REFUSED("--count", BASE, "--count", "1.5");
	REFUSED("--count", BASE, "--count", "99999999999999999999999");
	REFUSED("--warmup", BASE, "-d", "1", "--warmup", "-1");
}

Test(hsbench_opts, refuses_bad_targets)
{
	REFUSED("--connect HOST:PORT is required", "--duration", "1");
	REFUSED("--connect", "--connect", "localhost", "-d", "1");
	REFUSED("--connect", "--connect", ":443", "-d", "1");
	REFUSED("--connect", "--connect", "localhost:", "-d", "1");
	REFUSED("--connect", "--connect", "localhost:0", "-d", "1");
	REFUSED("--connect", "--connect", "localhost:65536", "-d", "1");
	REFUSED("--connect", "--connect", "localhost:https", "-d", "1");
	REFUSED("--connect", "--connect", "[::1]8443:", "-d", "1");
}

Test(hsbench_opts, refuses_bad_concurrency)
{
	REFUSED("--connections", BASE, "-d", "1", "--connections", "0");
	REFUSED("--connections", BASE, "-d", "1", "--connections", "-4");
	REFUSED("--connections", BASE, "-d", "1", "--connections", "100000");
	REFUSED("--timeout", BASE, "-d", "1", "--timeout", "0");
}

Test(hsbench_opts, refuses_conflicting_ocsp_options)
{
	REFUSED("drop --status", BASE, "-d", "1", "--client-ocsp", "--status");
	REFUSED("only used with --client-ocsp", BASE, "-d", "1", "--added-rtt", "20");
	REFUSED("only used with --client-ocsp", BASE, "-d", "1", "--ocsp-url",
		"http://127.0.0.1:8080/");
	REFUSED("https", BASE, "-d", "1", "--client-ocsp", "--ocsp-url", "https://ocsp.test/");
	REFUSED("--ocsp-url", BASE, "-d", "1", "--client-ocsp", "--ocsp-url", "ftp://x/");
	REFUSED("--added-rtt", BASE, "-d", "1", "--client-ocsp", "--added-rtt", "-3");
	REFUSED("add --status", BASE, "-d", "1", "--issuer", "/dev/null");
	REFUSED("cannot read", BASE, "-d", "1", "--status", "--issuer", "/nonexistent/ca.pem");
	cr_assert_eq(parse(BASE, "-d", "1", "--client-ocsp", "--ocsp-url", "http://127.0.0.1:8080/",
			   "--added-rtt", "25", NULL),
		     0, "%s", err);
	cr_assert_float_eq(o.added_rtt_ms, 25.0, 1e-12);
}

Test(hsbench_opts, refuses_inconsistent_outputs)
{
	REFUSED("--first-csv", BASE, "-d", "1", "--first", "100");
	REFUSED("needs --first", BASE, "-d", "1", "--first-csv", "/tmp/f.csv");
	REFUSED("--first", BASE, "-d", "1", "--first", "0", "--first-csv", "/tmp/f.csv");
	REFUSED("--label", BASE, "-d", "1", "--label", "a,b");
	REFUSED("--label", BASE, "-d", "1", "--label", "say \"hi\"");
	REFUSED("--server-pid", BASE, "-d", "1", "--server-pid", "0");
	REFUSED("--server-pid", BASE, "-d", "1", "--server-pid", "4194304");
	REFUSED("--server-pid", BASE, "-d", "1", "--server-pid", "1,,x");
}

Test(hsbench_opts, refuses_unknown_options_and_stray_arguments)
{
	REFUSED("unknown option '--frobnicate'", BASE, "-d", "1", "--frobnicate");
	REFUSED("unknown option -z", BASE, "-d", "1", "-z");
	REFUSED("unexpected argument 'extra'", BASE, "-d", "1", "extra");
	REFUSED("needs a value", BASE, "-d", "1", "--rate");
}

Test(hsbench_opts, help_and_version_stop_parsing)
{
	cr_assert_eq(parse("--help", "--rate", "-1", NULL), 0);
	cr_assert_eq(o.action, KS_BENCH_HELP);
	cr_assert_eq(parse("-V", NULL), 0);
	cr_assert_eq(o.action, KS_BENCH_VERSION);
}

Test(hsbench_opts, message_fits_a_small_buffer)
{
	char *argv[] = { "kstaple-bench", "--rate", "not-a-number-at-all", NULL };
	char small[12];

	memset(small, 'X', sizeof(small));
	cr_assert_eq(ks_bench_parse_opts(&o, 3, argv, small, sizeof(small)), -EINVAL);
	cr_assert_eq(strlen(small), sizeof(small) - 1, "truncated, NUL-terminated");
}

Test(hsbench_opts, help_documents_every_csv_field)
{
	char *buf = NULL, *hdr = strdup(ks_bench_csv_header), *save = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ks_bench_usage(f);
	fclose(f);
	for (char *t = strtok_r(hdr, ",", &save); t; t = strtok_r(NULL, ",", &save))
		cr_assert(strstr(buf, t), "--help does not mention CSV field '%s'", t);
	free(hdr);
	free(buf);
}

// SPDX-License-Identifier: MIT
/*
 * Command line of kstaple-bench. Everything is validated here, before any thread starts, so
 * that a benchmark never runs for minutes with a setting that makes its numbers meaningless;
 * each refusal is one line that names the option and says what would be accepted.
 */
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/ssl.h>

#include "hsbench.h"

enum {
	OPT_SNI = 256,
	OPT_TLS,
	OPT_GROUPS,
	OPT_SIGALGS,
	OPT_CIPHERS,
	OPT_CAFILE,
	OPT_MODE,
	OPT_TIMEOUT,
	OPT_WAIT,
	OPT_RESUME,
	OPT_ISSUER,
	OPT_CLIENT_OCSP,
	OPT_OCSP_URL,
	OPT_ADDED_RTT,
	OPT_CSV,
	OPT_CDF,
	OPT_FIRST,
	OPT_FIRST_CSV,
	OPT_LABEL,
	OPT_SERVER_PID,
};

static const struct option long_opts[] = {
	{ "connect", required_argument, NULL, 'c' },
	{ "sni", required_argument, NULL, OPT_SNI },
	{ "tls", required_argument, NULL, OPT_TLS },
	{ "groups", required_argument, NULL, OPT_GROUPS },
	{ "sigalgs", required_argument, NULL, OPT_SIGALGS },
	{ "ciphers", required_argument, NULL, OPT_CIPHERS },
	{ "cafile", required_argument, NULL, OPT_CAFILE },
	{ "connections", required_argument, NULL, 'C' },
	{ "rate", required_argument, NULL, 'r' },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "duration", required_argument, NULL, 'd' },
	{ "count", required_argument, NULL, 'N' },
	{ "warmup", required_argument, NULL, 'w' },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "wait", required_argument, NULL, OPT_WAIT },
	{ "resume", no_argument, NULL, OPT_RESUME },
	{ "status", no_argument, NULL, 's' },
	{ "issuer", required_argument, NULL, OPT_ISSUER },
	{ "client-ocsp", no_argument, NULL, OPT_CLIENT_OCSP },
	{ "ocsp-url", required_argument, NULL, OPT_OCSP_URL },
	{ "added-rtt", required_argument, NULL, OPT_ADDED_RTT },
	{ "csv", required_argument, NULL, OPT_CSV },
	{ "cdf", required_argument, NULL, OPT_CDF },
	{ "first", required_argument, NULL, OPT_FIRST },
	{ "first-csv", required_argument, NULL, OPT_FIRST_CSV },
	{ "label", required_argument, NULL, OPT_LABEL },
	{ "server-pid", required_argument, NULL, OPT_SERVER_PID },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

struct parse {
	struct ks_bench_opts *o;
	char *err;
	size_t errlen;
	int mode_set, conn_set;
};

static int KS_PRINTF(2, 3) fail(struct parse *ps, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ps->err, ps->errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A finite number in [lo, hi], the whole string consumed ("5x", "nan", "1e999" refused). */
static int num(struct parse *ps, const char *opt, const char *s, double lo, double hi, int lo_open,
	       double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
		return fail(ps, "%s: '%s' is not a number", opt, s);
	if ((lo_open ? v <= lo : v < lo) || v > hi)
		return fail(ps, "%s: %s is out of range: must be %s %g and <= %g", opt, s,
			    lo_open ? ">" : ">=", lo, hi);
	*out = v;
	return 0;
}

/* A whole number in [lo, hi]: "-1", "1.5" and "0x10" refused (strtoull would take "-1"). */
static int whole(struct parse *ps, const char *opt, const char *s, uint64_t lo, uint64_t hi,
		 uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return fail(ps, "%s: '%s' is not a whole number >= %llu", opt, s,
			    (unsigned long long)lo);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0' || errno == ERANGE)
		return fail(ps, "%s: '%s' is not a whole number", opt, s);
	if (v < lo || v > hi)
		return fail(ps, "%s: %s is out of range %llu..%llu", opt, s, (unsigned long long)lo,
			    (unsigned long long)hi);
	*out = v;
	return 0;
}

/* HOST:PORT or [IPv6]:PORT. */
static int parse_target(struct parse *ps, const char *s)
{
	const char *colon = strrchr(s, ':');
	const char *h = s, *hend = colon;
	uint64_t port;

	if (!colon || colon == s || colon[1] == '\0')
		return fail(ps, "--connect: '%s' is not HOST:PORT", s);
	if (s[0] == '[') {
		if (colon[-1] != ']' || colon - s < 3)
			return fail(ps, "--connect: '%s' is not [IPv6]:PORT", s);
		h = s + 1;
		hend = colon - 1;
	}
	TRY(whole(ps, "--connect", colon + 1, 1, 65535, &port));
	free((char *)ps->o->host);
	ps->o->host = strndup(h, (size_t)(hend - h));
	if (!ps->o->host)
		return fail(ps, "out of memory");
	snprintf(ps->o->port, sizeof(ps->o->port), "%u", (unsigned)port);
	return 0;
}

static int parse_pids(struct parse *ps, const char *s)
{
	char buf[256], *save = NULL, *tok;
	uint64_t pid;

	if (strlen(s) >= sizeof(buf))
		return fail(ps, "--server-pid: list too long");
	strcpy(buf, s); /* length checked just above */
	ps->o->npids = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char path[64];

		if (ps->o->npids == KS_BENCH_MAX_PIDS)
			return fail(ps, "--server-pid: at most %d processes", KS_BENCH_MAX_PIDS);
		TRY(whole(ps, "--server-pid", tok, 1, 4194304, &pid));
		snprintf(path, sizeof(path), "/proc/%llu/stat", (unsigned long long)pid);
		if (access(path, R_OK) != 0)
			return fail(ps, "--server-pid: no process %llu (%s unreadable)",
				    (unsigned long long)pid, path);
		ps->o->pids[ps->o->npids++] = (int)pid;
	}
	if (ps->o->npids == 0)
		return fail(ps, "--server-pid: expected PID[,PID...]");
	return 0;
}

static int readable(struct parse *ps, const char *opt, const char *path)
{
	if (access(path, R_OK) != 0)
		return fail(ps, "%s: cannot read '%s': %s", opt, path, strerror(errno));
	return 0;
}

static int parse_one(struct parse *ps, int c, const char *arg)
{
	struct ks_bench_opts *o = ps->o;
	uint64_t u;

	switch (c) {
	case 'c':
		return parse_target(ps, arg);
	case OPT_SNI:
		o->sni = arg;
		return 0;
	case OPT_TLS:
		if (strcmp(arg, "1.2") == 0)
			o->tls = 12;
		else if (strcmp(arg, "1.3") == 0)
			o->tls = 13;
		else
			return fail(ps, "--tls: '%s' is not supported: use 1.2 or 1.3", arg);
		return 0;
	case OPT_GROUPS:
		o->groups = arg;
		return 0;
	case OPT_SIGALGS:
		o->sigalgs = arg;
		return 0;
	case OPT_CIPHERS:
		o->ciphers = arg;
		return 0;
	case OPT_CAFILE:
		o->cafile = arg;
		return readable(ps, "--cafile", arg);
	case 'C':
		ps->conn_set = 1;
		TRY(whole(ps, "--connections", arg, 1, KS_BENCH_MAX_CONNECTIONS, &u));
		o->connections = (unsigned)u;
		return 0;
	case 'r':
		return num(ps, "--rate", arg, 0, 1e7, 1, &o->rate);
	case OPT_MODE:
		ps->mode_set = 1;
		if (strcmp(arg, "closed") == 0)
			o->mode = KS_BENCH_CLOSED;
		else if (strcmp(arg, "open") == 0)
			o->mode = KS_BENCH_OPEN;
		else
			return fail(ps, "--mode: '%s' is neither closed nor open", arg);
		return 0;
	case 'd':
		return num(ps, "--duration", arg, 0, 86400, 1, &o->duration_s);
	case 'N':
		return whole(ps, "--count", arg, 1, UINT64_C(1000000000000), &o->count);
	case 'w':
		return num(ps, "--warmup", arg, 0, 3600, 0, &o->warmup_s);
	case OPT_TIMEOUT:
		return num(ps, "--timeout", arg, 0, 3600, 1, &o->timeout_s);
	case OPT_WAIT:
		return num(ps, "--wait", arg, 0, 3600, 0, &o->wait_s);
	case OPT_RESUME:
		o->resume = 1;
		return 0;
	case 's':
		o->status = 1;
		return 0;
	case OPT_ISSUER:
		o->issuer = arg;
		return readable(ps, "--issuer", arg);
	case OPT_CLIENT_OCSP:
		o->client_ocsp = 1;
		return 0;
	case OPT_OCSP_URL:
		o->ocsp_url = arg;
		return 0;
	case OPT_ADDED_RTT:
		return num(ps, "--added-rtt", arg, 0, 60000, 0, &o->added_rtt_ms);
	case OPT_CSV:
		o->csv = arg;
		return 0;
	case OPT_CDF:
		o->cdf = arg;
		return 0;
	case OPT_FIRST:
		return whole(ps, "--first", arg, 1, KS_BENCH_MAX_FIRST, &o->first);
	case OPT_FIRST_CSV:
		o->first_csv = arg;
		return 0;
	case OPT_LABEL:
		/* Copied verbatim into a CSV field: keep it free of separators and quotes. */
		if (strpbrk(arg, ",\"\r\n"))
			return fail(ps, "--label: '%s' must not contain commas, quotes or newlines",
				    arg);
		o->label = arg;
		return 0;
	case OPT_SERVER_PID:
		return parse_pids(ps, arg);
	case 'q':
		o->quiet = 1;
		return 0;
	case 'h':
		o->action = KS_BENCH_HELP;
		return 0;
	case 'V':
		o->action = KS_BENCH_VERSION;
		return 0;
	}
	return fail(ps, "internal error: option %d not handled", c);
}

/*
 * Names of groups, signature algorithms and ciphers are checked by OpenSSL itself on a scratch
 * context, so that a typo fails here and not as a run of handshake errors.
 */
static int check_tls_names(struct parse *ps)
{
	const struct ks_bench_opts *o = ps->o;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int ret = 0;

	if (!ctx)
		return fail(ps, "OpenSSL could not create a context");
	if (o->groups && SSL_CTX_set1_groups_list(ctx, o->groups) != 1)
		ret = fail(ps,
			   "--groups: OpenSSL knows no group in '%s' (try X25519, P-256, P-384)",
			   o->groups);
	else if (o->sigalgs && SSL_CTX_set1_sigalgs_list(ctx, o->sigalgs) != 1)
		ret = fail(ps,
			   "--sigalgs: '%s' is not a signature algorithm list (try "
			   "ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256)",
			   o->sigalgs);
	else if (o->ciphers && o->tls == 13 && SSL_CTX_set_ciphersuites(ctx, o->ciphers) != 1)
		ret = fail(
			ps,
			"--ciphers: '%s' is not a TLS 1.3 suite list (try TLS_AES_128_GCM_SHA256)",
			o->ciphers);
	else if (o->ciphers && o->tls == 12 && SSL_CTX_set_cipher_list(ctx, o->ciphers) != 1)
		ret = fail(
			ps,
			"--ciphers: '%s' matches no TLS 1.2 cipher (try ECDHE-ECDSA-AES128-GCM-SHA256)",
			o->ciphers);
	/* set_ciphersuites accepts an empty result; a TLS 1.3 run with no suite cannot work. */
	else if (o->ciphers && o->tls == 13 && sk_SSL_CIPHER_num(SSL_CTX_get_ciphers(ctx)) <= 0)
		ret = fail(ps, "--ciphers: '%s' leaves no cipher", o->ciphers);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return ret;
}

static int check_ocsp_url(struct parse *ps)
{
	char *host = NULL, *port = NULL, *path = NULL;
	int tls = 0, ok;

	ok = OSSL_HTTP_parse_url(ps->o->ocsp_url, &tls, NULL, &host, &port, NULL, &path, NULL,
				 NULL);
	OPENSSL_free(host);
	OPENSSL_free(port);
	OPENSSL_free(path);
	ERR_clear_error();
	if (ok != 1)
		return fail(ps, "--ocsp-url: '%s' is not an http:// URL", ps->o->ocsp_url);
	if (tls)
		return fail(ps,
			    "--ocsp-url: https responders are not supported (OCSP is plain HTTP)");
	return 0;
}

/* Rules between options; each message says which combination is meant instead. */
static int check_combinations(struct parse *ps)
{
	struct ks_bench_opts *o = ps->o;

	if (!o->host)
		return fail(ps, "--connect HOST:PORT is required");
	if (!ps->mode_set)
		o->mode = o->rate > 0 ? KS_BENCH_OPEN : KS_BENCH_CLOSED;
	if (o->mode == KS_BENCH_CLOSED && o->rate > 0)
		return fail(ps,
			    "--rate makes no sense in closed loop (it runs as fast as the server "
			    "answers): drop --mode closed or --rate");
	if (o->mode == KS_BENCH_OPEN && !(o->rate > 0))
		return fail(ps, "open loop needs --rate R (handshakes per second)");
	if (!ps->conn_set)
		o->connections = o->mode == KS_BENCH_OPEN ? 64 : 8;
	if ((o->duration_s > 0) == (o->count > 0))
		return fail(ps, "give exactly one of --duration S or --count N");
	if (o->client_ocsp && o->status)
		return fail(ps, "--client-ocsp simulates a client that requests no staple: drop "
				"--status");
	if (o->ocsp_url && !o->client_ocsp)
		return fail(ps, "--ocsp-url is only used with --client-ocsp");
	if (o->added_rtt_ms > 0 && !o->client_ocsp)
		return fail(ps, "--added-rtt is only used with --client-ocsp");
	if (o->issuer && !o->status && !o->client_ocsp)
		return fail(ps, "--issuer verifies staples: add --status (or --client-ocsp)");
	if (o->first && !o->first_csv)
		return fail(ps, "--first N needs --first-csv FILE for its rows");
	if (o->first_csv && !o->first)
		return fail(ps, "--first-csv FILE needs --first N");
	if (o->ocsp_url)
		TRY(check_ocsp_url(ps));
	return check_tls_names(ps);
}

int ks_bench_parse_opts(struct ks_bench_opts *o, int argc, char *argv[], char *err, size_t errlen)
{
	struct parse ps = { .o = o, .err = err, .errlen = errlen };
	int c;

	memset(o, 0, sizeof(*o));
	o->tls = 13;
	o->timeout_s = 5;
	if (errlen)
		err[0] = '\0';
	/* optind = 0 makes glibc reinitialise getopt, so the parser can run more than once. */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:C:r:d:N:w:sqhV", long_opts, NULL)) != -1) {
		if (c == '?') {
			if (optopt)
				return fail(&ps, "unknown option -%c (see --help)", optopt);
			return fail(&ps, "unknown option '%s' (see --help)", argv[optind - 1]);
		}
		if (c == ':')
			return fail(&ps, "option '%s' needs a value", argv[optind - 1]);
		TRY(parse_one(&ps, c, optarg));
		if (o->action != KS_BENCH_RUN)
			return 0;
	}
	if (optind < argc)
		return fail(&ps, "unexpected argument '%s' (options take the form --name VALUE)",
			    argv[optind]);
	return check_combinations(&ps);
}

void ks_bench_opts_free(struct ks_bench_opts *o)
{
	free((char *)o->host);
	o->host = NULL;
}

void ks_bench_usage(FILE *f)
{
	fputs("Usage: kstaple-bench --connect HOST:PORT (--duration S | --count N) [options]\n"
	      "\n"
	      "A TLS handshake load generator (OpenSSL client). Every handshake is a new TCP\n"
	      "connection: connect, handshake, (status check), close_notify, close. Full\n"
	      "handshakes by default: one SSL_CTX per connection thread, client session cache off.\n"
	      "\n"
	      "Target and TLS:\n"
	      "  -c, --connect HOST:PORT   server to connect to ([IPv6]:PORT for IPv6)\n"
	      "      --sni NAME            server name to send (default: none)\n"
	      "      --tls 1.2|1.3         protocol version, min = max (default 1.3)\n"
	      "      --groups LIST         key exchange groups, OpenSSL syntax: X25519, P-256, X25519:P-256\n"
	      "      --sigalgs LIST        signature algorithms offered: ecdsa_secp256r1_sha256,\n"
	      "                            rsa_pss_rsae_sha256, ... (selects the server's certificate)\n"
	      "      --ciphers LIST        TLS 1.3 suites or TLS 1.2 ciphers, according to --tls\n"
	      "      --cafile FILE         verify the server's chain against FILE (default: not\n"
	      "                            verified, to spend the client's CPU on handshakes)\n"
	      "      --resume              resumed handshakes: each connection thread makes one full\n"
	      "                            handshake (not recorded) and resumes from its latest ticket;\n"
	      "                            a resumed TLS 1.3 handshake has no Certificate, so no staple\n"
	      "\n"
	      "Load:\n"
	      "  -C, --connections N       closed loop: concurrent connections (threads), default 8;\n"
	      "                            open loop: most handshakes in flight, default 64\n"
	      "  -r, --rate R              open loop: R handshakes per second on a fixed schedule\n"
	      "      --mode closed|open    default: open when --rate is given, else closed\n"
	      "  -d, --duration S          measure for S seconds, or\n"
	      "  -N, --count N             measure N handshake attempts (failures included)\n"
	      "  -w, --warmup S            run S seconds before measuring (default 0)\n"
	      "      --timeout S           per socket operation (default 5); counted as a timeout\n"
	      "      --wait S              first wait up to S seconds for HOST:PORT to accept TCP\n"
	      "\n"
	      "In closed loop each connection starts its next handshake when the last one ends, so\n"
	      "the rate is what the server sustains. In open loop arrivals are scheduled every\n"
	      "1/R s whatever happens, and latency is measured from the SCHEDULED start: a slow\n"
	      "server delays later arrivals, and that waiting counts (no coordinated omission).\n"
	      "Arrivals that start more than 1 ms late are counted as 'late'.\n"
	      "\n"
	      "OCSP:\n"
	      "  -s, --status              request a staple (status_request) and count the share\n"
	      "                            of handshakes that received one\n"
	      "      --issuer FILE         verify each staple: signature by FILE (or a delegate it\n"
	      "                            issued), CertID of the peer certificate, status good, within\n"
	      "                            its validity; the verification is part of the latency\n"
	      "      --client-ocsp         request no staple; after each handshake fetch the status\n"
	      "                            over HTTP POST as a client without stapling must (issuer:\n"
	      "                            --issuer, else the server's chain); part of the latency\n"
	      "      --ocsp-url URL        responder for --client-ocsp (default: the certificate's AIA)\n"
	      "      --added-rtt MS        simulated round trip to the responder: 2 x MS is slept per\n"
	      "                            fetch (TCP handshake + request), default 0\n"
	      "\n"
	      "Output (a human summary always goes to stdout unless --quiet):\n"
	      "      --csv FILE            append one summary row; the header is written when FILE is\n"
	      "                            new or empty\n"
	      "      --cdf FILE            latency CDF for gnuplot: latency_us,cdf,count (one row per\n"
	      "                            histogram bucket; set datafile separator ','; skip line 1)\n"
	      "      --first N             record the first N handshakes started (warm-up included)\n"
	      "      --first-csv FILE      ... into FILE: index,start_ms,ok,stapled,verified,latency_us\n"
	      "      --label TEXT          copied into the CSV row (e.g. server name and run number)\n"
	      "      --server-pid P[,P..]  account these processes' CPU time (process CPU clocks) over the\n"
	      "                            measured interval, per handshake\n"
	      "  -q, --quiet               no summary on stdout\n"
	      "  -h, --help                this text;  -V, --version  the version\n"
	      "\n"
	      "CSV summary fields:\n"
	      "  version label target tls groups sigalgs ciphers mode rate connections resume\n"
	      "  status client_ocsp added_rtt_ms warmup_s   the settings (strings quoted)\n"
	      "  elapsed_s        measured wall time; handshakes: measured successful handshakes\n"
	      "  hs_per_s         handshakes / elapsed_s\n"
	      "  p50_us p90_us p99_us p999_us max_us mean_us   latency of successful handshakes\n"
	      "                   (histogram, relative error < 0.4%; max exact)\n"
	      "  stapled stapled_share verified verified_share resumed fetched   counts, and shares\n"
	      "                   of successful handshakes\n"
	      "  err_connect err_handshake err_timeout err_ocsp   failed measured attempts by kind\n"
	      "  late             open loop: arrivals that started > 1 ms after schedule\n"
	      "  client_cpu_us_per_hs  this process's user+system CPU per handshake\n"
	      "  server_cpu_us_per_hs  the --server-pid processes' CPU per handshake (empty if none)\n"
	      "\n"
	      "Exit status: 0 when every measured handshake succeeded, 1 when some failed,\n"
	      "64 for a usage error, 70 when the run could not start, 74 when an output file\n"
	      "could not be written.\n",
	      f);
}

// SPDX-License-Identifier: MIT
/* kstaple-bench output: the human summary, the CSV row, the first-N rows and the CDF. */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hsbench.h"
#include "kstaple/log.h"

const char ks_bench_csv_header[] =
	"version,label,target,tls,groups,sigalgs,ciphers,mode,rate,connections,resume,status,"
	"client_ocsp,added_rtt_ms,warmup_s,elapsed_s,handshakes,hs_per_s,p50_us,p90_us,p99_us,"
	"p999_us,max_us,mean_us,stapled,stapled_share,verified,verified_share,resumed,fetched,"
	"err_connect,err_handshake,err_timeout,err_ocsp,late,client_cpu_us_per_hs,"
	"server_cpu_us_per_hs";

static double share(uint64_t n, uint64_t of)
{
	return of ? (double)n / (double)of : 0.0;
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static uint64_t failed(const struct ks_bench_result *r)
{
	uint64_t n = 0;

	for (int k = 0; k < KS_BENCH_ERR_KINDS; k++)
		n += r->errors[k];
	return n;
}

static const char *or_default(const char *s)
{
	return s ? s : "default";
}

void ks_bench_print_summary(const struct ks_bench_opts *o, const struct ks_bench_result *r, FILE *f)
{
	const struct ks_hist *h = &r->hist;
	double per_hs = r->ok ? 1e6 / (double)r->ok : 0;

	fprintf(f, "kstaple-bench %s -> %s:%s  TLS 1.%d  groups %s  sigalgs %s%s\n", KS_VERSION,
		o->host, o->port, o->tls - 10, or_default(o->groups), or_default(o->sigalgs),
		o->resume ? "  resumed" : "");
	if (o->mode == KS_BENCH_OPEN)
		fprintf(f, "open loop at %g/s, up to %u in flight", o->rate, o->connections);
	else
		fprintf(f, "closed loop, %u connections", o->connections);
	fprintf(f, ", measured %.3f s after %g s warm-up (%llu warm-up handshakes)\n", r->elapsed_s,
		o->warmup_s, (unsigned long long)r->warmup);
	fprintf(f, "  handshakes  %llu ok, %llu failed, %.1f/s\n", (unsigned long long)r->ok,
		(unsigned long long)failed(r), r->elapsed_s > 0 ? (double)r->ok / r->elapsed_s : 0);
	fprintf(f, "  latency us  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n",
		us(ks_hist_percentile(h, 50)), us(ks_hist_percentile(h, 90)),
		us(ks_hist_percentile(h, 99)), us(ks_hist_percentile(h, 99.9)), us(h->max),
		ks_hist_mean(h) / 1000.0);
	if (o->status)
		fprintf(f, "  stapled     %llu (%.1f%%)", (unsigned long long)r->stapled,
			100 * share(r->stapled, r->ok));
	if (o->client_ocsp)
		fprintf(f, "  fetched     %llu (%.1f%%)", (unsigned long long)r->fetched,
			100 * share(r->fetched, r->ok));
	if (o->issuer)
		fprintf(f, ", verified %llu (%.1f%%)", (unsigned long long)r->verified,
			100 * share(r->verified, r->ok));
	if (o->status || o->client_ocsp)
		fputc('\n', f);
	if (o->resume)
		fprintf(f, "  resumed     %llu (%.1f%%)\n", (unsigned long long)r->resumed,
			100 * share(r->resumed, r->ok));
	fprintf(f, "  errors      connect %llu, handshake %llu, timeout %llu, ocsp %llu\n",
		(unsigned long long)r->errors[KS_BENCH_ERR_CONNECT],
		(unsigned long long)r->errors[KS_BENCH_ERR_HANDSHAKE],
		(unsigned long long)r->errors[KS_BENCH_ERR_TIMEOUT],
		(unsigned long long)r->errors[KS_BENCH_ERR_OCSP]);
	if (r->first_error[0])
		fprintf(f, "  first error %s\n", r->first_error);
	if (o->mode == KS_BENCH_OPEN && r->late)
		fprintf(f,
			"  late starts %llu (%.1f%%): the server or this client fell behind the "
			"schedule; their wait is in the latency\n",
			(unsigned long long)r->late, 100 * share(r->late, r->ok + failed(r)));
	if (!r->ok)
		return;
	fprintf(f, "  client CPU  %.1f us per handshake", r->client_cpu_s * per_hs);
	if (r->server_cpu_s >= 0)
		fprintf(f, "; server CPU %.1f us per handshake", r->server_cpu_s * per_hs);
	fputc('\n', f);
}

/* A CSV string field: always quoted, inner quotes doubled (cipher lists may hold commas). */
static void field(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputs("\",", f);
}

static int close_checked(FILE *f, const char *path)
{
	int bad = ferror(f);

	if (fclose(f) != 0 || bad) {
		ks_err("cannot write %s", path);
		return -EIO;
	}
	return 0;
}

int ks_bench_write_csv(const struct ks_bench_opts *o, const struct ks_bench_result *r,
		       const char *path)
{
	const struct ks_hist *h = &r->hist;
	double per_hs = r->ok ? 1e6 / (double)r->ok : 0;
	char target[300];
	FILE *f = fopen(path, "ae");

	if (!f) {
		ks_err("cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	/* Appending lets a script interleave runs (A B A B) into one file with one header. */
	if (ftell(f) == 0)
		fprintf(f, "%s\n", ks_bench_csv_header);
	snprintf(target, sizeof(target), "%s:%s", o->host, o->port);
	field(f, KS_VERSION);
	field(f, o->label ? o->label : "");
	field(f, target);
	fprintf(f, "1.%d,", o->tls - 10);
	field(f, o->groups ? o->groups : "");
	field(f, o->sigalgs ? o->sigalgs : "");
	field(f, o->ciphers ? o->ciphers : "");
	fprintf(f, "%s,%g,%u,%d,%d,%d,%g,%g,", o->mode == KS_BENCH_OPEN ? "open" : "closed",
		o->rate, o->connections, o->resume, o->status, o->client_ocsp, o->added_rtt_ms,
		o->warmup_s);
	fprintf(f, "%.6f,%llu,%.2f,", r->elapsed_s, (unsigned long long)r->ok,
		r->elapsed_s > 0 ? (double)r->ok / r->elapsed_s : 0);
	fprintf(f, "%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,", us(ks_hist_percentile(h, 50)),
		us(ks_hist_percentile(h, 90)), us(ks_hist_percentile(h, 99)),
		us(ks_hist_percentile(h, 99.9)), us(h->max), ks_hist_mean(h) / 1000.0);
	fprintf(f, "%llu,%.4f,%llu,%.4f,%llu,%llu,", (unsigned long long)r->stapled,
		share(r->stapled, r->ok), (unsigned long long)r->verified,
		share(r->verified, r->ok), (unsigned long long)r->resumed,
		(unsigned long long)r->fetched);
	for (int k = 0; k < KS_BENCH_ERR_KINDS; k++)
		fprintf(f, "%llu,", (unsigned long long)r->errors[k]);
	fprintf(f, "%llu,%.1f,", (unsigned long long)r->late, r->client_cpu_s * per_hs);
	if (r->server_cpu_s >= 0)
		fprintf(f, "%.1f", r->server_cpu_s * per_hs);
	fputc('\n', f);
	return close_checked(f, path);
}

int ks_bench_write_first(const struct ks_bench_result *r, const char *path)
{
	FILE *f = fopen(path, "we");

	if (!f) {
		ks_err("cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	fprintf(f, "index,start_ms,ok,stapled,verified,latency_us\n");
	for (uint64_t i = 0; i < r->nfirst; i++) {
		const struct ks_bench_first *x = &r->first[i];

		fprintf(f, "%llu,%.3f,%d,%d,%d,%.1f\n", (unsigned long long)i, x->start_ms, x->ok,
			x->stapled, x->verified, us(x->latency_ns));
	}
	return close_checked(f, path);
}

int ks_bench_write_cdf(const struct ks_bench_result *r, const char *path)
{
	FILE *f = fopen(path, "we");
	int ret;

	if (!f) {
		ks_err("cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	ret = ks_hist_write_cdf(&r->hist, f);
	if (close_checked(f, path) < 0 || ret < 0)
		return -EIO;
	return 0;
}

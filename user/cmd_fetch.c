// SPDX-License-Identifier: MIT
/*
 * `kstaple fetch -c FILE [--only NAME] [--json]`: one pass of the fetcher over every configured
 * certificate (or one), on the same io_uring loop and engine the agent uses, then one line per
 * certificate. Exit 0 only if every certificate that has a responder ends with a valid staple
 * in state_dir.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kstaple/cert_loader.h"
#include "kstaple/cert_store.h"
#include "kstaple/clock.h"
#include "kstaple/config.h"
#include "kstaple/fetcher.h"
#include "kstaple/cmd.h"
#include "kstaple/log.h"
#include "kstaple/loop.h"
#include "kstaple/staple_cache.h"

#define PROGRESS_MIN_CERTS 20

struct fetch_run {
	struct ks_config *cfg;
	struct ks_cert **certs;		   /* NULL where loading failed */
	const struct ks_cert_conf **confs; /* the certificates of this run, in order */
	size_t n;
	struct ks_cache *cache;
	struct ks_loop *loop;
	struct ks_fetcher *f;
	size_t *fidx; /* cert i -> fetcher index, SIZE_MAX when not added */
	bool started; /* the pass: begins while certificates are still loading */
	bool done;
	bool json;
	int64_t load_ms;    /* configuration, certificates, stored staples */
	int64_t started_ms; /* the pass */
	int64_t pass_ms;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: kstaple fetch -c FILE [--only NAME] [--json]\n\n"
		   "Fetch an OCSP response for every configured certificate (or only NAME) from\n"
		   "its responder, verify it and store it in state_dir if it may be stapled; a\n"
		   "response that is rejected never replaces the stored one. Prints one line per\n"
		   "certificate: result, OCSP status, thisUpdate, nextUpdate and time taken.\n\n"
		   "  -c, --config FILE   configuration file (see kstaple.conf(5))\n"
		   "  --only NAME         only the certificate of section [cert:NAME]\n"
		   "  --json              one JSON document instead of the table\n"
		   "  -h, --help          this text\n\n"
		   "exit status: 0 every certificate with a responder has a valid staple in\n"
		   "state_dir, 1 some do not, 64 usage, 78 configuration error\n");
}

/* A staple that may be served now and is on disk. */
static bool staple_ok(struct ks_cache_entry *e, int64_t now, int64_t skew)
{
	struct ks_staple *st = ks_staple_acquire(e);
	bool ok = st && e->persisted && now <= st->next_update + skew &&
		  st->this_update <= now + skew;

	ks_staple_release(st);
	return ok;
}

static void pass_done(struct ks_fetcher *f, void *arg)
{
	(void)f;
	((struct fetch_run *)arg)->done = true;
}

static int start_pass(struct fetch_run *run)
{
	int ret;

	if (run->started)
		return 0;
	run->started = true;
	run->started_ms = ks_monotonic_ms();
	ret = ks_fetcher_one_pass(run->f, pass_done, run);
	/* Fetching can outrun loading: the pass stays open until the last certificate joined. */
	if (ret == 0)
		ks_fetcher_pass_hold(run->f, true);
	return ret;
}

/* Certificate k came from the loader (NULL: it could not be loaded, already logged). */
static int add_loaded(struct fetch_run *run, size_t k, struct ks_cert *cert)
{
	const char *name = run->confs[k]->name;
	struct ks_cache_entry *e;
	int ret;

	run->certs[k] = cert;
	if (!cert || ks_cache_add(run->cache, cert, &e) < 0)
		return 0;
	ret = ks_cache_load(run->cache, e);
	if (ret < 0)
		ks_log_cert(KS_LOG_WARN, name, "cannot load the stored staple: %s", strerror(-ret));
	if (ks_fetcher_add(run->f, e) < 0)
		return 0;
	run->fidx[k] = ks_fetcher_count(run->f) - 1;
	return start_pass(run);
}

/*
 * Certificates load on worker threads (cert_loader.h; about 0.4 ms of CPU each) while this
 * thread adds them in configuration order and keeps the loop turning, so fetching overlaps
 * loading. Fetching needs no private key: not reading thousands of them keeps start-up fast.
 */
static int feed(struct fetch_run *run, struct ks_cert_loader *l)
{
	struct ks_cert *cert;
	size_t k;
	int ret, err;

	for (;;) {
		while ((ret = ks_cert_loader_next(l, false, &k, &cert, &err)) == 1)
			TRY(add_loaded(run, k, cert));
		if (ret == -ENODATA)
			return 0;
		/* Wait for I/O at most 1 ms: the loaders do not wake the loop. */
		TRY(ks_loop_run_once(run->loop, 1));
	}
}

static int load(struct fetch_run *run, const char *only)
{
	int64_t now = ks_now(&ks_clock_real);
	struct ks_cert_loader *l;
	size_t i;
	int ret;

	run->certs = calloc(run->cfg->n_certs + 1, sizeof(*run->certs));
	run->confs = calloc(run->cfg->n_certs + 1, sizeof(*run->confs));
	run->fidx = calloc(run->cfg->n_certs + 1, sizeof(*run->fidx));
	ENSURE(run->certs && run->confs && run->fidx, -ENOMEM);
	for (i = 0; i < run->cfg->n_certs; i++) {
		if (only && strcmp(only, run->cfg->certs[i].name) != 0)
			continue;
		run->confs[run->n] = &run->cfg->certs[i];
		run->fidx[run->n++] = SIZE_MAX;
	}
	l = ks_cert_loader_start(run->cfg, run->confs, run->n, false, now, 0);
	ENSURE(l, -ENOMEM);
	ret = feed(run, l);
	ks_cert_loader_free(l);
	TRY(ret);
	TRY(start_pass(run)); /* none loaded: an empty pass, which ends from the loop */
	ks_fetcher_pass_hold(run->f, false);
	return 0;
}

static void progress(struct fetch_run *run, bool final)
{
	size_t done, total;

	ks_fetcher_progress(run->f, &done, &total);
	fprintf(stderr, "\rfetching OCSP responses: %zu/%zu (%lld s)%s", done, total,
		(long long)(ks_monotonic_ms() - run->started_ms) / 1000, final ? "\n" : "");
	fflush(stderr);
}

static int run_pass(struct fetch_run *run)
{
	bool show = isatty(STDERR_FILENO) && ks_fetcher_count(run->f) > PROGRESS_MIN_CERTS;
	int64_t last = 0;
	int ret;

	while (!run->done) {
		ret = ks_loop_run_once(run->loop, 200);
		if (ret < 0)
			return ret;
		if (show && ks_monotonic_ms() - last >= 200) {
			progress(run, false);
			last = ks_monotonic_ms();
		}
	}
	if (show)
		progress(run, true);
	run->pass_ms = ks_monotonic_ms() - run->started_ms;
	return 0;
}

/* JSON string: RFC 8259 §7 escapes (details may quote certificate subjects). */
static void json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

static const char *status_word(const struct ks_fetch_cert_result *r, char *buf, size_t len)
{
	if (r->have_verdict)
		return ks_verdict_name(r->verdict);
	if (r->outcome == KS_FETCH_HTTP_ERROR && r->http_err == KS_HTTP_ERR_STATUS)
		snprintf(buf, len, "http-%ld", r->http_status);
	else if (r->outcome == KS_FETCH_HTTP_ERROR)
		snprintf(buf, len, "%s", ks_http_err_name(r->http_err));
	else
		snprintf(buf, len, "-");
	return buf;
}

static const char *time_or_dash(bool have, int64_t t, char *buf, size_t len)
{
	return have && t ? ks_fmt_time_iso(t, buf, len) : "-";
}

/* One certificate. r is NULL when it could not be loaded. */
static void print_one(struct fetch_run *run, size_t k, const struct ks_fetch_cert_result *r,
		      struct ks_cache_entry *e, bool ok, bool first)
{
	char st[32], tu[32], nu[32], kept[32], ms[24], detail[320], file[PATH_MAX];
	const char *name = run->confs[k]->name;
	struct ks_staple *cur = e ? ks_staple_acquire(e) : NULL;
	bool attempted = r && r->attempts > 0;

	if (!r)
		snprintf(detail, sizeof(detail), "certificate not loaded (see the log above)");
	else if (r->outcome != KS_FETCH_OK && cur)
		snprintf(detail, sizeof(detail), "%s; kept staple valid until %s", r->detail,
			 ks_fmt_time_iso(cur->next_update, kept, sizeof(kept)));
	else
		snprintf(detail, sizeof(detail), "%s", r->detail);
	if (run->json) {
		fprintf(stdout, "%s\n  {\"name\":", first ? "" : ",");
		json_str(stdout, name);
		fprintf(stdout, ",\"result\":\"%s\",\"status\":\"%s\"",
			r ? ks_fetch_outcome_name(r->outcome) : "load-error",
			r ? status_word(r, st, sizeof(st)) : "-");
		if (r && r->have_verdict)
			fprintf(stdout, ",\"this_update\":\"%s\",\"next_update\":\"%s\"",
				time_or_dash(true, r->this_update, tu, sizeof(tu)),
				time_or_dash(true, r->next_update, nu, sizeof(nu)));
		if (attempted)
			fprintf(stdout, ",\"http_status\":%ld,\"method\":\"%s\",\"ms\":%lld",
				r->http_status, r->used_get ? "GET" : "POST",
				(long long)r->elapsed_ms);
		fprintf(stdout, ",\"staple_valid\":%s", ok ? "true" : "false");
		if (e && r->outcome != KS_FETCH_NO_RESPONDER) {
			fprintf(stdout, ",\"state_file\":");
			json_str(stdout, ks_cache_path(run->cache, e, file, sizeof(file)));
		}
		if (cur)
			fprintf(stdout, ",\"staple_next_update\":\"%s\"",
				ks_fmt_time_iso(cur->next_update, kept, sizeof(kept)));
		fprintf(stdout, ",\"detail\":");
		json_str(stdout, detail);
		fprintf(stdout, "}");
	} else {
		if (attempted)
			snprintf(ms, sizeof(ms), "%lldms", (long long)r->elapsed_ms);
		else
			snprintf(ms, sizeof(ms), "-");
		printf("%-20s %-12s %-16s %-20s %-20s %7s  %s\n", name,
		       r ? ks_fetch_outcome_name(r->outcome) : "load-error",
		       r ? status_word(r, st, sizeof(st)) : "-",
		       time_or_dash(r && r->have_verdict, r ? r->this_update : 0, tu, sizeof(tu)),
		       time_or_dash(r && r->have_verdict, r ? r->next_update : 0, nu, sizeof(nu)),
		       ms, detail);
	}
	ks_staple_release(cur);
}

/* Print everything; returns the number of certificates with a responder but no valid staple. */
static size_t report(struct fetch_run *run)
{
	int64_t now = ks_now(&ks_clock_real);
	size_t k, bad = 0, ok = 0, none = 0;

	if (run->json)
		printf("{\"certificates\":[");
	else
		printf("%-20s %-12s %-16s %-20s %-20s %7s  %s\n", "CERT", "RESULT", "STATUS",
		       "THIS_UPDATE", "NEXT_UPDATE", "TIME", "DETAIL");
	for (k = 0; k < run->n; k++) {
		const struct ks_fetch_cert_result *r = NULL;
		struct ks_cache_entry *e = NULL;
		bool valid = false;

		if (run->fidx[k] != SIZE_MAX) {
			r = ks_fetcher_result(run->f, run->fidx[k]);
			e = ks_fetcher_entry(run->f, run->fidx[k]);
			valid = staple_ok(e, now, run->cfg->fetch.skew);
		}
		if (r && r->outcome == KS_FETCH_NO_RESPONDER)
			none++;
		else if (valid)
			ok++;
		else
			bad++;
		print_one(run, k, r, e, valid, k == 0);
	}
	if (run->json)
		printf("\n], \"valid\":%zu, \"missing\":%zu, \"no_responder\":%zu, \"ok\":%s, "
		       "\"load_ms\":%lld, \"fetch_ms\":%lld}\n",
		       ok, bad, none, bad ? "false" : "true", (long long)run->load_ms,
		       (long long)run->pass_ms);
	ks_log(bad ? KS_LOG_WARN : KS_LOG_INFO,
	       "fetch: %zu with a valid staple, %zu without, %zu without a responder (loading "
	       "%lld ms, fetching %lld ms)",
	       ok, bad, none, (long long)run->load_ms, (long long)run->pass_ms);
	return bad;
}

static void cleanup(struct fetch_run *run)
{
	size_t k;

	ks_fetcher_free(run->f);
	ks_loop_free(run->loop);
	/* Entries reference their certificates: the cache goes first. */
	ks_cache_free(run->cache);
	for (k = 0; k < run->n; k++)
		ks_cert_free(run->certs[k]);
	free(run->certs);
	free(run->confs);
	free(run->fidx);
	ks_config_free(run->cfg);
}

int ks_cmd_fetch(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "only", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path = NULL, *only = NULL;
	struct fetch_run run = { 0 };
	int64_t t0 = ks_monotonic_ms();
	int opt, ret, code;

	while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'o':
			only = optarg;
			break;
		case 'j':
			run.json = true;
			break;
		case 'h':
			usage(stdout);
			return KS_EXIT_OK;
		default:
			usage(stderr);
			return KS_EXIT_USAGE;
		}
	}
	if (!path || optind != argc) {
		usage(stderr);
		return KS_EXIT_USAGE;
	}
	if (ks_config_load(path, &run.cfg) < 0)
		return KS_EXIT_CONFIG; /* every problem was logged with its file and line */
	ks_log_set_level(run.cfg->log_level);
	if (only && !ks_config_cert(run.cfg, only)) {
		ks_err("%s: no section [cert:%s]", path, only);
		ks_config_free(run.cfg);
		return KS_EXIT_USAGE;
	}
	run.cache = ks_cache_new(run.cfg->state_dir, &ks_clock_real, run.cfg->fetch.skew);
	if (!run.cache) {
		ks_err("%s: state_dir %s: %s", path, run.cfg->state_dir, strerror(errno));
		cleanup(&run);
		return KS_EXIT_CONFIG;
	}
	run.loop = ks_loop_new(NULL);
	if (!run.loop) {
		ks_err("cannot create the io_uring event loop: %s (is io_uring disabled by "
		       "kernel.io_uring_disabled?)",
		       strerror(errno));
		cleanup(&run);
		return KS_EXIT_SOFTWARE;
	}
	run.f = ks_fetcher_new(run.loop, run.cache, &run.cfg->fetch, &ks_clock_real);
	ret = run.f ? load(&run, only) : -ENOMEM;
	if (ret < 0) {
		ks_err("fetch: %s", strerror(-ret));
		cleanup(&run);
		return KS_EXIT_SOFTWARE;
	}
	run.load_ms = ks_monotonic_ms() - t0;
	ret = run_pass(&run);
	if (ret < 0) {
		ks_err("fetch: event loop failed: %s", strerror(-ret));
		cleanup(&run);
		return KS_EXIT_SOFTWARE;
	}
	code = report(&run) ? 1 : KS_EXIT_OK;
	cleanup(&run);
	return code;
}

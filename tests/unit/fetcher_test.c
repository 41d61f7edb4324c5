// SPDX-License-Identifier: MIT
/*
 * fetcher: fixture certificates fetched from the fault server (which serves the fixture OCSP
 * responses), through the real cache and validator: publication, rejection without damage,
 * back-off, limits, the schedule and the one-pass mode.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "helpers/fault_server.h"
#include "helpers/fixtures.h"
#include "kstaple/cert_store.h"
#include "kstaple/clock.h"
#include "kstaple/fetcher.h"

#define MAX_CERTS 16

static struct fault_server srv, srv2;
static struct ks_loop *loop;
static struct ks_cache *cache;
static struct ks_fetcher *fetcher;
static struct ks_fetch_conf conf;
static struct ks_cert *certs[MAX_CERTS];
static struct ks_cache_entry *entries[MAX_CERTS];
static bool own_entry[MAX_CERTS];
static size_t n_certs;
static char state_dir[128], served[192];

static void need_fixtures(void)
{
	if (!ks_test_have_fixture("pki/leaf/ecdsa/chain.pem") ||
	    !ks_test_have_fixture("ocsp/good.der"))
		cr_skip_test("KS_FIXTURES not set (scripts/mkfixtures.sh DIR)");
}

/* Serve fixture responses by name (/der/NAME) and a swappable file (/ok). */
static void start_server(struct fault_server *s)
{
	char der_dir[256];
	const char *args[] = { "--der-dir", der_dir, "--der", served, NULL };

	snprintf(der_dir, sizeof(der_dir), "%s", ks_test_fixture("ocsp"));
	fault_server_start(s, args);
}

static void copy_fixture(const char *name)
{
	uint8_t *buf;
	size_t len;
	FILE *f;

	cr_assert_eq(ks_test_read_file(ks_test_fixturef("ocsp/%s.der", name), &buf, &len), 0);
	f = fopen(served, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(buf, 1, len, f), len);
	fclose(f);
	free(buf);
}

static void setup(void)
{
	need_fixtures();
	/* The cache logs every publication and rejection: keep the test output readable. */
	ks_log_set_level(KS_LOG_ERR);
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	cr_assert_eq(ks_test_tmpdir(state_dir, sizeof(state_dir)), 0);
	snprintf(served, sizeof(served), "%s.served.der", state_dir);
	start_server(&srv);
	loop = ks_loop_new(NULL);
	if (!loop)
		cr_skip_test("io_uring unavailable: %s", strerror(errno));
	cache = ks_cache_new(state_dir, &ks_clock_real, KS_OCSP_DEFAULT_SKEW);
	cr_assert_not_null(cache);
	memset(&conf, 0, sizeof(conf));
	conf.skew = KS_OCSP_DEFAULT_SKEW;
	conf.sched = ks_sched_default;
	conf.connect_timeout_ms = 2000;
	conf.timeout_ms = 3000;
	conf.max_body = 64 * 1024;
	conf.max_concurrency = 64;
	conf.max_per_responder = 8;
	n_certs = 0;
}

static void teardown(void)
{
	size_t i;

	ks_fetcher_free(fetcher);
	fetcher = NULL;
	ks_cache_free(cache);
	for (i = 0; i < n_certs; i++) {
		if (own_entry[i])
			free(entries[i]);
		ks_cert_free(certs[i]);
	}
	ks_loop_free(loop);
	fault_server_stop(&srv);
	fault_server_stop(&srv2);
	unlink(served);
	ks_test_rmdir(state_dir);
}

/* Load fixture leaf `leaf` as [cert:name] with a responder override (NULL: the AIA). */
static size_t add_cert(const char *leaf, const char *name, const char *responder, bool shared)
{
	char chain[512];
	struct ks_cert_spec spec = { .name = name, .chain_path = chain, .responder = responder };
	size_t i = n_certs++;

	cr_assert_lt(i, MAX_CERTS);
	snprintf(chain, sizeof(chain), "%s", ks_test_fixturef("pki/leaf/%s/chain.pem", leaf));
	cr_assert_eq(ks_cert_load(&spec, ks_now(&ks_clock_real), &certs[i]), 0, "load %s", leaf);
	if (shared) {
		/* The same certificate many times: the cache refuses duplicates, so the test
		 * builds the entries itself (responses to them are rejected, never persisted). */
		entries[i] = calloc(1, sizeof(*entries[i]));
		entries[i]->cert = certs[i];
		own_entry[i] = true;
	} else {
		cr_assert_eq(ks_cache_add(cache, certs[i], &entries[i]), 0);
		own_entry[i] = false;
	}
	return i;
}

static void make_fetcher(void)
{
	size_t i;

	fetcher = ks_fetcher_new(loop, cache, &conf, &ks_clock_real);
	cr_assert_not_null(fetcher);
	for (i = 0; i < n_certs; i++)
		cr_assert_eq(ks_fetcher_add(fetcher, entries[i]), 0);
}

static void pass_done(struct ks_fetcher *f, void *arg)
{
	(void)f;
	(*(int *)arg)++;
}

static void run_pass(void)
{
	int done = 0;
	int64_t t0 = ks_monotonic_ms();

	cr_assert_eq(ks_fetcher_one_pass(fetcher, pass_done, &done), 0);
	cr_assert_eq(done, 0, "the pass callback must come from the loop");
	while (!done && ks_monotonic_ms() - t0 < 20000)
		cr_assert_geq(ks_loop_run_once(loop, 100), 0);
	cr_assert_eq(done, 1, "pass did not finish");
}

static const struct ks_fetch_cert_result *result(size_t i)
{
	return ks_fetcher_result(fetcher, i);
}

static void url(char *buf, size_t len, const struct fault_server *s, const char *path)
{
	snprintf(buf, len, "%s/%s", s->base, path);
}

TestSuite(fetcher, .init = setup, .fini = teardown, .timeout = 60);

Test(fetcher, one_pass_fetches_verifies_and_persists)
{
	char u1[128], u2[128], path[4096];
	uint8_t *disk, *fix;
	size_t dlen, flen, done, total;
	const struct ks_fetch_cert_result *r;

	url(u1, sizeof(u1), &srv, "der/good");
	url(u2, sizeof(u2), &srv, "der/good-rsa");
	add_cert("ecdsa", "ecdsa", u1, false);
	add_cert("rsa", "rsa", u2, false);
	add_cert("noaia", "noaia", NULL, false);
	make_fetcher();
	run_pass();

	r = result(0);
	cr_assert_eq(r->outcome, KS_FETCH_OK, "%s: %s", ks_fetch_outcome_name(r->outcome),
		     r->detail);
	cr_assert(r->have_verdict);
	cr_assert_eq(r->verdict, KS_V_GOOD);
	cr_assert_eq(r->http_status, 200);
	cr_assert(r->used_get, "a short request goes by GET (RFC 5019)");
	cr_assert_gt(r->next_update, r->this_update);
	cr_assert_eq(r->attempts, 1);
	cr_assert_gt(r->next_attempt, ks_now(&ks_clock_real));
	cr_assert_eq(result(1)->outcome, KS_FETCH_OK, "%s", result(1)->detail);
	cr_assert_eq(result(2)->outcome, KS_FETCH_NO_RESPONDER);
	cr_assert_eq(result(2)->attempts, 0);
	ks_fetcher_progress(fetcher, &done, &total);
	cr_assert_eq(total, 2);
	cr_assert_eq(done, 2);
	cr_assert_eq(fault_server_count(&srv, "GET /der/good/"), 1);
	cr_assert_eq(fault_server_count(&srv, "GET /der/good-rsa/"), 1);
	cr_assert_eq(fault_server_count(&srv, "POST"), 0);

	/* What is on disk is exactly the fixture the responder served. */
	cr_assert_eq(ks_test_read_file(ks_cache_path(cache, entries[0], path, sizeof(path)), &disk,
				       &dlen),
		     0);
	cr_assert_eq(ks_test_read_file(ks_test_fixture("ocsp/good.der"), &fix, &flen), 0);
	cr_assert_eq(dlen, flen);
	cr_assert_arr_eq(disk, fix, flen);
	free(disk);
	free(fix);
	cr_assert_not_null(atomic_load(&entries[1]->current));
	cr_assert_null(atomic_load(&entries[2]->current));
}

Test(fetcher, no_responder_is_reported_once_and_never_fetched)
{
	char logpath[192], line[512];
	int hits = 0;
	FILE *log;

	snprintf(logpath, sizeof(logpath), "%s.log", state_dir);
	log = fopen(logpath, "w+");
	ks_log_set_stream(log);
	ks_log_set_level(KS_LOG_INFO);
	add_cert("noaia", "noaia", NULL, false);
	make_fetcher();
	run_pass();
	run_pass();
	cr_assert_eq(ks_fetcher_start(fetcher), 0);
	ks_fetcher_fetch_all_now(fetcher);
	for (int i = 0; i < 3; i++)
		cr_assert_geq(ks_loop_run_once(loop, 20), 0);
	ks_log_set_stream(NULL);
	rewind(log);
	while (fgets(line, sizeof(line), log))
		if (strstr(line, "[cert noaia]") && strstr(line, "no OCSP URL"))
			hits++;
	fclose(log);
	unlink(logpath);
	cr_assert_eq(hits, 1, "reported %d times", hits);
	cr_assert_eq(result(0)->attempts, 0);
	cr_assert_eq(fault_server_count(&srv, "conn "), 0, "nothing may be fetched");
}

Test(fetcher, long_request_urls_are_posted)
{
	char u[400];
	char pad[260];

	memset(pad, 'p', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	snprintf(u, sizeof(u), "%s/der/good/%s", srv.base, pad);
	add_cert("ecdsa", "ecdsa", u, false);
	make_fetcher();
	run_pass();
	cr_assert_eq(result(0)->outcome, KS_FETCH_OK, "%s", result(0)->detail);
	cr_assert_not(result(0)->used_get);
	cr_assert_eq(fault_server_count(&srv, "POST /der/good/ppp"), 1);
	cr_assert_eq(fault_server_count(&srv, "GET"), 0);
}

/* A good staple first, then each bad response: the good one stays, on disk and published. */
Test(fetcher, rejected_responses_never_replace_the_good_staple)
{
	static const struct {
		const char *fixture, *verdict;
	} bad[] = {
		{ "expired", "expired" },
		{ "wrongkey", "untrusted-signer" },
		{ "othercert", "certid-mismatch" },
		{ "badsig", "bad-signature" },
		{ "html", "malformed" },
		{ "truncated", "malformed" },
		{ "trylater", "not-successful" },
		{ "notyet", "not-yet-valid" },
		{ "nonext", "no-next-update" },
		{ "delegate-noeku", "delegate-no-eku" },
	};
	char u[128], path[4096];
	struct ks_staple *good;
	uint8_t *before, *after;
	size_t blen, alen, i;

	url(u, sizeof(u), &srv, "ok");
	add_cert("ecdsa", "ecdsa", u, false);
	make_fetcher();
	copy_fixture("good");
	run_pass();
	cr_assert_eq(result(0)->outcome, KS_FETCH_OK, "%s", result(0)->detail);
	good = atomic_load(&entries[0]->current);
	cr_assert_not_null(good);
	ks_cache_path(cache, entries[0], path, sizeof(path));
	cr_assert_eq(ks_test_read_file(path, &before, &blen), 0);

	for (i = 0; i < KS_ARRAY_SIZE(bad); i++) {
		copy_fixture(bad[i].fixture);
		run_pass();
		cr_assert_eq(result(0)->outcome, KS_FETCH_REJECTED, "%s: %s", bad[i].fixture,
			     ks_fetch_outcome_name(result(0)->outcome));
		cr_assert(result(0)->have_verdict);
		cr_assert_str_eq(ks_verdict_name(result(0)->verdict), bad[i].verdict, "%s",
				 bad[i].fixture);
		cr_assert_eq(result(0)->failures, i + 1);
		cr_assert_eq(atomic_load(&entries[0]->current), good,
			     "%s replaced the published staple", bad[i].fixture);
		cr_assert_eq(ks_test_read_file(path, &after, &alen), 0);
		cr_assert_eq(alen, blen, "%s changed the state file", bad[i].fixture);
		cr_assert_arr_eq(after, before, blen);
		free(after);
	}
	free(before);
	/* And a good response again resets the failure count. */
	copy_fixture("good");
	run_pass();
	cr_assert_eq(result(0)->failures, 0);
}

Test(fetcher, http_failures_keep_the_staple_and_back_off)
{
	char u[128];
	uint8_t *der;
	size_t len;
	struct ks_ocsp_result vr;
	struct ks_staple *good;
	int64_t now;

	url(u, sizeof(u), &srv, "500");
	add_cert("ecdsa", "ecdsa", u, false);
	make_fetcher();
	cr_assert_eq(ks_test_read_file(ks_test_fixture("ocsp/good.der"), &der, &len), 0);
	cr_assert_eq(ks_cache_submit(cache, entries[0], der, len, &vr), 1);
	free(der);
	good = atomic_load(&entries[0]->current);

	run_pass();
	now = ks_now(&ks_clock_real);
	cr_assert_eq(result(0)->outcome, KS_FETCH_HTTP_ERROR);
	cr_assert_eq(result(0)->http_err, KS_HTTP_ERR_STATUS);
	cr_assert_eq(result(0)->http_status, 500);
	cr_assert_str_eq(result(0)->detail, "HTTP status 500");
	cr_assert(strstr(entries[0]->last_error, "HTTP status 500"), "%s", entries[0]->last_error);
	cr_assert_eq(atomic_load(&entries[0]->current), good);
	cr_assert_eq(result(0)->failures, 1);
	/* backoff_base after the first failure, doubled after the second. */
	cr_assert_geq(result(0)->next_attempt, now + 60 - 2);
	cr_assert_leq(result(0)->next_attempt, now + 60 + 2);
	run_pass();
	now = ks_now(&ks_clock_real);
	cr_assert_eq(result(0)->failures, 2);
	cr_assert_geq(result(0)->next_attempt, now + 120 - 2);
	cr_assert_leq(result(0)->next_attempt, now + 120 + 2);
	cr_assert_eq(atomic_load(&entries[0]->current), good);
}

Test(fetcher, global_concurrency_limit)
{
	char u1[128], u2[128], name[16];
	int64_t t0;
	size_t i;

	start_server(&srv2);
	url(u1, sizeof(u1), &srv, "delay");
	url(u2, sizeof(u2), &srv2, "delay");
	for (i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "c%zu", i);
		add_cert("ecdsa", name, i % 2 ? u2 : u1, true);
	}
	conf.max_concurrency = 3;
	conf.max_per_responder = 2;
	make_fetcher();
	t0 = ks_monotonic_ms();
	run_pass();
	/* 12 requests of >= 100 ms, 3 at a time: at least 4 rounds. */
	cr_assert_geq(ks_monotonic_ms() - t0, 390);
	cr_assert_eq(ks_fetcher_peak_inflight(fetcher), 3);
	cr_assert_eq(fault_server_count(&srv, "GET /delay"), 6);
	cr_assert_eq(fault_server_count(&srv2, "GET /delay"), 6);
	for (i = 0; i < 12; i++) {
		cr_assert_eq(result(i)->attempts, 1);
		/* The served stub is not a full OCSP response: judged and rejected. */
		cr_assert_eq(result(i)->outcome, KS_FETCH_REJECTED, "%s", result(i)->detail);
	}
}

Test(fetcher, per_responder_limit_queues_the_rest)
{
	char u[128], name[16];
	size_t i;

	url(u, sizeof(u), &srv, "delay");
	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "c%zu", i);
		add_cert("ecdsa", name, u, true);
	}
	conf.max_per_responder = 1;
	make_fetcher();
	run_pass();
	/* Our own queue holds them back (curl's host limit alone would still count them). */
	cr_assert_eq(ks_fetcher_peak_inflight(fetcher), 1);
	cr_assert_eq(fault_server_count(&srv, "GET /delay"), 5);
	cr_assert_eq(fault_server_count(&srv, "conn "), 1, "one keep-alive connection reused");
}

Test(fetcher, schedule_retries_after_backoff)
{
	char u[128];
	int64_t t0;

	url(u, sizeof(u), &srv, "500");
	add_cert("ecdsa", "ecdsa", u, false);
	conf.sched.min_delay = 1;
	conf.sched.backoff_base = 1;
	conf.sched.backoff_max = 1;
	make_fetcher();
	cr_assert_eq(ks_fetcher_start(fetcher), 0);
	t0 = ks_monotonic_ms();
	while (result(0)->attempts < 3 && ks_monotonic_ms() - t0 < 8000)
		cr_assert_geq(ks_loop_run_once(loop, 200), 0);
	cr_assert_eq(result(0)->attempts, 3, "attempts %u", result(0)->attempts);
	/* Now, then about 1 s apart: not earlier than the back-off allows. */
	cr_assert_geq(ks_monotonic_ms() - t0, 1500);
	cr_assert_eq(fault_server_count(&srv, "GET /500"), 3);
}

Test(fetcher, start_fetches_what_is_due_then_waits)
{
	char u[128];
	int64_t t0;

	url(u, sizeof(u), &srv, "der/good");
	add_cert("ecdsa", "ecdsa", u, false);
	make_fetcher();
	cr_assert_eq(ks_fetcher_start(fetcher), 0);
	t0 = ks_monotonic_ms();
	while (result(0)->attempts < 1 && ks_monotonic_ms() - t0 < 5000)
		cr_assert_geq(ks_loop_run_once(loop, 100), 0);
	cr_assert_eq(result(0)->outcome, KS_FETCH_OK, "%s", result(0)->detail);
	/* Refreshed per policy (hours away): nothing more for a while... */
	cr_assert_gt(result(0)->next_attempt, ks_now(&ks_clock_real) + 60);
	for (int i = 0; i < 4; i++)
		cr_assert_geq(ks_loop_run_once(loop, 50), 0);
	cr_assert_eq(result(0)->attempts, 1);
	/* ...unless asked. */
	ks_fetcher_fetch_all_now(fetcher);
	t0 = ks_monotonic_ms();
	while (result(0)->attempts < 2 && ks_monotonic_ms() - t0 < 5000)
		cr_assert_geq(ks_loop_run_once(loop, 100), 0);
	cr_assert_eq(result(0)->attempts, 2);
	cr_assert_eq(fault_server_count(&srv, "GET /der/good/"), 2);
}

Test(fetcher, start_waits_for_a_loaded_staple)
{
	char u[128];
	uint8_t *der;
	size_t len;
	struct ks_ocsp_result vr;

	url(u, sizeof(u), &srv, "der/good");
	add_cert("ecdsa", "ecdsa", u, false);
	cr_assert_eq(ks_test_read_file(ks_test_fixture("ocsp/good.der"), &der, &len), 0);
	cr_assert_eq(ks_cache_submit(cache, entries[0], der, len, &vr), 1);
	free(der);
	make_fetcher();
	cr_assert_eq(ks_fetcher_start(fetcher), 0);
	for (int i = 0; i < 4; i++)
		cr_assert_geq(ks_loop_run_once(loop, 50), 0);
	cr_assert_eq(result(0)->attempts, 0, "a valid staple is not refetched at start");
	cr_assert_gt(result(0)->next_attempt, ks_now(&ks_clock_real));
}

Test(fetcher, empty_pass_calls_back_from_the_loop)
{
	add_cert("noaia", "noaia", NULL, false);
	make_fetcher();
	run_pass(); /* asserts the callback is not synchronous */
}

Test(fetcher, second_pass_while_running_is_refused)
{
	char u[128];
	int done = 0;

	url(u, sizeof(u), &srv, "delay");
	add_cert("ecdsa", "ecdsa", u, false);
	make_fetcher();
	cr_assert_eq(ks_fetcher_one_pass(fetcher, pass_done, &done), 0);
	cr_assert_eq(ks_fetcher_one_pass(fetcher, pass_done, &done), -EBUSY);
	for (int64_t t0 = ks_monotonic_ms(); !done && ks_monotonic_ms() - t0 < 5000;)
		cr_assert_geq(ks_loop_run_once(loop, 100), 0);
	cr_assert_eq(done, 1);
}

Test(fetcher, free_with_requests_in_flight)
{
	char u[128];

	url(u, sizeof(u), &srv, "slow");
	add_cert("ecdsa", "ecdsa", u, false);
	make_fetcher();
	cr_assert_eq(ks_fetcher_start(fetcher), 0);
	for (int i = 0; i < 4; i++)
		cr_assert_geq(ks_loop_run_once(loop, 50), 0);
	cr_assert_eq(ks_fetcher_inflight(fetcher), 1);
	ks_fetcher_free(fetcher);
	fetcher = NULL;
	for (int i = 0; i < 4; i++)
		cr_assert_geq(ks_loop_run_once(loop, 50), 0);
	cr_assert_eq(ks_loop_busy(loop), 0);
}

Test(fetcher, certificates_added_during_a_pass_join_it)
{
	char u1[128], u2[128];
	size_t done, total;
	int finished = 0;

	url(u1, sizeof(u1), &srv, "der/good");
	url(u2, sizeof(u2), &srv, "der/good-rsa");
	add_cert("ecdsa", "ecdsa", u1, false);
	make_fetcher();
	cr_assert_eq(ks_fetcher_one_pass(fetcher, pass_done, &finished), 0);
	cr_assert_geq(ks_loop_run_once(loop, 0), 0); /* the first request is under way */
	add_cert("rsa", "rsa", u2, false);
	cr_assert_eq(ks_fetcher_add(fetcher, entries[1]), 0);
	ks_fetcher_progress(fetcher, &done, &total);
	cr_assert_eq(total, 2);
	for (int64_t t0 = ks_monotonic_ms(); !finished && ks_monotonic_ms() - t0 < 10000;)
		cr_assert_geq(ks_loop_run_once(loop, 100), 0);
	cr_assert_eq(finished, 1);
	cr_assert_eq(result(0)->outcome, KS_FETCH_OK, "%s", result(0)->detail);
	cr_assert_eq(result(1)->outcome, KS_FETCH_OK, "%s", result(1)->detail);
}

/* `kstaple fetch` loads certificates more slowly than a local responder answers. */
Test(fetcher, a_held_pass_waits_for_late_certificates)
{
	char u1[128], u2[128];
	size_t done, total;
	int finished = 0;

	url(u1, sizeof(u1), &srv, "der/good");
	url(u2, sizeof(u2), &srv, "der/good-rsa");
	add_cert("ecdsa", "ecdsa", u1, false);
	make_fetcher();
	cr_assert_eq(ks_fetcher_one_pass(fetcher, pass_done, &finished), 0);
	ks_fetcher_pass_hold(fetcher, true);
	/* The only certificate finishes; the held pass must not end. */
	for (int64_t t0 = ks_monotonic_ms(); ks_monotonic_ms() - t0 < 10000;) {
		cr_assert_geq(ks_loop_run_once(loop, 50), 0);
		ks_fetcher_progress(fetcher, &done, &total);
		if (done == 1)
			break;
	}
	cr_assert_eq(result(0)->outcome, KS_FETCH_OK, "%s", result(0)->detail);
	for (int i = 0; i < 5; i++)
		cr_assert_geq(ks_loop_run_once(loop, 20), 0);
	cr_assert_eq(finished, 0, "the pass ended while held");
	/* A late certificate still joins the pass, which ends once released and done. */
	add_cert("rsa", "rsa", u2, false);
	cr_assert_eq(ks_fetcher_add(fetcher, entries[1]), 0);
	ks_fetcher_pass_hold(fetcher, false);
	cr_assert_eq(finished, 0, "the pass callback must come from the loop");
	for (int64_t t0 = ks_monotonic_ms(); !finished && ks_monotonic_ms() - t0 < 10000;)
		cr_assert_geq(ks_loop_run_once(loop, 100), 0);
	cr_assert_eq(finished, 1);
	cr_assert_eq(result(1)->outcome, KS_FETCH_OK, "%s", result(1)->detail);
}

Test(fetcher, releasing_a_finished_held_pass_ends_it)
{
	char u1[128];
	int finished = 0;

	url(u1, sizeof(u1), &srv, "der/good");
	add_cert("ecdsa", "ecdsa", u1, false);
	make_fetcher();
	cr_assert_eq(ks_fetcher_one_pass(fetcher, pass_done, &finished), 0);
	ks_fetcher_pass_hold(fetcher, true);
	for (int64_t t0 = ks_monotonic_ms();
	     result(0)->outcome == KS_FETCH_PENDING && ks_monotonic_ms() - t0 < 10000;)
		cr_assert_geq(ks_loop_run_once(loop, 50), 0);
	cr_assert_eq(finished, 0);
	ks_fetcher_pass_hold(fetcher, false);
	for (int64_t t0 = ks_monotonic_ms(); !finished && ks_monotonic_ms() - t0 < 5000;)
		cr_assert_geq(ks_loop_run_once(loop, 50), 0);
	cr_assert_eq(finished, 1);
}

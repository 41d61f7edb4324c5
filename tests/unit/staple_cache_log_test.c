// SPDX-License-Identifier: MIT
/*
 * staple_cache: what the cache logs while a responder keeps failing, and while state_dir
 * cannot be written. A failure is logged when it starts an episode or changes its cause, a
 * repeat only counted; the success that ends the episode says how many failures there were.
 * A persistence failure is logged once per transition for the whole cache, not per staple.
 * (The rest of the cache is tested in staple_cache_test.c.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "helpers/fixtures.h"
#include "kstaple/log.h"
#include "kstaple/staple_cache.h"

struct lenv {
	char tmp[256], state[300];
	int64_t now;
	struct ks_clock clk;
	struct ks_cache *cache;
	struct ks_cert *cert[2];
	struct ks_cache_entry *entry[2];
	FILE *log;
};

static struct ks_cert *load_leaf(const char *leaf, int64_t now)
{
	char chain[4096];
	struct ks_cert_spec spec = { .name = leaf, .chain_path = chain };
	struct ks_cert *c = NULL;

	snprintf(chain, sizeof(chain), "%s", ks_test_fixturef("pki/leaf/%s/chain.pem", leaf));
	cr_assert_eq(ks_cert_load(&spec, now, &c), 0, "loading leaf %s", leaf);
	return c;
}

/* A cache with one entry per leaf named (one or two). */
static void lenv_init(struct lenv *e, const char *leaf0, const char *leaf1)
{
	if (!ks_test_fixtures_dir())
		cr_skip_test("KS_FIXTURES is not set (scripts/mkfixtures.sh DIR)");
	memset(e, 0, sizeof(*e));
	cr_assert_eq(ks_test_tmpdir(e->tmp, sizeof(e->tmp)), 0);
	snprintf(e->state, sizeof(e->state), "%s/state", e->tmp);
	e->now = time(NULL);
	ks_clock_fixed(&e->clk, &e->now);
	e->cache = ks_cache_new(e->state, &e->clk, KS_OCSP_DEFAULT_SKEW);
	cr_assert_not_null(e->cache);
	e->cert[0] = load_leaf(leaf0, e->now);
	cr_assert_eq(ks_cache_add(e->cache, e->cert[0], &e->entry[0]), 0);
	if (leaf1) {
		e->cert[1] = load_leaf(leaf1, e->now);
		cr_assert_eq(ks_cache_add(e->cache, e->cert[1], &e->entry[1]), 0);
	}
	e->log = tmpfile();
	cr_assert_not_null(e->log);
	ks_log_set_level(KS_LOG_INFO);
	ks_log_set_timestamps(0);
	ks_log_set_stream(e->log);
}

static void lenv_fini(struct lenv *e)
{
	ks_log_set_stream(NULL);
	fclose(e->log);
	ks_cache_free(e->cache);
	ks_cert_free(e->cert[0]);
	ks_cert_free(e->cert[1]);
	unlink(e->state); /* when a test replaced the directory with a file */
	ks_test_rmdir(e->state);
	ks_test_rmdir(e->tmp);
}

/* Lines of the log so far containing every one of the (NULL-terminated) substrings. */
static int count_lines(struct lenv *e, ...)
{
	char line[2048];
	int n = 0;

	fflush(e->log);
	rewind(e->log);
	while (fgets(line, sizeof(line), e->log)) {
		va_list ap;
		const char *s;
		bool all = true;

		va_start(ap, e);
		while ((s = va_arg(ap, const char *)))
			all = all && strstr(line, s);
		va_end(ap);
		n += all;
	}
	fseek(e->log, 0, SEEK_END);
	return n;
}

static int submit_fixture(struct lenv *e, int i, const char *name)
{
	struct ks_ocsp_result res;
	uint8_t *der;
	size_t len;
	int ret;

	cr_assert_eq(ks_test_read_file(ks_test_fixturef("ocsp/%s", name), &der, &len), 0);
	ret = ks_cache_submit(e->cache, e->entry[i], der, len, &res);
	free(der);
	return ret;
}

Test(staple_cache_log, repeated_failures_are_logged_once_and_counted)
{
	struct lenv e;
	int k;

	lenv_init(&e, "ecdsa", NULL);
	cr_assert_eq(submit_fixture(&e, 0, "good.der"), 1);
	for (k = 0; k < 5; k++) {
		char why[64];

		/* The text varies between retries, the cause does not. */
		snprintf(why, sizeof(why), "timeout: no complete response after %d ms", 1000 + k);
		ks_cache_note_http_failure(e.cache, e.entry[0], KS_HTTP_ERR_TIMEOUT, why);
	}
	cr_assert_eq(count_lines(&e, "warning: [cert ecdsa] OCSP fetch failed: timeout", NULL), 1);
	cr_assert_eq(atomic_load(&e.entry[0]->stats.failures), 5);
	cr_assert_eq(e.entry[0]->fail_streak, 5);
	cr_assert_str_eq(e.entry[0]->last_error, "timeout: no complete response after 1004 ms");

	/* Another cause within the same episode is news: logged once too. */
	for (k = 0; k < 3; k++)
		ks_cache_note_http_failure(e.cache, e.entry[0], KS_HTTP_ERR_STATUS,
					   "HTTP status 500");
	cr_assert_eq(count_lines(&e, "OCSP fetch failed: HTTP status 500", NULL), 1);
	for (k = 0; k < 3; k++)
		cr_assert_eq(submit_fixture(&e, 0, "expired.der"), 0);
	cr_assert_eq(count_lines(&e, "warning: [cert ecdsa] rejected OCSP response", NULL), 1);
	cr_assert_eq(atomic_load(&e.entry[0]->stats.failures), 11);
	cr_assert_eq(atomic_load(&e.entry[0]->stats.rejected[KS_V_EXPIRED]), 3);

	/* The success ending the episode says how long it was, once. */
	cr_assert_eq(submit_fixture(&e, 0, "good.der"), 1);
	cr_assert_eq(count_lines(&e,
				 "info: [cert ecdsa] OCSP responses are accepted again after 11 "
				 "failed attempts",
				 NULL),
		     1);
	cr_assert_eq(e.entry[0]->fail_streak, 0);
	cr_assert_eq(submit_fixture(&e, 0, "good.der"), 1);
	cr_assert_eq(count_lines(&e, "accepted again", NULL), 1);

	/* A new episode is logged again. */
	ks_cache_note_http_failure(e.cache, e.entry[0], KS_HTTP_ERR_TIMEOUT, "timeout");
	cr_assert_eq(count_lines(&e, "OCSP fetch failed: timeout", NULL), 2);
	lenv_fini(&e);
}

Test(staple_cache_log, status_and_local_failures_compare_the_text)
{
	struct lenv e;

	lenv_init(&e, "ecdsa", NULL);
	ks_cache_note_failure(e.cache, e.entry[0], "connection refused");
	ks_cache_note_failure(e.cache, e.entry[0], "connection refused");
	ks_cache_note_failure(e.cache, e.entry[0], "HTTP status 503");
	ks_cache_note_http_failure(e.cache, e.entry[0], KS_HTTP_ERR_STATUS, "HTTP status 503");
	ks_cache_note_http_failure(e.cache, e.entry[0], KS_HTTP_ERR_STATUS, "HTTP status 500");
	cr_assert_eq(count_lines(&e, "OCSP fetch failed: connection refused", NULL), 1);
	cr_assert_eq(count_lines(&e, "OCSP fetch failed: HTTP status 503", NULL), 1);
	cr_assert_eq(count_lines(&e, "OCSP fetch failed: HTTP status 500", NULL), 1);
	cr_assert_eq(count_lines(&e, "nothing to staple yet", NULL), 3);
	cr_assert_eq(atomic_load(&e.entry[0]->stats.failures), 5);
	lenv_fini(&e);
}

Test(staple_cache_log, revocation_is_announced_once)
{
	struct lenv e;

	lenv_init(&e, "revoked", NULL);
	cr_assert_eq(submit_fixture(&e, 0, "revoked.der"), 1);
	cr_assert_eq(submit_fixture(&e, 0, "revoked.der"), 1);
	cr_assert_eq(submit_fixture(&e, 0, "revoked.der"), 1);
	cr_assert_eq(count_lines(&e, "error: [cert revoked]", "is REVOKED since", NULL), 1);
	/* The refreshes are still visible, as routine lines. */
	cr_assert_eq(count_lines(&e,
				 "info: [cert revoked] stapling OCSP response (fetched): revoked",
				 NULL),
		     2);
	cr_assert_eq(atomic_load(&e.entry[0]->stats.successes), 3);
	lenv_fini(&e);
}

Test(staple_cache_log, unwritable_state_dir_is_reported_once_per_transition)
{
	struct ks_staple *st;
	struct lenv e;
	int k;

	lenv_init(&e, "ecdsa", "rsa");
	/* state_dir replaced by a file: every write fails (ENOTDIR), whoever writes. */
	cr_assert_eq(rmdir(e.state), 0);
	cr_assert_eq(close(creat(e.state, 0600)), 0);
	for (k = 0; k < 3; k++) {
		cr_assert_eq(submit_fixture(&e, 0, "good.der"), 1);
		cr_assert_eq(submit_fixture(&e, 1, "good-rsa.der"), 1);
	}
	cr_assert_eq(count_lines(&e, "kept in memory only", "cannot be written", e.state, NULL), 1);
	cr_assert_eq(count_lines(&e, "cannot save the OCSP response", NULL), 1);
	cr_assert_eq(atomic_load(&e.entry[0]->stats.persist_failures), 3);
	cr_assert_eq(atomic_load(&e.entry[1]->stats.persist_failures), 3);
	cr_assert_not(e.entry[0]->persisted);
	/* ...and the staples are served from memory meanwhile. */
	st = ks_staple_acquire(e.entry[1]);
	cr_assert_not_null(st);
	ks_staple_release(st);

	cr_assert_eq(unlink(e.state), 0);
	cr_assert_eq(mkdir(e.state, 0700), 0);
	cr_assert_eq(submit_fixture(&e, 0, "good.der"), 1);
	cr_assert_eq(submit_fixture(&e, 1, "good-rsa.der"), 1);
	cr_assert_eq(count_lines(&e, "info: state_dir", "can be written again", NULL), 1);
	cr_assert(e.entry[0]->persisted && e.entry[1]->persisted);

	/* The next failure is a new transition. */
	ks_test_rmdir(e.state);
	cr_assert_eq(close(creat(e.state, 0600)), 0);
	cr_assert_eq(submit_fixture(&e, 0, "good.der"), 1);
	cr_assert_eq(count_lines(&e, "kept in memory only", NULL), 2);
	lenv_fini(&e);
}

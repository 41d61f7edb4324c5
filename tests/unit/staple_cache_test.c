// SPDX-License-Identifier: MIT
/*
 * staple_cache: submit/verify/publish, persistence and its failure modes, crash safety, and
 * the lock-free reader protocol under concurrent publication.
 *
 * Responses come from the generated fixtures (KS_FIXTURES/ocsp, listed in expected.tsv) and,
 * where a test needs precise thisUpdate/nextUpdate values, are signed here with the fixture
 * intermediate CA's key. The clock is a fixed one set to the real time at the start of each
 * test (the fixtures' times are relative to when they were generated).
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>

#include "helpers/fixtures.h"
#include "kstaple/log.h"
#include "kstaple/staple_cache.h"

struct env {
	char tmp[256];	 /* removed at the end */
	char state[300]; /* tmp/state: the cache's state_dir */
	int64_t now;
	struct ks_clock clk;
	struct ks_cache *cache;
	struct ks_cert *cert;
	struct ks_cache_entry *entry;
};

static FILE *log_capture;

static void capture_start(void)
{
	log_capture = tmpfile();
	cr_assert_not_null(log_capture);
	ks_log_set_level(KS_LOG_INFO);
	ks_log_set_timestamps(0);
	ks_log_set_stream(log_capture);
}

/* The captured log as a malloc'd string; capturing stops. */
static char *capture_end(void)
{
	long n;
	char *s;

	ks_log_set_stream(NULL);
	fflush(log_capture);
	n = ftell(log_capture);
	s = calloc(1, (size_t)n + 1);
	rewind(log_capture);
	cr_assert_eq(fread(s, 1, (size_t)n, log_capture), (size_t)n);
	fclose(log_capture);
	log_capture = NULL;
	return s;
}

static struct ks_cert *load_leaf(const char *leaf, int64_t now)
{
	char chain[4096];
	struct ks_cert_spec spec = { .name = leaf, .chain_path = chain };
	struct ks_cert *c = NULL;

	snprintf(chain, sizeof(chain), "%s", ks_test_fixturef("pki/leaf/%s/chain.pem", leaf));
	cr_assert_eq(ks_cert_load(&spec, now, &c), 0, "loading leaf %s", leaf);
	return c;
}

/* A tmpfs directory when there is one: the hammer test fsyncs thousands of times. */
static void make_tmp(char *dir, size_t len, bool prefer_shm)
{
	if (prefer_shm && access("/dev/shm", W_OK) == 0) {
		snprintf(dir, len, "/dev/shm/kstaple-cache-XXXXXX");
		if (mkdtemp(dir))
			return;
	}
	cr_assert_eq(ks_test_tmpdir(dir, len), 0);
}

static void env_init_shm(struct env *e, const char *leaf, bool shm)
{
	if (!ks_test_fixtures_dir())
		cr_skip_test("KS_FIXTURES is not set (scripts/mkfixtures.sh DIR)");
	memset(e, 0, sizeof(*e));
	make_tmp(e->tmp, sizeof(e->tmp), shm);
	snprintf(e->state, sizeof(e->state), "%s/state", e->tmp);
	e->now = time(NULL);
	ks_clock_fixed(&e->clk, &e->now);
	e->cache = ks_cache_new(e->state, &e->clk, KS_OCSP_DEFAULT_SKEW);
	cr_assert_not_null(e->cache);
	e->cert = load_leaf(leaf, e->now);
	cr_assert_eq(ks_cache_add(e->cache, e->cert, &e->entry), 0);
}

static void env_init(struct env *e, const char *leaf)
{
	env_init_shm(e, leaf, false);
}

static void env_fini(struct env *e)
{
	ks_cache_free(e->cache);
	ks_cert_free(e->cert);
	/* ks_test_rmdir removes plain files only: empty the state directory first. */
	ks_test_rmdir(e->state);
	unlink(e->state); /* when a test replaced it with a file */
	ks_test_rmdir(e->tmp);
}

static void read_file(const char *path, uint8_t **buf, size_t *len)
{
	cr_assert_eq(ks_test_read_file(path, buf, len), 0, "reading %s", path);
}

static void read_fixture(const char *name, uint8_t **buf, size_t *len)
{
	read_file(ks_test_fixturef("ocsp/%s", name), buf, len);
}

static void write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	cr_assert_not_null(f, "creating %s", path);
	cr_assert_eq(fwrite(buf, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

static const char *state_path(struct env *e, struct ks_cache_entry *entry, char *buf)
{
	cr_assert_not_null(ks_cache_path(e->cache, entry, buf, PATH_MAX));
	return buf;
}

static void assert_file_equals(const char *path, const uint8_t *want, size_t want_len)
{
	uint8_t *got;
	size_t len;

	read_file(path, &got, &len);
	cr_assert_eq(len, want_len, "%s: %zu bytes, want %zu", path, len, want_len);
	cr_assert_eq(memcmp(got, want, len), 0, "%s differs", path);
	free(got);
}

static void assert_published(struct ks_cache_entry *entry, const uint8_t *der, size_t len)
{
	struct ks_staple *st = ks_staple_acquire(entry);

	cr_assert_not_null(st, "nothing published");
	cr_assert_eq(st->len, len);
	cr_assert_eq(memcmp(st->der, der, len), 0, "published bytes differ");
	ks_staple_release(st);
}

/*
 * An OCSPResponse for c, signed by the fixture intermediate CA (the issuer of every leaf),
 * with exactly the given times. status: V_OCSP_CERTSTATUS_GOOD or _REVOKED.
 */
static uint8_t *make_response(const struct ks_cert *c, int status, int64_t this_update,
			      int64_t next_update, size_t *len)
{
	const char *keyp = ks_test_fixture("pki/ca/intermediate/ca.key");
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	OCSP_CERTID *id = OCSP_cert_to_id(EVP_sha1(), c->leaf, c->issuer);
	ASN1_TIME *tu = ASN1_GENERALIZEDTIME_set(NULL, (time_t)this_update);
	ASN1_TIME *nu = ASN1_GENERALIZEDTIME_set(NULL, (time_t)next_update);
	ASN1_TIME *rt = ASN1_GENERALIZEDTIME_set(NULL, (time_t)this_update - 86400);
	FILE *f = fopen(keyp, "r");
	EVP_PKEY *key;
	OCSP_RESPONSE *r;
	unsigned char *der = NULL;
	int n;

	cr_assert_not_null(f, "%s", keyp);
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	cr_assert(bs && id && tu && nu && rt && key);
	cr_assert_not_null(OCSP_basic_add1_status(
		bs, id, status,
		status == V_OCSP_CERTSTATUS_REVOKED ? OCSP_REVOKED_STATUS_KEYCOMPROMISE : 0, rt, tu,
		nu));
	cr_assert_eq(OCSP_basic_sign(bs, c->issuer, key, EVP_sha256(), NULL, 0), 1);
	r = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
	cr_assert_not_null(r);
	n = i2d_OCSP_RESPONSE(r, &der);
	cr_assert_gt(n, 0);
	*len = (size_t)n;
	OCSP_RESPONSE_free(r);
	OCSP_BASICRESP_free(bs);
	OCSP_CERTID_free(id);
	ASN1_TIME_free(tu);
	ASN1_TIME_free(nu);
	ASN1_TIME_free(rt);
	EVP_PKEY_free(key);
	return der; /* OPENSSL_free */
}

static uint8_t *make_good(struct env *e, int64_t tu_ago, size_t *len)
{
	return make_response(e->cert, V_OCSP_CERTSTATUS_GOOD, e->now - tu_ago,
			     e->now - tu_ago + 7 * 86400, len);
}

Test(staple_cache, submit_good_publishes_and_persists)
{
	struct env e;
	struct ks_ocsp_result res;
	char path[PATH_MAX];
	struct stat sb;
	struct ks_staple *st;
	uint8_t *der;
	size_t len;

	env_init(&e, "ecdsa");
	cr_assert_eq(stat(e.state, &sb), 0);
	cr_assert(S_ISDIR(sb.st_mode));
	cr_assert_eq(sb.st_mode & 0777, 0700, "state_dir mode %o", sb.st_mode & 0777);
	cr_assert_null(ks_staple_acquire(e.entry));

	read_fixture("good.der", &der, &len);
	cr_assert_eq(ks_cache_submit(e.cache, e.entry, der, len, &res), 1);
	cr_assert_eq(res.verdict, KS_V_GOOD);
	st = ks_staple_acquire(e.entry);
	cr_assert_not_null(st);
	cr_assert_eq(st->verdict, KS_V_GOOD);
	cr_assert_eq(st->this_update, res.this_update);
	cr_assert_eq(st->next_update, res.next_update);
	cr_assert_eq(st->fetched_at, e.now);
	ks_staple_release(st);
	assert_published(e.entry, der, len);

	state_path(&e, e.entry, path);
	cr_assert(strstr(path, e.cert->certid_hex), "%s", path);
	assert_file_equals(path, der, len);
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0600, "state file mode %o", sb.st_mode & 0777);
	cr_assert(e.entry->persisted);
	cr_assert_eq(atomic_load(&e.entry->stats.successes), 1);
	cr_assert_eq(atomic_load(&e.entry->stats.failures), 0);
	cr_assert_eq(atomic_load(&e.entry->stats.persist_failures), 0);
	free(der);
	env_fini(&e);
}

/* Every rejected fixture, offered after a good response: nothing changes but the counters. */
Test(staple_cache, rejected_fixtures_keep_the_good_response)
{
	uint8_t *tsv;
	size_t tsv_len, tested = 0;
	char *line, *save = NULL;

	if (!ks_test_fixtures_dir())
		cr_skip_test("KS_FIXTURES is not set");
	read_fixture("expected.tsv", &tsv, &tsv_len);
	for (line = strtok_r((char *)tsv, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char file[64], leaf[64], token[64], path[PATH_MAX], *log;
		struct ks_ocsp_result res;
		struct ks_staple *before, *after;
		uint8_t *good, *bad;
		size_t good_len, bad_len;
		struct env e;

		cr_assert_eq(sscanf(line, "%63s %63s %63s", file, leaf, token), 3, "%s", line);
		if (!strcmp(token, "good") || !strcmp(token, "revoked"))
			continue;
		env_init(&e, leaf);
		good = make_good(&e, 60, &good_len);
		cr_assert_eq(ks_cache_submit(e.cache, e.entry, good, good_len, &res), 1, "%s",
			     file);
		before = ks_staple_acquire(e.entry);

		read_fixture(file, &bad, &bad_len);
		capture_start();
		cr_assert_eq(ks_cache_submit(e.cache, e.entry, bad, bad_len, &res), 0, "%s", file);
		log = capture_end();
		cr_assert_str_eq(ks_verdict_name(res.verdict), token, "%s", file);
		after = ks_staple_acquire(e.entry);
		cr_assert_eq(after, before, "%s replaced the good response", file);
		assert_published(e.entry, good, good_len);
		assert_file_equals(state_path(&e, e.entry, path), good, good_len);
		cr_assert_eq(atomic_load(&e.entry->stats.rejected[res.verdict]), 1, "%s", file);
		cr_assert_eq(atomic_load(&e.entry->stats.failures), 1, "%s", file);
		cr_assert_eq(atomic_load(&e.entry->stats.successes), 1, "%s", file);
		cr_assert(strstr(e.entry->last_error, ks_verdict_str(res.verdict)), "%s: %s", file,
			  e.entry->last_error);
		cr_assert_eq(e.entry->last_error_at, e.now);
		cr_assert(strstr(log, "warning: [cert ") && strstr(log, leaf), "%s: %s", file, log);
		ks_staple_release(before);
		ks_staple_release(after);
		free(log);
		free(bad);
		OPENSSL_free(good);
		env_fini(&e);
		tested++;
	}
	free(tsv);
	cr_assert_geq(tested, 10, "only %zu rejected fixtures in expected.tsv", tested);
}

Test(staple_cache, rejected_with_nothing_published)
{
	struct env e;
	struct ks_ocsp_result res;
	char path[PATH_MAX];
	uint8_t *der;
	size_t len;

	env_init(&e, "ecdsa");
	read_fixture("expired.der", &der, &len);
	cr_assert_eq(ks_cache_submit(e.cache, e.entry, der, len, &res), 0);
	cr_assert_eq(res.verdict, KS_V_EXPIRED);
	cr_assert_null(ks_staple_acquire(e.entry));
	cr_assert_eq(access(state_path(&e, e.entry, path), F_OK), -1, "rejected response saved");
	free(der);
	env_fini(&e);
}

Test(staple_cache, older_response_does_not_replace_newer)
{
	struct env e;
	struct ks_ocsp_result res;
	char path[PATH_MAX];
	uint8_t *newer, *older, *newest;
	size_t newer_len, older_len, newest_len;

	env_init(&e, "ecdsa");
	newer = make_good(&e, 100, &newer_len);
	older = make_good(&e, 3600, &older_len);
	newest = make_good(&e, 50, &newest_len);
	cr_assert_eq(ks_cache_submit(e.cache, e.entry, newer, newer_len, &res), 1);
	cr_assert_eq(ks_cache_submit(e.cache, e.entry, older, older_len, &res), 0);
	cr_assert_eq(res.verdict, KS_V_GOOD, "the older response itself is fine");
	assert_published(e.entry, newer, newer_len);
	assert_file_equals(state_path(&e, e.entry, path), newer, newer_len);
	cr_assert_eq(atomic_load(&e.entry->stats.failures), 1);
	cr_assert(strstr(e.entry->last_error, "older than the published response"), "%s",
		  e.entry->last_error);
	/* Same thisUpdate is accepted (a re-fetch), a newer one replaces. */
	cr_assert_eq(ks_cache_submit(e.cache, e.entry, newer, newer_len, &res), 1);
	cr_assert_eq(ks_cache_submit(e.cache, e.entry, newest, newest_len, &res), 1);
	assert_published(e.entry, newest, newest_len);
	assert_file_equals(path, newest, newest_len);
	OPENSSL_free(newer);
	OPENSSL_free(older);
	OPENSSL_free(newest);
	env_fini(&e);
}

Test(staple_cache, revoked_is_published_and_logged_as_error)
{
	struct env e;
	struct ks_ocsp_result res;
	struct ks_staple *st;
	char path[PATH_MAX], *log;
	uint8_t *der;
	size_t len;

	env_init(&e, "revoked");
	read_fixture("revoked.der", &der, &len);
	capture_start();
	cr_assert_eq(ks_cache_submit(e.cache, e.entry, der, len, &res), 1);
	log = capture_end();
	cr_assert_eq(res.verdict, KS_V_REVOKED);
	st = ks_staple_acquire(e.entry);
	cr_assert_not_null(st);
	cr_assert_eq(st->verdict, KS_V_REVOKED);
	ks_staple_release(st);
	assert_file_equals(state_path(&e, e.entry, path), der, len);
	cr_assert(strstr(log, "error: [cert revoked] certificate revoked"), "%s", log);
	cr_assert(strstr(log, "REVOKED since"), "%s", log);
	cr_assert(strstr(log, "keyCompromise"), "%s", log);
	free(log);
	free(der);
	env_fini(&e);
}

/* As root chmod does not stop writes: replace the state directory with a regular file. */
Test(staple_cache, persist_failure_keeps_the_staple_in_memory)
{
	struct env e;
	struct ks_ocsp_result res;
	char *log;
	uint8_t *der;
	size_t len;

	env_init(&e, "ecdsa");
	cr_assert_eq(rmdir(e.state), 0);
	write_file(e.state, "not a directory", 15);
	read_fixture("good.der", &der, &len);
	capture_start();
	cr_assert_eq(ks_cache_submit(e.cache, e.entry, der, len, &res), 1);
	log = capture_end();
	assert_published(e.entry, der, len);
	cr_assert_eq(atomic_load(&e.entry->stats.persist_failures), 1);
	cr_assert_eq(atomic_load(&e.entry->stats.successes), 1);
	cr_assert_not(e.entry->persisted);
	cr_assert(strstr(log, "cannot save") && strstr(log, e.state), "%s", log);
	cr_assert(strstr(log, strerror(ENOTDIR)), "%s", log);
	free(log);
	free(der);
	env_fini(&e);
}

static struct ks_cache *reopen(struct env *e)
{
	ks_cache_free(e->cache);
	e->cache = ks_cache_new(e->state, &e->clk, KS_OCSP_DEFAULT_SKEW);
	cr_assert_not_null(e->cache);
	cr_assert_eq(ks_cache_add(e->cache, e->cert, &e->entry), 0);
	return e->cache;
}

Test(staple_cache, load_publishes_a_valid_persisted_response)
{
	struct env e;
	struct ks_ocsp_result res;
	struct ks_staple *st;
	char path[PATH_MAX];
	struct stat sb;
	uint8_t *der;
	size_t len;

	env_init(&e, "ecdsa");
	read_fixture("good.der", &der, &len);
	cr_assert_eq(ks_cache_submit(e.cache, e.entry, der, len, &res), 1);
	reopen(&e);
	cr_assert_null(ks_staple_acquire(e.entry));
	e.now += 3600;
	cr_assert_eq(ks_cache_load(e.cache, e.entry), 1);
	st = ks_staple_acquire(e.entry);
	cr_assert_not_null(st);
	cr_assert_eq(stat(state_path(&e, e.entry, path), &sb), 0);
	cr_assert_eq(st->fetched_at, (int64_t)sb.st_mtime);
	cr_assert_eq(st->this_update, res.this_update);
	ks_staple_release(st);
	assert_published(e.entry, der, len);
	cr_assert(e.entry->persisted);
	free(der);
	env_fini(&e);
}

Test(staple_cache, load_without_file_is_silent)
{
	struct env e;
	char *log;

	env_init(&e, "ecdsa");
	capture_start();
	cr_assert_eq(ks_cache_load(e.cache, e.entry), 0);
	log = capture_end();
	cr_assert_str_empty(log, "%s", log);
	cr_assert_null(ks_staple_acquire(e.entry));
	free(log);
	env_fini(&e);
}

/* Load path with a file that must be ignored: warning naming it, nothing published, kept. */
static void assert_load_ignores(struct env *e, const char *what, const char *want_in_log)
{
	char path[PATH_MAX], *log;

	state_path(e, e->entry, path);
	capture_start();
	cr_assert_eq(ks_cache_load(e->cache, e->entry), 0, "%s", what);
	log = capture_end();
	cr_assert_null(ks_staple_acquire(e->entry), "%s published", what);
	cr_assert(strstr(log, "warning:") && strstr(log, path), "%s: %s", what, log);
	if (want_in_log)
		cr_assert(strstr(log, want_in_log), "%s: %s", what, log);
	cr_assert_eq(access(path, F_OK), 0, "%s: file removed", what);
	free(log);
}

Test(staple_cache, load_ignores_an_expired_file)
{
	struct env e;
	struct ks_ocsp_result res;
	uint8_t *der;
	size_t len;

	env_init(&e, "ecdsa");
	read_fixture("good.der", &der, &len);
	cr_assert_eq(ks_cache_submit(e.cache, e.entry, der, len, &res), 1);
	reopen(&e);
	e.now = res.next_update + KS_OCSP_DEFAULT_SKEW + 60;
	assert_load_ignores(&e, "expired", "expired on");
	free(der);
	env_fini(&e);
}

Test(staple_cache, load_ignores_corrupt_files)
{
	struct env e;
	char path[PATH_MAX];
	uint8_t *der, junk[700], *big;
	size_t len;

	env_init(&e, "ecdsa");
	state_path(&e, e.entry, path);
	read_fixture("good.der", &der, &len);

	srand(42);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rand();
	write_file(path, junk, sizeof(junk));
	assert_load_ignores(&e, "random bytes", NULL);

	write_file(path, der, len / 2);
	assert_load_ignores(&e, "truncated", NULL);

	write_file(path, der, len - 1);
	assert_load_ignores(&e, "one byte short", NULL);

	write_file(path, "", 0);
	assert_load_ignores(&e, "empty", "empty file");

	big = calloc(1, (1 << 20) + 1);
	memcpy(big, der, len);
	write_file(path, big, (1 << 20) + 1);
	assert_load_ignores(&e, "too large", "larger than 1 MiB");
	free(big);

	/* The same bytes, intact, do load: the failures above were about the content. */
	write_file(path, der, len);
	cr_assert_eq(ks_cache_load(e.cache, e.entry), 1);
	free(der);
	env_fini(&e);
}

Test(staple_cache, load_ignores_another_certificates_response)
{
	struct env e;
	char path[PATH_MAX];
	uint8_t *der;
	size_t len;

	env_init(&e, "ecdsa");
	read_fixture("good-rsa.der", &der, &len);
	write_file(state_path(&e, e.entry, path), der, len);
	assert_load_ignores(&e, "rsa's response in ecdsa's file",
			    ks_verdict_str(KS_V_CERTID_MISMATCH));
	free(der);
	env_fini(&e);
}

static void kill_self(const char *tmp)
{
	(void)tmp;
	raise(SIGKILL);
}

Test(staple_cache, crash_between_write_and_rename_keeps_the_old_file)
{
	struct env e;
	struct ks_ocsp_result res;
	char path[PATH_MAX], tmp[PATH_MAX + 64], other[PATH_MAX], *log;
	uint8_t *old, *new;
	size_t old_len, new_len;
	int status;
	pid_t pid;

	env_init(&e, "ecdsa");
	old = make_good(&e, 600, &old_len);
	new = make_good(&e, 60, &new_len);
	cr_assert_eq(ks_cache_submit(e.cache, e.entry, old, old_len, &res), 1);
	state_path(&e, e.entry, path);

	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		ks_cache_test_hook_before_rename = kill_self;
		/* Reaching _exit means the hook did not run: the parent sees exit status 3. */
		(void)!ks_cache_submit(e.cache, e.entry, new, new_len, &res);
		_exit(3);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %#x", status);

	/* The old state file is intact, and the child got as far as a complete temporary. */
	assert_file_equals(path, old, old_len);
	snprintf(tmp, sizeof(tmp), "%s/.%s.der.tmp.%ld", e.state, e.cert->certid_hex, (long)pid);
	assert_file_equals(tmp, new, new_len);

	/* A restart removes the temporary, saying so, and loads the old response. */
	snprintf(other, sizeof(other), "%s/.not-ours.tmp", e.state);
	write_file(other, "x", 1);
	capture_start();
	reopen(&e);
	log = capture_end();
	cr_assert(strstr(log, tmp) && strstr(log, "interrupted write"), "%s", log);
	cr_assert_eq(access(tmp, F_OK), -1, "temporary file still there");
	cr_assert_eq(access(other, F_OK), 0, "a file that is not ours was removed");
	cr_assert_null(strstr(log, other), "%s", log);
	unlink(other);
	cr_assert_eq(ks_cache_load(e.cache, e.entry), 1);
	assert_published(e.entry, old, old_len);
	free(log);
	OPENSSL_free(old);
	OPENSSL_free(new);
	env_fini(&e);
}

Test(staple_cache, new_reports_a_missing_parent_and_a_non_directory)
{
	struct ks_clock clk;
	int64_t now = 0;
	char tmp[256], dir[512], *log;

	ks_clock_fixed(&clk, &now);
	cr_assert_eq(ks_test_tmpdir(tmp, sizeof(tmp)), 0);
	snprintf(dir, sizeof(dir), "%s/missing/state", tmp);
	capture_start();
	errno = 0;
	cr_assert_null(ks_cache_new(dir, &clk, 0));
	cr_assert_eq(errno, ENOENT);
	log = capture_end();
	cr_assert(strstr(log, "parent") && strstr(log, "/missing does not exist"), "%s", log);
	free(log);

	snprintf(dir, sizeof(dir), "%s/file", tmp);
	write_file(dir, "x", 1);
	capture_start();
	errno = 0;
	cr_assert_null(ks_cache_new(dir, &clk, 0));
	cr_assert_eq(errno, ENOTDIR);
	log = capture_end();
	cr_assert(strstr(log, dir) && strstr(log, "not a directory"), "%s", log);
	free(log);
	unlink(dir);
	ks_test_rmdir(tmp);
}

Test(staple_cache, trailing_slash_in_state_dir)
{
	struct env e;
	struct ks_cache *c2;
	struct ks_cache_entry *e2;
	char dir[512], path[PATH_MAX], want[PATH_MAX];

	env_init(&e, "ecdsa");
	snprintf(dir, sizeof(dir), "%s//", e.state);
	c2 = ks_cache_new(dir, &e.clk, 0);
	cr_assert_not_null(c2);
	cr_assert_eq(ks_cache_add(c2, e.cert, &e2), 0);
	cr_assert_not_null(ks_cache_path(c2, e2, path, sizeof(path)));
	cr_assert_null(strstr(path, "//"), "%s", path);
	cr_assert_str_eq(path, state_path(&e, e.entry, want));
	ks_cache_free(c2);
	env_fini(&e);
}

Test(staple_cache, add_refuses_the_same_certificate_twice)
{
	struct env e;
	struct ks_cache_entry *dup = NULL;
	struct ks_cert *again;

	env_init(&e, "ecdsa");
	again = load_leaf("ecdsa", e.now);
	capture_start();
	cr_assert_eq(ks_cache_add(e.cache, again, &dup), -EEXIST);
	free(capture_end());
	ks_cert_free(again);
	env_fini(&e);
}

Test(staple_cache, note_failure_counts_and_keeps)
{
	struct env e;
	struct ks_ocsp_result res;
	char *log;
	uint8_t *der;
	size_t len;

	env_init(&e, "ecdsa");
	read_fixture("good.der", &der, &len);
	cr_assert_eq(ks_cache_submit(e.cache, e.entry, der, len, &res), 1);
	e.now += 10;
	capture_start();
	ks_cache_note_failure(e.cache, e.entry, "connection refused");
	log = capture_end();
	cr_assert_eq(atomic_load(&e.entry->stats.failures), 1);
	cr_assert_str_eq(e.entry->last_error, "connection refused");
	cr_assert_eq(e.entry->last_error_at, e.now);
	cr_assert(strstr(log, "[cert ecdsa]") && strstr(log, "connection refused"), "%s", log);
	assert_published(e.entry, der, len);
	free(log);
	free(der);
	env_fini(&e);
}

/* Every failure has exactly one reason; the reasons add up to failures. */
Test(staple_cache, failure_reasons_add_up)
{
	struct env e;
	struct ks_ocsp_result res;
	uint8_t *newer, *older, *bad;
	size_t newer_len, older_len, bad_len;
	uint64_t sum = 0;

	env_init(&e, "ecdsa");
	newer = make_good(&e, 100, &newer_len);
	older = make_good(&e, 3600, &older_len);
	read_fixture("wrongkey.der", &bad, &bad_len);
	capture_start();
	cr_assert_eq(ks_cache_submit(e.cache, e.entry, newer, newer_len, &res), 1);
	cr_assert_eq(ks_cache_submit(e.cache, e.entry, older, older_len, &res), 0);
	cr_assert_eq(ks_cache_submit(e.cache, e.entry, bad, bad_len, &res), 0);
	ks_cache_note_http_failure(e.cache, e.entry, KS_HTTP_ERR_CONNECT, "connection refused");
	ks_cache_note_http_failure(e.cache, e.entry, KS_HTTP_ERR_CONNECT, "connection refused");
	ks_cache_note_http_failure(e.cache, e.entry, KS_HTTP_ERR_STATUS, "HTTP status 500");
	ks_cache_note_http_failure(e.cache, e.entry, KS_HTTP_ERR_LOCAL, "out of memory");
	ks_cache_note_failure(e.cache, e.entry, "cannot start the request");
	free(capture_end());
	cr_assert_eq(atomic_load(&e.entry->stats.successes), 1);
	cr_assert_eq(atomic_load(&e.entry->stats.stale), 1);
	cr_assert_eq(atomic_load(&e.entry->stats.rejected[res.verdict]), 1);
	cr_assert_neq(res.verdict, KS_V_GOOD);
	cr_assert_eq(atomic_load(&e.entry->stats.http_failures[KS_HTTP_ERR_CONNECT]), 2);
	cr_assert_eq(atomic_load(&e.entry->stats.http_failures[KS_HTTP_ERR_STATUS]), 1);
	cr_assert_eq(atomic_load(&e.entry->stats.http_failures[KS_HTTP_ERR_LOCAL]), 0);
	cr_assert_eq(atomic_load(&e.entry->stats.local_failures), 2);
	for (int v = 0; v < KS_V__COUNT; v++)
		sum += atomic_load(&e.entry->stats.rejected[v]);
	for (int h = 0; h < KS_HTTP_ERR__COUNT; h++)
		sum += atomic_load(&e.entry->stats.http_failures[h]);
	sum += atomic_load(&e.entry->stats.stale) + atomic_load(&e.entry->stats.local_failures);
	cr_assert_eq(atomic_load(&e.entry->stats.failures), 7);
	cr_assert_eq(sum, 7);
	OPENSSL_free(newer);
	OPENSSL_free(older);
	free(bad);
	env_fini(&e);
}

/* ---- Readers against a publishing writer ------------------------------------------------ */

/*
 * Each publish verifies and persists (about 0.4 ms), so 2000 of them keep the readers racing
 * for a few seconds. Enough: with the publisher's wait for readers removed, ASan reports a
 * heap-use-after-free in hammer_reader within a second, every run.
 */
#define HAMMER_READERS	   2
#define HAMMER_ACQUISITION 200000
#define HAMMER_PUBLISHES   2000

struct hammer {
	struct ks_cache_entry *entry;
	size_t len_a, len_b;
	atomic_bool start, done;
	atomic_ulong seen;
	atomic_ulong bad;
};

static void *hammer_reader(void *arg)
{
	struct hammer *h = arg;

	while (!atomic_load(&h->start))
		sched_yield();
	/* At least HAMMER_ACQUISITION, and for as long as the writer publishes. */
	for (long i = 0; i < HAMMER_ACQUISITION || !atomic_load(&h->done); i++) {
		struct ks_staple *st = ks_staple_acquire(h->entry);

		if (!st)
			continue;
		/* Touch the object: under ASan a freed one aborts here; without, it is garbage. */
		if ((st->len != h->len_a && st->len != h->len_b) || st->der[0] != 0x30 ||
		    st->verdict != KS_V_GOOD)
			atomic_fetch_add(&h->bad, 1);
		atomic_fetch_add_explicit(&h->seen, 1, memory_order_relaxed);
		ks_staple_release(st);
	}
	return NULL;
}

Test(staple_cache, readers_survive_concurrent_publication, .timeout = 300)
{
	struct env e;
	struct hammer h = { 0 };
	struct ks_ocsp_result res;
	pthread_t th[HAMMER_READERS];
	uint8_t *a, *b;
	int published = 0;

	env_init_shm(&e, "ecdsa", true);
	/* Two responses with the same thisUpdate but different bytes (different nextUpdate). */
	a = make_response(e.cert, V_OCSP_CERTSTATUS_GOOD, e.now - 60, e.now + 86400, &h.len_a);
	b = make_response(e.cert, V_OCSP_CERTSTATUS_GOOD, e.now - 60, e.now + 2 * 86400, &h.len_b);
	h.entry = e.entry;
	ks_log_set_level(KS_LOG_WARN);
	for (int i = 0; i < HAMMER_READERS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, hammer_reader, &h), 0);
	atomic_store(&h.start, true);
	for (int i = 0; i < HAMMER_PUBLISHES; i++) {
		bool odd = i & 1;

		published += ks_cache_submit(e.cache, e.entry, odd ? b : a, odd ? h.len_b : h.len_a,
					     &res) == 1;
	}
	atomic_store(&h.done, true);
	for (int i = 0; i < HAMMER_READERS; i++)
		pthread_join(th[i], NULL);
	ks_log_set_level(KS_LOG_INFO);
	cr_assert_eq(published, HAMMER_PUBLISHES);
	cr_assert_eq(atomic_load(&h.bad), 0);
	cr_assert_gt(atomic_load(&h.seen), 0);
	/* Every reference taken was returned: only the entry's own remains. */
	cr_assert_eq(atomic_load(&atomic_load(&e.entry->current)->refs), 1);
	OPENSSL_free(a);
	OPENSSL_free(b);
	env_fini(&e);
}

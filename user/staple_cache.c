// SPDX-License-Identifier: MIT
/*
 * The published OCSP response of every certificate, in memory and on disk; see
 * include/kstaple/staple_cache.h.
 *
 * Threads: one writer per entry (the fetcher thread: ks_cache_submit, ks_cache_load,
 * ks_cache_note_failure) and any number of readers (TLS status callbacks: ks_staple_acquire,
 * ks_staple_release). ks_cache_new, ks_cache_add and ks_cache_free run before the readers start
 * and after they stop.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kstaple/dir_sync.h"
#include "kstaple/log.h"
#include "kstaple/staple_cache.h"

/* A stapled OCSP response is a few KiB; anything this large is not one. */
#define KS_STATE_FILE_MAX (1 << 20)

void (*ks_cache_test_hook_before_rename)(const char *tmp_path);

struct ks_cache {
	char *state_dir;
	struct ks_clock clk; /* a copy: the caller's struct need not outlive the cache */
	int64_t skew;
	atomic_bool persist_down; /* the last write to state_dir failed (see note_persist) */
	struct ks_cache_entry *
		*entries; /* individually allocated: pointers handed out stay valid */
	size_t n_entries, cap_entries;
	/* Open-addressed set of the entries by CertID: duplicates found in O(1), not O(n). */
	struct ks_cache_entry **by_certid;
	/* Certificates embedded in responses, parsed once for all entries (ocsp_certcache.h). */
	struct ks_ocsp_certcache *certs;
	size_t by_certid_cap; /* a power of two, at least twice n_entries */
	/* Concurrent writers share the directory fsync after their renames (dir_sync.h). */
	struct ks_dir_sync dsync;
};

#define STAT_INC(field) atomic_fetch_add_explicit(&(field), 1, memory_order_relaxed)

/*
 * Lock-free publication.
 *
 * "p = load(current); p->refs++" alone is racy: between the load and the increment the writer
 * can swap current and drop the last reference to p, and the reader then increments freed
 * memory. Each entry therefore counts the readers that are between those two steps, with
 * hazard-pointer semantics collapsed into a counter:
 *
 *   reader: readers++ ; p = current ; p->refs++ ; readers--
 *   writer: old = exchange(current, new) ; wait until readers == 0 ; release(old)
 *
 * All four accesses to readers/current are sequentially consistent, so in their single total
 * order a reader that loaded old did its readers++ before that load, which is before the
 * writer's exchange, which is before the writer reads readers: the writer sees the reader's
 * increment and waits for its decrement, which comes after old->refs++ (release ordering). A
 * reader that increments readers after the writer's check loads the new pointer. So old->refs
 * never reaches zero while a reader can still take a reference to it.
 *
 * The wait is a few instructions per reader (no I/O, no lock inside), and the writer is the
 * fetcher thread, which publishes a few times a day: spinning is cheaper than a futex here.
 * Readers never wait. The writer only needs one instant with no reader inside; with readers
 * doing nothing else in a tight loop (the unit test) that instant still comes within
 * microseconds, and TLS handshakes spend almost all of their time elsewhere.
 */
struct ks_staple *ks_staple_acquire(struct ks_cache_entry *entry)
{
	struct ks_staple *st;

	atomic_fetch_add(&entry->readers, 1);
	st = atomic_load(&entry->current);
	if (st)
		atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&entry->readers, 1, memory_order_release);
	return st;
}

void ks_staple_release(struct ks_staple *st)
{
	if (st && atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) == 1)
		free(st);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Writer side of the scheme above. The entry owns one reference to whatever it publishes. */
static void publish(struct ks_cache_entry *entry, struct ks_staple *st)
{
	struct ks_staple *old = atomic_exchange(&entry->current, st);

	for (unsigned spins = 1; atomic_load(&entry->readers) != 0; spins++) {
		/*
		 * Spin first: a reader leaves within nanoseconds. Yield only after a while, for
		 * a reader that was preempted inside; yielding at once would, on a busy machine,
		 * hand the CPU to readers for whole timeslices and starve the publisher.
		 */
		if (spins % 4096 == 0)
			sched_yield();
		else
			cpu_relax();
	}
	ks_staple_release(old);
}

static struct ks_staple *staple_new(const uint8_t *der, size_t len,
				    const struct ks_ocsp_result *res, int64_t fetched_at)
{
	struct ks_staple *st = malloc(sizeof(*st) + len);

	if (!st)
		return NULL;
	atomic_init(&st->refs, 1);
	st->verdict = res->verdict;
	st->this_update = res->this_update;
	st->next_update = res->next_update;
	st->produced_at = res->produced_at;
	st->fetched_at = fetched_at;
	st->len = len;
	if (len)
		memcpy(st->der, der, len);
	return st;
}

const char *ks_cache_path(const struct ks_cache *cache, const struct ks_cache_entry *entry,
			  char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s.der", cache->state_dir, entry->cert->certid_hex);

	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	return buf;
}

/* ---- Directory set-up ---------------------------------------------------------------- */

/*
 * Create the last component of dir (0700: responses are public, but nobody else should be
 * able to plant one, even though it would be re-verified). Parents are not created: a missing
 * parent is usually a typo in the configuration, better reported than papered over.
 */
static int make_state_dir(const char *dir)
{
	struct stat sb;

	if (mkdir(dir, 0700) == 0) {
		ks_info("created state directory %s", dir);
		return 0;
	}
	if (errno == EEXIST) {
		if (stat(dir, &sb) < 0) {
			ks_err("state directory %s: %s", dir, strerror(errno));
			return -errno;
		}
		if (!S_ISDIR(sb.st_mode)) {
			ks_err("state directory %s exists but is not a directory", dir);
			return -ENOTDIR;
		}
		return 0;
	}
	if (errno == ENOENT) {
		char parent[PATH_MAX];
		const char *slash = strrchr(dir, '/');
		size_t n = slash ? (size_t)(slash - dir) : 1;

		snprintf(parent, sizeof(parent), "%.*s", (int)n, slash ? (n ? dir : "/") : ".");
		ks_err("cannot create state directory %s: its parent %s does not exist", dir,
		       parent);
		return -ENOENT;
	}
	ks_err("cannot create state directory %s: %s", dir, strerror(errno));
	return -errno;
}

/* ".<hex>.der.tmp.<pid>" as written by persist(). */
static bool is_stray_temp(const char *name)
{
	return name[0] == '.' && strstr(name, ".der.tmp.") != NULL;
}

/*
 * A crash between writing a temporary file and renaming it leaves the temporary behind (the
 * state file itself is intact). Remove them at start-up, saying so, so that they neither
 * accumulate nor go unexplained.
 */
static void remove_stray_temps(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[PATH_MAX];

	if (!d) {
		ks_warn("cannot scan state directory %s: %s", dir, strerror(errno));
		return;
	}
	while ((de = readdir(d))) {
		if (!is_stray_temp(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			ks_warn("removed %s, a temporary file left by an interrupted write", path);
		else
			ks_warn("cannot remove stale temporary file %s: %s", path, strerror(errno));
	}
	closedir(d);
}

struct ks_cache *ks_cache_new(const char *state_dir, const struct ks_clock *clk, int64_t skew)
{
	struct ks_cache *cache;
	size_t n;
	int ret;

	if (!state_dir || !*state_dir || !clk) {
		errno = EINVAL;
		return NULL;
	}
	/* Room for "/.<64 hex>.der.tmp.<pid>" after the directory. */
	if (strlen(state_dir) > PATH_MAX - 100) {
		ks_err("state directory name too long: %.64s...", state_dir);
		errno = ENAMETOOLONG;
		return NULL;
	}
	cache = calloc(1, sizeof(*cache));
	if (!cache)
		return NULL;
	ks_dir_sync_init(&cache->dsync);
	cache->state_dir = strdup(state_dir);
	cache->certs = ks_ocsp_certcache_new(0);
	if (!cache->state_dir || !cache->certs)
		goto fail;
	/* "dir/" and "dir" name the same directory; keep file names and messages tidy. */
	n = strlen(cache->state_dir);
	while (n > 1 && cache->state_dir[n - 1] == '/')
		cache->state_dir[--n] = '\0';
	ret = make_state_dir(cache->state_dir);
	if (ret < 0) {
		errno = -ret;
		goto fail;
	}
	remove_stray_temps(cache->state_dir);
	cache->clk = *clk;
	cache->skew = skew;
	atomic_init(&cache->persist_down, false);
	return cache;
fail:
	ret = errno;
	ks_dir_sync_destroy(&cache->dsync);
	ks_ocsp_certcache_free(cache->certs);
	free(cache->state_dir);
	free(cache);
	errno = ret;
	return NULL;
}

void ks_cache_free(struct ks_cache *cache)
{
	if (!cache)
		return;
	for (size_t i = 0; i < cache->n_entries; i++) {
		/* No reader is left by now: drop the entry's own reference. */
		ks_staple_release(atomic_load(&cache->entries[i]->current));
		free(cache->entries[i]);
	}
	free(cache->entries);
	free(cache->by_certid);
	ks_ocsp_certcache_free(cache->certs);
	ks_dir_sync_destroy(&cache->dsync);
	free(cache->state_dir);
	free(cache);
}

/* The slot of cert's CertID: where its entry is, or the empty slot where it would go. */
static size_t certid_slot(struct ks_cache_entry **set, size_t cap, const struct ks_cert *cert)
{
	uint64_t h;
	size_t i;

	/* The CertID hash is SHA-256: any 8 of its bytes are already uniformly spread. */
	memcpy(&h, cert->certid_hash, sizeof(h));
	for (i = (size_t)h & (cap - 1); set[i]; i = (i + 1) & (cap - 1))
		if (memcmp(set[i]->cert->certid_hash, cert->certid_hash, KS_CERTID_HASH_LEN) == 0)
			break;
	return i;
}

/* Keep the set at most half full so that probes stay short and one slot is always free. */
static int certid_reserve(struct ks_cache *cache)
{
	struct ks_cache_entry **set;
	size_t cap;

	if (2 * (cache->n_entries + 1) <= cache->by_certid_cap)
		return 0;
	cap = cache->by_certid_cap ? 2 * cache->by_certid_cap : 16;
	set = calloc(cap, sizeof(*set));
	ENSURE(set, -ENOMEM);
	for (size_t i = 0; i < cache->n_entries; i++)
		set[certid_slot(set, cap, cache->entries[i]->cert)] = cache->entries[i];
	free(cache->by_certid);
	cache->by_certid = set;
	cache->by_certid_cap = cap;
	return 0;
}

int ks_cache_add(struct ks_cache *cache, struct ks_cert *cert, struct ks_cache_entry **out)
{
	struct ks_cache_entry *e;
	size_t slot;

	ENSURE(cache && cert && out, -EINVAL);
	TRY(certid_reserve(cache));
	/* Two entries with one CertID would fight over one state file. */
	slot = certid_slot(cache->by_certid, cache->by_certid_cap, cert);
	if (cache->by_certid[slot]) {
		ks_log_cert(KS_LOG_ERR, cert->name,
			    "same certificate as [cert:%s]: configure it once",
			    cache->by_certid[slot]->cert->name);
		return -EEXIST;
	}
	if (cache->n_entries == cache->cap_entries) {
		size_t cap = cache->cap_entries ? 2 * cache->cap_entries : 8;
		struct ks_cache_entry **n =
			reallocarray(cache->entries, cap, sizeof(struct ks_cache_entry *));

		ENSURE(n, -ENOMEM);
		cache->entries = n;
		cache->cap_entries = cap;
	}
	e = calloc(1, sizeof(*e));
	ENSURE(e, -ENOMEM);
	e->cert = cert;
	atomic_init(&e->current, NULL);
	atomic_init(&e->readers, 0);
	cache->entries[cache->n_entries++] = e;
	cache->by_certid[slot] = e;
	*out = e;
	return 0;
}

/* ---- Persistence ----------------------------------------------------------------------- */

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write tmp completely and durably. On failure, what failed goes to *what. */
static int write_temp(const char *tmp, const uint8_t *der, size_t len, const char **what)
{
	int fd, ret;

	*what = "create";
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	*what = "write";
	ret = write_all(fd, der, len);
	if (ret == 0) {
		*what = "fsync";
		if (fsync(fd) < 0)
			ret = -errno;
	}
	/* close() can report a deferred write error (NFS): it counts. */
	if (close(fd) < 0 && ret == 0) {
		*what = "close";
		ret = -errno;
	}
	return ret;
}

/*
 * state_dir trouble (full, read-only, gone) hits every certificate: the details of each failed
 * write go to the error log only while state_dir is believed writable, and note_persist() says
 * once per transition what it means. Without this a full disk logs one error per refresh of
 * each certificate.
 */
static enum ks_log_level persist_level(struct ks_cache *cache)
{
	return atomic_load(&cache->persist_down) ? KS_LOG_DEBUG : KS_LOG_ERR;
}

static void note_persist(struct ks_cache *cache, struct ks_cache_entry *entry, int ret)
{
	if (ret == 0) {
		if (atomic_exchange(&cache->persist_down, false))
			ks_info("state_dir %s can be written again: OCSP responses are saved again "
				"(those fetched meanwhile at their next refresh)",
				cache->state_dir);
		return;
	}
	STAT_INC(entry->stats.persist_failures);
	if (atomic_exchange(&cache->persist_down, true))
		return;
	ks_err("state_dir %s %s: OCSP responses are kept in memory only (and still stapled) "
	       "until it can be written again",
	       cache->state_dir,
	       ret == -ENOSPC || ret == -EDQUOT ? "is full" : "cannot be written");
}

/*
 * Atomically replace entry's state file with der: temporary file, fsync, rename, fsync of the
 * directory. A crash leaves the old file or the new one, never a torn one; a stray temporary
 * is cleaned by the next ks_cache_new(). Logs its own failures (the caller keeps the staple).
 */
static int persist(struct ks_cache *cache, struct ks_cache_entry *entry, const uint8_t *der,
		   size_t len)
{
	const char *name = entry->cert->name, *what;
	char path[PATH_MAX], tmp[PATH_MAX];
	int ret;

	if (!ks_cache_path(cache, entry, path, sizeof(path)))
		return -ENAMETOOLONG;
	snprintf(tmp, sizeof(tmp), "%s/.%s.der.tmp.%ld", cache->state_dir, entry->cert->certid_hex,
		 (long)getpid());
	ret = write_temp(tmp, der, len, &what);
	if (ret < 0) {
		ks_log_cert(persist_level(cache), name, "cannot save the OCSP response: %s %s: %s",
			    what, tmp, strerror(-ret));
		goto fail;
	}
	if (ks_cache_test_hook_before_rename)
		ks_cache_test_hook_before_rename(tmp);
	if (rename(tmp, path) < 0) {
		ret = -errno;
		ks_log_cert(persist_level(cache), name,
			    "cannot save the OCSP response: rename %s to %s: %s", tmp, path,
			    strerror(-ret));
		goto fail;
	}
	ret = ks_dir_sync(&cache->dsync, cache->state_dir);
	if (ret < 0) {
		/* The file is in place but may not survive a crash: report it, nothing to undo. */
		ks_log_cert(persist_level(cache), name,
			    "saved %s but cannot fsync directory %s: %s", path, cache->state_dir,
			    strerror(-ret));
		return ret;
	}
	ks_log_cert(KS_LOG_DEBUG, name, "saved the OCSP response to %s", path);
	return 0;
fail:
	unlink(tmp);
	return ret;
}

/* ---- Submission ------------------------------------------------------------------------ */

static void set_last_error(struct ks_cache *cache, struct ks_cache_entry *entry, const char *fmt,
			   ...) KS_PRINTF(3, 4);

static void set_last_error(struct ks_cache *cache, struct ks_cache_entry *entry, const char *fmt,
			   ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(entry->last_error, sizeof(entry->last_error), fmt, ap);
	va_end(ap);
	entry->last_error_at = ks_now(&cache->clk);
}

/* "still stapling the response valid until ...", for rejection messages. */
static const char *kept_phrase(const struct ks_cache_entry *entry, char *buf, size_t len)
{
	const struct ks_staple *cur = atomic_load(&entry->current);
	char t[32];

	if (!cur)
		snprintf(buf, len, "nothing to staple yet");
	else
		snprintf(buf, len, "still stapling the response valid until %s",
			 ks_fmt_time(cur->next_update, t, sizeof(t)));
	return buf;
}

/*
 * One failed attempt (last_error already set): always counted; logged as a warning when it
 * starts a failure episode or its cause differs from the previous failure's, at debug level
 * when it repeats. With retries every few seconds a long outage would otherwise fill the log
 * with one identical line per retry.
 */
static void note_episode(struct ks_cache_entry *entry, const char *cause, const char *what)
{
	const char *name = entry->cert->name;
	char kept[96];

	STAT_INC(entry->stats.failures);
	if (entry->fail_streak++ == 0) {
		entry->fail_since = entry->last_error_at;
	} else if (strcmp(entry->fail_cause, cause) == 0) {
		ks_log_cert(KS_LOG_DEBUG, name, "%s again (%u failed attempts in a row): %s", what,
			    entry->fail_streak, entry->last_error);
		return;
	}
	snprintf(entry->fail_cause, sizeof(entry->fail_cause), "%s", cause);
	ks_log_cert(KS_LOG_WARN, name, "%s: %s; %s", what, entry->last_error,
		    kept_phrase(entry, kept, sizeof(kept)));
}

/* A success ends the failure episode: say so once, with its size. */
static void end_episode(struct ks_cache_entry *entry)
{
	char t[32];

	if (!entry->fail_streak)
		return;
	ks_log_cert(
		KS_LOG_INFO, entry->cert->name,
		"OCSP responses are accepted again after %u failed attempts since %s (last: %s)",
		entry->fail_streak, ks_fmt_time(entry->fail_since, t, sizeof(t)),
		entry->last_error);
	entry->fail_streak = 0;
	entry->fail_cause[0] = '\0';
}

/*
 * prev_revoked: the staple replaced was a revocation too. The revocation is announced loudly
 * once, when it is first seen; refreshing it every few hours is routine.
 */
static void log_published(const struct ks_cache_entry *entry, const struct ks_staple *st,
			  const struct ks_ocsp_result *res, const char *source, bool prev_revoked)
{
	const char *name = entry->cert->name;
	char t1[32], t2[32];

	if (st->verdict == KS_V_REVOKED && !prev_revoked) {
		/* The truth is stapled, but an operator must hear about it loudly. */
		ks_log_cert(KS_LOG_ERR, name,
			    "certificate %s (%s) is REVOKED since %s, reason %s; stapling the "
			    "revocation (%s)",
			    name, entry->cert->subject ? entry->cert->subject : "?",
			    ks_fmt_time(res->revocation_time, t1, sizeof(t1)),
			    ks_crl_reason_str(res->revocation_reason), source);
		return;
	}
	ks_log_cert(KS_LOG_INFO, name,
		    "stapling OCSP response (%s): %s, thisUpdate %s, nextUpdate %s", source,
		    ks_verdict_name(st->verdict), ks_fmt_time(st->this_update, t1, sizeof(t1)),
		    ks_fmt_time(st->next_update, t2, sizeof(t2)));
}

static int verify(struct ks_cache *cache, const struct ks_cache_entry *entry, const uint8_t *der,
		  size_t len, int64_t now, struct ks_ocsp_result *res)
{
	struct ks_verify_params p = {
		.leaf = entry->cert->leaf,
		.issuer = entry->cert->issuer,
		.leaf_issuer_name = entry->cert->leaf_issuer_name,
		.leaf_serial = entry->cert->serial,
		.now = now,
		.skew = cache->skew,
		.certs = cache->certs,
	};
	int ret = ks_ocsp_verify(der, len, &p, res);

	if (ret < 0)
		ks_log_cert(KS_LOG_ERR, entry->cert->name, "cannot verify the OCSP response: %s",
			    strerror(-ret));
	return ret;
}

int ks_cache_submit(struct ks_cache *cache, struct ks_cache_entry *entry, const uint8_t *der,
		    size_t len, struct ks_ocsp_result *res)
{
	struct ks_staple *cur, *st;
	bool prev_revoked;
	int64_t now;
	char t1[32], t2[32];
	int ret;

	ENSURE(cache && entry && der && res, -EINVAL);
	now = ks_now(&cache->clk);
	ret = verify(cache, entry, der, len, now, res);
	if (ret < 0) {
		STAT_INC(entry->stats.local_failures);
		set_last_error(cache, entry, "cannot verify: %s", strerror(-ret));
		note_episode(entry, "verify-error", "cannot verify the OCSP response");
		return ret;
	}
	if (!ks_verdict_stapleable(res->verdict)) {
		STAT_INC(entry->stats.rejected[res->verdict]);
		set_last_error(cache, entry, "%s%s%s", ks_verdict_str(res->verdict),
			       res->detail[0] ? ": " : "", res->detail);
		note_episode(entry, ks_verdict_name(res->verdict), "rejected OCSP response");
		return 0;
	}
	/* Only this thread swaps current, so reading it without the reader protocol is safe. */
	cur = atomic_load(&entry->current);
	if (cur && res->this_update < cur->this_update) {
		/* A responder behind a stale cache or load balancer: never go back in time. */
		STAT_INC(entry->stats.stale);
		set_last_error(cache, entry,
			       "response older than the published response (thisUpdate %s < %s)",
			       ks_fmt_time(res->this_update, t1, sizeof(t1)),
			       ks_fmt_time(cur->this_update, t2, sizeof(t2)));
		note_episode(entry, "older", "ignored OCSP response");
		return 0;
	}
	st = staple_new(der, len, res, now);
	ENSURE(st, -ENOMEM);
	prev_revoked = cur && cur->verdict == KS_V_REVOKED;
	ret = persist(cache, entry, der, len);
	note_persist(cache, entry, ret);
	entry->persisted = ret == 0;
	publish(entry, st);
	STAT_INC(entry->stats.successes);
	end_episode(entry);
	log_published(entry, st, res, "fetched", prev_revoked);
	return 1;
}

void ks_cache_note_failure(struct ks_cache *cache, struct ks_cache_entry *entry, const char *why)
{
	ks_cache_note_http_failure(cache, entry, KS_HTTP_ERR_LOCAL, why);
}

void ks_cache_note_http_failure(struct ks_cache *cache, struct ks_cache_entry *entry,
				enum ks_http_err err, const char *why)
{
	if (!cache || !entry)
		return;
	/* Our own trouble (no memory, no request) is not the responder's: counted apart. */
	if (err > KS_HTTP_OK && err < KS_HTTP_ERR__COUNT && err != KS_HTTP_ERR_LOCAL)
		STAT_INC(entry->stats.http_failures[err]);
	else
		STAT_INC(entry->stats.local_failures);
	set_last_error(cache, entry, "%s", why ? why : "unknown error");
	/* "HTTP status 500" and "HTTP status 503" are different news; timeouts of 1001 and
	 * 1003 ms are not. */
	note_episode(entry,
		     err == KS_HTTP_ERR_STATUS || err == KS_HTTP_ERR_LOCAL ? entry->last_error
									   : ks_http_err_name(err),
		     "OCSP fetch failed");
}

/* ---- Loading --------------------------------------------------------------------------- */

/*
 * Read a state file of at most KS_STATE_FILE_MAX bytes. Returns the length, 0 if the file is
 * missing, or negative: -EFBIG (too large), -EINVAL (not a regular file), -errno.
 */
static ssize_t read_state_file(const char *path, uint8_t **out, struct stat *sb)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	ssize_t ret;
	int fd;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	ENSURE_OUT(fstat(fd, sb) == 0, -errno);
	ENSURE_OUT(S_ISREG(sb->st_mode), -EINVAL);
	ENSURE_OUT(sb->st_size <= KS_STATE_FILE_MAX, -EFBIG);
	/* One byte more than the cap, so a file that grew after fstat is still caught. */
	buf = malloc(KS_STATE_FILE_MAX + 1);
	ENSURE_OUT(buf, -ENOMEM);
	for (;;) {
		ssize_t n = read(fd, buf + len, KS_STATE_FILE_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		ENSURE_OUT(n >= 0, -errno);
		if (n == 0)
			break;
		len += (size_t)n;
		ENSURE_OUT(len <= KS_STATE_FILE_MAX, -EFBIG);
	}
	*out = buf;
	buf = NULL;
	ret = (ssize_t)len;
out:
	free(buf);
	close(fd);
	return ret;
}

/* Why a persisted response is not usable, in words naming the date where one matters. */
static void ignore_reason(const struct ks_ocsp_result *res, char *buf, size_t len)
{
	char t[32];

	if (res->verdict == KS_V_EXPIRED)
		snprintf(buf, len, "expired on %s", ks_fmt_time(res->next_update, t, sizeof(t)));
	else if (res->verdict == KS_V_NOT_YET_VALID)
		snprintf(buf, len, "not valid before %s",
			 ks_fmt_time(res->this_update, t, sizeof(t)));
	else
		snprintf(buf, len, "%s%s%s", ks_verdict_str(res->verdict),
			 res->detail[0] ? ": " : "", res->detail);
}

int ks_cache_load(struct ks_cache *cache, struct ks_cache_entry *entry)
{
	const char *name;
	struct ks_ocsp_result res;
	struct ks_staple *st, *cur;
	struct stat sb = { 0 };
	char path[PATH_MAX], why[256];
	uint8_t *der = NULL;
	ssize_t len;
	int ret;

	ENSURE(cache && entry, -EINVAL);
	name = entry->cert->name;
	ENSURE(ks_cache_path(cache, entry, path, sizeof(path)), -ENAMETOOLONG);
	len = read_state_file(path, &der, &sb);
	if (len < 0) {
		if (len == -EFBIG || len == -EINVAL)
			ks_log_cert(KS_LOG_WARN, name, "ignoring persisted response %s: %s", path,
				    len == -EFBIG ? "larger than 1 MiB, not an OCSP response"
						  : "not a regular file");
		else
			ks_log_cert(KS_LOG_WARN, name, "ignoring persisted response %s: %s", path,
				    strerror((int)-len));
		return 0;
	}
	/* der is set exactly when a file was read (possibly empty). */
	if (!der) {
		ks_log_cert(KS_LOG_DEBUG, name, "no persisted OCSP response at %s", path);
		return 0;
	}
	/* Ignored files are left in place: they are evidence, and the next good fetch replaces
	 * them anyway. */
	if (len == 0 || !der) {
		ks_log_cert(KS_LOG_WARN, name, "ignoring persisted response %s: empty file", path);
		ret = 0;
		goto out;
	}
	ret = verify(cache, entry, der, (size_t)len, ks_now(&cache->clk), &res);
	ENSURE_OUT(ret >= 0, ret);
	if (!ks_verdict_stapleable(res.verdict)) {
		ignore_reason(&res, why, sizeof(why));
		ks_log_cert(KS_LOG_WARN, name, "ignoring persisted response %s: %s", path, why);
		ret = 0;
		goto out;
	}
	cur = atomic_load(&entry->current);
	if (cur && res.this_update < cur->this_update) {
		ks_log_cert(KS_LOG_INFO, name,
			    "ignoring persisted response %s: older than the one already stapled",
			    path);
		ret = 0;
		goto out;
	}
	st = staple_new(der, (size_t)len, &res, (int64_t)sb.st_mtime);
	ENSURE_OUT(st, -ENOMEM);
	entry->persisted = true;
	publish(entry, st);
	log_published(entry, st, &res, path, false);
	ret = 1;
out:
	free(der);
	return ret;
}

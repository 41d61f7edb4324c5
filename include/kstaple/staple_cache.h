/* SPDX-License-Identifier: MIT */
/*
 * staple_cache: the published OCSP response of every certificate, in memory and on disk.
 *
 * Every certificate has one entry. An entry publishes at most one staple: an immutable,
 * reference-counted struct ks_staple swapped in with a single atomic pointer store, so readers
 * (the TLS status callback) never take a lock. ks_cache_submit() is the one way in: it
 * verifies the response (ocsp_verify), and only a stapleable response that is not older than
 * the current one is persisted and published. A rejected response never replaces a good one.
 *
 * Persistence: state_dir/<certid_hex>.der, one file per certificate named by the SHA-256 of
 * its CertID. Written to a temporary file, fsync'd, renamed over the old one, then the
 * directory is fsync'd, so a crash leaves either the old or the new file, never a torn one.
 */
#ifndef KSTAPLE_STAPLE_CACHE_H
#define KSTAPLE_STAPLE_CACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kstaple/cert_store.h"
#include "kstaple/clock.h"
#include "kstaple/http_fetch.h"
#include "kstaple/ocsp_verify.h"

/* Immutable once published. */
struct ks_staple {
	atomic_uint refs;
	enum ks_verdict verdict; /* KS_V_GOOD or KS_V_REVOKED */
	int64_t this_update, next_update, produced_at;
	int64_t fetched_at; /* when we received it (or loaded it from disk) */
	size_t len;
	uint8_t der[]; /* the DER OCSPResponse, as stapled */
};

/*
 * Counters are written by the fetcher thread and read by anyone (relaxed atomics). failures is
 * the sum of the reasons: rejected[] + http_failures[] + stale + local_failures.
 */
struct ks_cache_stats {
	atomic_uint_fast64_t successes;		    /* stapleable responses accepted */
	atomic_uint_fast64_t failures;		    /* fetches or responses rejected, all reasons */
	atomic_uint_fast64_t rejected[KS_V__COUNT]; /* rejections by verdict */
	atomic_uint_fast64_t http_failures[KS_HTTP_ERR__COUNT]; /* no usable HTTP response */
	atomic_uint_fast64_t stale;	       /* older than the published response: ignored */
	atomic_uint_fast64_t local_failures;   /* could not verify or start a request (ENOMEM...) */
	atomic_uint_fast64_t persist_failures; /* could not write state_dir */
};

struct ks_cache_entry {
	struct ks_cert *cert;		     /* owned by the caller; outlives the entry */
	_Atomic(struct ks_staple *) current; /* NULL: nothing to staple */
	/*
	 * Readers inside ks_staple_acquire() right now. The publisher waits for zero after
	 * swapping current and before dropping the old staple's reference (see staple_cache.c).
	 */
	atomic_uint readers;
	struct ks_cache_stats stats;
	char last_error[256]; /* fetcher thread only */
	int64_t last_error_at;
	bool persisted; /* current is on disk */
};

struct ks_cache;

/* state_dir is created (0700) if missing. clk and verify skew are used by submit and load. */
struct ks_cache *ks_cache_new(const char *state_dir, const struct ks_clock *clk, int64_t skew);
void ks_cache_free(struct ks_cache *cache);

/* One entry per certificate; the entry lives as long as the cache. */
KS_MUST_CHECK int ks_cache_add(struct ks_cache *cache, struct ks_cert *cert,
			       struct ks_cache_entry **out);

/*
 * Load the persisted response for entry, re-verified at the current time. Corrupt, expired or
 * mismatched files are ignored with a warning naming the file (and are left in place).
 * Returns 1 if a staple was published, 0 if none (no file or ignored), negative on local error.
 */
KS_MUST_CHECK int ks_cache_load(struct ks_cache *cache, struct ks_cache_entry *entry);

/*
 * Offer a response fetched for entry. Fills res with the verdict. A stapleable response with
 * thisUpdate >= the current one's is persisted and published (returns 1); otherwise the
 * current staple is kept and the rejection counted (returns 0). A failure to persist keeps
 * the new staple published in memory, counts it, logs it, and returns 1.
 */
KS_MUST_CHECK int ks_cache_submit(struct ks_cache *cache, struct ks_cache_entry *entry,
				  const uint8_t *der, size_t len, struct ks_ocsp_result *res);

/*
 * Record a failure that produced no response (connection refused, HTTP 500, ...): err is its
 * class (KS_HTTP_ERR_LOCAL when the request could not even start).
 */
void ks_cache_note_failure(struct ks_cache *cache, struct ks_cache_entry *entry, const char *why);
void ks_cache_note_http_failure(struct ks_cache *cache, struct ks_cache_entry *entry,
				enum ks_http_err err, const char *why);

/*
 * Readers: take a reference to the published staple (NULL if none). Lock-free. The caller
 * must still check next_update against its own clock before stapling.
 */
struct ks_staple *ks_staple_acquire(struct ks_cache_entry *entry);
void ks_staple_release(struct ks_staple *st);

/* Path of entry's state file (buf >= PATH_MAX). */
const char *ks_cache_path(const struct ks_cache *cache, const struct ks_cache_entry *entry,
			  char *buf, size_t len);

/*
 * Tests only: called after the temporary file is written and fsync'd and before it is renamed
 * over the state file, so a test can kill the process at the worst moment. NULL in production.
 */
extern void (*ks_cache_test_hook_before_rename)(const char *tmp_path);

#endif /* KSTAPLE_STAPLE_CACHE_H */

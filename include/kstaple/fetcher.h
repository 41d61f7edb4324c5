/* SPDX-License-Identifier: MIT */
/*
 * fetcher: keeps every certificate's staple fresh. For each struct ks_cache_entry whose
 * certificate has a responder (AIA OCSP URL or configured override) it builds the OCSP request
 * once (ocsp_request), fetches it over HTTP on the caller's loop (http_fetch), hands the body to
 * ks_cache_submit() (which verifies, persists and publishes) or records the failure with
 * ks_cache_note_failure(), and schedules the next attempt with staple_sched: after a success
 * per the refresh policy, after a failure with exponential back-off. A rejected or failed fetch
 * never touches the published staple.
 *
 * At most max_concurrency requests are in flight, and at most max_per_responder to one
 * responder (scheme://host:port); the rest wait in per-responder queues served round-robin.
 * Certificates without a responder are reported once (info) when added and never fetched.
 *
 * Two ways to drive it, both on the loop's thread:
 *   ks_fetcher_start()    the agent: fetch what is due now, then keep refreshing forever;
 *   ks_fetcher_one_pass() `kstaple fetch`: fetch every certificate once, call back when each
 *                         one has finished its attempt (success or failure, no retry).
 */
#ifndef KSTAPLE_FETCHER_H
#define KSTAPLE_FETCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kstaple/clock.h"
#include "kstaple/common.h"
#include "kstaple/config.h"
#include "kstaple/http_fetch.h"
#include "kstaple/loop.h"
#include "kstaple/ocsp_verify.h"
#include "kstaple/staple_cache.h"

enum ks_fetch_outcome {
	KS_FETCH_PENDING = 0,  /* not attempted yet */
	KS_FETCH_OK,	       /* a stapleable response was published */
	KS_FETCH_REJECTED,     /* a response arrived and was not published (see verdict) */
	KS_FETCH_HTTP_ERROR,   /* no usable HTTP response (see http_err) */
	KS_FETCH_NO_RESPONDER, /* no OCSP URL and no override: never fetched */
	KS_FETCH_LOCAL_ERROR,  /* the request could not be built or started */
};

/* The last attempt for one certificate, for printing. */
struct ks_fetch_cert_result {
	const char *name;
	enum ks_fetch_outcome outcome;
	bool have_verdict; /* a response was judged: verdict and times below are its own */
	enum ks_verdict verdict;
	enum ks_http_err http_err;
	long http_status; /* 0 when there was no HTTP response */
	int64_t this_update, next_update;
	int64_t elapsed_ms;
	bool used_get;	      /* RFC 5019 GET (else POST) */
	unsigned attempts;    /* since the fetcher was created */
	unsigned failures;    /* consecutive */
	int64_t next_attempt; /* wall-clock seconds; 0 when none is scheduled */
	char detail[256];     /* "connection refused", "nextUpdate is in the past...", "ok" */
};

struct ks_fetcher;
typedef void (*ks_fetch_pass_fn)(struct ks_fetcher *f, void *arg);

/*
 * conf: limits, timeouts, proxy and schedule policy (copied). clk: wall clock for the
 * schedule (copied). The loop and the cache must outlive the fetcher.
 */
struct ks_fetcher *ks_fetcher_new(struct ks_loop *loop, struct ks_cache *cache,
				  const struct ks_fetch_conf *conf, const struct ks_clock *clk);
/* Abandons in-flight requests (no callback). Not from a pass callback. */
void ks_fetcher_free(struct ks_fetcher *f);

/*
 * Register a certificate. -ENOMEM, or -EINVAL if its OCSP request cannot be built. A
 * certificate added after ks_fetcher_start() is scheduled at once; one added while a pass
 * runs joins that pass (so a caller can start fetching while still loading certificates).
 */
KS_MUST_CHECK int ks_fetcher_add(struct ks_fetcher *f, struct ks_cache_entry *entry);

/*
 * The agent's mode: certificates without a published staple are due now, the others when the
 * refresh policy says; afterwards every completion schedules the next attempt.
 */
KS_MUST_CHECK int ks_fetcher_start(struct ks_fetcher *f);
/* Make every certificate with a responder due now (those already in flight are left alone). */
void ks_fetcher_fetch_all_now(struct ks_fetcher *f);
/*
 * Fetch every certificate with a responder once; done(f, arg) is called from the loop when
 * each has finished its attempt (immediately, from the loop, if there is none). -EBUSY if a
 * pass is already running.
 */
KS_MUST_CHECK int ks_fetcher_one_pass(struct ks_fetcher *f, ks_fetch_pass_fn done, void *arg);
/*
 * While held, the pass does not end even if every certificate in it has finished: `kstaple
 * fetch` holds it while certificates are still loading (and joining it), which can be slower
 * than fetching. Releasing it ends the pass, from the loop, once everything in it is done.
 */
void ks_fetcher_pass_hold(struct ks_fetcher *f, bool hold);

/* Results, in the order certificates were added. */
size_t ks_fetcher_count(const struct ks_fetcher *f);
const struct ks_fetch_cert_result *ks_fetcher_result(const struct ks_fetcher *f, size_t i);
struct ks_cache_entry *ks_fetcher_entry(const struct ks_fetcher *f, size_t i);
/* Progress of the current (or last) pass: attempts finished and certificates in it. */
void ks_fetcher_progress(const struct ks_fetcher *f, size_t *done, size_t *total);
/* Requests in flight now, and the most ever in flight at once (tests check the limits). */
unsigned ks_fetcher_inflight(const struct ks_fetcher *f);
unsigned ks_fetcher_peak_inflight(const struct ks_fetcher *f);

/* "ok", "rejected", "http-error", "no-responder", "local-error", "pending". */
const char *ks_fetch_outcome_name(enum ks_fetch_outcome o);

#endif /* KSTAPLE_FETCHER_H */

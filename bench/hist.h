/* SPDX-License-Identifier: MIT */
/*
 * A log-linear latency histogram in the spirit of HdrHistogram.
 *
 * Values (nanoseconds, but any uint64_t works) below 2^(KS_HIST_SUB_BITS+1) get one bucket
 * each and are kept exactly. Above that, every power of two is split into 2^KS_HIST_SUB_BITS
 * equal buckets, so a bucket [lo, hi] is never wider than lo / 2^KS_HIST_SUB_BITS. Reporting
 * the bucket's midpoint therefore errs by at most 1 / 2^(KS_HIST_SUB_BITS+1) of the true value
 * (0.39% with 7 sub-bits), over the whole uint64_t range, with a fixed array of counters:
 * recording is a few instructions and no allocation, so every worker thread owns one and
 * they are merged once at the end.
 */
#ifndef KSTAPLE_BENCH_HIST_H
#define KSTAPLE_BENCH_HIST_H

#include <stdint.h>
#include <stdio.h>

#include "kstaple/common.h"

#define KS_HIST_SUB_BITS  7
#define KS_HIST_SUB_COUNT (1u << KS_HIST_SUB_BITS)
/* Exact buckets for 0..2^(SUB_BITS+1)-1, then SUB_COUNT per octave for exponents SUB_BITS+1..63. */
#define KS_HIST_BUCKETS (2 * KS_HIST_SUB_COUNT + (63 - KS_HIST_SUB_BITS) * KS_HIST_SUB_COUNT)

struct ks_hist {
	uint64_t count;
	uint64_t min; /* exact; UINT64_MAX while empty */
	uint64_t max; /* exact */
	double sum;   /* for the mean; a double so that huge values cannot overflow it */
	uint64_t buckets[KS_HIST_BUCKETS];
};

void ks_hist_init(struct ks_hist *h);
void ks_hist_record(struct ks_hist *h, uint64_t v);
/* Add src's counts to dst (per-thread histograms into one). */
void ks_hist_merge(struct ks_hist *dst, const struct ks_hist *src);

/* Bucket geometry, exported for tests and for the CDF dump. */
size_t ks_hist_index(uint64_t v);
uint64_t ks_hist_bucket_lo(size_t idx);
uint64_t ks_hist_bucket_hi(size_t idx);

/*
 * The p-th percentile (0 < p <= 100) by nearest rank: the value of rank ceil(p/100 * count)
 * in sorted order, reported as its bucket's midpoint clamped to [min, max]. p = 100 gives
 * the exact max. An empty histogram gives 0.
 */
uint64_t ks_hist_percentile(const struct ks_hist *h, double p);
double ks_hist_mean(const struct ks_hist *h);

/*
 * Write the CDF as CSV for gnuplot: a header line "latency_us,cdf,count", then one row per
 * non-empty bucket: the bucket's upper bound in microseconds (clamped to max), the fraction
 * of values <= it, and the bucket's count. Returns 0 or -EIO.
 */
KS_MUST_CHECK int ks_hist_write_cdf(const struct ks_hist *h, FILE *f);

#endif /* KSTAPLE_BENCH_HIST_H */

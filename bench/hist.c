// SPDX-License-Identifier: MIT
/* Log-linear histogram: see hist.h for the bucket layout and its error bound. */
#include <math.h>
#include <string.h>

#include "hist.h"

#define EXACT_LIMIT (2 * (uint64_t)KS_HIST_SUB_COUNT) /* values below are their own bucket */

void ks_hist_init(struct ks_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

size_t ks_hist_index(uint64_t v)
{
	if (v < EXACT_LIMIT)
		return (size_t)v;
	/*
	 * e = position of the top bit (>= SUB_BITS+1). Keep the top SUB_BITS+1 bits:
	 * m = v >> shift lies in [SUB_COUNT, 2*SUB_COUNT), and the octave's buckets follow the
	 * exact ones, SUB_COUNT per octave.
	 */
	unsigned e = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = e - KS_HIST_SUB_BITS;
	uint64_t m = v >> shift;

	return (size_t)(EXACT_LIMIT + (uint64_t)(shift - 1) * KS_HIST_SUB_COUNT +
			(m - KS_HIST_SUB_COUNT));
}

uint64_t ks_hist_bucket_lo(size_t idx)
{
	if (idx < EXACT_LIMIT)
		return idx;
	size_t k = idx - EXACT_LIMIT;
	unsigned shift = (unsigned)(k / KS_HIST_SUB_COUNT) + 1;
	uint64_t m = KS_HIST_SUB_COUNT + k % KS_HIST_SUB_COUNT;

	return m << shift;
}

uint64_t ks_hist_bucket_hi(size_t idx)
{
	if (idx < EXACT_LIMIT)
		return idx;
	unsigned shift = (unsigned)((idx - EXACT_LIMIT) / KS_HIST_SUB_COUNT) + 1;

	/* lo + width - 1 cannot overflow: the last bucket ends exactly at UINT64_MAX. */
	return ks_hist_bucket_lo(idx) + ((UINT64_C(1) << shift) - 1);
}

void ks_hist_record(struct ks_hist *h, uint64_t v)
{
	h->buckets[ks_hist_index(v)]++;
	h->count++;
	h->sum += (double)v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void ks_hist_merge(struct ks_hist *dst, const struct ks_hist *src)
{
	if (src->count == 0)
		return;
	for (size_t i = 0; i < KS_HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum += src->sum;
	dst->min = KS_MIN(dst->min, src->min);
	dst->max = KS_MAX(dst->max, src->max);
}

static uint64_t clamp_mid(const struct ks_hist *h, size_t idx)
{
	uint64_t lo = ks_hist_bucket_lo(idx), hi = ks_hist_bucket_hi(idx);
	uint64_t mid = lo + (hi - lo) / 2;

	/* The true min and max are known exactly; never report a value outside them. */
	return KS_MAX(h->min, KS_MIN(h->max, mid));
}

uint64_t ks_hist_percentile(const struct ks_hist *h, double p)
{
	if (h->count == 0 || !(p > 0))
		return h->count ? h->min : 0;
	if (p >= 100)
		return h->max;

	/* Nearest rank, computed in long double so that counts near 2^53 stay exact enough. */
	long double r = ceill((long double)p / 100.0L * (long double)h->count);
	uint64_t rank = r < 1 ? 1 : (uint64_t)r;
	uint64_t seen = 0;

	for (size_t i = 0; i < KS_HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank)
			return clamp_mid(h, i);
	}
	return h->max; /* unreachable while counts are consistent */
}

double ks_hist_mean(const struct ks_hist *h)
{
	return h->count ? h->sum / (double)h->count : 0.0;
}

int ks_hist_write_cdf(const struct ks_hist *h, FILE *f)
{
	uint64_t seen = 0;

	if (fprintf(f, "latency_us,cdf,count\n") < 0)
		return -EIO;
	for (size_t i = 0; i < KS_HIST_BUCKETS && seen < h->count; i++) {
		if (h->buckets[i] == 0)
			continue;
		seen += h->buckets[i];
		uint64_t hi = KS_MIN(ks_hist_bucket_hi(i), h->max);

		if (fprintf(f, "%.3f,%.9f,%llu\n", (double)hi / 1000.0,
			    (double)seen / (double)h->count, (unsigned long long)h->buckets[i]) < 0)
			return -EIO;
	}
	return fflush(f) == 0 ? 0 : -EIO;
}

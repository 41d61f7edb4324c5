// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../bench/hist.h"

/* The bound hist.h promises: half a bucket, a bucket being at most 1/128 of its lower edge. */
#define REL_ERR_BOUND (1.0 / (2.0 * KS_HIST_SUB_COUNT))

static struct ks_hist *new_hist(void)
{
	struct ks_hist *h = malloc(sizeof(*h));

	cr_assert_not_null(h);
	ks_hist_init(h);
	return h;
}

/* xorshift64*: reproducible data without depending on the libc's rand(). */
static uint64_t rng(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1Dull;
}

/* Log-uniform in [lo, hi): latencies spread over many octaves, like a real tail. */
static uint64_t log_uniform(uint64_t *s, double lo, double hi)
{
	double u = (double)(rng(s) >> 11) / 9007199254740992.0;

	return (uint64_t)exp(log(lo) + u * (log(hi) - log(lo)));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank on a sorted array: the definition ks_hist_percentile approximates. */
static uint64_t exact_percentile(const uint64_t *sorted, size_t n, double p)
{
	size_t rank = (size_t)ceil(p / 100.0 * (double)n);

	return sorted[(rank < 1 ? 1 : rank) - 1];
}

Test(hist, empty_histogram_reports_zero)
{
	struct ks_hist *h = new_hist();
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_eq(h->count, 0);
	cr_assert_eq(ks_hist_percentile(h, 50), 0);
	cr_assert_eq(ks_hist_percentile(h, 100), 0);
	cr_assert_eq(ks_hist_mean(h), 0.0);
	cr_assert_eq(ks_hist_write_cdf(h, f), 0);
	fclose(f);
	cr_assert_str_eq(buf, "latency_us,cdf,count\n", "an empty CDF is only its header");
	free(buf);
	free(h);
}

Test(hist, single_value_is_every_percentile)
{
	struct ks_hist *h = new_hist();
	const uint64_t v = 1234567; /* not a bucket edge: exactness comes from min/max clamping */

	ks_hist_record(h, v);
	cr_assert_eq(h->count, 1);
	cr_assert_eq(ks_hist_percentile(h, 0.001), v);
	cr_assert_eq(ks_hist_percentile(h, 50), v);
	cr_assert_eq(ks_hist_percentile(h, 99.9), v);
	cr_assert_eq(ks_hist_percentile(h, 100), v);
	cr_assert_eq(h->min, v);
	cr_assert_eq(h->max, v);
	cr_assert_float_eq(ks_hist_mean(h), (double)v, 1e-6);
	free(h);
}

Test(hist, exact_percentiles_of_one_to_hundred)
{
	struct ks_hist *h = new_hist();

	/* Below 256 every value has its own bucket, so percentiles are exact. Shuffled order. */
	for (uint64_t i = 0; i < 100; i++)
		ks_hist_record(h, (i * 37) % 100 + 1);
	cr_assert_eq(ks_hist_percentile(h, 1), 1);
	cr_assert_eq(ks_hist_percentile(h, 50), 50);
	cr_assert_eq(ks_hist_percentile(h, 50.5), 51);
	cr_assert_eq(ks_hist_percentile(h, 90), 90);
	cr_assert_eq(ks_hist_percentile(h, 99), 99);
	cr_assert_eq(ks_hist_percentile(h, 99.9), 100);
	cr_assert_eq(ks_hist_percentile(h, 100), 100);
	cr_assert_float_eq(ks_hist_mean(h), 50.5, 1e-9);
	free(h);
}

Test(hist, exact_percentiles_of_a_bimodal_distribution)
{
	struct ks_hist *h = new_hist();

	/* 90 fast, 9 slow, 1 very slow: p90 must be fast, p91..p99 slow, p99.1+ the outlier. */
	for (int i = 0; i < 90; i++)
		ks_hist_record(h, 100);
	for (int i = 0; i < 9; i++)
		ks_hist_record(h, 200);
	ks_hist_record(h, 250);
	cr_assert_eq(ks_hist_percentile(h, 90), 100);
	cr_assert_eq(ks_hist_percentile(h, 90.01), 200);
	cr_assert_eq(ks_hist_percentile(h, 99), 200);
	cr_assert_eq(ks_hist_percentile(h, 99.01), 250);
	cr_assert_eq(ks_hist_percentile(h, 99.9), 250);
	free(h);
}

Test(hist, buckets_tile_the_range_with_bounded_width)
{
	/* Contiguous, increasing, never wider than lo/128: that is where the error bound comes from. */
	cr_assert_eq(ks_hist_bucket_lo(0), 0);
	for (size_t i = 0; i + 1 < KS_HIST_BUCKETS; i++) {
		uint64_t lo = ks_hist_bucket_lo(i), hi = ks_hist_bucket_hi(i);

		cr_assert_leq(lo, hi);
		cr_assert_eq(hi + 1, ks_hist_bucket_lo(i + 1), "gap or overlap after bucket %zu",
			     i);
		cr_assert_leq(hi - lo + 1, KS_MAX(1, lo / KS_HIST_SUB_COUNT), "bucket %zu too wide",
			      i);
		cr_assert_eq(ks_hist_index(lo), i);
		cr_assert_eq(ks_hist_index(hi), i);
	}
	cr_assert_eq(ks_hist_bucket_hi(KS_HIST_BUCKETS - 1), UINT64_MAX);
	cr_assert_eq(ks_hist_index(UINT64_MAX), KS_HIST_BUCKETS - 1);
}

Test(hist, huge_values_are_kept)
{
	struct ks_hist *h = new_hist();

	ks_hist_record(h, UINT64_MAX);
	ks_hist_record(h, UINT64_MAX - 1);
	ks_hist_record(h, UINT64_C(1) << 63);
	ks_hist_record(h, 1);
	cr_assert_eq(h->max, UINT64_MAX);
	cr_assert_eq(h->min, 1);
	cr_assert_eq(ks_hist_percentile(h, 100), UINT64_MAX);
	cr_assert_eq(ks_hist_percentile(h, 25), 1);
	/* Rank 2 of 4 is 2^63: the midpoint of its bucket, within the bound. */
	double p50 = (double)ks_hist_percentile(h, 50), want = ldexp(1.0, 63);

	cr_assert_leq(fabs(p50 - want) / want, REL_ERR_BOUND);
	cr_assert(isfinite(ks_hist_mean(h)));
	free(h);
}

Test(hist, relative_error_is_bounded_on_random_data)
{
	enum {
		N = 200000
	};
	static const double ps[] = { 0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100 };
	uint64_t *v = malloc(N * sizeof(*v));
	struct ks_hist *h = new_hist();
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	double sum = 0, worst = 0;

	cr_assert_not_null(v);
	for (size_t i = 0; i < N; i++) {
		v[i] = log_uniform(&seed, 1e3, 1e10); /* 1 us .. 10 s in ns */
		ks_hist_record(h, v[i]);
		sum += (double)v[i];
	}
	qsort(v, N, sizeof(*v), cmp_u64);
	for (size_t k = 0; k < KS_ARRAY_SIZE(ps); k++) {
		double want = (double)exact_percentile(v, N, ps[k]);
		double got = (double)ks_hist_percentile(h, ps[k]);
		double rel = fabs(got - want) / want;

		cr_assert_leq(rel, REL_ERR_BOUND, "p%g: histogram %.0f, sorted array %.0f (%.4f%%)",
			      ps[k], got, want, 100 * rel);
		worst = KS_MAX(worst, rel);
	}
	cr_assert_lt(worst, 0.01);
	cr_assert_eq(h->min, v[0]);
	cr_assert_eq(h->max, v[N - 1]);
	cr_assert_float_eq(ks_hist_mean(h), sum / N, 1e-6 * sum / N);
	free(v);
	free(h);
}

Test(hist, merge_equals_recording_into_one)
{
	struct ks_hist *all = new_hist(), *merged = new_hist(), *part[3];
	uint64_t seed = 42;

	for (int k = 0; k < 3; k++)
		part[k] = new_hist();
	for (int i = 0; i < 30000; i++) {
		uint64_t x = log_uniform(&seed, 1e4, 1e8);

		ks_hist_record(all, x);
		ks_hist_record(part[i % 3], x);
	}
	/* An empty histogram merged in either direction must not disturb min or max. */
	struct ks_hist *empty = new_hist();

	ks_hist_merge(merged, empty);
	for (int k = 0; k < 3; k++)
		ks_hist_merge(merged, part[k]);
	ks_hist_merge(merged, empty);
	cr_assert_eq(merged->count, all->count);
	cr_assert_eq(merged->min, all->min);
	cr_assert_eq(merged->max, all->max);
	cr_assert_eq(memcmp(merged->buckets, all->buckets, sizeof(all->buckets)), 0);
	cr_assert_eq(ks_hist_percentile(merged, 99), ks_hist_percentile(all, 99));
	ks_hist_merge(empty, merged);
	cr_assert_eq(empty->min, all->min);
	for (int k = 0; k < 3; k++)
		free(part[k]);
	free(empty);
	free(all);
	free(merged);
}

Test(hist, cdf_is_monotonic_and_ends_at_one)
{
	struct ks_hist *h = new_hist();
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0;
	uint64_t seed = 7, total = 0;
	double prev_x = -1, prev_y = 0;
	FILE *f;

	for (int i = 0; i < 5000; i++)
		ks_hist_record(h, log_uniform(&seed, 5e4, 5e6));
	f = open_memstream(&buf, &len);
	cr_assert_eq(ks_hist_write_cdf(h, f), 0);
	fclose(f);
	line = strtok_r(buf, "\n", &save);
	cr_assert_str_eq(line, "latency_us,cdf,count");
	while ((line = strtok_r(NULL, "\n", &save))) {
		double x, y;
		unsigned long long c;

		cr_assert_eq(sscanf(line, "%lf,%lf,%llu", &x, &y, &c), 3, "bad row '%s'", line);
		cr_assert_gt(x, prev_x);
		cr_assert_gt(y, prev_y);
		cr_assert_gt(c, 0);
		total += c;
		prev_x = x;
		prev_y = y;
	}
	cr_assert_eq(total, h->count);
	cr_assert_float_eq(prev_y, 1.0, 1e-9);
	cr_assert_float_eq(prev_x, (double)h->max / 1000.0, 1e-3, "last row is the exact max");
	free(buf);
	free(h);
}

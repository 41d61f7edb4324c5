// SPDX-License-Identifier: MIT
#include <limits.h>
#include <math.h>

#include <criterion/criterion.h>

#include "kstaple/staple_sched.h"

#define NOW  1700000000LL
#define WEEK (7 * 86400LL)

/* A one-week response fetched an hour after it was produced: interval 604800 s. */
static const int64_t tu = NOW - 3600, nu = NOW - 3600 + WEEK;

Test(staple_sched, default_policy_values)
{
	cr_assert_eq(ks_sched_default.refresh_fraction, 0.5);
	cr_assert_eq(ks_sched_default.jitter, 0.05);
	cr_assert_eq(ks_sched_default.min_before_expiry, 600);
	cr_assert_eq(ks_sched_default.min_delay, 60);
	cr_assert_eq(ks_sched_default.backoff_base, 60);
	cr_assert_eq(ks_sched_default.backoff_max, 3600);
	cr_assert_eq(ks_sched_policy_check(&ks_sched_default), 0);
}

Test(staple_sched, success_jitter_extremes_and_midpoint)
{
	const struct ks_sched_policy *p = &ks_sched_default;

	/* Half of the week (302400) -/+ 5% of the week (30240). */
	cr_assert_eq(ks_sched_after_success(p, NOW, tu, nu, 0), tu + 302400 - 30240);
	cr_assert_eq(ks_sched_after_success(p, NOW, tu, nu, UINT32_MAX), tu + 302400 + 30240);
	cr_assert_eq(ks_sched_after_success(p, NOW, tu, nu, 0x80000000u), tu + 302400);
	cr_assert_eq(ks_sched_after_success(p, NOW, tu, nu, 0x7fffffffu), tu + 302400);
	/* A quarter of the way: -half the jitter. */
	cr_assert_eq(ks_sched_after_success(p, NOW, tu, nu, UINT32_MAX / 4), tu + 302400 - 15120);
}

Test(staple_sched, success_is_deterministic_and_within_window)
{
	const struct ks_sched_policy *p = &ks_sched_default;
	uint32_t rnd = 0x12345678;

	for (int i = 0; i < 1000; i++) {
		int64_t t = ks_sched_after_success(p, NOW, tu, nu, rnd);

		cr_assert_eq(t, ks_sched_after_success(p, NOW, tu, nu, rnd));
		cr_assert_geq(t, tu + 302400 - 30240);
		cr_assert_leq(t, tu + 302400 + 30240);
		rnd = rnd * 1664525u + 1013904223u;
	}
}

Test(staple_sched, no_jitter_policy)
{
	struct ks_sched_policy p = ks_sched_default;

	p.jitter = 0;
	cr_assert_eq(ks_sched_after_success(&p, NOW, tu, nu, 0), tu + 302400);
	cr_assert_eq(ks_sched_after_success(&p, NOW, tu, nu, UINT32_MAX), tu + 302400);
}

Test(staple_sched, short_lived_response_clamped_to_min_delay)
{
	/* 10-minute response: nextUpdate - 600 is before now + 60, so now + 60 wins. */
	cr_assert_eq(ks_sched_after_success(&ks_sched_default, NOW, NOW - 300, NOW + 300, 0),
		     NOW + 60);
	cr_assert_eq(
		ks_sched_after_success(&ks_sched_default, NOW, NOW - 300, NOW + 300, UINT32_MAX),
		NOW + 60);
	/* Already expired (e.g. loaded late): still not sooner than now + 60. */
	cr_assert_eq(ks_sched_after_success(&ks_sched_default, NOW, NOW - 7200, NOW - 3600, 0),
		     NOW + 60);
}

Test(staple_sched, stale_this_update_clamped_to_min_delay)
{
	/* Fetched 6 days into a 7-day response: the half-way point is in the past. */
	int64_t old_tu = NOW - 6 * 86400;

	cr_assert_eq(
		ks_sched_after_success(&ks_sched_default, NOW, old_tu, old_tu + WEEK, UINT32_MAX),
		NOW + 60);
}

Test(staple_sched, clamped_before_expiry)
{
	struct ks_sched_policy p = ks_sched_default;

	/* 0.9 of an hour + 5% = 3420 s, later than nextUpdate - 600 = 3000 s. */
	p.refresh_fraction = 0.9;
	cr_assert_eq(ks_sched_after_success(&p, NOW, NOW, NOW + 3600, UINT32_MAX), NOW + 3000);
	/* Without the jitter pushing it: 3240 - 180 = 3060 > 3000: clamped too. */
	cr_assert_eq(ks_sched_after_success(&p, NOW, NOW, NOW + 3600, 0), NOW + 3000);
	p.min_before_expiry = 0;
	cr_assert_eq(ks_sched_after_success(&p, NOW, NOW, NOW + 3600, 0), NOW + 3060);
}

Test(staple_sched, success_saturates_on_extreme_times)
{
	int64_t t = ks_sched_after_success(&ks_sched_default, NOW, INT64_MIN, INT64_MAX, 0);

	cr_assert_geq(t, NOW + 60);
	cr_assert_leq(t, INT64_MAX - 600);
	/* nextUpdate before thisUpdate: no interval, clamped to now + min_delay. */
	cr_assert_eq(ks_sched_after_success(&ks_sched_default, NOW, NOW + 5000, NOW, 0), NOW + 60);
}

Test(staple_sched, failure_backoff_doubles_then_caps)
{
	static const int64_t want[] = { 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600 };

	for (unsigned n = 1; n <= KS_ARRAY_SIZE(want); n++)
		cr_assert_eq(ks_sched_after_failure(&ks_sched_default, NOW, n, 0),
			     NOW + want[n - 1], "failure %u", n);
}

Test(staple_sched, failure_count_overflow)
{
	cr_assert_eq(ks_sched_after_failure(&ks_sched_default, NOW, 63, 0), NOW + 3600);
	cr_assert_eq(ks_sched_after_failure(&ks_sched_default, NOW, 64, 0), NOW + 3600);
	cr_assert_eq(ks_sched_after_failure(&ks_sched_default, NOW, 65, 0), NOW + 3600);
	cr_assert_eq(ks_sched_after_failure(&ks_sched_default, NOW, 1000, 0), NOW + 3600);
	cr_assert_eq(ks_sched_after_failure(&ks_sched_default, NOW, UINT_MAX, 0), NOW + 3600);
	/* failures = 0 is a caller bug; treat it as the first failure rather than shifting by -1. */
	cr_assert_eq(ks_sched_after_failure(&ks_sched_default, NOW, 0, 0), NOW + 60);
}

Test(staple_sched, failure_large_base_does_not_overflow)
{
	struct ks_sched_policy p = ks_sched_default;

	p.backoff_base = INT64_MAX / 4;
	p.backoff_max = INT64_MAX;
	cr_assert_eq(ks_sched_after_failure(&p, NOW, 1, 0), NOW + INT64_MAX / 4);
	cr_assert_eq(ks_sched_after_failure(&p, NOW, 2, 0), NOW + (INT64_MAX / 4) * 2);
	/* base << 2 overflows: capped at backoff_max, and now + that saturates. */
	cr_assert_eq(ks_sched_after_failure(&p, NOW, 3, 0), INT64_MAX);
	cr_assert_eq(ks_sched_after_failure(&p, NOW, 1000, 0), INT64_MAX);
}

Test(staple_sched, failure_capped_at_last_good_next_update)
{
	/* 5th failure wants 960 s, but the staple we hold expires in 200 s. */
	cr_assert_eq(ks_sched_after_failure(&ks_sched_default, NOW, 5, NOW + 200), NOW + 200);
	/* A far-away expiry does not lengthen the backoff. */
	cr_assert_eq(ks_sched_after_failure(&ks_sched_default, NOW, 5, NOW + WEEK), NOW + 960);
	/* Expiring in 30 s (or already expired): still not sooner than now + min_delay. */
	cr_assert_eq(ks_sched_after_failure(&ks_sched_default, NOW, 5, NOW + 30), NOW + 60);
	cr_assert_eq(ks_sched_after_failure(&ks_sched_default, NOW, 5, NOW - 3600), NOW + 60);
}

Test(staple_sched, policy_check_rejects_each_bad_field)
{
	struct ks_sched_policy p;

	cr_assert_eq(ks_sched_policy_check(NULL), -EINVAL);
#define BAD(field, value)                                                              \
	do {                                                                           \
		p = ks_sched_default;                                                  \
		p.field = value;                                                       \
		cr_assert_eq(ks_sched_policy_check(&p), -EINVAL, #field " = " #value); \
	} while (0)
#define GOOD(field, value)                                                       \
	do {                                                                     \
		p = ks_sched_default;                                            \
		p.field = value;                                                 \
		cr_assert_eq(ks_sched_policy_check(&p), 0, #field " = " #value); \
	} while (0)
	BAD(refresh_fraction, 0.0);
	BAD(refresh_fraction, 1.0);
	BAD(refresh_fraction, -0.5);
	BAD(refresh_fraction, 1.5);
	BAD(refresh_fraction, NAN);
	BAD(jitter, -0.01);
	BAD(jitter, 0.5);
	BAD(jitter, NAN);
	BAD(min_delay, 0);
	BAD(min_delay, -60);
	BAD(backoff_base, 0);
	BAD(backoff_max, 59);
	BAD(min_before_expiry, -1);
	GOOD(jitter, 0.0);
	GOOD(jitter, 0.49);
	GOOD(min_before_expiry, 0);
	GOOD(backoff_max, 60);
	/* Jitter must stay below 1 - fraction too, or the target could pass nextUpdate. */
	p = ks_sched_default;
	p.refresh_fraction = 0.9;
	p.jitter = 0.1;
	cr_assert_eq(ks_sched_policy_check(&p), -EINVAL);
	p.jitter = 0.09;
	cr_assert_eq(ks_sched_policy_check(&p), 0);
	/* ... and below the fraction, or it could fall before thisUpdate. */
	p.refresh_fraction = 0.1;
	p.jitter = 0.1;
	cr_assert_eq(ks_sched_policy_check(&p), -EINVAL);
#undef BAD
#undef GOOD
}

// SPDX-License-Identifier: MIT
/*
 * When to fetch the next OCSP response; see include/kstaple/staple_sched.h.
 *
 * Pure arithmetic on Unix seconds. Every addition saturates, because the inputs come from a
 * response (nextUpdate may be far in the future) or from a counter that can grow without bound
 * (consecutive failures), and a wrapped int64 would schedule a fetch in 1901.
 */
#include "kstaple/staple_sched.h"

const struct ks_sched_policy ks_sched_default = {
	.refresh_fraction = 0.5,
	.jitter = 0.05,
	.min_before_expiry = 600,
	.min_delay = 60,
	.backoff_base = 60,
	.backoff_max = 3600,
};

static int64_t sat_add(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

static int64_t sat_sub(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_sub_overflow(a, b, &r))
		return b < 0 ? INT64_MAX : INT64_MIN;
	return r;
}

/* A double that may exceed the int64 range (a huge interval times a fraction) to int64. */
static int64_t clamp_to_i64(double d)
{
	/* Round half away from zero (no libm needed), then saturate: 2^63 is exact in a double. */
	double r = d >= 0 ? d + 0.5 : d - 0.5;

	if (r != r)
		return 0;
	if (r >= 9223372036854775808.0)
		return INT64_MAX;
	if (r <= -9223372036854775808.0)
		return INT64_MIN;
	return (int64_t)r;
}

int64_t ks_sched_after_success(const struct ks_sched_policy *p, int64_t now, int64_t this_update,
			       int64_t next_update, uint32_t rnd)
{
	int64_t interval = sat_sub(next_update, this_update);
	double u, off;
	int64_t target;

	/* The validator refuses nextUpdate < thisUpdate; be safe anyway: no interval, no jitter. */
	if (interval < 0)
		interval = 0;
	/*
	 * Spread renewals of many certificates (or many agents behind one responder) over a window
	 * instead of having them all fetch at the same instant: u in [0, 1] maps rnd = 0 to
	 * -jitter and rnd = UINT32_MAX to +jitter of the interval, linearly in between.
	 */
	u = (double)rnd / (double)UINT32_MAX;
	off = (2.0 * u - 1.0) * p->jitter * (double)interval;
	target = sat_add(this_update, clamp_to_i64(p->refresh_fraction * (double)interval + off));
	/* Leave time to fetch again before the response goes stale... */
	target = KS_MIN(target, sat_sub(next_update, p->min_before_expiry));
	/* ...but never hammer the responder when its responses are short-lived. */
	target = KS_MAX(target, sat_add(now, p->min_delay));
	return target;
}

int64_t ks_sched_after_failure(const struct ks_sched_policy *p, int64_t now, unsigned failures,
			       int64_t last_good_next_update)
{
	unsigned shift = failures ? failures - 1 : 0;
	int64_t delay, target;

	/*
	 * backoff_base << shift without overflow: once the shift would push the base past
	 * backoff_max (or past int64), the answer is backoff_max anyway.
	 */
	if (shift >= 62 || p->backoff_base > (INT64_MAX >> shift))
		delay = p->backoff_max;
	else
		delay = KS_MIN(p->backoff_base << shift, p->backoff_max);
	target = sat_add(now, delay);
	/*
	 * If the response we are still stapling expires before the backoff ends, try again by
	 * then: a late retry would leave clients without a staple.
	 */
	if (last_good_next_update > 0)
		target = KS_MIN(target, last_good_next_update);
	target = KS_MAX(target, sat_add(now, p->min_delay));
	return target;
}

int ks_sched_policy_check(const struct ks_sched_policy *p)
{
	ENSURE(p, -EINVAL);
	/* Written as !(in range) so that NaN is rejected too. */
	ENSURE(p->refresh_fraction > 0.0 && p->refresh_fraction < 1.0, -EINVAL);
	/*
	 * The jitter must keep the target strictly inside (thisUpdate, nextUpdate): with
	 * fraction 0.5, a jitter of 0.5 could land on thisUpdate itself.
	 */
	ENSURE(p->jitter >= 0.0 &&
		       p->jitter < KS_MIN(p->refresh_fraction, 1.0 - p->refresh_fraction),
	       -EINVAL);
	ENSURE(p->min_delay >= 1, -EINVAL);
	ENSURE(p->backoff_base >= 1, -EINVAL);
	ENSURE(p->backoff_max >= p->backoff_base, -EINVAL);
	ENSURE(p->min_before_expiry >= 0, -EINVAL);
	return 0;
}

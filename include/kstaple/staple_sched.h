/* SPDX-License-Identifier: MIT */
/*
 * staple_sched: when to fetch next. Pure functions of the policy, the time and a random value.
 *
 * After a success: thisUpdate + fraction * (nextUpdate - thisUpdate), +- jitter of that
 * interval, never later than nextUpdate - min_before_expiry and never sooner than
 * now + min_delay. After the n-th consecutive failure: now + backoff_base * 2^(n-1), capped at
 * backoff_max and at the nextUpdate of the last good response (if any), never sooner than
 * now + min_delay.
 */
#ifndef KSTAPLE_STAPLE_SCHED_H
#define KSTAPLE_STAPLE_SCHED_H

#include <stdint.h>

#include "kstaple/common.h"

struct ks_sched_policy {
	double refresh_fraction;   /* 0.5 */
	double jitter;		   /* 0.05: +-5% of the validity interval */
	int64_t min_before_expiry; /* 600 s */
	int64_t min_delay;	   /* 60 s */
	int64_t backoff_base;	   /* 60 s */
	int64_t backoff_max;	   /* 3600 s */
};

extern const struct ks_sched_policy ks_sched_default;

/* rnd: a uniformly random 32-bit value (tests pass fixed ones). */
int64_t ks_sched_after_success(const struct ks_sched_policy *p, int64_t now, int64_t this_update,
			       int64_t next_update, uint32_t rnd);
/* failures >= 1; last_good_next_update = 0 when there is no good response. */
int64_t ks_sched_after_failure(const struct ks_sched_policy *p, int64_t now, unsigned failures,
			       int64_t last_good_next_update);
/* -EINVAL if the policy is inconsistent (fraction outside (0,1), jitter >= fraction, ...). */
KS_MUST_CHECK int ks_sched_policy_check(const struct ks_sched_policy *p);

#endif /* KSTAPLE_STAPLE_SCHED_H */

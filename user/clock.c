// SPDX-License-Identifier: MIT
/* Real and test clocks; see include/kstaple/clock.h. */
#include <stdbool.h>
#include <stdio.h>

#include "kstaple/clock.h"

static int64_t real_now(const struct ks_clock *clk)
{
	struct timespec ts;

	(void)clk;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

const struct ks_clock ks_clock_real = { .now = real_now, .ctx = NULL };

int64_t ks_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t fixed_now(const struct ks_clock *clk)
{
	return *(const int64_t *)clk->ctx;
}

void ks_clock_fixed(struct ks_clock *clk, int64_t *t)
{
	clk->now = fixed_now;
	clk->ctx = t;
}

static char *fmt(int64_t t, char *buf, size_t len, bool iso)
{
	time_t tt = (time_t)t;
	struct tm tm;
	size_t n = 0;

	if (gmtime_r(&tt, &tm))
		n = iso ? strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm)
			: strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
	if (!n)
		snprintf(buf, len, "@%lld", (long long)t);
	return buf;
}

char *ks_fmt_time(int64_t t, char *buf, size_t len)
{
	return fmt(t, buf, len, false);
}

char *ks_fmt_time_iso(int64_t t, char *buf, size_t len)
{
	return fmt(t, buf, len, true);
}

/* SPDX-License-Identifier: MIT */
/*
 * The injected clock. Pure modules (ocsp_verify, staple_sched) take the time as an argument;
 * stateful ones (staple_cache, fetcher, the TLS status callback) read it through a
 * struct ks_clock so tests can move time without sleeping.
 */
#ifndef KSTAPLE_CLOCK_H
#define KSTAPLE_CLOCK_H

#include <stdint.h>
#include <time.h>

struct ks_clock {
	/* Wall-clock seconds since the epoch (what OCSP's GeneralizedTime is compared with). */
	int64_t (*now)(const struct ks_clock *clk);
	void *ctx;
};

/* The real clock: CLOCK_REALTIME. */
extern const struct ks_clock ks_clock_real;

static inline int64_t ks_now(const struct ks_clock *clk)
{
	return clk->now(clk);
}

/* Monotonic milliseconds, for timeouts and durations (never compared with OCSP times). */
int64_t ks_monotonic_ms(void);

/* A settable clock for tests: ks_clock_fixed(&clk, &t) reads t. */
void ks_clock_fixed(struct ks_clock *clk, int64_t *t);

/* Format t as "2026-11-22 00:15:45 UTC" into buf (>= 32 bytes). Returns buf. */
char *ks_fmt_time(int64_t t, char *buf, size_t len);
/* Format t as RFC 3339 "2026-11-22T00:15:45Z" (for JSON). Returns buf. */
char *ks_fmt_time_iso(int64_t t, char *buf, size_t len);

#endif /* KSTAPLE_CLOCK_H */

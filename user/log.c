// SPDX-License-Identifier: MIT
/* Leveled logging to stderr (or a stream tests choose). */
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "kstaple/log.h"

static enum ks_log_level log_level = KS_LOG_INFO;
static FILE *log_stream;
static int log_timestamps = -1; /* -1: decide on first use */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {
	[KS_LOG_ERR] = "error",
	[KS_LOG_WARN] = "warning",
	[KS_LOG_INFO] = "info",
	[KS_LOG_DEBUG] = "debug",
};

void ks_log_set_level(enum ks_log_level lvl)
{
	log_level = lvl;
}

enum ks_log_level ks_log_get_level(void)
{
	return log_level;
}

int ks_log_parse_level(const char *s, enum ks_log_level *out)
{
	for (size_t i = 0; i < KS_ARRAY_SIZE(level_names); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum ks_log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "err") == 0 || strcasecmp(s, "warn") == 0) {
		*out = s[0] == 'e' || s[0] == 'E' ? KS_LOG_ERR : KS_LOG_WARN;
		return 0;
	}
	return -EINVAL;
}

void ks_log_set_stream(FILE *f)
{
	log_stream = f;
}

void ks_log_set_timestamps(int on)
{
	log_timestamps = on;
}

void ks_vlog(enum ks_log_level lvl, const char *cert, const char *fmt, va_list ap)
{
	FILE *f = log_stream ? log_stream : stderr;
	char ts[32] = "";

	if (lvl > log_level)
		return;
	if (log_timestamps < 0)
		log_timestamps = !isatty(fileno(stderr));
	if (log_timestamps) {
		struct timespec now;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &now);
		gmtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ ", &tm);
	}
	/* One write per line so that lines from worker threads never interleave. */
	pthread_mutex_lock(&log_lock);
	fprintf(f, "%skstaple: %s: ", ts, level_names[lvl]);
	if (cert)
		fprintf(f, "[cert %s] ", cert);
	vfprintf(f, fmt, ap);
	fputc('\n', f);
	fflush(f);
	pthread_mutex_unlock(&log_lock);
}

void ks_log(enum ks_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ks_vlog(lvl, NULL, fmt, ap);
	va_end(ap);
}

void ks_log_cert(enum ks_log_level lvl, const char *cert, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ks_vlog(lvl, cert, fmt, ap);
	va_end(ap);
}

void ks_log_ossl(enum ks_log_level lvl, const char *cert, const char *msg)
{
	char detail[256] = "";
	unsigned long e;

	/* The earliest error is usually the root cause; keep it and drop the rest. */
	e = ERR_get_error();
	if (e)
		ERR_error_string_n(e, detail, sizeof(detail));
	ERR_clear_error();
	if (detail[0])
		ks_log_cert(lvl, cert, "%s (%s)", msg, detail);
	else
		ks_log_cert(lvl, cert, "%s", msg);
}

/* SPDX-License-Identifier: MIT */
/*
 * Logging: levels, one line per event, stderr by default.
 *
 * Lines read "kstaple: LEVEL: [cert NAME] message". Every line about a certificate's OCSP state
 * goes through ks_log_cert() so the certificate's name is always present. Secrets never reach
 * a log line: callers log names, paths and verdicts, never key or response bytes.
 */
#ifndef KSTAPLE_LOG_H
#define KSTAPLE_LOG_H

#include <stdarg.h>
#include <stdio.h>

#include "kstaple/common.h"

enum ks_log_level {
	KS_LOG_ERR = 0,
	KS_LOG_WARN,
	KS_LOG_INFO,
	KS_LOG_DEBUG,
};

/* Lines above this level are dropped. Default KS_LOG_INFO. */
void ks_log_set_level(enum ks_log_level lvl);
enum ks_log_level ks_log_get_level(void);
/* Parse "error|warning|info|debug"; -EINVAL otherwise. */
KS_MUST_CHECK int ks_log_parse_level(const char *s, enum ks_log_level *out);
/* Redirect output (tests capture it); NULL restores stderr. */
void ks_log_set_stream(FILE *f);
/* Prefix lines with an ISO-8601 UTC timestamp (on by default when stderr is not a tty). */
void ks_log_set_timestamps(int on);

void ks_log(enum ks_log_level lvl, const char *fmt, ...) KS_PRINTF(2, 3);
void ks_vlog(enum ks_log_level lvl, const char *cert, const char *fmt, va_list ap);
void ks_log_cert(enum ks_log_level lvl, const char *cert, const char *fmt, ...) KS_PRINTF(3, 4);

/* Drain OpenSSL's error queue into one log line appended to msg (queue emptied). */
void ks_log_ossl(enum ks_log_level lvl, const char *cert, const char *msg);

#define ks_err(...)   ks_log(KS_LOG_ERR, __VA_ARGS__)
#define ks_warn(...)  ks_log(KS_LOG_WARN, __VA_ARGS__)
#define ks_info(...)  ks_log(KS_LOG_INFO, __VA_ARGS__)
#define ks_debug(...) ks_log(KS_LOG_DEBUG, __VA_ARGS__)

#endif /* KSTAPLE_LOG_H */

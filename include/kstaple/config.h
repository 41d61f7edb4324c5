/* SPDX-License-Identifier: MIT */
/*
 * config: the INI configuration file (parsed by inih), checked against one table of keys that
 * says for each section kind and key: the type, the bounds, the default and where it is stored.
 * Every error names the file, the line and the key. Later features add rows to the table.
 *
 *   [kstaple]              state_dir, log_level
 *   [fetch]                skew, refresh/back-off policy, timeouts (see kstaple.conf(5))
 *   [cert:NAME]            chain, key, issuer, responder, must_staple
 */
#ifndef KSTAPLE_CONFIG_H
#define KSTAPLE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kstaple/common.h"
#include "kstaple/log.h"
#include "kstaple/staple_sched.h"

enum ks_must_staple {
	KS_MUST_STAPLE_AUTO = 0, /* enforce when the certificate carries the TLS Feature */
	KS_MUST_STAPLE_ENFORCE,	 /* always require a valid staple */
	KS_MUST_STAPLE_IGNORE,	 /* never refuse a handshake for lack of a staple */
};

struct ks_cert_conf {
	char *name; /* NAME of [cert:NAME] */
	char *chain;
	char *key;
	char *issuer;	 /* NULL: the chain holds the issuer */
	char *responder; /* NULL: use the AIA OCSP URL */
	enum ks_must_staple must_staple;
	int line; /* line of the section header, for messages */
};

struct ks_fetch_conf {
	int64_t skew; /* seconds allowed between our clock and the responder's */
	struct ks_sched_policy sched;
	int64_t connect_timeout_ms;
	int64_t timeout_ms; /* total, per request */
	int64_t max_body;   /* bytes */
	int64_t max_concurrency;
	int64_t max_per_responder;
	char *proxy; /* NULL: libcurl honours http_proxy from the environment */
	int64_t startup_wait_ms;
};

struct ks_config {
	char *path;
	char *state_dir;
	enum ks_log_level log_level;
	struct ks_fetch_conf fetch;
	struct ks_cert_conf *certs;
	size_t n_certs;
};

/* Parse and check path. Errors are logged as "FILE:LINE: [section] key: problem". */
KS_MUST_CHECK int ks_config_load(const char *path, struct ks_config **out);
/* Same, from a string (tests, fuzzing); name is used in messages. */
KS_MUST_CHECK int ks_config_parse(const char *text, const char *name, struct ks_config **out);
void ks_config_free(struct ks_config *cfg);

const struct ks_cert_conf *ks_config_cert(const struct ks_config *cfg, const char *name);
const char *ks_must_staple_str(enum ks_must_staple m);

#endif /* KSTAPLE_CONFIG_H */

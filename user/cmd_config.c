// SPDX-License-Identifier: MIT
/* `kstaple check-config`: load everything the agent would load and report on it. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kstaple/cert_store.h"
#include "kstaple/clock.h"
#include "kstaple/cmd.h"
#include "kstaple/config.h"
#include "kstaple/log.h"
#include "kstaple/privdrop.h"
#include "kstaple/staple_cache.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kstaple check-config -c FILE\n\n"
		"Load the configuration, every certificate, key and issuer it names, and the\n"
		"persisted staples in state_dir (re-verified now), and print one line per\n"
		"certificate: OCSP URL, must-staple, cached staple and its age.\n"
		"Nothing is fetched and nothing is written.\n\n"
		"  -c, --config FILE   configuration file (see kstaple.conf(5))\n"
		"  --keys              list every configuration key with its default, then exit\n\n"
		"exit status: 0 all good, 78 configuration or certificate error, 64 usage\n");
}

static void fmt_age(int64_t secs, char *buf, size_t len)
{
	if (secs < 120)
		snprintf(buf, len, "%llds", (long long)secs);
	else if (secs < 7200)
		snprintf(buf, len, "%lldm", (long long)secs / 60);
	else if (secs < 172800)
		snprintf(buf, len, "%lldh", (long long)secs / 3600);
	else
		snprintf(buf, len, "%lldd", (long long)secs / 86400);
}

/* Describe the persisted staple of one certificate (loaded and re-verified now). */
static void describe_staple(struct ks_cache *cache, struct ks_cache_entry *e, int64_t now,
			    char *buf, size_t len)
{
	struct ks_staple *st;
	char age[24], left[24];
	int ret;

	if (!cache) {
		snprintf(buf, len, "none (state_dir does not exist yet)");
		return;
	}
	ret = ks_cache_load(cache, e);
	st = ret > 0 ? ks_staple_acquire(e) : NULL;
	if (!st) {
		snprintf(buf, len, "none");
		return;
	}
	fmt_age(now - st->this_update, age, sizeof(age));
	fmt_age(st->next_update - now, left, sizeof(left));
	snprintf(buf, len, "%s, age %s, expires in %s", ks_verdict_name(st->verdict), age, left);
	ks_staple_release(st);
}

static int check_certs(const struct ks_config *cfg)
{
	const int64_t now = ks_now(&ks_clock_real);
	struct ks_cert **certs = calloc(cfg->n_certs + 1, sizeof(struct ks_cert *));
	struct ks_cache *cache = NULL;
	struct stat sb;
	int errors = 0;

	if (!certs)
		return 1;

	if (stat(cfg->state_dir, &sb) == 0) {
		cache = ks_cache_new(cfg->state_dir, &ks_clock_real, cfg->fetch.skew);
		if (!cache) {
			ks_err("%s: state_dir %s: %s", cfg->path, cfg->state_dir, strerror(errno));
			errors++;
		}
	}
	printf("%-20s %-8s %-11s %-40s %s\n", "CERT", "KEY", "MUST-STAPLE", "OCSP URL",
	       "CACHED STAPLE");
	for (size_t i = 0; i < cfg->n_certs; i++) {
		const struct ks_cert_conf *cc = &cfg->certs[i];
		struct ks_cache_entry *e = NULL;
		struct ks_cert *cert = NULL;
		char staple[96];
		const char *ms;

		if (ks_cert_load_conf(cfg, cc, true, now, &cert) < 0) {
			/* ks_cert_load logged the reason with the certificate's name and file. */
			printf("%-20s ERROR (see above)\n", cc->name);
			errors++;
			continue;
		}
		if (cc->must_staple == KS_MUST_STAPLE_AUTO)
			ms = cert->must_staple ? "yes" : "no";
		else
			ms = ks_must_staple_str(cc->must_staple);
		if (cache && ks_cache_add(cache, cert, &e) < 0)
			e = NULL;
		describe_staple(e ? cache : NULL, e, now, staple, sizeof(staple));
		printf("%-20s %-8s %-11s %-40s %s\n", cc->name, cert->is_ecdsa ? "ecdsa" : "rsa",
		       ms, cert->responder ? cert->responder : "(none: not fetched)", staple);
		certs[i] = cert;
	}
	/* Entries reference their certificates: free the cache first, then the certificates. */
	ks_cache_free(cache);
	for (size_t i = 0; i < cfg->n_certs; i++)
		ks_cert_free(certs[i]);
	free(certs);
	if (cfg->n_certs == 0)
		ks_warn("%s: no [cert:NAME] section: nothing to staple", cfg->path);
	return errors;
}

int ks_cmd_check_config(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "keys", no_argument, NULL, 'k' },
		{ "allow-insecure-key-permissions", no_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path = NULL;
	bool insecure_keys = false;
	struct ks_config *cfg;
	int opt, errors;

	while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'k':
			ks_config_dump_keys(stdout);
			return KS_EXIT_OK;
		case 'K':
			insecure_keys = true;
			break;
		case 'h':
			usage(stdout);
			return KS_EXIT_OK;
		default:
			usage(stderr);
			return KS_EXIT_USAGE;
		}
	}
	if (!path || optind != argc) {
		usage(stderr);
		return KS_EXIT_USAGE;
	}
	if (ks_config_load(path, &cfg) < 0)
		return KS_EXIT_CONFIG; /* every problem was logged with file and line */
	ks_log_set_level(cfg->log_level);
	cfg->allow_insecure_key_permissions |= insecure_keys;
	errors = check_certs(cfg);
	if (cfg->user) {
		uid_t uid;
		gid_t gid;

		/* Logged by the lookup: an unknown user or group would stop serve at start. */
		if (ks_privdrop_resolve(cfg->user, cfg->group, &uid, &gid) < 0)
			errors++;
	}
	ks_config_free(cfg);
	if (errors) {
		fprintf(stderr, "kstaple: %s: %d error(s)\n", path, errors);
		return KS_EXIT_CONFIG;
	}
	return KS_EXIT_OK;
}

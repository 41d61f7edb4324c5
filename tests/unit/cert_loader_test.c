// SPDX-License-Identifier: MIT
/* cert_loader: certificates loaded on threads come back in order, failures included. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "helpers/log_capture.h"
#include "helpers/fixtures.h"
#include "kstaple/cert_loader.h"
#include "kstaple/log.h"

#define N_CERTS 60

static struct ks_config *cfg;
static const struct ks_cert_conf *confs[N_CERTS];

static const char *leaf_of(int i)
{
	/* Every seventh names a missing file: its error must come back in its place. */
	return i % 7 == 3 ? NULL : i % 2 ? "rsa" : "ecdsa";
}

/* Absolute: the configuration resolves relative paths against its own directory. */
static const char *fixture_abs(const char *leaf, const char *file, char *buf)
{
	cr_assert_not_null(realpath(ks_test_fixturef("pki/leaf/%s/%s", leaf, file), buf), "%s/%s",
			   leaf, file);
	return buf;
}

/* N_CERTS sections; the same leaf may appear many times (the loader does not care). */
static void setup(void)
{
	size_t cap = 2 * PATH_MAX * N_CERTS, len = 0;
	char *text = malloc(cap), chain[PATH_MAX], key[PATH_MAX];
	const char *leaf;

	cr_assert(ks_test_fixtures_dir(), "KS_FIXTURES is not set");
	cr_assert_not_null(text);
	for (int i = 0; i < N_CERTS; i++) {
		leaf = leaf_of(i);
		len += (size_t)snprintf(text + len, cap - len,
					"[cert:c%d]\nchain = %s\nkey = %s\n\n", i,
					leaf ? fixture_abs(leaf, "chain.pem", chain)
					     : "/nonexistent/kstaple/chain.pem",
					fixture_abs(leaf ? leaf : "ecdsa", "key.pem", key));
		cr_assert_lt(len, cap);
	}
	cr_assert_eq(ks_config_parse(text, "/tmp/loader.conf", &cfg), 0);
	free(text);
	cr_assert_eq(cfg->n_certs, N_CERTS);
	for (int i = 0; i < N_CERTS; i++)
		confs[i] = &cfg->certs[i];
	ks_test_log_start();
}

static void teardown(void)
{
	ks_test_log_stop();
	ks_config_free(cfg);
}

TestSuite(cert_loader, .init = setup, .fini = teardown, .timeout = 60);

static void load_all(unsigned threads, bool with_key, bool wait)
{
	struct ks_cert_loader *l;
	struct ks_cert *c, *got[N_CERTS] = { 0 };
	size_t idx, expect = 0;
	int ret, err;

	l = ks_cert_loader_start(cfg, confs, N_CERTS, with_key, time(NULL), threads);
	cr_assert_not_null(l);
	while ((ret = ks_cert_loader_next(l, wait, &idx, &c, &err)) != -ENODATA) {
		cr_assert_geq(ret, 0);
		if (ret == 0) {
			cr_assert_not(wait, "a waiting next() returned nothing");
			continue;
		}
		cr_assert_eq(idx, expect++, "certificates must come back in order");
		if (leaf_of((int)idx)) {
			cr_assert_not_null(c, "c%zu: %d", idx, err);
			cr_assert_str_eq(c->name, confs[idx]->name);
			cr_assert_eq(!!c->key, with_key);
		} else {
			cr_assert_null(c);
			cr_assert_eq(err, -ENOENT, "c%zu: %d", idx, err);
		}
		got[idx] = c;
	}
	cr_assert_eq(expect, N_CERTS);
	cr_assert_eq(ks_cert_loader_next(l, true, &idx, &c, &err), -ENODATA);
	ks_cert_loader_free(l);
	/* One parse of the intermediate, shared by every chain loaded by this loader. */
	cr_assert_eq(got[0]->issuer, got[1]->issuer);
	cr_assert_eq(got[0]->issuer, got[N_CERTS - 2]->issuer); /* 59 % 7 == 3: not loaded */
	for (int i = 0; i < N_CERTS; i++)
		ks_cert_free(got[i]);
	cr_assert(strstr(ks_test_logged(), "[cert c3]") &&
			  strstr(ks_test_logged(), "/nonexistent/kstaple/chain.pem"),
		  "load errors are logged naming the certificate: %s", ks_test_logged());
}

Test(cert_loader, in_order_on_one_thread)
{
	load_all(1, false, true);
}

Test(cert_loader, in_order_on_four_threads_with_keys)
{
	load_all(4, true, true);
}

Test(cert_loader, polling_without_waiting)
{
	load_all(2, false, false);
}

Test(cert_loader, free_before_everything_is_handed_out)
{
	struct ks_cert_loader *l = ks_cert_loader_start(cfg, confs, N_CERTS, false, time(NULL), 2);
	struct ks_cert *c;
	size_t idx;
	int err;

	cr_assert_not_null(l);
	cr_assert_eq(ks_cert_loader_next(l, true, &idx, &c, &err), 1);
	ks_cert_free(c);
	/* The rest (loaded or not) is freed by the loader: the sanitizer build checks leaks. */
	ks_cert_loader_free(l);
	ks_cert_loader_free(NULL);
}

Test(cert_loader, nothing_to_load)
{
	struct ks_cert_loader *l = ks_cert_loader_start(cfg, confs, 0, false, time(NULL), 0);
	struct ks_cert *c;
	size_t idx;
	int err;

	cr_assert_not_null(l);
	cr_assert_eq(ks_cert_loader_next(l, true, &idx, &c, &err), -ENODATA);
	cr_assert_eq(ks_cert_loader_next(l, false, &idx, &c, &err), -ENODATA);
	ks_cert_loader_free(l);
}

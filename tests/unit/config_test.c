// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers/log_capture.h"
#include "kstaple/config.h"

#define NAME "/etc/kstaple/kstaple.conf"

static void capture(void)
{
	ks_test_log_start();
}

static void release(void)
{
	ks_test_log_stop();
}

TestSuite(config, .init = capture, .fini = release);

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

#define expect_log(sub)                                                                      \
	cr_assert(strstr(ks_test_logged(), (sub)), "log lacks \"%s\"; it holds:\n%s", (sub), \
		  ks_test_logged())

/* Parse text that must fail, and check the single message it logs. */
static void expect_error(const char *text, const char *msg)
{
	struct ks_config *cfg = (void *)1;

	cr_assert_eq(ks_config_parse(text, NAME, &cfg), -EINVAL, "accepted:\n%s", text);
	cr_assert_null(cfg);
	expect_log(msg);
	cr_assert_eq(count_lines(ks_test_logged()), 1, "expected one message, got:\n%s",
		     ks_test_logged());
}

static struct ks_config *parse_ok(const char *text)
{
	struct ks_config *cfg = NULL;
	int r = ks_config_parse(text, NAME, &cfg);

	cr_assert_eq(r, 0, "rejected (%d):\n%s\nlog:\n%s", r, text, ks_test_logged());
	cr_assert_not_null(cfg);
	return cfg;
}

Test(config, full_config_parses_into_the_expected_struct)
{
	struct ks_config *cfg = parse_ok("; a full configuration\n"
					 "[kstaple]\n"
					 "state_dir = /srv/kstaple\n"
					 "log_level = debug\n"
					 "\n"
					 "[fetch]\n"
					 "skew = 2m\n"
					 "refresh_fraction = 0.6\n"
					 "jitter = 0.1\n"
					 "min_before_expiry = 1h\n"
					 "min_delay = 30\n"
					 "backoff_base = 10s\n"
					 "backoff_max = 2h\n"
					 "connect_timeout = 1500ms\n"
					 "timeout = 20\n"
					 "max_body = 1M\n"
					 "max_concurrency = 100\n"
					 "max_per_responder = 4\n"
					 "proxy = http://proxy.example:3128\n"
					 "startup_wait_ms = 0\n"
					 "\n"
					 "[cert:www.example-1]\n"
					 "chain = /etc/ssl/www.pem\n"
					 "key = keys/www.key\n"
					 "issuer = /etc/ssl/ca.pem\n"
					 "responder = http://ocsp.example/\n"
					 "must_staple = enforce\n"
					 "[cert:mail]\n"
					 "chain = mail.pem\n"
					 "key = /k/mail.key\n");
	const struct ks_fetch_conf *f = &cfg->fetch;

	cr_assert_str_eq(cfg->path, NAME);
	cr_assert_str_eq(cfg->state_dir, "/srv/kstaple");
	cr_assert_eq(cfg->log_level, KS_LOG_DEBUG);
	cr_assert_eq(f->skew, 120);
	cr_assert_float_eq(f->sched.refresh_fraction, 0.6, 1e-12);
	cr_assert_float_eq(f->sched.jitter, 0.1, 1e-12);
	cr_assert_eq(f->sched.min_before_expiry, 3600);
	cr_assert_eq(f->sched.min_delay, 30);
	cr_assert_eq(f->sched.backoff_base, 10);
	cr_assert_eq(f->sched.backoff_max, 7200);
	cr_assert_eq(f->connect_timeout_ms, 1500);
	cr_assert_eq(f->timeout_ms, 20000);
	cr_assert_eq(f->max_body, 1048576);
	cr_assert_eq(f->max_concurrency, 100);
	cr_assert_eq(f->max_per_responder, 4);
	cr_assert_str_eq(f->proxy, "http://proxy.example:3128");
	cr_assert_eq(f->startup_wait_ms, 0);
	cr_assert_eq(cfg->n_certs, 2);
	cr_assert_str_eq(cfg->certs[0].name, "www.example-1");
	cr_assert_str_eq(cfg->certs[0].chain, "/etc/ssl/www.pem");
	cr_assert_str_eq(cfg->certs[0].key, "/etc/kstaple/keys/www.key");
	cr_assert_str_eq(cfg->certs[0].issuer, "/etc/ssl/ca.pem");
	cr_assert_str_eq(cfg->certs[0].responder, "http://ocsp.example/");
	cr_assert_eq(cfg->certs[0].must_staple, KS_MUST_STAPLE_ENFORCE);
	cr_assert_eq(cfg->certs[0].line, 22);
	cr_assert_str_eq(cfg->certs[1].name, "mail");
	cr_assert_str_eq(cfg->certs[1].chain, "/etc/kstaple/mail.pem");
	cr_assert_null(cfg->certs[1].issuer);
	cr_assert_null(cfg->certs[1].responder);
	cr_assert_eq(cfg->certs[1].must_staple, KS_MUST_STAPLE_AUTO);
	cr_assert_eq(cfg->certs[1].line, 28);
	cr_assert_eq(ks_config_cert(cfg, "mail"), &cfg->certs[1]);
	cr_assert_null(ks_config_cert(cfg, "mai"));
	cr_assert_str_eq(ks_must_staple_str(cfg->certs[0].must_staple), "enforce");
	cr_assert_str_eq(ks_test_logged(), "");
	ks_config_free(cfg);
}

Test(config, defaults_apply_when_keys_are_absent)
{
	struct ks_config *cfg = parse_ok("[kstaple]\n[fetch]\n[cert:a]\nchain = c\nkey = k\n");
	const struct ks_fetch_conf *f = &cfg->fetch;

	cr_assert_str_eq(cfg->state_dir, "/var/lib/kstaple");
	cr_assert_eq(cfg->log_level, KS_LOG_INFO);
	cr_assert_eq(f->skew, 300);
	cr_assert_float_eq(f->sched.refresh_fraction, 0.5, 1e-12);
	cr_assert_float_eq(f->sched.jitter, 0.05, 1e-12);
	cr_assert_eq(f->sched.min_before_expiry, 600);
	cr_assert_eq(f->sched.min_delay, 60);
	cr_assert_eq(f->sched.backoff_base, 60);
	cr_assert_eq(f->sched.backoff_max, 3600);
	cr_assert_eq(f->connect_timeout_ms, 5000);
	cr_assert_eq(f->timeout_ms, 15000);
	cr_assert_eq(f->max_body, 65536);
	cr_assert_eq(f->max_concurrency, 64);
	cr_assert_eq(f->max_per_responder, 8);
	cr_assert_null(f->proxy);
	cr_assert_eq(f->startup_wait_ms, 5000);
	cr_assert_eq(cfg->certs[0].must_staple, KS_MUST_STAPLE_AUTO);
	cr_assert_null(cfg->certs[0].issuer);
	ks_config_free(cfg);

	/* An empty file is a valid configuration without certificates. */
	cfg = parse_ok("");
	cr_assert_eq(cfg->n_certs, 0);
	cr_assert_eq(cfg->fetch.max_concurrency, 64);
	ks_config_free(cfg);
}

Test(config, defaults_agree_with_staple_sched)
{
	struct ks_config *cfg = parse_ok("");
	const struct ks_sched_policy *p = &cfg->fetch.sched;

	cr_assert_float_eq(p->refresh_fraction, ks_sched_default.refresh_fraction, 1e-12);
	cr_assert_float_eq(p->jitter, ks_sched_default.jitter, 1e-12);
	cr_assert_eq(p->min_before_expiry, ks_sched_default.min_before_expiry);
	cr_assert_eq(p->min_delay, ks_sched_default.min_delay);
	cr_assert_eq(p->backoff_base, ks_sched_default.backoff_base);
	cr_assert_eq(p->backoff_max, ks_sched_default.backoff_max);
	ks_config_free(cfg);
}

/* A zeroed place big enough for any section's fields. */
union any_base {
	struct ks_config cfg;
	struct ks_cert_conf cert;
	char pad[1024];
};

static const struct ks_conf_key *key(enum ks_conf_section sec, const char *name)
{
	size_t n;
	const struct ks_conf_key *k = ks_config_keys(&n);

	for (size_t i = 0; i < n; i++)
		if (k[i].sec == sec && !strcmp(k[i].name, name))
			return &k[i];
	cr_assert_fail("no key [%s] %s", ks_config_section_name(sec), name);
	return NULL;
}

Test(config, every_row_is_sound)
{
	size_t n;
	const struct ks_conf_key *k = ks_config_keys(&n);
	char why[256];

	cr_assert_geq(n, 21);
	for (size_t i = 0; i < n; i++) {
		union any_base b = { 0 };

		cr_assert(k[i].help && *k[i].help, "%s has no help", k[i].name);
		cr_assert(!(k[i].def && (k[i].flags & KS_CK_REQUIRED)), "%s", k[i].name);
		for (size_t j = 0; j < i; j++)
			cr_assert(k[j].sec != k[i].sec || strcmp(k[j].name, k[i].name),
				  "%s listed twice", k[i].name);
		if (!k[i].def)
			continue;
		cr_assert_eq(ks_config_set_value(&k[i], k[i].def, NULL, &b, why, sizeof(why)), 0,
			     "default of %s: %s", k[i].name, why);
		ks_config_free_value(&k[i], &b);
	}
}

/* Set one key from text into a scratch base; returns the result, value in *out. */
static int set64(enum ks_conf_section sec, const char *name, const char *v, int64_t *out, char *why,
		 size_t len)
{
	const struct ks_conf_key *k = key(sec, name);
	union any_base b = { 0 };
	int r = ks_config_set_value(k, v, NULL, &b, why, len);

	memcpy(out, (char *)&b + k->off, sizeof(*out));
	return r;
}

Test(config, durations_take_unit_suffixes)
{
	static const struct {
		const char *key, *text;
		int64_t want; /* < 0: must be rejected */
	} cases[] = {
		{ "skew", "300", 300 },
		{ "skew", "5m", 300 },
		{ "skew", "1h", 3600 },
		{ "skew", "2000ms", 2 },
		{ "skew", "60 s", 60 },
		{ "skew", "0", 0 },
		{ "backoff_max", "2h", 7200 },
		{ "backoff_max", "1d", 86400 },
		{ "connect_timeout", "1500ms", 1500 },
		{ "connect_timeout", "2", 2000 },
		{ "connect_timeout", "1m", 60000 },
		{ "startup_wait_ms", "0", 0 },
		{ "skew", "1500ms", -1 }, /* not whole seconds */
		{ "skew", "5x", -1 },
		{ "skew", "5 mins", -1 },
		{ "skew", "5M", -1 },
		{ "skew", "m", -1 },
		{ "skew", "ms", -1 },
		{ "skew", "-5", -1 },
		{ "skew", "+5", -1 },
		{ "skew", "5.5s", -1 },
		{ "skew", "1h30m", -1 },
		{ "skew", "0x10", -1 },
		{ "skew", "5s ", -1 },
		{ "skew", "99999999999999999999", -1 },
		{ "backoff_max", "999999999999999999d", -1 },
	};

	for (size_t i = 0; i < KS_ARRAY_SIZE(cases); i++) {
		char why[256] = "";
		int64_t v = 0;
		int r = set64(KS_SEC_FETCH, cases[i].key, cases[i].text, &v, why, sizeof(why));

		if (cases[i].want >= 0) {
			cr_assert_eq(r, 0, "%s = '%s': %s", cases[i].key, cases[i].text, why);
			cr_assert_eq(v, cases[i].want, "%s = '%s' gave %lld", cases[i].key,
				     cases[i].text, (long long)v);
		} else {
			cr_assert_eq(r, -EINVAL, "%s = '%s' accepted", cases[i].key, cases[i].text);
			cr_assert(strstr(why, cases[i].text) || strstr(why, "..."), "%s", why);
		}
	}
}

Test(config, bad_duration_message_names_file_line_key_and_value)
{
	expect_error("[fetch]\nskew = 10 minutes\n",
		     NAME ":2: [fetch] skew: expected a duration between 0s and 1h");
	expect_log("got '10 minutes'");
}

Test(config, sub_second_duration_for_a_seconds_key)
{
	expect_error("[fetch]\n\nmin_delay = 1500ms\n",
		     NAME ":3: [fetch] min_delay: expected whole seconds, got '1500ms'");
}

Test(config, bounds_are_inclusive)
{
	static const struct {
		const char *key, *text;
		int ok;
	} cases[] = {
		{ "max_concurrency", "1", 1 },
		{ "max_concurrency", "4096", 1 },
		{ "max_concurrency", "0", 0 },
		{ "max_concurrency", "4097", 0 },
		{ "max_per_responder", "1024", 1 },
		{ "max_per_responder", "1025", 0 },
		{ "skew", "3600", 1 },
		{ "skew", "3601", 0 },
		{ "skew", "1h", 1 },
		{ "max_body", "1024", 1 },
		{ "max_body", "1023", 0 },
		{ "max_body", "16M", 1 },
		{ "max_body", "16MiB", 1 },
		{ "max_body", "16777217", 0 },
		{ "max_body", "64KiB", 1 },
		{ "max_body", "64kB", 0 },
		{ "connect_timeout", "100ms", 1 },
		{ "connect_timeout", "99ms", 0 },
		{ "connect_timeout", "5m", 1 },
		{ "connect_timeout", "300001ms", 0 },
		{ "min_delay", "0", 0 },
		{ "min_delay", "1", 1 },
	};

	for (size_t i = 0; i < KS_ARRAY_SIZE(cases); i++) {
		char why[256] = "";
		int64_t v;
		int r = set64(KS_SEC_FETCH, cases[i].key, cases[i].text, &v, why, sizeof(why));

		cr_assert_eq(r, cases[i].ok ? 0 : -EINVAL, "%s = '%s': %d %s", cases[i].key,
			     cases[i].text, r, why);
	}
}

Test(config, integer_error_message)
{
	expect_error("[fetch]\nmax_concurrency = 64\n[kstaple]\n[fetch]\n",
		     NAME ":4: [fetch]: duplicate section, first at line 1");
	release();
	capture();
	expect_error("[fetch]\n\n\nmax_concurrency = abc\n",
		     NAME ":4: [fetch] max_concurrency: expected an integer between 1 and 4096, "
			  "got 'abc'");
	release();
	capture();
	expect_error("[fetch]\nmax_body = 20M\n",
		     NAME ":2: [fetch] max_body: expected a size between 1k and 16M");
}

Test(config, fractions_have_bounds)
{
	const struct ks_conf_key *f = key(KS_SEC_FETCH, "refresh_fraction");
	static const char *const bad[] = { "0",	    "1",   "1.0", "0.001", "-0.5", ".",
					   "0.5.1", "nan", "inf", "1e-1",  "0,5",  "50%" };
	union any_base b = { 0 };
	char why[256];

	for (size_t i = 0; i < KS_ARRAY_SIZE(bad); i++)
		cr_assert_eq(ks_config_set_value(f, bad[i], NULL, &b, why, sizeof(why)), -EINVAL,
			     "'%s' accepted", bad[i]);
	cr_assert_eq(ks_config_set_value(f, "0.01", NULL, &b, why, sizeof(why)), 0);
	cr_assert_eq(ks_config_set_value(f, "0.99", NULL, &b, why, sizeof(why)), 0);
	cr_assert_float_eq(b.cfg.fetch.sched.refresh_fraction, 0.99, 1e-12);
	cr_assert_eq(ks_config_set_value(f, ".75", NULL, &b, why, sizeof(why)), 0);
	cr_assert_float_eq(b.cfg.fetch.sched.refresh_fraction, 0.75, 1e-12);
	expect_error("[fetch]\njitter = 0.5\n",
		     NAME ":2: [fetch] jitter: expected a number between 0 and 0.49, got '0.5'");
}

Test(config, enum_values)
{
	expect_error("[kstaple]\nlog_level = verbose\n",
		     NAME ":2: [kstaple] log_level: expected one of error|warning|info|debug, got "
			  "'verbose'");
	release();
	capture();
	expect_error("[cert:a]\nchain = c\nkey = k\nmust_staple = always\n",
		     NAME ":4: [cert:a] must_staple: expected one of auto|enforce|ignore");
	release();
	capture();

	struct ks_config *cfg = parse_ok("[kstaple]\nlog_level = warning\n[cert:a]\nchain = c\n"
					 "key = k\nmust_staple = ignore\n");
	cr_assert_eq(cfg->log_level, KS_LOG_WARN);
	cr_assert_eq(cfg->certs[0].must_staple, KS_MUST_STAPLE_IGNORE);
	ks_config_free(cfg);
}

Test(config, key_given_twice)
{
	expect_error("[fetch]\nskew = 1\ntimeout = 2\nskew = 3\n",
		     NAME ":4: [fetch] skew: given twice, first at line 2");
	release();
	capture();
	/* The same key in two [cert:] sections is fine. */
	struct ks_config *cfg = parse_ok("[cert:a]\nchain = a\nkey = a\n[cert:b]\nchain = b\n"
					 "key = b\n");
	cr_assert_eq(cfg->n_certs, 2);
	ks_config_free(cfg);
}

Test(config, duplicate_cert_section_names_both_lines)
{
	struct ks_config *cfg = (void *)1;

	cr_assert_eq(ks_config_parse("[cert:www]\nchain = a\nkey = a\n\n[cert:www]\nchain = b\n"
				     "key = b\nmust_staple = bogus\n",
				     NAME, &cfg),
		     -EINVAL);
	expect_log(NAME ":5: [cert:www]: duplicate section, first at line 1");
	/* The duplicate's keys are still checked. */
	expect_log(NAME ":8: [cert:www] must_staple: expected one of");
	cr_assert_eq(count_lines(ks_test_logged()), 2, "%s", ks_test_logged());
}

Test(config, unknown_keys_and_sections)
{
	expect_error("[fetch]\nskw = 5\n",
		     NAME ":2: [fetch] skw: unknown key (did you mean 'skew'?)");
	release();
	capture();
	expect_error("[fetch]\nchain = x\n",
		     NAME ":2: [fetch] chain: unknown key (it belongs in [cert:NAME])");
	release();
	capture();
	expect_error("[fetch]\nwhatever = 5\n", NAME ":2: [fetch] whatever: unknown key");
	release();
	capture();
	/* Keys of an unknown section are not reported one by one. */
	expect_error("[fecth]\nskew = 5\nfoo = 1\n",
		     NAME ":1: [fecth]: unknown section (did you mean [fetch]?)");
	release();
	capture();
	expect_error("[certs:www]\nchain = a\n",
		     NAME ":1: [certs:www]: unknown section (did you mean [cert:www]?)");
	release();
	capture();
	expect_error("\n[stats]\n", NAME ":2: [stats]: unknown section");
	release();
	capture();
	expect_error("skew = 5\n", NAME ":1: skew: key before any [section]");
	release();
	capture();
	expect_error("[fetch:x]\n", NAME ":1: [fetch:x]: takes no name: write [fetch]");
}

Test(config, cert_names)
{
	static const char *const bad[] = {
		"[cert:a b]\n",
		"[cert:é]\n",
		"[cert:]\n",
		"[cert]\n",
		"[cert:a/b]\n",
		"[cert:a:b]\n",
		"[cert:"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n"
	};

	for (size_t i = 0; i < KS_ARRAY_SIZE(bad); i++) {
		struct ks_config *cfg;
		char text[256];

		/* The keys are complete: only the name is wrong. */
		snprintf(text, sizeof(text), "%schain = c\nkey = k\n", bad[i]);
		cr_assert_eq(ks_config_parse(text, NAME, &cfg), -EINVAL, "accepted %s", bad[i]);
		expect_log(NAME ":1: [cert");
		cr_assert_eq(count_lines(ks_test_logged()), i + 1, "%s", ks_test_logged());
	}
	struct ks_config *cfg = parse_ok("[cert:A.b_c-9]\nchain = c\nkey = k\n");
	cr_assert_str_eq(cfg->certs[0].name, "A.b_c-9");
	ks_config_free(cfg);
}

Test(config, required_keys)
{
	expect_error("[cert:a]\nchain = c\n\n[fetch]\n",
		     NAME ":1: [cert:a] key: required key missing");
	release();
	capture();
	struct ks_config *cfg;

	cr_assert_eq(ks_config_parse("[cert:a]\n[cert:b]\nkey = k\n", NAME, &cfg), -EINVAL);
	expect_log(NAME ":1: [cert:a] chain: required key missing");
	expect_log(NAME ":1: [cert:a] key: required key missing");
	expect_log(NAME ":2: [cert:b] chain: required key missing");
	cr_assert_eq(count_lines(ks_test_logged()), 3, "%s", ks_test_logged());
}

Test(config, all_errors_are_reported_in_one_pass)
{
	struct ks_config *cfg = (void *)1;

	cr_assert_eq(ks_config_parse("[fetch]\n"
				     "skew = soon\n"
				     "bogus = 1\n"
				     "this line is garbage\n"
				     "max_concurrency = 0\n"
				     "[cert:x]\n"
				     "chain = c\n"
				     "responder = https://ocsp.example\n",
				     NAME, &cfg),
		     -EINVAL);
	cr_assert_null(cfg);
	expect_log(NAME ":2: [fetch] skew:");
	expect_log(NAME ":3: [fetch] bogus: unknown key");
	expect_log(NAME ":4: expected 'key = value', '[section]' or a comment");
	expect_log(NAME ":5: [fetch] max_concurrency:");
	expect_log(NAME ":6: [cert:x] key: required key missing");
	expect_log(NAME ":8: [cert:x] responder: expected a URL starting with http://, got "
			"'https://ocsp.example'");
	cr_assert_eq(count_lines(ks_test_logged()), 6, "%s", ks_test_logged());
}

Test(config, syntax_errors)
{
	expect_error("[fetch\nskew = 5\n", NAME ":1: section header without ']'");
	release();
	capture();
	expect_error("[fetch] skew = 5\n", NAME ":1: unexpected text after ']'");
	release();
	capture();
	expect_error("[fetch]\nskew =\n", NAME ":2: [fetch] skew: empty value");
	release();
	capture();
	expect_error("[fetch]\nskew ; = 5\n", NAME ":2: expected 'key = value'");
	release();
	capture();
	expect_error("[fetch]\n = 5\n", NAME ":2: missing key name before '='");
	release();
	capture();
	expect_error("[fetch]\nproxy = http://a\x01/\n",
		     NAME ":2: [fetch] proxy: control character");
}

Test(config, inih_syntax_we_rely_on)
{
	struct ks_config *cfg =
		parse_ok("\xef\xbb\xbf; comment\r\n"
			 "# comment\r\n"
			 "[fetch] ; trailing comment\r\n"
			 "skew = 60 ; seconds\r\n"
			 "  timeout: 7\r\n"			   /* indented, ':' separator */
			 "proxy = http://p.example:3128/a;b#c\r\n" /* ';' without blank: value */
			 "[cert:a]\n"
			 "chain = \"x y.pem\"\n" /* quotes are kept */
			 "key=k\n");

	cr_assert_eq(cfg->fetch.skew, 60);
	cr_assert_eq(cfg->fetch.timeout_ms, 7000);
	cr_assert_str_eq(cfg->fetch.proxy, "http://p.example:3128/a;b#c");
	cr_assert_str_eq(cfg->certs[0].chain, "/etc/kstaple/\"x y.pem\"");
	ks_config_free(cfg);

	/* No continuation lines: an indented word is an error, not part of the previous value. */
	expect_error("[fetch]\nproxy = http://p\n   more\n", NAME ":3: expected 'key = value'");
	release();
	capture();
	/* '#' is not an inline comment. */
	expect_error("[fetch]\nskew = 60 # seconds\n", "got '60 # seconds'");
}

Test(config, long_lines_are_rejected_and_do_not_shift_line_numbers)
{
	char text[1024];
	char path[600];

	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	snprintf(text, sizeof(text), "[cert:a]\nchain = /%s\nkey = k\nbogus = 1\n", path);
	struct ks_config *cfg;

	cr_assert_eq(ks_config_parse(text, NAME, &cfg), -EINVAL);
	expect_log(NAME ":2: line longer than");
	expect_log(NAME ":4: [cert:a] bogus: unknown key");
	/* The rejected line set nothing. */
	expect_log(NAME ":1: [cert:a] chain: required key missing");
	cr_assert_eq(count_lines(ks_test_logged()), 3, "%s", ks_test_logged());
}

Test(config, relative_paths_follow_the_config_file)
{
	struct ks_config *cfg =
		parse_ok("[kstaple]\nstate_dir = state\n[cert:a]\nchain = certs/a.pem\n"
			 "key = ./a.key\nissuer = /abs/ca.pem\n");

	cr_assert_str_eq(cfg->state_dir, "/etc/kstaple/state");
	cr_assert_str_eq(cfg->certs[0].chain, "/etc/kstaple/certs/a.pem");
	cr_assert_str_eq(cfg->certs[0].key, "/etc/kstaple/a.key");
	cr_assert_str_eq(cfg->certs[0].issuer, "/abs/ca.pem");
	ks_config_free(cfg);

	/* A bare file name: relative to the working directory. */
	cr_assert_eq(ks_config_parse("[cert:a]\nchain = c.pem\nkey = k\n", "kstaple.conf", &cfg),
		     0);
	cr_assert_str_eq(cfg->certs[0].chain, "c.pem");
	ks_config_free(cfg);
	cr_assert_eq(ks_config_parse("[cert:a]\nchain = c.pem\nkey = k\n", "/k.conf", &cfg), 0);
	cr_assert_str_eq(cfg->certs[0].chain, "/c.pem");
	ks_config_free(cfg);
}

Test(config, load_resolves_against_the_canonical_directory)
{
	char dir[] = "/tmp/ks-config-XXXXXX", file[PATH_MAX], real[PATH_MAX], want[PATH_MAX + 16];
	struct ks_config *cfg;
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/./kstaple.conf", dir);
	f = fopen(file, "w");
	cr_assert_not_null(f);
	fputs("[cert:a]\nchain = certs/a.pem\nkey = /k\n", f);
	fclose(f);
	cr_assert_eq(ks_config_load(file, &cfg), 0, "%s", ks_test_logged());
	cr_assert_not_null(realpath(dir, real));
	snprintf(want, sizeof(want), "%s/certs/a.pem", real);
	cr_assert_str_eq(cfg->certs[0].chain, want);
	cr_assert_str_eq(cfg->path, file);
	ks_config_free(cfg);

	/* A NUL byte in a file is refused with its line. */
	f = fopen(file, "w");
	fwrite("[fetch]\nskew = 5\0\n", 1, 18, f);
	fclose(f);
	cr_assert_eq(ks_config_load(file, &cfg), -EINVAL);
	expect_log(":2: NUL byte");
	unlink(file);
	rmdir(dir);
}

Test(config, load_missing_file)
{
	struct ks_config *cfg = (void *)1;

	cr_assert_eq(ks_config_load("/nonexistent/kstaple.conf", &cfg), -ENOENT);
	cr_assert_null(cfg);
	expect_log("/nonexistent/kstaple.conf: cannot open: No such file or directory");
	cr_assert_eq(ks_config_load("/tmp", &cfg), -EINVAL);
}

Test(config, policy_check_failure_names_the_keys)
{
	expect_error("[fetch]\nrefresh_fraction = 0.1\njitter = 0.2\ntimeout = 3\n",
		     NAME ":3: [fetch] jitter: 0.2 must be smaller than refresh_fraction (0.1)");
	release();
	capture();
	expect_error("[fetch]\nbackoff_max = 10\nbackoff_base = 1m\n",
		     NAME ":3: [fetch] backoff_max: 10s is shorter than backoff_base (60s)");
	release();
	capture();
	/* Also with 1 - fraction: 0.9 leaves only 0.1 of room after the refresh point. */
	expect_error("[fetch]\nrefresh_fraction = 0.9\njitter = 0.1\n", "[fetch] jitter:");
}

Test(config, bool_and_list_types)
{
	struct {
		bool b;
		char **l;
	} s = { 0 };
	const struct ks_conf_key b = { .name = "b",
				       .type = KS_CT_BOOL,
				       .off = offsetof(typeof(s), b) };
	const struct ks_conf_key l = { .name = "l",
				       .type = KS_CT_LIST,
				       .off = offsetof(typeof(s), l) };
	char why[256];

	cr_assert_eq(ks_config_set_value(&b, "Yes", NULL, &s, why, sizeof(why)), 0);
	cr_assert(s.b);
	cr_assert_eq(ks_config_set_value(&b, "off", NULL, &s, why, sizeof(why)), 0);
	cr_assert_not(s.b);
	cr_assert_eq(ks_config_set_value(&b, "1", NULL, &s, why, sizeof(why)), 0);
	cr_assert(s.b);
	cr_assert_eq(ks_config_set_value(&b, "maybe", NULL, &s, why, sizeof(why)), -EINVAL);
	cr_assert(strstr(why, "got 'maybe'"), "%s", why);

	cr_assert_eq(ks_config_set_value(&l, "a, b ,c", NULL, &s, why, sizeof(why)), 0);
	cr_assert_str_eq(s.l[0], "a");
	cr_assert_str_eq(s.l[1], "b");
	cr_assert_str_eq(s.l[2], "c");
	cr_assert_null(s.l[3]);
	cr_assert_eq(ks_config_set_value(&l, "one", NULL, &s, why, sizeof(why)), 0);
	cr_assert_str_eq(s.l[0], "one");
	cr_assert_null(s.l[1]);
	cr_assert_eq(ks_config_set_value(&l, "a,,b", NULL, &s, why, sizeof(why)), -EINVAL);
	cr_assert_eq(ks_config_set_value(&l, "a, ", NULL, &s, why, sizeof(why)), -EINVAL);
	cr_assert_str_eq(s.l[0], "one"); /* a failed set keeps the old value */
	ks_config_free_value(&l, &s);
	cr_assert_null(s.l);
}

Test(config, dump_keys_lists_every_row)
{
	char *buf = NULL;
	size_t len = 0, n;
	FILE *f = open_memstream(&buf, &len);
	const struct ks_conf_key *k = ks_config_keys(&n);

	ks_config_dump_keys(f);
	fclose(f);
	cr_assert_eq(count_lines(buf), n);
	cr_assert(strstr(buf, "fetch\tmax_concurrency\tinteger 1..4096\t64\t"), "%s", buf);
	cr_assert(strstr(buf, "fetch\tskew\tduration 0s..1h\t5m\t"), "%s", buf);
	cr_assert(strstr(buf, "cert:NAME\tchain\tpath\t(required)\t"), "%s", buf);
	cr_assert(strstr(buf, "cert:NAME\tmust_staple\tenum auto|enforce|ignore\tauto\t"), "%s",
		  buf);
	cr_assert(strstr(buf, "fetch\tmax_body\tsize 1k..16M\t64k\t"), "%s", buf);
	for (size_t i = 0; i < n; i++)
		cr_assert(strstr(buf, k[i].help), "%s missing", k[i].name);
	free(buf);
}

/* dist/kstaple.conf.example documents every key with its default, and is itself valid. */
Test(config, example_file_documents_every_key)
{
	char path[PATH_MAX], *text = NULL;
	size_t n, cap = 0;
	const struct ks_conf_key *k = ks_config_keys(&n);
	struct ks_config *cfg;
	FILE *f;

	snprintf(path, sizeof(path), "%.*s/../../dist/kstaple.conf.example",
		 (int)(strrchr(__FILE__, '/') - __FILE__), __FILE__);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s: %s (run from the repository root)", path, strerror(errno));
	cr_assert_gt(getdelim(&text, &cap, '\0', f), 0);
	fclose(f);
	for (size_t i = 0; i < n; i++) {
		char want[128];

		if (k[i].def)
			snprintf(want, sizeof(want), "\n#%s = %s\n", k[i].name, k[i].def);
		else
			snprintf(want, sizeof(want), "#%s =", k[i].name);
		cr_assert(strstr(text, want), "%s lacks \"%s\"", path, want);
	}
	free(text);
	/* Everything is commented out: the file is valid and means "all defaults, no certs". */
	cr_assert_eq(ks_config_load(path, &cfg), 0, "%s", ks_test_logged());
	cr_assert_eq(cfg->n_certs, 0);
	ks_config_free(cfg);
}

/* [listener:NAME] and the serve keys of [kstaple] (added with kstaple serve). */
#define CERT_A "[cert:a]\nchain = /c.pem\nkey = /k.pem\n"

Test(config, listener_section_and_defaults)
{
	struct ks_config *cfg =
		parse_ok("[kstaple]\nworkers = 3\n" CERT_A "[cert:b]\nchain = /c\nkey = /k\n"
			 "[listener:web]\nlisten = [::1]:8443\nbackend = localhost:80\n"
			 "certs = a, b\nalpn = h2, http/1.1\nidle_timeout = 90s\n");
	const struct ks_listener_conf *l = &cfg->listeners[0];

	cr_assert_eq(cfg->workers, 3);
	cr_assert_eq(cfg->drain_timeout_ms, 30000);
	cr_assert_eq(cfg->ticket_key_lifetime, 3600);
	cr_assert_eq(cfg->n_listeners, 1);
	cr_assert_str_eq(l->name, "web");
	cr_assert_str_eq(l->listen, "[::1]:8443");
	cr_assert_str_eq(l->backend, "localhost:80");
	cr_assert_str_eq(l->certs[0], "a");
	cr_assert_str_eq(l->certs[1], "b");
	cr_assert_null(l->certs[2]);
	cr_assert_str_eq(l->alpn[1], "http/1.1");
	cr_assert_eq(l->handshake_timeout_ms, 10000);
	cr_assert_eq(l->idle_timeout_ms, 90000);
	cr_assert_eq(l->max_connections, 10000);
	cr_assert_eq(l->session_tickets, 1);
	ks_config_free(cfg);
}

Test(config, listener_session_tickets)
{
	struct ks_config *cfg = parse_ok(CERT_A "[listener:web]\nlisten = *:443\nbackend = h:1\n"
						"certs = a\nsession_tickets = 0\n");

	cr_assert_eq(cfg->listeners[0].session_tickets, 0);
	ks_config_free(cfg);
	cfg = parse_ok(CERT_A "[listener:web]\nlisten = *:443\nbackend = h:1\n"
			      "certs = a\nsession_tickets = 8\n");
	cr_assert_eq(cfg->listeners[0].session_tickets, 8);
	ks_config_free(cfg);
}

Test(config, listener_session_tickets_above_8_refused)
{
	expect_error(
		CERT_A "[listener:web]\nlisten = *:443\nbackend = h:1\ncerts = a\n"
		       "session_tickets = 9\n",
		"[listener:web] session_tickets: expected an integer between 0 and 8, got '9'");
}

Test(config, listener_session_tickets_negative_refused)
{
	expect_error(CERT_A "[listener:web]\nlisten = *:443\nbackend = h:1\ncerts = a\n"
			    "session_tickets = -1\n",
		     "[listener:web] session_tickets:");
}

Test(config, listener_requires_listen)
{
	expect_error(CERT_A "[listener:web]\nbackend = h:1\ncerts = a\n",
		     "[listener:web] listen: required key missing");
}

Test(config, listener_requires_backend)
{
	expect_error(CERT_A "[listener:web]\nlisten = *:1\ncerts = a\n",
		     "[listener:web] backend: required key missing");
}

Test(config, listener_certs_must_name_cert_sections)
{
	expect_error(CERT_A "[listener:web]\nlisten = *:443\nbackend = h:1\ncerts = a, nope\n",
		     "[listener:web] certs: no section [cert:nope] in this file");
}

Test(config, listener_certs_listed_twice)
{
	expect_error(CERT_A "[listener:web]\nlisten = *:443\nbackend = h:1\ncerts = a, a\n",
		     "'a' is listed twice");
}

Test(config, hostport_values)
{
	static const char *const bad[] = { "1.2.3.4", "host:",	  "host:0",  "host:65536",
					   ":443",    "[::1]443", "::1:443", "[::1]:",
					   "h:44x",   "a b:1",	  NULL };
	char host[64];
	uint16_t port;

	cr_assert_eq(ks_config_split_hostport("[2001:db8::1]:443", host, sizeof(host), &port), 0);
	cr_assert_str_eq(host, "2001:db8::1");
	cr_assert_eq(port, 443);
	cr_assert_eq(ks_config_split_hostport("*:65535", host, sizeof(host), &port), 0);
	cr_assert_str_eq(host, "*");
	cr_assert_eq(port, 65535);
	for (size_t i = 0; bad[i]; i++)
		cr_assert_eq(ks_config_split_hostport(bad[i], host, sizeof(host), &port), -EINVAL,
			     "accepted '%s'", bad[i]);
	expect_error(CERT_A "[listener:web]\nlisten = 127.0.0.1\nbackend = h:1\ncerts = a\n",
		     "listen: expected HOST:PORT, [IPv6]:PORT or *:PORT with a port 1-65535, got "
		     "'127.0.0.1'");
}

Test(config, metrics_and_telemetry_keys)
{
	struct ks_config *c = parse_ok("[kstaple]\nmetrics_listen = 127.0.0.1:9100\n"
				       "control_socket = run/ctl.sock\n"
				       "[telemetry]\ninterfaces = lo, eth0\nports = 443, 8443\n");

	cr_assert_str_eq(c->metrics_listen, "127.0.0.1:9100");
	cr_assert_str_eq(c->control_socket, "/etc/kstaple/run/ctl.sock", "relative to the file");
	cr_assert_str_eq(c->telemetry.interfaces[1], "eth0");
	cr_assert_str_eq(c->telemetry.ports[1], "8443");
	cr_assert_null(c->telemetry.ports[2]);
	ks_config_free(c);
	c = parse_ok("[kstaple]\n");
	cr_assert_null(c->metrics_listen);
	cr_assert_null(c->control_socket);
	cr_assert_null(c->telemetry.interfaces);
	cr_assert_null(c->telemetry.ports);
	ks_config_free(c);
}

Test(config, telemetry_ports_are_checked)
{
	expect_error("[telemetry]\ninterfaces = lo\nports = 443, 0\n",
		     NAME ":3: [telemetry] ports: '0' is not a TCP port (1-65535)");
	release();
	capture();
	expect_error("[telemetry]\ninterfaces = lo\nports = 65536\n", "'65536' is not a TCP port");
	release();
	capture();
	expect_error("[telemetry]\ninterfaces = lo\nports = 44x\n", "'44x' is not a TCP port");
	release();
	capture();
	expect_error("[telemetry]\nports = 443\n", "[telemetry] ports: needs interfaces");
	release();
	capture();
	expect_error("[kstaple]\nmetrics_listen = 9100\n",
		     "[kstaple] metrics_listen: expected HOST:PORT");
}

// SPDX-License-Identifier: MIT
/*
 * metrics: the Prometheus exposition of a snapshot (every line parsed back against the text
 * format's grammar), label escaping, the JSON round trip, the JSON parser and the HTTP request
 * parser under adversarial input, and the endpoint itself on a real io_uring loop.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "kstaple/clock.h"
#include "kstaple/json.h"
#include "kstaple/metrics.h"
#include "kstaple/tls_server.h"

/* ---- a snapshot to render ---------------------------------------------------------------- */

static struct ks_metrics_port ports[2];
static struct ks_metrics_listener lsn[2];
static struct ks_metrics_lc lcs[3];
static struct ks_metrics_cert certs[2];

static struct ks_metrics_snapshot sample(void)
{
	memset(ports, 0, sizeof(ports));
	memset(lsn, 0, sizeof(lsn));
	memset(lcs, 0, sizeof(lcs));
	memset(certs, 0, sizeof(certs));
	ports[0] = (struct ks_metrics_port){ 443,
					     { .hellos = 7,
					       .status_request = 4,
					       .no_status_request = 3,
					       .status_request_v2 = 1,
					       .hrr_hellos = 2,
					       .unclassified_non_tls = 5 } };
	ports[1] = (struct ks_metrics_port){ 8443, { .hellos = 1, .no_status_request = 1 } };
	lsn[0] = (struct ks_metrics_listener){ .name = "web",
					       .listen = "*:443",
					       .connections = 3,
					       .accepted = 20,
					       .completed = 15,
					       .errors = 2,
					       .bytes_in = 1000,
					       .bytes_out = 99999,
					       .handshakes = 17,
					       .resumed = 4,
					       .sni_unknown = 1 };
	lsn[0].sessions[KS_SESSION_USERSPACE][KS_SESSION_R_NOT_ENABLED] = 17;
	lsn[1] = (struct ks_metrics_listener){ .name = "api", .listen = "[::1]:8443" };
	lcs[0] = (struct ks_metrics_lc){ "web", "www", { 4, 1, 0, 0, 12 } };
	lcs[1] = (struct ks_metrics_lc){ "web", "www-rsa", { 0, 0, 2, 0, 1 } };
	lcs[2] = (struct ks_metrics_lc){ "api", "www", { 0, 0, 0, 3, 0 } };
	certs[0] = (struct ks_metrics_cert){ .name = "www",
					     .has_responder = true,
					     .successes = 5,
					     .failures = 4,
					     .stale = 1,
					     .consecutive_failures = 2,
					     .next_attempt = 1700000600,
					     .last_error = "connection refused \"x\"",
					     .last_error_at = 1699999000,
					     .has_staple = true,
					     .verdict = KS_V_GOOD,
					     .this_update = 1699990000,
					     .next_update = 1700003600,
					     .fetched_at = 1699990010 };
	certs[0].rejected[KS_V_BAD_SIGNATURE] = 1;
	certs[0].http_failures[KS_HTTP_ERR_CONNECT] = 2;
	certs[1] = (struct ks_metrics_cert){ .name = "www-rsa", .has_responder = false };
	return (struct ks_metrics_snapshot){
		.version = "0.1.0",
		.now = 1700000000,
		.start_time = 1699000000,
		.telemetry = 2,
		.ports = ports,
		.n_ports = 2,
		.listeners = lsn,
		.n_listeners = 2,
		.lcs = lcs,
		.n_lcs = 3,
		.certs = certs,
		.n_certs = 2,
		.fds = { .limit = 1024,
			 .budget = 475,
			 .paused = true,
			 .pauses = 3,
			 .overflow_closed = 1 },
	};
}

static char *render(const struct ks_metrics_snapshot *s)
{
	struct ks_buf b = { 0 };

	cr_assert_eq(ks_metrics_prometheus(s, &b), 0);
	cr_assert_not_null(b.p);
	return b.p;
}

/* ---- the text format, parsed back -------------------------------------------------------- */

#define NAME  "[a-zA-Z_:][a-zA-Z0-9_:]*"
#define LNAME "[a-zA-Z_][a-zA-Z0-9_]*"
#define LVAL  "\"([^\"\\\\\n]|\\\\[\\\\\"n])*\""
#define VALUE "-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|[-+]Inf|NaN"

static regex_t re_help, re_type, re_sample;

static void compile(void)
{
	cr_assert_eq(regcomp(&re_help, "^# HELP (" NAME ") [^\n]*$", REG_EXTENDED), 0);
	cr_assert_eq(regcomp(&re_type,
			     "^# TYPE (" NAME ") (counter|gauge|histogram|summary|untyped)$",
			     REG_EXTENDED),
		     0);
	cr_assert_eq(regcomp(&re_sample,
			     "^(" NAME ")(\\{" LNAME "=" LVAL "(," LNAME "=" LVAL ")*\\})? (" VALUE
			     ")$",
			     REG_EXTENDED),
		     0);
}

static void free_res(void)
{
	regfree(&re_help);
	regfree(&re_type);
	regfree(&re_sample);
}

/*
 * Every line is a HELP, a TYPE or a sample; a sample's family was TYPEd just before its run of
 * samples and never reappears later; counters end in _total; no series twice. Returns NULL
 * or what is wrong; *samples counts the samples.
 */
static char problem[512];

static const char *exposition_error(const char *text, unsigned *samples)
{
	char *copy = strdup(text), *save = NULL, *line;
	char family[128] = "", type[16] = "", done[8192] = " ";
	char *series[512];
	unsigned n_series = 0;
	const char *err = NULL;
	regmatch_t m[4];

	*samples = 0;
	compile();
	if (!*text || text[strlen(text) - 1] != '\n')
		err = "does not end in a newline";
	for (line = strtok_r(copy, "\n", &save); line && !err; line = strtok_r(NULL, "\n", &save)) {
		char name[128], key[160];
		size_t klen;

		if (!regexec(&re_help, line, 2, m, 0))
			continue;
		if (!regexec(&re_type, line, 3, m, 0)) {
			snprintf(family, sizeof(family), "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
				 line + m[1].rm_so);
			snprintf(type, sizeof(type), "%.*s", (int)(m[2].rm_eo - m[2].rm_so),
				 line + m[2].rm_so);
			snprintf(key, sizeof(key), " %s ", family);
			if (strstr(done, key))
				snprintf(problem, sizeof(problem), "family %s TYPEd twice", family),
					err = problem;
			strncat(done, key + 1, sizeof(done) - strlen(done) - 1);
			if (!strcmp(type, "counter") &&
			    (strlen(family) <= 6 || strcmp(family + strlen(family) - 6, "_total")))
				snprintf(problem, sizeof(problem), "counter %s lacks _total",
					 family),
					err = problem;
			continue;
		}
		if (regexec(&re_sample, line, 2, m, 0)) {
			snprintf(problem, sizeof(problem), "not a valid line: '%s'", line);
			err = problem;
			break;
		}
		snprintf(name, sizeof(name), "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
			 line + m[1].rm_so);
		if (strcmp(name, family)) {
			snprintf(problem, sizeof(problem), "sample outside its family: '%s'", line);
			err = problem;
			break;
		}
		klen = (size_t)(strrchr(line, ' ') - line); /* the series: all before the value */
		for (unsigned i = 0; i < n_series && !err; i++)
			if (!strncmp(series[i], line, klen) && series[i][klen] == ' ')
				snprintf(problem, sizeof(problem), "series twice: '%s'", line),
					err = problem;
		if (n_series < KS_ARRAY_SIZE(series))
			series[n_series++] = line;
		(*samples)++;
	}
	free_res();
	free(copy);
	return err;
}

static unsigned check_exposition(const char *text)
{
	unsigned n;
	const char *err = exposition_error(text, &n);

	cr_assert_null(err, "%s", err);
	return n;
}

/* The checker itself must be able to fail. */
Test(metrics, checker_rejects_bad_expositions)
{
	static const char *const bad[] = {
		"# TYPE a_total counter\na_total 1",		/* no final newline */
		"# TYPE a counter\na 1\n",			/* counter without _total */
		"# TYPE a gauge\nb 1\n",			/* outside its family */
		"# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n", /* series twice */
		"# TYPE a gauge\na{x=\"a\"b\"} 1\n",		/* unescaped quote */
		"# TYPE a gauge\na{x=\"a\\qb\"} 1\n",		/* bad escape */
		"# TYPE a gauge\na{1x=\"a\"} 1\n",		/* label name */
		"# TYPE a gauge\na 1 2 3\n",			/* value */
		"# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\na{y=\"\"} 1\n",
		"# TYPE 0a gauge\n",
	};
	unsigned n;

	for (size_t i = 0; i < KS_ARRAY_SIZE(bad); i++)
		cr_expect_not_null(exposition_error(bad[i], &n), "accepted: %s", bad[i]);
	cr_assert_null(
		exposition_error("# HELP a x\n# TYPE a gauge\na{x=\"\\\\\\n\\\"\"} -1\n", &n));
	cr_assert_eq(n, 1);
}

Test(metrics, exposition_is_valid_text_format)
{
	struct ks_metrics_snapshot s = sample();
	char *t = render(&s);

	cr_assert_gt(check_exposition(t), 40);
	free(t);
}

Test(metrics, exposition_values)
{
	struct ks_metrics_snapshot s = sample();
	char *t = render(&s);
	static const char *const want[] = {
		"kstaple_build_info{version=\"0.1.0\"} 1\n",
		"kstaple_telemetry_available 1\n",
		"kstaple_descriptor_limit 1024\n",
		"kstaple_connection_budget 475\n",
		"kstaple_accept_paused 1\n",
		"kstaple_accept_pauses_total 3\n",
		"kstaple_accept_overflow_closed_total 1\n",
		"kstaple_clienthellos_total{port=\"443\",status_request=\"yes\"} 4\n",
		"kstaple_clienthellos_total{port=\"443\",status_request=\"no\"} 3\n",
		"kstaple_clienthellos_total{port=\"8443\",status_request=\"no\"} 1\n",
		"kstaple_clienthellos_status_request_v2_total{port=\"443\"} 1\n",
		"kstaple_clienthellos_after_hrr_total{port=\"443\"} 2\n",
		"kstaple_clienthellos_unclassified_total{port=\"443\",reason=\"non_tls\"} 5\n",
		"kstaple_handshakes_total{listener=\"web\",cert=\"www\",status_requested=\"yes\","
		"stapled=\"yes\",reason=\"stapled\"} 4\n",
		"kstaple_handshakes_total{listener=\"web\",cert=\"www\",status_requested=\"yes\","
		"stapled=\"no\",reason=\"none-cached\"} 1\n",
		"kstaple_handshakes_total{listener=\"web\",cert=\"www\",status_requested=\"no\","
		"stapled=\"no\",reason=\"not-asked\"} 12\n",
		"kstaple_handshakes_total{listener=\"web\",cert=\"www-rsa\",status_requested=\"yes\","
		"stapled=\"no\",reason=\"expired\"} 2\n",
		"kstaple_handshakes_total{listener=\"api\",cert=\"www\",status_requested=\"yes\","
		"stapled=\"no\",reason=\"must-staple-refused\"} 3\n",
		"kstaple_ocsp_fetches_total{cert=\"www\",result=\"success\",reason=\"ok\"} 5\n",
		"kstaple_ocsp_fetches_total{cert=\"www\",result=\"failure\",reason=\"connect\"} 2\n",
		"kstaple_ocsp_fetches_total{cert=\"www\",result=\"failure\",reason=\"bad-signature\"} "
		"1\n",
		"kstaple_ocsp_fetches_total{cert=\"www\",result=\"failure\",reason=\"stale\"} 1\n",
		"kstaple_ocsp_fetches_total{cert=\"www-rsa\",result=\"success\",reason=\"ok\"} 0\n",
		"kstaple_ocsp_consecutive_failures{cert=\"www\"} 2\n",
		"kstaple_staple_valid{cert=\"www\"} 1\n",
		"kstaple_staple_valid{cert=\"www-rsa\"} 0\n",
		"kstaple_staple_revoked{cert=\"www\"} 0\n",
		"kstaple_staple_age_seconds{cert=\"www\"} 10000\n",
		"kstaple_staple_seconds_until_expiry{cert=\"www\"} 3600\n",
		"kstaple_connections{listener=\"web\"} 3\n",
		"kstaple_connections_accepted_total{listener=\"web\"} 20\n",
		"kstaple_connections_ended_total{listener=\"web\",reason=\"completed\"} 15\n",
		"kstaple_connections_ended_total{listener=\"web\",reason=\"error\"} 2\n",
		"kstaple_tls_handshakes_completed_total{listener=\"web\",resumed=\"no\"} 13\n",
		"kstaple_tls_handshakes_completed_total{listener=\"web\",resumed=\"yes\"} 4\n",
		"kstaple_proxied_bytes_total{listener=\"web\",direction=\"backend_to_client\"} 99999\n",
		"kstaple_sessions_total{listener=\"web\",path=\"userspace\",reason=\"ktls-not-enabled\"} "
		"17\n",
		"# TYPE kstaple_handshakes_total counter\n",
		"# TYPE kstaple_staple_age_seconds gauge\n",
	};

	for (size_t i = 0; i < KS_ARRAY_SIZE(want); i++)
		cr_expect_not_null(strstr(t, want[i]), "missing: %s", want[i]);
	/* Absent: a staple's age for a certificate without one, zero failure reasons. */
	cr_expect_null(strstr(t, "kstaple_staple_age_seconds{cert=\"www-rsa\"}"));
	cr_expect_null(strstr(t, "reason=\"timeout\""));
	cr_expect_null(strstr(t, "kstaple_sessions_total{listener=\"api\""));
	free(t);
}

Test(metrics, expired_staple_is_not_valid)
{
	struct ks_metrics_snapshot s = sample();
	char *t;

	s.now = certs[0].next_update + 1;
	t = render(&s);
	cr_expect_not_null(strstr(t, "kstaple_staple_valid{cert=\"www\"} 0\n"));
	cr_expect_not_null(strstr(t, "kstaple_staple_seconds_until_expiry{cert=\"www\"} -1\n"));
	free(t);
}

Test(metrics, no_telemetry)
{
	struct ks_metrics_snapshot s = sample();
	char *t;

	s.telemetry = -ENOENT;
	s.n_ports = 0;
	t = render(&s);
	check_exposition(t);
	cr_expect_not_null(strstr(t, "kstaple_telemetry_available 0\n"));
	cr_expect_null(strstr(t, "kstaple_clienthellos_total{"));
	free(t);
}

Test(metrics, label_values_escaped)
{
	struct ks_metrics_snapshot s = sample();
	char *t;

	lsn[0].name = "we\"b\\x\ny";
	lcs[0].listener = lsn[0].name;
	t = render(&s);
	check_exposition(t);
	cr_expect_not_null(strstr(t, "kstaple_connections{listener=\"we\\\"b\\\\x\\ny\"} 3\n"),
			   "%s", t);
	free(t);
}

Test(metrics, empty_snapshot)
{
	struct ks_metrics_snapshot s = { 0 };
	char *t = render(&s);
	check_exposition(t);
	cr_expect_not_null(strstr(t, "kstaple_build_info{version=\"\"} 1\n"));
	cr_expect_null(strstr(t, "kstaple_descriptor_limit"), "no budget known: not reported");
	free(t);
}

Test(metrics, session_counter_slots)
{
	struct ks_session_stats st;

	memset(&st, 0, sizeof(st));
	ks_metrics_count_session(&st, KS_SESSION_USERSPACE, KS_SESSION_R_NOT_ENABLED);
	ks_metrics_count_session(&st, KS_SESSION_KTLS_TX, KS_SESSION_R_CIPHER);
	ks_metrics_count_session(&st, KS_SESSION__PATHS, KS_SESSION_R_NONE); /* ignored */
	ks_metrics_count_session(&st, KS_SESSION_KTLS, KS_SESSION_R__COUNT); /* ignored */
	ks_metrics_count_session(NULL, KS_SESSION_KTLS, KS_SESSION_R_NONE);
	cr_assert_eq(st.n[KS_SESSION_USERSPACE][KS_SESSION_R_NOT_ENABLED], 1);
	cr_assert_eq(st.n[KS_SESSION_KTLS_TX][KS_SESSION_R_CIPHER], 1);
	cr_assert_str_eq(ks_session_path_name(KS_SESSION_KTLS_TX), "ktls_tx");
	cr_assert_str_eq(ks_session_reason_name(KS_SESSION_R_NOT_ENABLED), "ktls-not-enabled");
	cr_assert_str_eq(ks_session_reason_name(KS_SESSION_R__COUNT), "?");
}

/* ---- JSON -------------------------------------------------------------------------------- */

Test(metrics, json_round_trip)
{
	struct ks_metrics_snapshot s = sample(), back;
	struct ks_metrics_arena *arena;
	struct ks_buf j = { 0 };
	char *t1, *t2;

	cr_assert_eq(ks_metrics_json(&s, &j), 0);
	cr_assert_null(memchr(j.p, '\n', j.len), "one line");
	cr_assert_eq(ks_metrics_from_json(j.p, j.len, &back, &arena), 0);
	cr_assert_eq(back.n_certs, 2);
	cr_assert_eq(back.certs[0].http_failures[KS_HTTP_ERR_CONNECT], 2);
	cr_assert_str_eq(back.certs[0].last_error, "connection refused \"x\"");
	cr_assert_null(back.certs[1].last_error);
	cr_assert_eq(back.listeners[0].sessions[KS_SESSION_USERSPACE][KS_SESSION_R_NOT_ENABLED],
		     17);
	cr_assert_eq(back.fds.limit, 1024);
	cr_assert_eq(back.fds.budget, 475);
	cr_assert(back.fds.paused);
	cr_assert_eq(back.fds.pauses, 3);
	cr_assert_eq(back.fds.overflow_closed, 1);
	/* Everything the exposition shows survives the trip. */
	t1 = render(&s);
	t2 = render(&back);
	cr_assert_str_eq(t1, t2);
	free(t1);
	free(t2);
	ks_metrics_snapshot_free(arena);
	ks_buf_free(&j);
}

Test(metrics, json_escapes_everything)
{
	struct ks_metrics_snapshot s = sample(), back;
	struct ks_metrics_arena *arena;
	struct ks_buf j = { 0 }, j2 = { 0 };

	certs[0].last_error = "tab\there \x01 \xc3\xa9 \xff\xc3 \xed\xa0\x80 \\ \" \x7f";
	cr_assert_eq(ks_metrics_json(&s, &j), 0);
	for (size_t i = 0; i < j.len; i++)
		cr_assert((unsigned char)j.p[i] >= 0x20 && j.p[i] != 0x7f, "raw %#x in JSON",
			  j.p[i]);
	cr_assert_not_null(strstr(j.p, "\"tab\\u0009here \\u0001 \xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd "
				       "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \\\\ \\\" \\u007f\""),
			   "%s", j.p);
	cr_assert_eq(ks_metrics_from_json(j.p, j.len, &back, &arena), 0);
	/* well-formed UTF-8 comes back as it was; each stray byte as U+FFFD */
	cr_assert_str_eq(back.certs[0].last_error,
			 "tab\there \x01 \xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd"
			 "\xef\xbf\xbd \\ \" \x7f");
	/* and is written again identically */
	cr_assert_eq(ks_metrics_json(&back, &j2), 0);
	cr_assert_str_eq(j.p, j2.p);
	ks_metrics_snapshot_free(arena);
	ks_buf_free(&j);
	ks_buf_free(&j2);
}

Test(json, utf8)
{
	static const char *const bad[] = {
		"\"\xff\"",	    "\"\xc3\"",		"\"\xc0\xaf\"",
		"\"\xe0\x80\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
		"\"\xc3\xa9\xa9\"",
	};
	struct ks_json *v;

	for (size_t i = 0; i < KS_ARRAY_SIZE(bad); i++)
		cr_expect_eq(ks_json_parse(bad[i], strlen(bad[i]), &v), -EBADMSG, "case %zu", i);
	cr_assert_eq(ks_json_parse("\"\xf0\x9f\x98\x80\xc3\xa9\"", 8, &v), 0);
	cr_assert_str_eq(v->s, "\xf0\x9f\x98\x80\xc3\xa9");
	ks_json_free(v);
}

Test(metrics, from_json_rejects_other_shapes)
{
	static const char *const bad[] = {
		"[]",
		"1",
		"{\"listeners\":{}}",
		"{\"listeners\":[1]}",
		"{\"certs\":[{\"name\":3}]}",
		"{\"handshakes\":[{\"listener\":\"a\"}]}",
		"",
		"{\"certs\":[]",
		"{} x",
	};
	struct ks_metrics_snapshot s;
	struct ks_metrics_arena *arena;

	for (size_t i = 0; i < KS_ARRAY_SIZE(bad); i++) {
		cr_expect_lt(ks_metrics_from_json(bad[i], strlen(bad[i]), &s, &arena), 0, "%s",
			     bad[i]);
		cr_expect_null(arena);
	}
	cr_assert_eq(ks_metrics_from_json("{}", 2, &s, &arena), 0);
	cr_assert_eq(s.n_certs, 0);
	ks_metrics_snapshot_free(arena);
}

Test(json, values)
{
	struct ks_json *v;
	const char *t = " {\"a\": [1, -2, 18446744073709551615, 1.5e3, true, false, null],"
			"\"s\": \"\\u00e9\\ud83d\\ude00\\n\\/\", \"o\": {}, \"e\": []} ";

	cr_assert_eq(ks_json_parse(t, strlen(t), &v), 0);
	const struct ks_json *a = ks_json_get(v, "a");
	cr_assert_eq(a->n, 7);
	cr_assert_eq(ks_json_u64(&a->items[0]), 1);
	cr_assert_eq(ks_json_i64(&a->items[1]), -2);
	cr_assert_eq(ks_json_u64(&a->items[1]), 0, "negative is not a counter");
	cr_assert_eq(ks_json_u64(&a->items[2]), UINT64_MAX, "exact above 2^53");
	cr_assert_eq(ks_json_u64(&a->items[3]), 0);
	cr_assert_float_eq(a->items[3].d, 1500.0, 1e-9);
	cr_assert(ks_json_bool(&a->items[4]) && !ks_json_bool(&a->items[5]));
	cr_assert_eq(a->items[6].type, KS_JSON_NULL);
	cr_assert_str_eq(ks_json_str(ks_json_get(v, "s")), "\xc3\xa9\xf0\x9f\x98\x80\n/");
	cr_assert_null(ks_json_get(v, "missing"));
	cr_assert_null(ks_json_get(a, "a"), "not an object");
	ks_json_free(v);
}

Test(json, rejects_malformed)
{
	static const char *const bad[] = {
		"",
		" ",
		"{",
		"}",
		"[1,]",
		"[,1]",
		"{\"a\"}",
		"{\"a\":}",
		"{a:1}",
		"01",
		"-",
		"1.",
		"1e",
		".5",
		"+1",
		"tru",
		"nul",
		"\"abc",
		"\"\\x\"",
		"\"\\u12\"",
		"\"\\ud800\"",
		"\"\\udc00\"",
		"\"\\u0000\"",
		"\"a\nb\"",
		"[1] [2]",
		"{\"a\":1,}",
		"NaN",
		"1111111111111111111111111111111111111111111111111111111111111111111",
	};
	struct ks_json *v;

	for (size_t i = 0; i < KS_ARRAY_SIZE(bad); i++) {
		cr_expect_eq(ks_json_parse(bad[i], strlen(bad[i]), &v), -EBADMSG, "'%s'", bad[i]);
		cr_expect_null(v);
	}
}

Test(json, depth_is_bounded)
{
	char deep[200];
	struct ks_json *v;
	size_t n = KS_JSON_MAX_DEPTH + 5;

	memset(deep, '[', n);
	memset(deep + n, ']', n);
	cr_assert_eq(ks_json_parse(deep, 2 * n, &v), -EBADMSG);
	n = KS_JSON_MAX_DEPTH - 1;
	memset(deep, '[', n);
	memset(deep + n, ']', n);
	cr_assert_eq(ks_json_parse(deep, 2 * n, &v), 0);
	ks_json_free(v);
}

/* Every prefix of a valid document is rejected, never read past. */
Test(json, truncations)
{
	struct ks_metrics_snapshot s = sample();
	struct ks_buf j = { 0 };
	struct ks_json *v;

	cr_assert_eq(ks_metrics_json(&s, &j), 0);
	for (size_t n = 0; n < j.len; n++) {
		char *cut = malloc(n ? n : 1);

		memcpy(cut, j.p, n);
		cr_assert_lt(ks_json_parse(cut, n, &v), 0, "prefix of %zu bytes accepted", n);
		free(cut);
	}
	ks_buf_free(&j);
}

/* ---- HTTP request parsing ---------------------------------------------------------------- */

static int parse(const char *s, struct ks_metrics_req *r)
{
	return ks_metrics_parse_request((const uint8_t *)s, strlen(s), r);
}

Test(metrics_http, good_requests)
{
	struct ks_metrics_req r;
	const char *t = "GET /metrics HTTP/1.1\r\nHost: x:9100\r\nAccept: */*\r\n\r\n";

	cr_assert_eq(parse(t, &r), 1);
	cr_assert_str_eq(r.path, "/metrics");
	cr_assert(!r.head);
	cr_assert_eq(r.head_len, strlen(t));
	cr_assert(ks_metrics_wants_body(1, &r));
	cr_assert_eq(parse("HEAD /metrics?name[]=x HTTP/1.0\n\n", &r), 1, "bare LF, no Host");
	cr_assert(r.head);
	cr_assert_str_eq(r.path, "/metrics");
	cr_assert_eq(parse("\r\nGET / HTTP/1.0\r\n\r\n", &r), 1, "leading empty line");
	cr_assert_str_eq(r.path, "/");
	cr_assert(!ks_metrics_wants_body(1, &r));
	cr_assert_eq(parse("GET http://h:1/metrics HTTP/1.1\r\nhOsT:h\r\n\r\n", &r), 1);
	cr_assert_str_eq(r.path, "/metrics");
	cr_assert_eq(parse("GET http://h:1 HTTP/1.0\r\n\r\n", &r), 1);
	cr_assert_str_eq(r.path, "/");
	/* bytes after the head (a pipelined request, a body) are not ours to read */
	cr_assert_eq(parse("GET /metrics HTTP/1.0\r\n\r\nGARBAGE", &r), 1);
	cr_assert_eq(r.head_len, strlen("GET /metrics HTTP/1.0\r\n\r\n"));
}

Test(metrics_http, every_prefix_needs_more)
{
	const char *t =
		"GET /metrics HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Prometheus\r\n\r\n";
	struct ks_metrics_req r;

	for (size_t n = 0; n < strlen(t); n++)
		cr_assert_eq(ks_metrics_parse_request((const uint8_t *)t, n, &r), 0, "prefix %zu",
			     n);
	cr_assert_eq(ks_metrics_parse_request((const uint8_t *)t, strlen(t), &r), 1);
}

Test(metrics_http, adversarial)
{
	static const struct {
		const char *req;
		int want;
	} cases[] = {
		{ "POST /metrics HTTP/1.1\r\nHost: a\r\n\r\n", -EOPNOTSUPP },
		{ "get /metrics HTTP/1.0\r\n\r\n", -EOPNOTSUPP },
		{ "G(T /metrics HTTP/1.0\r\n\r\n", -EBADMSG },
		{ "GET /metrics HTTP/2.0\r\n\r\n", -EPROTONOSUPPORT },
		{ "GET /metrics HTTP/1.1x\r\n\r\n", -EBADMSG },
		{ "GET /metrics http/1.1\r\n\r\n", -EBADMSG },
		{ "GET /metrics\r\n\r\n", -EBADMSG },
		{ "GET  /metrics HTTP/1.0\r\n\r\n", -EBADMSG },
		{ "GET /metrics HTTP/1.0 extra\r\n\r\n", -EBADMSG },
		{ "GET metrics HTTP/1.0\r\n\r\n", -EBADMSG },
		{ "GET /met\x01rics HTTP/1.0\r\n\r\n", -EBADMSG },
		{ "GET /m\xc3\xa9trics HTTP/1.0\r\n\r\n", -EBADMSG },
		{ "GET /metrics HTTP/1.1\r\n\r\n", -EBADMSG },			     /* no Host */
		{ "GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", -EBADMSG }, /* two */
		{ "GET /metrics HTTP/1.0\r\nHost : a\r\n\r\n", -EBADMSG },	     /* space */
		{ "GET /metrics HTTP/1.0\r\nA: b\r\n c\r\n\r\n", -EBADMSG },	     /* obs-fold */
		{ "GET /metrics HTTP/1.0\r\nNoColon\r\n\r\n", -EBADMSG },
		{ "GET /metrics HTTP/1.0\r\n: empty name\r\n\r\n", -EBADMSG },
		{ "GET /metrics HTTP/1.0\r\nA: b\x7f\r\n\r\n", -EBADMSG },
		{ "GET /metrics HTTP/1.0\r\nA: b\rc\r\n\r\n", -EBADMSG },
		{ "\x16\x03\x01\x02\x01\xfc\x03\x03\n\n", -EBADMSG }, /* TLS */
		{ "\n\n\nGET / HTTP/1.0\r\n\r\n", -EBADMSG },
	};
	static const char nul[] = "GET /metrics HTTP/1.0\r\nA: b\0c\r\n\r\n";
	struct ks_metrics_req r;

	for (size_t i = 0; i < KS_ARRAY_SIZE(cases); i++)
		cr_expect_eq(parse(cases[i].req, &r), cases[i].want, "case %zu: got %d", i,
			     parse(cases[i].req, &r));
	cr_expect_eq(ks_metrics_parse_request((const uint8_t *)nul, sizeof(nul) - 1, &r), -EBADMSG,
		     "NUL in a field value");
}

Test(metrics_http, size_caps)
{
	char *big = malloc(KS_METRICS_REQ_MAX + 64);
	struct ks_metrics_req r;
	int n;

	/* A head that never ends is refused once it fills the buffer. */
	n = snprintf(big, KS_METRICS_REQ_MAX + 64, "GET /metrics HTTP/1.0\r\nX: ");
	memset(big + n, 'a', KS_METRICS_REQ_MAX + 64 - (size_t)n);
	cr_assert_eq(ks_metrics_parse_request((uint8_t *)big, KS_METRICS_REQ_MAX - 1, &r), 0);
	cr_assert_eq(ks_metrics_parse_request((uint8_t *)big, KS_METRICS_REQ_MAX, &r), -E2BIG);
	cr_assert_eq(ks_metrics_parse_request((uint8_t *)big, KS_METRICS_REQ_MAX + 64, &r), -E2BIG);
	/* A complete head just past the cap too. */
	memcpy(big + KS_METRICS_REQ_MAX - 2, "\r\n\r\n", 4);
	cr_assert_eq(ks_metrics_parse_request((uint8_t *)big, KS_METRICS_REQ_MAX + 2, &r), -E2BIG);
	/* A target longer than the path buffer. */
	n = snprintf(big, KS_METRICS_REQ_MAX, "GET /");
	memset(big + n, 'p', 300);
	snprintf(big + n + 300, 64, " HTTP/1.0\r\n\r\n");
	cr_assert_eq(parse(big, &r), -ENAMETOOLONG);
	free(big);
}

static char *response(int parsed, const struct ks_metrics_req *r, const char *body)
{
	struct ks_buf b = { .p = (char *)body, .len = body ? strlen(body) : 0 }, out = { 0 };

	cr_assert_eq(ks_metrics_http_response(parsed, r, body ? &b : NULL, 0, &out), 0);
	return out.p;
}

Test(metrics_http, responses)
{
	struct ks_metrics_req r;
	char *t;

	cr_assert_eq(parse("GET /metrics HTTP/1.0\r\n\r\n", &r), 1);
	t = response(1, &r, "a 1\n");
	cr_assert(!strncmp(t, "HTTP/1.1 200 OK\r\n", 17));
	cr_assert_not_null(strstr(t, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	cr_assert_not_null(strstr(t, "Content-Length: 4\r\n"));
	cr_assert_not_null(strstr(t, "Connection: close\r\n"));
	cr_assert(!strcmp(t + strlen(t) - 8, "\r\n\r\na 1\n"));
	free(t);
	r.head = true;
	t = response(1, &r, "a 1\n");
	cr_assert_not_null(strstr(t, "Content-Length: 4\r\n"));
	cr_assert(!strcmp(t + strlen(t) - 4, "\r\n\r\n"), "HEAD: no body");
	free(t);
	cr_assert_eq(parse("GET /other HTTP/1.0\r\n\r\n", &r), 1);
	t = response(1, &r, NULL);
	cr_assert(!strncmp(t, "HTTP/1.1 404 ", 13));
	free(t);
	t = response(-EOPNOTSUPP, &r, NULL);
	cr_assert(!strncmp(t, "HTTP/1.1 405 ", 13));
	cr_assert_not_null(strstr(t, "Allow: GET, HEAD\r\n"));
	free(t);
	t = response(-E2BIG, &r, NULL);
	cr_assert(!strncmp(t, "HTTP/1.1 431 ", 13));
	free(t);
	t = response(-EBADMSG, &r, NULL);
	cr_assert(!strncmp(t, "HTTP/1.1 400 ", 13));
	free(t);
}

/* ---- the server on a real loop ----------------------------------------------------------- */

static int renders;

static int render_cb(void *arg, enum ks_metrics_body kind, struct ks_buf *out)
{
	struct ks_metrics_snapshot s = sample();

	(void)arg;
	renders++;
	return kind == KS_METRICS_JSON ? ks_metrics_json(&s, out) : ks_metrics_prometheus(&s, out);
}

static struct ks_loop *new_loop(void)
{
	struct ks_loop *loop = ks_loop_new(NULL);

	if (!loop && (errno == ENOSYS || errno == EPERM))
		cr_skip_test("io_uring unavailable: %s", strerror(errno));
	cr_assert_not_null(loop);
	return loop;
}

static int tcp_listener(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert(fd >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fd, 16), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static int tcp_connect(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Run the loop until fd has been closed by the server (EOF); returns what was received. */
static char *drain(struct ks_loop *loop, int fd, int max_ms)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = calloc(1, cap + 1);
	int64_t end = ks_monotonic_ms() + max_ms;

	while (ks_monotonic_ms() < end) {
		ssize_t n = recv(fd, buf + len, cap - len, MSG_DONTWAIT);

		if (n == 0)
			return buf;
		if (n > 0) {
			len += (size_t)n;
			cr_assert_lt(len, cap);
			continue;
		}
		cr_assert(errno == EAGAIN || errno == ECONNRESET, "%s", strerror(errno));
		if (errno == ECONNRESET)
			return buf;
		cr_assert_geq(ks_loop_run_once(loop, 10), 0);
	}
	cr_assert_fail("the server did not close the connection within %d ms", max_ms);
	return NULL;
}

Test(metrics_http, serves_and_bounds)
{
	struct ks_loop *loop = new_loop();
	struct ks_metrics_srv *srv;
	uint16_t port;
	int a, b, c[3];
	char *got;

	srv = ks_metrics_srv_new(&(struct ks_metrics_srv_params){ .loop = loop,
								  .fd = tcp_listener(&port),
								  .http = true,
								  .render = render_cb,
								  .max_clients = 2,
								  .timeout_ms = 300,
								  .name = "test" });
	cr_assert_not_null(srv);

	/* A scrape: the exposition, then the server closes. */
	a = tcp_connect(port);
	cr_assert(send(a, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", 35, 0) == 35);
	got = drain(loop, a, 2000);
	cr_assert(!strncmp(got, "HTTP/1.1 200 OK\r\n", 17), "%s", got);
	cr_assert_not_null(strstr(got, "\r\n\r\n# HELP kstaple_build_info"));
	cr_assert_not_null(strstr(got, "kstaple_connections{listener=\"web\"} 3\n"));
	free(got);
	close(a);

	/* A request in pieces, another path. */
	a = tcp_connect(port);
	cr_assert(send(a, "GET /x HT", 9, 0) == 9);
	for (int i = 0; i < 5; i++)
		cr_assert_geq(ks_loop_run_once(loop, 10), 0);
	cr_assert(send(a, "TP/1.0\r\n\r\n", 10, 0) == 10);
	got = drain(loop, a, 2000);
	cr_assert(!strncmp(got, "HTTP/1.1 404 ", 13), "%s", got);
	free(got);
	close(a);

	/* Garbage gets a 400. */
	a = tcp_connect(port);
	cr_assert(send(a, "\x16\x03\x01\n\n", 5, 0) == 5);
	got = drain(loop, a, 2000);
	cr_assert(!strncmp(got, "HTTP/1.1 400 ", 13), "%s", got);
	free(got);
	close(a);

	/* Two silent clients hold both slots; a third gets 503; the silent ones time out. */
	renders = 0;
	c[0] = tcp_connect(port);
	c[1] = tcp_connect(port);
	for (int i = 0; i < 20 && ks_metrics_srv_clients(srv) < 2; i++)
		cr_assert_geq(ks_loop_run_once(loop, 10), 0);
	cr_assert_eq(ks_metrics_srv_clients(srv), 2);
	c[2] = tcp_connect(port);
	got = drain(loop, c[2], 2000);
	cr_assert(!strncmp(got, "HTTP/1.1 503 ", 13), "%s", got);
	free(got);
	for (int i = 0; i < 2; i++) {
		int64_t t0 = ks_monotonic_ms();

		got = drain(loop, c[i], 2000);
		cr_assert_str_eq(got, "", "a silent client gets nothing");
		cr_assert_lt(ks_monotonic_ms() - t0, 1000);
		free(got);
	}
	cr_assert_eq(renders, 0);
	for (int i = 0; i < 3; i++)
		close(c[i]);
	for (int i = 0; i < 20 && ks_metrics_srv_clients(srv); i++)
		cr_assert_geq(ks_loop_run_once(loop, 10), 0);
	cr_assert_eq(ks_metrics_srv_clients(srv), 0);

	/* Freed with a client still connected: no leak, no late callback. */
	b = tcp_connect(port);
	for (int i = 0; i < 20 && ks_metrics_srv_clients(srv) < 1; i++)
		cr_assert_geq(ks_loop_run_once(loop, 10), 0);
	ks_metrics_srv_free(srv);
	for (int i = 0; i < 20 && ks_loop_busy(loop); i++)
		cr_assert_geq(ks_loop_run_once(loop, 10), 0);
	cr_assert_eq(ks_loop_busy(loop), 0);
	close(b);
	ks_loop_free(loop);
}

Test(metrics_http, control_socket_sends_json)
{
	struct ks_loop *loop = new_loop();
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct ks_metrics_snapshot s;
	struct ks_metrics_arena *arena;
	struct ks_metrics_srv *srv;
	int lfd, fd;
	char *got;

	snprintf(un.sun_path, sizeof(un.sun_path), "/tmp/ks-metrics-test-%d.sock", getpid());
	unlink(un.sun_path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&un, sizeof(un)), 0);
	cr_assert_eq(listen(lfd, 4), 0);
	srv = ks_metrics_srv_new(&(struct ks_metrics_srv_params){
		.loop = loop, .fd = lfd, .render = render_cb, .name = "control" });
	cr_assert_not_null(srv);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&un, sizeof(un)), 0);
	got = drain(loop, fd, 2000);
	cr_assert(strlen(got) > 2 && got[strlen(got) - 1] == '\n');
	cr_assert_eq(ks_metrics_from_json(got, strlen(got), &s, &arena), 0);
	cr_assert_eq(s.n_listeners, 2);
	cr_assert_str_eq(s.listeners[1].name, "api");
	ks_metrics_snapshot_free(arena);
	free(got);
	close(fd);
	ks_metrics_srv_free(srv);
	for (int i = 0; i < 20 && ks_loop_busy(loop); i++)
		cr_assert_geq(ks_loop_run_once(loop, 10), 0);
	ks_loop_free(loop);
	unlink(un.sun_path);
}

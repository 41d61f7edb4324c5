// SPDX-License-Identifier: MIT
/* http_fetch: every acceptance and rejection path against a real (misbehaving) HTTP server. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "helpers/fault_server.h"
#include "kstaple/clock.h"
#include "kstaple/http_fetch.h"

static const uint8_t req_der[] = { 0x30, 0x45, 0x30, 0x43, 0xa0, 0x03, 0x02, 0x01, 0x00 };
static const uint8_t stub[] = { 0x30, 0x03, 0x0a, 0x01, 0x00 }; /* the server's default body */

struct got {
	int calls;
	struct ks_http_result res;
	uint8_t body[128 * 1024];
};

static void on_done(const struct ks_http_result *res, void *arg)
{
	struct got *g = arg;

	g->calls++;
	g->res = *res;
	if (res->body && res->body_len <= sizeof(g->body))
		memcpy(g->body, res->body, res->body_len);
	g->res.body = NULL;
}

static struct fault_server srv;
static struct ks_loop *loop;
static struct ks_http *http;

static void setup_opts(const struct ks_http_opts *o, const char *const *extra)
{
	/* The test must not depend on the environment's proxy settings. */
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("ALL_PROXY");
	unsetenv("all_proxy");
	fault_server_start(&srv, extra);
	loop = ks_loop_new(NULL);
	if (!loop)
		cr_skip_test("io_uring unavailable: %s", strerror(errno));
	http = ks_http_new(loop, o);
	cr_assert_not_null(http);
}

static void setup(void)
{
	struct ks_http_opts o = { .connect_timeout_ms = 2000, .timeout_ms = 5000 };

	setup_opts(&o, NULL);
}

static void teardown(void)
{
	ks_http_free(http);
	ks_loop_free(loop);
	fault_server_stop(&srv);
}

static void run_until(int *calls, int want, int64_t max_ms)
{
	int64_t t0 = ks_monotonic_ms();

	while (*calls < want && ks_monotonic_ms() - t0 < max_ms)
		cr_assert_geq(ks_loop_run_once(loop, 100), 0);
}

/* One request; mode is the fault server's path component. */
static void fetch(struct got *g, const char *mode, bool get)
{
	char url[256], get_url[300];

	memset(g, 0, sizeof(*g));
	snprintf(url, sizeof(url), "%s/%s", srv.base, mode);
	snprintf(get_url, sizeof(get_url), "%s/MEUwQzBBMD8wPTAJBgUrDgMCGgUABBQ%%2Bx%%3D", url);
	cr_assert_eq(ks_http_ocsp(http, url, get ? get_url : NULL, req_der, sizeof(req_der),
				  on_done, g, NULL),
		     0);
	run_until(&g->calls, 1, 10000);
	cr_assert_eq(g->calls, 1, "request to /%s did not complete", mode);
	cr_assert_eq(ks_http_active(http), 0);
}

TestSuite(http_fetch, .init = setup, .fini = teardown, .timeout = 30);

Test(http_fetch_ctype, media_type_match)
{
	cr_assert(ks_http_ocsp_ctype_ok("application/ocsp-response"));
	cr_assert(ks_http_ocsp_ctype_ok("Application/OCSP-Response"));
	cr_assert(ks_http_ocsp_ctype_ok("application/ocsp-response; charset=binary"));
	cr_assert(ks_http_ocsp_ctype_ok(" application/ocsp-response ;x=y"));
	cr_assert_not(ks_http_ocsp_ctype_ok(NULL));
	cr_assert_not(ks_http_ocsp_ctype_ok(""));
	cr_assert_not(ks_http_ocsp_ctype_ok("text/html"));
	cr_assert_not(ks_http_ocsp_ctype_ok("application/ocsp-request"));
	cr_assert_not(ks_http_ocsp_ctype_ok("application/ocsp-responsex"));
	cr_assert_not(ks_http_ocsp_ctype_ok("application/ocsp-response-v2"));
	cr_assert_not(ks_http_ocsp_ctype_ok("application/ocsp"));
	cr_assert_str_eq(ks_http_err_name(KS_HTTP_ERR_TIMEOUT), "timeout");
	cr_assert_str_eq(ks_http_err_name(KS_HTTP_ERR__COUNT), "?");
}

Test(http_fetch, get_when_a_get_url_is_given)
{
	struct got *g = malloc(sizeof(*g));

	fetch(g, "ok", true);
	cr_assert(g->res.ok, "%s", g->res.error);
	cr_assert_eq(g->res.err, KS_HTTP_OK);
	cr_assert_eq(g->res.status, 200);
	cr_assert_str_eq(g->res.content_type, "application/ocsp-response");
	cr_assert_eq(g->res.body_len, sizeof(stub));
	cr_assert_arr_eq(g->body, stub, sizeof(stub));
	cr_assert_geq(g->res.elapsed_ms, 0);
	cr_assert_eq(fault_server_count(&srv, "GET /ok/MEUwQzBBMD8wPTAJBgUrDgMCGgUABBQ%2Bx%3D"), 1,
		     "the GET URL must reach the server unchanged");
	cr_assert_eq(fault_server_count(&srv, "POST"), 0);
	free(g);
}

Test(http_fetch, post_without_a_get_url)
{
	struct got *g = malloc(sizeof(*g));

	fetch(g, "ok", false);
	cr_assert(g->res.ok, "%s", g->res.error);
	cr_assert_eq(fault_server_count(&srv, "GET"), 0);
	cr_assert_eq(fault_server_count(&srv, "POST /ok ctype=application/ocsp-request len=9"), 1);
	free(g);
}

Test(http_fetch, content_type_parameters_are_tolerated)
{
	struct got *g = malloc(sizeof(*g));

	fetch(g, "params", true);
	cr_assert(g->res.ok, "%s", g->res.error);
	free(g);
}

/* Every rejection: the error class, the status and the operator's sentence. */
static void expect_reject(const char *mode, enum ks_http_err err, long status, const char *text)
{
	struct got *g = malloc(sizeof(*g));

	fetch(g, mode, true);
	cr_assert_not(g->res.ok, "/%s accepted", mode);
	cr_assert_eq(g->res.err, err, "/%s: got %s (%s)", mode, ks_http_err_name(g->res.err),
		     g->res.error);
	cr_assert_eq(g->res.status, status, "/%s: status %ld", mode, g->res.status);
	cr_assert(strstr(g->res.error, text), "/%s: error '%s' lacks '%s'", mode, g->res.error,
		  text);
	cr_assert_null(g->res.body);
	free(g);
}

Test(http_fetch, rejects_http_500)
{
	expect_reject("500", KS_HTTP_ERR_STATUS, 500, "HTTP status 500");
}

Test(http_fetch, rejects_html_with_200)
{
	expect_reject("html", KS_HTTP_ERR_CONTENT_TYPE, 200, "wrong content type 'text/html'");
}

Test(http_fetch, rejects_wrong_content_type)
{
	expect_reject("wrongct", KS_HTTP_ERR_CONTENT_TYPE, 200, "application/octet-stream");
}

Test(http_fetch, rejects_missing_content_type)
{
	expect_reject("noct", KS_HTTP_ERR_CONTENT_TYPE, 200, "no Content-Type");
}

Test(http_fetch, rejects_announced_oversized_body)
{
	expect_reject("oversized", KS_HTTP_ERR_TOO_LARGE, 200, "body over 65536 bytes");
}

Test(http_fetch, rejects_streamed_oversized_body)
{
	/* No Content-Length: only the write callback can stop it. */
	expect_reject("stream", KS_HTTP_ERR_TOO_LARGE, 200, "body over 65536 bytes");
}

Test(http_fetch, rejects_empty_body)
{
	expect_reject("empty", KS_HTTP_ERR_EMPTY, 200, "empty body");
}

Test(http_fetch, rejects_non_http_garbage)
{
	expect_reject("nothttp", KS_HTTP_ERR_PROTOCOL, 0, "bad HTTP response");
}

Test(http_fetch, does_not_follow_redirects)
{
	expect_reject("redirect", KS_HTTP_ERR_STATUS, 302, "HTTP status 302");
	cr_assert_eq(fault_server_count(&srv, "GET /ok"), 0, "the redirect was followed");
}

Test(http_fetch, garbage_der_is_not_an_http_error)
{
	struct got *g = malloc(sizeof(*g));

	/* HTTP is fine; judging the DER is ocsp_verify's job. */
	fetch(g, "garbage", true);
	cr_assert(g->res.ok, "%s", g->res.error);
	cr_assert_eq(g->res.body_len, 300);
	free(g);
}

Test(http_fetch, connection_refused)
{
	struct got g = { 0 };
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", fault_server_free_port());
	cr_assert_eq(ks_http_ocsp(http, url, NULL, req_der, sizeof(req_der), on_done, &g, NULL), 0);
	run_until(&g.calls, 1, 10000);
	cr_assert_eq(g.calls, 1);
	cr_assert_eq(g.res.err, KS_HTTP_ERR_CONNECT, "%s", g.res.error);
	cr_assert_str_eq(g.res.error, "connection refused");
	cr_assert_eq(g.res.status, 0);
}

Test(http_fetch, bad_schemes_are_refused)
{
	static const char *const urls[] = { "ftp://127.0.0.1/x", "file:///etc/passwd",
					    "gopher://127.0.0.1/", "not a url" };
	struct got g;
	size_t i;

	for (i = 0; i < KS_ARRAY_SIZE(urls); i++) {
		memset(&g, 0, sizeof(g));
		cr_assert_eq(ks_http_ocsp(http, urls[i], NULL, req_der, sizeof(req_der), on_done,
					  &g, NULL),
			     0);
		run_until(&g.calls, 1, 5000);
		cr_assert_eq(g.calls, 1, "%s", urls[i]);
		cr_assert_eq(g.res.err, KS_HTTP_ERR_URL, "%s: %s (%s)", urls[i],
			     ks_http_err_name(g.res.err), g.res.error);
	}
	cr_assert_eq(ks_http_ocsp(http, NULL, NULL, NULL, 0, on_done, &g, NULL), -EINVAL);
}

Test(http_fetch_slow, times_out_when_the_server_never_answers, .timeout = 30)
{
	struct ks_http_opts o = { .connect_timeout_ms = 1000, .timeout_ms = 400 };
	struct got *g = malloc(sizeof(*g));

	setup_opts(&o, NULL);
	fetch(g, "slow", true);
	cr_assert_eq(g->res.err, KS_HTTP_ERR_TIMEOUT, "%s", g->res.error);
	cr_assert(strstr(g->res.error, "no complete response"), "%s", g->res.error);
	cr_assert_geq(g->res.elapsed_ms, 350);
	cr_assert_lt(g->res.elapsed_ms, 3000);
	free(g);
	teardown();
}

Test(http_fetch, reuses_the_connection)
{
	struct got *g = malloc(sizeof(*g));
	int i;

	for (i = 0; i < 5; i++) {
		fetch(g, "ok", i % 2);
		cr_assert(g->res.ok, "%s", g->res.error);
		cr_assert_eq(g->res.reused, i > 0, "request %d reused=%d", i, g->res.reused);
	}
	cr_assert_eq(fault_server_count(&srv, "conn "), 1, "expected one keep-alive connection");
	free(g);
}

Test(http_fetch, closed_sockets_and_reused_fds)
{
	struct got *g = malloc(sizeof(*g));
	int i;

	/* Each /nothttp closes its connection; curl reopens and the fd number comes back. */
	for (i = 0; i < 12; i++) {
		fetch(g, i % 2 ? "ok" : "nothttp", true);
		cr_assert_eq(g->res.ok, i % 2 == 1, "request %d: %s", i, g->res.error);
	}
	cr_assert_eq(ks_loop_busy(loop) <= 2, 1, "busy ops %u", ks_loop_busy(loop));
	free(g);
}

Test(http_fetch_limit, per_host_connection_limit, .timeout = 30)
{
	struct ks_http_opts o = { .timeout_ms = 10000, .max_host_connections = 2 };
	enum {
		N = 16
	};
	struct got *g = calloc(N, sizeof(*g));
	char url[128];
	int i, calls = 0, ok = 0;

	setup_opts(&o, NULL);
	snprintf(url, sizeof(url), "%s/ok", srv.base);
	for (i = 0; i < N; i++)
		cr_assert_eq(ks_http_ocsp(http, url, NULL, req_der, sizeof(req_der), on_done, &g[i],
					  NULL),
			     0);
	cr_assert_eq(ks_http_active(http), N);
	for (int64_t t0 = ks_monotonic_ms(); ks_monotonic_ms() - t0 < 15000;) {
		cr_assert_geq(ks_loop_run_once(loop, 100), 0);
		for (calls = 0, i = 0; i < N; i++)
			calls += g[i].calls;
		if (calls == N)
			break;
	}
	for (i = 0; i < N; i++)
		ok += g[i].res.ok;
	cr_assert_eq(calls, N);
	cr_assert_eq(ok, N);
	cr_assert_leq(fault_server_count(&srv, "conn "), 2, "%d connections for a limit of 2",
		      fault_server_count(&srv, "conn "));
	cr_assert_eq(fault_server_count(&srv, "POST /ok"), N);
	free(g);
	teardown();
}

Test(http_fetch, cancel_never_calls_back)
{
	struct got g = { 0 };
	struct ks_http_req *req = NULL;
	char url[128];

	snprintf(url, sizeof(url), "%s/slow", srv.base);
	cr_assert_eq(ks_http_ocsp(http, url, NULL, req_der, sizeof(req_der), on_done, &g, &req), 0);
	cr_assert_not_null(req);
	/* Let it connect and send, then abandon it mid-flight. */
	for (int i = 0; i < 5; i++)
		cr_assert_geq(ks_loop_run_once(loop, 50), 0);
	cr_assert_eq(fault_server_count(&srv, "POST /slow"), 1);
	ks_http_cancel(http, req);
	cr_assert_eq(ks_http_active(http), 0);
	for (int i = 0; i < 5; i++)
		cr_assert_geq(ks_loop_run_once(loop, 50), 0);
	cr_assert_eq(g.calls, 0);
}

Test(http_fetch, free_with_requests_in_flight)
{
	struct got g = { 0 };
	char url[128];

	snprintf(url, sizeof(url), "%s/slow", srv.base);
	cr_assert_eq(ks_http_ocsp(http, url, NULL, req_der, sizeof(req_der), on_done, &g, NULL), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_geq(ks_loop_run_once(loop, 50), 0);
	ks_http_free(http);
	http = NULL;
	for (int i = 0; i < 3; i++)
		cr_assert_geq(ks_loop_run_once(loop, 50), 0);
	cr_assert_eq(g.calls, 0);
	cr_assert_eq(ks_loop_busy(loop), 0, "ops left behind: %u", ks_loop_busy(loop));
}

Test(http_fetch_proxy, configured_proxy_is_used, .timeout = 30)
{
	struct ks_http_opts o = { .timeout_ms = 5000 };
	struct got *g = malloc(sizeof(*g));
	char proxy[64];

	memset(g, 0, sizeof(*g));
	setup_opts(&o, NULL);
	/* Restart the client with the fault server as its proxy. */
	ks_http_free(http);
	snprintf(proxy, sizeof(proxy), "%s", srv.base);
	o.proxy = proxy;
	http = ks_http_new(loop, &o);
	cr_assert_not_null(http);
	/* 192.0.2.1 (TEST-NET-1) is unreachable: only the proxy can answer. */
	cr_assert_eq(ks_http_ocsp(http, "http://192.0.2.1/ocsp", "http://192.0.2.1/ocsp/AB%3D",
				  NULL, 0, on_done, g, NULL),
		     0);
	run_until(&g->calls, 1, 10000);
	cr_assert(g->res.ok, "%s", g->res.error);
	cr_assert_eq(fault_server_count(&srv, "GET http://192.0.2.1/ocsp/AB%3D"), 1);
	free(g);
	teardown();
}

Test(http_fetch_proxy, http_proxy_environment_is_honoured, .timeout = 30)
{
	struct ks_http_opts o = { .timeout_ms = 5000 };
	struct got *g = malloc(sizeof(*g));

	memset(g, 0, sizeof(*g));
	setup_opts(&o, NULL);
	setenv("http_proxy", srv.base, 1);
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	cr_assert_eq(ks_http_ocsp(http, "http://192.0.2.1/ocsp", NULL, req_der, sizeof(req_der),
				  on_done, g, NULL),
		     0);
	run_until(&g->calls, 1, 10000);
	cr_assert(g->res.ok, "%s", g->res.error);
	cr_assert_eq(fault_server_count(&srv, "POST http://192.0.2.1/ocsp"), 1);
	free(g);
	teardown();
}

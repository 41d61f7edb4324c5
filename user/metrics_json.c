// SPDX-License-Identifier: MIT
/*
 * The agent's snapshot as JSON (the control socket) and back (`kstaple stats`). The two
 * directions share the key names below, and tests/unit/metrics_test.c checks the round trip.
 *
 *   {"version":"0.1.0","time":T,"start_time":T,"telemetry":N,
 *    "ports":[{"port":443,"hellos":..,"status_request":..,...}],
 *    "listeners":[{"name":"web","listen":"*:443","connections":..,"accepted":..,
 *                  "ended":{"completed":..,...},"bytes_in":..,"bytes_out":..,"handshakes":..,
 *                  "resumed":..,"sni_unknown":..,
 *                  "sessions":[{"path":"userspace","reason":"ktls-not-enabled","count":..}]}],
 *    "handshakes":[{"listener":"web","cert":"www","stapled":..,"none-cached":..,...}],
 *    "certs":[{"name":"www","has_responder":true,"successes":..,"failures":..,
 *              "failure_reasons":{"connect":..,"expired":..},"persist_failures":..,
 *              "consecutive_failures":..,"next_attempt":T,"last_error":"..","last_error_at":T,
 *              "staple":{"verdict":"good","this_update":T,"next_update":T,"fetched_at":T}}],
 *    "fds":{"limit":N,"budget":N,"paused":false,"pauses":N,"overflow_closed":N}}
 */
#include <stdlib.h>
#include <string.h>

#include "kstaple/json.h"
#include "kstaple/metrics.h"
#include "kstaple/tls_server.h"

/* Ends of connections, in struct ks_metrics_listener order. */
#define LOFF(f) offsetof(struct ks_metrics_listener, f)
static const struct {
	const char *key;
	size_t off;
} ended[] = {
	{ "completed", LOFF(completed) },
	{ "handshake_timeout", LOFF(handshake_timeouts) },
	{ "handshake_failure", LOFF(handshake_failures) },
	{ "backend_failure", LOFF(backend_failures) },
	{ "idle_timeout", LOFF(idle_timeouts) },
	{ "error", LOFF(errors) },
};

#define POFF(f) offsetof(struct ks_hello_counters, f)
static const struct {
	const char *key;
	size_t off;
} hello_keys[] = {
	{ "hellos", POFF(hellos) },
	{ "status_request", POFF(status_request) },
	{ "no_status_request", POFF(no_status_request) },
	{ "status_request_v2", POFF(status_request_v2) },
	{ "hrr_hellos", POFF(hrr_hellos) },
	{ "malformed", POFF(unclassified_malformed) },
	{ "short", POFF(unclassified_short) },
	{ "non_tls", POFF(unclassified_non_tls) },
	{ "too_long", POFF(unclassified_too_long) },
};

static uint64_t field(const void *base, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)base + off, sizeof(v));
	return v;
}

static void set_field(void *base, size_t off, uint64_t v)
{
	memcpy((char *)base + off, &v, sizeof(v));
}

/* RFC 8259 §7 strings, valid UTF-8 whatever the bytes were (see ks_json_quote). */
static void jstr(struct ks_buf *b, const char *s)
{
	ks_json_quote(b, s);
}

static void json_ports(struct ks_buf *b, const struct ks_metrics_snapshot *s)
{
	ks_buf_printf(b, ",\"ports\":[");
	for (size_t i = 0; i < s->n_ports; i++) {
		ks_buf_printf(b, "%s{\"port\":%u", i ? "," : "", s->ports[i].port);
		for (size_t k = 0; k < KS_ARRAY_SIZE(hello_keys); k++)
			ks_buf_printf(b, ",\"%s\":%llu", hello_keys[k].key,
				      (unsigned long long)field(&s->ports[i].c, hello_keys[k].off));
		ks_buf_printf(b, "}");
	}
	ks_buf_printf(b, "]");
}

static void json_listener(struct ks_buf *b, const struct ks_metrics_listener *l)
{
	bool first = true;

	ks_buf_printf(b, "{\"name\":");
	jstr(b, l->name);
	ks_buf_printf(b, ",\"listen\":");
	jstr(b, l->listen);
	ks_buf_printf(b, ",\"connections\":%llu,\"accepted\":%llu,\"ended\":{",
		      (unsigned long long)l->connections, (unsigned long long)l->accepted);
	for (size_t k = 0; k < KS_ARRAY_SIZE(ended); k++)
		ks_buf_printf(b, "%s\"%s\":%llu", k ? "," : "", ended[k].key,
			      (unsigned long long)field(l, ended[k].off));
	ks_buf_printf(b,
		      "},\"bytes_in\":%llu,\"bytes_out\":%llu,\"handshakes\":%llu,\"resumed\":%llu,"
		      "\"sni_unknown\":%llu,\"sessions\":[",
		      (unsigned long long)l->bytes_in, (unsigned long long)l->bytes_out,
		      (unsigned long long)l->handshakes, (unsigned long long)l->resumed,
		      (unsigned long long)l->sni_unknown);
	for (unsigned p = 0; p < KS_SESSION__PATHS; p++) {
		for (unsigned r = 0; r < KS_SESSION_R__COUNT; r++) {
			if (!l->sessions[p][r])
				continue;
			ks_buf_printf(b, "%s{\"path\":\"%s\",\"reason\":\"%s\",\"count\":%llu}",
				      first ? "" : ",", ks_session_path_name(p),
				      ks_session_reason_name(r),
				      (unsigned long long)l->sessions[p][r]);
			first = false;
		}
	}
	ks_buf_printf(b, "]}");
}

static void reason(struct ks_buf *b, bool *first, const char *name, uint64_t v)
{
	if (!v)
		return;
	ks_buf_printf(b, "%s\"%s\":%llu", *first ? "" : ",", name, (unsigned long long)v);
	*first = false;
}

static void json_cert(struct ks_buf *b, const struct ks_metrics_cert *c)
{
	bool first = true;

	ks_buf_printf(b, "{\"name\":");
	jstr(b, c->name);
	ks_buf_printf(b,
		      ",\"has_responder\":%s,\"successes\":%llu,\"failures\":%llu,"
		      "\"failure_reasons\":{",
		      c->has_responder ? "true" : "false", (unsigned long long)c->successes,
		      (unsigned long long)c->failures);
	for (unsigned v = 0; v < KS_V__COUNT; v++)
		reason(b, &first, ks_verdict_name(v), c->rejected[v]);
	for (unsigned e = 1; e < KS_HTTP_ERR__COUNT; e++)
		reason(b, &first, ks_http_err_name(e), c->http_failures[e]);
	reason(b, &first, "stale", c->stale);
	reason(b, &first, "local-error", c->local_failures);
	ks_buf_printf(b,
		      "},\"persist_failures\":%llu,\"consecutive_failures\":%u,"
		      "\"next_attempt\":%lld,\"last_error\":",
		      (unsigned long long)c->persist_failures, c->consecutive_failures,
		      (long long)c->next_attempt);
	if (c->last_error && *c->last_error)
		jstr(b, c->last_error);
	else
		ks_buf_printf(b, "null");
	ks_buf_printf(b, ",\"last_error_at\":%lld,\"staple\":", (long long)c->last_error_at);
	if (c->has_staple)
		ks_buf_printf(b,
			      "{\"verdict\":\"%s\",\"this_update\":%lld,\"next_update\":%lld,"
			      "\"fetched_at\":%lld}}",
			      ks_verdict_name(c->verdict), (long long)c->this_update,
			      (long long)c->next_update, (long long)c->fetched_at);
	else
		ks_buf_printf(b, "null}");
}

int ks_metrics_json(const struct ks_metrics_snapshot *s, struct ks_buf *b)
{
	ks_buf_printf(b, "{\"version\":");
	jstr(b, s->version);
	ks_buf_printf(b, ",\"time\":%lld,\"start_time\":%lld,\"telemetry\":%d", (long long)s->now,
		      (long long)s->start_time, s->telemetry);
	json_ports(b, s);
	ks_buf_printf(b, ",\"listeners\":[");
	for (size_t i = 0; i < s->n_listeners; i++) {
		ks_buf_printf(b, "%s", i ? "," : "");
		json_listener(b, &s->listeners[i]);
	}
	ks_buf_printf(b, "],\"handshakes\":[");
	for (size_t i = 0; i < s->n_lcs; i++) {
		ks_buf_printf(b, "%s{\"listener\":", i ? "," : "");
		jstr(b, s->lcs[i].listener);
		ks_buf_printf(b, ",\"cert\":");
		jstr(b, s->lcs[i].cert);
		for (unsigned o = 0; o < KS_METRICS_OUTCOMES; o++)
			ks_buf_printf(b, ",\"%s\":%llu", ks_tls_outcome_name(o),
				      (unsigned long long)s->lcs[i].outcome[o]);
		ks_buf_printf(b, "}");
	}
	ks_buf_printf(b, "],\"certs\":[");
	for (size_t i = 0; i < s->n_certs; i++) {
		ks_buf_printf(b, "%s", i ? "," : "");
		json_cert(b, &s->certs[i]);
	}
	ks_buf_printf(b,
		      "],\"fds\":{\"limit\":%llu,\"budget\":%llu,\"paused\":%s,\"pauses\":%llu,"
		      "\"overflow_closed\":%llu}}",
		      (unsigned long long)s->fds.limit, (unsigned long long)s->fds.budget,
		      s->fds.paused ? "true" : "false", (unsigned long long)s->fds.pauses,
		      (unsigned long long)s->fds.overflow_closed);
	return b->failed ? -ENOMEM : 0;
}

/* ---- back from JSON ---------------------------------------------------------------------- */

/* Everything a parsed snapshot points to: the tree (strings are borrowed from it) and arrays. */
struct ks_metrics_arena {
	struct ks_json *tree;
	struct ks_metrics_port *ports;
	struct ks_metrics_listener *listeners;
	struct ks_metrics_lc *lcs;
	struct ks_metrics_cert *certs;
};

void ks_metrics_snapshot_free(struct ks_metrics_arena *a)
{
	if (!a)
		return;
	ks_json_free(a->tree);
	free(a->ports);
	free(a->listeners);
	free(a->lcs);
	free(a->certs);
	free(a);
}

/* An array member (possibly empty); -EBADMSG if present and not an array. */
static int array_of(const struct ks_json *obj, const char *key, const struct ks_json **out,
		    size_t *n)
{
	const struct ks_json *v = ks_json_get(obj, key);

	*out = NULL;
	*n = 0;
	if (!v || v->type == KS_JSON_NULL)
		return 0;
	ENSURE(v->type == KS_JSON_ARRAY, -EBADMSG);
	for (size_t i = 0; i < v->n; i++)
		ENSURE(v->items[i].type == KS_JSON_OBJECT, -EBADMSG);
	*out = v->items;
	*n = v->n;
	return 0;
}

static int find_word(const char *w, const char *(*name)(unsigned), unsigned count)
{
	for (unsigned i = 0; w && i < count; i++)
		if (!strcmp(name(i), w))
			return (int)i;
	return -1;
}

static const char *verdict_w(unsigned i)
{
	return ks_verdict_name(i);
}
static const char *http_w(unsigned i)
{
	return ks_http_err_name(i);
}
static const char *path_w(unsigned i)
{
	return ks_session_path_name(i);
}
static const char *reason_w(unsigned i)
{
	return ks_session_reason_name(i);
}
static const char *outcome_w(unsigned i)
{
	return ks_tls_outcome_name(i);
}

static void listener_from(const struct ks_json *j, struct ks_metrics_listener *l)
{
	const struct ks_json *end = ks_json_get(j, "ended"), *ss = ks_json_get(j, "sessions");

	l->name = ks_json_str(ks_json_get(j, "name"));
	l->listen = ks_json_str(ks_json_get(j, "listen"));
	l->connections = ks_json_u64(ks_json_get(j, "connections"));
	l->accepted = ks_json_u64(ks_json_get(j, "accepted"));
	for (size_t k = 0; k < KS_ARRAY_SIZE(ended); k++)
		set_field(l, ended[k].off, ks_json_u64(ks_json_get(end, ended[k].key)));
	l->bytes_in = ks_json_u64(ks_json_get(j, "bytes_in"));
	l->bytes_out = ks_json_u64(ks_json_get(j, "bytes_out"));
	l->handshakes = ks_json_u64(ks_json_get(j, "handshakes"));
	l->resumed = ks_json_u64(ks_json_get(j, "resumed"));
	l->sni_unknown = ks_json_u64(ks_json_get(j, "sni_unknown"));
	for (size_t i = 0; ss && ss->type == KS_JSON_ARRAY && i < ss->n; i++) {
		int p = find_word(ks_json_str(ks_json_get(&ss->items[i], "path")), path_w,
				  KS_SESSION__PATHS);
		int r = find_word(ks_json_str(ks_json_get(&ss->items[i], "reason")), reason_w,
				  KS_SESSION_R__COUNT);

		if (p >= 0 && r >= 0)
			l->sessions[p][r] = ks_json_u64(ks_json_get(&ss->items[i], "count"));
	}
}

static void cert_from(const struct ks_json *j, struct ks_metrics_cert *c)
{
	const struct ks_json *fr = ks_json_get(j, "failure_reasons");
	const struct ks_json *st = ks_json_get(j, "staple");
	int k;

	c->name = ks_json_str(ks_json_get(j, "name"));
	c->has_responder = ks_json_bool(ks_json_get(j, "has_responder"));
	c->successes = ks_json_u64(ks_json_get(j, "successes"));
	c->failures = ks_json_u64(ks_json_get(j, "failures"));
	for (size_t i = 0; fr && fr->type == KS_JSON_OBJECT && i < fr->n; i++) {
		const char *w = fr->items[i].key;
		uint64_t v = ks_json_u64(&fr->items[i]);

		if ((k = find_word(w, verdict_w, KS_V__COUNT)) >= 0)
			c->rejected[k] = v;
		else if ((k = find_word(w, http_w, KS_HTTP_ERR__COUNT)) > 0)
			c->http_failures[k] = v;
		else if (!strcmp(w, "stale"))
			c->stale = v;
		else if (!strcmp(w, "local-error"))
			c->local_failures = v;
	}
	c->persist_failures = ks_json_u64(ks_json_get(j, "persist_failures"));
	c->consecutive_failures = (unsigned)ks_json_u64(ks_json_get(j, "consecutive_failures"));
	c->next_attempt = ks_json_i64(ks_json_get(j, "next_attempt"));
	c->last_error = ks_json_str(ks_json_get(j, "last_error"));
	c->last_error_at = ks_json_i64(ks_json_get(j, "last_error_at"));
	c->has_staple = st && st->type == KS_JSON_OBJECT;
	if (c->has_staple) {
		k = find_word(ks_json_str(ks_json_get(st, "verdict")), verdict_w, KS_V__COUNT);
		c->verdict = k >= 0 ? (enum ks_verdict)k : KS_V_MALFORMED;
		c->this_update = ks_json_i64(ks_json_get(st, "this_update"));
		c->next_update = ks_json_i64(ks_json_get(st, "next_update"));
		c->fetched_at = ks_json_i64(ks_json_get(st, "fetched_at"));
	}
}

static int fill(const struct ks_json *root, struct ks_metrics_snapshot *s,
		struct ks_metrics_arena *a)
{
	const struct ks_json *arr, *fds;
	size_t n;

	ENSURE(root->type == KS_JSON_OBJECT, -EBADMSG);
	s->version = ks_json_str(ks_json_get(root, "version"));
	s->now = ks_json_i64(ks_json_get(root, "time"));
	s->start_time = ks_json_i64(ks_json_get(root, "start_time"));
	s->telemetry = (int)ks_json_i64(ks_json_get(root, "telemetry"));
	fds = ks_json_get(root, "fds");
	s->fds.limit = ks_json_u64(ks_json_get(fds, "limit"));
	s->fds.budget = ks_json_u64(ks_json_get(fds, "budget"));
	s->fds.paused = ks_json_bool(ks_json_get(fds, "paused"));
	s->fds.pauses = ks_json_u64(ks_json_get(fds, "pauses"));
	s->fds.overflow_closed = ks_json_u64(ks_json_get(fds, "overflow_closed"));
	TRY(array_of(root, "ports", &arr, &n));
	a->ports = calloc(n ? n : 1, sizeof(*a->ports));
	ENSURE(a->ports, -ENOMEM);
	for (size_t i = 0; i < n; i++) {
		a->ports[i].port = (uint16_t)ks_json_u64(ks_json_get(&arr[i], "port"));
		for (size_t k = 0; k < KS_ARRAY_SIZE(hello_keys); k++)
			set_field(&a->ports[i].c, hello_keys[k].off,
				  ks_json_u64(ks_json_get(&arr[i], hello_keys[k].key)));
	}
	s->ports = a->ports;
	s->n_ports = n;
	TRY(array_of(root, "listeners", &arr, &n));
	a->listeners = calloc(n ? n : 1, sizeof(*a->listeners));
	ENSURE(a->listeners, -ENOMEM);
	for (size_t i = 0; i < n; i++)
		listener_from(&arr[i], &a->listeners[i]);
	s->listeners = a->listeners;
	s->n_listeners = n;
	TRY(array_of(root, "handshakes", &arr, &n));
	a->lcs = calloc(n ? n : 1, sizeof(*a->lcs));
	ENSURE(a->lcs, -ENOMEM);
	for (size_t i = 0; i < n; i++) {
		a->lcs[i].listener = ks_json_str(ks_json_get(&arr[i], "listener"));
		a->lcs[i].cert = ks_json_str(ks_json_get(&arr[i], "cert"));
		for (unsigned o = 0; o < KS_METRICS_OUTCOMES; o++)
			a->lcs[i].outcome[o] = ks_json_u64(ks_json_get(&arr[i], outcome_w(o)));
	}
	s->lcs = a->lcs;
	s->n_lcs = n;
	TRY(array_of(root, "certs", &arr, &n));
	a->certs = calloc(n ? n : 1, sizeof(*a->certs));
	ENSURE(a->certs, -ENOMEM);
	for (size_t i = 0; i < n; i++)
		cert_from(&arr[i], &a->certs[i]);
	s->certs = a->certs;
	s->n_certs = n;
	return 0;
}

int ks_metrics_from_json(const char *text, size_t len, struct ks_metrics_snapshot *s,
			 struct ks_metrics_arena **arena)
{
	struct ks_metrics_arena *a = calloc(1, sizeof(*a));
	int ret;

	memset(s, 0, sizeof(*s));
	*arena = NULL;
	ENSURE(a, -ENOMEM);
	TRY_OUT(ks_json_parse(text, len, &a->tree));
	TRY_OUT(fill(a->tree, s, a));
	/* Names are labels and table cells: a snapshot without them is not ours. */
	for (size_t i = 0; i < s->n_listeners; i++)
		ENSURE_OUT(s->listeners[i].name, -EBADMSG);
	for (size_t i = 0; i < s->n_lcs; i++)
		ENSURE_OUT(s->lcs[i].listener && s->lcs[i].cert, -EBADMSG);
	for (size_t i = 0; i < s->n_certs; i++)
		ENSURE_OUT(s->certs[i].name, -EBADMSG);
	*arena = a;
	return 0;
out:
	ks_metrics_snapshot_free(a);
	memset(s, 0, sizeof(*s));
	return ret;
}

// SPDX-License-Identifier: MIT
/*
 * metrics: Prometheus text exposition and JSON of a snapshot (see include/kstaple/metrics.h).
 *
 * Prometheus text format 0.0.4 (prometheus.io/docs/instrumenting/exposition_formats):
 *   # HELP <name> <docstring, with \\ and \n escaped>
 *   # TYPE <name> counter|gauge
 *   <name>{<label>="<value, with \\ \" and \n escaped>",...} <value>
 * All samples of one metric are contiguous. Counters end in _total (the TYPE line names the
 * sample, as 0.0.4 exporters do). Label sets are fixed per metric; failure reasons and
 * session paths with a zero count are left out, so 10,000 certificates do not make 300,000
 * series of zeros.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kstaple/metrics.h"
#include "kstaple/tls_server.h"

_Static_assert(KS_METRICS_OUTCOMES == KS_TLS__OUTCOMES, "snapshot keeps every outcome");

static const char *const path_names[KS_SESSION__PATHS] = {
	[KS_SESSION_KTLS] = "ktls",
	[KS_SESSION_KTLS_TX] = "ktls_tx",
	[KS_SESSION_KTLS_RX] = "ktls_rx",
	[KS_SESSION_USERSPACE] = "userspace",
};

static const char *const reason_names[KS_SESSION_R__COUNT] = {
	[KS_SESSION_R_NONE] = "none",
	[KS_SESSION_R_NOT_ENABLED] = "ktls-not-enabled",
	[KS_SESSION_R_NO_ULP] = "no-ulp",
	[KS_SESSION_R_NOT_DONE] = "handshake-not-done",
	[KS_SESSION_R_VERSION] = "version",
	[KS_SESSION_R_CIPHER] = "cipher",
	[KS_SESSION_R_PENDING] = "pending-bytes",
	[KS_SESSION_R_KERNEL_CIPHER] = "kernel-cipher",
	[KS_SESSION_R_OPENSSL] = "openssl",
	[KS_SESSION_R_NO_SECRET] = "no-secret",
	[KS_SESSION_R_TX_SEQ] = "tx-seq",
	[KS_SESSION_R_SETSOCKOPT] = "setsockopt",
};

const char *ks_session_path_name(enum ks_session_path p)
{
	return (unsigned)p < KS_SESSION__PATHS ? path_names[p] : "?";
}

const char *ks_session_reason_name(enum ks_session_reason r)
{
	return (unsigned)r < KS_SESSION_R__COUNT ? reason_names[r] : "?";
}

void ks_metrics_count_session(struct ks_session_stats *s, enum ks_session_path path,
			      enum ks_session_reason reason)
{
	if (!s || (unsigned)path >= KS_SESSION__PATHS || (unsigned)reason >= KS_SESSION_R__COUNT)
		return;
	atomic_fetch_add_explicit(&s->n[path][reason], 1, memory_order_relaxed);
}

/* ---- buffer ------------------------------------------------------------------------------ */

static bool buf_reserve(struct ks_buf *b, size_t more)
{
	size_t cap;
	char *p;

	if (b->failed)
		return false;
	if (b->len + more + 1 <= b->cap)
		return true;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void ks_buf_printf(struct ks_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!buf_reserve(b, 0))
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		if (!buf_reserve(b, (size_t)n))
			return;
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

static void buf_putc(struct ks_buf *b, char c)
{
	if (buf_reserve(b, 1)) {
		b->p[b->len++] = c;
		b->p[b->len] = '\0';
	}
}

void ks_buf_free(struct ks_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* ---- Prometheus -------------------------------------------------------------------------- */

struct lbl {
	const char *k, *v;
};

static void family(struct ks_buf *b, const char *name, const char *type, const char *help)
{
	/* Our help strings hold neither backslashes nor newlines: nothing to escape. */
	ks_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* label-value escaping of the text format: \ -> \\, " -> \", newline -> \n */
static void label_value(struct ks_buf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"') {
			buf_putc(b, '\\');
			buf_putc(b, *v);
		} else if (*v == '\n') {
			buf_putc(b, '\\');
			buf_putc(b, 'n');
		} else {
			buf_putc(b, *v);
		}
	}
}

static void labels(struct ks_buf *b, const struct lbl *l, size_t n)
{
	if (!n)
		return;
	buf_putc(b, '{');
	for (size_t i = 0; i < n; i++) {
		ks_buf_printf(b, "%s%s=\"", i ? "," : "", l[i].k);
		label_value(b, l[i].v);
		buf_putc(b, '"');
	}
	buf_putc(b, '}');
}

static void sample_u(struct ks_buf *b, const char *name, const struct lbl *l, size_t n, uint64_t v)
{
	ks_buf_printf(b, "%s", name);
	labels(b, l, n);
	ks_buf_printf(b, " %llu\n", (unsigned long long)v);
}

static void sample_i(struct ks_buf *b, const char *name, const struct lbl *l, size_t n, int64_t v)
{
	ks_buf_printf(b, "%s", name);
	labels(b, l, n);
	ks_buf_printf(b, " %lld\n", (long long)v);
}

static void prom_hellos(struct ks_buf *b, const struct ks_metrics_snapshot *s)
{
	static const char *const uc_names[] = { "malformed", "short", "non_tls", "too_long" };
	char port[8];

	family(b, "kstaple_telemetry_available", "gauge",
	       "1 if the pinned eBPF ClientHello counters could be read, else 0");
	sample_u(b, "kstaple_telemetry_available", NULL, 0, s->telemetry >= 0);
	family(b, "kstaple_clienthellos_total", "counter",
	       "TLS ClientHellos seen by the eBPF program, by whether they carried status_request");
	for (size_t i = 0; i < s->n_ports; i++) {
		snprintf(port, sizeof(port), "%u", s->ports[i].port);
		sample_u(b, "kstaple_clienthellos_total",
			 (struct lbl[]){ { "port", port }, { "status_request", "yes" } }, 2,
			 s->ports[i].c.status_request);
		sample_u(b, "kstaple_clienthellos_total",
			 (struct lbl[]){ { "port", port }, { "status_request", "no" } }, 2,
			 s->ports[i].c.no_status_request);
	}
	family(b, "kstaple_clienthellos_status_request_v2_total", "counter",
	       "ClientHellos that also carried status_request_v2 (RFC 6961)");
	for (size_t i = 0; i < s->n_ports; i++) {
		snprintf(port, sizeof(port), "%u", s->ports[i].port);
		sample_u(b, "kstaple_clienthellos_status_request_v2_total",
			 (struct lbl[]){ { "port", port } }, 1, s->ports[i].c.status_request_v2);
	}
	family(b, "kstaple_clienthellos_after_hrr_total", "counter",
	       "second ClientHellos after a HelloRetryRequest (also in clienthellos_total)");
	for (size_t i = 0; i < s->n_ports; i++) {
		snprintf(port, sizeof(port), "%u", s->ports[i].port);
		sample_u(b, "kstaple_clienthellos_after_hrr_total",
			 (struct lbl[]){ { "port", port } }, 1, s->ports[i].c.hrr_hellos);
	}
	family(b, "kstaple_clienthellos_unclassified_total", "counter",
	       "connections to a watched port whose first bytes were not a countable ClientHello");
	for (size_t i = 0; i < s->n_ports; i++) {
		const struct ks_hello_counters *c = &s->ports[i].c;
		const uint64_t v[] = { c->unclassified_malformed, c->unclassified_short,
				       c->unclassified_non_tls, c->unclassified_too_long };

		snprintf(port, sizeof(port), "%u", s->ports[i].port);
		for (size_t j = 0; j < KS_ARRAY_SIZE(v); j++)
			sample_u(b, "kstaple_clienthellos_unclassified_total",
				 (struct lbl[]){ { "port", port }, { "reason", uc_names[j] } }, 2,
				 v[j]);
	}
}

static void prom_handshakes(struct ks_buf *b, const struct ks_metrics_snapshot *s)
{
	family(b, "kstaple_handshakes_total", "counter",
	       "TLS handshakes per listener and certificate: whether the client asked for a "
	       "staple, whether one was sent, and why not");
	for (size_t i = 0; i < s->n_lcs; i++) {
		for (unsigned o = 0; o < KS_METRICS_OUTCOMES; o++) {
			struct lbl l[] = {
				{ "listener", s->lcs[i].listener },
				{ "cert", s->lcs[i].cert },
				{ "status_requested", o == KS_TLS_NOT_ASKED ? "no" : "yes" },
				{ "stapled", o == KS_TLS_STAPLED ? "yes" : "no" },
				{ "reason", ks_tls_outcome_name(o) },
			};

			sample_u(b, "kstaple_handshakes_total", l, KS_ARRAY_SIZE(l),
				 s->lcs[i].outcome[o]);
		}
	}
}

static void fetch_failure(struct ks_buf *b, const char *cert, const char *reason, uint64_t v)
{
	if (v)
		sample_u(b, "kstaple_ocsp_fetches_total",
			 (struct lbl[]){
				 { "cert", cert }, { "result", "failure" }, { "reason", reason } },
			 3, v);
}

static void prom_fetches(struct ks_buf *b, const struct ks_metrics_snapshot *s)
{
	family(b, "kstaple_ocsp_fetches_total", "counter",
	       "OCSP fetches per certificate: successes, failures by reason (verdict of a "
	       "rejected response, HTTP error class, stale, local-error)");
	for (size_t i = 0; i < s->n_certs; i++) {
		const struct ks_metrics_cert *c = &s->certs[i];

		sample_u(b, "kstaple_ocsp_fetches_total",
			 (struct lbl[]){
				 { "cert", c->name }, { "result", "success" }, { "reason", "ok" } },
			 3, c->successes);
		for (unsigned v = 0; v < KS_V__COUNT; v++)
			fetch_failure(b, c->name, ks_verdict_name(v), c->rejected[v]);
		for (unsigned e = 1; e < KS_HTTP_ERR__COUNT; e++)
			fetch_failure(b, c->name, ks_http_err_name(e), c->http_failures[e]);
		fetch_failure(b, c->name, "stale", c->stale);
		fetch_failure(b, c->name, "local-error", c->local_failures);
	}
	family(b, "kstaple_ocsp_consecutive_failures", "gauge",
	       "failed fetches since the last success, per certificate");
	for (size_t i = 0; i < s->n_certs; i++)
		sample_u(b, "kstaple_ocsp_consecutive_failures",
			 (struct lbl[]){ { "cert", s->certs[i].name } }, 1,
			 s->certs[i].consecutive_failures);
	family(b, "kstaple_ocsp_persist_failures_total", "counter",
	       "responses published but not written to state_dir");
	for (size_t i = 0; i < s->n_certs; i++)
		sample_u(b, "kstaple_ocsp_persist_failures_total",
			 (struct lbl[]){ { "cert", s->certs[i].name } }, 1,
			 s->certs[i].persist_failures);
}

static void prom_staples(struct ks_buf *b, const struct ks_metrics_snapshot *s)
{
	family(b, "kstaple_staple_valid", "gauge",
	       "1 if the certificate has a published OCSP response whose nextUpdate is ahead");
	for (size_t i = 0; i < s->n_certs; i++) {
		const struct ks_metrics_cert *c = &s->certs[i];

		sample_u(b, "kstaple_staple_valid", (struct lbl[]){ { "cert", c->name } }, 1,
			 c->has_staple && s->now <= c->next_update);
	}
	family(b, "kstaple_staple_revoked", "gauge",
	       "1 if the published OCSP response says the certificate is revoked");
	for (size_t i = 0; i < s->n_certs; i++)
		if (s->certs[i].has_staple)
			sample_u(b, "kstaple_staple_revoked",
				 (struct lbl[]){ { "cert", s->certs[i].name } }, 1,
				 s->certs[i].verdict == KS_V_REVOKED);
	family(b, "kstaple_staple_age_seconds", "gauge",
	       "seconds since the published response's thisUpdate");
	for (size_t i = 0; i < s->n_certs; i++)
		if (s->certs[i].has_staple)
			sample_i(b, "kstaple_staple_age_seconds",
				 (struct lbl[]){ { "cert", s->certs[i].name } }, 1,
				 s->now - s->certs[i].this_update);
	family(b, "kstaple_staple_seconds_until_expiry", "gauge",
	       "seconds until the published response's nextUpdate (negative: expired)");
	for (size_t i = 0; i < s->n_certs; i++)
		if (s->certs[i].has_staple)
			sample_i(b, "kstaple_staple_seconds_until_expiry",
				 (struct lbl[]){ { "cert", s->certs[i].name } }, 1,
				 s->certs[i].next_update - s->now);
}

static void per_listener(struct ks_buf *b, const struct ks_metrics_snapshot *s, const char *name,
			 size_t off)
{
	for (size_t i = 0; i < s->n_listeners; i++) {
		uint64_t v;

		memcpy(&v, (const char *)&s->listeners[i] + off, sizeof(v));
		sample_u(b, name, (struct lbl[]){ { "listener", s->listeners[i].name } }, 1, v);
	}
}

#define LOFF(f) offsetof(struct ks_metrics_listener, f)

static void prom_listeners(struct ks_buf *b, const struct ks_metrics_snapshot *s)
{
	static const struct {
		const char *reason;
		size_t off;
	} ended[] = {
		{ "completed", LOFF(completed) },
		{ "handshake-timeout", LOFF(handshake_timeouts) },
		{ "handshake-failure", LOFF(handshake_failures) },
		{ "backend-failure", LOFF(backend_failures) },
		{ "idle-timeout", LOFF(idle_timeouts) },
		{ "error", LOFF(errors) },
	};

	family(b, "kstaple_connections", "gauge", "TLS connections open now");
	per_listener(b, s, "kstaple_connections", LOFF(connections));
	family(b, "kstaple_connections_accepted_total", "counter", "TCP connections accepted");
	per_listener(b, s, "kstaple_connections_accepted_total", LOFF(accepted));
	family(b, "kstaple_connections_ended_total", "counter", "connections closed, by why");
	for (size_t i = 0; i < s->n_listeners; i++) {
		for (size_t j = 0; j < KS_ARRAY_SIZE(ended); j++) {
			uint64_t v;

			memcpy(&v, (const char *)&s->listeners[i] + ended[j].off, sizeof(v));
			sample_u(b, "kstaple_connections_ended_total",
				 (struct lbl[]){ { "listener", s->listeners[i].name },
						 { "reason", ended[j].reason } },
				 2, v);
		}
	}
	family(b, "kstaple_tls_handshakes_completed_total", "counter",
	       "TLS handshakes completed, full or resumed (session ticket)");
	for (size_t i = 0; i < s->n_listeners; i++) {
		const struct ks_metrics_listener *l = &s->listeners[i];

		sample_u(b, "kstaple_tls_handshakes_completed_total",
			 (struct lbl[]){ { "listener", l->name }, { "resumed", "no" } }, 2,
			 l->handshakes >= l->resumed ? l->handshakes - l->resumed : 0);
		sample_u(b, "kstaple_tls_handshakes_completed_total",
			 (struct lbl[]){ { "listener", l->name }, { "resumed", "yes" } }, 2,
			 l->resumed);
	}
	family(b, "kstaple_tls_sni_unknown_total", "counter",
	       "handshakes whose SNI matched no certificate (the default one was served)");
	per_listener(b, s, "kstaple_tls_sni_unknown_total", LOFF(sni_unknown));
	family(b, "kstaple_proxied_bytes_total", "counter", "bytes proxied, by direction");
	for (size_t i = 0; i < s->n_listeners; i++) {
		sample_u(b, "kstaple_proxied_bytes_total",
			 (struct lbl[]){ { "listener", s->listeners[i].name },
					 { "direction", "client_to_backend" } },
			 2, s->listeners[i].bytes_in);
		sample_u(b, "kstaple_proxied_bytes_total",
			 (struct lbl[]){ { "listener", s->listeners[i].name },
					 { "direction", "backend_to_client" } },
			 2, s->listeners[i].bytes_out);
	}
	family(b, "kstaple_sessions_total", "counter",
	       "TLS sessions by data path after the handshake (kTLS or userspace) and reason");
	for (size_t i = 0; i < s->n_listeners; i++)
		for (unsigned p = 0; p < KS_SESSION__PATHS; p++)
			for (unsigned r = 0; r < KS_SESSION_R__COUNT; r++)
				if (s->listeners[i].sessions[p][r])
					sample_u(b, "kstaple_sessions_total",
						 (struct lbl[]){
							 { "listener", s->listeners[i].name },
							 { "path", ks_session_path_name(p) },
							 { "reason", ks_session_reason_name(r) } },
						 3, s->listeners[i].sessions[p][r]);
}

static void prom_fds(struct ks_buf *b, const struct ks_metrics_fds *f)
{
	const struct {
		const char *name, *type, *help;
		uint64_t v;
	} m[] = {
		{ "kstaple_descriptor_limit", "gauge", "RLIMIT_NOFILE of the agent", f->limit },
		{ "kstaple_connection_budget", "gauge",
		  "client connections the descriptor limit allows (2 descriptors each, a spare kept)",
		  f->budget },
		{ "kstaple_accept_paused", "gauge",
		  "1 while accepting is paused at the connection budget (clients wait in the backlog)",
		  f->paused },
		{ "kstaple_accept_pauses_total", "counter",
		  "times accepting paused at the connection budget", f->pauses },
		{ "kstaple_accept_overflow_closed_total", "counter",
		  "connections accepted past the budget and its reserve, closed before the handshake",
		  f->overflow_closed },
	};

	if (!f->limit)
		return;
	for (size_t i = 0; i < KS_ARRAY_SIZE(m); i++) {
		family(b, m[i].name, m[i].type, m[i].help);
		sample_u(b, m[i].name, NULL, 0, m[i].v);
	}
}

int ks_metrics_prometheus(const struct ks_metrics_snapshot *s, struct ks_buf *out)
{
	family(out, "kstaple_build_info", "gauge", "always 1; the version is a label");
	sample_u(out, "kstaple_build_info",
		 (struct lbl[]){ { "version", s->version ? s->version : "" } }, 1, 1);
	family(out, "kstaple_start_time_seconds", "gauge", "when the agent started, Unix time");
	sample_i(out, "kstaple_start_time_seconds", NULL, 0, s->start_time);
	prom_hellos(out, s);
	prom_handshakes(out, s);
	prom_fetches(out, s);
	prom_staples(out, s);
	prom_listeners(out, s);
	prom_fds(out, &s->fds);
	return out->failed ? -ENOMEM : 0;
}

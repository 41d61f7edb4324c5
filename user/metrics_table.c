// SPDX-License-Identifier: MIT
/*
 * `kstaple stats`' side of the control socket: read the agent's JSON snapshot, and print a
 * snapshot as tables an SRE can read at a glance (see include/kstaple/metrics.h).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "kstaple/metrics.h"
#include "kstaple/tls_server.h"

#define CONTROL_MAX (64u << 20) /* a snapshot of 100,000 certificates fits */

int ks_metrics_read_control(const char *path, int64_t timeout_ms, char **out, size_t *len)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	struct ks_buf b = { 0 };
	int fd, ret = 0;

	*out = NULL;
	*len = 0;
	ENSURE(strlen(path) < sizeof(un.sun_path), -ENAMETOOLONG);
	memcpy(un.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ENSURE(fd >= 0, -errno);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
		ret = -errno;
		goto out;
	}
	for (;;) {
		char chunk[65536];
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
			goto out;
		}
		if (n == 0)
			break;
		ENSURE_OUT(b.len + (size_t)n <= CONTROL_MAX, -EFBIG);
		ks_buf_printf(&b, "%.*s", (int)n, chunk);
		ENSURE_OUT(!b.failed, -ENOMEM);
		/* %.*s stops at a NUL byte: JSON never holds one, so that is a broken peer. */
		ENSURE_OUT(b.len && memchr(chunk, '\0', (size_t)n) == NULL, -EBADMSG);
	}
	ENSURE_OUT(b.len, -EBADMSG);
	*out = b.p;
	*len = b.len;
	b.p = NULL;
out:
	ks_buf_free(&b);
	close(fd);
	return ret;
}

/* ---- tables ------------------------------------------------------------------------------ */

/* A name as a table cell: control characters (a hostile snapshot) as '?'. */
static const char *cell(const char *s, char *buf, size_t len)
{
	size_t i = 0;

	for (; s && s[i] && i + 1 < len; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = '\0';
	return i ? buf : "-";
}

/* "45s", "59m59s", "2h03m", "3d04h"; negative: "-5m00s". */
static const char *dur(int64_t s, char *buf, size_t len)
{
	const char *sign = s < 0 ? "-" : "";
	uint64_t a = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;

	if (a < 60)
		snprintf(buf, len, "%s%llus", sign, (unsigned long long)a);
	else if (a < 3600)
		snprintf(buf, len, "%s%llum%02llus", sign, (unsigned long long)(a / 60),
			 (unsigned long long)(a % 60));
	else if (a < 86400)
		snprintf(buf, len, "%s%lluh%02llum", sign, (unsigned long long)(a / 3600),
			 (unsigned long long)(a % 3600 / 60));
	else
		snprintf(buf, len, "%s%llud%02lluh", sign, (unsigned long long)(a / 86400),
			 (unsigned long long)(a % 86400 / 3600));
	return buf;
}

static void pct(FILE *f, uint64_t part, uint64_t whole)
{
	if (whole)
		fprintf(f, " %6.1f%%\n", 100.0 * (double)part / (double)whole);
	else
		fprintf(f, " %7s\n", "-");
}

static void stapling_table(FILE *f, const struct ks_metrics_snapshot *s)
{
	char a[64], b[64];

	fprintf(f, "\nStapling: handshakes per listener and certificate\n");
	fprintf(f, "%-14s %-18s %8s %8s %8s %8s %8s %9s %8s\n", "LISTENER", "CERT", "ASKED",
		"STAPLED", "NO_RESP", "EXPIRED", "REFUSED", "NOT_ASKED", "DEMAND");
	for (size_t i = 0; i < s->n_lcs; i++) {
		const uint64_t *o = s->lcs[i].outcome;
		uint64_t asked = o[KS_TLS_STAPLED] + o[KS_TLS_NONE_CACHED] + o[KS_TLS_EXPIRED] +
				 o[KS_TLS_MUST_STAPLE_FAIL];

		fprintf(f, "%-14s %-18s %8llu %8llu %8llu %8llu %8llu %9llu",
			cell(s->lcs[i].listener, a, sizeof(a)), cell(s->lcs[i].cert, b, sizeof(b)),
			(unsigned long long)asked, (unsigned long long)o[KS_TLS_STAPLED],
			(unsigned long long)o[KS_TLS_NONE_CACHED],
			(unsigned long long)o[KS_TLS_EXPIRED],
			(unsigned long long)o[KS_TLS_MUST_STAPLE_FAIL],
			(unsigned long long)o[KS_TLS_NOT_ASKED]);
		pct(f, asked, asked + o[KS_TLS_NOT_ASKED]);
	}
	if (!s->n_lcs)
		fprintf(f, "(no listener)\n");
}

/* "connect 3, bad-signature 1": the non-zero failure reasons. */
static const char *reasons(const struct ks_metrics_cert *c, char *buf, size_t len)
{
	size_t n = 0;

#define ADD(name, v)                                                                        \
	do {                                                                                \
		if ((v) && n < len)                                                         \
			n += (size_t)snprintf(buf + n, len - n, "%s%s %llu", n ? ", " : "", \
					      (name), (unsigned long long)(v));             \
	} while (0)
	buf[0] = '\0';
	for (unsigned v = 0; v < KS_V__COUNT; v++)
		ADD(ks_verdict_name(v), c->rejected[v]);
	for (unsigned e = 1; e < KS_HTTP_ERR__COUNT; e++)
		ADD(ks_http_err_name(e), c->http_failures[e]);
	ADD("stale", c->stale);
	ADD("local-error", c->local_failures);
#undef ADD
	return buf[0] ? buf : "-";
}

static void ocsp_table(FILE *f, const struct ks_metrics_snapshot *s)
{
	char name[64], left[32], age[32], next[32], why[160], err[160];

	fprintf(f, "\nOCSP: the published response and the fetches per certificate\n");
	fprintf(f, "%-18s %-8s %10s %9s %8s %8s %10s  %s\n", "CERT", "STAPLE", "EXPIRES_IN", "AGE",
		"FETCHED", "FAILED", "NEXT_FETCH", "FAILURES BY REASON / LAST ERROR");
	for (size_t i = 0; i < s->n_certs; i++) {
		const struct ks_metrics_cert *c = &s->certs[i];
		const char *st = !c->has_responder	      ? "no-url"
				 : !c->has_staple	      ? "none"
				 : s->now > c->next_update    ? "expired"
				 : c->verdict == KS_V_REVOKED ? "REVOKED"
							      : "good";

		fprintf(f, "%-18s %-8s %10s %9s %8llu %8llu %10s  %s",
			cell(c->name, name, sizeof(name)), st,
			c->has_staple ? dur(c->next_update - s->now, left, sizeof(left)) : "-",
			c->has_staple ? dur(s->now - c->this_update, age, sizeof(age)) : "-",
			(unsigned long long)c->successes, (unsigned long long)c->failures,
			c->next_attempt ? dur(c->next_attempt - s->now, next, sizeof(next)) : "-",
			reasons(c, why, sizeof(why)));
		if (c->last_error && *c->last_error)
			fprintf(f, " / %s", cell(c->last_error, err, sizeof(err)));
		fprintf(f, "\n");
	}
	if (!s->n_certs)
		fprintf(f, "(no certificate)\n");
}

static void conn_table(FILE *f, const struct ks_metrics_snapshot *s)
{
	char name[64];

	fprintf(f, "\nConnections per listener\n");
	fprintf(f, "%-14s %6s %9s %9s %8s %8s %8s %8s %7s %9s %7s\n", "LISTENER", "OPEN",
		"ACCEPTED", "COMPLETED", "HS_TIME", "HS_FAIL", "BACKEND", "IDLE", "ERRORS",
		"USERSPACE", "KTLS");
	for (size_t i = 0; i < s->n_listeners; i++) {
		const struct ks_metrics_listener *l = &s->listeners[i];
		uint64_t user = 0, ktls = 0;

		for (unsigned r = 0; r < KS_SESSION_R__COUNT; r++) {
			user += l->sessions[KS_SESSION_USERSPACE][r];
			ktls += l->sessions[KS_SESSION_KTLS][r] +
				l->sessions[KS_SESSION_KTLS_TX][r] +
				l->sessions[KS_SESSION_KTLS_RX][r];
		}
		fprintf(f, "%-14s %6llu %9llu %9llu %8llu %8llu %8llu %8llu %7llu %9llu %7llu\n",
			cell(l->name, name, sizeof(name)), (unsigned long long)l->connections,
			(unsigned long long)l->accepted, (unsigned long long)l->completed,
			(unsigned long long)l->handshake_timeouts,
			(unsigned long long)l->handshake_failures,
			(unsigned long long)l->backend_failures,
			(unsigned long long)l->idle_timeouts, (unsigned long long)l->errors,
			(unsigned long long)user, (unsigned long long)ktls);
	}
}

void ks_metrics_table(FILE *f, const struct ks_metrics_snapshot *s)
{
	char up[32], v[32];

	fprintf(f, "Agent: kstaple %s, up %s\n", cell(s->version, v, sizeof(v)),
		dur(s->now - s->start_time, up, sizeof(up)));
	stapling_table(f, s);
	ocsp_table(f, s);
	conn_table(f, s);
	if (s->fds.limit)
		fprintf(f,
			"Descriptors: limit %llu, budget %llu connections; accepting %s (%llu pauses, "
			"%llu closed past the budget)\n",
			(unsigned long long)s->fds.limit, (unsigned long long)s->fds.budget,
			s->fds.paused ? "PAUSED" : "open", (unsigned long long)s->fds.pauses,
			(unsigned long long)s->fds.overflow_closed);
	fprintf(f,
		"ASKED = STAPLED + NO_RESP (none fetched yet) + EXPIRED + REFUSED (must-staple); "
		"DEMAND = ASKED / all handshakes\n");
}

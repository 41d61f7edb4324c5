// SPDX-License-Identifier: MIT
/*
 * The /metrics endpoint and the control socket (see include/kstaple/metrics.h): a request
 * parser for the one request we serve, and a small server on the agent's main io_uring loop.
 *
 * One exchange per connection: read the request head (HTTP) or nothing (control socket),
 * render, send, close. Everything a client can make us hold is bounded: the request head
 * (KS_METRICS_REQ_MAX), the number of clients (max_clients) and the time (timeout_ms from
 * accept to the last byte sent).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kstaple/cursor.h"
#include "kstaple/log.h"
#include "kstaple/metrics.h"

#define RETRY_MS 100 /* accept failed for lack of descriptors: try again after this long */

/* ---- request parsing --------------------------------------------------------------------- */

/* RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" /
 * "_" / "`" / "|" / "~" / DIGIT / ALPHA */
static bool tchar(uint8_t c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* One line, without its terminator (CRLF, or a bare LF: RFC 9112 §2.2 lets us accept it). */
static int next_line(struct ks_cursor *c, struct ks_cursor *line)
{
	const uint8_t *nl = memchr(c->p, '\n', ks_cur_left(c));
	size_t n;

	ENSURE(nl, -EBADMSG);
	n = (size_t)(nl - c->p);
	TRY(ks_cur_sub(c, n, line));
	TRY(ks_cur_skip(c, 1));
	if (n && line->end[-1] == '\r')
		line->end--;
	return 0;
}

/* A run of bytes up to (not including) a space, or to the end of the line. */
static struct ks_cursor word(struct ks_cursor *line)
{
	const uint8_t *sp = memchr(line->p, ' ', ks_cur_left(line));
	struct ks_cursor w = { line->p, sp ? sp : line->end };

	line->p = sp ? sp + 1 : line->end;
	return w;
}

static bool word_is(const struct ks_cursor *w, const char *s)
{
	return ks_cur_left(w) == strlen(s) && !memcmp(w->p, s, strlen(s));
}

/* request-line = method SP request-target SP HTTP-version (RFC 9112 §3) */
static int request_line(struct ks_cursor *line, struct ks_metrics_req *req, bool *http11)
{
	struct ks_cursor m = word(line), t, v;
	const uint8_t *q;
	size_t n;

	ENSURE(!ks_cur_empty(&m), -EBADMSG);
	for (const uint8_t *p = m.p; p < m.end; p++)
		ENSURE(tchar(*p), -EBADMSG);
	t = word(line);
	v = word(line);
	/* Exactly three words: a fourth, or an empty one (two spaces), is not a request-line. */
	ENSURE(ks_cur_empty(line) && !ks_cur_empty(&t) && !ks_cur_empty(&v), -EBADMSG);
	/* HTTP-version = HTTP-name "/" DIGIT "." DIGIT */
	ENSURE(ks_cur_left(&v) == 8 && !memcmp(v.p, "HTTP/", 5) && v.p[5] >= '0' && v.p[5] <= '9' &&
		       v.p[6] == '.' && v.p[7] >= '0' && v.p[7] <= '9',
	       -EBADMSG);
	ENSURE(word_is(&v, "HTTP/1.1") || word_is(&v, "HTTP/1.0"), -EPROTONOSUPPORT);
	*http11 = word_is(&v, "HTTP/1.1");
	if (word_is(&m, "HEAD"))
		req->head = true;
	else
		ENSURE(word_is(&m, "GET"), -EOPNOTSUPP);
	/* request-target: visible ASCII only (RFC 9112 §3.2; RFC 3986 has no raw bytes >= 0x7f) */
	for (const uint8_t *p = t.p; p < t.end; p++)
		ENSURE(*p > 0x20 && *p < 0x7f, -EBADMSG);
	/* absolute-form (§3.2.2) must be accepted: keep the path after the authority. */
	if (ks_cur_left(&t) > 7 && !memcmp(t.p, "http://", 7)) {
		const uint8_t *slash = memchr(t.p + 7, '/', (size_t)(t.end - t.p - 7));

		t.p = slash ? slash : t.end;
		if (!slash)
			t = (struct ks_cursor){ (const uint8_t *)"/", (const uint8_t *)"/" + 1 };
	}
	ENSURE(*t.p == '/', -EBADMSG); /* origin-form = absolute-path [ "?" query ] */
	q = memchr(t.p, '?', ks_cur_left(&t));
	n = (size_t)((q ? q : t.end) - t.p);
	ENSURE(n < sizeof(req->path), -ENAMETOOLONG);
	memcpy(req->path, t.p, n);
	req->path[n] = '\0';
	return 0;
}

/* field-line = field-name ":" OWS field-value OWS (RFC 9112 §5) */
static int field_line(struct ks_cursor *line, unsigned *hosts)
{
	const uint8_t *colon = memchr(line->p, ':', ks_cur_left(line));

	/* No whitespace between name and colon (§5.1), no obs-fold (§5.2): both are 400s. */
	ENSURE(colon && colon > line->p, -EBADMSG);
	for (const uint8_t *p = line->p; p < colon; p++)
		ENSURE(tchar(*p), -EBADMSG);
	/* field-value: VCHAR, SP, HTAB, obs-text; never NUL, CR or other controls (RFC 9110 §5.5) */
	for (const uint8_t *p = colon + 1; p < line->end; p++)
		ENSURE((*p >= 0x20 && *p != 0x7f) || *p == '\t', -EBADMSG);
	if (colon - line->p == 4 && !strncasecmp((const char *)line->p, "host", 4))
		(*hosts)++;
	return 0;
}

/* The end of the head: the first empty line. Its length, 0 if not there yet. */
static size_t head_end(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

int ks_metrics_parse_request(const uint8_t *buf, size_t len, struct ks_metrics_req *req)
{
	struct ks_cursor c, line;
	unsigned hosts = 0;
	bool http11;
	size_t n;

	memset(req, 0, sizeof(*req));
	c = ks_cur_init(buf, KS_MIN(len, (size_t)KS_METRICS_REQ_MAX));
	/* RFC 9112 §2.2: ignore at least one empty line before the request-line. */
	for (int i = 0; i < 2 && !ks_cur_empty(&c) && (*c.p == '\r' || *c.p == '\n'); i++) {
		if (*c.p == '\r' && ks_cur_left(&c) > 1 && c.p[1] == '\n')
			c.p++;
		c.p++;
	}
	n = head_end(c.p, ks_cur_left(&c));
	if (!n)
		return len >= KS_METRICS_REQ_MAX ? -E2BIG : 0;
	req->head_len = (size_t)(c.p - buf) + n;
	c.end = c.p + n;
	TRY(next_line(&c, &line));
	TRY(request_line(&line, req, &http11));
	for (;;) {
		TRY(next_line(&c, &line));
		if (ks_cur_empty(&line))
			break;
		ENSURE(*line.p != ' ' && *line.p != '\t', -EBADMSG); /* obs-fold */
		TRY(field_line(&line, &hosts));
	}
	/* RFC 9112 §3.2: a 1.1 request without exactly one Host is a 400. */
	ENSURE(!http11 || hosts == 1, -EBADMSG);
	ENSURE(hosts <= 1, -EBADMSG);
	return 1;
}

/* ---- responses --------------------------------------------------------------------------- */

bool ks_metrics_wants_body(int parse_result, const struct ks_metrics_req *req)
{
	return parse_result == 1 && !strcmp(req->path, "/metrics");
}

static void respond(struct ks_buf *out, const char *status, const char *extra, const char *ctype,
		    const char *body, size_t len, bool head)
{
	ks_buf_printf(out,
		      "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
		      "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
		      status, ctype, len, extra);
	if (!head && len)
		ks_buf_printf(out, "%.*s", (int)len, body);
}

int ks_metrics_http_response(int parse_result, const struct ks_metrics_req *req,
			     const struct ks_buf *body, int body_status, struct ks_buf *out)
{
	static const struct {
		int err;
		const char *status;
	} errors[] = {
		{ -E2BIG, "431 Request Header Fields Too Large" },
		{ -EOPNOTSUPP, "405 Method Not Allowed" },
		{ -EPROTONOSUPPORT, "505 HTTP Version Not Supported" },
		{ -ENAMETOOLONG, "414 URI Too Long" },
		{ -EBUSY, "503 Service Unavailable" },
	};
	const char *text = "text/plain; charset=utf-8";
	char msg[96];

	if (ks_metrics_wants_body(parse_result, req) && body_status >= 0 && body && !body->failed) {
		respond(out, "200 OK", "", KS_METRICS_CONTENT_TYPE, body->p, body->len, req->head);
	} else if (ks_metrics_wants_body(parse_result, req)) {
		respond(out, "500 Internal Server Error", "", text, "cannot collect metrics\n", 23,
			req->head);
	} else if (parse_result == 1) {
		respond(out, "404 Not Found", "", text, "not found: the metrics are at /metrics\n",
			39, req->head);
	} else {
		const char *status = "400 Bad Request";

		for (size_t i = 0; i < KS_ARRAY_SIZE(errors); i++)
			if (errors[i].err == parse_result)
				status = errors[i].status;
		snprintf(msg, sizeof(msg), "%s\n", status + 4);
		respond(out, status, parse_result == -EOPNOTSUPP ? "Allow: GET, HEAD\r\n" : "",
			text, msg, strlen(msg), false);
	}
	return out->failed ? -ENOMEM : 0;
}

/* ---- the server -------------------------------------------------------------------------- */

struct client {
	struct ks_metrics_srv *srv;
	struct client *prev, *next;
	int fd;
	struct ks_loop_op io, timer;
	unsigned pending; /* ops not yet released while closing */
	bool closing;
	size_t in_len, sent;
	struct ks_buf out;
	uint8_t in[KS_METRICS_REQ_MAX];
};

struct ks_metrics_srv {
	struct ks_metrics_srv_params p;
	char *name;
	int fd;
	struct ks_loop_op accept_op, retry_op;
	struct client *clients;
	unsigned n_clients;
	unsigned refs; /* the two ops above + one per client */
	bool freeing, fd_limit_logged;
};

static void srv_put(struct ks_metrics_srv *srv)
{
	if (--srv->refs)
		return;
	free(srv->name);
	free(srv);
}

static void client_put(struct client *c)
{
	struct ks_metrics_srv *srv = c->srv;

	if (--c->pending)
		return;
	close(c->fd);
	ks_buf_free(&c->out);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_clients--;
	free(c);
	srv_put(srv);
}

static void io_released(struct ks_loop_op *op)
{
	client_put(container_of(op, struct client, io));
}

static void timer_released(struct ks_loop_op *op)
{
	client_put(container_of(op, struct client, timer));
}

/* The client is freed here or when its last request completes: do not touch it afterwards. */
static void client_close(struct client *c)
{
	if (c->closing)
		return;
	c->closing = true;
	c->pending = 2;
	ks_loop_release(c->srv->p.loop, &c->io, io_released);
	ks_loop_release(c->srv->p.loop, &c->timer, timer_released);
}

static int arm_io(struct client *c, bool send)
{
	struct io_uring_sqe *sqe = ks_loop_sqe(c->srv->p.loop);

	ENSURE(sqe, -errno);
	if (send)
		io_uring_prep_send(sqe, c->fd, c->out.p + c->sent, c->out.len - c->sent,
				   MSG_NOSIGNAL);
	else
		io_uring_prep_recv(sqe, c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
	ks_loop_arm(c->srv->p.loop, &c->io, sqe, false);
	return 0;
}

/* Render what the client gets into c->out and start sending it. */
static int reply(struct client *c, int parsed, const struct ks_metrics_req *req)
{
	struct ks_buf body = { 0 };
	int r = 0;

	if (!c->srv->p.http) {
		r = c->srv->p.render(c->srv->p.arg, KS_METRICS_JSON, &c->out);
		ks_buf_printf(&c->out, "\n");
		ENSURE(r >= 0 && !c->out.failed, r < 0 ? r : -ENOMEM);
		return arm_io(c, true);
	}
	if (ks_metrics_wants_body(parsed, req))
		r = c->srv->p.render(c->srv->p.arg, KS_METRICS_PROMETHEUS, &body);
	if (r < 0)
		ks_warn("%s: cannot collect metrics: %s", c->srv->name, strerror(-r));
	r = ks_metrics_http_response(parsed, req, &body, r, &c->out);
	ks_buf_free(&body);
	TRY(r);
	return arm_io(c, true);
}

static void io_done(struct ks_loop_op *op, int res, uint32_t flags)
{
	struct client *c = container_of(op, struct client, io);
	struct ks_metrics_req req;
	int r;

	(void)flags;
	if (res <= 0) { /* reset, EOF before a whole request, or cancelled */
		client_close(c);
		return;
	}
	if (c->out.len) { /* sending */
		c->sent += (size_t)res;
		if (c->sent >= c->out.len || arm_io(c, true) < 0)
			client_close(c);
		return;
	}
	c->in_len += (size_t)res;
	r = ks_metrics_parse_request(c->in, c->in_len, &req);
	if (r == 0)
		r = arm_io(c, false) < 0 ? -EIO : 0;
	else
		r = reply(c, r, &req);
	if (r < 0)
		client_close(c);
}

static void timer_fired(struct ks_loop_op *op, int res, uint32_t flags)
{
	struct client *c = container_of(op, struct client, timer);

	(void)flags;
	if (res == -ETIME)
		client_close(c);
}

static void new_client(struct ks_metrics_srv *srv, int fd)
{
	static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
				   "Connection: close\r\n\r\n";
	struct client *c;
	int r;

	if (srv->n_clients >= srv->p.max_clients || !(c = calloc(1, sizeof(*c)))) {
		/* Best effort, never waits: the socket buffer of a fresh connection is empty. */
		if (srv->p.http)
			(void)send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		close(fd);
		return;
	}
	c->srv = srv;
	c->fd = fd;
	ks_loop_op_init(&c->io, io_done);
	ks_loop_op_init(&c->timer, timer_fired);
	c->next = srv->clients;
	if (c->next)
		c->next->prev = c;
	srv->clients = c;
	srv->n_clients++;
	srv->refs++;
	r = ks_loop_timeout(srv->p.loop, &c->timer, srv->p.timeout_ms);
	if (r == 0)
		r = srv->p.http ? arm_io(c, false) : reply(c, 0, NULL);
	if (r < 0)
		client_close(c);
}

static int arm_accept(struct ks_metrics_srv *srv)
{
	struct io_uring_sqe *sqe = ks_loop_sqe(srv->p.loop);

	ENSURE(sqe, -errno);
	io_uring_prep_multishot_accept(sqe, srv->fd, NULL, NULL, SOCK_CLOEXEC);
	ks_loop_arm(srv->p.loop, &srv->accept_op, sqe, true);
	return 0;
}

static void accepted(struct ks_loop_op *op, int res, uint32_t flags)
{
	struct ks_metrics_srv *srv = container_of(op, struct ks_metrics_srv, accept_op);

	if (res >= 0) {
		srv->fd_limit_logged = false;
		new_client(srv, res);
	} else if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
		if (!srv->fd_limit_logged)
			ks_warn("%s: cannot accept: %s; retrying every %d ms", srv->name,
				strerror(-res), RETRY_MS);
		srv->fd_limit_logged = true;
	} else if (res != -ECANCELED && res != -EAGAIN && res != -ECONNABORTED) {
		ks_warn("%s: accept failed: %s", srv->name, strerror(-res));
	}
	if (flags & IORING_CQE_F_MORE)
		return;
	/* Re-armed later rather than at once, so a lasting error cannot spin the loop. */
	if (ks_loop_timeout(srv->p.loop, &srv->retry_op, srv->fd_limit_logged ? RETRY_MS : 0) < 0)
		ks_err("%s: cannot accept any more", srv->name);
}

static void retry_fired(struct ks_loop_op *op, int res, uint32_t flags)
{
	struct ks_metrics_srv *srv = container_of(op, struct ks_metrics_srv, retry_op);

	(void)flags;
	if (res == -ETIME && !ks_loop_op_busy(&srv->accept_op) && arm_accept(srv) < 0 &&
	    ks_loop_timeout(srv->p.loop, op, RETRY_MS) < 0)
		ks_err("%s: cannot accept any more", srv->name);
}

static void accept_released(struct ks_loop_op *op)
{
	srv_put(container_of(op, struct ks_metrics_srv, accept_op));
}

static void retry_released(struct ks_loop_op *op)
{
	srv_put(container_of(op, struct ks_metrics_srv, retry_op));
}

struct ks_metrics_srv *ks_metrics_srv_new(const struct ks_metrics_srv_params *p)
{
	struct ks_metrics_srv *srv = calloc(1, sizeof(*srv));
	int r;

	if (!srv || !(srv->name = strdup(p->name ? p->name : "metrics"))) {
		free(srv);
		close(p->fd);
		errno = ENOMEM;
		return NULL;
	}
	srv->p = *p;
	srv->p.max_clients = p->max_clients ? p->max_clients : 8;
	srv->p.timeout_ms = p->timeout_ms ? p->timeout_ms : 5000;
	srv->fd = p->fd;
	srv->refs = 2;
	ks_loop_op_init(&srv->accept_op, accepted);
	ks_loop_op_init(&srv->retry_op, retry_fired);
	r = arm_accept(srv);
	if (r < 0) {
		close(srv->fd);
		free(srv->name);
		free(srv);
		errno = -r;
		return NULL;
	}
	return srv;
}

void ks_metrics_srv_free(struct ks_metrics_srv *srv)
{
	if (!srv || srv->freeing)
		return;
	srv->freeing = true;
	/* Refuse new clients at once (the kernel drops the queue), then let the ops wind down. */
	close(srv->fd);
	for (struct client *c = srv->clients, *next; c; c = next) {
		next = c->next; /* client_close may free c, never another client */
		client_close(c);
	}
	ks_loop_release(srv->p.loop, &srv->accept_op, accept_released);
	ks_loop_release(srv->p.loop, &srv->retry_op, retry_released);
}

unsigned ks_metrics_srv_clients(const struct ks_metrics_srv *srv)
{
	return srv->n_clients;
}

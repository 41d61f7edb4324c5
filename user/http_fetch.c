// SPDX-License-Identifier: MIT
/*
 * http_fetch: libcurl's multi-socket API on the io_uring loop (see include/kstaple/http_fetch.h).
 *
 * Sockets: curl reports the events it wants per socket; each socket gets a struct http_sock
 * (attached with curl_multi_assign) holding a one-shot poll op. One-shot polls re-armed after
 * every curl_multi_socket_action() give the level-triggered semantics curl expects. A change
 * of mask cancels the armed poll and the cancellation's completion re-arms with the new mask.
 * CURL_POLL_REMOVE releases the op: curl closes the fd right after and may reuse its number,
 * but the new socket gets a new http_sock and the old poll only ever reports to the old one.
 *
 * Timer: curl's single timeout is one io_uring timeout op, moved with IORING_TIMEOUT_UPDATE.
 * A timeout of 0 ms is armed like any other, so curl is called back from the loop, never
 * recursively from inside its own callback.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kstaple/clock.h"
#include "kstaple/http_fetch.h"
#include "kstaple/log.h"

#define OCSP_RESPONSE_CTYPE "application/ocsp-response"

struct http_timer {
	struct ks_loop_op op;
	struct ks_http *h; /* NULL once the ks_http is gone */
};

struct http_sock {
	struct ks_loop_op op;
	struct ks_http *h;
	curl_socket_t fd;
	int want;	     /* CURL_POLL_IN / OUT / INOUT */
	unsigned armed_mask; /* poll mask of the armed op */
	bool in_cb;	     /* inside the op's callback: it re-arms or frees on return */
	bool removed;	     /* curl is done with the socket */
	struct http_sock *prev, *next;
};

struct ks_http_req {
	struct ks_http *h;
	CURL *easy;
	struct curl_slist *headers;
	ks_http_done_fn done;
	void *arg;
	uint8_t *buf;
	size_t len, cap;
	bool too_large; /* the write callback stopped the transfer */
	bool rejected;	/* status or Content-Type wrong: body not downloaded */
	int64_t started;
	char errbuf[CURL_ERROR_SIZE];
	struct ks_http_req *prev, *next;
};

struct ks_http {
	struct ks_loop *loop;
	CURLM *multi;
	struct http_timer *timer;
	int64_t timer_deadline; /* CLOCK_MONOTONIC ms, -1: curl wants no timer */
	int64_t timer_armed;	/* deadline of the armed timeout op */
	struct ks_http_opts o;
	char *proxy;
	unsigned active;
	struct ks_http_req *reqs;
	struct http_sock *socks;
};

static const char *const err_names[KS_HTTP_ERR__COUNT] = {
	[KS_HTTP_OK] = "ok",
	[KS_HTTP_ERR_CONNECT] = "connect",
	[KS_HTTP_ERR_RESOLVE] = "resolve",
	[KS_HTTP_ERR_TIMEOUT] = "timeout",
	[KS_HTTP_ERR_STATUS] = "http-status",
	[KS_HTTP_ERR_CONTENT_TYPE] = "content-type",
	[KS_HTTP_ERR_TOO_LARGE] = "too-large",
	[KS_HTTP_ERR_EMPTY] = "empty",
	[KS_HTTP_ERR_PROTOCOL] = "protocol",
	[KS_HTTP_ERR_URL] = "url",
	[KS_HTTP_ERR_TLS] = "tls",
	[KS_HTTP_ERR_LOCAL] = "local",
};

const char *ks_http_err_name(enum ks_http_err e)
{
	return (unsigned)e < KS_HTTP_ERR__COUNT ? err_names[e] : "?";
}

bool ks_http_ocsp_ctype_ok(const char *ctype)
{
	size_t n = strlen(OCSP_RESPONSE_CTYPE);

	if (!ctype)
		return false;
	while (*ctype == ' ' || *ctype == '\t')
		ctype++;
	if (strncasecmp(ctype, OCSP_RESPONSE_CTYPE, n) != 0)
		return false;
	/* media-type = type "/" subtype *( OWS ";" OWS parameter ) (RFC 9110 §8.3.1) */
	for (ctype += n; *ctype == ' ' || *ctype == '\t'; ctype++)
		;
	return *ctype == '\0' || *ctype == ';';
}

/* ---- sockets ---------------------------------------------------------------------------- */

static void action(struct ks_http *h, curl_socket_t fd, int ev);

static void sock_free(struct ks_loop_op *op)
{
	free(container_of(op, struct http_sock, op));
}

static void sock_unlist(struct ks_http *h, struct http_sock *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else if (h && h->socks == s)
		h->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

static void sock_arm(struct http_sock *s)
{
	unsigned mask =
		((s->want & CURL_POLL_IN) ? POLLIN : 0) | ((s->want & CURL_POLL_OUT) ? POLLOUT : 0);

	switch (s->op.state) {
	case KS_LOOP_OP_IDLE:
		if (!mask)
			return;
		if (ks_loop_poll_add(s->h->loop, &s->op, s->fd, mask, false) < 0) {
			/* curl's own timeout ends the transfer if this persists. */
			ks_warn("http: cannot watch socket %d", s->fd);
			return;
		}
		s->armed_mask = mask;
		return;
	case KS_LOOP_OP_ARMED:
		/* The cancellation's completion calls sock_io(), which re-arms with want. */
		if (mask != s->armed_mask && ks_loop_cancel(s->h->loop, &s->op) < 0)
			ks_warn("http: cannot update the watch of socket %d", s->fd);
		return;
	default:
		return;
	}
}

static void sock_io(struct ks_loop_op *op, int res, uint32_t flags)
{
	struct http_sock *s = container_of(op, struct http_sock, op);
	int ev = 0;

	(void)flags;
	if (res != -ECANCELED) {
		if (res < 0) {
			ev = CURL_CSELECT_ERR;
		} else {
			if (res & (POLLIN | POLLHUP | POLLERR))
				ev |= CURL_CSELECT_IN;
			if (res & POLLOUT)
				ev |= CURL_CSELECT_OUT;
			if (res & POLLERR)
				ev |= CURL_CSELECT_ERR;
		}
		s->in_cb = true;
		action(s->h, s->fd, ev);
		s->in_cb = false;
	}
	if (s->removed) {
		free(s);
		return;
	}
	sock_arm(s);
}

static int curl_sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct ks_http *h = userp;
	struct http_sock *s = socketp;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (!s)
			return 0;
		curl_multi_assign(h->multi, fd, NULL);
		sock_unlist(h, s);
		s->removed = true;
		if (!s->in_cb)
			ks_loop_release(h->loop, &s->op, sock_free);
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		ks_loop_op_init(&s->op, sock_io);
		s->h = h;
		s->fd = fd;
		s->next = h->socks;
		if (h->socks)
			h->socks->prev = s;
		h->socks = s;
		if (curl_multi_assign(h->multi, fd, s) != CURLM_OK) {
			sock_unlist(h, s);
			free(s);
			return -1;
		}
	}
	s->want = what;
	if (!s->in_cb)
		sock_arm(s);
	return 0;
}

/* ---- timer ------------------------------------------------------------------------------ */

static void timer_sync(struct ks_http *h)
{
	struct ks_loop_op *op = &h->timer->op;
	int64_t now;

	if (h->timer_deadline < 0) {
		if (op->state == KS_LOOP_OP_ARMED && ks_loop_cancel(h->loop, op) < 0)
			ks_warn("http: cannot cancel curl's timer");
		return;
	}
	if (op->state == KS_LOOP_OP_ARMED && h->timer_armed == h->timer_deadline)
		return;
	if (op->state != KS_LOOP_OP_IDLE && op->state != KS_LOOP_OP_ARMED)
		return; /* being cancelled: its completion calls timer_sync() again */
	now = ks_monotonic_ms();
	if (ks_loop_timeout(h->loop, op, KS_MAX(h->timer_deadline - now, 0)) < 0) {
		ks_err("http: cannot arm curl's timer: transfers may stall");
		return;
	}
	h->timer_armed = h->timer_deadline;
}

static void timer_fired(struct ks_loop_op *op, int res, uint32_t flags)
{
	struct http_timer *t = container_of(op, struct http_timer, op);
	struct ks_http *h = t->h;

	(void)flags;
	if (res == -ETIME) {
		h->timer_deadline = -1;
		action(h, CURL_SOCKET_TIMEOUT, 0);
	}
	timer_sync(h);
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct ks_http *h = userp;

	(void)multi;
	h->timer_deadline = timeout_ms < 0 ? -1 : ks_monotonic_ms() + timeout_ms;
	timer_sync(h);
	return 0;
}

static void timer_free(struct ks_loop_op *op)
{
	free(container_of(op, struct http_timer, op));
}

/* ---- requests --------------------------------------------------------------------------- */

static void req_unlist(struct ks_http *h, struct ks_http_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		h->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

static void req_free(struct ks_http_req *r)
{
	struct ks_http *h = r->h;

	req_unlist(h, r);
	h->active--;
	if (r->easy) {
		curl_multi_remove_handle(h->multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	curl_slist_free_all(r->headers);
	free(r->buf);
	free(r);
}

enum ks_http_err ks_http_judge_head(long status, const char *content_type)
{
	if (status != 200)
		return KS_HTTP_ERR_STATUS;
	if (!ks_http_ocsp_ctype_ok(content_type))
		return KS_HTTP_ERR_CONTENT_TYPE;
	return KS_HTTP_OK;
}

#define WHY(...)                                             \
	do {                                                 \
		if (why && why_len)                          \
			snprintf(why, why_len, __VA_ARGS__); \
	} while (0)

/*
 * Bytes from the responder (a Content-Type value, bits of a bad status line in curl's message)
 * end up in log lines and JSON: anything but printable ASCII becomes '?', so a responder can
 * neither forge a log line nor send terminal escapes to whoever reads it.
 */
static void make_printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

static enum ks_http_err judge(const struct ks_http_response *r, int64_t max_body, char *why,
			      size_t why_len);

enum ks_http_err ks_http_judge(const struct ks_http_response *r, int64_t max_body, char *why,
			       size_t why_len)
{
	enum ks_http_err e = judge(r, max_body, why, why_len);

	if (why && why_len)
		make_printable(why);
	return e;
}

static enum ks_http_err judge(const struct ks_http_response *r, int64_t max_body, char *why,
			      size_t why_len)
{
	const char *ct = r->content_type;

	if (r->status != 200) {
		WHY("HTTP status %ld", r->status);
		return KS_HTTP_ERR_STATUS;
	}
	if (!ct || !*ct) {
		WHY("no Content-Type (want %s)", OCSP_RESPONSE_CTYPE);
		return KS_HTTP_ERR_CONTENT_TYPE;
	}
	if (!ks_http_ocsp_ctype_ok(ct)) {
		WHY("wrong content type '%s'", ct);
		return KS_HTTP_ERR_CONTENT_TYPE;
	}
	if (r->over_limit || (int64_t)r->body_len > max_body) {
		if (r->announced_len > 0)
			WHY("body over %lld bytes (%lld announced)", (long long)max_body,
			    (long long)r->announced_len);
		else
			WHY("body over %lld bytes", (long long)max_body);
		return KS_HTTP_ERR_TOO_LARGE;
	}
	if (!r->complete) {
		WHY("cannot store the body");
		return KS_HTTP_ERR_LOCAL;
	}
	if (r->body_len == 0) {
		WHY("empty body");
		return KS_HTTP_ERR_EMPTY;
	}
	WHY("ok");
	return KS_HTTP_OK;
}

/* Accept a body only once status and Content-Type are right: never buffer an error page. */
static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct ks_http_req *r = userp;
	size_t n = size * nmemb, cap;
	long status = 0;
	char *ct = NULL;
	uint8_t *p;

	if (r->len == 0) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &ct);
		if (ks_http_judge_head(status, ct) != KS_HTTP_OK) {
			r->rejected = true;
			return 0;
		}
	}
	if (n > (size_t)r->h->o.max_body - r->len) {
		r->too_large = true;
		return 0; /* CURLE_WRITE_ERROR */
	}
	if (r->len + n > r->cap) {
		cap = KS_MAX(r->cap * 2, KS_MAX(r->len + n, (size_t)4096));
		cap = KS_MIN(cap, (size_t)r->h->o.max_body);
		p = realloc(r->buf, cap);
		if (!p)
			return 0;
		r->buf = p;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, data, n);
	r->len += n;
	return n;
}

#define SET_ERR(res, e, ...)                                               \
	do {                                                               \
		(res)->err = (e);                                          \
		snprintf((res)->error, sizeof((res)->error), __VA_ARGS__); \
	} while (0)

/* A transfer that produced an HTTP response: the decision is ks_http_judge()'s. */
static void judge_response(struct ks_http_req *r, CURLcode code, struct ks_http_result *res)
{
	struct ks_http_response in = {
		.status = res->status,
		.content_type = res->content_type,
		.body_len = r->len,
		.over_limit = r->too_large || code == CURLE_FILESIZE_EXCEEDED,
		.announced_len = -1,
		.complete = code == CURLE_OK,
	};
	curl_off_t clen = -1;

	if (curl_easy_getinfo(r->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen) == CURLE_OK)
		in.announced_len = clen;
	res->err = ks_http_judge(&in, r->h->o.max_body, res->error, sizeof(res->error));
	if (res->err == KS_HTTP_ERR_LOCAL && code != CURLE_OK)
		snprintf(res->error, sizeof(res->error), "cannot store the body: %s",
			 curl_easy_strerror(code));
	res->ok = res->err == KS_HTTP_OK;
	if (res->ok) {
		res->body = r->buf;
		res->body_len = r->len;
	}
}

static void judge_transport(struct ks_http_req *r, CURLcode code, struct ks_http_result *res)
{
	const char *why = r->errbuf[0] ? r->errbuf : curl_easy_strerror(code);
	curl_off_t connect_us = 0;
	long os_errno = 0;

	switch (code) {
	case CURLE_COULDNT_CONNECT:
		curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &os_errno);
		if (os_errno == ECONNREFUSED)
			SET_ERR(res, KS_HTTP_ERR_CONNECT, "connection refused");
		else
			SET_ERR(res, KS_HTTP_ERR_CONNECT, "cannot connect: %.200s", why);
		break;
	case CURLE_OPERATION_TIMEDOUT:
		curl_easy_getinfo(r->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
		if (connect_us == 0)
			SET_ERR(res, KS_HTTP_ERR_TIMEOUT, "timeout: not connected after %lld ms",
				(long long)res->elapsed_ms);
		else
			SET_ERR(res, KS_HTTP_ERR_TIMEOUT,
				"timeout: no complete response after %lld ms",
				(long long)res->elapsed_ms);
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		SET_ERR(res, KS_HTTP_ERR_RESOLVE, "cannot resolve: %.200s", why);
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
		/* Also what curl says about an HTTP/0.9 (headerless) reply on a connection. */
		curl_easy_getinfo(r->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
		if (connect_us > 0) {
			SET_ERR(res, KS_HTTP_ERR_PROTOCOL, "bad HTTP response: %.200s", why);
			break;
		}
		/* fall through */
	case CURLE_URL_MALFORMAT:
		SET_ERR(res, KS_HTTP_ERR_URL, "bad responder URL: %.200s", why);
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		SET_ERR(res, KS_HTTP_ERR_TLS, "TLS: %.200s", why);
		break;
	case CURLE_OUT_OF_MEMORY:
		SET_ERR(res, KS_HTTP_ERR_LOCAL, "out of memory");
		break;
	default:
		SET_ERR(res, KS_HTTP_ERR_PROTOCOL, "bad HTTP response: %.200s", why);
		break;
	}
}

static void complete(struct ks_http_req *r, CURLcode code)
{
	struct ks_http_result res;
	char *ct = NULL;
	long nconn = 0;

	memset(&res, 0, sizeof(res));
	res.elapsed_ms = ks_monotonic_ms() - r->started;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res.status);
	curl_easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &ct);
	curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &nconn);
	if (ct)
		snprintf(res.content_type, sizeof(res.content_type), "%s", ct);
	res.reused = res.status != 0 && nconn == 0;
	if (res.status != 0 &&
	    (code == CURLE_OK || code == CURLE_WRITE_ERROR || code == CURLE_FILESIZE_EXCEEDED))
		judge_response(r, code, &res);
	else
		judge_transport(r, code, &res);
	make_printable(res.error);
	r->done(&res, r->arg);
	req_free(r);
}

/* Hand curl an event (or its timeout), then report every transfer that finished. */
static void action(struct ks_http *h, curl_socket_t fd, int ev)
{
	struct ks_http_req *r;
	CURLMcode mc;
	CURLMsg *msg;
	int running, left;

	mc = curl_multi_socket_action(h->multi, fd, ev, &running);
	if (mc != CURLM_OK)
		ks_warn("http: curl_multi_socket_action: %s", curl_multi_strerror(mc));
	while ((msg = curl_multi_info_read(h->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		r = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (r)
			complete(r, msg->data.result);
	}
}

#define EASY_SET(e, opt, val)                                        \
	do {                                                         \
		if (curl_easy_setopt((e), (opt), (val)) != CURLE_OK) \
			goto fail;                                   \
	} while (0)

static CURL *easy_new(struct ks_http_req *r, const char *url, const char *get_url,
		      const uint8_t *der, size_t len)
{
	const struct ks_http_opts *o = &r->h->o;
	CURL *e = curl_easy_init();

	if (!e)
		return NULL;
	r->easy = e;
	EASY_SET(e, CURLOPT_PRIVATE, (char *)r);
	EASY_SET(e, CURLOPT_ERRORBUFFER, r->errbuf);
	EASY_SET(e, CURLOPT_NOSIGNAL, 1L);
	/* Responders are plain http (RFC 5019 §5); https tolerated, nothing else, no redirects. */
	EASY_SET(e, CURLOPT_PROTOCOLS_STR, "http,https");
	EASY_SET(e, CURLOPT_FOLLOWLOCATION, 0L);
	EASY_SET(e, CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
	EASY_SET(e, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
	EASY_SET(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_body);
	EASY_SET(e, CURLOPT_WRITEFUNCTION, write_cb);
	EASY_SET(e, CURLOPT_WRITEDATA, r);
	EASY_SET(e, CURLOPT_USERAGENT, "kstaple/" KS_VERSION);
	if (r->h->proxy)
		EASY_SET(e, CURLOPT_PROXY, r->h->proxy);
	if (get_url) {
		EASY_SET(e, CURLOPT_URL, get_url);
		EASY_SET(e, CURLOPT_HTTPGET, 1L);
	} else {
		r->headers = curl_slist_append(NULL, "Content-Type: application/ocsp-request");
		/* An OCSP request is small: never wait for a 100-continue. */
		if (r->headers)
			r->headers = curl_slist_append(r->headers, "Expect:");
		if (!r->headers)
			goto fail;
		EASY_SET(e, CURLOPT_URL, url);
		EASY_SET(e, CURLOPT_HTTPHEADER, r->headers);
		EASY_SET(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		EASY_SET(e, CURLOPT_COPYPOSTFIELDS, (const char *)der);
	}
	return e;
fail:
	return NULL;
}

int ks_http_ocsp(struct ks_http *h, const char *url, const char *get_url, const uint8_t *der,
		 size_t len, ks_http_done_fn done, void *arg, struct ks_http_req **out)
{
	struct ks_http_req *r;

	ENSURE(get_url || (url && der && len), -EINVAL);
	r = calloc(1, sizeof(*r));
	ENSURE(r, -ENOMEM);
	r->h = h;
	r->done = done;
	r->arg = arg;
	r->started = ks_monotonic_ms();
	r->next = h->reqs;
	if (h->reqs)
		h->reqs->prev = r;
	h->reqs = r;
	h->active++;
	if (!easy_new(r, url, get_url, der, len)) {
		req_free(r);
		return -ENOMEM;
	}
	if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
		req_free(r);
		return -ENOMEM;
	}
	if (out)
		*out = r;
	return 0;
}

void ks_http_cancel(struct ks_http *h, struct ks_http_req *req)
{
	(void)h;
	if (req)
		req_free(req);
}

unsigned ks_http_active(const struct ks_http *h)
{
	return h->active;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct ks_http *ks_http_new(struct ks_loop *loop, const struct ks_http_opts *opts)
{
	struct ks_http *h;

	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		errno = ENOMEM;
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->loop = loop;
	if (opts)
		h->o = *opts;
	h->o.proxy = NULL;
	if (h->o.connect_timeout_ms <= 0)
		h->o.connect_timeout_ms = 5000;
	if (h->o.timeout_ms <= 0)
		h->o.timeout_ms = 15000;
	if (h->o.max_body <= 0)
		h->o.max_body = KS_HTTP_DEFAULT_MAX_BODY;
	if (h->o.max_total_connections <= 0)
		h->o.max_total_connections = 64;
	if (h->o.max_host_connections <= 0)
		h->o.max_host_connections = 8;
	h->timer_deadline = -1;
	h->timer = calloc(1, sizeof(*h->timer));
	h->proxy = opts && opts->proxy ? strdup(opts->proxy) : NULL;
	h->multi = curl_multi_init();
	if (!h->timer || !h->multi || (opts && opts->proxy && !h->proxy))
		goto fail;
	ks_loop_op_init(&h->timer->op, timer_fired);
	h->timer->h = h;
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, curl_sock_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, h->o.max_host_connections);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, h->o.max_total_connections);
	/* Keep as many idle keep-alive connections as we may open. */
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, h->o.max_total_connections);
	return h;
fail:
	if (h->multi)
		curl_multi_cleanup(h->multi);
	free(h->timer);
	free(h->proxy);
	free(h);
	errno = ENOMEM;
	return NULL;
}

void ks_http_free(struct ks_http *h)
{
	struct http_sock *s;

	if (!h)
		return;
	for (struct ks_http_req *r = h->reqs, *next; r; r = next) {
		next = r->next;
		req_free(r);
	}
	/* From here curl must not call back into h: detach, clean up, release what is left. */
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, NULL);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, NULL);
	curl_multi_cleanup(h->multi);
	while ((s = h->socks)) {
		sock_unlist(h, s);
		s->removed = true;
		ks_loop_release(h->loop, &s->op, sock_free);
	}
	h->timer->h = NULL;
	ks_loop_release(h->loop, &h->timer->op, timer_free);
	free(h->proxy);
	free(h);
}

// SPDX-License-Identifier: MIT
/*
 * fetcher: the OCSP refresh engine (see include/kstaple/fetcher.h).
 *
 * Data flow per certificate: due (heap, by wall-clock time) -> queued (its responder's FIFO)
 * -> in flight (an http_fetch request) -> judged by the cache -> scheduled again. Responders
 * with queued work and a free slot sit on a ready list served round-robin, so one slow CA
 * cannot starve the others and max_concurrency is shared fairly.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kstaple/fetcher.h"
#include "kstaple/log.h"
#include "kstaple/ocsp_request.h"
#include "kstaple/staple_sched.h"
#include "kstaple/workq.h"

#define TICK_MAX_MS (60 * 1000) /* re-read the wall clock at least this often */
/*
 * Threads running ks_cache_submit(): each one is an fsync'd write (milliseconds on a busy
 * disk) plus a signature check. In parallel the journal commits them in groups.
 */
#define SUBMIT_THREADS 4

enum cert_state {
	CS_IDLE = 0,
	CS_QUEUED,
	CS_INFLIGHT
};

struct responder {
	char *key; /* scheme://host[:port], what the per-responder limit counts */
	unsigned inflight;
	struct fcert *qhead, *qtail;
	bool ready;
	struct responder *rnext;
};

struct fcert {
	struct ks_fetcher *f;
	struct ks_cache_entry *entry;
	struct responder *resp; /* NULL: no responder, never fetched */
	struct ks_ocsp_req req;
	struct ks_fetch_cert_result res;
	enum cert_state state;
	bool in_pass;
	int64_t due;
	size_t heap_idx; /* SIZE_MAX: not in the heap */
	struct fcert *qnext;
	struct ks_http_req *http_req;
	/* verification and persistence on a worker (still CS_INFLIGHT meanwhile) */
	struct ks_work work;
	uint8_t *body;
	size_t body_len;
	int submit_ret;
	struct ks_ocsp_result vr;
};

/* Loop ops live apart from the fetcher so they can outlive it until their last completion. */
struct fop {
	struct ks_loop_op op;
	struct ks_fetcher *f;
};

struct ks_fetcher {
	struct ks_loop *loop;
	struct ks_cache *cache;
	struct ks_fetch_conf conf;
	struct ks_clock clk;
	struct ks_http *http;
	struct ks_workq *wq;
	struct fcert **certs;
	size_t n_certs, cap_certs;
	struct responder **resps;
	size_t n_resps, cap_resps;
	struct responder *ready_head, *ready_tail;
	unsigned inflight, peak;
	bool dispatching;
	/* schedule (ks_fetcher_start) */
	bool scheduling;
	struct fcert **heap;
	size_t heap_n, heap_cap;
	struct fop *tick;
	/* one pass (ks_fetcher_one_pass) */
	bool pass_active;
	size_t pass_total, pass_done;
	ks_fetch_pass_fn pass_cb;
	void *pass_arg;
	struct fop *pass_op;
};

static const char *const outcome_names[] = {
	[KS_FETCH_PENDING] = "pending",		  [KS_FETCH_OK] = "ok",
	[KS_FETCH_REJECTED] = "rejected",	  [KS_FETCH_HTTP_ERROR] = "http-error",
	[KS_FETCH_NO_RESPONDER] = "no-responder", [KS_FETCH_LOCAL_ERROR] = "local-error",
};

const char *ks_fetch_outcome_name(enum ks_fetch_outcome o)
{
	return (unsigned)o < KS_ARRAY_SIZE(outcome_names) ? outcome_names[o] : "?";
}

static void dispatch(struct ks_fetcher *f);
static void tick_arm(struct ks_fetcher *f);

/* ---- the schedule: a binary min-heap on due time ----------------------------------------- */

static void heap_set(struct ks_fetcher *f, size_t i, struct fcert *c)
{
	f->heap[i] = c;
	c->heap_idx = i;
}

static void heap_up(struct ks_fetcher *f, size_t i)
{
	struct fcert *c = f->heap[i];

	while (i > 0 && f->heap[(i - 1) / 2]->due > c->due) {
		heap_set(f, i, f->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(f, i, c);
}

static void heap_down(struct ks_fetcher *f, size_t i)
{
	struct fcert *c = f->heap[i];
	size_t k;

	for (;;) {
		k = 2 * i + 1;
		if (k >= f->heap_n)
			break;
		if (k + 1 < f->heap_n && f->heap[k + 1]->due < f->heap[k]->due)
			k++;
		if (f->heap[k]->due >= c->due)
			break;
		heap_set(f, i, f->heap[k]);
		i = k;
	}
	heap_set(f, i, c);
}

static void heap_remove(struct ks_fetcher *f, struct fcert *c)
{
	size_t i = c->heap_idx;
	struct fcert *last;

	if (i == SIZE_MAX)
		return;
	c->heap_idx = SIZE_MAX;
	last = f->heap[--f->heap_n];
	if (last == c)
		return;
	heap_set(f, i, last);
	heap_up(f, i);
	heap_down(f, last->heap_idx);
}

/* Capacity is reserved in ks_fetcher_add(): pushing never fails. */
static void heap_push(struct ks_fetcher *f, struct fcert *c, int64_t due)
{
	heap_remove(f, c);
	c->due = due;
	heap_set(f, f->heap_n++, c);
	heap_up(f, f->heap_n - 1);
}

/* ---- per-responder queues ---------------------------------------------------------------- */

static bool resp_can_start(const struct ks_fetcher *f, const struct responder *r)
{
	return r->qhead && r->inflight < (unsigned)f->conf.max_per_responder;
}

static void ready_push(struct ks_fetcher *f, struct responder *r)
{
	if (r->ready || !resp_can_start(f, r))
		return;
	r->ready = true;
	r->rnext = NULL;
	if (f->ready_tail)
		f->ready_tail->rnext = r;
	else
		f->ready_head = r;
	f->ready_tail = r;
}

static struct responder *ready_pop(struct ks_fetcher *f)
{
	struct responder *r = f->ready_head;

	if (!r)
		return NULL;
	f->ready_head = r->rnext;
	if (!f->ready_head)
		f->ready_tail = NULL;
	r->ready = false;
	r->rnext = NULL;
	return r;
}

static void enqueue(struct ks_fetcher *f, struct fcert *c)
{
	struct responder *r = c->resp;

	if (!r || c->state != CS_IDLE)
		return;
	heap_remove(f, c);
	c->state = CS_QUEUED;
	c->qnext = NULL;
	if (r->qtail)
		r->qtail->qnext = c;
	else
		r->qhead = c;
	r->qtail = c;
	ready_push(f, r);
}

static struct fcert *dequeue(struct responder *r)
{
	struct fcert *c = r->qhead;

	if (c) {
		r->qhead = c->qnext;
		if (!r->qhead)
			r->qtail = NULL;
		c->qnext = NULL;
	}
	return c;
}

/* ---- one attempt ------------------------------------------------------------------------- */

static void pass_fire(struct ks_loop_op *op, int res, uint32_t flags)
{
	struct fop *p = container_of(op, struct fop, op);
	struct ks_fetcher *f = p->f;

	(void)flags;
	if (res != -ETIME || !f->pass_active || f->pass_done < f->pass_total)
		return;
	f->pass_active = false;
	if (f->pass_cb)
		f->pass_cb(f, f->pass_arg);
}

/* The pass callback always runs from the loop, never inside ks_fetcher_one_pass(). */
static void pass_check(struct ks_fetcher *f)
{
	if (f->pass_active && f->pass_done >= f->pass_total &&
	    ks_loop_timeout(f->loop, &f->pass_op->op, 0) < 0)
		ks_err("fetch: cannot signal the end of the pass");
}

/* Book-keeping after an attempt, whatever its result: schedule the next one. */
static void attempt_done(struct ks_fetcher *f, struct fcert *c, bool success)
{
	const struct ks_sched_policy *p = &f->conf.sched;
	int64_t now = ks_now(&f->clk), last_good = 0;
	struct ks_staple *st;

	c->state = CS_IDLE;
	c->res.attempts++;
	if (success) {
		c->res.failures = 0;
		c->res.next_attempt = ks_sched_after_success(p, now, c->res.this_update,
							     c->res.next_update, arc4random());
	} else {
		c->res.failures++;
		st = ks_staple_acquire(c->entry);
		if (st)
			last_good = st->next_update;
		ks_staple_release(st);
		c->res.next_attempt = ks_sched_after_failure(p, now, c->res.failures, last_good);
	}
	if (f->scheduling) {
		heap_push(f, c, c->res.next_attempt);
		tick_arm(f);
	}
	if (c->in_pass) {
		c->in_pass = false;
		f->pass_done++;
		pass_check(f);
	}
}

/* No response to judge: the cache records why, and keeps the published staple. */
static void fail_attempt(struct ks_fetcher *f, struct fcert *c)
{
	ks_cache_note_http_failure(f->cache, c->entry,
				   c->res.outcome == KS_FETCH_HTTP_ERROR ? c->res.http_err
									 : KS_HTTP_ERR_LOCAL,
				   c->res.detail);
	attempt_done(f, c, false);
}

/* On a worker thread: verification and the fsync'd write must not stall the loop. */
static void submit_run(struct ks_work *w)
{
	struct fcert *c = container_of(w, struct fcert, work);

	memset(&c->vr, 0, sizeof(c->vr));
	c->submit_ret = ks_cache_submit(c->f->cache, c->entry, c->body, c->body_len, &c->vr);
}

/* Back on the loop thread: what the cache decided. */
static void submit_done(struct ks_work *w)
{
	struct fcert *c = container_of(w, struct fcert, work);
	struct ks_fetcher *f = c->f;

	free(c->body);
	c->body = NULL;
	if (c->submit_ret < 0) {
		/* Logged and counted by the cache. */
		c->res.outcome = KS_FETCH_LOCAL_ERROR;
		snprintf(c->res.detail, sizeof(c->res.detail), "cannot verify: %s",
			 strerror(-c->submit_ret));
		attempt_done(f, c, false);
	} else {
		c->res.have_verdict = true;
		c->res.verdict = c->vr.verdict;
		c->res.this_update = c->vr.this_update;
		c->res.next_update = c->vr.next_update;
		if (c->submit_ret == 1) {
			c->res.outcome = KS_FETCH_OK;
			snprintf(c->res.detail, sizeof(c->res.detail), "ok");
		} else {
			/* The cache counted the rejection and kept the published staple. */
			c->res.outcome = KS_FETCH_REJECTED;
			snprintf(c->res.detail, sizeof(c->res.detail), "%s", c->entry->last_error);
		}
		attempt_done(f, c, c->submit_ret == 1);
	}
	dispatch(f);
}

static void http_done(const struct ks_http_result *hr, void *arg)
{
	struct fcert *c = arg;
	struct ks_fetcher *f = c->f;

	c->http_req = NULL;
	c->resp->inflight--;
	f->inflight--;
	ready_push(f, c->resp);
	c->res.elapsed_ms = hr->elapsed_ms;
	c->res.http_err = hr->err;
	c->res.http_status = hr->status;
	c->res.have_verdict = false;
	if (hr->ok) {
		/* The body is only valid during this callback: the worker gets a copy. */
		c->body = malloc(hr->body_len);
		if (c->body) {
			memcpy(c->body, hr->body, hr->body_len);
			c->body_len = hr->body_len;
			c->work.run = submit_run;
			c->work.done = submit_done;
			ks_workq_push(f->wq, &c->work);
			dispatch(f);
			return;
		}
		c->res.outcome = KS_FETCH_LOCAL_ERROR;
		snprintf(c->res.detail, sizeof(c->res.detail), "out of memory");
	} else {
		c->res.outcome = KS_FETCH_HTTP_ERROR;
		snprintf(c->res.detail, sizeof(c->res.detail), "%s", hr->error);
	}
	fail_attempt(f, c);
	dispatch(f);
}

static void start(struct ks_fetcher *f, struct fcert *c)
{
	int ret;

	c->state = CS_INFLIGHT;
	c->res.used_get = c->req.get_url != NULL;
	ks_log_cert(KS_LOG_DEBUG, c->res.name, "OCSP %s %s", c->req.get_url ? "GET" : "POST",
		    c->req.get_url ? c->req.get_url : c->entry->cert->responder);
	ret = ks_http_ocsp(f->http, c->entry->cert->responder, c->req.get_url, c->req.der,
			   c->req.len, http_done, c, &c->http_req);
	if (ret < 0) {
		c->res.outcome = KS_FETCH_LOCAL_ERROR;
		snprintf(c->res.detail, sizeof(c->res.detail), "cannot start the request: %s",
			 strerror(-ret));
		fail_attempt(f, c);
		return;
	}
	c->resp->inflight++;
	f->inflight++;
	f->peak = KS_MAX(f->peak, f->inflight);
}

/* Start queued requests while the global limit allows; responders take turns. */
static void dispatch(struct ks_fetcher *f)
{
	struct responder *r;
	struct fcert *c;

	if (f->dispatching)
		return;
	f->dispatching = true;
	while (f->inflight < (unsigned)f->conf.max_concurrency && (r = ready_pop(f))) {
		c = dequeue(r);
		if (c)
			start(f, c);
		ready_push(f, r); /* to the back of the line, if it can take more */
	}
	f->dispatching = false;
}

/* ---- the agent's schedule ---------------------------------------------------------------- */

static void tick_fire(struct ks_loop_op *op, int res, uint32_t flags)
{
	struct ks_fetcher *f = container_of(op, struct fop, op)->f;
	int64_t now = ks_now(&f->clk);

	(void)flags;
	if (res != -ETIME)
		return;
	while (f->heap_n && f->heap[0]->due <= now)
		enqueue(f, f->heap[0]); /* removes it from the heap */
	dispatch(f);
	tick_arm(f);
}

static void tick_arm(struct ks_fetcher *f)
{
	struct ks_loop_op *op = &f->tick->op;
	int64_t now, delay_ms;

	if (!f->scheduling || !f->heap_n)
		return; /* an armed tick finds nothing due and is not re-armed */
	now = ks_now(&f->clk);
	/* Seconds to milliseconds, saturated: wall-clock jumps are caught by TICK_MAX_MS. */
	delay_ms = f->heap[0]->due <= now ? 0 : KS_MIN(f->heap[0]->due - now, TICK_MAX_MS) * 1000;
	delay_ms = KS_MIN(delay_ms, (int64_t)TICK_MAX_MS);
	if (op->state == KS_LOOP_OP_ARMED && op->deadline_ms <= ks_monotonic_ms() + delay_ms)
		return; /* already due to wake up in time */
	if (ks_loop_timeout(f->loop, op, delay_ms) < 0)
		ks_err("fetch: cannot arm the refresh timer: staples will not be refreshed");
}

/* First place in the schedule: now without a staple, else per the refresh policy. */
static void schedule_first(struct ks_fetcher *f, struct fcert *c, int64_t now)
{
	struct ks_staple *st;
	int64_t due;

	if (!c->resp || c->state != CS_IDLE)
		return;
	st = ks_staple_acquire(c->entry);
	due = st ? ks_sched_after_success(&f->conf.sched, now, st->this_update, st->next_update,
					  arc4random())
		 : now;
	ks_staple_release(st);
	c->res.next_attempt = due;
	heap_push(f, c, due);
}

int ks_fetcher_start(struct ks_fetcher *f)
{
	int64_t now = ks_now(&f->clk);
	size_t i;

	f->scheduling = true;
	for (i = 0; i < f->n_certs; i++)
		schedule_first(f, f->certs[i], now);
	tick_arm(f);
	return 0;
}

void ks_fetcher_fetch_all_now(struct ks_fetcher *f)
{
	size_t i;

	for (i = 0; i < f->n_certs; i++)
		enqueue(f, f->certs[i]);
	dispatch(f);
}

int ks_fetcher_one_pass(struct ks_fetcher *f, ks_fetch_pass_fn done, void *arg)
{
	struct fcert *c;
	size_t i;

	ENSURE(!f->pass_active, -EBUSY);
	f->pass_active = true;
	f->pass_cb = done;
	f->pass_arg = arg;
	f->pass_total = f->pass_done = 0;
	for (i = 0; i < f->n_certs; i++) {
		c = f->certs[i];
		if (!c->resp)
			continue;
		c->in_pass = true;
		f->pass_total++;
		enqueue(f, c); /* one already in flight counts when it completes */
	}
	dispatch(f);
	pass_check(f);
	return 0;
}

/* ---- set-up ------------------------------------------------------------------------------ */

/* "http://Host:80/path" -> "http://host:80": what curl's per-host limit counts too. */
static char *responder_key(const char *url)
{
	const char *p = strstr(url, "://"), *host, *end;
	bool https = strncasecmp(url, "https://", 8) == 0;
	char *key;
	size_t i;

	host = p ? p + 3 : url;
	end = host + strcspn(host, "/?#");
	if (asprintf(&key, "%.*s%.*s%s", (int)(host - url), url, (int)(end - host), host,
		     memchr(host, ':', (size_t)(end - host)) ? "" : (https ? ":443" : ":80")) < 0)
		return NULL;
	for (i = 0; key[i]; i++)
		key[i] = (char)tolower((unsigned char)key[i]);
	return key;
}

static struct responder *responder_get(struct ks_fetcher *f, const char *url)
{
	struct responder *r, **grown;
	char *key = responder_key(url);
	size_t i;

	if (!key)
		return NULL;
	for (i = 0; i < f->n_resps; i++)
		if (strcmp(f->resps[i]->key, key) == 0) {
			free(key);
			return f->resps[i];
		}
	if (f->n_resps == f->cap_resps) {
		grown = reallocarray(f->resps, f->cap_resps ? 2 * f->cap_resps : 8, sizeof(*grown));
		if (!grown)
			goto fail;
		f->resps = grown;
		f->cap_resps = f->cap_resps ? 2 * f->cap_resps : 8;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		goto fail;
	r->key = key;
	f->resps[f->n_resps++] = r;
	return r;
fail:
	free(key);
	return NULL;
}

static int reserve(struct ks_fetcher *f)
{
	struct fcert **grown;
	size_t cap;

	if (f->n_certs < f->cap_certs)
		return 0;
	cap = f->cap_certs ? 2 * f->cap_certs : 16;
	grown = reallocarray(f->certs, cap, sizeof(*grown));
	ENSURE(grown, -ENOMEM);
	f->certs = grown;
	grown = reallocarray(f->heap, cap, sizeof(*grown));
	ENSURE(grown, -ENOMEM);
	f->heap = grown;
	f->cap_certs = f->heap_cap = cap;
	return 0;
}

int ks_fetcher_add(struct ks_fetcher *f, struct ks_cache_entry *entry)
{
	const struct ks_cert *cert = entry->cert;
	struct fcert *c;
	int ret;

	TRY(reserve(f));
	c = calloc(1, sizeof(*c));
	ENSURE(c, -ENOMEM);
	c->f = f;
	c->entry = entry;
	c->heap_idx = SIZE_MAX;
	c->res.name = cert->name;
	if (!cert->responder) {
		/* Reported once, here; the certificate never enters the schedule. */
		c->res.outcome = KS_FETCH_NO_RESPONDER;
		snprintf(c->res.detail, sizeof(c->res.detail),
			 "no OCSP responder (no AIA OCSP URL and no responder configured)");
		ks_log_cert(KS_LOG_INFO, cert->name,
			    "not fetching OCSP responses: the certificate has no OCSP URL and no "
			    "'responder' is configured");
		f->certs[f->n_certs++] = c;
		return 0;
	}
	ret = ks_ocsp_request_build(cert, cert->responder, &c->req);
	if (ret < 0) {
		ks_log_cert(KS_LOG_ERR, cert->name, "cannot build the OCSP request for %s: %s",
			    cert->responder, strerror(-ret));
		free(c);
		return ret;
	}
	c->resp = responder_get(f, cert->responder);
	if (!c->resp) {
		ks_ocsp_request_free(&c->req);
		free(c);
		return -ENOMEM;
	}
	f->certs[f->n_certs++] = c;
	/* Added while running: join the schedule, and the pass (so loading overlaps fetching). */
	if (f->scheduling) {
		schedule_first(f, c, ks_now(&f->clk));
		tick_arm(f);
	}
	if (f->pass_active) {
		c->in_pass = true;
		f->pass_total++;
		enqueue(f, c);
		dispatch(f);
	}
	return 0;
}

struct ks_fetcher *ks_fetcher_new(struct ks_loop *loop, struct ks_cache *cache,
				  const struct ks_fetch_conf *conf, const struct ks_clock *clk)
{
	struct ks_fetcher *f = calloc(1, sizeof(*f));
	struct ks_http_opts o;

	if (!f)
		return NULL;
	f->loop = loop;
	f->cache = cache;
	f->conf = *conf;
	f->conf.proxy = NULL; /* only http_fetch keeps it */
	if (f->conf.max_concurrency <= 0)
		f->conf.max_concurrency = 64;
	if (f->conf.max_per_responder <= 0)
		f->conf.max_per_responder = 8;
	f->clk = *clk;
	memset(&o, 0, sizeof(o));
	o.connect_timeout_ms = conf->connect_timeout_ms;
	o.timeout_ms = conf->timeout_ms;
	o.max_body = conf->max_body;
	o.max_total_connections = (long)f->conf.max_concurrency;
	o.max_host_connections = (long)f->conf.max_per_responder;
	o.proxy = conf->proxy;
	f->http = ks_http_new(loop, &o);
	f->wq = ks_workq_new(loop, SUBMIT_THREADS);
	f->tick = calloc(1, sizeof(*f->tick));
	f->pass_op = calloc(1, sizeof(*f->pass_op));
	if (!f->http || !f->wq || !f->tick || !f->pass_op) {
		ks_http_free(f->http);
		ks_workq_free(f->wq);
		free(f->tick);
		free(f->pass_op);
		free(f);
		errno = ENOMEM;
		return NULL;
	}
	ks_loop_op_init(&f->tick->op, tick_fire);
	f->tick->f = f;
	ks_loop_op_init(&f->pass_op->op, pass_fire);
	f->pass_op->f = f;
	return f;
}

static void fop_free(struct ks_loop_op *op)
{
	free(container_of(op, struct fop, op));
}

void ks_fetcher_free(struct ks_fetcher *f)
{
	size_t i;

	if (!f)
		return;
	ks_http_free(f->http); /* abandons in-flight requests: no http_done() after this */
	ks_workq_free(f->wq);  /* finishes submissions, drops their submit_done() */
	ks_loop_release(f->loop, &f->tick->op, fop_free);
	ks_loop_release(f->loop, &f->pass_op->op, fop_free);
	for (i = 0; i < f->n_certs; i++) {
		ks_ocsp_request_free(&f->certs[i]->req);
		free(f->certs[i]->body);
		free(f->certs[i]);
	}
	for (i = 0; i < f->n_resps; i++) {
		free(f->resps[i]->key);
		free(f->resps[i]);
	}
	free(f->certs);
	free(f->heap);
	free(f->resps);
	free(f);
}

size_t ks_fetcher_count(const struct ks_fetcher *f)
{
	return f->n_certs;
}

const struct ks_fetch_cert_result *ks_fetcher_result(const struct ks_fetcher *f, size_t i)
{
	return i < f->n_certs ? &f->certs[i]->res : NULL;
}

struct ks_cache_entry *ks_fetcher_entry(const struct ks_fetcher *f, size_t i)
{
	return i < f->n_certs ? f->certs[i]->entry : NULL;
}

void ks_fetcher_progress(const struct ks_fetcher *f, size_t *done, size_t *total)
{
	*done = f->pass_done;
	*total = f->pass_total;
}

unsigned ks_fetcher_inflight(const struct ks_fetcher *f)
{
	return f->inflight;
}

unsigned ks_fetcher_peak_inflight(const struct ks_fetcher *f)
{
	return f->peak;
}

// SPDX-License-Identifier: MIT
/*
 * server_accept: a worker's accepts within the process-wide descriptor budget (fd_budget.h).
 *
 * Per listener and worker one accept op, in one of three states the budget decides: a
 * multishot accept while even a full backlog fits, a one-shot accept holding a slot claimed
 * before it was armed when close to the budget, or nothing at it. Then clients stay in the
 * listen backlog and the worker sleeps: the next connection to close, on any worker, wakes
 * it. max_connections and EMFILE/ENFILE (the spare ran out after all) re-arm on a timer.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>
#include "kstaple/log.h"
#include "server_worker.h"

static int arm_accept(struct wlistener *wl, bool multi)
{
	struct io_uring_sqe *sqe = ks_loop_sqe(wl->w->loop);

	ENSURE(sqe, -errno);
	if (multi)
		io_uring_prep_multishot_accept(sqe, wl->fd, NULL, NULL,
					       SOCK_NONBLOCK | SOCK_CLOEXEC);
	else
		io_uring_prep_accept(sqe, wl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	ks_loop_arm(wl->w->loop, &wl->accept_op, sqe, multi);
	wl->multi = multi;
	return 0;
}

/* max_connections, EMFILE, a full ring: try again on a timer, never in a busy loop. */
static void retry_later(struct wlistener *wl)
{
	if (!ks_loop_op_busy(&wl->resume_op) &&
	    ks_loop_timeout(wl->w->loop, &wl->resume_op, RESUME_MS) < 0)
		ks_warn("cannot schedule accepting again");
}

/*
 * Its final completion calls ks_srv_accept_update() again; the sockets the kernel accepted
 * while the cancel was on its way still reach accepted() (ks_loop_cancel, loop.h).
 */
static void stop_multishot(struct wlistener *wl)
{
	int ret = wl->multi ? ks_loop_cancel(wl->w->loop, &wl->accept_op) : 0;

	if (ret < 0 && ret != -EALREADY)
		ks_warn("cannot pause accepting: %s; trying again at the next connection",
			strerror(-ret));
}

/*
 * Ask to be woken when a connection closes anywhere. Set before the caller looks at the budget
 * again, and wake_waiters() looks at the flag after releasing a slot: one of the two sees the
 * other, so no wake-up is lost.
 */
static void wait_for_room(struct wlistener *wl)
{
	struct worker *w = wl->w;

	wl->waiting = true;
	if (!atomic_exchange(&w->budget_wait, true))
		atomic_fetch_add(&w->srv->budget_waiters, 1);
}

/* Any thread. A worker on its way out sets exiting and waits for wakers before its loop goes. */
static void wake_waiters(struct ks_server *srv)
{
	if (!atomic_load(&srv->budget_waiters))
		return;
	for (size_t i = 0; i < srv->n_workers; i++) {
		struct worker *w = &srv->workers[i];

		atomic_fetch_add(&w->wakers, 1);
		if (!atomic_load(&w->exiting) && atomic_exchange(&w->budget_wait, false)) {
			atomic_fetch_sub(&srv->budget_waiters, 1);
			ks_loop_wake(w->loop);
		}
		atomic_fetch_sub(&w->wakers, 1);
	}
}

static bool listener_full(struct listener_rt *lr)
{
	return atomic_load_explicit(&lr->conns, memory_order_relaxed) >= lr->max;
}

/* The listening socket's accept queue is empty (TCP_INFO reports its length when listening). */
static bool queue_empty(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return true; /* unknown: do not keep a pause episode open on it */
	return ti.tcpi_unacked == 0;
}

/* Arm what the budget allows now; false when there is no room. */
static bool arm_for_budget(struct wlistener *wl, struct ks_fd_budget *b)
{
	enum ks_accept_mode m = ks_fd_plan_mode(&b->plan, atomic_load(&b->used));
	int ret = 0;

	if (m == KS_ACCEPT_MULTI) {
		ret = arm_accept(wl, true);
	} else if (m == KS_ACCEPT_ONE && ks_fd_budget_claim(b)) {
		ret = arm_accept(wl, false);
		if (ret < 0)
			ks_fd_budget_release(b);
		wl->claimed = ret == 0;
	} else {
		return false;
	}
	if (ret < 0)
		retry_later(wl);
	else if (wl->blocked && queue_empty(wl->fd))
		ks_fd_budget_unblock(b, &wl->blocked);
	return true;
}

/* Bring wl's accept in line with the budget; called whenever something changed. */
void ks_srv_accept_update(struct wlistener *wl)
{
	struct worker *w = wl->w;
	struct ks_fd_budget *b = &w->srv->budget;
	struct listener_rt *lr = &w->srv->lsn[wl->idx];

	if (w->draining || wl->fd < 0)
		return;
	if (ks_loop_op_busy(&wl->accept_op)) {
		/*
		 * A multishot accept armed while clients still queued drains them itself: the
		 * episode may end once it has (arm_for_budget only sees the queue when it arms).
		 */
		if (wl->blocked && queue_empty(wl->fd))
			ks_fd_budget_unblock(b, &wl->blocked);
		/* A multishot accept could hand over a whole backlog: end it short of the budget. */
		if (wl->multi &&
		    (listener_full(lr) ||
		     ks_fd_plan_mode(&b->plan, atomic_load(&b->used)) != KS_ACCEPT_MULTI))
			stop_multishot(wl);
		return;
	}
	if (ks_loop_op_busy(&wl->resume_op))
		return; /* EMFILE or max_connections: the timer calls back */
	if (listener_full(lr)) {
		retry_later(wl);
		return;
	}
	if (arm_for_budget(wl, b)) {
		wl->waiting = false;
		return;
	}
	wait_for_room(wl);
	if (arm_for_budget(wl, b)) {
		wl->waiting = false;
		return;
	}
	ks_fd_budget_pause(b, &wl->blocked);
}

static void resume_fired(struct ks_loop_op *op, int res, uint32_t flags)
{
	struct wlistener *wl = container_of(op, struct wlistener, resume_op);

	(void)flags;
	if (res == -ETIME)
		ks_srv_accept_update(wl);
}

static void conn_closed(void *arg, void *ref)
{
	struct wlistener *wl = arg;
	struct ks_server *srv = wl->w->srv;

	atomic_fetch_sub_explicit(&srv->lsn[wl->idx].conns, 1, memory_order_relaxed);
	ks_fd_budget_release(&srv->budget);
	wake_waiters(srv);
	ks_gen_unref(ref);
}

/* fd is already counted in the budget (claimed or admitted). */
static void new_conn(struct wlistener *wl, int fd)
{
	struct worker *w = wl->w;
	struct listener_rt *lr = &w->srv->lsn[wl->idx];
	struct gen_listener *gl = &w->gen->lsn[wl->idx];
	const struct ks_listener_conf *lc = &w->gen->cfg->listeners[wl->idx];
	struct ks_conn_params p = {
		.loop = w->loop,
		.tls = gl->tls,
		.backend = (const struct sockaddr *)&gl->backend,
		.backend_len = gl->backend_len,
		.backend_name = lc->backend,
		.listener = lr->name,
		.handshake_timeout_ms = lc->handshake_timeout_ms,
		.idle_timeout_ms = lc->idle_timeout_ms,
		.backend_on_data = lc->backend_connect == KS_BACKEND_CONNECT_DATA,
		.set = &w->conns,
		.stats = &lr->stats,
		.closed = conn_closed,
		.arg = wl,
		.ref = w->gen,
		.ktls = (enum ks_ktls_mode)lc->ktls,
		.handoff = lc->handoff,
	};
	unsigned n = atomic_fetch_add_explicit(&lr->conns, 1, memory_order_relaxed) + 1;
	int ret;

	ks_gen_ref(w->gen);
	ret = ks_conn_start(&p, fd);
	if (ret < 0) {
		conn_closed(wl, w->gen);
		ks_warn("listener %s: cannot start a connection: %s", lr->name, strerror(-ret));
	}
	/* The limit is checked after accepting: it may be exceeded by one per worker. */
	if (n >= lr->max) {
		if (!atomic_exchange(&lr->limit_logged, true))
			ks_warn("listener %s: max_connections (%lld) reached, accepting pauses",
				lr->name, (long long)lr->max);
	} else {
		atomic_store_explicit(&lr->limit_logged, false, memory_order_relaxed);
	}
}

/* A multishot burst beyond the budget and its overflow reserve: refuse before the handshake. */
static void overflow_close(struct wlistener *wl, int fd)
{
	uint64_t n =
		atomic_load_explicit(&wl->w->srv->budget.overflow_closed, memory_order_relaxed);

	close(fd);
	/* 1, 2, 4, 8...: a trace in the log without a line per connection. */
	if ((n & (n - 1)) == 0)
		ks_warn("listener %s: %llu connections accepted past the descriptor budget were "
			"closed before their handshake",
			wl->w->srv->lsn[wl->idx].name, (unsigned long long)n);
}

static void accepted(struct ks_loop_op *op, int res, uint32_t flags)
{
	struct wlistener *wl = container_of(op, struct wlistener, accept_op);
	struct listener_rt *lr = &wl->w->srv->lsn[wl->idx];
	struct ks_fd_budget *b = &wl->w->srv->budget;
	bool counted = wl->claimed; /* a one-shot accept's slot was claimed when armed */

	(void)flags;
	wl->claimed = false;
	if (res >= 0) {
		if (wl->fd_limit_logged)
			ks_info("listener %s: accepting again", lr->name);
		wl->fd_limit_logged = false;
		if (counted || ks_fd_budget_admit(b))
			new_conn(wl, res);
		else
			overflow_close(wl, res);
	} else {
		if (counted)
			ks_fd_budget_release(b);
		if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
			/* The budget's spare ran out (another subsystem) or the system's did. */
			if (!wl->fd_limit_logged)
				ks_warn("listener %s: cannot accept: %s; retrying every %d ms",
					lr->name, strerror(-res), RESUME_MS);
			wl->fd_limit_logged = true;
			stop_multishot(wl);
			retry_later(wl);
		} else if (res != -ECANCELED && res != -EAGAIN && res != -ECONNABORTED) {
			ks_warn("listener %s: accept failed: %s", lr->name, strerror(-res));
		}
	}
	ks_srv_accept_update(wl);
}

void ks_srv_accept_init(struct wlistener *wl, struct worker *w, size_t idx)
{
	wl->w = w;
	wl->idx = idx;
	wl->fd = -1;
	ks_loop_op_init(&wl->accept_op, accepted);
	ks_loop_op_init(&wl->resume_op, resume_fired);
}

/*
 * The descriptor budget, measured once every other descriptor of a running agent is open
 * (listening sockets, metrics, fetcher, state directory) except the workers' rings.
 */
int ks_srv_plan_budget(struct ks_server *srv, const struct ks_config *c)
{
	struct ks_fd_budget_in in = {
		.nofile = srv->nofile,
		.in_use = ks_fd_count_open(srv->nofile) + srv->n_workers * LOOP_FDS,
		.fetch_slots =
			KS_MIN((uint64_t)c->fetch.max_concurrency, (uint64_t)srv->gen->n_certs),
		.control_slots = CONTROL_SLOTS,
		.sockets = srv->n_workers * srv->n_lsn,
		.backlog = ks_fd_backlog(LISTEN_BACKLOG),
	};
	struct ks_fd_plan p;
	int ret = ks_fd_plan_make(&in, &p);

	ks_fd_budget_init(&srv->budget, &p);
	if (ret < 0) {
		ks_err("descriptor limit %llu (RLIMIT_NOFILE) leaves no room for a client connection "
		       "(%llu open, %llu kept for kstaple, %d per connection): raise LimitNOFILE= "
		       "(ulimit -n) to at least %llu",
		       (unsigned long long)p.nofile, (unsigned long long)p.in_use,
		       (unsigned long long)p.spare, KS_FD_PER_CONN,
		       (unsigned long long)(p.in_use + p.spare + KS_FD_PER_CONN));
		return ret;
	}
	ks_info("descriptor limit %llu: up to %llu client connections at once (%d descriptors "
		"each, client and backend; %llu open now, %llu kept for kstaple)",
		(unsigned long long)p.nofile, (unsigned long long)p.conns, KS_FD_PER_CONN,
		(unsigned long long)p.in_use, (unsigned long long)p.spare);
	return 0;
}

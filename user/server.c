// SPDX-License-Identifier: MIT
/*
 * server: the threads of `kstaple serve` (see include/kstaple/server.h).
 *
 * Worker side: per listener one SO_REUSEPORT socket and one multishot accept. An accepted
 * socket becomes a ks_conn holding a reference to the worker's current generation. At
 * max_connections, or when the process runs out of descriptors (EMFILE/ENFILE), the accept is
 * cancelled and a timer re-arms it later: never a busy loop.
 *
 * Main side: signalfd, the fetcher and the ticket key timer on one loop. Requests that need to
 * wait on that loop (reload) are flagged by callbacks and carried out by the outer loop, since
 * callbacks must not run the loop themselves.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "kstaple/log.h"
#include "kstaple/privdrop.h"
#include "kstaple/server.h"
#include "server_internal.h"

#define RESUME_MS 100 /* accept paused (limit, EMFILE): try again after this long */

struct listener_rt {
	char *name;
	char *listen;
	int64_t max;
	atomic_uint conns; /* open, all workers */
	atomic_bool limit_logged;
	struct ks_conn_stats stats;
};

struct worker;

struct wlistener {
	struct worker *w;
	size_t idx;
	int fd;
	bool paused;
	bool fd_limit_logged; /* EMFILE/ENFILE: one line per episode, not one per retry */
	struct ks_loop_op accept_op, resume_op;
};

struct worker {
	struct ks_server *srv;
	size_t idx;
	pthread_t thr;
	bool started;
	struct ks_loop *loop;
	struct gen *gen;
	_Atomic(struct gen *) next_gen;
	atomic_bool drain, quit;
	bool draining;
	struct wlistener *wl;
	struct ks_conn_set conns;
};

struct ks_server {
	const struct ks_clock *clk;
	const char *config_path;
	bool allow_insecure_keys; /* --allow-insecure-key-permissions, kept for reloads */
	struct ks_loop *loop;
	struct gen *gen;
	unsigned next_id;
	struct ks_fetcher *fetcher;
	struct ks_ticket_keys *keys;
	struct listener_rt *lsn;
	size_t n_lsn;
	struct worker *workers;
	size_t n_workers;
	atomic_uint workers_running;
	int sfd;
	struct ks_loop_op sig_op, ticket_op, drain_op;
	bool draining, reload_requested;
	int64_t ticket_ms;
	struct ks_srv_metrics *metrics;
};

/* ---- worker side ---- */

static int arm_accept(struct wlistener *wl)
{
	struct io_uring_sqe *sqe = ks_loop_sqe(wl->w->loop);

	ENSURE(sqe, -errno);
	io_uring_prep_multishot_accept(sqe, wl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	ks_loop_arm(wl->w->loop, &wl->accept_op, sqe, true);
	return 0;
}

static void pause_accept(struct wlistener *wl)
{
	if (wl->paused)
		return;
	wl->paused = true;
	if (ks_loop_op_busy(&wl->accept_op) && ks_loop_cancel(wl->w->loop, &wl->accept_op) < 0)
		ks_warn("cannot pause accepting");
	if (ks_loop_timeout(wl->w->loop, &wl->resume_op, RESUME_MS) < 0)
		ks_warn("cannot schedule accepting again");
}

static void resume_fired(struct ks_loop_op *op, int res, uint32_t flags)
{
	struct wlistener *wl = container_of(op, struct wlistener, resume_op);
	struct listener_rt *lr = &wl->w->srv->lsn[wl->idx];

	(void)flags;
	if (res != -ETIME || wl->w->draining)
		return;
	if (atomic_load(&lr->conns) >= lr->max || ks_loop_op_busy(&wl->accept_op)) {
		/* Still full, or the cancelled accept has not reported yet. */
		if (ks_loop_timeout(wl->w->loop, op, RESUME_MS) < 0)
			ks_warn("cannot schedule accepting again");
		return;
	}
	wl->paused = false;
	if (arm_accept(wl) < 0)
		pause_accept(wl);
}

static void conn_closed(void *arg, void *ref)
{
	struct wlistener *wl = arg;

	atomic_fetch_sub_explicit(&wl->w->srv->lsn[wl->idx].conns, 1, memory_order_relaxed);
	ks_gen_unref(ref);
}

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
		pause_accept(wl);
	} else {
		atomic_store_explicit(&lr->limit_logged, false, memory_order_relaxed);
	}
}

static void accepted(struct ks_loop_op *op, int res, uint32_t flags)
{
	struct wlistener *wl = container_of(op, struct wlistener, accept_op);
	struct listener_rt *lr = &wl->w->srv->lsn[wl->idx];

	if (res >= 0) {
		if (wl->fd_limit_logged)
			ks_info("listener %s: accepting again", lr->name);
		wl->fd_limit_logged = false;
		new_conn(wl, res);
	} else if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
		if (!wl->fd_limit_logged)
			ks_warn("listener %s: cannot accept: %s; retrying every %d ms", lr->name,
				strerror(-res), RESUME_MS);
		wl->fd_limit_logged = true;
		pause_accept(wl);
	} else if (res != -ECANCELED && res != -EAGAIN && res != -ECONNABORTED) {
		ks_warn("listener %s: accept failed: %s", lr->name, strerror(-res));
	}
	/* A multishot accept ends on errors and when the kernel drops it: re-arm. */
	if (!(flags & IORING_CQE_F_MORE) && !ks_loop_op_busy(op) && !wl->paused &&
	    !wl->w->draining && arm_accept(wl) < 0)
		pause_accept(wl);
}

static void worker_start_drain(struct worker *w)
{
	w->draining = true;
	for (size_t i = 0; i < w->srv->n_lsn; i++) {
		struct wlistener *wl = &w->wl[i];

		/* -EALREADY (idle) is fine; a failure leaves it to ks_loop_free(). */
		if (ks_loop_op_busy(&wl->accept_op) && ks_loop_cancel(w->loop, &wl->accept_op) < 0)
			ks_warn("worker %zu: cannot cancel accepting", w->idx);
		if (ks_loop_op_busy(&wl->resume_op) && ks_loop_cancel(w->loop, &wl->resume_op) < 0)
			ks_warn("worker %zu: cannot cancel a timer", w->idx);
		/* New clients are refused now rather than reset when the socket closes later. */
		if (wl->fd >= 0)
			close(wl->fd);
		wl->fd = -1;
	}
}

static void worker_poll_flags(struct worker *w)
{
	struct gen *g = atomic_exchange(&w->next_gen, NULL);

	if (g) {
		ks_gen_unref(w->gen);
		w->gen = g;
	}
	if (!w->draining && atomic_load(&w->drain))
		worker_start_drain(w);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int ret = 0;

	/* Created here: the ring is single-issuer, owned by the thread that submits. */
	w->loop = ks_loop_new(NULL);
	if (!w->loop) {
		/* The main thread notices that workers_running dropped and stops. */
		ks_err("worker %zu: cannot create an io_uring: %s", w->idx, strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < w->srv->n_lsn && ret == 0; i++)
		ret = arm_accept(&w->wl[i]);
	while (ret >= 0 && !atomic_load(&w->quit)) {
		worker_poll_flags(w);
		if (w->draining && w->conns.count == 0)
			break;
		ret = ks_loop_run_once(w->loop, -1);
	}
	if (ret < 0)
		ks_err("worker %zu: event loop failed: %s", w->idx, strerror(-ret));
	worker_start_drain(w);
	if (w->conns.count)
		ks_info("worker %zu: closing %u connections still open", w->idx, w->conns.count);
	ks_conn_abort_all(&w->conns);
	for (int i = 0; i < 10 && ks_loop_busy(w->loop); i++)
		if (ks_loop_run_once(w->loop, 100) < 0)
			break;
	ks_loop_free(w->loop);
	w->loop = NULL;
out:
	ks_gen_unref(atomic_exchange(&w->next_gen, NULL));
	ks_gen_unref(w->gen);
	w->gen = NULL;
	atomic_fetch_sub(&w->srv->workers_running, 1);
	ks_loop_wake(w->srv->loop);
	return NULL;
}

/* ---- main side ---- */

static int listen_socket(struct listener_rt *lr, int *out)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, defer = 10, ret;

	TRY(ks_resolve(lr->listen, true, &ss, &len));
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ENSURE(fd >= 0, -errno);
	/*
	 * One socket per worker on the same port: the kernel spreads connections over them.
	 * TCP_DEFER_ACCEPT: the accept completes when the ClientHello is there, so the first
	 * SSL_do_handshake usually has something to read. TCP_NODELAY is inherited by the
	 * accepted sockets: one setsockopt here rather than one per connection.
	 */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4096) < 0) {
		ret = -errno;
		ks_err("listener %s: cannot listen on %s: %s", lr->name, lr->listen,
		       strerror(-ret));
		close(fd);
		return ret;
	}
	*out = fd;
	return 0;
}

static void start_drain(struct ks_server *srv)
{
	struct ks_config *cfg = srv->gen->cfg;

	srv->draining = true;
	ks_info("draining: no new connections, open ones have up to %lld ms",
		(long long)cfg->drain_timeout_ms);
	for (size_t i = 0; i < srv->n_workers; i++) {
		atomic_store(&srv->workers[i].drain, true);
		if (srv->workers[i].loop)
			ks_loop_wake(srv->workers[i].loop);
	}
	if (ks_loop_timeout(srv->loop, &srv->drain_op, cfg->drain_timeout_ms) < 0)
		ks_warn("cannot arm the drain timer");
}

static void quit_workers(struct ks_server *srv)
{
	for (size_t i = 0; i < srv->n_workers; i++) {
		atomic_store(&srv->workers[i].quit, true);
		if (srv->workers[i].loop)
			ks_loop_wake(srv->workers[i].loop);
	}
}

static void drain_fired(struct ks_loop_op *op, int res, uint32_t flags)
{
	struct ks_server *srv = container_of(op, struct ks_server, drain_op);

	(void)flags;
	if (res == -ETIME) {
		ks_info("drain timeout: closing the connections still open");
		quit_workers(srv);
	}
}

static void signalled(struct ks_loop_op *op, int res, uint32_t flags)
{
	struct ks_server *srv = container_of(op, struct ks_server, sig_op);
	struct signalfd_siginfo si;

	if (res == -ECANCELED)
		return;
	while (read(srv->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			srv->reload_requested = true;
		} else if (srv->draining) {
			ks_info("second %s: closing now", strsignal((int)si.ssi_signo));
			quit_workers(srv);
		} else {
			ks_info("%s received", strsignal((int)si.ssi_signo));
			start_drain(srv);
		}
	}
	if (!(flags & IORING_CQE_F_MORE) &&
	    ks_loop_poll_add(srv->loop, op, srv->sfd, POLLIN, true) < 0)
		ks_err("cannot watch signals any more");
}

static void ticket_fired(struct ks_loop_op *op, int res, uint32_t flags)
{
	struct ks_server *srv = container_of(op, struct ks_server, ticket_op);

	(void)flags;
	if (res != -ETIME)
		return;
	if (ks_ticket_keys_rotate(srv->keys) < 0)
		ks_warn("session ticket key rotation failed: keeping the current key");
	if (ks_loop_timeout(srv->loop, op, srv->ticket_ms) < 0)
		ks_warn("cannot schedule the next ticket key rotation");
}

/* Run the main loop until the generation's staples are settled or ms have passed. */
static void wait_settled(struct ks_server *srv, struct gen *g, struct ks_fetcher *f, int64_t ms)
{
	int64_t deadline = ks_monotonic_ms() + ms, left;

	while (!srv->draining && !ks_gen_staples_settled(g, f, srv->clk)) {
		left = deadline - ks_monotonic_ms();
		if (left <= 0)
			break;
		if (ks_loop_run_once(srv->loop, (int)KS_MIN(left, 200)) < 0)
			break;
	}
	ks_gen_log_missing(g, srv->clk);
}

/* A reload may change certificates, backends and limits, not the sockets or the threads. */
static bool same_listeners(const struct ks_config *a, const struct ks_config *b)
{
	if (a->n_listeners != b->n_listeners)
		return false;
	for (size_t i = 0; i < a->n_listeners; i++)
		if (strcmp(a->listeners[i].name, b->listeners[i].name) != 0 ||
		    strcmp(a->listeners[i].listen, b->listeners[i].listen) != 0)
			return false;
	return true;
}

static void publish(struct ks_server *srv, struct gen *g)
{
	for (size_t i = 0; i < srv->n_workers; i++) {
		struct worker *w = &srv->workers[i];

		ks_gen_ref(g);
		ks_gen_unref(atomic_exchange(&w->next_gen, g));
		if (w->loop)
			ks_loop_wake(w->loop);
	}
	for (size_t i = 0; i < srv->n_lsn; i++)
		srv->lsn[i].max = g->cfg->listeners[i].max_connections;
}

static void reload(struct ks_server *srv)
{
	struct ks_config *cfg;
	struct ks_fetcher *f;
	struct gen *g, *old;

	ks_info("SIGHUP: reloading %s", srv->config_path);
	if (ks_config_load(srv->config_path, &cfg) < 0)
		goto fail;
	cfg->allow_insecure_key_permissions |= srv->allow_insecure_keys;
	if (!same_listeners(cfg, srv->gen->cfg)) {
		ks_err("%s: listeners were added, removed, renamed or moved: that needs a "
		       "restart",
		       srv->config_path);
		ks_config_free(cfg);
		goto fail;
	}
	if (cfg->workers != srv->gen->cfg->workers)
		ks_warn("%s: [kstaple] workers changes on restart only", srv->config_path);
	ks_srv_metrics_reload_check(srv->gen->cfg, cfg);
	ks_log_set_level(cfg->log_level);
	g = ks_gen_new(cfg, srv->clk, srv->keys, srv->next_id++);
	if (!g)
		goto fail;
	f = ks_gen_fetcher(g, srv->loop, srv->clk);
	if (!f) {
		ks_gen_unref(g);
		goto fail;
	}
	/* New and renewed certificates get their staples before a client can see them. */
	wait_settled(srv, g, f, g->cfg->fetch.startup_wait_ms);
	if (srv->draining) {
		ks_fetcher_free(f);
		ks_gen_unref(g);
		return;
	}
	ks_fetcher_free(srv->fetcher);
	srv->fetcher = f;
	old = srv->gen;
	srv->gen = g;
	publish(srv, g);
	ks_gen_unref(old);
	ks_info("reloaded: configuration %u, %zu certificates; connections in flight keep the "
		"previous one",
		g->id, g->n_certs);
	return;
fail:
	ks_err("reload failed: still serving the previous configuration");
}

static int setup_workers(struct ks_server *srv, const struct ks_config *cfg)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	srv->n_lsn = cfg->n_listeners;
	srv->lsn = calloc(srv->n_lsn, sizeof(*srv->lsn));
	srv->n_workers = cfg->workers ? (size_t)cfg->workers : (size_t)(cpus > 0 ? cpus : 1);
	srv->workers = calloc(srv->n_workers, sizeof(*srv->workers));
	ENSURE(srv->lsn && srv->workers, -ENOMEM);
	for (size_t i = 0; i < srv->n_lsn; i++) {
		/* Copies: the generation whose configuration holds them goes at a reload. */
		srv->lsn[i].name = strdup(cfg->listeners[i].name);
		srv->lsn[i].listen = strdup(cfg->listeners[i].listen);
		ENSURE(srv->lsn[i].name && srv->lsn[i].listen, -ENOMEM);
		srv->lsn[i].max = cfg->listeners[i].max_connections;
	}
	for (size_t i = 0; i < srv->n_workers; i++) {
		struct worker *w = &srv->workers[i];

		w->srv = srv;
		w->idx = i;
		w->wl = calloc(srv->n_lsn, sizeof(*w->wl));
		ENSURE(w->wl, -ENOMEM);
		for (size_t j = 0; j < srv->n_lsn; j++) {
			w->wl[j].w = w;
			w->wl[j].idx = j;
			w->wl[j].fd = -1;
			ks_loop_op_init(&w->wl[j].accept_op, accepted);
			ks_loop_op_init(&w->wl[j].resume_op, resume_fired);
			TRY(listen_socket(&srv->lsn[j], &w->wl[j].fd));
		}
	}
	return 0;
}

static int start_workers(struct ks_server *srv)
{
	int r;

	for (size_t i = 0; i < srv->n_workers; i++) {
		struct worker *w = &srv->workers[i];

		ks_gen_ref(srv->gen);
		w->gen = srv->gen;
		atomic_fetch_add(&srv->workers_running, 1);
		r = pthread_create(&w->thr, NULL, worker_main, w);
		if (r != 0) {
			atomic_fetch_sub(&srv->workers_running, 1);
			ks_gen_unref(w->gen);
			w->gen = NULL;
			ks_err("cannot start worker %zu: %s", i, strerror(r));
			return -r;
		}
		w->started = true;
	}
	return 0;
}

static void server_free(struct ks_server *srv)
{
	quit_workers(srv);
	for (size_t i = 0; i < srv->n_workers; i++) {
		struct worker *w = &srv->workers[i];

		if (w->started)
			pthread_join(w->thr, NULL);
		for (size_t j = 0; w->wl && j < srv->n_lsn; j++)
			if (w->wl[j].fd >= 0)
				close(w->wl[j].fd);
		free(w->wl);
	}
	free(srv->workers);
	/* Before the fetcher and the generation its snapshots read. */
	ks_srv_metrics_free(srv->metrics);
	ks_fetcher_free(srv->fetcher);
	if (srv->loop)
		ks_loop_free(srv->loop);
	ks_gen_unref(srv->gen);
	for (size_t i = 0; srv->lsn && i < srv->n_lsn; i++) {
		free(srv->lsn[i].name);
		free(srv->lsn[i].listen);
	}
	free(srv->lsn);
	ks_ticket_keys_free(srv->keys);
	if (srv->sfd >= 0)
		close(srv->sfd);
	free(srv);
}

/* Signals are blocked in every thread and read from a signalfd on the main loop. */
static int setup_signals(struct ks_server *srv)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	ENSURE(pthread_sigmask(SIG_BLOCK, &set, NULL) == 0, -EINVAL);
	signal(SIGPIPE, SIG_IGN);
	srv->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	ENSURE(srv->sfd >= 0, -errno);
	ks_loop_op_init(&srv->sig_op, signalled);
	return ks_loop_poll_add(srv->loop, &srv->sig_op, srv->sfd, POLLIN, true);
}

static int server_start(struct ks_server *srv, struct ks_config *cfg)
{
	const struct ks_config *c = cfg;

	srv->loop = ks_loop_new(NULL);
	if (!srv->loop) {
		ks_err("cannot create an io_uring: %s", strerror(errno));
		ks_config_free(cfg);
		return -errno;
	}
	TRY(setup_signals(srv));
	srv->keys = ks_ticket_keys_new();
	if (!srv->keys) {
		ks_config_free(cfg);
		return -EIO;
	}
	srv->gen = ks_gen_new(cfg, srv->clk, srv->keys, srv->next_id++);
	ENSURE(srv->gen, errno ? -errno : -EINVAL);
	c = srv->gen->cfg;
	TRY(setup_workers(srv, c));
	TRY(ks_srv_metrics_setup(srv, srv->loop, c, &srv->metrics));
	/*
	 * Listening sockets are bound, keys loaded and the state directory open: nothing else
	 * needs root. Drop now, before the fetcher or any worker starts a thread, since
	 * capabilities are per thread (ks_privdrop refuses to run with more than one).
	 */
	TRY(ks_privdrop(&(struct ks_privdrop){
		.user = c->user,
		.group = c->group,
		.state_dir = c->state_dir,
		.keep_caps = 0,
	}));
	srv->fetcher = ks_gen_fetcher(srv->gen, srv->loop, srv->clk);
	ENSURE(srv->fetcher, -EIO);
	/* The first client should get a staple: wait for the fetches before accepting. */
	wait_settled(srv, srv->gen, srv->fetcher, c->fetch.startup_wait_ms);
	ks_loop_op_init(&srv->ticket_op, ticket_fired);
	ks_loop_op_init(&srv->drain_op, drain_fired);
	srv->ticket_ms = c->ticket_key_lifetime * 1000;
	TRY(ks_loop_timeout(srv->loop, &srv->ticket_op, srv->ticket_ms));
	if (srv->draining)
		return 0;
	TRY(start_workers(srv));
	for (size_t i = 0; i < srv->n_lsn; i++)
		ks_info("listener %s: serving TLS on %s -> %s (%zu workers)", srv->lsn[i].name,
			srv->lsn[i].listen, c->listeners[i].backend, srv->n_workers);
	return 0;
}

struct gen *ks_server_gen(struct ks_server *srv)
{
	return srv->gen;
}

struct ks_fetcher *ks_server_fetcher(struct ks_server *srv)
{
	return srv->fetcher;
}

size_t ks_server_n_listeners(const struct ks_server *srv)
{
	return srv->n_lsn;
}

unsigned ks_server_listener(struct ks_server *srv, size_t i, const char **name, const char **listen,
			    const struct ks_conn_stats **stats)
{
	*name = srv->lsn[i].name;
	*listen = srv->lsn[i].listen;
	*stats = &srv->lsn[i].stats;
	return atomic_load_explicit(&srv->lsn[i].conns, memory_order_relaxed);
}

int ks_server_run(const struct ks_server_opts *opts)
{
	struct ks_server *srv = calloc(1, sizeof(*srv));
	struct ks_config *cfg;
	int ret;

	ENSURE(srv, -ENOMEM);
	srv->sfd = -1;
	srv->next_id = 1;
	srv->clk = opts->clk ? opts->clk : &ks_clock_real;
	srv->config_path = opts->config_path;
	srv->allow_insecure_keys = opts->allow_insecure_keys;
	ret = ks_config_load(opts->config_path, &cfg);
	if (ret < 0) {
		free(srv);
		return ret;
	}
	cfg->allow_insecure_key_permissions |= opts->allow_insecure_keys;
	ks_log_set_level(cfg->log_level);
	if (!cfg->n_listeners) {
		ks_err("%s: no [listener:NAME] section: nothing to serve", opts->config_path);
		ks_config_free(cfg);
		free(srv);
		return -EINVAL;
	}
	ret = server_start(srv, cfg);
	while (ret == 0 && (!srv->draining || atomic_load(&srv->workers_running) > 0)) {
		if (srv->draining && !atomic_load(&srv->workers_running))
			break;
		ret = ks_loop_run_once(srv->loop, -1);
		ret = ret > 0 ? 0 : ret;
		if (srv->reload_requested && !srv->draining) {
			srv->reload_requested = false;
			reload(srv);
		}
		if (!srv->draining && srv->n_workers && !atomic_load(&srv->workers_running)) {
			ks_err("every worker has stopped");
			ret = -EIO;
		}
	}
	server_free(srv);
	if (ret == 0)
		ks_info("stopped");
	return ret;
}

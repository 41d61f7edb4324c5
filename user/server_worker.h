/* SPDX-License-Identifier: MIT */
/*
 * The threads of `kstaple serve`, shared by server.c (threads, signals, reload) and
 * server_accept.c (accepting within the descriptor budget). Nothing else looks inside.
 */
#ifndef KSTAPLE_SERVER_WORKER_H
#define KSTAPLE_SERVER_WORKER_H

#include <pthread.h>
#include <stdatomic.h>

#include "kstaple/fd_budget.h"
#include "server_internal.h"

#define LISTEN_BACKLOG 4096
#define LOOP_FDS       2   /* a worker's ring and its wake-up eventfd */
#define CONTROL_SLOTS  16  /* metrics and control clients at once (8 each) */
#define RESUME_MS      100 /* accept paused (max_connections, EMFILE): try again after this long */

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
	bool multi;	      /* the armed accept is multishot */
	bool claimed;	      /* the armed one-shot accept holds a budget slot */
	bool waiting;	      /* no budget left: waiting for a connection to close */
	bool blocked;	      /* ... with clients in the accept queue (ks_fd_budget_pause) */
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
	/* Budget wake-ups from other workers (see wake_waiters()). */
	atomic_bool budget_wait, exiting;
	atomic_uint wakers;
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
	uint64_t nofile;
	struct ks_fd_budget budget;
	atomic_uint budget_waiters; /* workers with budget_wait set */
};

/* A listener of worker w, idle, without its socket yet. */
void ks_srv_accept_init(struct wlistener *wl, struct worker *w, size_t idx);
/* Bring wl's accept in line with the budget and max_connections (worker thread). */
void ks_srv_accept_update(struct wlistener *wl);
/* Measure the descriptors and set srv->budget, before the workers start. Logged. */
KS_MUST_CHECK int ks_srv_plan_budget(struct ks_server *srv, const struct ks_config *c);

#endif /* KSTAPLE_SERVER_WORKER_H */

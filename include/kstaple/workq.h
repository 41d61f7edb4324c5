/* SPDX-License-Identifier: MIT */
/*
 * workq: a few worker threads for blocking work (fsync, CPU-heavy verification) whose results
 * come back to a struct ks_loop's thread.
 *
 * ks_workq_push() queues a job; a worker calls job->run(); the loop thread later calls
 * job->done() (completions are signalled through an eventfd watched on the ring). Jobs are
 * owned by the caller and must stay valid until done() has been called. Everything except
 * run() happens on the loop's thread.
 */
#ifndef KSTAPLE_WORKQ_H
#define KSTAPLE_WORKQ_H

#include "kstaple/common.h"
#include "kstaple/loop.h"

struct ks_work {
	void (*run)(struct ks_work *w);	 /* on a worker thread */
	void (*done)(struct ks_work *w); /* on the loop thread, after run() */
	struct ks_work *next;		 /* private */
};

struct ks_workq;

/* threads >= 1. NULL + errno. */
struct ks_workq *ks_workq_new(struct ks_loop *loop, unsigned threads);
/* Queue w (run() and done() set by the caller). */
void ks_workq_push(struct ks_workq *q, struct ks_work *w);
/* Jobs pushed and whose done() has not been called yet. */
unsigned ks_workq_pending(const struct ks_workq *q);
/*
 * Let the workers finish every queued job, join them, and drop the completions: done() is
 * not called for jobs still pending, so the caller frees what they own afterwards.
 */
void ks_workq_free(struct ks_workq *q);

#endif /* KSTAPLE_WORKQ_H */

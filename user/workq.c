// SPDX-License-Identifier: MIT
/*
 * workq: worker threads reporting back to the io_uring loop (include/kstaple/workq.h).
 *
 * Two singly linked lists under one mutex: todo (loop -> workers, signalled by a condition
 * variable) and finished (workers -> loop, signalled by an eventfd with a multishot poll on
 * the ring). The loop drains the finished list in one swap per wake-up, so a burst of
 * completions costs one CQE.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kstaple/log.h"
#include "kstaple/workq.h"

struct ks_workq {
	struct ks_loop *loop;
	struct ks_loop_op op; /* poll on efd; the release function frees the whole struct */
	int efd;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct ks_work *todo_head, *todo_tail;
	struct ks_work *finished; /* LIFO; reversed when drained */
	bool stopping;
	unsigned pending;
	unsigned n_threads;
	pthread_t *threads;
};

static void *worker(void *arg)
{
	struct ks_workq *q = arg;
	struct ks_work *w;
	uint64_t one = 1;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (!q->todo_head && !q->stopping)
			pthread_cond_wait(&q->cond, &q->lock);
		w = q->todo_head;
		if (!w)
			break; /* stopping and nothing left */
		q->todo_head = w->next;
		if (!q->todo_head)
			q->todo_tail = NULL;
		pthread_mutex_unlock(&q->lock);
		w->run(w);
		pthread_mutex_lock(&q->lock);
		w->next = q->finished;
		q->finished = w;
		/* Only the first completion of a batch needs to wake the loop. */
		if (!w->next && write(q->efd, &one, sizeof(one)) < 0)
			ks_warn("work queue: cannot wake the event loop");
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

static void drain(struct ks_workq *q)
{
	struct ks_work *list, *rev = NULL, *w;

	pthread_mutex_lock(&q->lock);
	list = q->finished;
	q->finished = NULL;
	pthread_mutex_unlock(&q->lock);
	while (list) { /* oldest first */
		w = list;
		list = w->next;
		w->next = rev;
		rev = w;
	}
	while ((w = rev)) {
		rev = w->next;
		q->pending--;
		w->done(w);
	}
}

static void efd_cb(struct ks_loop_op *op, int res, uint32_t flags)
{
	struct ks_workq *q = container_of(op, struct ks_workq, op);
	uint64_t v;

	if (res > 0 && read(q->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		ks_warn("work queue: reading the eventfd: %s", strerror(errno));
	if (res == -ECANCELED)
		return;
	drain(q);
	if (!(flags & IORING_CQE_F_MORE) && !ks_loop_op_busy(op) &&
	    ks_loop_poll_add(q->loop, op, q->efd, POLLIN, true) < 0)
		ks_err("work queue: cannot watch the eventfd: results will be lost");
}

void ks_workq_push(struct ks_workq *q, struct ks_work *w)
{
	w->next = NULL;
	q->pending++;
	pthread_mutex_lock(&q->lock);
	if (q->todo_tail)
		q->todo_tail->next = w;
	else
		q->todo_head = w;
	q->todo_tail = w;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

unsigned ks_workq_pending(const struct ks_workq *q)
{
	return q->pending;
}

static void workq_release(struct ks_loop_op *op)
{
	struct ks_workq *q = container_of(op, struct ks_workq, op);

	close(q->efd);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	free(q->threads);
	free(q);
}

struct ks_workq *ks_workq_new(struct ks_loop *loop, unsigned threads)
{
	struct ks_workq *q = calloc(1, sizeof(*q));
	int ret = 0;

	if (!q)
		return NULL;
	q->loop = loop;
	q->threads = calloc(threads ? threads : 1, sizeof(*q->threads));
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	ks_loop_op_init(&q->op, efd_cb);
	if (!q->threads || q->efd < 0)
		goto fail;
	ret = ks_loop_poll_add(loop, &q->op, q->efd, POLLIN, true);
	if (ret < 0)
		goto fail;
	for (q->n_threads = 0; q->n_threads < (threads ? threads : 1); q->n_threads++) {
		ret = pthread_create(&q->threads[q->n_threads], NULL, worker, q);
		if (ret) {
			ks_workq_free(q);
			errno = ret;
			return NULL;
		}
	}
	return q;
fail:
	if (q->efd >= 0)
		close(q->efd);
	free(q->threads);
	free(q);
	errno = ret ? -ret : ENOMEM;
	return NULL;
}

void ks_workq_free(struct ks_workq *q)
{
	unsigned i;

	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	for (i = 0; i < q->n_threads; i++)
		pthread_join(q->threads[i], NULL);
	/* The poll may still complete: the struct goes when the loop says it is safe. */
	ks_loop_release(q->loop, &q->op, workq_release);
}

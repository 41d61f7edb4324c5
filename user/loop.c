// SPDX-License-Identifier: MIT
/*
 * loop: an io_uring event loop with typed user_data (see include/kstaple/loop.h for the op
 * lifetime rules). Modelled on liburing's examples: one ring per thread, one dispatcher.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kstaple/clock.h"
#include "kstaple/log.h"
#include "kstaple/loop.h"

#define KS_LOOP_BATCH	    64
#define KS_LOOP_DRAIN_MS    1000
#define KS_LOOP_DEFAULT_SQE 256

struct ks_loop {
	struct io_uring ring;
	bool defer_taskrun;
	bool closing;
	bool in_run; /* catches callbacks that re-enter ks_loop_run_once() */
	atomic_bool stop;
	int wake_fd;
	struct ks_loop_op wake_op;
	struct ks_loop_op busy; /* list head: ops the kernel may still complete */
	unsigned n_busy;
};

void ks_loop_op_init(struct ks_loop_op *op, ks_loop_cb cb)
{
	memset(op, 0, sizeof(*op));
	op->cb = cb;
}

static void busy_link(struct ks_loop *loop, struct ks_loop_op *op)
{
	if (op->linked)
		return;
	op->next = loop->busy.next;
	op->prev = &loop->busy;
	loop->busy.next->prev = op;
	loop->busy.next = op;
	op->linked = true;
	loop->n_busy++;
}

static void busy_unlink(struct ks_loop *loop, struct ks_loop_op *op)
{
	if (!op->linked)
		return;
	op->prev->next = op->next;
	op->next->prev = op->prev;
	op->prev = op->next = NULL;
	op->linked = false;
	loop->n_busy--;
}

struct io_uring_sqe *ks_loop_sqe(struct ks_loop *loop)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);
	int ret;

	if (sqe)
		return sqe;
	/* SQ full: hand what is queued to the kernel and take a fresh slot. */
	ret = io_uring_submit(&loop->ring);
	if (ret < 0) {
		errno = -ret;
		return NULL;
	}
	sqe = io_uring_get_sqe(&loop->ring);
	if (!sqe)
		errno = EBUSY;
	return sqe;
}

void ks_loop_arm(struct ks_loop *loop, struct ks_loop_op *op, struct io_uring_sqe *sqe,
		 bool multishot)
{
	io_uring_sqe_set_data(sqe, op);
	op->state = KS_LOOP_OP_ARMED;
	op->multishot = multishot;
	if (op->kind == KS_LOOP_KIND_NONE)
		op->kind = KS_LOOP_KIND_OTHER;
	busy_link(loop, op);
}

int ks_loop_poll_add(struct ks_loop *loop, struct ks_loop_op *op, int fd, unsigned mask,
		     bool multishot)
{
	struct io_uring_sqe *sqe;

	ENSURE(!ks_loop_op_busy(op), -EBUSY);
	sqe = ks_loop_sqe(loop);
	ENSURE(sqe, -errno);
	if (multishot)
		io_uring_prep_poll_multishot(sqe, fd, mask);
	else
		io_uring_prep_poll_add(sqe, fd, mask);
	op->kind = KS_LOOP_KIND_POLL;
	ks_loop_arm(loop, op, sqe, multishot);
	return 0;
}

static void deadline_to_ts(struct ks_loop_op *op)
{
	op->ts.tv_sec = op->deadline_ms / 1000;
	op->ts.tv_nsec = (op->deadline_ms % 1000) * 1000000;
}

/* Absolute CLOCK_MONOTONIC timeouts make a re-arm after a stale expiry exact. */
static int timeout_submit(struct ks_loop *loop, struct ks_loop_op *op)
{
	struct io_uring_sqe *sqe = ks_loop_sqe(loop);

	ENSURE(sqe, -errno);
	deadline_to_ts(op);
	io_uring_prep_timeout(sqe, &op->ts, 0, IORING_TIMEOUT_ABS);
	op->kind = KS_LOOP_KIND_TIMEOUT;
	ks_loop_arm(loop, op, sqe, false);
	return 0;
}

int ks_loop_timeout(struct ks_loop *loop, struct ks_loop_op *op, int64_t ms)
{
	struct io_uring_sqe *sqe;

	if (ms < 0)
		ms = 0;
	switch (op->state) {
	case KS_LOOP_OP_IDLE:
		op->deadline_ms = ks_monotonic_ms() + ms;
		return timeout_submit(loop, op);
	case KS_LOOP_OP_ARMED:
		ENSURE(op->kind == KS_LOOP_KIND_TIMEOUT, -EBUSY);
		/*
		 * Move the pending timeout. If it already expired, the update fails with
		 * -ENOENT (ignored) and the dispatcher sees the expiry is earlier than the
		 * new deadline and re-arms it.
		 */
		sqe = ks_loop_sqe(loop);
		ENSURE(sqe, -errno);
		op->deadline_ms = ks_monotonic_ms() + ms;
		deadline_to_ts(op);
		io_uring_prep_timeout_update(sqe, &op->ts, (uint64_t)(uintptr_t)op,
					     IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data64(sqe, 0);
		return 0;
	default:
		return -EBUSY;
	}
}

/*
 * IORING_OP_ASYNC_CANCEL for every kind: it finds polls and timeouts too, and it marks a poll
 * cancelled even while a wake-up is being processed, where IORING_OP_POLL_REMOVE fails with
 * -ENOENT and leaves a multishot poll armed.
 */
static void queue_cancel(struct io_uring_sqe *sqe, struct ks_loop_op *op)
{
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, 0);
	io_uring_sqe_set_data64(sqe, 0);
}

int ks_loop_cancel(struct ks_loop *loop, struct ks_loop_op *op)
{
	struct io_uring_sqe *sqe;

	if (op->state == KS_LOOP_OP_IDLE)
		return -EALREADY;
	if (op->state != KS_LOOP_OP_ARMED)
		return 0; /* a cancel is already on its way */
	sqe = ks_loop_sqe(loop);
	ENSURE(sqe, -errno);
	/*
	 * The removal may find nothing (-ENOENT) when the request completed meanwhile; its
	 * completion is then already queued and becomes the final one. Either way exactly one
	 * final completion still names op.
	 */
	queue_cancel(sqe, op);
	op->state = KS_LOOP_OP_CANCELLING;
	return 0;
}

void ks_loop_release(struct ks_loop *loop, struct ks_loop_op *op, ks_loop_release_fn release)
{
	int ret;

	if (op->state == KS_LOOP_OP_IDLE) {
		release(op);
		return;
	}
	op->release = release;
	if (op->state == KS_LOOP_OP_ARMED) {
		ret = ks_loop_cancel(loop, op);
		if (ret < 0)
			/* Not fatal: release() still runs when the request completes. */
			ks_warn("event loop: cannot queue a cancellation: %s", strerror(-ret));
	}
	op->state = KS_LOOP_OP_RELEASED;
}

static void dispatch(struct ks_loop *loop, uint64_t ud, int res, uint32_t flags)
{
	struct ks_loop_op *op = (struct ks_loop_op *)(uintptr_t)ud;
	bool final;
	uint8_t state;
	int ret;

	if (!op)
		return; /* completion of a cancel or an update */
	final = !op->multishot || !(flags & IORING_CQE_F_MORE);
	if (op->kind == KS_LOOP_KIND_TIMEOUT && res == -ETIME && op->state == KS_LOOP_OP_ARMED &&
	    ks_monotonic_ms() < op->deadline_ms) {
		/* Expired before a later ks_loop_timeout() moved it: arm the new deadline. */
		busy_unlink(loop, op);
		op->state = KS_LOOP_OP_IDLE;
		ret = timeout_submit(loop, op);
		if (ret == 0)
			return;
		res = ret;
	}
	state = op->state;
	if (!final) {
		/*
		 * A multishot op being cancelled is still armed: the cancel raced with this
		 * event, so ask again. The event itself is real (an accepted socket, say) and
		 * goes to the owner unless the op was released: dropping it would leak what it
		 * carries.
		 */
		if (state != KS_LOOP_OP_ARMED) {
			struct io_uring_sqe *sqe = ks_loop_sqe(loop);

			if (sqe)
				queue_cancel(sqe, op);
		}
		if (state != KS_LOOP_OP_RELEASED)
			op->cb(op, res, flags);
		return;
	}
	op->state = KS_LOOP_OP_IDLE;
	busy_unlink(loop, op);
	if (state == KS_LOOP_OP_RELEASED)
		op->release(op);
	else
		op->cb(op, res, flags);
}

static int reap(struct ks_loop *loop)
{
	struct io_uring_cqe *cqes[KS_LOOP_BATCH];
	struct {
		uint64_t ud;
		int res;
		uint32_t flags;
	} batch[KS_LOOP_BATCH];
	unsigned n, i;
	int total = 0;

	/*
	 * Copy a batch out and advance the CQ before calling back: callbacks may submit, free
	 * objects and queue more work, and must never see a half-consumed ring.
	 */
	do {
		n = io_uring_peek_batch_cqe(&loop->ring, cqes, KS_LOOP_BATCH);
		for (i = 0; i < n; i++) {
			batch[i].ud = cqes[i]->user_data;
			batch[i].res = cqes[i]->res;
			batch[i].flags = cqes[i]->flags;
		}
		io_uring_cq_advance(&loop->ring, n);
		for (i = 0; i < n; i++)
			dispatch(loop, batch[i].ud, batch[i].res, batch[i].flags);
		total += (int)n;
	} while (n == KS_LOOP_BATCH);
	return total;
}

int ks_loop_run_once(struct ks_loop *loop, int max_wait_ms)
{
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	int ret;

	ENSURE(!loop->in_run, -EDEADLK);
	if (max_wait_ms == 0) {
		ret = io_uring_submit_and_get_events(&loop->ring);
	} else if (max_wait_ms < 0) {
		ret = io_uring_submit_and_wait(&loop->ring, 1);
	} else {
		ts.tv_sec = max_wait_ms / 1000;
		ts.tv_nsec = (long long)(max_wait_ms % 1000) * 1000000;
		ret = io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, &ts, NULL);
	}
	if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
		return ret;
	loop->in_run = true;
	ret = reap(loop);
	loop->in_run = false;
	return ret;
}

int ks_loop_run(struct ks_loop *loop)
{
	int ret = 0;

	while (!atomic_load(&loop->stop)) {
		ret = ks_loop_run_once(loop, -1);
		if (ret < 0)
			break;
	}
	atomic_store(&loop->stop, false);
	return ret < 0 ? ret : 0;
}

void ks_loop_wake(struct ks_loop *loop)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is saturated: a wake-up is pending anyway. */
	if (write(loop->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		ks_warn("event loop: wake-up failed: %s", strerror(errno));
}

void ks_loop_stop(struct ks_loop *loop)
{
	atomic_store(&loop->stop, true);
	ks_loop_wake(loop);
}

bool ks_loop_stopping(const struct ks_loop *loop)
{
	return atomic_load(&loop->stop);
}

static void wake_cb(struct ks_loop_op *op, int res, uint32_t flags)
{
	struct ks_loop *loop = container_of(op, struct ks_loop, wake_op);
	uint64_t v;

	if (res > 0 && read(loop->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		ks_warn("event loop: reading the wake-up eventfd: %s", strerror(errno));
	/* The kernel may end a multishot poll (e.g. on overflow): watch the eventfd again. */
	if (!(flags & IORING_CQE_F_MORE) && !loop->closing && res != -ECANCELED &&
	    ks_loop_poll_add(loop, op, loop->wake_fd, POLLIN, true) < 0)
		ks_err("event loop: cannot watch the wake-up eventfd");
}

bool ks_loop_defer_taskrun(const struct ks_loop *loop)
{
	return loop->defer_taskrun;
}

unsigned ks_loop_busy(const struct ks_loop *loop)
{
	return loop->n_busy - (ks_loop_op_busy(&loop->wake_op) ? 1 : 0);
}

static int ring_init(struct ks_loop *loop, unsigned entries, bool no_defer)
{
	struct io_uring_params p;
	int ret = -EINVAL;

	if (!no_defer) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL |
			  IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
		p.cq_entries = entries * 4;
		ret = io_uring_queue_init_params(entries, &loop->ring, &p);
		if (ret == 0) {
			loop->defer_taskrun = true;
			return 0;
		}
	}
	if (ret != -EINVAL)
		return ret;
	/* Kernels before 6.1 reject DEFER_TASKRUN (and before 5.18 SUBMIT_ALL). */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE;
	p.cq_entries = entries * 4;
	return io_uring_queue_init_params(entries, &loop->ring, &p);
}

struct ks_loop *ks_loop_new(const struct ks_loop_params *params)
{
	unsigned entries = params && params->entries ? params->entries : KS_LOOP_DEFAULT_SQE;
	struct ks_loop *loop = calloc(1, sizeof(*loop));
	int ret;

	if (!loop)
		return NULL;
	loop->busy.next = loop->busy.prev = &loop->busy;
	loop->wake_fd = -1;
	ret = ring_init(loop, entries, params && params->no_defer);
	if (ret < 0)
		goto fail;
	loop->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (loop->wake_fd < 0) {
		ret = -errno;
		io_uring_queue_exit(&loop->ring);
		goto fail;
	}
	ks_loop_op_init(&loop->wake_op, wake_cb);
	ret = ks_loop_poll_add(loop, &loop->wake_op, loop->wake_fd, POLLIN, true);
	if (ret == 0)
		ret = io_uring_submit(&loop->ring);
	if (ret < 0) {
		close(loop->wake_fd);
		io_uring_queue_exit(&loop->ring);
		goto fail;
	}
	return loop;
fail:
	free(loop);
	errno = -ret;
	return NULL;
}

void ks_loop_free(struct ks_loop *loop)
{
	struct ks_loop_op *op;
	int64_t end;

	if (!loop)
		return;
	loop->closing = true;
	/* Final completions still reference caller memory: deliver them before leaving. */
	for (op = loop->busy.next; op != &loop->busy; op = op->next)
		if (op->state == KS_LOOP_OP_ARMED && ks_loop_cancel(loop, op) < 0)
			break;
	end = ks_monotonic_ms() + KS_LOOP_DRAIN_MS;
	while (loop->n_busy && ks_monotonic_ms() < end)
		if (ks_loop_run_once(loop, 50) < 0)
			break;
	if (loop->n_busy)
		ks_warn("event loop: %u requests still pending at shutdown", loop->n_busy);
	io_uring_queue_exit(&loop->ring);
	close(loop->wake_fd);
	free(loop);
}

// SPDX-License-Identifier: MIT
/* loop: readiness, multishot, cancellation lifetimes, timeouts, wake-ups, SQ overflow. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kstaple/clock.h"
#include "kstaple/loop.h"

struct probe {
	struct ks_loop_op op;
	int calls;
	int res;
	uint32_t flags;
	int released;
	int id;
	int *order; /* shared log of ids, for ordering tests */
	int *n_order;
};

static void probe_cb(struct ks_loop_op *op, int res, uint32_t flags)
{
	struct probe *p = container_of(op, struct probe, op);

	p->calls++;
	p->res = res;
	p->flags = flags;
	if (p->order)
		p->order[(*p->n_order)++] = p->id;
}

static void probe_release(struct ks_loop_op *op)
{
	struct probe *p = container_of(op, struct probe, op);

	p->released++;
}

static struct ks_loop *new_loop(void)
{
	struct ks_loop *loop = ks_loop_new(NULL);

	if (!loop && (errno == ENOSYS || errno == EPERM))
		cr_skip_test("io_uring unavailable: %s", strerror(errno));
	cr_assert_not_null(loop, "ks_loop_new: %s", strerror(errno));
	return loop;
}

static void init_probe(struct probe *p)
{
	memset(p, 0, sizeof(*p));
	ks_loop_op_init(&p->op, probe_cb);
}

/* Run until cond or deadline; returns elapsed ms. */
#define RUN_UNTIL(loop, cond, ms)                                       \
	({                                                              \
		int64_t __t0 = ks_monotonic_ms();                       \
		while (!(cond) && ks_monotonic_ms() - __t0 < (ms))      \
			cr_assert_geq(ks_loop_run_once((loop), 50), 0); \
		ks_monotonic_ms() - __t0;                               \
	})

Test(loop, uses_defer_taskrun_when_the_kernel_has_it)
{
	struct ks_loop *loop = new_loop();

	/* Kernel 6.1+ accepts SINGLE_ISSUER|DEFER_TASKRUN; older ones fall back silently. */
	cr_log_info("defer_taskrun=%d", ks_loop_defer_taskrun(loop));
	cr_assert_eq(ks_loop_busy(loop), 0);
	ks_loop_free(loop);
}

Test(loop, poll_delivers_readiness_once)
{
	struct ks_loop *loop = new_loop();
	struct probe p;
	int fds[2];

	cr_assert_eq(pipe2(fds, O_NONBLOCK), 0);
	init_probe(&p);
	cr_assert_eq(ks_loop_poll_add(loop, &p.op, fds[0], POLLIN, false), 0);
	cr_assert(ks_loop_op_busy(&p.op));
	/* Nothing ready: a bounded wait returns without a callback. */
	cr_assert_eq(ks_loop_run_once(loop, 20), 0);
	cr_assert_eq(p.calls, 0);
	cr_assert_eq(write(fds[1], "x", 1), 1);
	RUN_UNTIL(loop, p.calls > 0, 2000);
	cr_assert_eq(p.calls, 1);
	cr_assert(p.res & POLLIN, "res=%d", p.res);
	cr_assert_not(ks_loop_op_busy(&p.op), "one-shot poll must be idle after its completion");
	cr_assert_eq(ks_loop_busy(loop), 0);
	/* One-shot: no further callbacks even though the pipe stays readable. */
	cr_assert_geq(ks_loop_run_once(loop, 30), 0);
	cr_assert_eq(p.calls, 1);
	ks_loop_free(loop);
	close(fds[0]);
	close(fds[1]);
}

Test(loop, pollout_on_a_writable_pipe)
{
	struct ks_loop *loop = new_loop();
	struct probe p;
	int fds[2];

	cr_assert_eq(pipe2(fds, O_NONBLOCK), 0);
	init_probe(&p);
	cr_assert_eq(ks_loop_poll_add(loop, &p.op, fds[1], POLLOUT, false), 0);
	RUN_UNTIL(loop, p.calls > 0, 2000);
	cr_assert(p.res & POLLOUT);
	cr_assert_not(p.res & POLLIN);
	ks_loop_free(loop);
	close(fds[0]);
	close(fds[1]);
}

Test(loop, poll_on_a_bad_fd_reports_an_error)
{
	struct ks_loop *loop = new_loop();
	struct probe p;

	init_probe(&p);
	cr_assert_eq(ks_loop_poll_add(loop, &p.op, 1000000, POLLIN, false), 0);
	RUN_UNTIL(loop, p.calls > 0, 2000);
	cr_assert_eq(p.res, -EBADF);
	cr_assert_not(ks_loop_op_busy(&p.op));
	ks_loop_free(loop);
}

Test(loop, multishot_continues_until_cancelled)
{
	struct ks_loop *loop = new_loop();
	struct probe p;
	uint64_t v = 1;
	int efd = eventfd(0, EFD_NONBLOCK);
	int i;

	init_probe(&p);
	cr_assert_eq(ks_loop_poll_add(loop, &p.op, efd, POLLIN, true), 0);
	for (i = 1; i <= 3; i++) {
		cr_assert_eq(write(efd, &v, sizeof(v)), 8);
		RUN_UNTIL(loop, p.calls >= i, 2000);
		cr_assert_eq(p.calls, i);
		cr_assert(p.flags & IORING_CQE_F_MORE, "multishot must stay armed");
		cr_assert(ks_loop_op_busy(&p.op));
		cr_assert_eq(read(efd, &v, sizeof(v)), 8);
		v = 1;
	}
	cr_assert_eq(ks_loop_cancel(loop, &p.op), 0);
	RUN_UNTIL(loop, !ks_loop_op_busy(&p.op), 2000);
	cr_assert_eq(p.calls, 4, "exactly one final callback after cancel");
	cr_assert_eq(p.res, -ECANCELED);
	cr_assert_not(p.flags & IORING_CQE_F_MORE);
	cr_assert_eq(ks_loop_cancel(loop, &p.op), -EALREADY);
	ks_loop_free(loop);
	close(efd);
}

Test(loop, release_never_calls_back_and_frees_once)
{
	struct ks_loop *loop = new_loop();
	struct probe *p = malloc(sizeof(*p));
	struct probe idle;
	int fds[2];

	cr_assert_eq(pipe2(fds, O_NONBLOCK), 0);
	init_probe(p);
	cr_assert_eq(ks_loop_poll_add(loop, &p->op, fds[0], POLLIN, true), 0);
	cr_assert_eq(ks_loop_run_once(loop, 0), 0); /* the poll is in the kernel now */
	/* Data arrives in the same window as the release: the result must be dropped. */
	cr_assert_eq(write(fds[1], "x", 1), 1);
	ks_loop_release(loop, &p->op, probe_release);
	cr_assert_eq(p->released, 0, "release must wait for the final completion");
	RUN_UNTIL(loop, p->released, 2000);
	cr_assert_eq(p->released, 1);
	cr_assert_eq(p->calls, 0, "no callback after release");
	cr_assert_eq(ks_loop_busy(loop), 0);
	free(p);
	/* More traffic on the fd reaches nobody. */
	cr_assert_eq(write(fds[1], "y", 1), 1);
	cr_assert_geq(ks_loop_run_once(loop, 30), 0);

	init_probe(&idle);
	ks_loop_release(loop, &idle.op, probe_release);
	cr_assert_eq(idle.released, 1, "an idle op is released at once");
	ks_loop_free(loop);
	close(fds[0]);
	close(fds[1]);
}

Test(loop, release_before_submission)
{
	struct ks_loop *loop = new_loop();
	struct probe p;
	int fds[2];

	cr_assert_eq(pipe2(fds, O_NONBLOCK), 0);
	cr_assert_eq(write(fds[1], "x", 1), 1);
	init_probe(&p);
	/* Armed and released while both requests still sit in the SQ. */
	cr_assert_eq(ks_loop_poll_add(loop, &p.op, fds[0], POLLIN, false), 0);
	ks_loop_release(loop, &p.op, probe_release);
	RUN_UNTIL(loop, p.released, 2000);
	cr_assert_eq(p.released, 1);
	cr_assert_eq(p.calls, 0);
	ks_loop_free(loop);
	close(fds[0]);
	close(fds[1]);
}

Test(loop, timeouts_fire_in_order)
{
	struct ks_loop *loop = new_loop();
	static const int ms[] = { 90, 30, 60, 0 };
	struct probe p[4];
	int order[8], n_order = 0, i;
	int64_t t0 = ks_monotonic_ms(), took;

	for (i = 0; i < 4; i++) {
		init_probe(&p[i]);
		p[i].id = ms[i];
		p[i].order = order;
		p[i].n_order = &n_order;
		cr_assert_eq(ks_loop_timeout(loop, &p[i].op, ms[i]), 0);
	}
	took = RUN_UNTIL(loop, n_order == 4, 3000);
	cr_assert_eq(n_order, 4);
	cr_assert_eq(order[0], 0);
	cr_assert_eq(order[1], 30);
	cr_assert_eq(order[2], 60);
	cr_assert_eq(order[3], 90);
	for (i = 0; i < 4; i++)
		cr_assert_eq(p[i].res, -ETIME);
	cr_assert_geq(ks_monotonic_ms() - t0, 90);
	cr_assert_lt(took, 1000);
	ks_loop_free(loop);
}

Test(loop, idle_wait_blocks_until_the_timeout)
{
	struct ks_loop *loop = new_loop();
	struct probe t;
	int64_t t0;
	int wakeups = 0, ret;

	init_probe(&t);
	cr_assert_eq(ks_loop_timeout(loop, &t.op, 150), 0);
	t0 = ks_monotonic_ms();
	/* Unbounded waits: each must return only because the timer fired (no spinning). */
	while (!t.calls) {
		ret = ks_loop_run_once(loop, -1);
		cr_assert_geq(ret, 0);
		wakeups++;
	}
	cr_assert_geq(ks_monotonic_ms() - t0, 145);
	cr_assert_leq(wakeups, 2, "woke %d times before the timer: busy loop", wakeups);
	/* And a bounded wait with nothing armed sleeps for its whole bound. */
	t0 = ks_monotonic_ms();
	cr_assert_eq(ks_loop_run_once(loop, 100), 0);
	cr_assert_geq(ks_monotonic_ms() - t0, 95);
	ks_loop_free(loop);
}

Test(loop, timeout_update_moves_the_deadline)
{
	struct ks_loop *loop = new_loop();
	struct probe a, b;
	int64_t t0 = ks_monotonic_ms();

	init_probe(&a);
	init_probe(&b);
	cr_assert_eq(ks_loop_timeout(loop, &a.op, 40), 0);
	cr_assert_eq(ks_loop_timeout(loop, &b.op, 1000), 0);
	cr_assert_eq(ks_loop_run_once(loop, 0), 0);
	cr_assert_eq(ks_loop_timeout(loop, &a.op, 250), 0); /* later */
	cr_assert_eq(ks_loop_timeout(loop, &b.op, 60), 0);  /* sooner */
	RUN_UNTIL(loop, b.calls, 2000);
	cr_assert_eq(a.calls, 0, "a was pushed back and must not fire at 40 ms");
	cr_assert_lt(ks_monotonic_ms() - t0, 500);
	RUN_UNTIL(loop, a.calls, 2000);
	cr_assert_geq(ks_monotonic_ms() - t0, 245);
	cr_assert_eq(a.calls, 1);
	cr_assert_eq(b.calls, 1);
	ks_loop_free(loop);
}

Test(loop, rearm_after_a_silent_expiry_is_not_reported_early)
{
	struct ks_loop *loop = new_loop();
	struct probe t;
	int64_t t0;

	init_probe(&t);
	cr_assert_eq(ks_loop_timeout(loop, &t.op, 5), 0);
	cr_assert_eq(ks_loop_run_once(loop, 0), 0);
	usleep(40 * 1000); /* the kernel timer expires; its completion is not reaped yet */
	t0 = ks_monotonic_ms();
	cr_assert_eq(ks_loop_timeout(loop, &t.op, 120), 0);
	RUN_UNTIL(loop, t.calls, 2000);
	cr_assert_eq(t.calls, 1);
	cr_assert_geq(ks_monotonic_ms() - t0, 115, "stale expiry reported as the new deadline");
	ks_loop_free(loop);
}

Test(loop, cancelled_timeout_reports_ecanceled_once)
{
	struct ks_loop *loop = new_loop();
	struct probe t;

	init_probe(&t);
	cr_assert_eq(ks_loop_timeout(loop, &t.op, 10000), 0);
	cr_assert_eq(ks_loop_cancel(loop, &t.op), 0);
	cr_assert_eq(ks_loop_cancel(loop, &t.op), 0, "second cancel is a no-op");
	cr_assert_eq(ks_loop_timeout(loop, &t.op, 5), -EBUSY);
	RUN_UNTIL(loop, t.calls, 2000);
	cr_assert_eq(t.calls, 1);
	cr_assert_eq(t.res, -ECANCELED);
	cr_assert_eq(ks_loop_busy(loop), 0);
	ks_loop_free(loop);
}

static void *stopper(void *arg)
{
	usleep(80 * 1000);
	ks_loop_stop(arg);
	return NULL;
}

Test(loop, stop_from_another_thread_ends_run)
{
	struct ks_loop *loop = new_loop();
	pthread_t th;
	int64_t t0 = ks_monotonic_ms();

	cr_assert_eq(pthread_create(&th, NULL, stopper, loop), 0);
	cr_assert_eq(ks_loop_run(loop), 0);
	pthread_join(th, NULL);
	cr_assert_geq(ks_monotonic_ms() - t0, 75);
	cr_assert_lt(ks_monotonic_ms() - t0, 2000);
	cr_assert_not(ks_loop_stopping(loop), "run clears the stop flag");
	/* The wake-up watch was re-armed: a second wake-up still interrupts a wait. */
	ks_loop_wake(loop);
	t0 = ks_monotonic_ms();
	cr_assert_geq(ks_loop_run_once(loop, 2000), 0);
	cr_assert_lt(ks_monotonic_ms() - t0, 1000);
	ks_loop_free(loop);
}

Test(loop, full_submission_queue_is_flushed)
{
	struct ks_loop_params params = { .entries = 4 };
	struct ks_loop *loop = ks_loop_new(&params);
	enum {
		N = 40
	};
	struct probe p[N];
	int fds[N][2], i, done = 0;

	cr_assert_not_null(loop);
	for (i = 0; i < N; i++) {
		cr_assert_eq(pipe2(fds[i], O_NONBLOCK), 0);
		init_probe(&p[i]);
		cr_assert_eq(ks_loop_poll_add(loop, &p[i].op, fds[i][0], POLLIN, false), 0,
			     "poll %d", i);
	}
	cr_assert_eq(ks_loop_busy(loop), N);
	for (i = 0; i < N; i++)
		cr_assert_eq(write(fds[i][1], "x", 1), 1);
	RUN_UNTIL(loop, ks_loop_busy(loop) == 0, 3000);
	for (i = 0; i < N; i++) {
		done += p[i].calls;
		close(fds[i][0]);
		close(fds[i][1]);
	}
	cr_assert_eq(done, N);
	ks_loop_free(loop);
}

Test(loop, fallback_without_defer_taskrun_works)
{
	struct ks_loop_params params = { .no_defer = true };
	struct ks_loop *loop = ks_loop_new(&params);
	struct probe t;

	cr_assert_not_null(loop);
	cr_assert_not(ks_loop_defer_taskrun(loop));
	init_probe(&t);
	cr_assert_eq(ks_loop_timeout(loop, &t.op, 10), 0);
	RUN_UNTIL(loop, t.calls, 2000);
	cr_assert_eq(t.res, -ETIME);
	ks_loop_free(loop);
}

static struct ks_loop *g_loop;
static int g_reentry;

static void reenter_cb(struct ks_loop_op *op, int res, uint32_t flags)
{
	(void)op;
	(void)res;
	(void)flags;
	g_reentry = ks_loop_run_once(g_loop, 0);
}

Test(loop, callbacks_cannot_reenter_the_loop)
{
	struct ks_loop_op op;

	g_loop = new_loop();
	ks_loop_op_init(&op, reenter_cb);
	cr_assert_eq(ks_loop_timeout(g_loop, &op, 0), 0);
	RUN_UNTIL(g_loop, !ks_loop_op_busy(&op), 2000);
	cr_assert_eq(g_reentry, -EDEADLK);
	ks_loop_free(g_loop);
}

Test(loop, free_delivers_final_completions)
{
	struct ks_loop *loop = new_loop();
	struct probe armed, released;
	int fds[2];

	cr_assert_eq(pipe2(fds, O_NONBLOCK), 0);
	init_probe(&armed);
	init_probe(&released);
	cr_assert_eq(ks_loop_poll_add(loop, &armed.op, fds[0], POLLIN, true), 0);
	cr_assert_eq(ks_loop_poll_add(loop, &released.op, fds[0], POLLIN, false), 0);
	cr_assert_eq(ks_loop_run_once(loop, 0), 0);
	ks_loop_release(loop, &released.op, probe_release);
	ks_loop_free(loop);
	cr_assert_eq(armed.calls, 1);
	cr_assert_eq(armed.res, -ECANCELED);
	cr_assert_eq(released.released, 1);
	cr_assert_eq(released.calls, 0);
	close(fds[0]);
	close(fds[1]);
}

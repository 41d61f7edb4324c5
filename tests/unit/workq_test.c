// SPDX-License-Identifier: MIT
/* workq: jobs run on worker threads, completions come back on the loop thread, in bulk. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <unistd.h>

#include "kstaple/clock.h"
#include "kstaple/workq.h"

struct job {
	struct ks_work w;
	pthread_t ran_on, done_on;
	int runs, dones;
	int *finished;
};

static void job_run(struct ks_work *w)
{
	struct job *j = container_of(w, struct job, w);

	j->ran_on = pthread_self();
	j->runs++;
	usleep(2000);
}

static void job_done(struct ks_work *w)
{
	struct job *j = container_of(w, struct job, w);

	j->done_on = pthread_self();
	j->dones++;
	(*j->finished)++;
}

static struct ks_loop *new_loop(void)
{
	struct ks_loop *loop = ks_loop_new(NULL);

	if (!loop)
		cr_skip_test("io_uring unavailable: %s", strerror(errno));
	return loop;
}

Test(workq, runs_on_workers_completes_on_the_loop)
{
	enum {
		N = 64
	};
	struct ks_loop *loop = new_loop();
	struct ks_workq *q = ks_workq_new(loop, 4);
	struct job *jobs = calloc(N, sizeof(*jobs));
	int finished = 0, i;
	int64_t t0 = ks_monotonic_ms();

	cr_assert_not_null(q);
	for (i = 0; i < N; i++) {
		jobs[i].w.run = job_run;
		jobs[i].w.done = job_done;
		jobs[i].finished = &finished;
		ks_workq_push(q, &jobs[i].w);
	}
	cr_assert_eq(ks_workq_pending(q), N);
	while (finished < N && ks_monotonic_ms() - t0 < 10000)
		cr_assert_geq(ks_loop_run_once(loop, 100), 0);
	cr_assert_eq(finished, N);
	cr_assert_eq(ks_workq_pending(q), 0);
	for (i = 0; i < N; i++) {
		cr_assert_eq(jobs[i].runs, 1);
		cr_assert_eq(jobs[i].dones, 1);
		cr_assert_not(pthread_equal(jobs[i].ran_on, pthread_self()),
			      "run on the loop thread");
		cr_assert(pthread_equal(jobs[i].done_on, pthread_self()),
			  "done off the loop thread");
	}
	ks_workq_free(q);
	for (i = 0; i < 3; i++)
		cr_assert_geq(ks_loop_run_once(loop, 20), 0);
	cr_assert_eq(ks_loop_busy(loop), 0, "the eventfd watch was not released");
	ks_loop_free(loop);
	free(jobs);
}

Test(workq, free_finishes_jobs_without_calling_done)
{
	enum {
		N = 16
	};
	struct ks_loop *loop = new_loop();
	struct ks_workq *q = ks_workq_new(loop, 2);
	struct job jobs[N];
	int finished = 0, i;

	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < N; i++) {
		jobs[i].w.run = job_run;
		jobs[i].w.done = job_done;
		jobs[i].finished = &finished;
		ks_workq_push(q, &jobs[i].w);
	}
	ks_workq_free(q);
	for (i = 0; i < N; i++)
		cr_assert_eq(jobs[i].runs, 1, "job %d not run", i);
	for (i = 0; i < 3; i++)
		cr_assert_geq(ks_loop_run_once(loop, 20), 0);
	cr_assert_eq(finished, 0, "done() after ks_workq_free");
	cr_assert_eq(ks_loop_busy(loop), 0);
	ks_loop_free(loop);
}

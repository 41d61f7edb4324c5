// SPDX-License-Identifier: MIT
/* fd_budget: the connection budget from the descriptor limit, accept modes, claims. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kstaple/fd_budget.h"

static struct ks_fd_budget_in in_1024(void)
{
	return (struct ks_fd_budget_in){
		.nofile = 1024,
		.in_use = 20,
		.fetch_slots = 4,
		.control_slots = 16,
		.sockets = 2,
		.backlog = 4096,
	};
}

Test(fd_budget, two_descriptors_per_connection_after_the_spare)
{
	struct ks_fd_budget_in in = in_1024();
	struct ks_fd_plan p;

	cr_assert_eq(ks_fd_spare(&in), KS_FD_SPARE_FIXED + 2 * 4 + 16);
	cr_assert_eq(ks_fd_plan_make(&in, &p), 0);
	/* (1024 - 20 - 40) / 2 = 482 pairs; 482 / 64 = 7 kept for a multishot overshoot. */
	cr_assert_eq(p.spare, 40);
	cr_assert_eq(p.overflow, 7);
	cr_assert_eq(p.conns, 475);
	/* Descriptors at the worst moment: every connection and every overflow one. */
	cr_assert_leq(p.in_use + p.spare + KS_FD_PER_CONN * (p.conns + p.overflow), in.nofile);
	cr_assert_eq(p.multishot_room, 2 * 4096);
	cr_assert_eq(p.resume_room, 475 / 16);
}

Test(fd_budget, odd_descriptor_left_over_is_not_a_connection)
{
	struct ks_fd_budget_in in = in_1024();
	struct ks_fd_plan p;

	/* 20 + 40 + 2 * 3 + 1: three connections and a descriptor that is not enough for one. */
	in.nofile = 67;
	cr_assert_eq(ks_fd_plan_make(&in, &p), 0);
	cr_assert_eq(p.conns, 3);
	cr_assert_eq(p.overflow, 0);
	cr_assert_eq(p.resume_room, 2);
}

Test(fd_budget, too_low_a_limit_is_refused)
{
	struct ks_fd_budget_in in = in_1024();
	struct ks_fd_plan p;

	in.nofile = 61; /* one short of a single connection */
	cr_assert_eq(ks_fd_plan_make(&in, &p), -ENOSPC);
	cr_assert_eq(p.conns, 0);
	in.nofile = 10; /* below what is already open: no underflow */
	cr_assert_eq(ks_fd_plan_make(&in, &p), -ENOSPC);
	cr_assert_eq(p.conns, 0);
	in.nofile = 62;
	cr_assert_eq(ks_fd_plan_make(&in, &p), 0);
	cr_assert_eq(p.conns, 1);
	cr_assert_eq(p.resume_room, 1, "resume_room never exceeds the budget");
}

Test(fd_budget, overflow_reserve_is_capped)
{
	struct ks_fd_budget_in in = in_1024();
	struct ks_fd_plan p;

	in.nofile = 1 << 20;
	cr_assert_eq(ks_fd_plan_make(&in, &p), 0);
	cr_assert_eq(p.overflow, 64);
	cr_assert_eq(p.conns, ((1 << 20) - 60) / 2 - 64);
}

Test(fd_budget, modes_follow_the_room_left)
{
	struct ks_fd_plan p = { .conns = 10000, .multishot_room = 8192 };

	cr_assert_eq(ks_fd_plan_mode(&p, 0), KS_ACCEPT_MULTI);
	cr_assert_eq(ks_fd_plan_mode(&p, 10000 - 8193), KS_ACCEPT_MULTI);
	/* A whole backlog might not fit any more: one slot at a time. */
	cr_assert_eq(ks_fd_plan_mode(&p, 10000 - 8192), KS_ACCEPT_ONE);
	cr_assert_eq(ks_fd_plan_mode(&p, 9999), KS_ACCEPT_ONE);
	cr_assert_eq(ks_fd_plan_mode(&p, 10000), KS_ACCEPT_PAUSE);
	cr_assert_eq(ks_fd_plan_mode(&p, 10070), KS_ACCEPT_PAUSE, "overflow past the budget");
	p.conns = 0;
	cr_assert_eq(ks_fd_plan_mode(&p, 0), KS_ACCEPT_PAUSE);
}

static struct ks_fd_budget *small_budget(uint64_t conns, uint64_t overflow)
{
	static struct ks_fd_budget b;
	struct ks_fd_plan p = {
		.nofile = 100,
		.conns = conns,
		.overflow = overflow,
		.resume_room = 2,
	};

	ks_fd_budget_init(&b, &p);
	return &b;
}

Test(fd_budget, claims_stop_at_the_budget)
{
	struct ks_fd_budget *b = small_budget(3, 1);

	cr_assert(ks_fd_budget_claim(b));
	cr_assert(ks_fd_budget_claim(b));
	cr_assert(ks_fd_budget_claim(b));
	cr_assert_not(ks_fd_budget_claim(b), "a claim past the budget");
	cr_assert_eq(atomic_load(&b->used), 3);
	ks_fd_budget_release(b);
	cr_assert(ks_fd_budget_claim(b));
	cr_assert_eq(atomic_load(&b->used), 3);
}

Test(fd_budget, multishot_overshoot_uses_the_reserve_then_is_refused)
{
	struct ks_fd_budget *b = small_budget(2, 1);

	cr_assert(ks_fd_budget_admit(b));
	cr_assert(ks_fd_budget_admit(b));
	cr_assert(ks_fd_budget_admit(b), "the overflow reserve serves one more");
	cr_assert_not(ks_fd_budget_admit(b));
	cr_assert_not(ks_fd_budget_admit(b));
	cr_assert_eq(atomic_load(&b->used), 3, "a refused connection is not counted");
	cr_assert_eq(atomic_load(&b->overflow_closed), 2);
	cr_assert_not(ks_fd_budget_claim(b), "no one-shot claim while over the budget");
}

Test(fd_budget, one_pause_and_one_resume_per_episode)
{
	struct ks_fd_budget *b = small_budget(4, 0);
	bool s1 = false, s2 = false;

	for (int i = 0; i < 4; i++)
		cr_assert(ks_fd_budget_claim(b));
	ks_fd_budget_pause(b, &s1);
	ks_fd_budget_pause(b, &s2); /* a second socket finds no room either */
	ks_fd_budget_pause(b, &s1); /* and the first again, after a spurious wake-up */
	cr_assert(ks_fd_budget_is_paused(b));
	cr_assert(s1 && s2);
	cr_assert_eq(atomic_load(&b->pauses), 1);
	cr_assert_eq(atomic_load(&b->blocked), 2);
	/* One slot back is taken at once by a queued client: not the end of the episode. */
	ks_fd_budget_release(b);
	cr_assert(ks_fd_budget_claim(b));
	cr_assert(ks_fd_budget_is_paused(b));
	/* Room, but s2 still has clients queued: they come in as connections close. */
	ks_fd_budget_unblock(b, &s1);
	ks_fd_budget_release(b);
	ks_fd_budget_release(b);
	cr_assert(ks_fd_budget_is_paused(b), "resumed while a socket still had clients queued");
	ks_fd_budget_unblock(b, &s2);
	cr_assert_not(ks_fd_budget_is_paused(b), "no socket blocked, two free: resumed");
	cr_assert_eq(atomic_load(&b->blocked), 0);
	ks_fd_budget_unblock(b, &s2); /* not blocked: nothing to undo */
	cr_assert_eq(atomic_load(&b->blocked), 0);
	cr_assert(ks_fd_budget_claim(b));
	cr_assert(ks_fd_budget_claim(b));
	ks_fd_budget_pause(b, &s1);
	cr_assert_eq(atomic_load(&b->pauses), 2, "a new episode");
}

Test(fd_budget, resume_waits_for_resume_room)
{
	struct ks_fd_budget *b = small_budget(4, 0);
	bool s1 = false;

	for (int i = 0; i < 4; i++)
		cr_assert(ks_fd_budget_claim(b));
	ks_fd_budget_pause(b, &s1);
	ks_fd_budget_release(b);
	cr_assert(ks_fd_budget_claim(b)); /* the woken socket's one-shot accept */
	ks_fd_budget_unblock(b, &s1);	  /* ... and nobody else queued */
	cr_assert(ks_fd_budget_is_paused(b), "no free slot yet");
	ks_fd_budget_release(b);
	cr_assert(ks_fd_budget_is_paused(b), "one free slot is less than resume_room");
	ks_fd_budget_release(b);
	cr_assert_not(ks_fd_budget_is_paused(b));
	cr_assert_eq(atomic_load(&b->pauses), 1);
}

struct race {
	struct ks_fd_budget *b;
	int got;
};

static void *claimer(void *arg)
{
	struct race *r = arg;

	for (int i = 0; i < 10000; i++) {
		if (ks_fd_budget_claim(r->b)) {
			r->got++;
			if (i % 3)
				ks_fd_budget_release(r->b);
		}
	}
	return NULL;
}

Test(fd_budget, concurrent_claims_never_exceed_the_budget)
{
	struct ks_fd_budget *b = small_budget(50, 0);
	struct race r[4];
	pthread_t t[4];
	uint64_t kept;

	for (int i = 0; i < 4; i++) {
		r[i] = (struct race){ .b = b };
		cr_assert_eq(pthread_create(&t[i], NULL, claimer, &r[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	kept = atomic_load(&b->used);
	/* Every third successful claim is kept: the budget fills up and stops there. */
	cr_assert_eq(kept, 50);
	cr_assert_not(ks_fd_budget_claim(b));
}

Test(fd_budget, counts_open_descriptors)
{
	uint64_t before = ks_fd_count_open(1024), after;
	int fds[5];

	for (int i = 0; i < 5; i++)
		cr_assert_geq(fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC), 0);
	after = ks_fd_count_open(1024);
	for (int i = 0; i < 5; i++)
		close(fds[i]);
	cr_assert_eq(after, before + 5);
	cr_assert_eq(ks_fd_count_open(1024), before);
	cr_assert_geq(before, 3, "stdin, stdout, stderr at least");
}

Test(fd_budget, backlog_is_capped_by_somaxconn)
{
	uint64_t b = ks_fd_backlog(1u << 30);

	cr_assert_gt(b, 0);
	cr_assert_lt(b, 1u << 30, "net.core.somaxconn caps listen()'s backlog");
	cr_assert_eq(ks_fd_backlog(1), 1);
}

Test(fd_budget, raise_limit_reaches_the_hard_limit)
{
	struct rlimit rl;
	uint64_t got;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max == RLIM_INFINITY)
		cr_skip_test("hard RLIMIT_NOFILE is infinite: nothing to raise to");
	rl.rlim_cur = rl.rlim_max > 64 ? 64 : rl.rlim_max;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	got = ks_fd_raise_limit();
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	cr_assert_eq(got, rl.rlim_max);
	cr_assert_eq(rl.rlim_cur, rl.rlim_max);
}

// SPDX-License-Identifier: MIT
/* fd_budget: connections the descriptor limit allows (see include/kstaple/fd_budget.h). */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kstaple/clock.h"
#include "kstaple/fd_budget.h"
#include "kstaple/log.h"

#define FD_PROBE_MAX 65536 /* without /proc, probe this many descriptors at most */
#define OVERFLOW_MAX 64

uint64_t ks_fd_spare(const struct ks_fd_budget_in *in)
{
	return KS_FD_SPARE_FIXED + 2 * in->fetch_slots + in->control_slots;
}

int ks_fd_plan_make(const struct ks_fd_budget_in *in, struct ks_fd_plan *p)
{
	uint64_t spare = ks_fd_spare(in), pairs = 0;

	if (in->nofile > in->in_use + spare)
		pairs = (in->nofile - in->in_use - spare) / KS_FD_PER_CONN;
	*p = (struct ks_fd_plan){
		.nofile = in->nofile,
		.in_use = in->in_use,
		.spare = spare,
		/* A burst past the budget is rare (see the header): a sixty-fourth is plenty. */
		.overflow = KS_MIN(pairs / 64, (uint64_t)OVERFLOW_MAX),
		.multishot_room = in->sockets * in->backlog,
	};
	p->conns = pairs - p->overflow;
	/*
	 * Hysteresis: at the limit under steady load every close lets one client in; logging
	 * that as a resume and a pause each time is the noise operators complained about.
	 */
	p->resume_room = KS_MIN(KS_MAX(p->conns / 16, (uint64_t)2), p->conns);
	return p->conns ? 0 : -ENOSPC;
}

enum ks_accept_mode ks_fd_plan_mode(const struct ks_fd_plan *p, uint64_t used)
{
	uint64_t room = p->conns > used ? p->conns - used : 0;

	if (!room)
		return KS_ACCEPT_PAUSE;
	return room > p->multishot_room ? KS_ACCEPT_MULTI : KS_ACCEPT_ONE;
}

void ks_fd_budget_init(struct ks_fd_budget *b, const struct ks_fd_plan *p)
{
	b->plan = *p;
	atomic_init(&b->used, 0);
	atomic_init(&b->paused, false);
	atomic_init(&b->blocked, 0);
	atomic_init(&b->paused_at_ms, 0);
	atomic_init(&b->pauses, 0);
	atomic_init(&b->overflow_closed, 0);
}

bool ks_fd_budget_claim(struct ks_fd_budget *b)
{
	uint_fast64_t cur = atomic_load(&b->used);

	do {
		if (cur >= b->plan.conns)
			return false;
	} while (!atomic_compare_exchange_weak(&b->used, &cur, cur + 1));
	return true;
}

bool ks_fd_budget_admit(struct ks_fd_budget *b)
{
	uint_fast64_t prev = atomic_fetch_add(&b->used, 1);

	if (prev < b->plan.conns + b->plan.overflow)
		return true;
	atomic_fetch_sub(&b->used, 1);
	atomic_fetch_add_explicit(&b->overflow_closed, 1, memory_order_relaxed);
	return false;
}

static void maybe_resume(struct ks_fd_budget *b, uint64_t used)
{
	const struct ks_fd_plan *p = &b->plan;
	if (!atomic_load(&b->paused) || atomic_load(&b->blocked) ||
	    used + p->resume_room > p->conns || !atomic_exchange(&b->paused, false))
		return;
	ks_info("descriptor limit: connections closed, %llu of %llu in use: accepting again after "
		"%.1f s paused",
		(unsigned long long)used, (unsigned long long)p->conns,
		(double)(ks_monotonic_ms() - atomic_load(&b->paused_at_ms)) / 1000.0);
}

void ks_fd_budget_release(struct ks_fd_budget *b)
{
	maybe_resume(b, atomic_fetch_sub(&b->used, 1) - 1);
}

void ks_fd_budget_pause(struct ks_fd_budget *b, bool *blocked)
{
	const struct ks_fd_plan *p = &b->plan;

	if (!*blocked) {
		*blocked = true;
		atomic_fetch_add(&b->blocked, 1);
	}
	if (atomic_exchange(&b->paused, true))
		return;
	atomic_store(&b->paused_at_ms, ks_monotonic_ms());
	atomic_fetch_add_explicit(&b->pauses, 1, memory_order_relaxed);
	ks_warn("descriptor limit: %llu connections open, the most RLIMIT_NOFILE %llu allows (2 "
		"descriptors each, %llu open at start, %llu kept for kstaple): accepting pauses, "
		"new clients wait in the listen backlog until connections close; raise "
		"LimitNOFILE= (ulimit -n) to serve more",
		(unsigned long long)p->conns, (unsigned long long)p->nofile,
		(unsigned long long)p->in_use, (unsigned long long)p->spare);
}

void ks_fd_budget_unblock(struct ks_fd_budget *b, bool *blocked)
{
	if (!*blocked)
		return;
	*blocked = false;
	if (atomic_fetch_sub(&b->blocked, 1) == 1)
		maybe_resume(b, atomic_load(&b->used));
}
bool ks_fd_budget_is_paused(const struct ks_fd_budget *b)
{
	return atomic_load_explicit(&b->paused, memory_order_relaxed);
}

uint64_t ks_fd_raise_limit(void)
{
	struct rlimit rl;
	rlim_t old;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	old = rl.rlim_cur;
	/*
	 * io_uring has no FD_SETSIZE problem, so take what the hard limit allows (systemd's
	 * default is soft 1024, hard 512 Ki). An infinite hard limit is refused for
	 * RLIMIT_NOFILE (fs.nr_open caps it): leave those alone.
	 */
	if (rl.rlim_cur < rl.rlim_max && rl.rlim_max != RLIM_INFINITY) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			ks_info("descriptor limit raised from %llu to %llu (the hard limit)",
				(unsigned long long)old, (unsigned long long)rl.rlim_cur);
		else
			rl.rlim_cur = old;
	}
	return rl.rlim_cur == RLIM_INFINITY ? (uint64_t)1 << 30 : (uint64_t)rl.rlim_cur;
}

uint64_t ks_fd_count_open(uint64_t nofile)
{
	DIR *d = opendir("/proc/self/fd");
	uint64_t n = 0, max = KS_MIN(nofile, (uint64_t)FD_PROBE_MAX);
	const struct dirent *e;

	if (d) {
		while ((e = readdir(d)))
			n += e->d_name[0] != '.';
		closedir(d);
		return n ? n - 1 : 0; /* the directory's own descriptor */
	}
	/* No /proc, or unreadable after the privilege drop (the process is not dumpable). */
	for (uint64_t fd = 0; fd < max; fd++)
		n += fcntl((int)fd, F_GETFD) >= 0;
	return n;
}

uint64_t ks_fd_backlog(uint64_t want)
{
	FILE *f = fopen("/proc/sys/net/core/somaxconn", "re");
	unsigned long long v = 0;

	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v ? KS_MIN(want, (uint64_t)v) : want;
}

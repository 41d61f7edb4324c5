/* SPDX-License-Identifier: MIT */
/*
 * fd_budget: how many client connections the process descriptor limit allows, shared by all
 * workers of `kstaple serve`.
 *
 * A proxied connection holds two descriptors (the client's and the backend's), but accept
 * takes only one: a server that accepts while a single descriptor is free accepts clients it
 * cannot connect to a backend. So accepting is budgeted up front: from RLIMIT_NOFILE, less
 * the descriptors open before the first accept and a spare kept for the rest of the agent
 * (fetcher sockets, metrics and control clients, files read at a reload), at two per
 * connection. Past the budget, new clients are not accepted: they wait in the kernel's listen
 * backlog, and are accepted as connections close.
 *
 * A multishot accept cannot be bounded: one readiness event hands over the whole backlog.
 * Workers therefore use it only while the room left exceeds what every listening socket's
 * backlog could hold (multishot_room), and otherwise one-shot accepts, each of which claims
 * its slot before it is armed, so the budget is never exceeded. A multishot burst that still
 * overshoots (connections arriving while the kernel empties the backlog) is served from a
 * small overflow reserve; beyond that, a connection is closed before its handshake and
 * counted.
 *
 * The plan is pure (ks_fd_plan_make, ks_fd_plan_mode); the counters are process-wide
 * atomics, safe from any worker thread.
 */
#ifndef KSTAPLE_FD_BUDGET_H
#define KSTAPLE_FD_BUDGET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "kstaple/common.h"

#define KS_FD_PER_CONN	  2  /* client + backend */
#define KS_FD_SPARE_FIXED 16 /* logs, files opened by a reload, the odd transient socket */

struct ks_fd_budget_in {
	uint64_t nofile;	/* RLIMIT_NOFILE (soft), RLIM_INFINITY as a large number */
	uint64_t in_use;	/* descriptors open before the first accept */
	uint64_t fetch_slots;	/* OCSP requests that can be in flight (a socket each) */
	uint64_t control_slots; /* metrics and control clients at once */
	uint64_t sockets;	/* listening sockets accepted from (workers x listeners) */
	uint64_t backlog;	/* accept queue length of each (listen() capped by somaxconn) */
};

struct ks_fd_plan {
	uint64_t nofile, in_use, spare; /* inputs as used, for logs */
	uint64_t conns;			/* the budget: connections accepted at most (0: none) */
	uint64_t overflow;	 /* a multishot burst past conns is still served up to this many */
	uint64_t multishot_room; /* multishot accept only while more room than this is left */
	uint64_t resume_room;	 /* a pause ends (is logged as over) once this much room is back */
};

/*
 * Descriptors kept for the rest of the agent: KS_FD_SPARE_FIXED, two sockets per fetch slot
 * (the old and the new fetcher overlap during a reload) and one per control slot.
 */
uint64_t ks_fd_spare(const struct ks_fd_budget_in *in);

/* Fill p from in. -ENOSPC when the limit leaves no room for a single connection (p filled). */
KS_MUST_CHECK int ks_fd_plan_make(const struct ks_fd_budget_in *in, struct ks_fd_plan *p);

enum ks_accept_mode {
	KS_ACCEPT_PAUSE = 0, /* no room: leave clients in the backlog */
	KS_ACCEPT_ONE,	     /* one-shot accepts, a slot claimed per accept */
	KS_ACCEPT_MULTI,     /* multishot accept: even a full backlog fits */
};

/* What a worker should arm with used connections (and claimed slots) in the process. */
enum ks_accept_mode ks_fd_plan_mode(const struct ks_fd_plan *p, uint64_t used);

/* Process-wide state: the plan and its counters (relaxed reads are fine for metrics). */
struct ks_fd_budget {
	struct ks_fd_plan plan;
	atomic_uint_fast64_t used; /* connections open + one-shot accepts armed */
	atomic_bool paused;	   /* a pause episode is on (it was logged) */
	atomic_uint blocked;	   /* listening sockets with clients left waiting */
	atomic_int_fast64_t paused_at_ms;
	atomic_uint_fast64_t pauses;	      /* episodes */
	atomic_uint_fast64_t overflow_closed; /* accepted past conns + overflow: closed */
};

void ks_fd_budget_init(struct ks_fd_budget *b, const struct ks_fd_plan *p);
/* Claim a slot for a one-shot accept (false: no room). Undo with ks_fd_budget_release(). */
bool ks_fd_budget_claim(struct ks_fd_budget *b);
/* Count a connection a multishot accept delivered; false (nothing counted): close it. */
bool ks_fd_budget_admit(struct ks_fd_budget *b);
/*
 * A connection closed or a claim went unused. Ends (and logs) a pause episode once no socket
 * is blocked and resume_room is free again.
 */
void ks_fd_budget_release(struct ks_fd_budget *b);
/*
 * No room to arm an accept on a socket: mark it blocked (*blocked, the caller's per socket
 * flag) and start (and log, once per episode) a pause.
 */
void ks_fd_budget_pause(struct ks_fd_budget *b, bool *blocked);
/*
 * The socket has an accept armed and no client left in its accept queue: no longer blocked.
 * The episode ends with the last blocked socket (if resume_room is free): not while the
 * clients that queued during the pause are being let in one close at a time.
 */
void ks_fd_budget_unblock(struct ks_fd_budget *b, bool *blocked);
bool ks_fd_budget_is_paused(const struct ks_fd_budget *b);

/* ---- measuring the inputs ---- */

/* Raise the soft RLIMIT_NOFILE to the hard one (logged); returns the soft limit in effect. */
uint64_t ks_fd_raise_limit(void);
/* Descriptors open in the process now (/proc/self/fd, else probing with fcntl). */
uint64_t ks_fd_count_open(uint64_t nofile);
/* The accept queue length listen(fd, want) gets: want capped by net.core.somaxconn. */
uint64_t ks_fd_backlog(uint64_t want);

#endif /* KSTAPLE_FD_BUDGET_H */

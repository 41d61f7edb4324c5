/* SPDX-License-Identifier: MIT */
/*
 * loop: one io_uring event loop per thread, as a component other modules plug into.
 *
 * Every asynchronous request carries a typed user_data: the address of a struct ks_loop_op
 * that the caller embeds in its own object (container_of gets the object back). One
 * dispatcher reads completions and calls op->cb. The loop knows nothing about HTTP, TLS or
 * OCSP; the fetcher (poll + timeout) and the TLS server (accept/recv/send through
 * ks_loop_sqe()/ks_loop_arm()) use the same ring.
 *
 * Op lifetime. An op is IDLE (no request in the kernel, the owner may free or reuse it) or
 * BUSY (the kernel may still post a completion that names it). A one-shot request becomes
 * IDLE when its completion is dispatched; a multishot one when a completion without
 * IORING_CQE_F_MORE is dispatched. Two ways to stop a BUSY op:
 *   - ks_loop_cancel(): asks the kernel to cancel; op->cb is still called exactly once more
 *     with the final result (-ECANCELED, or the real result if the request completed first)
 *     and the op is IDLE when that call returns. For objects that outlive the request. A
 *     multishot op also passes on the events that raced with the cancel (IORING_CQE_F_MORE
 *     set): an accept's sockets, for one, are never lost.
 *   - ks_loop_release(): same cancellation, but op->cb is never called again; when the last
 *     completion arrives the loop calls release(op) so the owner can free the object. If the
 *     op is already IDLE, release(op) is called before ks_loop_release() returns.
 * Never free an op while it is BUSY. Cancel and update requests themselves complete with a
 * reserved user_data (0) that the dispatcher ignores, so they need no op of their own.
 *
 * Threading: everything except ks_loop_wake() and ks_loop_stop() must be called from the
 * thread that created the loop (IORING_SETUP_SINGLE_ISSUER). Callbacks run on that thread
 * from ks_loop_run_once(); they may arm, cancel and release ops, but must not call
 * ks_loop_run_once() themselves.
 */
#ifndef KSTAPLE_LOOP_H
#define KSTAPLE_LOOP_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include <liburing.h>

#include "kstaple/common.h"

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#endif

struct ks_loop;
struct ks_loop_op;

/*
 * res is cqe->res (>= 0 or a negative errno: -ECANCELED after a cancel, -ETIME for a timeout
 * that expired). cqe_flags has IORING_CQE_F_MORE while a multishot request stays armed.
 */
typedef void (*ks_loop_cb)(struct ks_loop_op *op, int res, uint32_t cqe_flags);
typedef void (*ks_loop_release_fn)(struct ks_loop_op *op);

enum ks_loop_op_state {
	KS_LOOP_OP_IDLE = 0,
	KS_LOOP_OP_ARMED,      /* a request is in the kernel (or queued in the SQ) */
	KS_LOOP_OP_CANCELLING, /* cancel requested: one final callback will come */
	KS_LOOP_OP_RELEASED,   /* cancel requested: release() will come, cb never */
};

enum ks_loop_op_kind {
	KS_LOOP_KIND_NONE = 0,
	KS_LOOP_KIND_POLL,
	KS_LOOP_KIND_TIMEOUT,
	KS_LOOP_KIND_OTHER, /* anything prepared through ks_loop_sqe() */
};

/* Embed in your object; initialise with ks_loop_op_init(). Fields below cb are private. */
struct ks_loop_op {
	ks_loop_cb cb;
	ks_loop_release_fn release;
	struct ks_loop_op *prev, *next; /* the loop's list of busy ops (for draining) */
	struct __kernel_timespec ts;	/* absolute deadline, read by the kernel at submit */
	int64_t deadline_ms;		/* CLOCK_MONOTONIC ms, timeouts only */
	uint8_t state;			/* enum ks_loop_op_state */
	uint8_t kind;			/* enum ks_loop_op_kind */
	bool multishot;
	bool linked; /* on the busy list */
};

void ks_loop_op_init(struct ks_loop_op *op, ks_loop_cb cb);

static inline bool ks_loop_op_busy(const struct ks_loop_op *op)
{
	return op->state != KS_LOOP_OP_IDLE;
}

struct ks_loop_params {
	unsigned entries; /* SQ size (power of two); 0: 256. The CQ is 4x larger. */
	bool no_defer;	  /* do not try SINGLE_ISSUER|DEFER_TASKRUN (tests of the fallback) */
};

/* NULL + errno (e.g. ENOSYS or EPERM when io_uring is unavailable or disabled). */
struct ks_loop *ks_loop_new(const struct ks_loop_params *params);
/*
 * Cancel every busy op and dispatch the final completions (callbacks and release functions
 * run, for up to about a second), then tear the ring down.
 */
void ks_loop_free(struct ks_loop *loop);

/* True if the ring was created with SINGLE_ISSUER|DEFER_TASKRUN. */
bool ks_loop_defer_taskrun(const struct ks_loop *loop);
/* Number of busy ops (tests check nothing leaks). */
unsigned ks_loop_busy(const struct ks_loop *loop);

/* Watch fd for mask (POLLIN, POLLOUT, ...). res is the returned mask or a negative errno. */
KS_MUST_CHECK int ks_loop_poll_add(struct ks_loop *loop, struct ks_loop_op *op, int fd,
				   unsigned mask, bool multishot);

/*
 * Fire op->cb with -ETIME after ms milliseconds (CLOCK_MONOTONIC). If op is already an armed
 * timeout its deadline is moved instead (IORING_TIMEOUT_UPDATE); if it fired meanwhile, the
 * stale expiry is recognised by its deadline and re-armed, never reported early.
 */
KS_MUST_CHECK int ks_loop_timeout(struct ks_loop *loop, struct ks_loop_op *op, int64_t ms);

/* -EALREADY if op is IDLE (no callback will come). See the lifetime rules above. */
KS_MUST_CHECK int ks_loop_cancel(struct ks_loop *loop, struct ks_loop_op *op);
void ks_loop_release(struct ks_loop *loop, struct ks_loop_op *op, ks_loop_release_fn release);

/*
 * Generic requests: take an SQE (submitting the queue if it is full), prepare it with any
 * io_uring_prep_*(), then ks_loop_arm() it for op. Returns NULL + errno (EBUSY) if the ring
 * cannot take more requests right now.
 */
struct io_uring_sqe *ks_loop_sqe(struct ks_loop *loop);
void ks_loop_arm(struct ks_loop *loop, struct ks_loop_op *op, struct io_uring_sqe *sqe,
		 bool multishot);

/*
 * Submit queued requests, wait up to max_wait_ms (-1: forever, 0: do not block) for at least
 * one completion and dispatch every completion available. Returns the number of completions
 * dispatched (0 on timeout or signal) or a negative errno.
 */
KS_MUST_CHECK int ks_loop_run_once(struct ks_loop *loop, int max_wait_ms);
/* Dispatch until ks_loop_stop() is called (the flag is cleared on return). */
KS_MUST_CHECK int ks_loop_run(struct ks_loop *loop);

/* Thread-safe: interrupt a wait in ks_loop_run_once() (eventfd watched on the ring). */
void ks_loop_wake(struct ks_loop *loop);
/* Thread-safe: make ks_loop_run() return after the current dispatch. */
void ks_loop_stop(struct ks_loop *loop);
bool ks_loop_stopping(const struct ks_loop *loop);

#endif /* KSTAPLE_LOOP_H */

/* SPDX-License-Identifier: MIT */
/*
 * splice_proxy: move bytes between a client socket (normally a kTLS socket, both directions in
 * the kernel) and a backend TCP socket with io_uring IORING_OP_SPLICE through one pipe per
 * direction, on a ks_loop. The bytes never enter userspace: the kernel decrypts into the pipe
 * and encrypts out of it.
 *
 * Per direction: splice(src -> pipe), then splice(pipe -> dst) until the pipe is empty, again.
 * Both sockets are switched to O_NONBLOCK; -EAGAIN waits with a one-shot poll. Ends:
 *   - client EOF (TCP FIN) or close_notify: shutdown(backend, SHUT_WR), the other direction
 *     goes on (half-close);
 *   - backend EOF: close_notify to the client (when its TX is kTLS), shutdown(client, SHUT_WR);
 *   - a non-data record at the head of a kTLS RX client socket (splice fails with -EINVAL on
 *     Linux 6.1, -EIO elsewhere): read with ks_ktls_recv_record() and handled by
 *     ks_ktls_handle_control(): KeyUpdate (continue or close), alerts (end or close);
 *   - any error: both directions stop; done() reports it.
 * done(p, err, arg) runs once, from a loop callback, when both directions are finished (err 0)
 * or stopped (negative errno) and no request of the proxy is in the kernel any more; it may
 * call ks_splice_proxy_free(p). The sockets stay open: they belong to the caller.
 */
#ifndef KSTAPLE_SPLICE_PROXY_H
#define KSTAPLE_SPLICE_PROXY_H

#include <stdint.h>

#include "kstaple/common.h"
#include "kstaple/ktls.h"
#include "kstaple/loop.h"

struct ks_splice_proxy;

struct ks_splice_params {
	struct ks_loop *loop;
	int client_fd;
	int backend_fd;
	/*
	 * The client's kTLS session (from ks_ktls_offload, both directions), or NULL when the
	 * client socket is plain TCP (tests): then no control records and no close_notify.
	 */
	struct ks_ktls_result *ktls;
	const char *who; /* for log lines, e.g. "listener web, peer 192.0.2.7:4711" */
	size_t chunk;	 /* bytes per splice into the pipe; 0: 64 KiB (the default pipe size) */
	void (*done)(struct ks_splice_proxy *p, int err, void *arg);
	void *arg;
};

/* NULL + errno (EMFILE for the pipes, EINVAL, EBUSY when the ring is full). */
struct ks_splice_proxy *ks_splice_proxy_start(const struct ks_splice_params *params);
/*
 * Stop both directions now; done() follows with -ECANCELED (or the first error seen), from a
 * later completion or, if nothing is in flight, before this returns. No-op after done().
 */
void ks_splice_proxy_stop(struct ks_splice_proxy *p);
/* Only after done() ran (or inside it): closes the pipes, frees p. */
void ks_splice_proxy_free(struct ks_splice_proxy *p);

struct ks_splice_stats {
	uint64_t client_to_backend, backend_to_client; /* bytes */
	uint32_t key_updates;			       /* applied in the kernel */
	bool client_close_notify;		       /* the client ended with close_notify */
};
void ks_splice_proxy_stats(const struct ks_splice_proxy *p, struct ks_splice_stats *out);

#endif /* KSTAPLE_SPLICE_PROXY_H */

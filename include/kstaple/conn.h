/* SPDX-License-Identifier: MIT */
/*
 * conn: one accepted TLS connection, driven by a worker's io_uring loop.
 *
 *   accept -> handshake -> backend connect -> proxy -> close
 *
 * The handshake runs OpenSSL on the non-blocking socket (a plain socket BIO, so OpenSSL's kTLS
 * machinery stays usable): SSL_do_handshake until it wants to read or write, then a one-shot
 * io_uring poll for that readiness. After it, the backend is connected with an io_uring
 * connect and bytes are proxied both ways: client -> SSL_read -> io_uring send -> backend and
 * backend -> io_uring recv -> SSL_write -> client, one 16 KiB buffer per direction. An end of
 * stream from either side is passed on as a half-close (close_notify + shutdown(SHUT_WR) to the
 * client, shutdown(SHUT_WR) to the backend); the connection closes when both directions are
 * done, on an error, on the handshake timeout or after idle_timeout without a byte.
 *
 * With kTLS (ks_conn_params.ktls) a session the kernel carries both ways skips the SSL_read /
 * SSL_write proxy: after the backend connect, io_uring splice moves the bytes (splice_proxy.h),
 * or, in hand-off mode, the socket goes to an application right after the handshake.
 */
#ifndef KSTAPLE_CONN_H
#define KSTAPLE_CONN_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "kstaple/common.h"
#include "kstaple/ktls.h"
#include "kstaple/loop.h"
#include "kstaple/metrics.h"
#include "kstaple/tls_server.h"

struct ks_conn;

/* The connections of one worker, so a drain can close what is left. Loop thread only. */
struct ks_conn_set {
	struct ks_conn *head;
	unsigned count;
};

/* Why connections ended, per listener (relaxed atomics, read by the metrics module). */
struct ks_conn_stats {
	atomic_uint_fast64_t accepted;
	atomic_uint_fast64_t handshake_timeouts;
	atomic_uint_fast64_t handshake_failures;
	atomic_uint_fast64_t backend_failures; /* connect failed: client got close_notify */
	atomic_uint_fast64_t idle_timeouts;
	atomic_uint_fast64_t completed;		  /* both directions ended normally */
	atomic_uint_fast64_t errors;		  /* reset or I/O error after the handshake */
	atomic_uint_fast64_t bytes_in, bytes_out; /* client -> backend, backend -> client */
	atomic_uint_fast64_t handed_off;	  /* kTLS sockets passed to the hand-off socket */
	atomic_uint_fast64_t handoff_failures;	  /* ... that could not be passed: closed */
	struct ks_session_stats sessions;	  /* data path after the handshake (kTLS) */
};

struct ks_conn_params {
	struct ks_loop *loop;
	struct ks_tls_ctx *tls;
	const struct sockaddr *backend; /* copied */
	socklen_t backend_len;
	const char *backend_name; /* "HOST:PORT" for logs; must outlive the connection */
	const char *listener;	  /* [listener:NAME] for logs; must outlive the connection */
	int64_t handshake_timeout_ms;
	int64_t idle_timeout_ms;
	/*
	 * false: connect the backend right after the handshake (protocols where the server
	 * speaks first need it); true: on the client's first bytes, as an HTTP server does,
	 * and a client that sends none costs no backend connection.
	 */
	bool backend_on_data;
	struct ks_conn_set *set;
	struct ks_conn_stats *stats;
	/* Called once when the connection is gone (after its fds are closed). */
	void (*closed)(void *arg, void *ref);
	void *arg; /* the caller's, e.g. its worker */
	void *ref; /* the caller's, e.g. a reference it holds for the connection */
	/*
	 * kTLS (ktls.h). Unless off, ks_ktls_offload() runs after the handshake; a session with
	 * both directions in the kernel is spliced to the backend (splice_proxy.h) or, with
	 * handoff set, passed to that unix socket (handoff_send.h). Any other session stays
	 * on the userspace path above. handoff must outlive the connection.
	 */
	enum ks_ktls_mode ktls;
	const char *handoff;
};

/*
 * Take over the accepted socket fd and start the handshake. On failure fd is closed, closed()
 * is not called and a negative errno is returned. fd should have TCP_NODELAY (server.c sets it
 * on the listening socket, whose accepted sockets inherit it).
 */
KS_MUST_CHECK int ks_conn_start(const struct ks_conn_params *p, int fd);

/* Close every connection of the set now (end of a drain). */
void ks_conn_abort_all(struct ks_conn_set *set);

#endif /* KSTAPLE_CONN_H */

// SPDX-License-Identifier: MIT
/*
 * conn: the per-connection state machine (see include/kstaple/conn.h).
 *
 * Every asynchronous request of a connection is one of six ops: readiness of the client socket
 * for reading and for writing (polls), the backend connect, send and recv, and one timer. A
 * direction that cannot progress records what it waits for (c2b_wait, b2c_wait); the client
 * polls wake whichever direction waits on them, because SSL_read may need to write and
 * SSL_write to read. Teardown releases all six ops; the memory goes when the last is released.
 *
 * kTLS: right after the handshake ks_ktls_offload() tries to put the session in the kernel.
 * With both directions there, the SSL object is freed at once (nothing OpenSSL does afterwards
 * could be right: its keys and sequence numbers are stale) and the session either goes to the
 * hand-off socket or, after the backend connect, to a splice proxy (state ST_SPLICE) that runs
 * on the same loop; teardown then waits for the proxy's done() before the fds close.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "kstaple/clock.h"
#include "kstaple/conn.h"
#include "kstaple/handoff_send.h"
#include "kstaple/log.h"
#include "kstaple/splice_proxy.h"

#define BUF_SIZE 16384 /* one TLS record of plaintext */

enum conn_state {
	ST_HANDSHAKE,
	ST_CONNECTING,
	ST_PROXY,
	ST_SPLICE, /* kTLS both ways: the splice proxy moves the bytes */
	ST_CLOSED
};

struct conn_op {
	struct ks_loop_op op;
	struct ks_conn *c;
};

enum {
	OP_CIN,
	OP_COUT,
	OP_BCONN,
	OP_BSEND,
	OP_BRECV,
	OP_TIMER,
	OP__COUNT
};

struct ks_conn {
	struct ks_conn *prev, *next;
	struct ks_conn_params p;
	struct sockaddr_storage backend;
	int cfd, bfd;
	SSL *ssl;
	enum conn_state state;
	struct conn_op ops[OP__COUNT];
	unsigned live_ops; /* during teardown: ops not yet released */
	int64_t last_activity_ms;
	/* client -> backend */
	unsigned c2b_wait; /* POLLIN/POLLOUT the client socket must show, 0: not waiting */
	bool c2b_done;
	size_t c2b_len, c2b_off;
	/* backend -> client */
	unsigned b2c_wait;
	bool b2c_done, b2c_shutdown; /* backend ended: close_notify still to be sent */
	size_t b2c_len, b2c_off;
	/* kTLS: what ks_ktls_offload() moved to the kernel */
	struct ks_ktls_result kt;
	bool kt_rx_raw; /* RX in the kernel behind OpenSSL's back: read records from cfd */
	struct ks_splice_proxy *sp;
	bool sp_stopping;  /* inside ks_splice_proxy_stop(): done() must not close c */
	uint64_t sp_bytes; /* spliced bytes at the last idle check */
	char who[96];	   /* "listener NAME, peer ADDR:PORT" */
	/* Not zeroed at allocation (see ks_conn_start): only the bytes received are read. */
	uint8_t c2b[BUF_SIZE];
	uint8_t b2c[BUF_SIZE];
};

#define STAT_INC(c, f)	  atomic_fetch_add_explicit(&(c)->p.stats->f, 1, memory_order_relaxed)
#define STAT_ADD(c, f, n) atomic_fetch_add_explicit(&(c)->p.stats->f, (n), memory_order_relaxed)

static void conn_close(struct ks_conn *c);
static void c2b_step(struct ks_conn *c);
static void b2c_step(struct ks_conn *c);
static void hs_step(struct ks_conn *c);
static int backend_start(struct ks_conn *c);

static struct ks_conn *conn_of(struct ks_loop_op *op)
{
	return container_of(op, struct conn_op, op)->c;
}

static void conn_free(struct ks_conn *c)
{
	struct ks_conn_set *set = c->p.set;

	SSL_free(c->ssl);
	ks_ktls_result_wipe(&c->kt);
	close(c->cfd);
	if (c->bfd >= 0)
		close(c->bfd);
	if (c->prev)
		c->prev->next = c->next;
	else
		set->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	set->count--;
	if (c->p.closed)
		c->p.closed(c->p.arg, c->p.ref);
	free(c);
}

static void op_released(struct ks_loop_op *op)
{
	struct ks_conn *c = conn_of(op);

	if (--c->live_ops == 0)
		conn_free(c);
}

/* May free c before it returns: callers return right after. */
static void conn_close(struct ks_conn *c)
{
	if (c->state == ST_CLOSED)
		return;
	if (c->sp) {
		/* Splices in flight use both fds: they must end (done()) before the fds close. */
		c->sp_stopping = true;
		ks_splice_proxy_stop(c->sp);
		c->sp_stopping = false;
		if (c->sp)
			return; /* done() follows from a completion and closes c */
	}
	c->state = ST_CLOSED;
	c->live_ops = OP__COUNT;
	for (int i = 0; i < OP__COUNT; i++)
		ks_loop_release(c->p.loop, &c->ops[i].op, op_released);
}

static void log_ssl_error(struct ks_conn *c, const char *what)
{
	char msg[160];

	if (ks_log_get_level() < KS_LOG_DEBUG) {
		ERR_clear_error();
		return;
	}
	snprintf(msg, sizeof(msg), "listener %s: %s", c->p.listener, what);
	ks_log_ossl(KS_LOG_DEBUG, NULL, msg);
}

static void touch(struct ks_conn *c)
{
	c->last_activity_ms = ks_monotonic_ms();
}

/* Arm the client polls that a waiting direction needs. */
static int arm_client(struct ks_conn *c)
{
	unsigned want = c->c2b_wait | c->b2c_wait;

	if ((want & POLLIN) && !ks_loop_op_busy(&c->ops[OP_CIN].op))
		TRY(ks_loop_poll_add(c->p.loop, &c->ops[OP_CIN].op, c->cfd, POLLIN, false));
	if ((want & POLLOUT) && !ks_loop_op_busy(&c->ops[OP_COUT].op))
		TRY(ks_loop_poll_add(c->p.loop, &c->ops[OP_COUT].op, c->cfd, POLLOUT, false));
	return 0;
}

/* What OpenSSL's answer means for the caller: a readiness to wait for, 0 for EOF, or -1. */
static int ssl_want(struct ks_conn *c, int r, const char *what)
{
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return POLLIN;
	case SSL_ERROR_WANT_WRITE:
		return POLLOUT;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		log_ssl_error(c, what);
		return -1;
	}
}

static void client_ready(struct ks_loop_op *op, int res, uint32_t flags)
{
	struct ks_conn *c = conn_of(op);
	unsigned ev = op == &c->ops[OP_CIN].op ? POLLIN : POLLOUT;
	bool run_c2b, run_b2c;

	(void)flags;
	if (res < 0) {
		conn_close(c);
		return;
	}
	if (c->state == ST_HANDSHAKE) {
		hs_step(c);
		return;
	}
	run_c2b = c->c2b_wait & ev;
	run_b2c = c->b2c_wait & ev;
	if (run_c2b)
		c->c2b_wait = 0;
	if (run_b2c)
		c->b2c_wait = 0;
	/* b2c first: it may free room the client is waiting for. Each step may close c. */
	if (run_b2c) {
		b2c_step(c);
		if (c->state == ST_CLOSED)
			return;
	}
	if (run_c2b)
		c2b_step(c);
}

static void maybe_finish(struct ks_conn *c)
{
	if (c->c2b_done && c->b2c_done && !c->b2c_shutdown) {
		STAT_INC(c, completed);
		conn_close(c);
	}
}

/*
 * Plaintext from the client into c2b: bytes, 0 at the end, or -1 with *want the readiness to
 * wait for (or -1: an error). Normally SSL_read; when ks_ktls_offload() put TLS 1.3 RX in the
 * kernel but TX stayed in OpenSSL (kt_rx_raw), records come from the socket and the ones that
 * are not data (alerts, KeyUpdate) go to the ktls module.
 */
static int client_read(struct ks_conn *c, int *want)
{
	struct ks_ktls_ctl ctl;
	uint8_t type;
	ssize_t n;
	int r;

	if (!c->kt_rx_raw) {
		r = SSL_read(c->ssl, c->c2b, sizeof(c->c2b));
		if (r > 0)
			return r;
		*want = ssl_want(c, r, "reading from the client");
		return *want == 0 ? 0 : -1;
	}
	for (;;) {
		n = ks_ktls_recv_record(c->cfd, c->c2b, sizeof(c->c2b), &type, MSG_DONTWAIT);
		*want = n == -EAGAIN ? POLLIN : -1;
		if (n <= 0)
			return n == 0 ? 0 : -1;
		if (type == KS_TLS_CT_APPLICATION_DATA)
			return (int)n;
		if (ks_ktls_handle_control(&c->kt, c->cfd, type, c->c2b, (size_t)n, c->who, &ctl) <
			    0 ||
		    ctl.action == KS_KTLS_CTL_CLOSE)
			return -1;
		if (ctl.action == KS_KTLS_CTL_END)
			return 0;
	}
}

/* client -> backend: SSL_read into c2b, then send it all before reading again. */
static int bsend(struct ks_conn *c)
{
	struct io_uring_sqe *sqe = ks_loop_sqe(c->p.loop);

	ENSURE(sqe, -errno);
	io_uring_prep_send(sqe, c->bfd, c->c2b + c->c2b_off, c->c2b_len - c->c2b_off, MSG_NOSIGNAL);
	ks_loop_arm(c->p.loop, &c->ops[OP_BSEND].op, sqe, false);
	return 0;
}

static void c2b_step(struct ks_conn *c)
{
	int n, w, ret;

	if (c->c2b_done || c->c2b_len || c->state != ST_PROXY)
		return;
	n = client_read(c, &w);
	if (n > 0) {
		touch(c);
		c->c2b_len = (size_t)n;
		c->c2b_off = 0;
		STAT_ADD(c, bytes_in, (uint64_t)n);
		ret = c->bfd >= 0 ? bsend(c) : backend_start(c); /* backend_on_data: connect */
		if (ret < 0) {
			ks_warn("listener %s: cannot pass the client's bytes to the backend: %s",
				c->p.listener, strerror(-ret));
			conn_close(c);
		}
		return;
	}
	if (n < 0 && w > 0) {
		c->c2b_wait = (unsigned)w;
		if (arm_client(c) < 0)
			conn_close(c);
		return;
	}
	if (n < 0) {
		STAT_INC(c, errors);
		conn_close(c);
		return;
	}
	/* close_notify or EOF from the client: pass the half-close on to the backend. */
	c->c2b_done = true;
	if (c->bfd < 0) {
		/* No backend was ever needed: answer the close_notify with ours and end. */
		c->b2c_done = c->b2c_shutdown = true;
		b2c_step(c);
		return;
	}
	shutdown(c->bfd, SHUT_WR);
	maybe_finish(c);
}

static void bsend_done(struct ks_loop_op *op, int res, uint32_t flags)
{
	struct ks_conn *c = conn_of(op);

	(void)flags;
	if (res <= 0) {
		if (res != -ECANCELED)
			STAT_INC(c, errors);
		conn_close(c);
		return;
	}
	touch(c);
	c->c2b_off += (size_t)res;
	if (c->c2b_off < c->c2b_len) {
		if (bsend(c) < 0)
			conn_close(c);
		return;
	}
	c->c2b_len = 0;
	c2b_step(c);
}

/* backend -> client: recv into b2c, SSL_write it all, recv again. */
static int brecv(struct ks_conn *c)
{
	struct io_uring_sqe *sqe = ks_loop_sqe(c->p.loop);

	ENSURE(sqe, -errno);
	io_uring_prep_recv(sqe, c->bfd, c->b2c, sizeof(c->b2c), 0);
	ks_loop_arm(c->p.loop, &c->ops[OP_BRECV].op, sqe, false);
	return 0;
}

static void b2c_step(struct ks_conn *c)
{
	int n, w;

	if (c->b2c_shutdown) {
		/* RFC 8446 §6.1: close_notify ends our direction; the client's stays open. */
		n = SSL_shutdown(c->ssl);
		if (n < 0 && (w = ssl_want(c, n, "sending close_notify")) > 0) {
			c->b2c_wait = (unsigned)w;
			if (arm_client(c) < 0)
				conn_close(c);
			return;
		}
		c->b2c_shutdown = false;
		shutdown(c->cfd, SHUT_WR);
		maybe_finish(c);
		return;
	}
	while (c->b2c_off < c->b2c_len) {
		n = SSL_write(c->ssl, c->b2c + c->b2c_off, (int)(c->b2c_len - c->b2c_off));
		if (n > 0) {
			c->b2c_off += (size_t)n;
			STAT_ADD(c, bytes_out, (uint64_t)n);
			continue;
		}
		w = ssl_want(c, n, "writing to the client");
		if (w > 0) {
			c->b2c_wait = (unsigned)w;
			if (arm_client(c) < 0)
				conn_close(c);
			return;
		}
		STAT_INC(c, errors);
		conn_close(c);
		return;
	}
	touch(c);
	if (brecv(c) < 0)
		conn_close(c);
}

static void brecv_done(struct ks_loop_op *op, int res, uint32_t flags)
{
	struct ks_conn *c = conn_of(op);

	(void)flags;
	if (res < 0) {
		if (res != -ECANCELED)
			STAT_INC(c, errors);
		conn_close(c);
		return;
	}
	if (res == 0) {
		c->b2c_done = true;
		c->b2c_shutdown = true;
		b2c_step(c);
		return;
	}
	c->b2c_len = (size_t)res;
	c->b2c_off = 0;
	b2c_step(c);
}

/* The client's session is in the kernel: end it with a close_notify through kTLS TX. */
static void ktls_close_notify(struct ks_conn *c)
{
	int ret = ks_ktls_send_close_notify(c->cfd);

	if (ret < 0)
		ks_debug("%s: cannot send close_notify: %s", c->who, strerror(-ret));
}

static void splice_done(struct ks_splice_proxy *p, int err, void *arg)
{
	struct ks_conn *c = arg;
	struct ks_splice_stats st;

	ks_splice_proxy_stats(p, &st);
	STAT_ADD(c, bytes_in, st.client_to_backend);
	STAT_ADD(c, bytes_out, st.backend_to_client);
	if (err == 0)
		STAT_INC(c, completed);
	else if (err != -ECANCELED)
		STAT_INC(c, errors);
	ks_debug("%s: kTLS session ends (%s, close_notify from the client: %s): %llu bytes from "
		 "the client, %llu to it, %u key updates",
		 c->who, err ? strerror(-err) : "ok", st.client_close_notify ? "yes" : "no",
		 (unsigned long long)st.client_to_backend, (unsigned long long)st.backend_to_client,
		 st.key_updates);
	ks_splice_proxy_free(p);
	c->sp = NULL;
	if (!c->sp_stopping)
		conn_close(c);
}

/* Both directions in the kernel and the backend connected: splice from now on. */
static void splice_start(struct ks_conn *c)
{
	const struct ks_splice_params prm = { .loop = c->p.loop,
					      .client_fd = c->cfd,
					      .backend_fd = c->bfd,
					      .ktls = &c->kt,
					      .who = c->who,
					      .done = splice_done,
					      .arg = c };

	c->state = ST_SPLICE;
	c->sp = ks_splice_proxy_start(&prm);
	if (!c->sp) {
		ks_warn("%s: cannot start the splice proxy: %s; closing the connection", c->who,
			strerror(errno));
		STAT_INC(c, errors);
		ktls_close_notify(c);
		conn_close(c);
	}
}

static void bconn_done(struct ks_loop_op *op, int res, uint32_t flags)
{
	struct ks_conn *c = conn_of(op);
	int one = 1;

	(void)flags;
	if (res < 0) {
		STAT_INC(c, backend_failures);
		ks_warn("listener %s: backend %s: connect failed: %s; closing the client "
			"connection with close_notify",
			c->p.listener, c->p.backend_name, strerror(-res));
		/* One attempt: the alert fits in the socket buffer of a fresh connection. */
		if (c->ssl)
			SSL_shutdown(c->ssl);
		else
			ktls_close_notify(c);
		ERR_clear_error();
		conn_close(c);
		return;
	}
	setsockopt(c->bfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->state = ST_PROXY;
	touch(c);
	/* From now on the timer watches idleness, re-armed lazily when it fires. */
	if (ks_loop_timeout(c->p.loop, &c->ops[OP_TIMER].op, c->p.idle_timeout_ms) < 0) {
		conn_close(c);
		return;
	}
	if (!c->ssl) {
		splice_start(c);
		return;
	}
	if (brecv(c) < 0) {
		conn_close(c);
		return;
	}
	/* Connected on the client's first bytes (backend_on_data): they go first. */
	if (c->c2b_len) {
		if (bsend(c) < 0)
			conn_close(c);
		return;
	}
	c2b_step(c);
}

static int backend_connect(struct ks_conn *c)
{
	struct io_uring_sqe *sqe;

	c->bfd = socket(c->backend.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ENSURE(c->bfd >= 0, -errno);
	sqe = ks_loop_sqe(c->p.loop);
	ENSURE(sqe, -errno);
	io_uring_prep_connect(sqe, c->bfd, (struct sockaddr *)&c->backend, c->p.backend_len);
	ks_loop_arm(c->p.loop, &c->ops[OP_BCONN].op, sqe, false);
	c->state = ST_CONNECTING;
	return 0;
}

/* The backend connect gets a deadline of its own: the handshake timeout. */
static int backend_start(struct ks_conn *c)
{
	int ret = backend_connect(c);

	if (ret < 0) {
		/* EMFILE here would mean the descriptor budget was wrong: count it too. */
		STAT_INC(c, backend_failures);
		return ret;
	}
	return ks_loop_timeout(c->p.loop, &c->ops[OP_TIMER].op, c->p.handshake_timeout_ms);
}

static void set_who(struct ks_conn *c)
{
	struct sockaddr_storage ss = { 0 }; /* getpeername may fail: then AF_UNSPEC, "?" */
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (!getpeername(c->cfd, (struct sockaddr *)&ss, &len)) {
		if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
			port = ntohs(a->sin6_port);
		} else if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
			port = ntohs(a->sin_port);
		}
	}
	snprintf(c->who, sizeof(c->who), "listener %s, peer %s%s%s:%u", c->p.listener,
		 ss.ss_family == AF_INET6 ? "[" : "", host, ss.ss_family == AF_INET6 ? "]" : "",
		 port);
}

/* Pass the kTLS socket to the application; ours closes with c either way. */
static void handoff(struct ks_conn *c, int info_ret, const struct ks_handoff_info *info)
{
	int fl = fcntl(c->cfd, F_GETFL), fd = -1, ret = info_ret;

	/*
	 * The application gets the same open file description: hand it over in blocking mode,
	 * as a freshly accepted socket would be (ours was non-blocking for the loop).
	 */
	if (ret >= 0 && (fl < 0 || fcntl(c->cfd, F_SETFL, fl & ~O_NONBLOCK) < 0))
		ret = -errno;
	if (ret >= 0)
		ret = fd = ks_handoff_connect(c->p.handoff);
	if (fd >= 0) {
		ret = ks_handoff_send(fd, c->cfd, info);
		close(fd);
	}
	if (ret < 0) {
		STAT_INC(c, handoff_failures);
		ks_warn("%s: cannot hand the session to %s: %s; closing it with close_notify",
			c->who, c->p.handoff, strerror(-ret));
		ktls_close_notify(c);
		return;
	}
	STAT_INC(c, handed_off);
	STAT_INC(c, completed);
}

/* Sessions by data path per listener (metrics.h): the reasons follow enum ks_ktls_why. */
_Static_assert((int)KS_SESSION_R__COUNT == (int)KS_KTLS_WHY_MAX &&
		       (int)KS_SESSION_R_NOT_ENABLED == (int)KS_KTLS_WHY_OFF &&
		       (int)KS_SESSION_R_SETSOCKOPT == (int)KS_KTLS_WHY_SETSOCKOPT,
	       "enum ks_session_reason follows enum ks_ktls_why");
static void count_session(struct ks_conn *c, unsigned dirs, enum ks_ktls_why why)
{
	enum ks_session_path path = dirs == KS_KTLS_BOTH ? KS_SESSION_KTLS
				    : dirs == KS_KTLS_TX ? KS_SESSION_KTLS_TX
				    : dirs == KS_KTLS_RX ? KS_SESSION_KTLS_RX
							 : KS_SESSION_USERSPACE;

	ks_metrics_count_session(&c->p.stats->sessions, path, (enum ks_session_reason)why);
}

/*
 * After the handshake (and the staple) went out: move the session to the kernel if the
 * listener wants it. Returns true when c is done with (handed off and closed); otherwise the
 * caller connects the backend and c->ssl says which path follows (NULL: splice).
 */
static bool ktls_start(struct ks_conn *c)
{
	struct ks_handoff_info info;
	const unsigned char *resp;
	int info_ret = 0;

	if (c->p.ktls == KS_KTLS_MODE_OFF) {
		ks_ktls_count_userspace(KS_KTLS_WHY_OFF);
		count_session(c, 0, KS_KTLS_WHY_OFF);
		return false;
	}
	/*
	 * Fills kt whatever the outcome (counted and, per reason, logged once); -EINVAL only for
	 * bad arguments. BOTH_OR_NONE: RX goes in only with TX, so a session left in userspace
	 * keeps working with SSL_read/SSL_write; a kernel that took RX and then refused TX is
	 * the one RX-only case left, read through kt_rx_raw.
	 */
	if (ks_ktls_offload_flags(c->ssl, c->cfd, KS_KTLS_F_BOTH_OR_NONE, &c->kt) < 0)
		c->kt.why = KS_KTLS_WHY_NOT_DONE;
	count_session(c, c->kt.dirs, c->kt.why);
	/* Only kTLS paths log the peer: userspace sessions skip a getpeername per connection. */
	if (c->kt.dirs)
		set_who(c);
	if (c->kt.dirs != KS_KTLS_BOTH) {
		c->kt_rx_raw = (c->kt.dirs & KS_KTLS_RX) && !c->kt.rx_openssl;
		return false;
	}
	ks_debug("%s: %s %s, both directions in the kernel (%s)", c->who, SSL_get_version(c->ssl),
		 SSL_get_cipher_name(c->ssl), c->p.handoff ? "hand-off" : "splice proxy");
	if (c->p.handoff)
		info_ret = ks_handoff_info_from_ssl(
			c->ssl, c->cfd, SSL_get_tlsext_status_ocsp_resp(c->ssl, &resp) > 0, &info);
	/* The session lives in the kernel now; nothing OpenSSL would write could be right. */
	SSL_free(c->ssl);
	c->ssl = NULL;
	if (!c->p.handoff)
		return false;
	handoff(c, info_ret, &info);
	conn_close(c);
	return true;
}

static void hs_step(struct ks_conn *c)
{
	int r = SSL_do_handshake(c->ssl), w, ret;

	if (r == 1) {
		ks_tls_handshake_done(c->p.tls, c->ssl);
		if (ktls_start(c))
			return;
		/* backend_on_data (conn.h): c2b_step connects on the first bytes. Not for splice. */
		if (c->p.backend_on_data && c->ssl) {
			c->state = ST_PROXY;
			touch(c);
			ret = ks_loop_timeout(c->p.loop, &c->ops[OP_TIMER].op,
					      c->p.idle_timeout_ms);
			if (ret < 0)
				conn_close(c);
			else
				c2b_step(c);
			return;
		}
		ret = backend_start(c);
		if (ret < 0) {
			ks_warn("listener %s: cannot start a backend connection: %s", c->p.listener,
				strerror(-ret));
			conn_close(c);
		}
		return;
	}
	w = ssl_want(c, r, "TLS handshake failed");
	if (w > 0) {
		/* The handshake borrows the client -> backend direction's wait. */
		c->c2b_wait = (unsigned)w;
		ret = arm_client(c);
		c->c2b_wait = 0;
		if (ret < 0)
			conn_close(c);
		return;
	}
	STAT_INC(c, handshake_failures);
	atomic_fetch_add_explicit(&ks_tls_ctx_stats(c->p.tls)->handshake_failures, 1,
				  memory_order_relaxed);
	conn_close(c);
}

static void timer_fired(struct ks_loop_op *op, int res, uint32_t flags)
{
	struct ks_conn *c = conn_of(op);
	int64_t left;

	(void)flags;
	if (res != -ETIME)
		return; /* cancelled */
	if (c->state == ST_HANDSHAKE || c->state == ST_CONNECTING) {
		STAT_INC(c, handshake_timeouts);
		ks_debug("listener %s: handshake or backend connect timed out", c->p.listener);
		conn_close(c);
		return;
	}
	if (c->sp) {
		/* The splice proxy does not touch(): its byte counts say whether anything moved. */
		struct ks_splice_stats st;

		ks_splice_proxy_stats(c->sp, &st);
		if (st.client_to_backend + st.backend_to_client != c->sp_bytes) {
			c->sp_bytes = st.client_to_backend + st.backend_to_client;
			touch(c);
		}
	}
	left = c->last_activity_ms + c->p.idle_timeout_ms - ks_monotonic_ms();
	if (left <= 0) {
		STAT_INC(c, idle_timeouts);
		ks_debug("listener %s: idle for %lld ms, closing", c->p.listener,
			 (long long)c->p.idle_timeout_ms);
		conn_close(c);
		return;
	}
	/* Activity meanwhile: sleep for the rest, rather than moving the timer on every byte. */
	if (ks_loop_timeout(c->p.loop, op, left) < 0)
		conn_close(c);
}

int ks_conn_start(const struct ks_conn_params *p, int fd)
{
	static const ks_loop_cb cbs[OP__COUNT] = { client_ready, client_ready, bconn_done,
						   bsend_done,	 brecv_done,   timer_fired };
	struct ks_conn *c;
	int ret;

	if (p->backend_len > sizeof(c->backend)) {
		close(fd);
		return -EINVAL;
	}
	/*
	 * Zero the state but not the two 16 KiB buffers: clearing them wrote 32 KiB per
	 * connection, the whole L1 data cache, before a handshake that never touches them.
	 */
	c = malloc(sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	memset(c, 0, offsetof(struct ks_conn, c2b));
	c->p = *p;
	memcpy(&c->backend, p->backend, p->backend_len);
	c->cfd = fd;
	c->bfd = -1;
	for (int i = 0; i < OP__COUNT; i++) {
		ks_loop_op_init(&c->ops[i].op, cbs[i]);
		c->ops[i].c = c;
	}
	c->ssl = ks_tls_ssl_new(p->tls, fd);
	if (!c->ssl) {
		close(fd);
		free(c);
		return -ENOMEM;
	}
	c->next = p->set->head;
	if (c->next)
		c->next->prev = c;
	p->set->head = c;
	p->set->count++;
	STAT_INC(c, accepted);
	/* One timer: the handshake deadline, then the idle timeout (re-armed lazily). */
	ret = ks_loop_timeout(p->loop, &c->ops[OP_TIMER].op, p->handshake_timeout_ms);
	if (ret < 0) {
		conn_close(c);
		return 0; /* closed() runs: the caller's accounting stays in one place */
	}
	/* With TCP_DEFER_ACCEPT the ClientHello is usually already there. */
	hs_step(c);
	return 0;
}

void ks_conn_abort_all(struct ks_conn_set *set)
{
	struct ks_conn *c = set->head, *next;

	while (c) {
		next = c->next;
		conn_close(c);
		c = next;
	}
}

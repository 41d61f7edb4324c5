// SPDX-License-Identifier: MIT
/*
 * splice_proxy: client <-> backend through pipes with io_uring splice (see splice_proxy.h).
 * Each direction owns one ks_loop_op, so at most one request per direction is in the kernel
 * and a callback always knows which stage its completion belongs to.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kstaple/log.h"
#include "kstaple/splice_proxy.h"

enum stage {
	ST_IDLE,
	ST_SPLICE_IN,
	ST_WAIT_IN,
	ST_SPLICE_OUT,
	ST_WAIT_OUT
};

struct dir {
	struct ks_loop_op op;
	struct ks_splice_proxy *p;
	int src, dst;
	int pipe[2]; /* [0] read end, [1] write end */
	size_t in_pipe;
	uint64_t bytes;
	enum stage stage;
	bool from_client; /* src is the client: control records arrive here */
	bool eof, finished;
};

struct ks_splice_proxy {
	struct ks_splice_params prm;
	struct dir c2b, b2c;
	int err;
	bool reported;
	uint32_t key_updates;
	bool client_close_notify;
	uint8_t rec[16384 + 256]; /* one control record (2^14 plaintext + margin) */
};

static void dir_next(struct dir *d);

static bool dir_busy(const struct dir *d)
{
	return ks_loop_op_busy(&d->op);
}

static void maybe_report(struct ks_splice_proxy *p)
{
	bool over = p->err || (p->c2b.finished && p->b2c.finished);

	if (p->reported || !over || dir_busy(&p->c2b) || dir_busy(&p->b2c))
		return;
	p->reported = true;
	/* Last use of p here: done() may free it. */
	p->prm.done(p, p->err, p->prm.arg);
}

static void cancel_dir(struct ks_splice_proxy *p, struct dir *d)
{
	int ret;

	if (d->op.state != KS_LOOP_OP_ARMED)
		return;
	ret = ks_loop_cancel(p->prm.loop, &d->op);
	/* Not fatal: the request still completes (the sockets are non-blocking), then reports. */
	if (ret < 0)
		ks_debug("splice proxy %s: cannot queue a cancellation: %s", p->prm.who,
			 strerror(-ret));
}

static void fail(struct ks_splice_proxy *p, int err)
{
	if (!p->err)
		p->err = err;
	cancel_dir(p, &p->c2b);
	cancel_dir(p, &p->b2c);
	/* Callers return right after: done() may free p here if nothing is in flight. */
	maybe_report(p);
}

static int submit(struct dir *d, enum stage st)
{
	struct io_uring_sqe *sqe = ks_loop_sqe(d->p->prm.loop);
	unsigned flags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;

	if (!sqe)
		return -errno;
	switch (st) {
	case ST_SPLICE_IN:
		io_uring_prep_splice(sqe, d->src, -1, d->pipe[1], -1,
				     (unsigned)(d->p->prm.chunk ? d->p->prm.chunk : 65536), flags);
		break;
	case ST_SPLICE_OUT:
		io_uring_prep_splice(sqe, d->pipe[0], -1, d->dst, -1, (unsigned)d->in_pipe, flags);
		break;
	case ST_WAIT_IN:
		io_uring_prep_poll_add(sqe, d->src, POLLIN | POLLRDHUP);
		break;
	case ST_WAIT_OUT:
		io_uring_prep_poll_add(sqe, d->dst, POLLOUT);
		break;
	default:
		return -EINVAL;
	}
	d->stage = st;
	ks_loop_arm(d->p->prm.loop, &d->op, sqe, false);
	return 0;
}

/* The source said end of stream (or close_notify) and the pipe is empty: pass it on. */
static void dir_finish(struct dir *d)
{
	struct ks_splice_proxy *p = d->p;
	int ret;

	d->finished = true;
	d->stage = ST_IDLE;
	if (d->from_client) {
		shutdown(d->dst, SHUT_WR);
	} else {
		/* TLS has its own end of stream: close_notify before the FIN. */
		if (p->prm.ktls && (p->prm.ktls->dirs & KS_KTLS_TX)) {
			ret = ks_ktls_send_close_notify(d->dst);
			if (ret < 0)
				ks_debug("kTLS session %s: close_notify not sent: %s", p->prm.who,
					 strerror(-ret));
		}
		shutdown(d->dst, SHUT_WR);
	}
	maybe_report(p);
}

/* splice stopped at a non-data record on the kTLS client socket: let ktls_record judge it. */
static void client_control(struct dir *d)
{
	struct ks_splice_proxy *p = d->p;
	struct ks_ktls_ctl ctl;
	uint8_t type;
	ssize_t n;
	int ret;

	n = ks_ktls_recv_record(d->src, p->rec, sizeof(p->rec), &type, MSG_DONTWAIT);
	if (n == -EAGAIN) {
		ret = submit(d, ST_WAIT_IN);
		if (ret < 0)
			fail(p, ret);
		return;
	}
	if (n < 0)
		return fail(p, (int)n);
	if (n == 0) {
		d->eof = true;
		return dir_next(d);
	}
	if (type == KS_TLS_CT_APPLICATION_DATA) {
		/* splice refused a data record: nothing else would make progress. */
		ks_warn("kTLS session %s: splice refused application data", p->prm.who);
		return fail(p, -EPROTO);
	}
	ret = ks_ktls_handle_control(p->prm.ktls, d->src, type, p->rec, (size_t)n, p->prm.who,
				     &ctl);
	if (ret < 0 || ctl.action == KS_KTLS_CTL_CLOSE)
		return fail(p, ret < 0 ? ret : -ECONNABORTED);
	if (ctl.key_update)
		p->key_updates++;
	if (ctl.action == KS_KTLS_CTL_END) {
		p->client_close_notify = true;
		d->eof = true;
	}
	dir_next(d);
}

static void dir_next(struct dir *d)
{
	int ret;

	if (d->p->err)
		return maybe_report(d->p);
	if (d->in_pipe)
		ret = submit(d, ST_SPLICE_OUT);
	else if (d->eof)
		return dir_finish(d);
	else
		ret = submit(d, ST_SPLICE_IN);
	if (ret < 0)
		fail(d->p, ret);
}

static void dir_cb(struct ks_loop_op *op, int res, uint32_t flags)
{
	struct dir *d = container_of(op, struct dir, op);
	struct ks_splice_proxy *p = d->p;
	enum stage st = d->stage;

	(void)flags;
	d->stage = ST_IDLE;
	if (p->err)
		return maybe_report(p);
	if (res == -EAGAIN && (st == ST_SPLICE_IN || st == ST_SPLICE_OUT)) {
		res = submit(d, st == ST_SPLICE_IN ? ST_WAIT_IN : ST_WAIT_OUT);
		if (res < 0)
			fail(p, res);
		return;
	}
	if (st == ST_SPLICE_IN && d->from_client && p->prm.ktls && (res == -EINVAL || res == -EIO))
		return client_control(d);
	if (res < 0)
		return fail(p, res);
	switch (st) {
	case ST_SPLICE_IN:
		if (res == 0)
			d->eof = true;
		d->in_pipe += (size_t)res;
		d->bytes += (size_t)res;
		break;
	case ST_SPLICE_OUT:
		if (res == 0)
			return fail(p, -EIO);
		d->in_pipe -= (size_t)res;
		break;
	case ST_WAIT_IN:
		res = submit(d, ST_SPLICE_IN);
		if (res < 0)
			fail(p, res);
		return;
	case ST_WAIT_OUT:
		res = submit(d, ST_SPLICE_OUT);
		if (res < 0)
			fail(p, res);
		return;
	default:
		return fail(p, -EINVAL);
	}
	dir_next(d);
}

static int dir_init(struct ks_splice_proxy *p, struct dir *d, int src, int dst, bool from_client)
{
	d->p = p;
	d->src = src;
	d->dst = dst;
	d->from_client = from_client;
	ks_loop_op_init(&d->op, dir_cb);
	return pipe2(d->pipe, O_CLOEXEC | O_NONBLOCK) ? -errno : 0;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

struct ks_splice_proxy *ks_splice_proxy_start(const struct ks_splice_params *prm)
{
	struct ks_splice_proxy *p;
	int ret;

	if (!prm || !prm->loop || !prm->done || prm->client_fd < 0 || prm->backend_fd < 0) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->prm = *prm;
	if (!p->prm.who)
		p->prm.who = "";
	p->c2b.pipe[0] = p->c2b.pipe[1] = p->b2c.pipe[0] = p->b2c.pipe[1] = -1;
	TRY_OUT(dir_init(p, &p->c2b, prm->client_fd, prm->backend_fd, true));
	TRY_OUT(dir_init(p, &p->b2c, prm->backend_fd, prm->client_fd, false));
	TRY_OUT(set_nonblock(prm->client_fd));
	TRY_OUT(set_nonblock(prm->backend_fd));
	TRY_OUT(submit(&p->c2b, ST_SPLICE_IN));
	ret = submit(&p->b2c, ST_SPLICE_IN);
	if (ret < 0) {
		/* One request is in the kernel: stop it; done() reports the error. */
		fail(p, ret);
		return p;
	}
	return p;
out:
	ks_splice_proxy_free(p);
	errno = -ret;
	return NULL;
}

void ks_splice_proxy_stop(struct ks_splice_proxy *p)
{
	if (!p->reported)
		fail(p, -ECANCELED);
}

void ks_splice_proxy_free(struct ks_splice_proxy *p)
{
	if (!p)
		return;
	for (int i = 0; i < 2; i++) {
		if (p->c2b.pipe[i] >= 0)
			close(p->c2b.pipe[i]);
		if (p->b2c.pipe[i] >= 0)
			close(p->b2c.pipe[i]);
	}
	free(p);
}

void ks_splice_proxy_stats(const struct ks_splice_proxy *p, struct ks_splice_stats *out)
{
	out->client_to_backend = p->c2b.bytes;
	out->backend_to_client = p->b2c.bytes;
	out->key_updates = p->key_updates;
	out->client_close_notify = p->client_close_notify;
}

// SPDX-License-Identifier: MIT
/*
 * holdconns: the load client of bench/load.sh, and the backend that holds what kstaple proxies.
 *
 *   holdconns -p PORT -n N [-m M] [-c CAFILE] [-s NSRC] [-P INFLIGHT] [-t SECONDS] [-L SECONDS]
 *   holdconns -B PORT [-L SECONDS]
 *
 * Client: opens N TLS connections to 127.0.0.1:PORT (SNI localhost, status_request, peer
 * verified against CAFILE when given), at most INFLIGHT connecting or handshaking at once,
 * keeps the established ones open and idle; then opens M plain TCP connections that send
 * nothing (slowloris) and records when the server closes each. Source addresses rotate over
 * 127.0.0.1 .. 127.0.0.NSRC so that many connections do not run out of ephemeral ports.
 * Prints "status ..." once a second, "ready ..." once every TLS connection is established or
 * failed (or after -t SECONDS), and exits on SIGTERM/SIGINT or after -L SECONDS (default 900):
 * it always stops by itself.
 *
 * Backend (-B): listens on 127.0.0.1:PORT, accepts everything, reads and discards, closes
 * on end of stream; a request starting "GET " gets a short 200. Python's thread-per-connection backend would need 10,000 threads.
 *
 * Python's ssl module cannot send status_request, hence C.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum kind {
	TLS,
	PLAIN,
	BACKEND,
	LISTENER
};
enum state {
	CONNECTING,
	HANDSHAKING,
	HELD,
	CLOSED
};

struct conn {
	int fd;
	enum kind kind;
	enum state state;
	SSL *ssl;
	double opened; /* seconds, monotonic: when the TCP connection was established */
};

static struct {
	int tls_started, tls_ok, tls_fail, tls_closed, staples, inflight;
	int plain_started, plain_open, plain_closed, plain_fail;
	double plain_life_min, plain_life_max;
	int backend_open, backend_total;
} st;

static volatile sig_atomic_t stop;
static int ep;
static SSL_CTX *ctx;
static struct sockaddr_in dst;
static int nsrc = 1;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void watch(struct conn *c, int op, unsigned int events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (epoll_ctl(ep, op, c->fd, &ev) < 0) {
		perror("epoll_ctl");
		exit(70);
	}
}

static void finish(struct conn *c, bool ok)
{
	double life;

	if (c->kind == TLS) {
		if (c->state == CONNECTING || c->state == HANDSHAKING) {
			st.inflight--;
			ok ? st.tls_ok++ : st.tls_fail++;
		} else if (c->state == HELD) {
			st.tls_closed++;
		}
	} else if (c->kind == PLAIN) {
		if (c->state == CONNECTING) {
			st.inflight--;
			st.plain_fail++;
		} else if (c->state == HELD) {
			/* The server closed a connection that never sent a byte: its handshake timeout. */
			life = now() - c->opened;
			st.plain_open--;
			st.plain_closed++;
			if (st.plain_closed == 1 || life < st.plain_life_min)
				st.plain_life_min = life;
			if (life > st.plain_life_max)
				st.plain_life_max = life;
		}
	} else if (c->kind == BACKEND) {
		st.backend_open--;
	}
	if (!ok || c->state == HELD || c->kind == BACKEND) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		SSL_free(c->ssl);
		c->ssl = NULL;
		c->state = CLOSED;
		free(c);
	}
}

static void open_one(enum kind kind, int i)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct sockaddr_in src = { .sin_family = AF_INET };
	int one = 1;

	if (!c) {
		perror("calloc");
		exit(70);
	}
	c->kind = kind;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		perror("socket");
		exit(70);
	}
	if (nsrc > 1) {
		/* Bind the address only: the port is picked at connect() time per 4-tuple. */
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		src.sin_addr.s_addr = htonl(0x7f000001 + (i % nsrc));
		if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
			perror("bind");
			exit(70);
		}
	}
	kind == TLS ? st.tls_started++ : st.plain_started++;
	st.inflight++;
	c->state = CONNECTING;
	if (connect(c->fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 && errno != EINPROGRESS) {
		watch(c, EPOLL_CTL_ADD, 0);
		finish(c, false);
		return;
	}
	watch(c, EPOLL_CTL_ADD, EPOLLOUT);
}

static void handshake(struct conn *c)
{
	const unsigned char *resp;
	int r = SSL_do_handshake(c->ssl);

	if (r == 1) {
		if (SSL_get_tlsext_status_ocsp_resp(c->ssl, &resp) > 0)
			st.staples++;
		finish(c, true);
		c->state = HELD;
		c->opened = now();
		watch(c, EPOLL_CTL_MOD, EPOLLIN | EPOLLRDHUP);
		return;
	}
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		watch(c, EPOLL_CTL_MOD, EPOLLIN);
		return;
	case SSL_ERROR_WANT_WRITE:
		watch(c, EPOLL_CTL_MOD, EPOLLOUT);
		return;
	default:
		ERR_clear_error();
		finish(c, false);
	}
}

static void connected(struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
		finish(c, false);
		return;
	}
	if (c->kind == PLAIN) {
		st.inflight--;
		st.plain_open++;
		c->state = HELD;
		c->opened = now();
		watch(c, EPOLL_CTL_MOD, EPOLLIN | EPOLLRDHUP);
		return;
	}
	c->ssl = SSL_new(ctx);
	if (!c->ssl || !SSL_set_fd(c->ssl, c->fd) ||
	    !SSL_set_tlsext_host_name(c->ssl, "localhost") ||
	    !SSL_set_tlsext_status_type(c->ssl, TLSEXT_STATUSTYPE_ocsp)) {
		fprintf(stderr, "SSL setup failed\n");
		exit(70);
	}
	SSL_set_connect_state(c->ssl);
	c->state = HANDSHAKING;
	handshake(c);
}

/* A held connection became readable: a TLS 1.3 ticket (read and forget), or the end. */
static void readable(struct conn *c)
{
	char buf[4096];
	ssize_t n;
	int r;

	if (c->kind == TLS) {
		r = SSL_read(c->ssl, buf, sizeof(buf));
		if (r > 0)
			return;
		if (SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ)
			return;
		ERR_clear_error();
		finish(c, false);
		return;
	}
	n = read(c->fd, buf, sizeof(buf));
	if (n > 0 && c->kind == BACKEND && !strncmp(buf, "GET ", 4)) {
		/* A request (curl's check that kstaple still serves): answer it, then end. */
		static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
					 "Connection: close\r\n\r\nok\n";

		if (write(c->fd, ok, sizeof(ok) - 1) < 0)
			perror("backend write");
		shutdown(c->fd, SHUT_WR);
		return;
	}
	if (n > 0 || (n < 0 && errno == EAGAIN))
		return;
	finish(c, false);
}

static void on_event(struct conn *c, unsigned int events)
{
	int fd;

	if (c->kind == LISTENER) {
		while ((fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
			struct conn *b = calloc(1, sizeof(*b));

			if (!b) {
				close(fd);
				continue;
			}
			b->fd = fd;
			b->kind = BACKEND;
			b->state = HELD;
			st.backend_open++;
			st.backend_total++;
			watch(b, EPOLL_CTL_ADD, EPOLLIN | EPOLLRDHUP);
		}
		return;
	}
	if (c->state == CONNECTING)
		connected(c);
	else if (c->state == HANDSHAKING)
		handshake(c);
	else if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		readable(c);
}

static void status(const char *what)
{
	printf("%s tls_started=%d tls_ok=%d tls_fail=%d tls_closed=%d staples=%d inflight=%d "
	       "plain_started=%d plain_open=%d plain_closed=%d plain_fail=%d "
	       "plain_life_min=%.2f plain_life_max=%.2f backend_open=%d backend_total=%d\n",
	       what, st.tls_started, st.tls_ok, st.tls_fail, st.tls_closed, st.staples, st.inflight,
	       st.plain_started, st.plain_open, st.plain_closed, st.plain_fail, st.plain_life_min,
	       st.plain_life_max, st.backend_open, st.backend_total);
	fflush(stdout);
}

static int listen_backend(int port)
{
	static struct conn l = { .kind = LISTENER, .state = HELD };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l.fd < 0 || setsockopt(l.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(l.fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l.fd, 4096) < 0) {
		perror("backend listen");
		return 74;
	}
	watch(&l, EPOLL_CTL_ADD, EPOLLIN);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: holdconns -p PORT -n N [-m M] [-c CAFILE] [-s NSRC] [-P INFLIGHT]"
			" [-t SECONDS] [-L SECONDS]\n       holdconns -B PORT [-L SECONDS]\n");
	exit(64);
}

int main(int argc, char **argv)
{
	int port = 0, bport = 0, n = 0, m = 0, maxflight = 256, opt, i, k;
	double ready_after = 120, lifetime = 900, start, last = 0, t;
	const char *ca = NULL;
	bool ready = false;
	struct epoll_event evs[256];

	while ((opt = getopt(argc, argv, "p:n:m:c:s:P:t:L:B:")) != -1) {
		switch (opt) {
		case 'p':
			port = atoi(optarg);
			break;
		case 'n':
			n = atoi(optarg);
			break;
		case 'm':
			m = atoi(optarg);
			break;
		case 'c':
			ca = optarg;
			break;
		case 's':
			nsrc = atoi(optarg);
			break;
		case 'P':
			maxflight = atoi(optarg);
			break;
		case 't':
			ready_after = atof(optarg);
			break;
		case 'L':
			lifetime = atof(optarg);
			break;
		case 'B':
			bport = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if ((!port && !bport) || nsrc < 1 || nsrc > 250 || maxflight < 1)
		usage();
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return 70;
	if (bport && listen_backend(bport))
		return 74;
	if (port) {
		ctx = SSL_CTX_new(TLS_client_method());
		if (!ctx)
			return 70;
		SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		if (ca) {
			if (!SSL_CTX_load_verify_locations(ctx, ca, NULL)) {
				fprintf(stderr, "cannot load %s\n", ca);
				return 66;
			}
			SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		}
		dst.sin_family = AF_INET;
		dst.sin_port = htons(port);
		dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	start = now();
	while (!stop && now() - start < lifetime) {
		/* TLS first; the slowloris connections once every handshake is resolved. */
		while (st.tls_started < n && st.inflight < maxflight)
			open_one(TLS, st.tls_started);
		if (port && !ready &&
		    ((st.tls_ok + st.tls_fail == n) || now() - start > ready_after)) {
			ready = true;
			status("ready");
		}
		while (ready && st.plain_started < m && st.inflight < maxflight)
			open_one(PLAIN, n + st.plain_started);
		k = epoll_wait(ep, evs, 256, 100);
		for (i = 0; i < k; i++)
			on_event(evs[i].data.ptr, evs[i].events);
		t = now();
		if (t - last >= 1) {
			last = t;
			status("status");
		}
	}
	status("exit");
	return 0;
}

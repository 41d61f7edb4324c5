// SPDX-License-Identifier: MIT
/*
 * splice_proxy on plain loopback TCP (splice works without kTLS): a few MiB each way
 * byte-exact with half-closes passed on, a reset backend, a stop, bad parameters, no fd leak.
 * The kTLS control-record path runs in tests/integration/t_ktls.sh.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kstaple/splice_proxy.h"

static int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	cr_assert(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void tcp_pair(int *a, int *b)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert(l >= 0);
	cr_assert_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(l, 1), 0);
	cr_assert_eq(getsockname(l, (struct sockaddr *)&sa, &sl), 0);
	*a = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(*a, (struct sockaddr *)&sa, sizeof(sa)), 0);
	*b = accept(l, NULL, NULL);
	cr_assert(*b >= 0);
	close(l);
}

static uint8_t pattern(uint64_t seed, size_t i)
{
	uint64_t x = (i / 8 + 1) * 0x9E3779B97F4A7C15ull ^ seed;

	x ^= x >> 29;
	x *= 0xBF58476D1CE4E5B9ull;
	return (uint8_t)(x >> (8 * (i % 8)));
}

struct peer {
	int fd;
	uint64_t seed_out, seed_in;
	size_t n_out;
	size_t got;
	bool eof, mismatch, rst_after_half;
	pthread_t th;
};

static void *writer(void *arg)
{
	struct peer *pe = arg;
	uint8_t buf[8192];
	size_t off = 0;

	while (off < pe->n_out) {
		size_t k = KS_MIN(sizeof(buf), pe->n_out - off);

		for (size_t i = 0; i < k; i++)
			buf[i] = pattern(pe->seed_out, off + i);
		if (pe->rst_after_half && off >= pe->n_out / 2) {
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };

			/* close() with a zero linger sends RST; the test must not close it again. */
			setsockopt(pe->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(pe->fd);
			pe->fd = -1;
			return NULL;
		}
		ssize_t w = write(pe->fd, buf, k);
		if (w <= 0)
			return NULL;
		off += (size_t)w;
	}
	shutdown(pe->fd, SHUT_WR);
	return NULL;
}

static void *reader(void *arg)
{
	struct peer *pe = arg;
	uint8_t buf[16384];
	ssize_t n;

	while ((n = read(pe->fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pattern(pe->seed_in, pe->got + (size_t)i))
				pe->mismatch = true;
		pe->got += (size_t)n;
	}
	pe->eof = n == 0;
	return NULL;
}

static int done_err = 1;
static int done_calls;

static void on_done(struct ks_splice_proxy *p, int err, void *arg)
{
	(void)p;
	(void)arg;
	done_err = err;
	done_calls++;
}

static struct ks_loop *new_loop(void)
{
	struct ks_loop *loop = ks_loop_new(NULL);

	if (!loop)
		cr_skip_test("no io_uring here: %s", strerror(errno));
	return loop;
}

/* Dispatch until done() ran, for at most 30 s: a stuck proxy fails the test, never hangs it. */
static void run_until_done(struct ks_loop *loop)
{
	time_t end = time(NULL) + 30;

	while (!done_calls && time(NULL) < end)
		cr_assert_geq(ks_loop_run_once(loop, 200), 0);
	cr_assert_eq(done_calls, 1, "done() ran once within 30 s");
}

Test(splice_proxy, moves_mib_each_way_byte_exact_with_half_close)
{
	const size_t n = 3u << 20;
	int cl, px_c, px_b, be, fds0 = fd_count();
	struct ks_loop *loop = new_loop();
	struct peer c_w = { .seed_out = 1, .n_out = n }, c_r = { .seed_in = 2 };
	struct peer b_w = { .seed_out = 2, .n_out = n }, b_r = { .seed_in = 1 };
	struct ks_splice_stats st;
	struct ks_splice_proxy *p;

	signal(SIGPIPE, SIG_IGN);
	tcp_pair(&cl, &px_c);
	tcp_pair(&px_b, &be);
	p = ks_splice_proxy_start(&(struct ks_splice_params){ .loop = loop,
							      .client_fd = px_c,
							      .backend_fd = px_b,
							      .chunk = 16384,
							      .who = "test",
							      .done = on_done });
	cr_assert(p, "start: %s", strerror(errno));
	c_w.fd = c_r.fd = cl;
	b_w.fd = b_r.fd = be;
	pthread_create(&c_w.th, NULL, writer, &c_w);
	pthread_create(&c_r.th, NULL, reader, &c_r);
	pthread_create(&b_w.th, NULL, writer, &b_w);
	pthread_create(&b_r.th, NULL, reader, &b_r);
	run_until_done(loop);
	pthread_join(c_w.th, NULL);
	pthread_join(b_w.th, NULL);
	pthread_join(c_r.th, NULL);
	pthread_join(b_r.th, NULL);
	cr_assert_eq(done_err, 0, "%s", strerror(-done_err));
	cr_assert_eq(b_r.got, n);
	cr_assert_eq(c_r.got, n);
	cr_assert(!b_r.mismatch && !c_r.mismatch, "byte-exact");
	cr_assert(b_r.eof && c_r.eof, "half-closes passed on");
	ks_splice_proxy_stats(p, &st);
	cr_assert_eq(st.client_to_backend, n);
	cr_assert_eq(st.backend_to_client, n);
	cr_assert_eq(ks_loop_busy(loop), 0);
	ks_splice_proxy_free(p);
	close(cl);
	close(px_c);
	close(px_b);
	close(be);
	ks_loop_free(loop);
	cr_assert_eq(fd_count(), fds0, "no fd leak");
}

Test(splice_proxy, reset_backend_reports_an_error)
{
	struct ks_loop *loop = new_loop();
	int cl, px_c, px_b, be;
	struct peer b_w = { .seed_out = 2, .n_out = 1u << 20, .rst_after_half = true };
	struct peer c_r = { .seed_in = 2 };
	struct ks_splice_proxy *p;

	signal(SIGPIPE, SIG_IGN);
	tcp_pair(&cl, &px_c);
	tcp_pair(&px_b, &be);
	p = ks_splice_proxy_start(&(struct ks_splice_params){
		.loop = loop, .client_fd = px_c, .backend_fd = px_b, .done = on_done });
	cr_assert(p);
	b_w.fd = be;
	c_r.fd = cl;
	pthread_create(&b_w.th, NULL, writer, &b_w);
	/* The client reads, so the proxy keeps reading the backend until it meets the reset. */
	pthread_create(&c_r.th, NULL, reader, &c_r);
	run_until_done(loop);
	pthread_join(b_w.th, NULL);
	shutdown(cl, SHUT_RDWR);
	pthread_join(c_r.th, NULL);
	cr_assert_leq(c_r.got, 1u << 19, "no more than the backend sent before the reset");
	cr_assert(!c_r.mismatch);
	cr_assert_lt(done_err, 0);
	cr_assert_eq(ks_loop_busy(loop), 0);
	ks_splice_proxy_free(p);
	close(cl);
	close(px_c);
	close(px_b);
	cr_assert_eq(b_w.fd, -1, "the backend was reset");
	ks_loop_free(loop);
}

Test(splice_proxy, stop_cancels_and_reports_once)
{
	struct ks_loop *loop = new_loop();
	int cl, px_c, px_b, be;
	struct ks_splice_proxy *p;

	tcp_pair(&cl, &px_c);
	tcp_pair(&px_b, &be);
	p = ks_splice_proxy_start(&(struct ks_splice_params){
		.loop = loop, .client_fd = px_c, .backend_fd = px_b, .done = on_done });
	cr_assert(p);
	cr_assert_geq(ks_loop_run_once(loop, 0), 0);
	ks_splice_proxy_stop(p);
	run_until_done(loop);
	cr_assert_eq(done_err, -ECANCELED);
	ks_splice_proxy_stop(p);
	cr_assert_eq(done_calls, 1);
	cr_assert_eq(ks_loop_busy(loop), 0);
	ks_splice_proxy_free(p);
	close(cl);
	close(px_c);
	close(px_b);
	close(be);
	ks_loop_free(loop);
}

Test(splice_proxy, refuses_bad_parameters)
{
	struct ks_loop *loop = new_loop();

	errno = 0;
	cr_assert_null(ks_splice_proxy_start(NULL));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(ks_splice_proxy_start(&(struct ks_splice_params){
		.loop = loop, .client_fd = -1, .backend_fd = 0, .done = on_done }));
	cr_assert_null(ks_splice_proxy_start(
		&(struct ks_splice_params){ .loop = loop, .client_fd = 0, .backend_fd = 1 }));
	ks_loop_free(loop);
}

// SPDX-License-Identifier: MIT
/*
 * conn: one connection on a real io_uring loop. The client is an OpenSSL client SSL on a TCP
 * socket, stepped by the test between loop iterations; the backend is a listening socket the
 * test accepts from itself. Timeouts are short and real.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/err.h>

#include "helpers/fixtures.h"
#include "kstaple/conn.h"
#include "kstaple/log.h"

static struct ks_loop *loop;
static struct ks_cert *cert;
static struct ks_cache *cache;
static struct ks_tls_cert tc;
static struct ks_tls_ctx *tls;
static struct ks_conn_set set;
static struct ks_conn_stats stats;
static int64_t now_t;
static struct ks_clock clk;
static char dir[128];
static int closed_calls;
static SSL_CTX *cctx;

static void setup(void)
{
	struct ks_tls_cert *list[1] = { &tc };
	struct ks_tls_listener_spec spec = {
		.name = "t", .certs = list, .n_certs = 1, .clk = &clk
	};
	struct ks_cert_spec cs = { .name = "ecdsa" };
	char chain[512], key[512];

	if (!ks_test_fixtures_dir())
		cr_skip_test("KS_FIXTURES is not set (scripts/mkfixtures.sh DIR)");
	ks_log_set_level(KS_LOG_ERR);
	loop = ks_loop_new(NULL);
	if (!loop)
		cr_skip_test("no io_uring here: %s", strerror(errno));
	now_t = time(NULL);
	ks_clock_fixed(&clk, &now_t);
	snprintf(chain, sizeof(chain), "%s", ks_test_fixture("pki/leaf/ecdsa/chain.pem"));
	snprintf(key, sizeof(key), "%s", ks_test_fixture("pki/leaf/ecdsa/key.pem"));
	cs.chain_path = chain;
	cs.key_path = key;
	cr_assert_eq(ks_cert_load(&cs, now_t, &cert), 0);
	cr_assert_eq(ks_test_tmpdir(dir, sizeof(dir)), 0);
	cache = ks_cache_new(dir, &clk, 300);
	tc.cert = cert;
	cr_assert_eq(ks_cache_add(cache, cert, &tc.entry), 0);
	tls = ks_tls_ctx_new(&spec);
	cr_assert_not_null(tls);
	cctx = SSL_CTX_new(TLS_client_method());
	memset(&set, 0, sizeof(set));
	memset(&stats, 0, sizeof(stats));
	closed_calls = 0;
}

static void teardown(void)
{
	if (loop)
		ks_loop_free(loop);
	loop = NULL;
	SSL_CTX_free(cctx);
	ks_tls_ctx_free(tls);
	ks_cache_free(cache);
	ks_cert_free(cert);
	if (dir[0])
		ks_test_rmdir(dir);
	dir[0] = '\0';
}

TestSuite(conn, .init = setup, .fini = teardown, .timeout = 20);

static void on_closed(void *arg, void *ref)
{
	(void)arg;
	(void)ref;
	closed_calls++;
}

/* A listening socket on 127.0.0.1 (the backend), non-blocking. */
static int backend_listener(struct sockaddr_in *sa)
{
	socklen_t len = sizeof(*sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)sa, sizeof(*sa)), 0);
	cr_assert_eq(listen(fd, 8), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)sa, &len), 0);
	return fd;
}

/* A connected TCP pair over loopback: *srv goes to the connection, the return to the client. */
static int tcp_pair(int *srv)
{
	struct sockaddr_in sa;
	int l = backend_listener(&sa), c = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_eq(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	*srv = accept4(l, NULL, NULL, SOCK_NONBLOCK);
	cr_assert_geq(*srv, 0);
	close(l);
	fcntl(c, F_SETFL, O_NONBLOCK);
	return c;
}

static void start(int fd, const struct sockaddr_in *backend, int64_t hs_ms, int64_t idle_ms)
{
	struct ks_conn_params p = {
		.loop = loop,
		.tls = tls,
		.backend = (const struct sockaddr *)backend,
		.backend_len = sizeof(*backend),
		.backend_name = "test-backend",
		.listener = "t",
		.handshake_timeout_ms = hs_ms,
		.idle_timeout_ms = idle_ms,
		.set = &set,
		.stats = &stats,
		.closed = on_closed,
	};

	cr_assert_eq(ks_conn_start(&p, fd), 0);
}

/* Run the loop for up to ms, stopping early when cond() holds. */
static void pump(int64_t ms, bool (*cond)(void *), void *arg)
{
	int64_t end = ks_monotonic_ms() + ms;

	while (ks_monotonic_ms() < end && !(cond && cond(arg)))
		cr_assert_geq(ks_loop_run_once(loop, 10), 0);
}

static bool conn_gone(void *arg)
{
	(void)arg;
	return closed_calls > 0;
}

static bool handshake_step(void *arg)
{
	SSL *c = arg;
	int r = SSL_do_handshake(c);

	return r == 1 || SSL_get_error(c, r) != SSL_ERROR_WANT_READ;
}

static SSL *client(int fd)
{
	SSL *c = SSL_new(cctx);

	SSL_set_fd(c, fd);
	SSL_set_connect_state(c);
	SSL_set_tlsext_host_name(c, "localhost");
	return c;
}

Test(conn, handshake_timeout_closes_a_silent_client)
{
	struct sockaddr_in be = { .sin_family = AF_INET };
	int srv, cfd = tcp_pair(&srv);
	int64_t t0 = ks_monotonic_ms();

	start(srv, &be, 200, 60000);
	cr_assert_eq(set.count, 1);
	pump(3000, conn_gone, NULL);
	cr_assert_eq(closed_calls, 1, "not closed after the handshake timeout");
	cr_assert_geq(ks_monotonic_ms() - t0, 190);
	cr_assert_eq(atomic_load(&stats.handshake_timeouts), 1);
	cr_assert_eq(set.count, 0);
	cr_assert_eq(ks_loop_busy(loop), 0, "ops left behind");
	close(cfd);
}

Test(conn, garbage_instead_of_a_client_hello_fails_the_handshake)
{
	struct sockaddr_in be = { .sin_family = AF_INET };
	int srv, cfd = tcp_pair(&srv);

	cr_assert_eq(write(cfd, "GET / HTTP/1.0\r\n\r\n", 18), 18);
	start(srv, &be, 5000, 60000);
	pump(2000, conn_gone, NULL);
	cr_assert_eq(closed_calls, 1);
	cr_assert_eq(atomic_load(&stats.handshake_failures), 1);
	cr_assert_eq(atomic_load(&stats.handshake_timeouts), 0);
	close(cfd);
}

Test(conn, backend_refused_sends_close_notify)
{
	struct sockaddr_in be;
	int l = backend_listener(&be), srv, cfd = tcp_pair(&srv);
	SSL *c = client(cfd);
	char buf[16];
	int n = 0;

	close(l); /* nothing listens there any more: connect is refused */
	start(srv, &be, 5000, 60000);
	pump(2000, handshake_step, c);
	cr_assert_eq(SSL_is_init_finished(c), 1);
	pump(2000, conn_gone, NULL);
	cr_assert_eq(closed_calls, 1);
	cr_assert_eq(atomic_load(&stats.backend_failures), 1);
	for (int i = 0; i < 100 && (n = SSL_read(c, buf, sizeof(buf))) <= 0 &&
			SSL_get_error(c, n) == SSL_ERROR_WANT_READ;
	     i++)
		usleep(10000);
	cr_assert_eq(SSL_get_error(c, n), SSL_ERROR_ZERO_RETURN, "no close_notify from the proxy");
	SSL_free(c);
	close(cfd);
}

struct echo {
	int l, fd;
	SSL *c;
	char got[64];
	size_t got_len;
};

static bool backend_accepted(void *arg)
{
	struct echo *e = arg;

	if (e->fd < 0)
		e->fd = accept4(e->l, NULL, NULL, SOCK_NONBLOCK);
	return e->fd >= 0;
}

static bool backend_read(void *arg)
{
	struct echo *e = arg;
	ssize_t n = read(e->fd, e->got + e->got_len, sizeof(e->got) - 1 - e->got_len);

	if (n > 0)
		e->got_len += (size_t)n;
	return n == 0; /* EOF */
}

static bool client_read(void *arg)
{
	struct echo *e = arg;
	int n = SSL_read(e->c, e->got + e->got_len, (int)(sizeof(e->got) - 1 - e->got_len));

	if (n > 0)
		e->got_len += (size_t)n;
	return n <= 0 && SSL_get_error(e->c, n) == SSL_ERROR_ZERO_RETURN;
}

Test(conn, proxies_both_ways_with_half_close)
{
	struct sockaddr_in be;
	struct echo e = { .fd = -1 };
	int srv, cfd = tcp_pair(&srv);

	e.l = backend_listener(&be);
	e.c = client(cfd);
	start(srv, &be, 5000, 60000);
	pump(2000, handshake_step, e.c);
	cr_assert_eq(SSL_is_init_finished(e.c), 1);
	pump(2000, backend_accepted, &e);
	cr_assert_geq(e.fd, 0, "the proxy did not connect to the backend");
	cr_assert_eq(SSL_write(e.c, "hello", 5), 5);
	/* The client half-closes with close_notify: the backend must see "hello" then EOF. */
	cr_assert_geq(SSL_shutdown(e.c), 0);
	pump(2000, backend_read, &e);
	cr_assert_str_eq(e.got, "hello");
	cr_assert_eq(closed_calls, 0, "closed while the backend can still answer");
	/* The backend answers after the client's EOF, then half-closes in turn. */
	cr_assert_eq(write(e.fd, "world", 5), 5);
	shutdown(e.fd, SHUT_WR);
	memset(e.got, 0, sizeof(e.got));
	e.got_len = 0;
	pump(2000, client_read, &e);
	cr_assert_str_eq(e.got, "world");
	pump(2000, conn_gone, NULL);
	cr_assert_eq(closed_calls, 1);
	cr_assert_eq(atomic_load(&stats.completed), 1);
	cr_assert_eq(atomic_load(&stats.bytes_in), 5);
	cr_assert_eq(atomic_load(&stats.bytes_out), 5);
	SSL_free(e.c);
	close(e.fd);
	close(e.l);
	close(cfd);
}

Test(conn, idle_timeout_after_the_handshake)
{
	struct sockaddr_in be;
	struct echo e = { .fd = -1 };
	int srv, cfd = tcp_pair(&srv);
	int64_t t0;

	e.l = backend_listener(&be);
	e.c = client(cfd);
	start(srv, &be, 5000, 300);
	pump(2000, handshake_step, e.c);
	pump(2000, backend_accepted, &e);
	cr_assert_geq(e.fd, 0);
	t0 = ks_monotonic_ms();
	pump(3000, conn_gone, NULL);
	cr_assert_eq(closed_calls, 1);
	cr_assert_eq(atomic_load(&stats.idle_timeouts), 1);
	cr_assert_geq(ks_monotonic_ms() - t0, 150);
	SSL_free(e.c);
	close(e.fd);
	close(e.l);
	close(cfd);
}

Test(conn, abort_all_closes_everything)
{
	struct sockaddr_in be = { .sin_family = AF_INET };
	int srv1, c1 = tcp_pair(&srv1), srv2, c2 = tcp_pair(&srv2);

	start(srv1, &be, 60000, 60000);
	start(srv2, &be, 60000, 60000);
	cr_assert_eq(set.count, 2);
	ks_conn_abort_all(&set);
	pump(500, NULL, NULL);
	cr_assert_eq(closed_calls, 2);
	cr_assert_eq(set.count, 0);
	cr_assert_eq(ks_loop_busy(loop), 0);
	close(c1);
	close(c2);
}

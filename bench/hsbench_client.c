// SPDX-License-Identifier: MIT
/*
 * The handshake loop of kstaple-bench.
 *
 * One thread per connection, each doing blocking connect + handshake + close back to back with
 * its own SSL_CTX (no lock shared with the other threads on the hot path, no client session
 * cache unless --resume). Blocking I/O is the simplest client that is honest about latency:
 * nothing else runs on the thread between the start of a handshake and its end, so the
 * measured time is the handshake's and not some event loop's queueing. Each thread has its own
 * histogram and counters; they are merged after the threads are joined.
 */
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "hsbench_client.h"
#include "kstaple/log.h"

#define LATE_NS 1000000ull /* an open-loop arrival this late is counted as "late" */

static volatile sig_atomic_t interrupted;

uint64_t ks_bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t_ns)
{
	struct timespec ts = { .tv_sec = (time_t)(t_ns / 1000000000ull),
			       .tv_nsec = (long)(t_ns % 1000000000ull) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !interrupted)
		;
}

static void sleep_ms(double ms)
{
	if (ms > 0)
		sleep_until(ks_bench_now_ns() + (uint64_t)(ms * 1e6));
}

/* Remember the first failure's reason, so that a run full of errors says why. */
static void note_error(struct ks_bench_shared *sh, const char *what, const char *detail)
{
	int expected = 0;

	if (atomic_compare_exchange_strong(&sh->have_first_error, &expected, 1))
		snprintf(sh->first_error, sizeof(sh->first_error), "%s: %s", what, detail);
}

static void note_ossl_error(struct ks_bench_shared *sh, const char *what, int ssl_err, int sys)
{
	char buf[200];
	unsigned long e = ERR_peek_error();

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	else if (ssl_err == SSL_ERROR_SYSCALL && sys)
		snprintf(buf, sizeof(buf), "%s", strerror(sys));
	else
		snprintf(buf, sizeof(buf), "SSL_get_error %d (peer closed?)", ssl_err);
	note_error(sh, what, buf);
	ERR_clear_error();
}

static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct ks_bench_worker *w = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));

	/* Keep the latest ticket: TLS 1.3 servers may accept each only once. */
	SSL_SESSION_free(w->sess);
	w->sess = sess;
	w->got_ticket = 1;
	return 1; /* we own the reference now */
}

static SSL_CTX *make_ctx(const struct ks_bench_opts *o, struct ks_bench_worker *w)
{
	int v = o->tls == 12 ? TLS1_2_VERSION : TLS1_3_VERSION;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		return NULL;
	SSL_CTX_set_app_data(ctx, w);
	if (SSL_CTX_set_min_proto_version(ctx, v) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, v) != 1)
		goto fail;
	if (o->groups && SSL_CTX_set1_groups_list(ctx, o->groups) != 1)
		goto fail;
	if (o->sigalgs && SSL_CTX_set1_sigalgs_list(ctx, o->sigalgs) != 1)
		goto fail;
	if (o->ciphers && o->tls == 13 && SSL_CTX_set_ciphersuites(ctx, o->ciphers) != 1)
		goto fail;
	if (o->ciphers && o->tls == 12 && SSL_CTX_set_cipher_list(ctx, o->ciphers) != 1)
		goto fail;
	if (o->cafile) {
		if (SSL_CTX_load_verify_locations(ctx, o->cafile, NULL) != 1)
			goto fail;
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	if (o->resume) {
		/* Tickets go to our callback only: no shared cache to contend on. */
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
							    SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
	} else {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static int open_socket(const struct ks_bench_shared *sh)
{
	const struct ks_bench_opts *o = sh->o;
	struct timeval tv = {
		.tv_sec = (time_t)o->timeout_s,
		.tv_usec = (suseconds_t)((o->timeout_s - (double)(time_t)o->timeout_s) * 1e6)
	};
	int one = 1;
	int fd = socket(sh->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	/* Timeouts on a blocking socket bound connect, every read and every write. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	if (connect(fd, (const struct sockaddr *)&sh->addr, sh->addrlen) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/*
 * TLS 1.3 tickets arrive after the handshake: read until the new-session callback has taken
 * one (bounded by 200 ms per read), without AUTO_RETRY so that SSL_read returns after each
 * post-handshake message instead of waiting for application data that never comes.
 */
static void wait_ticket(struct ks_bench_worker *w, SSL *ssl, int fd)
{
	char b;

	if (SSL_version(ssl) < TLS1_3_VERSION)
		return;
	SSL_clear_mode(ssl, SSL_MODE_AUTO_RETRY);
	w->got_ticket = 0;
	for (int i = 0; i < 4 && !w->got_ticket; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 200) <= 0)
			break;
		int r = SSL_read(ssl, &b, 1);

		if (r <= 0 && SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ)
			break;
	}
	ERR_clear_error();
}

struct hs_out {
	int err; /* enum ks_bench_err, or -1 when the handshake (and status check) succeeded */
	int stapled, verified, resumed, fetched;
};

/* The status part of a handshake: the staple received, or the client's own fetch. */
static void check_status(struct ks_bench_worker *w, SSL *ssl, struct hs_out *out)
{
	const struct ks_bench_opts *o = w->sh->o;
	X509 *leaf = SSL_get0_peer_certificate(ssl);
	OCSP_RESPONSE *resp = NULL;
	const char *why = NULL;

	if (o->status) {
		const unsigned char *p = NULL;
		long len = SSL_get_tlsext_status_ocsp_resp(ssl, &p);

		out->stapled = len > 0 && p;
		if (out->stapled && w->sh->issuer && leaf) {
			resp = d2i_OCSP_RESPONSE(NULL, &p, len);
			out->verified = resp && ks_bench_ocsp_check(w, resp, leaf) == 0;
		}
	} else if (o->client_ocsp) {
		if (!leaf || ks_bench_ocsp_fetch(w, ssl, leaf, &resp, &why) < 0) {
			note_error(w->sh, "ocsp fetch", why ? why : "no peer certificate");
			out->err = KS_BENCH_ERR_OCSP;
		} else {
			out->fetched = 1;
			out->verified = w->sh->issuer && ks_bench_ocsp_check(w, resp, leaf) == 0;
		}
	}
	OCSP_RESPONSE_free(resp);
	ERR_clear_error();
}

/* One connection: connect, handshake, status, close. Sets *end_ns when the status is known. */
static void handshake(struct ks_bench_worker *w, struct hs_out *out, uint64_t *end_ns)
{
	struct ks_bench_shared *sh = w->sh;
	const struct ks_bench_opts *o = sh->o;
	SSL *ssl = NULL;
	int fd, r;

	memset(out, 0, sizeof(*out));
	out->err = -1;
	fd = open_socket(sh);
	if (fd < 0) {
		note_error(sh, "connect", strerror(-fd));
		out->err = KS_BENCH_ERR_CONNECT;
		goto out;
	}
	ssl = SSL_new(w->ctx);
	if (!ssl || SSL_set_fd(ssl, fd) != 1) {
		note_ossl_error(sh, "SSL_new", 0, 0);
		out->err = KS_BENCH_ERR_HANDSHAKE;
		goto out;
	}
	if (o->sni)
		SSL_set_tlsext_host_name(ssl, o->sni);
	if (o->status)
		SSL_set_tlsext_status_type(ssl, TLSEXT_STATUSTYPE_ocsp);
	if (o->resume && w->sess)
		SSL_set_session(ssl, w->sess);
	r = SSL_connect(ssl);
	if (r != 1) {
		int e = SSL_get_error(ssl, r), sys = errno;

		/* On a blocking socket, SO_RCVTIMEO/SO_SNDTIMEO expiring surfaces as WANT_READ or
		 * WANT_WRITE (or SYSCALL with EAGAIN): nothing else can ask to retry. */
		int timed_out = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
				(e == SSL_ERROR_SYSCALL && (sys == EAGAIN || sys == EWOULDBLOCK));

		out->err = timed_out ? KS_BENCH_ERR_TIMEOUT : KS_BENCH_ERR_HANDSHAKE;
		note_ossl_error(sh, timed_out ? "handshake timeout" : "handshake",
				timed_out ? SSL_ERROR_SYSCALL : e, timed_out ? ETIMEDOUT : sys);
		goto out;
	}
	out->resumed = SSL_session_reused(ssl);
	check_status(w, ssl, out);
	*end_ns = ks_bench_now_ns();
	if (o->resume)
		wait_ticket(w, ssl, fd);
	/* Send close_notify and go: waiting for the server's would time the teardown too. */
	SSL_shutdown(ssl);
out:
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	ERR_clear_error();
	if (out->err >= 0)
		*end_ns = ks_bench_now_ns();
}

/*
 * Take the next attempt. Returns 0 when the run is over. *start is the time latency is measured
 * from. In open loop that is the SCHEDULED time of the arrival, slot * period after t0, and the
 * thread sleeps until then; when the server (or this client) falls behind, the arrival starts
 * late and the delay is part of its latency. Measuring from the actual send time instead would
 * hide exactly the waits a real user sees, because a stalled server also stalls the generator
 * that would have exposed the stall ("coordinated omission", Gil Tene).
 */
static int claim(struct ks_bench_worker *w, uint64_t *slot, uint64_t *start, int *measure)
{
	struct ks_bench_shared *sh = w->sh;
	const struct ks_bench_opts *o = sh->o;
	uint64_t s, now;

	if (interrupted)
		return 0;
	s = atomic_fetch_add(&sh->next_slot, 1);
	*slot = s;
	if (o->mode == KS_BENCH_OPEN) {
		uint64_t sched = sh->t0 + (uint64_t)((double)s * sh->period_ns);

		if (sh->end ? sched >= sh->end : s >= sh->warm_slots + o->count)
			return 0;
		*measure = sh->end ? sched >= sh->warm_end : s >= sh->warm_slots;
		sleep_until(sched);
		if (interrupted)
			return 0;
		*start = sched;
		if (*measure && ks_bench_now_ns() - sched > LATE_NS)
			w->r.late++;
		return 1;
	}
	now = ks_bench_now_ns();
	if (sh->end && now >= sh->end)
		return 0;
	*start = now;
	*measure = now >= sh->warm_end;
	if (*measure && !sh->end && atomic_fetch_add(&sh->measured, 1) >= o->count)
		return 0;
	return 1;
}

static void record(struct ks_bench_worker *w, const struct hs_out *out, uint64_t lat)
{
	struct ks_bench_result *r = &w->r;

	if (out->err >= 0) {
		r->errors[out->err]++;
		return;
	}
	ks_hist_record(&r->hist, lat);
	r->ok++;
	r->stapled += (uint64_t)out->stapled;
	r->verified += (uint64_t)out->verified;
	r->resumed += (uint64_t)out->resumed;
	r->fetched += (uint64_t)out->fetched;
}

static void *worker_main(void *arg)
{
	struct ks_bench_worker *w = arg;
	struct ks_bench_shared *sh = w->sh;
	uint64_t slot, start, end = 0;
	int measure;
	struct hs_out out;

	/* All threads begin together at t0, so none is counted as warm-up by starting early. */
	sleep_until(sh->t0);
	while (claim(w, &slot, &start, &measure)) {
		handshake(w, &out, &end);
		uint64_t lat = end - start;

		if (slot < sh->o->first) {
			struct ks_bench_first *f = &sh->first[slot];

			f->ok = out.err < 0;
			f->stapled = (uint8_t)out.stapled;
			f->verified = (uint8_t)out.verified;
			f->start_ms = (double)(start - sh->t0) / 1e6;
			f->latency_ns = f->ok ? lat : 0;
			f->done = 1;
		}
		if (!measure) {
			w->r.warmup++;
			continue;
		}
		record(w, &out, lat);
		w->last_end = end;
	}
	return NULL;
}

static int resolve(struct ks_bench_shared *sh)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(sh->o->host, sh->o->port, &hints, &res);

	if (rc != 0) {
		ks_err("cannot resolve %s: %s", sh->o->host, gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	memcpy(&sh->addr, res->ai_addr, KS_MIN(res->ai_addrlen, sizeof(sh->addr)));
	sh->addrlen = (socklen_t)KS_MIN(res->ai_addrlen, sizeof(sh->addr));
	freeaddrinfo(res);
	return 0;
}

/* --wait: poll the port with plain TCP connections until it accepts (no TLS: no state). */
static int wait_port(struct ks_bench_shared *sh)
{
	uint64_t deadline = ks_bench_now_ns() + (uint64_t)(sh->o->wait_s * 1e9);
	int fd;

	while ((fd = open_socket(sh)) < 0) {
		if (ks_bench_now_ns() >= deadline || interrupted) {
			ks_err("%s:%s did not accept a connection within %g s: %s", sh->o->host,
			       sh->o->port, sh->o->wait_s, strerror(-fd));
			return fd;
		}
		sleep_ms(20);
	}
	close(fd);
	return 0;
}

/*
 * user + system seconds of the --server-pid processes, or -1 if one is gone. The process CPU
 * clock (clock_getcpuclockid) counts in nanoseconds, threads that exited included; /proc's
 * 10 ms ticks are the fallback, too coarse for runs of a few hundred handshakes.
 */
static double server_cpu(const struct ks_bench_opts *o)
{
	double ticks = 0, ns = 0;
	int clocks = 1;

	for (unsigned i = 0; i < o->npids && clocks; i++) {
		struct timespec ts;
		clockid_t id;

		if (clock_getcpuclockid(o->pids[i], &id) != 0 || clock_gettime(id, &ts) != 0)
			clocks = 0;
		else
			ns += (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
	}
	if (clocks)
		return ns / 1e9;
	for (unsigned i = 0; i < o->npids; i++) {
		char path[64], buf[1024];
		unsigned long long ut, st;
		FILE *f;
		size_t n;

		snprintf(path, sizeof(path), "/proc/%d/stat", o->pids[i]);
		f = fopen(path, "re");
		if (!f)
			return -1;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		/* proc(5): "pid (comm) state ppid ..."; comm may hold spaces and ')', so fields
		 * are counted from the last ')': utime and stime are fields 14 and 15. */
		char *p = strrchr(buf, ')');

		if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				 &ut, &st) != 2)
			return -1;
		ticks += (double)(ut + st);
	}
	return ticks / (double)sysconf(_SC_CLK_TCK);
}

static double client_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Contexts, verification stores and (for --resume) a first full handshake per thread. */
static int setup_workers(struct ks_bench_shared *sh, struct ks_bench_worker *ws, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct ks_bench_worker *w = &ws[i];
		struct hs_out out;
		uint64_t end;

		w->sh = sh;
		ks_hist_init(&w->r.hist);
		w->ctx = make_ctx(sh->o, w);
		if (!w->ctx) {
			ks_log_ossl(KS_LOG_ERR, NULL, "cannot set up the TLS client context");
			return -EINVAL;
		}
		TRY(ks_bench_ocsp_worker_init(w));
		if (!sh->o->resume)
			continue;
		handshake(w, &out, &end);
		if (out.err >= 0 || !w->sess) {
			ks_err("--resume: the first full handshake %s (%s)",
			       out.err >= 0 ? "failed" : "gave no session ticket",
			       sh->first_error[0] ? sh->first_error : "no detail");
			return -EPROTO;
		}
	}
	return 0;
}

static void merge_results(struct ks_bench_shared *sh, struct ks_bench_worker *ws, unsigned n,
			  struct ks_bench_result *r)
{
	uint64_t last_end = sh->warm_end;

	for (unsigned i = 0; i < n; i++) {
		const struct ks_bench_result *wr = &ws[i].r;

		ks_hist_merge(&r->hist, &wr->hist);
		r->ok += wr->ok;
		r->stapled += wr->stapled;
		r->verified += wr->verified;
		r->resumed += wr->resumed;
		r->fetched += wr->fetched;
		r->late += wr->late;
		r->warmup += wr->warmup;
		for (int k = 0; k < KS_BENCH_ERR_KINDS; k++)
			r->errors[k] += wr->errors[k];
		last_end = KS_MAX(last_end, ws[i].last_end);
	}
	/* Open loop with --duration: the offered window, even if the last arrivals ended early. */
	if (sh->o->mode == KS_BENCH_OPEN && sh->end)
		last_end = KS_MAX(last_end, sh->end);
	r->elapsed_s = (double)(last_end - sh->warm_end) / 1e9;
	if (sh->first) {
		r->first = sh->first;
		sh->first = NULL;
		while (r->nfirst < sh->o->first && r->first[r->nfirst].done)
			r->nfirst++;
	}
	snprintf(r->first_error, sizeof(r->first_error), "%s", sh->first_error);
}

static int run_threads(struct ks_bench_shared *sh, struct ks_bench_worker *ws,
		       struct ks_bench_result *r)
{
	const struct ks_bench_opts *o = sh->o;
	unsigned n = o->connections, started = 0;
	double cpu0, scpu0;
	int ret = 0;

	sh->t0 = ks_bench_now_ns() + 1000000; /* 1 ms for the threads to start */
	sh->warm_end = sh->t0 + (uint64_t)(o->warmup_s * 1e9);
	sh->end = o->duration_s > 0 ? sh->warm_end + (uint64_t)(o->duration_s * 1e9) : 0;
	if (o->mode == KS_BENCH_OPEN) {
		sh->period_ns = 1e9 / o->rate;
		sh->warm_slots = (uint64_t)ceil(o->warmup_s * o->rate);
	}
	for (; started < n; started++) {
		ret = -pthread_create(&ws[started].tid, NULL, worker_main, &ws[started]);
		if (ret < 0) {
			ks_err("cannot start thread %u of %u: %s", started + 1, n, strerror(-ret));
			interrupted = 1; /* let the ones already running stop */
			break;
		}
	}
	/* CPU is accounted from the end of the warm-up to the end of the last handshake. */
	sleep_until(sh->warm_end);
	cpu0 = client_cpu();
	scpu0 = o->npids ? server_cpu(o) : -1;
	for (unsigned i = 0; i < started; i++)
		pthread_join(ws[i].tid, NULL);
	r->client_cpu_s = client_cpu() - cpu0;
	r->server_cpu_s = scpu0 >= 0 ? server_cpu(o) - scpu0 : -1;
	if (scpu0 >= 0 && r->server_cpu_s < 0)
		ks_warn("a --server-pid process exited during the run: no server CPU figure");
	merge_results(sh, ws, started, r);
	return ret;
}

int ks_bench_run(const struct ks_bench_opts *o, struct ks_bench_result *r)
{
	struct ks_bench_shared sh = { .o = o };
	struct ks_bench_worker *ws = NULL;
	struct sigaction sa = { .sa_handler = on_sigint }, old_int;
	int ret;

	memset(r, 0, sizeof(*r));
	ks_hist_init(&r->hist);
	r->server_cpu_s = -1;
	interrupted = 0;
	/* A server that resets a connection must not kill us with SIGPIPE on the next write. */
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, &old_int);

	TRY_OUT(resolve(&sh));
	TRY_OUT(ks_bench_ocsp_setup(&sh));
	if (o->wait_s > 0)
		TRY_OUT(wait_port(&sh));
	ws = calloc(o->connections, sizeof(*ws));
	ENSURE_OUT(ws, -ENOMEM);
	if (o->first) {
		sh.first = calloc(o->first, sizeof(*sh.first));
		ENSURE_OUT(sh.first, -ENOMEM);
	}
	TRY_OUT(setup_workers(&sh, ws, o->connections));
	ret = run_threads(&sh, ws, r);
out:
	for (unsigned i = 0; ws && i < o->connections; i++) {
		SSL_CTX_free(ws[i].ctx);
		SSL_SESSION_free(ws[i].sess);
		ks_bench_ocsp_worker_free(&ws[i]);
	}
	free(ws);
	free(sh.first);
	ks_bench_ocsp_teardown(&sh);
	sigaction(SIGINT, &old_int, NULL);
	return ret;
}

void ks_bench_result_free(struct ks_bench_result *r)
{
	free(r->first);
	r->first = NULL;
}

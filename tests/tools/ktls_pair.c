// SPDX-License-Identifier: MIT
/*
 * ktls_pair: one real TLS session over loopback between a plain OpenSSL client (a child
 * process) and a server that hands its side to the kernel with ks_ktls_offload(), then talks
 * through plain read/write on the kTLS socket. Used by tests/integration/t_ktls.sh inside a
 * kTLS kernel (scripts/ktls-vm.sh).
 *
 *   ktls_pair -v 1.2|1.3 -c aes128|aes256|chacha -s bulk|close|drop|keyupdate|keyupdate-req
 *             [-m MIB] [-t TICKETS] [-n] [-e both|rx|none]
 *   ktls_pair -p       (print what the kernel accepts, exit 1 without kTLS)
 *
 * splice: the server proxies the session with ks_splice_proxy to a backend on loopback that
 * checks the client's bytes, answers with its own and closes; the client closes with
 * close_notify. splice-keyupdate: a KeyUpdate in the middle reaches the proxy's record
 * handler. handoff: the server passes the kTLS socket to the application at -H PATH
 * (examples/handoff_echo), which echoes; the client checks the echo.
 *
 * bulk: the client sends MIB MiB, the server checks every byte, sends MIB MiB back, which the
 * client checks; then close_notify both ways. close: the client sends close_notify after
 * half the data. drop: the client vanishes (RST) after half. keyupdate(-req): the client sends
 * a KeyUpdate (update_(not_)requested) after half: the kernel rekeys, or the server closes
 * the session with its logged reason where the kernel cannot. Both sides check that they end
 * with the file descriptors they started with. -n turns OpenSSL's own kTLS off (kstaple then
 * installs TLS 1.3 TX itself when no tickets were sent, -t 0); -e names the directions the
 * offload must end with (default both; anything else stops after the check). Prints one "RESULT ..." line; exit 0 on success.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>

#include "kstaple/handoff_send.h"
#include "kstaple/ktls.h"
#include "kstaple/log.h"
#include "kstaple/loop.h"
#include "kstaple/splice_proxy.h"

#define CHUNK 16384

struct opts {
	int version;
	const char *cipher;
	const char *scenario;
	size_t bytes;
	int tickets;
	bool no_openssl_ktls; /* -n: SSL_OP_ENABLE_KTLS off, kstaple installs what it can */
	unsigned expect_dirs; /* -e both|rx|none */
	const char *handoff;  /* -H PATH: the application's unix socket (scenario handoff) */
};

static int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own fd */
}

/* A reproducible byte stream both sides can generate: xorshift64*. */
struct stream {
	uint64_t s;
	EVP_MD_CTX *sha;
};

static void stream_init(struct stream *st, uint64_t seed)
{
	st->s = seed * 0x9E3779B97F4A7C15ull + 1;
	st->sha = EVP_MD_CTX_new();
	EVP_DigestInit_ex(st->sha, EVP_sha256(), NULL);
}

static void stream_fill(struct stream *st, uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		st->s ^= st->s >> 12;
		st->s ^= st->s << 25;
		st->s ^= st->s >> 27;
		buf[i] = (uint8_t)((st->s * 0x2545F4914F6CDD1Dull) >> 56);
	}
	EVP_DigestUpdate(st->sha, buf, n);
}

static void stream_digest(struct stream *st, char hex[17])
{
	uint8_t md[32];

	EVP_DigestFinal_ex(st->sha, md, NULL);
	EVP_MD_CTX_free(st->sha);
	for (int i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static int make_cert(EVP_PKEY **key, X509 **crt)
{
	X509_NAME *name;

	*key = EVP_EC_gen("P-256");
	*crt = X509_new();
	if (!*key || !*crt)
		return -1;
	ASN1_INTEGER_set(X509_get_serialNumber(*crt), 1);
	X509_gmtime_adj(X509_getm_notBefore(*crt), -60);
	X509_gmtime_adj(X509_getm_notAfter(*crt), 3600);
	X509_set_pubkey(*crt, *key);
	name = X509_get_subject_name(*crt);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
				   -1, 0);
	X509_set_issuer_name(*crt, name);
	return X509_sign(*crt, *key, EVP_sha256()) > 0 ? 0 : -1;
}

static int set_cipher(SSL_CTX *ctx, const struct opts *o)
{
	static const struct {
		const char *name, *tls12, *tls13;
	} map[] = {
		{ "aes128", "ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_AES_128_GCM_SHA256" },
		{ "aes256", "ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_AES_256_GCM_SHA384" },
		{ "chacha", "ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_CHACHA20_POLY1305_SHA256" },
	};

	SSL_CTX_set_min_proto_version(ctx, o->version);
	SSL_CTX_set_max_proto_version(ctx, o->version);
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(o->cipher, map[i].name))
			return o->version == TLS1_2_VERSION
				       ? (SSL_CTX_set_cipher_list(ctx, map[i].tls12) ? 0 : -1)
				       : (SSL_CTX_set_ciphersuites(ctx, map[i].tls13) ? 0 : -1);
	return -1;
}

static void timeouts(int fd)
{
	struct timeval tv = { .tv_sec = 60 };
	int one = 1;

	/* The hand-off client works in lock-step with an echo: no Nagle delays. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* ---- client: plain OpenSSL, in a child process ---- */

static int client_send(SSL *ssl, struct stream *st, size_t n)
{
	uint8_t buf[CHUNK];

	while (n) {
		size_t k = n < sizeof(buf) ? n : sizeof(buf);

		stream_fill(st, buf, k);
		if (SSL_write(ssl, buf, (int)k) != (int)k)
			return -1;
		n -= k;
	}
	return 0;
}

static int client_run(const struct opts *o, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				  .sin_port = htons((uint16_t)port) };
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct stream out, in;
	uint8_t buf[CHUNK], want[CHUNK];
	size_t half = o->bytes / 2, got = 0;
	char h1[17], h2[17];
	int fd, ret = 1, n;
	SSL *ssl;

	if (!ctx || set_cipher(ctx, o))
		return 1;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		return 1;
	timeouts(fd);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, "localhost");
	if (SSL_connect(ssl) != 1) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	stream_init(&out, 1);
	stream_init(&in, 2);
	if (!strcmp(o->scenario, "handoff")) {
		/* Lock-step through an echo: send 64 KiB, read it back, again. */
		struct stream echo;

		stream_init(&echo, 1);
		while (got < o->bytes) {
			size_t k = KS_MIN((size_t)65536, o->bytes - got), back = 0;

			if (client_send(ssl, &out, k))
				goto out;
			while (back < k) {
				n = SSL_read(ssl, buf, (int)KS_MIN(sizeof(buf), k - back));
				if (n <= 0)
					goto out;
				stream_fill(&echo, want, (size_t)n);
				if (memcmp(buf, want, (size_t)n)) {
					fprintf(stderr, "client: echo mismatch at %zu\n",
						got + back);
					goto out;
				}
				back += (size_t)n;
			}
			got += k;
		}
		stream_digest(&echo, h2);
	}
	if (!strcmp(o->scenario, "bulk") || !strcmp(o->scenario, "splice") ||
	    !strcmp(o->scenario, "handoff")) {
		if (strcmp(o->scenario, "handoff") && client_send(ssl, &out, o->bytes))
			goto out;
		while (strcmp(o->scenario, "handoff") && got < o->bytes) {
			n = SSL_read(ssl, buf, sizeof(buf));
			if (n <= 0)
				goto out;
			stream_fill(&in, want, (size_t)n);
			if (memcmp(buf, want, (size_t)n)) {
				fprintf(stderr, "client: mismatch at byte %zu\n", got);
				goto out;
			}
			got += (size_t)n;
		}
		SSL_shutdown(ssl);
		/* The server answers our close_notify with its own: SSL_read sees the end. */
		n = SSL_read(ssl, buf, sizeof(buf));
		if (n != 0 || SSL_get_error(ssl, n) != SSL_ERROR_ZERO_RETURN) {
			fprintf(stderr, "client: no close_notify from the server\n");
			goto out;
		}
		ret = 0;
	} else if (!strcmp(o->scenario, "close")) {
		ret = client_send(ssl, &out, half) || SSL_shutdown(ssl) < 0;
		/* Wait for the server's close_notify or its close. */
		SSL_read(ssl, buf, sizeof(buf));
	} else if (!strcmp(o->scenario, "drop")) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		ret = client_send(ssl, &out, half);
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	} else {
		bool req = !strcmp(o->scenario, "keyupdate-req");

		if (client_send(ssl, &out, half) ||
		    !SSL_key_update(ssl,
				    req ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED))
			goto out;
		/* The KeyUpdate leaves with the next write; the server may have closed by then. */
		client_send(ssl, &out, o->bytes - half);
		n = SSL_read(ssl, buf, sizeof(buf));
		ret = 0;
	}
out:
	stream_digest(&out, h1);
	stream_digest(&in, h2);
	fprintf(stderr, "client: sent sha256 %s.., received %zu bytes sha256 %s..\n", h1, got, h2);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return ret;
}

/* ---- server: ks_ktls_offload(), then plain read/write on the socket ---- */

enum outcome {
	OUT_LIMIT,
	OUT_EOF,
	OUT_CTL,
	OUT_ERR
};

static const char *const outcome_names[] = { "limit", "eof", "control", "error" };

struct server {
	int fd;
	struct ks_ktls_result r;
	struct ks_ktls_ctl ctl;
	struct stream in;
	size_t got;
	int err;
};

/* Read and check data until limit bytes, a control record that ends reading, EOF or error. */
static enum outcome server_recv(struct server *s, size_t limit)
{
	static uint8_t buf[CHUNK + 512], want[CHUNK + 512];
	uint8_t type;
	ssize_t n;

	while (s->got < limit) {
		n = ks_ktls_recv_record(s->fd, buf, sizeof(buf), &type, 0);
		if (n < 0) {
			s->err = (int)-n;
			return OUT_ERR;
		}
		if (n == 0)
			return OUT_EOF;
		if (type != KS_TLS_CT_APPLICATION_DATA) {
			if (ks_ktls_handle_control(&s->r, s->fd, type, buf, (size_t)n, "ktls_pair",
						   &s->ctl) < 0 ||
			    s->ctl.action != KS_KTLS_CTL_CONTINUE)
				return OUT_CTL;
			continue;
		}
		stream_fill(&s->in, want, (size_t)n);
		if (memcmp(buf, want, (size_t)n)) {
			fprintf(stderr, "server: mismatch in bytes %zu..%zu\n", s->got,
				s->got + (size_t)n);
			s->err = EBADMSG;
			return OUT_ERR;
		}
		s->got += (size_t)n;
	}
	return OUT_LIMIT;
}

static int server_send(int fd, size_t n)
{
	static uint8_t buf[4 * CHUNK];
	struct stream st;
	char hex[17];
	int ret = 0;

	stream_init(&st, 2);
	while (n && !ret) {
		size_t k = n < sizeof(buf) ? n : sizeof(buf), off = 0;

		stream_fill(&st, buf, k);
		while (off < k) {
			ssize_t w = write(fd, buf + off, k - off);

			if (w <= 0) {
				ret = -1;
				break;
			}
			off += (size_t)w;
		}
		n -= k;
	}
	stream_digest(&st, hex);
	return ret;
}

static bool expect(bool cond, const char *what)
{
	if (!cond)
		fprintf(stderr, "server: FAIL: %s\n", what);
	return cond;
}

/* ---- splice: the server proxies to a backend on loopback ---- */

struct backend {
	int fd;
	size_t want, got;
	bool ok, eof;
	pthread_t th;
};

/* Check the client's stream, answer with ours (unless cut short), close, drain to the end. */
static void *backend_run(void *arg)
{
	struct backend *b = arg;
	static uint8_t buf[CHUNK], want[CHUNK];
	struct stream in;
	char hex[17];
	ssize_t n = 1;

	stream_init(&in, 1);
	b->ok = true;
	while (b->got < b->want && (n = read(b->fd, buf, sizeof(buf))) > 0) {
		stream_fill(&in, want, (size_t)n);
		b->ok &= !memcmp(buf, want, (size_t)n);
		b->got += (size_t)n;
	}
	stream_digest(&in, hex);
	if (b->got == b->want)
		b->ok &= server_send(b->fd, b->want) == 0;
	shutdown(b->fd, SHUT_WR);
	while ((n = read(b->fd, buf, sizeof(buf))) > 0)
		b->ok = false; /* nothing may follow the stream */
	b->eof = n == 0;
	return NULL;
}

static int splice_err = 1;
static bool splice_done;

static void on_splice_done(struct ks_splice_proxy *p, int err, void *arg)
{
	(void)p;
	(void)arg;
	splice_err = err;
	splice_done = true;
}

static bool scenario_splice(struct server *s, const struct opts *o, bool rekey)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	bool ku = !strcmp(o->scenario, "splice-keyupdate");
	struct backend b = { .want = ku && !rekey ? SIZE_MAX : o->bytes };
	struct ks_splice_stats st = { 0 };
	struct ks_splice_proxy *p;
	struct ks_loop *loop = ks_loop_new(NULL);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), bfd = -1;
	bool ok = false;

	if (!loop || l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&sa, &sl))
		goto out;
	bfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bfd < 0 || connect(bfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    (b.fd = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0)
		goto out;
	pthread_create(&b.th, NULL, backend_run, &b);
	p = ks_splice_proxy_start(&(struct ks_splice_params){ .loop = loop,
							      .client_fd = s->fd,
							      .backend_fd = bfd,
							      .ktls = &s->r,
							      .who = "ktls_pair",
							      .done = on_splice_done });
	if (!p) {
		perror("splice proxy");
		shutdown(b.fd, SHUT_RDWR);
		pthread_join(b.th, NULL);
		goto out;
	}
	while (!splice_done)
		if (ks_loop_run_once(loop, 1000) < 0)
			break;
	ks_splice_proxy_stats(p, &st);
	ks_splice_proxy_free(p);
	/* The proxy is done with the backend socket: let the backend see its end. */
	close(bfd);
	bfd = -1;
	pthread_join(b.th, NULL);
	s->got = b.got;
	fprintf(stderr,
		"server: splice done: %s; client->backend %llu, backend->client %llu, "
		"close_notify %s\n",
		splice_err ? strerror(-splice_err) : "ok", (unsigned long long)st.client_to_backend,
		(unsigned long long)st.backend_to_client, st.client_close_notify ? "yes" : "no");
	if (ku && !rekey)
		ok = expect(splice_err == -ECONNABORTED, "proxy closed at the KeyUpdate") &&
		     expect(b.got == o->bytes / 2 && b.ok, "backend got every byte before it");
	else
		ok = expect(splice_err == 0, "proxy ended cleanly") &&
		     expect(b.ok && b.got == o->bytes && b.eof, "backend byte-exact, then EOF") &&
		     expect(st.backend_to_client == o->bytes, "all bytes to the client") &&
		     expect(st.client_close_notify, "client close_notify seen by the proxy");
out:
	if (b.fd > 0)
		close(b.fd);
	if (bfd >= 0)
		close(bfd);
	if (l >= 0)
		close(l);
	if (loop)
		ks_loop_free(loop);
	return ok;
}

/* ---- handoff: the application at -H gets the socket ---- */

static bool scenario_handoff(struct server *s, SSL *ssl, const struct opts *o)
{
	struct ks_handoff_info info;
	int u, ret;

	if (!expect(o->handoff != NULL, "-H PATH for the hand-off"))
		return false;
	u = ks_handoff_connect(o->handoff);
	if (!expect(u >= 0, "connect to the application"))
		return false;
	ret = ks_handoff_info_from_ssl(ssl, s->fd, false, &info);
	if (!ret)
		ret = ks_handoff_send(u, s->fd, &info);
	close(u);
	/* The application has its own copy now: ours goes, without a word on the session. */
	close(s->fd);
	s->fd = -1;
	s->got = o->bytes;
	return expect(ret == 0, "hand-off sent");
}

static bool scenario(struct server *s, const struct opts *o, bool rekey)
{
	size_t half = o->bytes / 2;
	enum outcome oc;

	if (!strcmp(o->scenario, "bulk")) {
		oc = server_recv(s, o->bytes);
		if (!expect(oc == OUT_LIMIT, "all client bytes, byte-exact") ||
		    !expect(server_send(s->fd, o->bytes) == 0, "send to the client"))
			return false;
		oc = server_recv(s, SIZE_MAX);
		return expect(oc == OUT_CTL && s->ctl.action == KS_KTLS_CTL_END,
			      "close_notify after the data") &&
		       expect(ks_ktls_send_close_notify(s->fd) == 0, "our close_notify");
	}
	if (!strcmp(o->scenario, "close")) {
		oc = server_recv(s, SIZE_MAX);
		return expect(oc == OUT_CTL && s->ctl.action == KS_KTLS_CTL_END && s->got == half,
			      "close_notify right after half the data") &&
		       expect(ks_ktls_send_close_notify(s->fd) == 0, "our close_notify");
	}
	if (!strcmp(o->scenario, "drop")) {
		oc = server_recv(s, SIZE_MAX);
		fprintf(stderr, "server: drop ended with %s (%s) after %zu bytes\n",
			outcome_names[oc], s->err ? strerror(s->err) : "-", s->got);
		return expect(oc == OUT_EOF || (oc == OUT_ERR && s->err == ECONNRESET),
			      "end of stream or reset, no data invented") &&
		       expect(s->got <= half, "no more bytes than were sent");
	}
	/* keyupdate, keyupdate-req */
	oc = server_recv(s, o->bytes);
	if (rekey)
		return expect(oc == OUT_LIMIT, "all bytes across the KeyUpdate");
	fprintf(stderr, "server: KeyUpdate: %s after %zu bytes: %s\n", outcome_names[oc], s->got,
		s->ctl.reason ? s->ctl.reason : "");
	return expect(oc == OUT_CTL && s->ctl.action == KS_KTLS_CTL_CLOSE && s->ctl.key_update,
		      "session closed at the KeyUpdate with a reason") &&
	       expect(s->got == half, "every byte before the KeyUpdate, byte-exact");
}

static int server_run(const struct opts *o, int lfd, pid_t child)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	const struct ks_ktls_support *sup = ks_ktls_probe();
	struct server s = { .fd = -1 };
	struct timespec t0, t1;
	EVP_PKEY *key = NULL;
	X509 *crt = NULL;
	SSL *ssl = NULL;
	char hex[17] = "";
	bool ok = false;
	int status = 0;

	if (!ctx || make_cert(&key, &crt) || set_cipher(ctx, o) ||
	    SSL_CTX_use_certificate(ctx, crt) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1)
		goto out;
	ks_ktls_ctx_setup(ctx);
	if (o->no_openssl_ktls)
		SSL_CTX_clear_options(ctx, SSL_OP_ENABLE_KTLS);
	SSL_CTX_set_num_tickets(ctx, (size_t)o->tickets);
	s.fd = accept(lfd, NULL, NULL);
	if (s.fd < 0)
		goto out;
	timeouts(s.fd);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, s.fd);
	if (SSL_accept(ssl) != 1) {
		ERR_print_errors_fp(stderr);
		goto out;
	}
	if (ks_ktls_offload(ssl, s.fd, &s.r) ||
	    !expect(s.r.dirs == o->expect_dirs, "the expected directions in the kernel") ||
	    o->expect_dirs != KS_KTLS_BOTH) {
		printf("RESULT %s %s offload dirs=%u why=\"%s\" err=%s\n", SSL_get_version(ssl),
		       SSL_get_cipher(ssl), s.r.dirs, ks_ktls_why_str(s.r.why), strerror(s.r.err));
		ok = s.r.dirs == o->expect_dirs;
		goto out;
	}
	stream_init(&s.in, 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!strncmp(o->scenario, "splice", 6))
		ok = scenario_splice(&s, o, sup->rekey);
	else if (!strcmp(o->scenario, "handoff"))
		ok = scenario_handoff(&s, ssl, o);
	else
		ok = scenario(&s, o, sup->rekey);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	stream_digest(&s.in, hex);
	if (!strncmp(o->scenario, "splice", 6) || !strcmp(o->scenario, "handoff"))
		snprintf(hex, sizeof(hex), "(by peer)"); /* the backend or the client checked */
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	printf("RESULT %s %s %s dirs=%s%s tx_by=%s rx_by=%s tickets=%d received=%zu "
	       "sha256=%s.. %.0f ms\n",
	       SSL_get_version(ssl), SSL_get_cipher(ssl), o->scenario,
	       s.r.dirs & KS_KTLS_TX ? "tx" : "", s.r.dirs & KS_KTLS_RX ? "+rx" : "",
	       s.r.tx_openssl ? "openssl" : "kstaple", s.r.rx_openssl ? "openssl" : "kstaple",
	       o->tickets, s.got, hex, ms);
out:
	ks_ktls_result_wipe(&s.r);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	EVP_PKEY_free(key);
	X509_free(crt);
	if (s.fd >= 0)
		close(s.fd);
	if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) ||
	    (WEXITSTATUS(status) && o->expect_dirs == KS_KTLS_BOTH &&
	     (!strcmp(o->scenario, "bulk") || !strcmp(o->scenario, "close") ||
	      !strcmp(o->scenario, "splice") || !strcmp(o->scenario, "handoff")))) {
		fprintf(stderr, "server: client failed (status %d)\n", status);
		ok = false;
	}
	return ok ? 0 : 1;
}

/* -p: what the running kernel accepts, as ks_ktls_probe() sees it. */
static int print_probe(void)
{
	static const char *const names[] = { "AES-128-GCM", "AES-256-GCM", "ChaCha20-Poly1305" };
	const struct ks_ktls_support *s = ks_ktls_probe();

	printf("PROBE ulp=%s", s->ulp ? "yes" : strerror(s->ulp_err));
	for (int v = 0; v < 2; v++)
		for (int c = 0; c < KS_KTLS_CIPHER_MAX; c++)
			printf(" TLS1.%d/%s=%s%s", v + 2, names[c],
			       s->dirs[v][c] & KS_KTLS_TX ? "tx" : "-",
			       s->dirs[v][c] & KS_KTLS_RX ? "+rx" : "");
	printf(" rekey=%s\n", s->rekey ? "yes" : "no");
	return s->ulp ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct opts o = { .version = TLS1_3_VERSION,
			  .cipher = "aes128",
			  .scenario = "bulk",
			  .bytes = 10u << 20,
			  .tickets = 2,
			  .expect_dirs = KS_KTLS_BOTH };
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int c, lfd, fds0, ret;
	pid_t pid;

	while ((c = getopt(argc, argv, "v:c:s:m:t:ne:pH:")) != -1) {
		switch (c) {
		case 'v':
			o.version = !strcmp(optarg, "1.2") ? TLS1_2_VERSION : TLS1_3_VERSION;
			break;
		case 'c':
			o.cipher = optarg;
			break;
		case 's':
			o.scenario = optarg;
			break;
		case 'm':
			o.bytes = (size_t)strtoul(optarg, NULL, 10) << 20;
			break;
		case 't':
			o.tickets = atoi(optarg);
			break;
		case 'n':
			o.no_openssl_ktls = true;
			break;
		case 'p':
			return print_probe();
		case 'H':
			o.handoff = optarg;
			break;
		case 'e':
			o.expect_dirs = !strcmp(optarg, "rx")	  ? KS_KTLS_RX
					: !strcmp(optarg, "none") ? 0
								  : KS_KTLS_BOTH;
			break;
		default:
			fprintf(stderr,
				"usage: %s -v 1.2|1.3 -c aes128|aes256|chacha "
				"-s bulk|close|drop|keyupdate|keyupdate-req [-m MIB] "
				"[-t TICKETS] [-n] [-e both|rx|none]\n",
				argv[0]);
			return 64;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(300);
	fds0 = fd_count();
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl)) {
		perror("listen");
		return 1;
	}
	(void)ks_ktls_probe(); /* before fork: the child needs no kTLS */
	pid = fork();
	if (pid == 0) {
		close(lfd);
		ret = client_run(&o, ntohs(sa.sin_port));
		if (fd_count() != fds0) {
			fprintf(stderr, "client: fd leak: %d open, %d at start\n", fd_count(),
				fds0);
			ret = 1;
		}
		_exit(ret);
	}
	ret = server_run(&o, lfd, pid);
	close(lfd);
	if (fd_count() != fds0) {
		fprintf(stderr, "server: fd leak: %d open, %d at start\n", fd_count(), fds0);
		ret = 1;
	}
	return ret;
}

// SPDX-License-Identifier: MIT
/*
 * bulk: the two ends of a bulk transfer through `kstaple serve` (bench/ktls_bench.sh).
 *
 *   bulk backend PORT
 *       plain TCP on 127.0.0.1:PORT, one connection at a time: reads the client's request
 *       header, then sinks (upload) or sources (download) the bytes it names, checking every
 *       byte it receives.
 *   bulk client -p PORT -V 1.2|1.3 -C CIPHER -d up|down -n BYTES -A CAFILE [-s SNI] [-P PID]
 *       one TLS session to kstaple on 127.0.0.1:PORT, offering exactly one version and one
 *       cipher (an OpenSSL name: a TLS 1.3 suite or a TLS 1.2 cipher list entry). Prints
 *       "RESULT dir=up bytes=N secs=S MBps=R version=V suite=S ks_ticks=K busy_ticks=B hz=H" and exits 0 if
 *       every byte arrived intact. -P PID: K is the CPU time (utime + stime, clock ticks) of
 *       process PID over the timed span, B the whole machine's busy time over it.
 *
 * Plaintext protocol between the two (kstaple forwards it unchanged):
 *   request  = "KSB1" dir(1: 'U' or 'D') zero(3) length(8, network order)
 *   upload   : the client sends `length` bytes, the backend answers "KSB1OK" zero(2) count(8)
 *              once all arrived intact, "KSB1NO" ... at the first wrong byte (then closes).
 *   download : the backend sends `length` bytes and half-closes.
 * The bytes are a fixed 1 MiB pseudo-random block repeated, so both ends check them with a
 * memcmp against the block instead of hashing: the checker costs next to nothing beside TLS.
 * The timed span starts after the handshake and ends when the last byte (upload: the
 * backend's answer) arrived, so process start-up and the handshake are not in it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "kstaple/common.h"
#include "kstaple/cursor.h"

#define BLOCK (1u << 20)   /* period of the pattern */
#define CHUNK (256u << 10) /* largest read or write; the pattern buffer is BLOCK + CHUNK */
#define HDR   16

static uint8_t pattern[BLOCK + CHUNK];
static uint8_t rbuf[CHUNK];

/* xorshift64: any fixed sequence will do, it only has to be the same at both ends. */
static void pattern_init(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < BLOCK; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(pattern + i, &x, 8);
	}
	/* The tail repeats the head: any window of up to CHUNK bytes is contiguous. */
	memcpy(pattern + BLOCK, pattern, CHUNK);
}

/* Bytes at stream offset POS, LEN <= CHUNK, as they must be. */
static const uint8_t *expected(uint64_t pos)
{
	return pattern + pos % BLOCK;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- backend: plain TCP ---- */

static int recv_all(int fd, uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = recv(fd, buf, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		ENSURE(n > 0, n < 0 ? -errno : -ECONNRESET);
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		ENSURE(n > 0, -errno);
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The request header: "KSB1" dir(1) zero(3) length(8). */
static int parse_request(const uint8_t *hdr, uint8_t *dir, uint64_t *len)
{
	struct ks_cursor c = ks_cur_init(hdr, HDR);
	const uint8_t *magic;
	uint32_t hi, lo;

	TRY(ks_cur_bytes(&c, 4, &magic));
	ENSURE(memcmp(magic, "KSB1", 4) == 0, -EBADMSG);
	TRY(ks_cur_u8(&c, dir));
	ENSURE(*dir == 'U' || *dir == 'D', -EBADMSG);
	TRY(ks_cur_skip(&c, 3));
	TRY(ks_cur_u32(&c, &hi));
	TRY(ks_cur_u32(&c, &lo));
	*len = (uint64_t)hi << 32 | lo;
	return 0;
}

static int backend_upload(int fd, uint64_t len)
{
	uint8_t reply[HDR] = "KSB1OK";
	uint64_t pos = 0;
	int err = 0;

	while (pos < len) {
		size_t want = len - pos < CHUNK ? (size_t)(len - pos) : CHUNK;
		ssize_t n = recv(fd, rbuf, want, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -ECONNRESET;
			break;
		}
		if (memcmp(rbuf, expected(pos), (size_t)n) != 0) {
			fprintf(stderr, "bulk backend: wrong bytes at offset %llu\n",
				(unsigned long long)pos);
			reply[4] = 'N'; /* "KSB1OK" -> "KSB1NO" */
			reply[5] = 'O';
			err = -EBADMSG;
			break;
		}
		pos += (uint64_t)n;
	}
	if (err == -ECONNRESET || (err < 0 && err != -EBADMSG))
		return err;
	put_u64(reply + 8, pos);
	TRY(send_all(fd, reply, sizeof(reply)));
	return err;
}

static int backend_download(int fd, uint64_t len)
{
	for (uint64_t pos = 0; pos < len;) {
		size_t n = len - pos < CHUNK ? (size_t)(len - pos) : CHUNK;

		TRY(send_all(fd, expected(pos), n));
		pos += n;
	}
	return 0;
}

static void backend_conn(int fd)
{
	uint8_t hdr[HDR], dir = 0;
	uint64_t len = 0;
	int err;

	err = recv_all(fd, hdr, HDR);
	if (!err)
		err = parse_request(hdr, &dir, &len);
	if (!err)
		err = dir == 'U' ? backend_upload(fd, len) : backend_download(fd, len);
	if (err)
		fprintf(stderr, "bulk backend: %c %llu bytes: %s\n", dir ? dir : '?',
			(unsigned long long)len, strerror(-err));
	/* Half-close, then wait for the client's end, so no RST cuts what is still in flight. */
	shutdown(fd, SHUT_WR);
	while (recv(fd, rbuf, CHUNK, 0) > 0)
		;
	close(fd);
}

static int backend_main(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, lfd;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 16)) {
		perror("bulk backend: listen");
		return 1;
	}
	fprintf(stderr, "bulk backend: listening on 127.0.0.1:%d\n", port);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("bulk backend: accept");
			return 1;
		}
		backend_conn(fd);
	}
}

/* ---- client: OpenSSL ---- */

struct client_opts {
	int port;
	int pid; /* -P: kstaple's pid, whose CPU time is sampled around the timed span */
	const char *version, *cipher, *dir, *ca, *sni;
	uint64_t bytes;
};

/* CPU clock ticks: utime + stime of process PID (all its threads), and of the whole machine
 * (every state of /proc/stat's cpu line but idle and iowait). 0 where unreadable. */
struct cpu_sample {
	unsigned long long proc, busy;
};

static void cpu_sample(int pid, struct cpu_sample *s)
{
	unsigned long long v[8] = { 0 };
	char buf[1024], path[64];
	const char *p;
	FILE *f;
	size_t n;

	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = pid > 0 ? fopen(path, "r") : NULL;
	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
		/* proc(5): "pid (comm) state ..."; comm may hold spaces: fields count after ')'.
		 * utime and stime are fields 14 and 15, the 12th and 13th after the ')'. */
		p = strrchr(buf, ')');
		if (p && sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				&v[0], &v[1]) == 2)
			s->proc = v[0] + v[1];
	}
	f = fopen("/proc/stat", "r");
	if (f) {
		/* "cpu  user nice system idle iowait irq softirq steal ..." */
		if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
			   &v[3], &v[4], &v[5], &v[6], &v[7]) == 8)
			s->busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
		fclose(f);
	}
}

static SSL_CTX *client_ctx(const struct client_opts *o)
{
	bool v13 = strcmp(o->version, "1.3") == 0;
	int v = v13 ? TLS1_3_VERSION : TLS1_2_VERSION;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		return NULL;
	/* Exactly one version and one cipher: the run measures what it says it measures. */
	if (!SSL_CTX_set_min_proto_version(ctx, v) || !SSL_CTX_set_max_proto_version(ctx, v) ||
	    !(v13 ? SSL_CTX_set_ciphersuites(ctx, o->cipher)
		  : SSL_CTX_set_cipher_list(ctx, o->cipher)) ||
	    !SSL_CTX_load_verify_locations(ctx, o->ca, NULL)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
}

static int tcp_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int ssl_write_all(SSL *ssl, const uint8_t *buf, size_t len)
{
	size_t n;

	/* Without SSL_MODE_ENABLE_PARTIAL_WRITE one call writes everything or fails. */
	ENSURE(SSL_write_ex(ssl, buf, len, &n) == 1 && n == len, -EIO);
	return 0;
}

static int ssl_read_all(SSL *ssl, uint8_t *buf, size_t len)
{
	while (len) {
		size_t n;

		ENSURE(SSL_read_ex(ssl, buf, len, &n) == 1, -EIO);
		buf += n;
		len -= n;
	}
	return 0;
}

static int client_upload(SSL *ssl, uint64_t len)
{
	uint8_t reply[HDR];
	struct ks_cursor c = ks_cur_init(reply, HDR);
	const uint8_t *status;
	uint32_t hi, lo;

	for (uint64_t pos = 0; pos < len;) {
		size_t n = len - pos < CHUNK ? (size_t)(len - pos) : CHUNK;

		TRY(ssl_write_all(ssl, expected(pos), n));
		pos += n;
	}
	/* "KSB1OK" zero(2) count(8): the backend got every byte, and which. */
	TRY(ssl_read_all(ssl, reply, HDR));
	TRY(ks_cur_bytes(&c, 6, &status));
	ENSURE(memcmp(status, "KSB1OK", 6) == 0, -EBADMSG);
	TRY(ks_cur_skip(&c, 2));
	TRY(ks_cur_u32(&c, &hi));
	TRY(ks_cur_u32(&c, &lo));
	ENSURE(((uint64_t)hi << 32 | lo) == len, -EBADMSG);
	return 0;
}

static int client_download(SSL *ssl, uint64_t len)
{
	for (uint64_t pos = 0; pos < len;) {
		size_t want = len - pos < CHUNK ? (size_t)(len - pos) : CHUNK, n;

		ENSURE(SSL_read_ex(ssl, rbuf, want, &n) == 1, -EIO);
		if (memcmp(rbuf, expected(pos), n) != 0) {
			fprintf(stderr, "bulk client: wrong bytes at offset %llu\n",
				(unsigned long long)pos);
			return -EBADMSG;
		}
		pos += n;
	}
	return 0;
}

static int client_run(SSL *ssl, const struct client_opts *o)
{
	bool up = strcmp(o->dir, "up") == 0;
	uint8_t hdr[HDR] = { 'K', 'S', 'B', '1', up ? 'U' : 'D' };
	struct cpu_sample c0, c1;
	double t0, secs;

	ENSURE(SSL_connect(ssl) == 1, -EPROTO);
	cpu_sample(o->pid, &c0);
	t0 = now_s();
	put_u64(hdr + 8, o->bytes);
	TRY(ssl_write_all(ssl, hdr, HDR));
	TRY(up ? client_upload(ssl, o->bytes) : client_download(ssl, o->bytes));
	secs = now_s() - t0;
	cpu_sample(o->pid, &c1);
	printf("RESULT dir=%s bytes=%llu secs=%.6f MBps=%.2f version=%s suite=%s ks_ticks=%llu "
	       "busy_ticks=%llu hz=%ld\n",
	       o->dir, (unsigned long long)o->bytes, secs, (double)o->bytes / secs / 1e6,
	       SSL_get_version(ssl), SSL_get_cipher_name(ssl), c1.proc - c0.proc, c1.busy - c0.busy,
	       sysconf(_SC_CLK_TCK));
	SSL_shutdown(ssl); /* close_notify: the session ends as a well-behaved client ends it */
	return 0;
}

static int client_main(const struct client_opts *o)
{
	SSL_CTX *ctx = client_ctx(o);
	SSL *ssl = NULL;
	int fd = -1, err = -ENOMEM;

	if (!ctx)
		goto out;
	fd = tcp_connect(o->port);
	if (fd < 0) {
		err = fd;
		goto out;
	}
	ssl = SSL_new(ctx);
	if (!ssl || !SSL_set_fd(ssl, fd) || !SSL_set_tlsext_host_name(ssl, o->sni) ||
	    !SSL_set1_host(ssl, o->sni))
		goto out;
	err = client_run(ssl, o);
out:
	if (err) {
		fprintf(stderr, "bulk client: TLS %s %s %s %llu bytes: %s\n", o->version, o->cipher,
			o->dir, (unsigned long long)o->bytes, strerror(-err));
		ERR_print_errors_fp(stderr);
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	return err ? 1 : 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: bulk backend PORT\n"
			"       bulk client -p PORT -V 1.2|1.3 -C CIPHER -d up|down -n BYTES "
			"-A CAFILE [-s SNI] [-P PID]\n");
	return 64;
}

int main(int argc, char **argv)
{
	struct client_opts o = { .sni = "localhost" };
	int opt;

	pattern_init();
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && strcmp(argv[1], "backend") == 0)
		return backend_main(atoi(argv[2]));
	if (argc < 2 || strcmp(argv[1], "client") != 0)
		return usage();
	optind = 2;
	while ((opt = getopt(argc, argv, "p:V:C:d:n:A:s:P:")) != -1) {
		switch (opt) {
		case 'p':
			o.port = atoi(optarg);
			break;
		case 'V':
			o.version = optarg;
			break;
		case 'C':
			o.cipher = optarg;
			break;
		case 'd':
			o.dir = optarg;
			break;
		case 'n':
			o.bytes = strtoull(optarg, NULL, 0);
			break;
		case 'A':
			o.ca = optarg;
			break;
		case 'P':
			o.pid = atoi(optarg);
			break;
		case 's':
			o.sni = optarg;
			break;
		default:
			return usage();
		}
	}
	if (!o.port || !o.version || !o.cipher || !o.dir || !o.bytes || !o.ca ||
	    (strcmp(o.version, "1.2") != 0 && strcmp(o.version, "1.3") != 0) ||
	    (strcmp(o.dir, "up") != 0 && strcmp(o.dir, "down") != 0))
		return usage();
	return client_main(&o);
}

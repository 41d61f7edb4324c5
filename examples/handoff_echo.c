// SPDX-License-Identifier: MIT
/*
 * handoff_echo: an application that receives TLS connections from kstaple's hand-off mode
 * ([listener:NAME] handoff = PATH) and echoes the plaintext back. It never links OpenSSL: the
 * kernel (kTLS) encrypts and decrypts; include/kstaple/handoff.h is all it needs.
 *
 *   handoff_echo PATH          listen on the AF_UNIX SOCK_SEQPACKET socket PATH
 *
 * One line per connection on stdout ("handoff: sni=... alpn=... tls=0x0304 cipher=...
 * peer=... staple=yes"); each connection is echoed by a child process until the client's
 * close_notify (answered with ours) or its end of stream.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "kstaple/handoff.h"

static int echo(int fd)
{
	static char buf[65536];
	ssize_t n;

	while ((n = ks_handoff_read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));

			if (w <= 0)
				return 1;
			off += w;
		}
	}
	if (n == 0) /* close_notify or end of stream: end ours the same way */
		return ks_handoff_close_notify(fd) ? 1 : 0;
	fprintf(stderr, "handoff_echo: connection ends: %s\n", strerror((int)-n));
	return 1;
}

static void serve_kstaple(int conn)
{
	struct ks_handoff_info info;
	int fd, ret;

	for (;;) {
		ret = ks_handoff_recv(conn, &info, &fd);
		if (ret == -EPIPE || ret == -ECONNRESET)
			return;
		if (ret < 0) {
			fprintf(stderr, "handoff_echo: rejected a hand-off: %s\n", strerror(-ret));
			continue;
		}
		printf("handoff: sni=%s alpn=%s tls=0x%04x cipher=%s peer=%s staple=%s\n",
		       info.sni[0] ? info.sni : "-", info.alpn[0] ? info.alpn : "-",
		       info.tls_version, info.cipher, info.peer, info.staple_sent ? "yes" : "no");
		fflush(stdout);
		if (fork() == 0) {
			int one = 1;

			close(conn);
			/* An echo answers in small pieces: do not let Nagle hold them back. */
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			_exit(echo(fd));
		}
		close(fd);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd, conn;

	if (argc != 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: %s PATH\n", argv[0]);
		return 64;
	}
	signal(SIGCHLD, SIG_IGN); /* children reaped by the kernel */
	signal(SIGPIPE, SIG_IGN);
	memcpy(sa.sun_path, argv[1], strlen(argv[1]) + 1);
	unlink(argv[1]);
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 16)) {
		perror("handoff_echo: listen");
		return 1;
	}
	fprintf(stderr, "handoff_echo: listening on %s\n", argv[1]);
	while ((conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		serve_kstaple(conn);
		close(conn);
	}
	perror("handoff_echo: accept");
	return 1;
}

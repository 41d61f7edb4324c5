// SPDX-License-Identifier: MIT
/*
 * handoff: the hand-off header (include/kstaple/handoff.h) round trip and every rejection
 * (truncated, lying lengths, wrong magic/version/flags, trailing bytes), then the real
 * transport over an AF_UNIX SOCK_SEQPACKET socketpair with SCM_RIGHTS: the fd arrives and
 * works, and a rejected message never leaks the fds it carried.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kstaple/handoff_send.h"

static void sample(struct ks_handoff_info *i)
{
	memset(i, 0, sizeof(*i));
	i->staple_sent = true;
	i->tls_version = 0x0304;
	strcpy(i->sni, "www.example.com");
	strcpy(i->alpn, "http/1.1");
	strcpy(i->cipher, "TLS_AES_128_GCM_SHA256");
	strcpy(i->peer, "[2001:db8::1]:4711");
}

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

Test(handoff, round_trip)
{
	struct ks_handoff_info in, out;
	uint8_t buf[KS_HANDOFF_MAX_LEN];
	int n;

	sample(&in);
	n = ks_handoff_encode(&in, buf, sizeof(buf));
	cr_assert_eq(n, 12 + 1 + 15 + 1 + 8 + 1 + 22 + 1 + 18);
	cr_assert_eq(memcmp(buf, "KSHO\x01\x01\x03\x04", 8), 0);
	cr_assert_eq(buf[8] << 8 | buf[9], n);
	cr_assert_eq(ks_handoff_decode(buf, (size_t)n, &out), 0);
	cr_assert(out.staple_sent);
	cr_assert_eq(out.tls_version, 0x0304);
	cr_assert_str_eq(out.sni, in.sni);
	cr_assert_str_eq(out.alpn, in.alpn);
	cr_assert_str_eq(out.cipher, in.cipher);
	cr_assert_str_eq(out.peer, in.peer);
}

Test(handoff, every_truncation_is_rejected)
{
	struct ks_handoff_info in, out;
	uint8_t buf[KS_HANDOFF_MAX_LEN];
	int n;

	sample(&in);
	n = ks_handoff_encode(&in, buf, sizeof(buf));
	for (int len = 0; len < n; len++)
		cr_assert_lt(ks_handoff_decode(buf, (size_t)len, &out), 0, "prefix of %d", len);
}

Test(handoff, lying_lengths_and_wrong_fields_are_rejected)
{
	struct ks_handoff_info in, out;
	uint8_t buf[KS_HANDOFF_MAX_LEN + 4], bad[KS_HANDOFF_MAX_LEN + 4];
	int n;

	sample(&in);
	n = ks_handoff_encode(&in, buf, sizeof(buf));
#define MUTATE(expr, want)                                                          \
	do {                                                                        \
		memcpy(bad, buf, sizeof(buf));                                      \
		expr;                                                               \
		cr_assert_eq(ks_handoff_decode(bad, (size_t)n, &out), want, #expr); \
	} while (0)
	MUTATE(bad[0] = 'X', -EBADMSG);
	MUTATE(bad[4] = 2, -EPROTONOSUPPORT);
	MUTATE(bad[4] = 0, -EPROTONOSUPPORT);
	MUTATE(bad[5] = 0x80, -EBADMSG);
	MUTATE(bad[10] = 1, -EBADMSG);
	MUTATE(bad[9]++, -EBADMSG);	 /* total length says one more */
	MUTATE(bad[9]--, -EBADMSG);	 /* ... one less */
	MUTATE(bad[12] = 200, -EBADMSG); /* SNI runs past the end */
	MUTATE(bad[12] = 14, -EBADMSG);	 /* strings shift: bytes left over */
	MUTATE(bad[n - 19] = (uint8_t)(bad[n - 19] + 1), -EBADMSG); /* last string too long */
#undef MUTATE
	/* Trailing bytes with an honest total length are still rejected. */
	memcpy(bad, buf, (size_t)n);
	bad[n] = 0;
	bad[8] = (uint8_t)((n + 1) >> 8);
	bad[9] = (uint8_t)(n + 1);
	cr_assert_eq(ks_handoff_decode(bad, (size_t)n + 1, &out), -EBADMSG);
}

Test(handoff, encode_refuses_what_does_not_fit)
{
	struct ks_handoff_info in;
	uint8_t buf[KS_HANDOFF_MAX_LEN];

	sample(&in);
	memset(in.sni, 'a', sizeof(in.sni)); /* 256 bytes, no NUL */
	cr_assert_eq(ks_handoff_encode(&in, buf, sizeof(buf)), -EINVAL);
	sample(&in);
	cr_assert_eq(ks_handoff_encode(&in, buf, 20), -EINVAL);
}

Test(handoff, fd_travels_over_seqpacket)
{
	struct ks_handoff_info in, out;
	int sv[2], pp[2], got = -1, fds0 = fd_count();
	char c = 0;

	sample(&in);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	cr_assert_eq(pipe(pp), 0);
	cr_assert_eq(ks_handoff_send(sv[0], pp[1], &in), 0);
	cr_assert_eq(ks_handoff_recv(sv[1], &out, &got), 0);
	cr_assert_geq(got, 0);
	cr_assert_str_eq(out.peer, in.peer);
	cr_assert_eq(write(got, "z", 1), 1, "the received fd is the pipe's write end");
	cr_assert_eq(read(pp[0], &c, 1), 1);
	cr_assert_eq(c, 'z');
	close(got);
	close(pp[0]);
	close(pp[1]);
	close(sv[0]);
	cr_assert_eq(ks_handoff_recv(sv[1], &out, &got), -EPIPE, "kstaple went away");
	close(sv[1]);
	cr_assert_eq(fd_count(), fds0);
}

static void send_raw(int s, const void *data, size_t len, const int *fds, int nfds)
{
	union {
		char c[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.c;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, (size_t)nfds * sizeof(int));
	}
	cr_assert_eq(sendmsg(s, &mh, 0), (ssize_t)len);
}

Test(handoff, rejected_messages_leak_no_fd)
{
	struct ks_handoff_info in, out;
	uint8_t buf[KS_HANDOFF_MAX_LEN];
	int sv[2], pp[2], got, n, fds0;

	sample(&in);
	n = ks_handoff_encode(&in, buf, sizeof(buf));
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	cr_assert_eq(pipe(pp), 0);
	fds0 = fd_count();
	/* A good header without an fd. */
	send_raw(sv[0], buf, (size_t)n, NULL, 0);
	cr_assert_eq(ks_handoff_recv(sv[1], &out, &got), -EBADMSG);
	cr_assert_eq(got, -1);
	/* A good header with two fds. */
	send_raw(sv[0], buf, (size_t)n, pp, 2);
	cr_assert_eq(ks_handoff_recv(sv[1], &out, &got), -EBADMSG);
	/* A wrong version with one fd. */
	buf[4] = 9;
	send_raw(sv[0], buf, (size_t)n, pp, 1);
	cr_assert_eq(ks_handoff_recv(sv[1], &out, &got), -EPROTONOSUPPORT);
	/* A truncated header with one fd. */
	buf[4] = 1;
	send_raw(sv[0], buf, 7, pp, 1);
	cr_assert_eq(ks_handoff_recv(sv[1], &out, &got), -EBADMSG);
	cr_assert_eq(fd_count(), fds0, "every fd that came with a rejected message was closed");
	close(pp[0]);
	close(pp[1]);
	close(sv[0]);
	close(sv[1]);
}

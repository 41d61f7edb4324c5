/* SPDX-License-Identifier: MIT */
/*
 * handoff: how kstaple passes a finished TLS connection, with both directions in the kernel
 * (kTLS), to an application listening on a unix socket. Header-only, no OpenSSL: copy it into
 * an application, include it, call ks_handoff_recv() and then read/write plaintext on the
 * received socket (ks_handoff_read() also reports the peer's close_notify).
 *
 * Transport: AF_UNIX, SOCK_SEQPACKET (one hand-off per message, boundaries kept). kstaple
 * connects to [listener:NAME] handoff = PATH and sends, for each connection, one message whose
 * data is the header below and whose SCM_RIGHTS control message carries exactly one fd: the
 * client's TCP socket with TLS_TX and TLS_RX installed.
 *
 * Header, version 1 (integers big endian):
 *   offset size
 *        0    4  magic "KSHO"
 *        4    1  version (1)
 *        5    1  flags: bit 0 an OCSP staple was sent in the handshake; other bits zero
 *        6    2  TLS version (0x0303 TLS 1.2, 0x0304 TLS 1.3)
 *        8    2  total length of the header (fixed part + the four strings)
 *       10    2  reserved (0)
 *       12       four strings, each a 1-byte length then that many bytes, no NUL:
 *                SNI host name (may be empty), ALPN protocol (may be empty),
 *                cipher suite (IANA/OpenSSL name, e.g. TLS_AES_128_GCM_SHA256),
 *                peer address as text ("192.0.2.7:4711", "[2001:db8::1]:4711")
 * A receiver rejects: a short message, another magic, a version it does not know, a length
 * that is not the message's length, a string running past the end, bytes left over, unknown
 * flag bits, a message without exactly one fd (any fd received is closed on rejection).
 */
#ifndef KSTAPLE_HANDOFF_H
#define KSTAPLE_HANDOFF_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define KS_HANDOFF_MAGIC     "KSHO"
#define KS_HANDOFF_VERSION   1
#define KS_HANDOFF_FIXED_LEN 12
#define KS_HANDOFF_MAX_LEN   (KS_HANDOFF_FIXED_LEN + 4 * 256)
#define KS_HANDOFF_STAPLE    0x01u

struct ks_handoff_info {
	uint8_t version;
	bool staple_sent;
	uint16_t tls_version;
	char sni[256]; /* NUL-terminated copies of the strings */
	char alpn[256];
	char cipher[256];
	char peer[256];
};

/* Encode info into buf (KS_HANDOFF_MAX_LEN bytes suffice); returns the length or -EINVAL. */
static inline int ks_handoff_encode(const struct ks_handoff_info *info, uint8_t *buf, size_t cap)
{
	const char *strs[4] = { info->sni, info->alpn, info->cipher, info->peer };
	size_t n = KS_HANDOFF_FIXED_LEN;

	if (cap < KS_HANDOFF_FIXED_LEN)
		return -EINVAL;
	memcpy(buf, KS_HANDOFF_MAGIC, 4);
	buf[4] = KS_HANDOFF_VERSION;
	buf[5] = info->staple_sent ? KS_HANDOFF_STAPLE : 0;
	buf[6] = (uint8_t)(info->tls_version >> 8);
	buf[7] = (uint8_t)info->tls_version;
	buf[10] = buf[11] = 0;
	for (int i = 0; i < 4; i++) {
		size_t l = strnlen(strs[i], 256);

		if (l > 255 || n + 1 + l > cap)
			return -EINVAL;
		buf[n++] = (uint8_t)l;
		memcpy(buf + n, strs[i], l);
		n += l;
	}
	buf[8] = (uint8_t)(n >> 8);
	buf[9] = (uint8_t)n;
	return (int)n;
}

/* Decode one whole message of len bytes; 0, or -EBADMSG / -EPROTONOSUPPORT (version). */
static inline int ks_handoff_decode(const uint8_t *buf, size_t len, struct ks_handoff_info *info)
{
	char *strs[4] = { info->sni, info->alpn, info->cipher, info->peer };
	size_t off = KS_HANDOFF_FIXED_LEN;

	memset(info, 0, sizeof(*info));
	/* Every read below is preceded by a check against len: the bytes come from a socket. */
	if (len < KS_HANDOFF_FIXED_LEN || memcmp(buf, KS_HANDOFF_MAGIC, 4) != 0)
		return -EBADMSG;
	if (buf[4] != KS_HANDOFF_VERSION)
		return -EPROTONOSUPPORT;
	if (buf[5] & ~KS_HANDOFF_STAPLE || buf[10] || buf[11])
		return -EBADMSG;
	if ((size_t)(buf[8] << 8 | buf[9]) != len)
		return -EBADMSG;
	info->version = buf[4];
	info->staple_sent = buf[5] & KS_HANDOFF_STAPLE;
	info->tls_version = (uint16_t)(buf[6] << 8 | buf[7]);
	for (int i = 0; i < 4; i++) {
		size_t l;

		if (off >= len)
			return -EBADMSG;
		l = buf[off++];
		if (l > len - off)
			return -EBADMSG;
		memcpy(strs[i], buf + off, l);
		strs[i][l] = '\0';
		off += l;
	}
	return off == len ? 0 : -EBADMSG;
}

/*
 * Receive one hand-off from kstaple's connection unix_fd (blocking unless the socket is
 * non-blocking). Returns 0 with *tls_fd set (yours to close), -ECONNRESET/0-length end as
 * -EPIPE when kstaple closed, or a negative errno (the fd, if any came, is closed).
 */
static inline int ks_handoff_recv(int unix_fd, struct ks_handoff_info *info, int *tls_fd)
{
	uint8_t buf[KS_HANDOFF_MAX_LEN + 1];
	union {
		char c[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl.c,
			     .msg_controllen = sizeof(ctl.c) };
	struct cmsghdr *cm;
	int fds = 0, fd = -1, ret;
	ssize_t n;

	*tls_fd = -1;
	n = recvmsg(unix_fd, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int x;

			memcpy(&x, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (fds++ == 0)
				fd = x;
			else
				close(x); /* more than one: rejected below, never leaked */
		}
	}
	if (n == 0 && fds == 0)
		return -EPIPE;
	ret = (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || fds != 1
		      ? -EBADMSG
		      : ks_handoff_decode(buf, (size_t)n, info);
	if (ret < 0) {
		if (fd >= 0)
			close(fd);
		return ret;
	}
	*tls_fd = fd;
	return 0;
}

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TLS_GET_RECORD_TYPE
#define TLS_GET_RECORD_TYPE 2
#define TLS_SET_RECORD_TYPE 1
#endif

/*
 * read() for a hand-off socket: a kTLS socket fails plain read() with -EIO when the next
 * record is not application data. Returns bytes read, 0 at the end (close_notify or TCP
 * end), -EPROTO for any other record (an error alert, a KeyUpdate the kernel cannot follow:
 * close the connection), or a negative errno.
 */
static inline ssize_t ks_handoff_read(int fd, void *out, size_t len)
{
	union {
		char c[CMSG_SPACE(sizeof(uint8_t))];
		struct cmsghdr align;
	} ctl;
	uint8_t rec[2];
	struct iovec iov = { .iov_base = out, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl.c,
			     .msg_controllen = sizeof(ctl.c) };
	struct cmsghdr *cm;
	ssize_t n = recvmsg(fd, &mh, 0);

	if (n < 0)
		return -errno;
	cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_level != SOL_TLS || cm->cmsg_type != TLS_GET_RECORD_TYPE ||
	    *CMSG_DATA(cm) == 23)
		return n;
	/* RFC 8446 §6: alert = level(1), description(1); close_notify is description 0. */
	if (*CMSG_DATA(cm) == 21 && n == 2 && len >= 2) {
		memcpy(rec, out, 2);
		if (rec[1] == 0)
			return 0;
	}
	return -EPROTO;
}

/* Answer the peer's close_notify (or end our side): one alert record through kTLS TX. */
static inline int ks_handoff_close_notify(int fd)
{
	static const uint8_t alert[2] = { 1, 0 };
	union {
		char c[CMSG_SPACE(sizeof(uint8_t))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)alert, .iov_len = 2 };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl.c,
			     .msg_controllen = sizeof(ctl.c) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

	memset(ctl.c, 0, sizeof(ctl.c));
	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(sizeof(uint8_t));
	*CMSG_DATA(cm) = 21;
	ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);

	return n == 2 ? 0 : n < 0 ? -errno : -EIO;
}

#endif /* KSTAPLE_HANDOFF_H */

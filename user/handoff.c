// SPDX-License-Identifier: MIT
/*
 * handoff: send a kTLS socket and its description to the application (protocol in
 * include/kstaple/handoff.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "kstaple/handoff_send.h"

int ks_handoff_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	ENSURE(path && strlen(path) < sizeof(sa.sun_path), -ENAMETOOLONG);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

static void peer_text(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "";

	out[0] = '\0';
	if (getpeername(fd, (struct sockaddr *)&ss, &sl))
		return;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(out, len, "%s:%u", host, ntohs(in->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(out, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	}
}

int ks_handoff_info_from_ssl(SSL *ssl, int fd, bool staple_sent, struct ks_handoff_info *out)
{
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	const unsigned char *alpn = NULL;
	unsigned alpn_len = 0;

	ENSURE(ssl && out, -EINVAL);
	memset(out, 0, sizeof(*out));
	out->version = KS_HANDOFF_VERSION;
	out->staple_sent = staple_sent;
	out->tls_version = (uint16_t)SSL_version(ssl);
	/* Names longer than a length byte cannot be sent: refuse rather than truncate. */
	ENSURE(!sni || strlen(sni) < sizeof(out->sni), -ENAMETOOLONG);
	if (sni)
		memcpy(out->sni, sni, strlen(sni) + 1);
	SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
	ENSURE(alpn_len < sizeof(out->alpn), -ENAMETOOLONG);
	if (alpn_len)
		memcpy(out->alpn, alpn, alpn_len);
	if (c)
		snprintf(out->cipher, sizeof(out->cipher), "%s", SSL_CIPHER_get_name(c));
	peer_text(fd, out->peer, sizeof(out->peer));
	return 0;
}

int ks_handoff_send(int unix_fd, int tls_fd, const struct ks_handoff_info *info)
{
	uint8_t buf[KS_HANDOFF_MAX_LEN];
	union {
		char c[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl.c,
			     .msg_controllen = sizeof(ctl.c) };
	struct cmsghdr *cm;
	int n = ks_handoff_encode(info, buf, sizeof(buf));
	ssize_t w;

	TRY(n);
	ENSURE(tls_fd >= 0, -EBADF);
	iov.iov_len = (size_t)n;
	memset(ctl.c, 0, sizeof(ctl.c));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &tls_fd, sizeof(int));
	w = sendmsg(unix_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w < 0)
		return -errno;
	/* SOCK_SEQPACKET sends a message whole or fails. */
	return w == n ? 0 : -EIO;
}

/* SPDX-License-Identifier: MIT */
/*
 * handoff_send: kstaple's side of the hand-off protocol (kstaple/handoff.h): describe a
 * session whose both directions are in the kernel and pass its socket to the application.
 *
 * After ks_ktls_offload() reported KS_KTLS_BOTH: ks_handoff_info_from_ssl(), then
 * ks_handoff_send() on a connection from ks_handoff_connect() (keep it per worker; reconnect
 * on -EPIPE/-ECONNREFUSED). On success the application holds its own copy of the socket:
 * close ours and SSL_free() the session without SSL_shutdown() (the TLS session now belongs
 * to the application; nothing may be written on it by kstaple any more).
 */
#ifndef KSTAPLE_HANDOFF_SEND_H
#define KSTAPLE_HANDOFF_SEND_H

#include <stdbool.h>

#include <openssl/ssl.h>

#include "kstaple/common.h"
#include "kstaple/handoff.h"

/* Connect to the application's AF_UNIX SOCK_SEQPACKET socket; fd or negative errno. */
KS_MUST_CHECK int ks_handoff_connect(const char *path);

/* Describe ssl (SNI, ALPN, version, cipher) and the peer of fd. */
KS_MUST_CHECK int ks_handoff_info_from_ssl(SSL *ssl, int fd, bool staple_sent,
					   struct ks_handoff_info *out);

/*
 * Send one hand-off (header + tls_fd via SCM_RIGHTS) without blocking: 0, -EAGAIN (the
 * application's queue is full: poll unix_fd for POLLOUT and retry), or a negative errno.
 */
KS_MUST_CHECK int ks_handoff_send(int unix_fd, int tls_fd, const struct ks_handoff_info *info);

#endif /* KSTAPLE_HANDOFF_SEND_H */

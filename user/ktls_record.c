// SPDX-License-Identifier: MIT
/*
 * ktls_record: the records a kTLS RX socket does not deliver as plain data. Alerts end or
 * close the session, a TLS 1.3 KeyUpdate rekeys (or closes, where the kernel cannot), and
 * anything else closes the session with a logged reason: never a silently corrupted stream.
 */
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <openssl/crypto.h>

#include "kstaple/cursor.h"
#include "kstaple/ktls.h"
#include "kstaple/log.h"
#include "ktls_internal.h"

/* RFC 8446 §4: enum { ..., new_session_ticket(4), ..., key_update(24), ... } HandshakeType; */
enum {
	HS_HELLO_REQUEST = 0, /* TLS 1.2 only (RFC 5246 §7.4.1.1) */
	HS_CLIENT_HELLO = 1,
	HS_NEW_SESSION_TICKET = 4,
	HS_KEY_UPDATE = 24,
};

/* RFC 8446 §6: enum { warning(1), fatal(2), (255) } AlertLevel; close_notify(0), user_canceled(90) */
enum {
	ALERT_WARNING = 1,
	ALERT_FATAL = 2,
	ALERT_CLOSE_NOTIFY = 0,
	ALERT_USER_CANCELED = 90
};

ssize_t ks_ktls_recv_record(int fd, void *buf, size_t len, uint8_t *type, int flags)
{
	char cbuf[CMSG_SPACE(sizeof(uint8_t))];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	ssize_t n;

	n = recvmsg(fd, &mh, flags);
	if (n < 0)
		return -errno;
	*type = KS_TLS_CT_APPLICATION_DATA;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE)
			*type = *CMSG_DATA(cm);
	/* A control record cut short by a small buffer cannot be judged: refuse it. */
	if (*type != KS_TLS_CT_APPLICATION_DATA && (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		return -EMSGSIZE;
	return n;
}

static int close_with(struct ks_ktls_ctl *out, const char *reason, int ret)
{
	out->action = KS_KTLS_CTL_CLOSE;
	out->reason = reason;
	return ret;
}

static int parse_alert(uint16_t version, struct ks_cursor *c, struct ks_ktls_ctl *out)
{
	/*
	 * RFC 8446 §6: struct { AlertLevel level; AlertDescription description; } Alert;
	 * "Alert messages MUST NOT be fragmented across records, and multiple alert messages
	 * MUST NOT be coalesced into a single TLSPlaintext record": exactly two bytes.
	 */
	if (ks_cur_u8(c, &out->alert_level) || ks_cur_u8(c, &out->alert_desc) || !ks_cur_empty(c))
		return close_with(out, "malformed alert record", -EBADMSG);
	if (out->alert_level != ALERT_WARNING && out->alert_level != ALERT_FATAL)
		return close_with(out, "alert with an unknown level", -EBADMSG);
	if (out->alert_desc == ALERT_CLOSE_NOTIFY) {
		out->action = KS_KTLS_CTL_END;
		out->reason = "peer sent close_notify";
		return 0;
	}
	/* §6.1: user_canceled is followed by close_notify; TLS 1.2 warnings may be ignored. */
	if (out->alert_level == ALERT_WARNING &&
	    (out->alert_desc == ALERT_USER_CANCELED || version == TLS1_2_VERSION)) {
		out->action = KS_KTLS_CTL_CONTINUE;
		return 0;
	}
	return close_with(out, "peer sent an error alert", 0);
}

static int parse_key_update(uint16_t version, struct ks_cursor *body, bool last,
			    struct ks_ktls_ctl *out)
{
	uint8_t req;

	/*
	 * RFC 8446 §4.6.3:
	 *   enum { update_not_requested(0), update_requested(1), (255) } KeyUpdateRequest;
	 *   struct { KeyUpdateRequest request_update; } KeyUpdate;
	 * §5.1: a KeyUpdate must be the last message of its record (it changes the keys).
	 */
	if (version != TLS1_3_VERSION)
		return close_with(out, "KeyUpdate in a TLS 1.2 session", -EBADMSG);
	if (ks_cur_u8(body, &req) || !ks_cur_empty(body) || req > 1)
		return close_with(out, "malformed KeyUpdate", -EBADMSG);
	if (!last)
		return close_with(out, "KeyUpdate not at the end of its record", -EBADMSG);
	out->key_update = true;
	out->update_requested = req == 1;
	out->action = KS_KTLS_CTL_CONTINUE;
	return 0;
}

static int parse_handshake(uint16_t version, struct ks_cursor *c, struct ks_ktls_ctl *out)
{
	/*
	 * RFC 8446 §4: struct {
	 *     HandshakeType msg_type;    -- handshake type
	 *     uint24 length;             -- remaining bytes in message
	 *     select (Handshake.msg_type) { ... };
	 * } Handshake;
	 * §5.1: zero-length handshake fragments MUST NOT be sent; several messages may share a
	 * record, and one message may span records (which this parser does not reassemble).
	 */
	if (ks_cur_empty(c))
		return close_with(out, "empty handshake record", -EBADMSG);
	while (!ks_cur_empty(c)) {
		struct ks_cursor body;
		uint32_t mlen;

		if (ks_cur_u8(c, &out->hs_type) || ks_cur_u24(c, &mlen))
			return close_with(out, "handshake message header split across records", 0);
		if (ks_cur_sub(c, mlen, &body))
			return close_with(out, "handshake message split across records", 0);
		switch (out->hs_type) {
		case HS_KEY_UPDATE:
			TRY(parse_key_update(version, &body, ks_cur_empty(c), out));
			break;
		case HS_NEW_SESSION_TICKET:
			return close_with(out, "client sent a NewSessionTicket (only servers may)",
					  -EBADMSG);
		case HS_HELLO_REQUEST:
		case HS_CLIENT_HELLO:
			return close_with(out,
					  version == TLS1_2_VERSION
						  ? "client asked for renegotiation, which kernel "
						    "TLS sessions do not support"
						  : "ClientHello after the handshake",
					  0);
		default:
			return close_with(out, "unexpected post-handshake message", 0);
		}
	}
	return 0;
}

int ks_ktls_parse_control(uint16_t version, uint8_t type, const uint8_t *rec, size_t len,
			  struct ks_ktls_ctl *out)
{
	struct ks_cursor c = ks_cur_init(rec, rec ? len : 0);

	memset(out, 0, sizeof(*out));
	out->type = type;
	out->reason = "";
	switch (type) {
	case KS_TLS_CT_ALERT:
		return parse_alert(version, &c, out);
	case KS_TLS_CT_HANDSHAKE:
		return parse_handshake(version, &c, out);
	case KS_TLS_CT_CHANGE_CIPHER_SPEC:
		/* RFC 8446 §5: a change_cipher_spec after the handshake is unexpected_message. */
		return close_with(out, "change_cipher_spec after the handshake", -EBADMSG);
	case KS_TLS_CT_APPLICATION_DATA:
		return close_with(out, "application data passed as a control record", -EINVAL);
	default:
		return close_with(out, "record of an unknown content type", -EBADMSG);
	}
}

int ks_ktls_send_record(int fd, uint8_t type, const void *buf, size_t len)
{
	char cbuf[CMSG_SPACE(sizeof(uint8_t))];
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	ssize_t n;

	memset(cbuf, 0, sizeof(cbuf));
	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(sizeof(uint8_t));
	*CMSG_DATA(cm) = type;
	n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	/* The kernel takes a record whole or not at all for control types this small. */
	return (size_t)n == len ? 0 : -EIO;
}

int ks_ktls_send_close_notify(int fd)
{
	static const uint8_t alert[2] = { ALERT_WARNING, ALERT_CLOSE_NOTIFY };

	return ks_ktls_send_record(fd, KS_TLS_CT_ALERT, alert, sizeof(alert));
}

/* RFC 8446 §4.6.3: move one direction to application_traffic_secret_N+1, sequence 0. */
static int rekey(struct ks_ktls_result *s, int fd, int dir_opt)
{
	uint8_t *secret = dir_opt == TLS_RX ? s->rx_secret : s->tx_secret;
	enum ks_ktls_cipher c = (enum ks_ktls_cipher)s->cipher;

	TRY(ks_tls13_next_secret(ks_ktls_cipher_md(c), secret, s->secret_len));
	return ks_ktls_install13(fd, dir_opt, c, secret, s->secret_len, 0);
}

static int key_update(struct ks_ktls_result *s, int fd, struct ks_ktls_ctl *out)
{
	/* Our KeyUpdate(update_not_requested): type 24, uint24 length 1, request 0. */
	static const uint8_t ku[5] = { HS_KEY_UPDATE, 0, 0, 1, 0 };
	int ret;

	if (!s->secret_len || s->cipher < 0) {
		ks_ktls_count_key_update(false);
		return close_with(out,
				  "client sent a TLS 1.3 KeyUpdate and this kernel cannot rekey "
				  "kernel TLS (Linux 6.14 can)",
				  0);
	}
	ret = rekey(s, fd, TLS_RX);
	if (!ret && out->update_requested) {
		/* §4.6.3: answer under the old key, then switch our sending key. */
		ret = ks_ktls_send_record(fd, KS_TLS_CT_HANDSHAKE, ku, sizeof(ku));
		if (!ret)
			ret = rekey(s, fd, TLS_TX);
	}
	if (ret) {
		ks_ktls_count_key_update(false);
		return close_with(out, "kernel refused the keys of a KeyUpdate", ret);
	}
	ks_ktls_count_key_update(true);
	return 0;
}

int ks_ktls_handle_control(struct ks_ktls_result *s, int fd, uint8_t type, const uint8_t *rec,
			   size_t len, const char *who, struct ks_ktls_ctl *out)
{
	int ret = ks_ktls_parse_control(s->version, type, rec, len, out);

	if (!ret && out->action == KS_KTLS_CTL_CONTINUE && out->key_update)
		ret = key_update(s, fd, out);
	if (out->action == KS_KTLS_CTL_END)
		ks_debug("kTLS session %s: %s", who ? who : "", out->reason);
	else if (out->action == KS_KTLS_CTL_CLOSE) {
		if (out->type == KS_TLS_CT_ALERT)
			ks_info("kTLS session %s: closing: %s (level %u, description %u)",
				who ? who : "", out->reason, out->alert_level, out->alert_desc);
		else
			ks_info("kTLS session %s: closing: %s", who ? who : "", out->reason);
		ks_ktls_result_wipe(s);
	}
	return ret;
}

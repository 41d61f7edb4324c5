// SPDX-License-Identifier: MIT
/*
 * ktls_record: control records of a kTLS session (RFC 8446 §4.6.3, §5.1, §6), adversarial
 * inputs, and KeyUpdate handling with the kernel replaced by a fake setsockopt.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "kstaple/ktls.h"

#define V13 TLS1_3_VERSION
#define V12 TLS1_2_VERSION

static int parse(uint16_t v, uint8_t type, const uint8_t *b, size_t n, struct ks_ktls_ctl *c)
{
	return ks_ktls_parse_control(v, type, b, n, c);
}

Test(ktls_record, close_notify_ends_cleanly)
{
	static const uint8_t a[] = { 1, 0 };
	struct ks_ktls_ctl c;

	cr_assert_eq(parse(V13, KS_TLS_CT_ALERT, a, 2, &c), 0);
	cr_assert_eq(c.action, KS_KTLS_CTL_END);
	cr_assert_eq(c.alert_desc, 0);
}

Test(ktls_record, alerts_that_close_or_are_malformed)
{
	static const uint8_t fatal[] = { 2, 20 }, cancel[] = { 1, 90 }, lvl[] = { 3, 0 },
			     two[] = { 1, 0, 1, 0 };
	struct ks_ktls_ctl c;

	cr_assert_eq(parse(V13, KS_TLS_CT_ALERT, fatal, 2, &c), 0);
	cr_assert_eq(c.action, KS_KTLS_CTL_CLOSE);
	cr_assert_eq(c.alert_desc, 20);
	cr_assert_eq(parse(V13, KS_TLS_CT_ALERT, cancel, 2, &c), 0);
	cr_assert_eq(c.action, KS_KTLS_CTL_CONTINUE, "user_canceled waits for close_notify");
	cr_assert_eq(parse(V13, KS_TLS_CT_ALERT, lvl, 2, &c), -EBADMSG);
	cr_assert_eq(c.action, KS_KTLS_CTL_CLOSE);
	cr_assert_eq(parse(V13, KS_TLS_CT_ALERT, two, 4, &c), -EBADMSG, "coalesced alerts");
	cr_assert_eq(parse(V13, KS_TLS_CT_ALERT, two, 1, &c), -EBADMSG, "truncated alert");
	cr_assert_eq(parse(V13, KS_TLS_CT_ALERT, NULL, 0, &c), -EBADMSG);
}

Test(ktls_record, key_update_requested_and_not)
{
	static const uint8_t ku0[] = { 24, 0, 0, 1, 0 }, ku1[] = { 24, 0, 0, 1, 1 };
	struct ks_ktls_ctl c;

	cr_assert_eq(parse(V13, KS_TLS_CT_HANDSHAKE, ku0, 5, &c), 0);
	cr_assert(c.key_update && !c.update_requested);
	cr_assert_eq(c.action, KS_KTLS_CTL_CONTINUE);
	cr_assert_eq(parse(V13, KS_TLS_CT_HANDSHAKE, ku1, 5, &c), 0);
	cr_assert(c.key_update && c.update_requested);
}

Test(ktls_record, bad_key_updates)
{
	static const uint8_t val2[] = { 24, 0, 0, 1, 2 }, len2[] = { 24, 0, 0, 2, 0, 0 },
			     notlast[] = { 24, 0, 0, 1, 0, 24, 0, 0, 1, 0 },
			     lying[] = { 24, 0, 0, 9, 0 };
	struct ks_ktls_ctl c;

	cr_assert_eq(parse(V13, KS_TLS_CT_HANDSHAKE, val2, 5, &c), -EBADMSG);
	cr_assert_eq(parse(V13, KS_TLS_CT_HANDSHAKE, len2, 6, &c), -EBADMSG);
	cr_assert_eq(parse(V13, KS_TLS_CT_HANDSHAKE, notlast, 10, &c), -EBADMSG);
	cr_assert_eq(c.action, KS_KTLS_CTL_CLOSE);
	cr_assert_eq(parse(V12, KS_TLS_CT_HANDSHAKE, val2 + 0, 5, &c), -EBADMSG,
		     "no KeyUpdate in TLS 1.2");
	cr_assert_eq(parse(V13, KS_TLS_CT_HANDSHAKE, lying, 5, &c), 0);
	cr_assert_eq(c.action, KS_KTLS_CTL_CLOSE, "a message longer than its record: %s", c.reason);
	cr_assert_eq(parse(V13, KS_TLS_CT_HANDSHAKE, lying, 3, &c), 0);
	cr_assert_eq(c.action, KS_KTLS_CTL_CLOSE);
}

Test(ktls_record, other_handshake_messages_close)
{
	static const uint8_t nst[] = { 4, 0, 0, 0 }, ch[] = { 1, 0, 0, 0 }, fin[] = { 20, 0, 0, 0 };
	struct ks_ktls_ctl c;

	cr_assert_eq(parse(V13, KS_TLS_CT_HANDSHAKE, nst, 4, &c), -EBADMSG);
	cr_assert(strstr(c.reason, "NewSessionTicket"));
	cr_assert_eq(parse(V12, KS_TLS_CT_HANDSHAKE, ch, 4, &c), 0);
	cr_assert_eq(c.action, KS_KTLS_CTL_CLOSE);
	cr_assert(strstr(c.reason, "renegotiation"));
	cr_assert_eq(parse(V13, KS_TLS_CT_HANDSHAKE, fin, 4, &c), 0);
	cr_assert_eq(c.action, KS_KTLS_CTL_CLOSE);
	cr_assert_eq(parse(V13, KS_TLS_CT_HANDSHAKE, nst, 0, &c), -EBADMSG, "empty");
}

Test(ktls_record, other_content_types)
{
	static const uint8_t one[] = { 1 };
	struct ks_ktls_ctl c;

	cr_assert_eq(parse(V13, KS_TLS_CT_CHANGE_CIPHER_SPEC, one, 1, &c), -EBADMSG);
	cr_assert_eq(parse(V13, 99, one, 1, &c), -EBADMSG);
	cr_assert_eq(parse(V13, KS_TLS_CT_APPLICATION_DATA, one, 1, &c), -EINVAL);
	cr_assert_eq(c.action, KS_KTLS_CTL_CLOSE);
}

Test(ktls_record, recv_record_on_a_plain_socket_is_data)
{
	int sv[2];
	uint8_t buf[16], type = 0;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(write(sv[1], "abc", 3), 3);
	cr_assert_eq(ks_ktls_recv_record(sv[0], buf, sizeof(buf), &type, 0), 3);
	cr_assert_eq(type, KS_TLS_CT_APPLICATION_DATA);
	close(sv[1]);
	cr_assert_eq(ks_ktls_recv_record(sv[0], buf, sizeof(buf), &type, 0), 0);
	cr_assert_eq(ks_ktls_recv_record(sv[0], buf, sizeof(buf), &type, MSG_DONTWAIT), 0);
	close(sv[0]);
	cr_assert_eq(ks_ktls_recv_record(sv[0], buf, sizeof(buf), &type, 0), -EBADF);
}

/* ---- KeyUpdate handling ---- */

static int nset, last_name;
static union ks_ktls_crypto_info last_ci[4];
static int fail_name = -1;

static int fake(int fd, int level, int name, const void *val, socklen_t len)
{
	(void)fd;
	cr_assert_eq(level, SOL_TLS);
	if (name == fail_name) {
		errno = EBUSY;
		return -1;
	}
	memcpy(&last_ci[nset++ & 3], val, KS_MIN((size_t)len, sizeof(last_ci[0])));
	last_name = name;
	return 0;
}

static void session(struct ks_ktls_result *s, bool rekey)
{
	memset(s, 0, sizeof(*s));
	s->version = TLS1_3_VERSION;
	s->cipher = KS_KTLS_AES_128_GCM;
	s->dirs = KS_KTLS_BOTH;
	if (rekey) {
		s->secret_len = 32;
		for (int i = 0; i < 32; i++) {
			s->rx_secret[i] = (uint8_t)i;
			s->tx_secret[i] = (uint8_t)(100 + i);
		}
	}
	ks_ktls_setsockopt = fake;
}

Test(ktls_record, key_update_without_kernel_rekey_closes_with_reason)
{
	static const uint8_t ku[] = { 24, 0, 0, 1, 0 };
	struct ks_ktls_counts n0, n1;
	struct ks_ktls_result s;
	struct ks_ktls_ctl c;

	session(&s, false);
	ks_ktls_counts_read(&n0);
	cr_assert_eq(ks_ktls_handle_control(&s, -1, KS_TLS_CT_HANDSHAKE, ku, 5, "t", &c), 0);
	cr_assert_eq(c.action, KS_KTLS_CTL_CLOSE);
	cr_assert(strstr(c.reason, "cannot rekey"), "%s", c.reason);
	cr_assert_eq(nset, 0);
	ks_ktls_counts_read(&n1);
	cr_assert_eq(n1.closed_key_update, n0.closed_key_update + 1);
}

Test(ktls_record, key_update_rekeys_rx_with_the_next_secret)
{
	static const uint8_t ku[] = { 24, 0, 0, 1, 0 };
	struct ks_ktls_result s;
	struct ks_ktls_ctl c;
	uint8_t next[32], key[16], iv[12];

	session(&s, true);
	memcpy(next, s.rx_secret, 32);
	cr_assert_eq(ks_tls13_next_secret(EVP_sha256(), next, 32), 0);
	cr_assert_eq(ks_tls13_traffic_keys(EVP_sha256(), next, 32, key, 16, iv), 0);
	cr_assert_eq(ks_ktls_handle_control(&s, -1, KS_TLS_CT_HANDSHAKE, ku, 5, "t", &c), 0);
	cr_assert_eq(c.action, KS_KTLS_CTL_CONTINUE);
	cr_assert_eq(nset, 1);
	cr_assert_eq(last_name, TLS_RX);
	cr_assert_arr_eq(last_ci[0].gcm128.key, key, 16);
	cr_assert_arr_eq(last_ci[0].gcm128.salt, iv, 4);
	cr_assert_eq(last_ci[0].gcm128.rec_seq[7], 0);
	cr_assert_arr_eq(s.rx_secret, next, 32, "the session moved to the next generation");
}

Test(ktls_record, requested_key_update_answers_then_rekeys_tx)
{
	static const uint8_t ku[] = { 24, 0, 0, 1, 1 };
	struct ks_ktls_result s;
	struct ks_ktls_ctl c;
	uint8_t sent[8];
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	session(&s, true);
	cr_assert_eq(ks_ktls_handle_control(&s, sv[0], KS_TLS_CT_HANDSHAKE, ku, 5, "t", &c), 0);
	cr_assert_eq(c.action, KS_KTLS_CTL_CONTINUE);
	cr_assert_eq(nset, 2);
	cr_assert_eq(last_name, TLS_TX);
	/* Our KeyUpdate(update_not_requested) went out before TX moved. */
	cr_assert_eq(read(sv[1], sent, sizeof(sent)), 5);
	cr_assert_eq(memcmp(sent, "\x18\x00\x00\x01\x00", 5), 0);
	close(sv[0]);
	close(sv[1]);
}

Test(ktls_record, refused_rekey_closes)
{
	static const uint8_t ku[] = { 24, 0, 0, 1, 0 };
	struct ks_ktls_result s;
	struct ks_ktls_ctl c;

	session(&s, true);
	fail_name = TLS_RX;
	cr_assert_eq(ks_ktls_handle_control(&s, -1, KS_TLS_CT_HANDSHAKE, ku, 5, "t", &c), -EBUSY);
	cr_assert_eq(c.action, KS_KTLS_CTL_CLOSE);
	cr_assert_eq(s.secret_len, 0, "secrets wiped on close");
}

// SPDX-License-Identifier: MIT
/*
 * ktls_offload: ks_ktls_offload() on real OpenSSL sessions (memory BIOs) with the kernel
 * replaced by a fake setsockopt: which keys reach which option in which order, with which
 * sequence number, and every refusal (handshake not done, pending bytes, CBC cipher, no ULP,
 * cipher refused, keys refused, no keylog). Each Criterion test runs in its own process, so
 * replacing the hook and the probe cache does not leak between tests.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "kstaple/ktls.h"

struct call {
	int level, name;
	union ks_ktls_crypto_info ci;
};

static struct call calls[32];
static int ncalls;
static int refuse_level = -1, refuse_name = -1, refuse_errno;
static bool refuse_only_after_probe;
static bool probing;

static int fake_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	(void)fd;
	if (level == refuse_level && name == refuse_name &&
	    (!refuse_only_after_probe || !probing)) {
		errno = refuse_errno;
		return -1;
	}
	if (!probing && ncalls < 32) {
		calls[ncalls].level = level;
		calls[ncalls].name = name;
		memcpy(&calls[ncalls].ci, val,
		       KS_MIN((size_t)len, sizeof(union ks_ktls_crypto_info)));
		ncalls++;
	}
	return 0;
}

static void use_fake(void)
{
	ks_ktls_setsockopt = fake_setsockopt;
	ks_ktls_probe_reset();
	probing = true;
	(void)ks_ktls_probe();
	probing = false;
}

/* The client's keylog, to check the keys the server derived against the client's secrets. */
static char client_cts[200], client_sts[200];

static void client_keylog(const SSL *ssl, const char *line)
{
	(void)ssl;
	if (!strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24))
		snprintf(client_cts, sizeof(client_cts), "%s", strrchr(line, ' ') + 1);
	if (!strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24))
		snprintf(client_sts, sizeof(client_sts), "%s", strrchr(line, ' ') + 1);
}

struct pair {
	SSL_CTX *sctx, *cctx;
	SSL *s, *c;
	int fd[2];
};

static void make_cert(SSL_CTX *ctx)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *crt = X509_new();

	cr_assert(key && crt);
	ASN1_INTEGER_set(X509_get_serialNumber(crt), 1);
	X509_gmtime_adj(X509_getm_notBefore(crt), -60);
	X509_gmtime_adj(X509_getm_notAfter(crt), 3600);
	X509_set_pubkey(crt, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(crt), "CN", MBSTRING_ASC,
				   (const unsigned char *)"t", -1, -1, 0);
	X509_set_issuer_name(crt, X509_get_subject_name(crt));
	cr_assert(X509_sign(crt, key, EVP_sha256()) > 0);
	cr_assert_eq(SSL_CTX_use_certificate(ctx, crt), 1);
	cr_assert_eq(SSL_CTX_use_PrivateKey(ctx, key), 1);
	X509_free(crt);
	EVP_PKEY_free(key);
}

/* A client and a server SSL joined by memory BIOs; version and cipher fixed. */
static void pair_new(struct pair *p, int version, const char *cipher, int tickets)
{
	BIO *c2s = BIO_new(BIO_s_mem()), *s2c = BIO_new(BIO_s_mem());

	p->sctx = SSL_CTX_new(TLS_server_method());
	p->cctx = SSL_CTX_new(TLS_client_method());
	make_cert(p->sctx);
	ks_ktls_ctx_setup(p->sctx);
	SSL_CTX_set_num_tickets(p->sctx, (size_t)tickets);
	SSL_CTX_set_keylog_callback(p->cctx, client_keylog);
	for (SSL_CTX *x = p->sctx; x; x = x == p->sctx ? p->cctx : NULL) {
		SSL_CTX_set_min_proto_version(x, version);
		SSL_CTX_set_max_proto_version(x, version);
		if (version == TLS1_3_VERSION)
			cr_assert(SSL_CTX_set_ciphersuites(x, cipher));
		else
			cr_assert(SSL_CTX_set_cipher_list(x, cipher));
	}
	p->s = SSL_new(p->sctx);
	p->c = SSL_new(p->cctx);
	BIO_up_ref(c2s);
	BIO_up_ref(s2c);
	SSL_set_bio(p->s, c2s, s2c);
	SSL_set_bio(p->c, s2c, c2s);
	SSL_set_accept_state(p->s);
	SSL_set_connect_state(p->c);
	/* A socket for the fd argument: the fake setsockopt never touches it. */
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, p->fd), 0);
}

static void pair_handshake(struct pair *p)
{
	for (int i = 0; i < 10 && !(SSL_is_init_finished(p->s) && SSL_is_init_finished(p->c));
	     i++) {
		SSL_do_handshake(p->c);
		SSL_do_handshake(p->s);
	}
	cr_assert(SSL_is_init_finished(p->s) && SSL_is_init_finished(p->c), "handshake");
}

static void pair_free(struct pair *p)
{
	SSL_free(p->s);
	SSL_free(p->c);
	SSL_CTX_free(p->sctx);
	SSL_CTX_free(p->cctx);
	close(p->fd[0]);
	close(p->fd[1]);
}

static void expect_keys(const struct call *cl, int name, const char *secret_hex)
{
	uint8_t secret[32], key[16], iv[12];
	size_t n = 0;

	cr_assert_eq(cl->level, SOL_TLS);
	cr_assert_eq(cl->name, name);
	for (const char *h = secret_hex; h[0] && h[1] && n < 32; h += 2)
		sscanf(h, "%2hhx", &secret[n++]);
	cr_assert_eq(n, 32);
	cr_assert_eq(ks_tls13_traffic_keys(EVP_sha256(), secret, 32, key, 16, iv), 0);
	cr_assert_eq(cl->ci.info.version, TLS_1_3_VERSION);
	cr_assert_eq(cl->ci.info.cipher_type, TLS_CIPHER_AES_GCM_128);
	cr_assert_arr_eq(cl->ci.gcm128.key, key, 16);
	cr_assert_arr_eq(cl->ci.gcm128.salt, iv, 4);
	cr_assert_arr_eq(cl->ci.gcm128.iv, iv + 4, 8);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(cl->ci.gcm128.rec_seq[i], 0, "sequence starts at 0");
}

Test(ktls_offload, tls13_without_tickets_installs_rx_then_tx_from_the_secrets)
{
	struct ks_ktls_result r;
	struct ks_ktls_counts n0, n1;
	struct pair p;

	use_fake();
	pair_new(&p, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", 0);
	pair_handshake(&p);
	ks_ktls_counts_read(&n0);
	cr_assert_eq(ks_ktls_offload(p.s, p.fd[0], &r), 0);
	cr_assert_eq(r.dirs, KS_KTLS_BOTH, "why: %s", ks_ktls_why_str(r.why));
	cr_assert_eq(r.why, KS_KTLS_WHY_NONE);
	cr_assert(!r.tx_openssl && !r.rx_openssl, "memory BIOs: OpenSSL offloads nothing");
	cr_assert_eq(ncalls, 3);
	cr_assert_eq(calls[0].level, SOL_TCP);
	cr_assert_eq(calls[0].name, TCP_ULP);
	expect_keys(&calls[1], TLS_RX, client_cts);
	expect_keys(&calls[2], TLS_TX, client_sts);
	ks_ktls_counts_read(&n1);
	cr_assert_eq(n1.both, n0.both + 1);
	/* The secrets were used up: a second offload finds none. */
	cr_assert_eq(ks_ktls_offload(p.s, p.fd[0], &r), 0);
	cr_assert_eq(r.why, KS_KTLS_WHY_NO_SECRET);
	pair_free(&p);
}

Test(ktls_offload, tls13_with_tickets_keeps_tx_in_openssl)
{
	struct ks_ktls_result r;
	struct pair p;

	use_fake();
	pair_new(&p, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", 2);
	pair_handshake(&p);
	cr_assert_eq(ks_ktls_offload(p.s, p.fd[0], &r), 0);
	/* OpenSSL (memory BIO) did not offload TX and sent 2 tickets: sequence unknown. */
	cr_assert_eq(r.dirs, KS_KTLS_RX);
	cr_assert_eq(r.why, KS_KTLS_WHY_TX_SEQ);
	cr_assert_eq(ncalls, 2);
	expect_keys(&calls[1], TLS_RX, client_cts);
	pair_free(&p);
}

Test(ktls_offload, both_or_none_leaves_a_tx_less_session_alone)
{
	struct ks_ktls_result r;
	struct pair p;

	use_fake();
	pair_new(&p, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", 2);
	pair_handshake(&p);
	cr_assert_eq(ks_ktls_offload_flags(p.s, p.fd[0], KS_KTLS_F_BOTH_OR_NONE, &r), 0);
	cr_assert_eq(r.dirs, 0, "no RX-only session");
	cr_assert_eq(r.why, KS_KTLS_WHY_TX_SEQ);
	cr_assert_eq(ncalls, 0);
	pair_free(&p);
}

Test(ktls_offload, refuses_before_the_handshake_is_done)
{
	struct ks_ktls_result r;
	struct pair p;

	use_fake();
	pair_new(&p, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", 0);
	cr_assert_eq(ks_ktls_offload(p.s, p.fd[0], &r), 0);
	cr_assert_eq(r.dirs, 0);
	cr_assert_eq(r.why, KS_KTLS_WHY_NOT_DONE);
	cr_assert_eq(ncalls, 0);
	pair_free(&p);
}

Test(ktls_offload, refuses_with_bytes_pending_in_openssl)
{
	struct ks_ktls_result r;
	struct ks_ktls_counts n0, n1;
	struct pair p;
	char b[4];

	use_fake();
	pair_new(&p, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", 0);
	pair_handshake(&p);
	/* Ciphertext waiting in the server's read BIO. */
	cr_assert_eq(SSL_write(p.c, "0123456789", 10), 10);
	ks_ktls_counts_read(&n0);
	cr_assert_eq(ks_ktls_offload(p.s, p.fd[0], &r), 0);
	cr_assert_eq(r.why, KS_KTLS_WHY_PENDING);
	cr_assert_eq(r.dirs, 0);
	ks_ktls_counts_read(&n1);
	cr_assert_eq(n1.userspace[KS_KTLS_WHY_PENDING], n0.userspace[KS_KTLS_WHY_PENDING] + 1);
	/* Decrypted bytes not yet read by the application: SSL_pending() > 0. */
	cr_assert_eq(SSL_read(p.s, b, 4), 4);
	cr_assert_gt(SSL_pending(p.s), 0);
	cr_assert_eq(ks_ktls_offload(p.s, p.fd[0], &r), 0);
	cr_assert_eq(r.why, KS_KTLS_WHY_PENDING);
	cr_assert_eq(ncalls, 0);
	pair_free(&p);
}

Test(ktls_offload, refuses_a_cbc_cipher)
{
	struct ks_ktls_result r;
	struct pair p;

	use_fake();
	pair_new(&p, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA256", 0);
	pair_handshake(&p);
	cr_assert_eq(ks_ktls_offload(p.s, p.fd[0], &r), 0);
	cr_assert_eq(r.why, KS_KTLS_WHY_CIPHER);
	cr_assert_eq(r.cipher, -1);
	cr_assert_eq(ncalls, 0);
	pair_free(&p);
}

Test(ktls_offload, tls12_needs_openssl)
{
	struct ks_ktls_result r;
	struct pair p;

	use_fake();
	pair_new(&p, TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384", 0);
	pair_handshake(&p);
	cr_assert_eq(ks_ktls_offload(p.s, p.fd[0], &r), 0);
	cr_assert_eq(r.cipher, KS_KTLS_AES_256_GCM);
	cr_assert_eq(r.why, KS_KTLS_WHY_OPENSSL);
	cr_assert_eq(r.dirs, 0);
	cr_assert_eq(ncalls, 0);
	pair_free(&p);
}

Test(ktls_offload, no_ulp_stays_in_userspace_and_require_refuses)
{
	struct ks_ktls_result r;
	struct pair p;
	char why[200];

	refuse_level = SOL_TCP;
	refuse_name = TCP_ULP;
	refuse_errno = ENOENT;
	use_fake();
	cr_assert_not(ks_ktls_probe()->ulp);
	pair_new(&p, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", 0);
	pair_handshake(&p);
	cr_assert_eq(ks_ktls_offload(p.s, p.fd[0], &r), 0);
	cr_assert_eq(r.why, KS_KTLS_WHY_NO_ULP);
	cr_assert_eq(r.err, ENOENT);
	cr_assert_str_eq(ks_ktls_why_str(r.why), "kernel has no TLS ULP (CONFIG_TLS)");
	cr_assert_eq(ks_ktls_check_mode(KS_KTLS_MODE_AUTO, false, why, sizeof(why)), 0);
	cr_assert_eq(ks_ktls_check_mode(KS_KTLS_MODE_REQUIRE, false, why, sizeof(why)),
		     -EOPNOTSUPP);
	cr_assert(strstr(why, "kernel has no TLS ULP (CONFIG_TLS"), "%s", why);
	cr_assert_eq(ks_ktls_check_mode(KS_KTLS_MODE_AUTO, true, why, sizeof(why)), -EOPNOTSUPP);
	cr_assert(strstr(why, "hand-off"), "%s", why);
	cr_assert_eq(ks_ktls_check_mode(KS_KTLS_MODE_OFF, true, why, sizeof(why)), -EOPNOTSUPP);
	cr_assert_eq(ks_ktls_check_mode(KS_KTLS_MODE_OFF, false, why, sizeof(why)), 0);
	pair_free(&p);
}

Test(ktls_offload, kernel_refusing_the_cipher_in_the_probe)
{
	struct ks_ktls_result r;
	struct pair p;

	refuse_level = SOL_TLS;
	refuse_name = TLS_TX;
	refuse_errno = ENOENT;
	use_fake();
	cr_assert(ks_ktls_probe()->ulp);
	pair_new(&p, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", 0);
	pair_handshake(&p);
	cr_assert_eq(ks_ktls_offload(p.s, p.fd[0], &r), 0);
	cr_assert_eq(r.why, KS_KTLS_WHY_KERNEL_CIPHER);
	cr_assert_eq(r.dirs, 0);
	pair_free(&p);
}

Test(ktls_offload, kernel_refusing_rx_keys_leaves_nothing_half_done)
{
	struct ks_ktls_result r;
	struct pair p;

	refuse_level = SOL_TLS;
	refuse_name = TLS_RX;
	refuse_errno = EINVAL;
	refuse_only_after_probe = true;
	use_fake();
	pair_new(&p, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", 0);
	pair_handshake(&p);
	cr_assert_eq(ks_ktls_offload(p.s, p.fd[0], &r), 0);
	cr_assert_eq(r.why, KS_KTLS_WHY_SETSOCKOPT);
	cr_assert_eq(r.err, EINVAL);
	cr_assert_eq(r.dirs, 0, "no manual TX after a refused RX");
	for (int i = 0; i < ncalls; i++)
		cr_assert_neq(calls[i].name == TLS_TX && calls[i].level == SOL_TLS, 1);
	pair_free(&p);
}

Test(ktls_offload, without_the_keylog_callback_nothing_is_installed)
{
	struct ks_ktls_result r;
	struct pair p;

	use_fake();
	pair_new(&p, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", 0);
	SSL_CTX_set_keylog_callback(p.sctx, NULL);
	pair_handshake(&p);
	cr_assert_eq(ks_ktls_offload(p.s, p.fd[0], &r), 0);
	cr_assert_eq(r.why, KS_KTLS_WHY_NO_SECRET);
	cr_assert_eq(ncalls, 0);
	pair_free(&p);
}

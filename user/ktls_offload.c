// SPDX-License-Identifier: MIT
/*
 * ktls_offload: the kernel probe, the keylog capture and ks_ktls_offload() itself.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "kstaple/ktls.h"
#include "kstaple/log.h"
#include "ktls_internal.h"

/* ---- probe ---- */

static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;
static bool probed;
static struct ks_ktls_support support;

static int loopback_pair(int *a, int *b)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int l, ret = 0;

	*a = *b = -1;
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		return -errno;
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&sa, &sl)) {
		ret = -errno;
		goto out;
	}
	*a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* Loopback connects complete at once: the listener's backlog takes the connection. */
	if (*a < 0 || connect(*a, (struct sockaddr *)&sa, sizeof(sa)) ||
	    (*b = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		ret = -errno;
		if (*a >= 0)
			close(*a);
		*a = -1;
	}
out:
	close(l);
	return ret;
}

/* One socket per (version, cipher): a refused setsockopt must not colour the next attempt. */
static void probe_cipher(struct ks_ktls_support *s, int vi, enum ks_ktls_cipher c)
{
	static const uint8_t zero[32];
	union ks_ktls_crypto_info ci;
	uint16_t version = vi ? TLS1_3_VERSION : TLS1_2_VERSION;
	socklen_t len;
	int a, b, err;

	err = loopback_pair(&a, &b);
	if (err) {
		s->ulp_err = -err;
		return;
	}
	if (ks_ktls_setsockopt(a, SOL_TCP, TCP_ULP, "tls", sizeof("tls"))) {
		s->ulp_err = errno;
		goto out;
	}
	s->ulp = true;
	if (ks_ktls_fill_info(version, c, zero, ks_ktls_key_len(c), zero, 0, &ci, &len))
		goto out;
	if (!ks_ktls_setsockopt(a, SOL_TLS, TLS_TX, &ci, len))
		s->dirs[vi][c] |= KS_KTLS_TX;
	if (!ks_ktls_setsockopt(a, SOL_TLS, TLS_RX, &ci, len)) {
		s->dirs[vi][c] |= KS_KTLS_RX;
		/* A second TLS_RX is a rekey: EBUSY before Linux 6.14, accepted for TLS 1.3 since. */
		if (vi && !ks_ktls_setsockopt(a, SOL_TLS, TLS_RX, &ci, len))
			s->rekey = true;
	}
out:
	close(a);
	close(b);
}

const struct ks_ktls_support *ks_ktls_probe(void)
{
	pthread_mutex_lock(&probe_lock);
	if (!probed) {
		memset(&support, 0, sizeof(support));
		for (int vi = 0; vi < 2; vi++)
			for (int c = 0; c < KS_KTLS_CIPHER_MAX; c++) {
				probe_cipher(&support, vi, (enum ks_ktls_cipher)c);
				if (!support.ulp)
					goto done;
			}
	done:
		if (support.ulp)
			support.ulp_err = 0;
		probed = true;
	}
	pthread_mutex_unlock(&probe_lock);
	return &support;
}

void ks_ktls_probe_reset(void)
{
	pthread_mutex_lock(&probe_lock);
	probed = false;
	pthread_mutex_unlock(&probe_lock);
}

/* ---- keylog capture: per-SSL secrets in ex_data ---- */

struct ktls_secrets {
	uint8_t client[EVP_MAX_MD_SIZE], server[EVP_MAX_MD_SIZE];
	size_t client_len, server_len;
};

static pthread_once_t ex_once = PTHREAD_ONCE_INIT;
static int ex_idx = -1;

static void secrets_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			 void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (ptr)
		OPENSSL_clear_free(ptr, sizeof(struct ktls_secrets));
}

static void ex_init(void)
{
	ex_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, secrets_free);
}

static struct ktls_secrets *secrets_of(const SSL *ssl, bool create)
{
	struct ktls_secrets *s;

	pthread_once(&ex_once, ex_init);
	if (ex_idx < 0)
		return NULL;
	s = SSL_get_ex_data(ssl, ex_idx);
	if (s || !create)
		return s;
	s = OPENSSL_zalloc(sizeof(*s));
	/* The keylog callback gets a const SSL; its ex_data is ours to set all the same. */
	if (s && !SSL_set_ex_data((SSL *)ssl, ex_idx, s)) {
		OPENSSL_free(s);
		s = NULL;
	}
	return s;
}

static void secrets_drop(SSL *ssl)
{
	struct ktls_secrets *s = secrets_of(ssl, false);

	if (s) {
		SSL_set_ex_data(ssl, ex_idx, NULL);
		OPENSSL_clear_free(s, sizeof(*s));
	}
}

void ks_ktls_keylog_cb(const SSL *ssl, const char *line)
{
	/* NSS key log format: "<LABEL> <client_random hex> <secret hex>" (OpenSSL's own text). */
	static const char cts[] = "CLIENT_TRAFFIC_SECRET_0 ", sts[] = "SERVER_TRAFFIC_SECRET_0 ";
	struct ktls_secrets *s;
	const char *hex;
	uint8_t *dst;
	size_t *dlen, n = 0;

	if (!strncmp(line, cts, sizeof(cts) - 1))
		hex = line + sizeof(cts) - 1;
	else if (!strncmp(line, sts, sizeof(sts) - 1))
		hex = line + sizeof(sts) - 1;
	else
		return;
	hex = strchr(hex, ' ');
	s = hex ? secrets_of(ssl, true) : NULL;
	if (!s)
		return;
	dst = line[0] == 'C' ? s->client : s->server;
	dlen = line[0] == 'C' ? &s->client_len : &s->server_len;
	if (OPENSSL_hexstr2buf_ex(dst, EVP_MAX_MD_SIZE, &n, hex + 1, '\0') != 1)
		n = 0;
	*dlen = n;
}

void ks_ktls_ctx_setup(SSL_CTX *ctx)
{
	SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
	SSL_CTX_set_keylog_callback(ctx, ks_ktls_keylog_cb);
}

void ks_ktls_result_wipe(struct ks_ktls_result *r)
{
	OPENSSL_cleanse(r->rx_secret, sizeof(r->rx_secret));
	OPENSSL_cleanse(r->tx_secret, sizeof(r->tx_secret));
	r->secret_len = 0;
}

/* ---- offload ---- */

/* s2n-tls style: everything that can refuse the session is checked before any key moves. */
static enum ks_ktls_why preconditions(SSL *ssl, struct ks_ktls_result *out)
{
	const SSL_CIPHER *c;
	BIO *rbio = SSL_get_rbio(ssl);
	int v = SSL_version(ssl);

	if (!SSL_is_init_finished(ssl))
		return KS_KTLS_WHY_NOT_DONE;
	if (v != TLS1_2_VERSION && v != TLS1_3_VERSION)
		return KS_KTLS_WHY_VERSION;
	out->version = (uint16_t)v;
	c = SSL_get_current_cipher(ssl);
	out->cipher = (int8_t)(c ? ks_ktls_cipher_from_nid(SSL_CIPHER_get_cipher_nid(c)) : -1);
	if (out->cipher < 0)
		return KS_KTLS_WHY_CIPHER;
	/*
	 * Decrypted bytes (SSL_pending), unprocessed record bytes (SSL_has_pending: read-ahead)
	 * or bytes in a memory BIO would be skipped by a kernel that starts at the socket.
	 */
	if (SSL_pending(ssl) > 0 || SSL_has_pending(ssl) || (rbio && BIO_ctrl_pending(rbio) > 0))
		return KS_KTLS_WHY_PENDING;
	return KS_KTLS_WHY_NONE;
}

struct plan13 {
	union ks_ktls_crypto_info rx, tx;
	socklen_t rx_len, tx_len;
	bool want_rx, want_tx;
};

static int prepare13(enum ks_ktls_cipher c, const uint8_t *secret, size_t secret_len,
		     union ks_ktls_crypto_info *ci, socklen_t *len)
{
	uint8_t key[32], iv[12];
	size_t key_len = ks_ktls_key_len(c);
	int ret;

	/* RX: nothing under the client's application key was consumed, so sequence 0. TX (only
	 * when no tickets were sent): nothing was sent under the server's either. */
	ret = ks_tls13_traffic_keys(ks_ktls_cipher_md(c), secret, secret_len, key, key_len, iv);
	if (!ret)
		ret = ks_ktls_fill_info(TLS1_3_VERSION, c, key, key_len, iv, 0, ci, len);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	return ret;
}

/* Decide and derive everything for TLS 1.3; returns the reason a wanted direction is lost. */
static enum ks_ktls_why plan_tls13(SSL *ssl, const struct ks_ktls_support *sup, unsigned flags,
				   struct ks_ktls_result *out, struct plan13 *p)
{
	const struct ktls_secrets *sec = secrets_of(ssl, false);
	enum ks_ktls_cipher c = (enum ks_ktls_cipher)out->cipher;
	size_t md_len = (size_t)EVP_MD_get_size(ks_ktls_cipher_md(c));
	enum ks_ktls_why why = KS_KTLS_WHY_NONE;

	p->want_rx = !out->rx_openssl;
	p->want_tx = !out->tx_openssl;
	if (p->want_tx && SSL_get_num_tickets(ssl) != 0) {
		p->want_tx = false;
		why = KS_KTLS_WHY_TX_SEQ;
	}
	if (p->want_rx && !(sup->dirs[1][c] & KS_KTLS_RX)) {
		p->want_rx = false;
		why = KS_KTLS_WHY_KERNEL_CIPHER;
	}
	if ((p->want_rx && (!sec || sec->client_len != md_len)) ||
	    (p->want_tx && (!sec || sec->server_len != md_len))) {
		p->want_rx = p->want_tx = false;
		why = KS_KTLS_WHY_NO_SECRET;
	}
	/* A manual TX next to a userspace RX would let OpenSSL write (a KeyUpdate reply, an
	 * alert) with its stale write keys through the kernel's: never set that up. */
	if (p->want_tx && !p->want_rx && !out->rx_openssl)
		p->want_tx = false;
	if ((flags & KS_KTLS_F_BOTH_OR_NONE) && !p->want_tx && !out->tx_openssl)
		p->want_rx = false;
	if (p->want_rx && prepare13(c, sec->client, md_len, &p->rx, &p->rx_len))
		p->want_rx = p->want_tx = false, why = KS_KTLS_WHY_SETSOCKOPT;
	if (p->want_tx && prepare13(c, sec->server, md_len, &p->tx, &p->tx_len))
		p->want_tx = false, why = KS_KTLS_WHY_SETSOCKOPT;
	if (sup->rekey && sec && sec->client_len == md_len && sec->server_len == md_len) {
		memcpy(out->rx_secret, sec->client, md_len);
		memcpy(out->tx_secret, sec->server, md_len);
		out->secret_len = (uint8_t)md_len;
	}
	return why;
}

static enum ks_ktls_why install_tls13(int fd, struct ks_ktls_result *out, struct plan13 *p)
{
	/* OpenSSL attached the ULP if it enabled either direction; otherwise we do. */
	if ((p->want_rx || p->want_tx) && !out->tx_openssl && !out->rx_openssl &&
	    ks_ktls_setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls"))) {
		out->err = errno;
		return KS_KTLS_WHY_SETSOCKOPT;
	}
	/* RX first: if TX is then refused, RX-in-kernel + OpenSSL TX is still consistent. */
	if (p->want_rx) {
		if (ks_ktls_setsockopt(fd, SOL_TLS, TLS_RX, &p->rx, p->rx_len)) {
			out->err = errno;
			return KS_KTLS_WHY_SETSOCKOPT;
		}
		out->dirs |= KS_KTLS_RX;
	}
	if (p->want_tx) {
		if (ks_ktls_setsockopt(fd, SOL_TLS, TLS_TX, &p->tx, p->tx_len)) {
			out->err = errno;
			return KS_KTLS_WHY_SETSOCKOPT;
		}
		out->dirs |= KS_KTLS_TX;
	}
	return KS_KTLS_WHY_NONE;
}

int ks_ktls_offload(SSL *ssl, int fd, struct ks_ktls_result *out)
{
	return ks_ktls_offload_flags(ssl, fd, 0, out);
}

int ks_ktls_offload_flags(SSL *ssl, int fd, unsigned flags, struct ks_ktls_result *out)
{
	const struct ks_ktls_support *sup;
	struct plan13 p;
	enum ks_ktls_why why, why2;

	ENSURE(ssl && out && fd >= 0, -EINVAL);
	memset(out, 0, sizeof(*out));
	memset(&p, 0, sizeof(p));
	out->cipher = -1;
	/* The kernel first: without the ULP nothing else matters, and the operator should see
	 * that reason rather than one about a particular session. */
	sup = ks_ktls_probe();
	if (!sup->ulp) {
		why = KS_KTLS_WHY_NO_ULP;
		out->err = sup->ulp_err;
		goto done;
	}
	why = preconditions(ssl, out);
	if (why)
		goto done;
	if (!(sup->dirs[out->version == TLS1_3_VERSION][out->cipher] & KS_KTLS_TX)) {
		why = KS_KTLS_WHY_KERNEL_CIPHER;
		goto done;
	}
	out->tx_openssl = BIO_get_ktls_send(SSL_get_wbio(ssl)) > 0;
	out->rx_openssl = BIO_get_ktls_recv(SSL_get_rbio(ssl)) > 0;
	if (out->version == TLS1_2_VERSION) {
		/* The TLS 1.2 key block is not in the key log: only OpenSSL can install it. */
		out->dirs = (out->tx_openssl ? KS_KTLS_TX : 0) | (out->rx_openssl ? KS_KTLS_RX : 0);
		why = out->dirs == KS_KTLS_BOTH ? KS_KTLS_WHY_NONE : KS_KTLS_WHY_OPENSSL;
		goto done;
	}
	why = plan_tls13(ssl, sup, flags, out, &p);
	why2 = install_tls13(fd, out, &p);
	if (why2)
		why = why2;
	if (out->tx_openssl)
		out->dirs |= KS_KTLS_TX;
	if (out->rx_openssl)
		out->dirs |= KS_KTLS_RX;
	if (out->dirs == KS_KTLS_BOTH)
		why = KS_KTLS_WHY_NONE;
done:
	OPENSSL_cleanse(&p, sizeof(p));
	secrets_drop(ssl);
	if (!(out->dirs & KS_KTLS_RX))
		ks_ktls_result_wipe(out);
	out->why = out->dirs == KS_KTLS_BOTH ? KS_KTLS_WHY_NONE : why;
	if (out->dirs)
		ks_ktls_count_path(out->dirs);
	else
		ks_ktls_count_userspace(out->why);
	if (out->why)
		ks_ktls_log_once(out->why, out->err,
				 out->dirs ? "some session directions" : "sessions");
	return 0;
}

/* ---- configuration ---- */

int ks_ktls_mode_parse(const char *s, enum ks_ktls_mode *out)
{
	static const char *const names[] = { "auto", "require", "off" };

	for (unsigned i = 0; i < KS_ARRAY_SIZE(names); i++)
		if (s && !strcasecmp(s, names[i])) {
			*out = (enum ks_ktls_mode)i;
			return 0;
		}
	return -EINVAL;
}

int ks_ktls_check_mode(enum ks_ktls_mode mode, bool need_both, char *why, size_t why_len)
{
	const struct ks_ktls_support *sup;
	bool any_both = false;

	if (why_len)
		why[0] = '\0';
	if (mode == KS_KTLS_MODE_OFF) {
		if (!need_both)
			return 0;
		snprintf(why, why_len, "hand-off needs kernel TLS but ktls = off");
		return -EOPNOTSUPP;
	}
	sup = ks_ktls_probe();
	for (int v = 0; v < 2; v++)
		for (int c = 0; c < KS_KTLS_CIPHER_MAX; c++)
			any_both |= (sup->dirs[v][c] & KS_KTLS_BOTH) == KS_KTLS_BOTH;
	if (any_both)
		return 0;
	if (mode == KS_KTLS_MODE_AUTO && !need_both) {
		ks_ktls_log_once(sup->ulp ? KS_KTLS_WHY_KERNEL_CIPHER : KS_KTLS_WHY_NO_ULP,
				 sup->ulp_err, "sessions");
		return 0;
	}
	if (!sup->ulp)
		snprintf(why, why_len, "kernel has no TLS ULP (CONFIG_TLS, %s): %s",
			 strerror(sup->ulp_err ? sup->ulp_err : ENOENT),
			 need_both ? "hand-off needs kernel TLS in both directions"
				   : "ktls = require cannot be met");
	else
		snprintf(why, why_len,
			 "kernel TLS refuses AES-GCM and ChaCha20-Poly1305 in at least one "
			 "direction: %s",
			 need_both ? "hand-off needs both" : "ktls = require cannot be met");
	return -EOPNOTSUPP;
}

// SPDX-License-Identifier: MIT
/*
 * ktls: probe the kernel's TLS ULP once, derive TLS 1.3 record keys, install them. See ktls.h
 * for the order of operations and the contract with the caller.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/objects.h>

#include "kstaple/ktls.h"
#include "kstaple/log.h"
#include "ktls_internal.h"

static int real_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	return setsockopt(fd, level, name, val, len);
}

ks_ktls_setsockopt_fn ks_ktls_setsockopt = real_setsockopt;

/* ---- counters and log-once ---- */

static atomic_uint_fast64_t n_both, n_tx_only, n_rx_only, n_user[KS_KTLS_WHY_MAX];
static atomic_uint_fast64_t n_key_updates, n_closed_key_update;
static atomic_bool logged[KS_KTLS_WHY_MAX];

static const char *const why_words[KS_KTLS_WHY_MAX] = {
	[KS_KTLS_WHY_NONE] = "both directions in the kernel",
	[KS_KTLS_WHY_OFF] = "kTLS is off for this listener",
	[KS_KTLS_WHY_NO_ULP] = "kernel has no TLS ULP (CONFIG_TLS)",
	[KS_KTLS_WHY_NOT_DONE] = "handshake not finished",
	[KS_KTLS_WHY_VERSION] = "protocol is neither TLS 1.2 nor TLS 1.3",
	[KS_KTLS_WHY_CIPHER] = "negotiated cipher has no kernel TLS path (only AES-GCM and "
			       "ChaCha20-Poly1305 have)",
	[KS_KTLS_WHY_PENDING] = "OpenSSL had already read bytes past the handshake",
	[KS_KTLS_WHY_KERNEL_CIPHER] = "kernel refuses this TLS version/cipher (crypto module "
				      "missing?)",
	[KS_KTLS_WHY_OPENSSL] = "OpenSSL did not enable its kTLS for this TLS 1.2 session",
	[KS_KTLS_WHY_NO_SECRET] = "traffic secrets not captured (keylog callback not installed)",
	[KS_KTLS_WHY_TX_SEQ] = "OpenSSL did not offload TLS 1.3 TX after sending tickets, so "
			       "the record sequence is unknown",
	[KS_KTLS_WHY_SETSOCKOPT] = "kernel refused the session keys",
};

const char *ks_ktls_why_str(enum ks_ktls_why why)
{
	return (unsigned)why < KS_KTLS_WHY_MAX ? why_words[why] : "unknown reason";
}

void ks_ktls_log_once(enum ks_ktls_why why, int err, const char *what)
{
	if (atomic_exchange_explicit(&logged[why], true, memory_order_relaxed))
		return;
	if (err)
		ks_warn("kTLS: %s (%s): %s stay in userspace", ks_ktls_why_str(why), strerror(err),
			what);
	else
		ks_warn("kTLS: %s: %s stay in userspace", ks_ktls_why_str(why), what);
}

void ks_ktls_count_path(unsigned dirs)
{
	if (dirs == KS_KTLS_BOTH)
		atomic_fetch_add_explicit(&n_both, 1, memory_order_relaxed);
	else if (dirs == KS_KTLS_TX)
		atomic_fetch_add_explicit(&n_tx_only, 1, memory_order_relaxed);
	else if (dirs == KS_KTLS_RX)
		atomic_fetch_add_explicit(&n_rx_only, 1, memory_order_relaxed);
}

void ks_ktls_count_key_update(bool applied)
{
	atomic_fetch_add_explicit(applied ? &n_key_updates : &n_closed_key_update, 1,
				  memory_order_relaxed);
}

void ks_ktls_count_userspace(enum ks_ktls_why why)
{
	if ((unsigned)why < KS_KTLS_WHY_MAX)
		atomic_fetch_add_explicit(&n_user[why], 1, memory_order_relaxed);
}

void ks_ktls_counts_read(struct ks_ktls_counts *out)
{
	memset(out, 0, sizeof(*out));
	out->both = atomic_load_explicit(&n_both, memory_order_relaxed);
	out->tx_only = atomic_load_explicit(&n_tx_only, memory_order_relaxed);
	out->rx_only = atomic_load_explicit(&n_rx_only, memory_order_relaxed);
	for (unsigned i = 1; i < KS_KTLS_WHY_MAX; i++)
		out->userspace[i] = atomic_load_explicit(&n_user[i], memory_order_relaxed);
	out->key_updates = atomic_load_explicit(&n_key_updates, memory_order_relaxed);
	out->closed_key_update = atomic_load_explicit(&n_closed_key_update, memory_order_relaxed);
}

/* ---- key schedule (RFC 8446 §7) ---- */

int ks_tls13_expand_label(const EVP_MD *md, const uint8_t *secret, size_t secret_len,
			  const char *label, const uint8_t *context, size_t context_len,
			  uint8_t *out, size_t out_len)
{
	/*
	 * RFC 8446 §7.1:
	 *   HKDF-Expand-Label(Secret, Label, Context, Length) = HKDF-Expand(Secret, HkdfLabel, Length)
	 *   struct {
	 *       uint16 length = Length;
	 *       opaque label<7..255> = "tls13 " + Label;
	 *       opaque context<0..255> = Context;
	 *   } HkdfLabel;
	 */
	uint8_t info[2 + 1 + 255 + 1 + 255];
	size_t llen = strlen(label), n = 0;
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, ret = -EINVAL;
	OSSL_PARAM params[5];

	ENSURE(md && secret && out && out_len > 0 && out_len <= 0xffff, -EINVAL);
	ENSURE(6 + llen >= 7 && 6 + llen <= 255 && context_len <= 255, -EINVAL);
	ENSURE(context_len == 0 || context, -EINVAL);
	info[n++] = (uint8_t)(out_len >> 8);
	info[n++] = (uint8_t)out_len;
	info[n++] = (uint8_t)(6 + llen);
	/* Length-prefixed byte strings, not C strings: no terminator belongs in the label. */
	memcpy(info + n, "tls13 ", 6); // NOLINT(bugprone-not-null-terminated-result)
	n += 6;
	memcpy(info + n, label, llen); // NOLINT(bugprone-not-null-terminated-result)
	n += llen;
	info[n++] = (uint8_t)context_len;
	if (context_len)
		memcpy(info + n, context, context_len);
	n += context_len;

	params[0] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						     (char *)EVP_MD_get0_name(md), 0);
	params[2] =
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, secret_len);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n);
	params[4] = OSSL_PARAM_construct_end();
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	ENSURE_OUT(kdf, -ENOSYS);
	kctx = EVP_KDF_CTX_new(kdf);
	ENSURE_OUT(kctx, -ENOMEM);
	ENSURE_OUT(EVP_KDF_derive(kctx, out, out_len, params) > 0, -EPROTO);
	ret = 0;
out:
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ret;
}

int ks_tls13_traffic_keys(const EVP_MD *md, const uint8_t *secret, size_t secret_len, uint8_t *key,
			  size_t key_len, uint8_t iv[12])
{
	/* RFC 8446 §7.3: [sender]_write_key = HKDF-Expand-Label(Secret, "key", "", key_length),
	 *                [sender]_write_iv  = HKDF-Expand-Label(Secret, "iv", "", iv_length) */
	TRY(ks_tls13_expand_label(md, secret, secret_len, "key", NULL, 0, key, key_len));
	return ks_tls13_expand_label(md, secret, secret_len, "iv", NULL, 0, iv, 12);
}

int ks_tls13_next_secret(const EVP_MD *md, uint8_t *secret, size_t secret_len)
{
	/* RFC 8446 §7.2: application_traffic_secret_N+1 =
	 *     HKDF-Expand-Label(application_traffic_secret_N, "traffic upd", "", Hash.length) */
	uint8_t next[EVP_MAX_MD_SIZE];
	int ret;

	ENSURE(md && (int)secret_len == EVP_MD_get_size(md), -EINVAL);
	ret = ks_tls13_expand_label(md, secret, secret_len, "traffic upd", NULL, 0, next,
				    secret_len);
	if (ret == 0)
		memcpy(secret, next, secret_len);
	OPENSSL_cleanse(next, sizeof(next));
	return ret;
}

/* ---- ciphers and the kernel's crypto_info ---- */

size_t ks_ktls_key_len(enum ks_ktls_cipher c)
{
	static const size_t len[KS_KTLS_CIPHER_MAX] = {
		[KS_KTLS_AES_128_GCM] = TLS_CIPHER_AES_GCM_128_KEY_SIZE,
		[KS_KTLS_AES_256_GCM] = TLS_CIPHER_AES_GCM_256_KEY_SIZE,
		[KS_KTLS_CHACHA20_POLY1305] = TLS_CIPHER_CHACHA20_POLY1305_KEY_SIZE,
	};

	return (unsigned)c < KS_KTLS_CIPHER_MAX ? len[c] : 0;
}

int ks_ktls_cipher_from_nid(int nid)
{
	switch (nid) {
	case NID_aes_128_gcm:
		return KS_KTLS_AES_128_GCM;
	case NID_aes_256_gcm:
		return KS_KTLS_AES_256_GCM;
	case NID_chacha20_poly1305:
		return KS_KTLS_CHACHA20_POLY1305;
	default:
		return -1;
	}
}

const EVP_MD *ks_ktls_cipher_md(enum ks_ktls_cipher c)
{
	/* RFC 8446 §B.4: TLS_AES_256_GCM_SHA384; the other two suites hash with SHA-256. */
	return c == KS_KTLS_AES_256_GCM ? EVP_sha384() : EVP_sha256();
}

static void put_seq(unsigned char rec_seq[8], uint64_t seq)
{
	for (int i = 7; i >= 0; i--, seq >>= 8)
		rec_seq[i] = (unsigned char)seq;
}

int ks_ktls_fill_info(uint16_t version, enum ks_ktls_cipher cipher, const uint8_t *key,
		      size_t key_len, const uint8_t iv[12], uint64_t seq,
		      union ks_ktls_crypto_info *ci, socklen_t *len)
{
	ENSURE(version == TLS1_2_VERSION || version == TLS1_3_VERSION, -EINVAL);
	ENSURE(key && iv && ci && len && key_len == ks_ktls_key_len(cipher), -EINVAL);
	memset(ci, 0, sizeof(*ci));
	/* The kernel's version constants are the wire values (TLS_1_2_VERSION = 0x0303). */
	ci->info.version = version;
	/*
	 * Documentation/networking/tls.rst and net/tls/tls_sw.c: the nonce is salt || iv with
	 * the record sequence XORed into its last 8 bytes (TLS 1.3, RFC 8446 §5.3). For AES-GCM
	 * the 12-byte IV splits into a 4-byte salt and 8 bytes of iv; ChaCha20-Poly1305 takes
	 * all 12 as iv and has no salt.
	 */
	switch (cipher) {
	case KS_KTLS_AES_128_GCM:
		ci->info.cipher_type = TLS_CIPHER_AES_GCM_128;
		memcpy(ci->gcm128.key, key, key_len);
		memcpy(ci->gcm128.salt, iv, TLS_CIPHER_AES_GCM_128_SALT_SIZE);
		memcpy(ci->gcm128.iv, iv + TLS_CIPHER_AES_GCM_128_SALT_SIZE,
		       TLS_CIPHER_AES_GCM_128_IV_SIZE);
		put_seq(ci->gcm128.rec_seq, seq);
		*len = sizeof(ci->gcm128);
		return 0;
	case KS_KTLS_AES_256_GCM:
		ci->info.cipher_type = TLS_CIPHER_AES_GCM_256;
		memcpy(ci->gcm256.key, key, key_len);
		memcpy(ci->gcm256.salt, iv, TLS_CIPHER_AES_GCM_256_SALT_SIZE);
		memcpy(ci->gcm256.iv, iv + TLS_CIPHER_AES_GCM_256_SALT_SIZE,
		       TLS_CIPHER_AES_GCM_256_IV_SIZE);
		put_seq(ci->gcm256.rec_seq, seq);
		*len = sizeof(ci->gcm256);
		return 0;
	case KS_KTLS_CHACHA20_POLY1305:
		ci->info.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
		memcpy(ci->chacha.key, key, key_len);
		memcpy(ci->chacha.iv, iv, TLS_CIPHER_CHACHA20_POLY1305_IV_SIZE);
		put_seq(ci->chacha.rec_seq, seq);
		*len = sizeof(ci->chacha);
		return 0;
	default:
		return -EINVAL;
	}
}

int ks_ktls_install13(int fd, int dir_opt, enum ks_ktls_cipher cipher, const uint8_t *secret,
		      size_t secret_len, uint64_t seq)
{
	union ks_ktls_crypto_info ci;
	uint8_t key[32], iv[12];
	size_t key_len = ks_ktls_key_len(cipher);
	socklen_t len = 0;
	int ret;

	ENSURE(key_len && (dir_opt == TLS_TX || dir_opt == TLS_RX), -EINVAL);
	TRY_OUT(ks_tls13_traffic_keys(ks_ktls_cipher_md(cipher), secret, secret_len, key, key_len,
				      iv));
	TRY_OUT(ks_ktls_fill_info(TLS1_3_VERSION, cipher, key, key_len, iv, seq, &ci, &len));
	ret = ks_ktls_setsockopt(fd, SOL_TLS, dir_opt, &ci, len) ? -errno : 0;
out:
	OPENSSL_cleanse(&ci, sizeof(ci));
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	return ret;
}

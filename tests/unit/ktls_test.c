// SPDX-License-Identifier: MIT
/*
 * ktls: TLS 1.3 key schedule against RFC 8448 §3, crypto_info layout per cipher, record
 * sequence encoding, the offload decision through a fake setsockopt (which keys go where,
 * in which order, and every refusal), control-record parsing and the KeyUpdate handling.
 * The real kernel path is tests/integration/t_ktls.sh (inside scripts/ktls-vm.sh).
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "kstaple/ktls.h"

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = 0;

	for (; h[0] && h[1]; h += 2)
		sscanf(h, "%2hhx", &out[n++]);
	return n;
}

/* RFC 8448 §3 "Simple 1-RTT Handshake", application traffic secrets and their keys/IVs. */
#define RFC8448_S_AP  "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643"
#define RFC8448_S_KEY "9f02283b6c9c07efc26bb9f2ac92e356"
#define RFC8448_S_IV  "cf782b88dd83549aadf1e984"
#define RFC8448_C_AP  "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5"
#define RFC8448_C_KEY "17422dda596ed5d9acd890e3c63f5051"
#define RFC8448_C_IV  "5b78923dee08579033e523d9"

static void check_keys(const char *secret_hex, const char *key_hex, const char *iv_hex)
{
	uint8_t secret[32], key[16], iv[12], want_key[16], want_iv[12];

	cr_assert_eq(unhex(secret_hex, secret), 32);
	unhex(key_hex, want_key);
	unhex(iv_hex, want_iv);
	cr_assert_eq(ks_tls13_traffic_keys(EVP_sha256(), secret, 32, key, 16, iv), 0);
	cr_assert_arr_eq(key, want_key, 16);
	cr_assert_arr_eq(iv, want_iv, 12);
}

Test(ktls, rfc8448_server_application_keys)
{
	check_keys(RFC8448_S_AP, RFC8448_S_KEY, RFC8448_S_IV);
}

Test(ktls, rfc8448_client_application_keys)
{
	check_keys(RFC8448_C_AP, RFC8448_C_KEY, RFC8448_C_IV);
}

/* HKDF-Expand (RFC 5869 §2.3) written out with HMAC, for one output block. */
static void hkdf_expand1(const EVP_MD *md, const uint8_t *prk, size_t prk_len, const uint8_t *info,
			 size_t info_len, uint8_t *out)
{
	uint8_t msg[300];
	unsigned len = 0;

	memcpy(msg, info, info_len);
	msg[info_len] = 1;
	cr_assert(HMAC(md, prk, (int)prk_len, msg, info_len + 1, out, &len));
}

Test(ktls, expand_label_encodes_the_rfc8448_key_info)
{
	/* RFC 8448 §3: key info (13 octets): 00 10 09 74 6c 73 31 33 20 6b 65 79 00 */
	static const uint8_t info[13] = { 0x00, 0x10, 0x09, 't', 'l', 's', '1',
					  '3',	' ',  'k',  'e', 'y', 0x00 };
	uint8_t secret[32], block[64], key[16];

	unhex(RFC8448_S_AP, secret);
	hkdf_expand1(EVP_sha256(), secret, 32, info, sizeof(info), block);
	cr_assert_eq(ks_tls13_expand_label(EVP_sha256(), secret, 32, "key", NULL, 0, key, 16), 0);
	cr_assert_arr_eq(key, block, 16);
}

Test(ktls, key_update_secret_is_traffic_upd_label)
{
	/* RFC 8446 §7.2: HkdfLabel = 00 30 | 11 "tls13 traffic upd" | 00, for SHA-384. */
	uint8_t info[2 + 1 + 17 + 1] = { 0x00, 0x30, 17 };
	uint8_t secret[48], want[48], block[64];

	memcpy(info + 3, "tls13 traffic upd", 17);
	info[20] = 0;
	for (int i = 0; i < 48; i++)
		secret[i] = (uint8_t)(i * 7 + 1);
	hkdf_expand1(EVP_sha384(), secret, 48, info, sizeof(info), block);
	memcpy(want, block, 48);
	cr_assert_eq(ks_tls13_next_secret(EVP_sha384(), secret, 48), 0);
	cr_assert_arr_eq(secret, want, 48);
	/* The next generation of the RFC 8448 client secret differs and chains. */
	uint8_t a[32], b[32];
	unhex(RFC8448_C_AP, a);
	memcpy(b, a, 32);
	cr_assert_eq(ks_tls13_next_secret(EVP_sha256(), b, 32), 0);
	cr_assert_arr_neq(a, b, 32);
}

Test(ktls, next_secret_refuses_a_length_that_is_not_the_hash_length)
{
	uint8_t s[48] = { 0 };

	cr_assert_eq(ks_tls13_next_secret(EVP_sha256(), s, 48), -EINVAL);
	cr_assert_eq(ks_tls13_expand_label(EVP_sha256(), s, 32, "", NULL, 0, s, 16), -EINVAL);
}

Test(ktls, crypto_info_layout_per_cipher)
{
	union ks_ktls_crypto_info ci;
	uint8_t key[32], iv[12];
	static const uint8_t seq_be[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	socklen_t len;

	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(0xa0 + i);
	for (int i = 0; i < 12; i++)
		iv[i] = (uint8_t)(0x10 + i);

	cr_assert_eq(ks_ktls_fill_info(TLS1_3_VERSION, KS_KTLS_AES_128_GCM, key, 16, iv,
				       0x0102030405060708ull, &ci, &len),
		     0);
	cr_assert_eq(len, sizeof(struct tls12_crypto_info_aes_gcm_128));
	cr_assert_eq(ci.info.version, TLS_1_3_VERSION);
	cr_assert_eq(ci.info.cipher_type, TLS_CIPHER_AES_GCM_128);
	cr_assert_arr_eq(ci.gcm128.key, key, 16);
	cr_assert_arr_eq(ci.gcm128.salt, iv, 4);
	cr_assert_arr_eq(ci.gcm128.iv, iv + 4, 8);
	cr_assert_arr_eq(ci.gcm128.rec_seq, seq_be, 8);

	cr_assert_eq(
		ks_ktls_fill_info(TLS1_3_VERSION, KS_KTLS_AES_256_GCM, key, 32, iv, 0, &ci, &len),
		0);
	cr_assert_eq(len, sizeof(struct tls12_crypto_info_aes_gcm_256));
	cr_assert_eq(ci.info.cipher_type, TLS_CIPHER_AES_GCM_256);
	cr_assert_arr_eq(ci.gcm256.key, key, 32);
	cr_assert_arr_eq(ci.gcm256.salt, iv, 4);
	cr_assert_arr_eq(ci.gcm256.iv, iv + 4, 8);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(ci.gcm256.rec_seq[i], 0);

	cr_assert_eq(ks_ktls_fill_info(TLS1_2_VERSION, KS_KTLS_CHACHA20_POLY1305, key, 32, iv, 1,
				       &ci, &len),
		     0);
	cr_assert_eq(len, sizeof(struct tls12_crypto_info_chacha20_poly1305));
	cr_assert_eq(ci.info.version, TLS_1_2_VERSION);
	cr_assert_eq(ci.info.cipher_type, TLS_CIPHER_CHACHA20_POLY1305);
	cr_assert_arr_eq(ci.chacha.iv, iv, 12);
	cr_assert_arr_eq(ci.chacha.key, key, 32);
	cr_assert_eq(ci.chacha.rec_seq[7], 1);
	cr_assert_eq(ci.chacha.rec_seq[6], 0);
}

Test(ktls, crypto_info_refuses_bad_input)
{
	union ks_ktls_crypto_info ci;
	uint8_t key[32] = { 0 }, iv[12] = { 0 };
	socklen_t len;

	cr_assert_eq(
		ks_ktls_fill_info(TLS1_3_VERSION, KS_KTLS_AES_128_GCM, key, 32, iv, 0, &ci, &len),
		-EINVAL);
	cr_assert_eq(
		ks_ktls_fill_info(TLS1_1_VERSION, KS_KTLS_AES_128_GCM, key, 16, iv, 0, &ci, &len),
		-EINVAL);
	cr_assert_eq(
		ks_ktls_fill_info(TLS1_3_VERSION, KS_KTLS_CIPHER_MAX, key, 16, iv, 0, &ci, &len),
		-EINVAL);
	cr_assert_eq(ks_ktls_cipher_from_nid(NID_aes_128_cbc), -1);
	cr_assert_eq(ks_ktls_cipher_from_nid(NID_aes_128_ccm), -1);
	cr_assert_eq(ks_ktls_cipher_from_nid(NID_chacha20_poly1305), KS_KTLS_CHACHA20_POLY1305);
	cr_assert_eq(ks_ktls_cipher_md(KS_KTLS_AES_256_GCM), EVP_sha384());
}

Test(ktls, probe_of_the_running_kernel)
{
	const struct ks_ktls_support *s = ks_ktls_probe();

	if (!s->ulp)
		cr_skip_test("kernel has no kTLS (setsockopt TCP_ULP \"tls\": %s); "
			     "tests/integration/t_ktls.sh runs it in scripts/ktls-vm.sh",
			     strerror(s->ulp_err));
	/* A kernel with the ULP and its generic crypto takes AES-128-GCM both ways. */
	cr_assert_eq(s->dirs[1][KS_KTLS_AES_128_GCM] & KS_KTLS_BOTH, KS_KTLS_BOTH);
}

Test(ktls, mode_words)
{
	enum ks_ktls_mode m;

	cr_assert_eq(ks_ktls_mode_parse("auto", &m), 0);
	cr_assert_eq(m, KS_KTLS_MODE_AUTO);
	cr_assert_eq(ks_ktls_mode_parse("REQUIRE", &m), 0);
	cr_assert_eq(m, KS_KTLS_MODE_REQUIRE);
	cr_assert_eq(ks_ktls_mode_parse("off", &m), 0);
	cr_assert_eq(m, KS_KTLS_MODE_OFF);
	cr_assert_eq(ks_ktls_mode_parse("yes", &m), -EINVAL);
	cr_assert_eq(ks_ktls_mode_parse(NULL, &m), -EINVAL);
}

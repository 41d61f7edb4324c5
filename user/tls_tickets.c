// SPDX-License-Identifier: MIT
/*
 * Session ticket keys made by the agent and rotated on a timer (RFC 5077 §4's recommended
 * ticket construction: key_name, AES-256-CBC, HMAC-SHA256, which is what OpenSSL's
 * ticket_key_evp_cb builds around the keys we hand it).
 *
 * Readers are handshakes on every worker; the writer is the main thread once per period. The
 * keys live in a ring of three slots indexed by a sequence number: current = seq, previous =
 * seq - 1. Rotation writes slot seq + 1 (which only a reader more than one rotation late could
 * be reading) and then publishes it by incrementing seq. A reader copies what it needs and
 * checks seq again; if two rotations happened meanwhile it retries. No lock on the handshake
 * path.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/rand.h>

#include "kstaple/log.h"
#include "tls_internal.h"

struct ticket_key {
	unsigned char name[16];
	unsigned char hmac[32];
	unsigned char aes[32];
};

struct ks_ticket_keys {
	_Atomic uint64_t seq;
	struct ticket_key slot[3];
	EVP_CIPHER *aes; /* fetched once: an implicit fetch per ticket costs a lock and a lookup */
};

static int make_key(struct ticket_key *k)
{
	TRY_OSSL(RAND_priv_bytes((unsigned char *)k, sizeof(*k)), -EIO);
	return 0;
}

struct ks_ticket_keys *ks_ticket_keys_new(void)
{
	struct ks_ticket_keys *k = OPENSSL_secure_zalloc(sizeof(*k));

	if (!k)
		k = OPENSSL_zalloc(sizeof(*k));
	if (!k)
		return NULL;
	k->aes = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
	if (!k->aes || make_key(&k->slot[0]) < 0) {
		ks_log_ossl(KS_LOG_ERR, NULL, "cannot set up session ticket keys");
		ks_ticket_keys_free(k);
		errno = EIO;
		return NULL;
	}
	/* No previous key yet: a random one that no ticket was ever made with. */
	if (make_key(&k->slot[2]) < 0) {
		ks_ticket_keys_free(k);
		errno = EIO;
		return NULL;
	}
	atomic_init(&k->seq, 0);
	return k;
}

void ks_ticket_keys_free(struct ks_ticket_keys *k)
{
	if (!k)
		return;
	EVP_CIPHER_free(k->aes);
	OPENSSL_cleanse(k->slot, sizeof(k->slot));
	if (CRYPTO_secure_allocated(k))
		OPENSSL_secure_free(k);
	else
		OPENSSL_free(k);
}

int ks_ticket_keys_rotate(struct ks_ticket_keys *k)
{
	uint64_t seq = atomic_load_explicit(&k->seq, memory_order_relaxed);

	TRY(make_key(&k->slot[(seq + 1) % 3]));
	atomic_store_explicit(&k->seq, seq + 1, memory_order_release);
	return 0;
}

/* Copy the current (and previous) key; false if the ring moved under us twice. */
static bool read_keys(struct ks_ticket_keys *k, struct ticket_key *cur, struct ticket_key *prev)
{
	uint64_t s1 = atomic_load_explicit(&k->seq, memory_order_acquire), s2;

	memcpy(cur, &k->slot[s1 % 3], sizeof(*cur));
	if (prev)
		memcpy(prev, &k->slot[(s1 + 2) % 3], sizeof(*prev));
	atomic_thread_fence(memory_order_acquire);
	s2 = atomic_load_explicit(&k->seq, memory_order_relaxed);
	return s2 - s1 < 2;
}

static int set_mac_key(EVP_MAC_CTX *hctx, unsigned char *key)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, 32),
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_construct_end(),
	};

	return EVP_MAC_CTX_set_params(hctx, params);
}

/*
 * enc = 1: fill key_name and iv, set up the cipher and the MAC: return 1.
 * enc = 0: find key_name: 1 with the current key, 2 with the previous one (the ticket is
 * accepted and OpenSSL issues a fresh one), 0 when unknown (full handshake), -1 on error.
 */
int ks_tls_ticket_cb(SSL *ssl, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
		     EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct ks_ticket_keys *k = ks_tls_keys_of(ssl);
	struct ticket_key cur, prev, *use = NULL;
	int ret = -1;

	if (!k)
		return -1;
	while (!read_keys(k, &cur, enc ? NULL : &prev))
		;
	if (enc) {
		memcpy(key_name, cur.name, sizeof(cur.name));
		if (RAND_bytes(iv, 16) == 1 &&
		    EVP_EncryptInit_ex(cctx, k->aes, NULL, cur.aes, iv) == 1 &&
		    set_mac_key(hctx, cur.hmac) == 1)
			ret = 1;
		goto out;
	}
	if (!memcmp(key_name, cur.name, sizeof(cur.name)))
		use = &cur, ret = 1;
	else if (!memcmp(key_name, prev.name, sizeof(prev.name)))
		use = &prev, ret = 2;
	else
		ret = 0;
	if (use && (set_mac_key(hctx, use->hmac) != 1 ||
		    EVP_DecryptInit_ex(cctx, k->aes, NULL, use->aes, iv) != 1))
		ret = -1;
out:
	OPENSSL_cleanse(&cur, sizeof(cur));
	OPENSSL_cleanse(&prev, sizeof(prev));
	return ret;
}

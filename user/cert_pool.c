// SPDX-License-Identifier: MIT
/*
 * Shared parsed certificates, keyed by their exact DER bytes. See cert_pool.h.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "kstaple/cert_pool.h"

/*
 * A fixed number of chained buckets: a configuration names a handful of distinct
 * intermediates, and even one per certificate (10,000) keeps the chains short.
 */
#define POOL_BUCKETS 1024

struct pool_entry {
	struct pool_entry *next;
	uint64_t hash;
	X509 *x509;
	size_t len;
	uint8_t der[]; /* the key: compared in full, the hash only picks the bucket */
};

struct ks_cert_pool {
	pthread_mutex_t lock;
	size_t hits, parsed;
	struct pool_entry *buckets[POOL_BUCKETS];
};

struct ks_cert_pool *ks_cert_pool_new(void)
{
	struct ks_cert_pool *pool = calloc(1, sizeof(*pool));
	int err;

	if (!pool)
		return NULL;
	err = pthread_mutex_init(&pool->lock, NULL);
	if (err) {
		free(pool);
		errno = err;
		return NULL;
	}
	return pool;
}

void ks_cert_pool_free(struct ks_cert_pool *pool)
{
	struct pool_entry *e, *next;

	if (!pool)
		return;
	for (size_t i = 0; i < POOL_BUCKETS; i++) {
		for (e = pool->buckets[i]; e; e = next) {
			next = e->next;
			X509_free(e->x509);
			free(e);
		}
	}
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

static X509 *parse(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x;

	if (len > LONG_MAX) {
		errno = EBADMSG;
		return NULL;
	}
	x = d2i_X509(NULL, &p, (long)len);
	ERR_clear_error();
	if (!x)
		errno = EBADMSG;
	return x;
}

/* Called with the lock held: the entry for der, or NULL. */
static struct pool_entry *lookup(struct ks_cert_pool *pool, uint64_t h, const uint8_t *der,
				 size_t len)
{
	struct pool_entry *e;

	for (e = pool->buckets[h % POOL_BUCKETS]; e; e = e->next)
		if (e->hash == h && e->len == len && memcmp(e->der, der, len) == 0)
			return e;
	return NULL;
}

X509 *ks_cert_pool_get(struct ks_cert_pool *pool, const uint8_t *der, size_t len)
{
	struct pool_entry *e;
	uint64_t h;
	X509 *x = NULL;

	if (!pool)
		return parse(der, len);
	h = ks_fnv1a(der, len);
	pthread_mutex_lock(&pool->lock);
	e = lookup(pool, h, der, len);
	if (e) {
		pool->hits++;
		x = e->x509;
		X509_up_ref(x); /* cannot fail: an atomic increment */
		goto out;
	}
	/*
	 * Parsed under the lock: misses are rare (one per distinct intermediate), and two
	 * threads missing on the same certificate would otherwise both pay for it.
	 */
	x = parse(der, len);
	if (!x)
		goto out;
	pool->parsed++;
	e = malloc(sizeof(*e) + len);
	if (!e) {
		/* Still a correct answer, only not shared. */
		goto out;
	}
	memcpy(e->der, der, len);
	e->len = len;
	e->hash = h;
	e->x509 = x;
	X509_up_ref(x);
	e->next = pool->buckets[h % POOL_BUCKETS];
	pool->buckets[h % POOL_BUCKETS] = e;
out:
	pthread_mutex_unlock(&pool->lock);
	return x;
}

void ks_cert_pool_stats(struct ks_cert_pool *pool, size_t *hits, size_t *parsed)
{
	pthread_mutex_lock(&pool->lock);
	*hits = pool->hits;
	*parsed = pool->parsed;
	pthread_mutex_unlock(&pool->lock);
}

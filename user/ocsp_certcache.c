// SPDX-License-Identifier: MIT
/*
 * Certificates embedded in OCSP responses, parsed once. See ocsp_certcache.h.
 *
 * A small array searched linearly: a cache holds a few dozen certificates at most (one or two
 * per responder), and a 64-bit hash compared before the bytes makes a miss cost a few dozen
 * integer comparisons, far below one d2i_X509().
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "kstaple/ocsp_certcache.h"

struct cc_entry {
	uint64_t hash;
	uint64_t used; /* cc->tick at the last hit: the smallest is evicted first */
	X509 *x509;
	X509 *issued_by; /* verified issuer (a reference), NULL until one verified */
	size_t len;
	uint8_t *der; /* the key: compared in full, the hash only filters */
};

struct ks_ocsp_certcache {
	pthread_mutex_t lock;
	size_t n, max;
	uint64_t tick;
	size_t hits, parsed, evicted;
	struct cc_entry e[];
};

struct ks_ocsp_certcache *ks_ocsp_certcache_new(size_t max_entries)
{
	struct ks_ocsp_certcache *cc;
	int err;

	if (!max_entries)
		max_entries = KS_OCSP_CERTCACHE_DEFAULT;
	if (max_entries > 4096) {
		errno = EINVAL;
		return NULL;
	}
	cc = calloc(1, sizeof(*cc) + max_entries * sizeof(cc->e[0]));
	if (!cc)
		return NULL;
	err = pthread_mutex_init(&cc->lock, NULL);
	if (err) {
		free(cc);
		errno = err;
		return NULL;
	}
	cc->max = max_entries;
	return cc;
}

static void entry_clear(struct cc_entry *e)
{
	X509_free(e->x509);
	X509_free(e->issued_by);
	free(e->der);
	memset(e, 0, sizeof(*e));
}

void ks_ocsp_certcache_free(struct ks_ocsp_certcache *cc)
{
	if (!cc)
		return;
	for (size_t i = 0; i < cc->n; i++)
		entry_clear(&cc->e[i]);
	pthread_mutex_destroy(&cc->lock);
	free(cc);
}

/* Exactly one certificate spanning all len bytes: a prefix match would alias other bytes. */
static X509 *parse(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x;

	if (!len || len > LONG_MAX) {
		errno = EBADMSG;
		return NULL;
	}
	x = d2i_X509(NULL, &p, (long)len);
	ERR_clear_error();
	if (x && p != der + len) {
		X509_free(x);
		x = NULL;
	}
	if (!x)
		errno = EBADMSG;
	return x;
}

/* Called with the lock held. */
static struct cc_entry *find(struct ks_ocsp_certcache *cc, uint64_t h, const uint8_t *der,
			     size_t len)
{
	for (size_t i = 0; i < cc->n; i++) {
		struct cc_entry *e = &cc->e[i];

		if (e->hash == h && e->len == len && memcmp(e->der, der, len) == 0)
			return e;
	}
	return NULL;
}

/* Called with the lock held: a free slot, or the least recently used entry emptied. */
static struct cc_entry *make_room(struct ks_ocsp_certcache *cc)
{
	struct cc_entry *lru;

	if (cc->n < cc->max)
		return &cc->e[cc->n++];
	lru = &cc->e[0];
	for (size_t i = 1; i < cc->n; i++)
		if (cc->e[i].used < lru->used)
			lru = &cc->e[i];
	entry_clear(lru);
	cc->evicted++;
	return lru;
}

/* Called with the lock held; x is the caller's reference, the entry takes its own. */
static void insert(struct ks_ocsp_certcache *cc, uint64_t h, const uint8_t *der, size_t len,
		   X509 *x)
{
	uint8_t *copy = malloc(len);
	struct cc_entry *e;

	if (!copy)
		return; /* still a correct answer, only not remembered */
	memcpy(copy, der, len);
	e = make_room(cc);
	e->hash = h;
	e->used = ++cc->tick;
	e->der = copy;
	e->len = len;
	X509_up_ref(x); /* cannot fail: an atomic increment */
	e->x509 = x;
}

X509 *ks_ocsp_certcache_get(struct ks_ocsp_certcache *cc, const uint8_t *der, size_t len)
{
	struct cc_entry *e;
	uint64_t h;
	X509 *x;

	if (!cc)
		return parse(der, len);
	h = ks_fnv1a(der, len);
	pthread_mutex_lock(&cc->lock);
	e = find(cc, h, der, len);
	if (e) {
		cc->hits++;
		e->used = ++cc->tick;
		x = e->x509;
		X509_up_ref(x);
		pthread_mutex_unlock(&cc->lock);
		return x;
	}
	pthread_mutex_unlock(&cc->lock);
	/*
	 * Parsed outside the lock: a responder that sends a new certificate with every response
	 * must not serialise the verification threads behind one another.
	 */
	x = parse(der, len);
	if (!x)
		return NULL;
	pthread_mutex_lock(&cc->lock);
	cc->parsed++;
	e = find(cc, h, der, len);
	if (e) {
		/* Another thread parsed the same bytes meanwhile: share one object. */
		X509_free(x);
		x = e->x509;
		X509_up_ref(x);
	} else {
		insert(cc, h, der, len, x);
	}
	pthread_mutex_unlock(&cc->lock);
	return x;
}

/* Called with the lock held. By address: an entry's reference keeps that address unique. */
static struct cc_entry *find_x509(struct ks_ocsp_certcache *cc, const X509 *cert)
{
	for (size_t i = 0; i < cc->n; i++)
		if (cc->e[i].x509 == cert)
			return &cc->e[i];
	return NULL;
}

bool ks_ocsp_certcache_issued_by(struct ks_ocsp_certcache *cc, X509 *cert, X509 *issuer)
{
	struct cc_entry *e;
	bool ok;

	if (!cc || !cert || !issuer)
		return false;
	pthread_mutex_lock(&cc->lock);
	e = find_x509(cc, cert);
	/* X509_cmp: same SHA-1 fingerprint and same TBSCertificate bytes (name and key). */
	ok = e && e->issued_by && X509_cmp(e->issued_by, issuer) == 0;
	pthread_mutex_unlock(&cc->lock);
	return ok;
}

void ks_ocsp_certcache_note_issued(struct ks_ocsp_certcache *cc, X509 *cert, X509 *issuer)
{
	struct cc_entry *e;

	if (!cc || !cert || !issuer)
		return;
	pthread_mutex_lock(&cc->lock);
	e = find_x509(cc, cert);
	if (e) {
		X509_up_ref(issuer);
		X509_free(e->issued_by);
		e->issued_by = issuer;
	}
	pthread_mutex_unlock(&cc->lock);
}

void ks_ocsp_certcache_stats(struct ks_ocsp_certcache *cc, size_t *hits, size_t *parsed,
			     size_t *evicted)
{
	pthread_mutex_lock(&cc->lock);
	*hits = cc->hits;
	*parsed = cc->parsed;
	*evicted = cc->evicted;
	pthread_mutex_unlock(&cc->lock);
}

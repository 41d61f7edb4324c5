// SPDX-License-Identifier: MIT
/*
 * Certificates loaded on a few threads, handed out in configuration order. See cert_loader.h.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kstaple/cert_loader.h"
#include "kstaple/cert_pool.h"
#include "kstaple/log.h"

#define LOADER_MAX_THREADS 4

struct slot {
	struct ks_cert *cert;
	int err;
	atomic_bool done; /* release: cert and err are written before it */
};

struct ks_cert_loader {
	const struct ks_config *cfg;
	const struct ks_cert_conf *const *confs;
	size_t n;
	bool with_key;
	int64_t now;
	struct ks_cert_pool *pool;
	struct slot *slots;
	atomic_size_t claim; /* next index a thread (or next() itself) loads */
	atomic_bool stop;
	size_t handed; /* next index next() returns: the caller's thread only */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a slot is done */
	pthread_t threads[LOADER_MAX_THREADS];
	unsigned n_threads;
};

/* Claim the next index and load it; false when none is left or the loader is stopping. */
static bool load_one(struct ks_cert_loader *l)
{
	size_t i;
	struct slot *s;

	if (atomic_load(&l->stop))
		return false;
	i = atomic_fetch_add(&l->claim, 1);
	if (i >= l->n)
		return false;
	s = &l->slots[i];
	s->err = ks_cert_load_conf_pooled(l->cfg, l->confs[i], l->with_key, l->now, l->pool,
					  &s->cert);
	pthread_mutex_lock(&l->lock);
	atomic_store_explicit(&s->done, true, memory_order_release);
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	return true;
}

static void *loader_thread(void *arg)
{
	while (load_one(arg))
		;
	return NULL;
}

static unsigned default_threads(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	return cpus < 1 ? 1 : cpus > LOADER_MAX_THREADS ? LOADER_MAX_THREADS : (unsigned)cpus;
}

struct ks_cert_loader *ks_cert_loader_start(const struct ks_config *cfg,
					    const struct ks_cert_conf *const *confs, size_t n,
					    bool with_key, int64_t now, unsigned threads)
{
	struct ks_cert_loader *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->cfg = cfg;
	l->confs = confs;
	l->n = n;
	l->with_key = with_key;
	l->now = now;
	l->slots = calloc(n ? n : 1, sizeof(*l->slots));
	l->pool = ks_cert_pool_new();
	if (!l->slots || !l->pool || pthread_mutex_init(&l->lock, NULL) != 0) {
		ks_cert_pool_free(l->pool);
		free(l->slots);
		free(l);
		errno = ENOMEM;
		return NULL;
	}
	pthread_cond_init(&l->cond, NULL); /* cannot fail with default attributes */
	atomic_init(&l->claim, 0);
	atomic_init(&l->stop, false);
	threads = threads ? KS_MIN(threads, LOADER_MAX_THREADS) : default_threads();
	threads = (unsigned)KS_MIN((size_t)threads, n);
	for (unsigned t = 0; t < threads; t++) {
		int e = pthread_create(&l->threads[l->n_threads], NULL, loader_thread, l);

		if (e) {
			/* Fewer threads, or none: next() loads what nobody has claimed. */
			ks_warn("loading certificates on %u thread(s) instead of %u: %s",
				l->n_threads, threads, strerror(e));
			break;
		}
		l->n_threads++;
	}
	return l;
}

int ks_cert_loader_next(struct ks_cert_loader *l, bool wait, size_t *index, struct ks_cert **cert,
			int *err)
{
	struct slot *s;

	if (l->handed >= l->n)
		return -ENODATA;
	s = &l->slots[l->handed];
	if (!atomic_load_explicit(&s->done, memory_order_acquire)) {
		if (!wait)
			return 0;
		/* Help rather than wait when there is unclaimed work (or no thread at all). */
		while (!atomic_load_explicit(&s->done, memory_order_acquire) && load_one(l))
			;
		pthread_mutex_lock(&l->lock);
		while (!atomic_load_explicit(&s->done, memory_order_acquire))
			pthread_cond_wait(&l->cond, &l->lock);
		pthread_mutex_unlock(&l->lock);
	}
	*index = l->handed++;
	*cert = s->cert;
	*err = s->err;
	s->cert = NULL;
	return 1;
}

void ks_cert_loader_free(struct ks_cert_loader *l)
{
	if (!l)
		return;
	atomic_store(&l->stop, true);
	for (unsigned t = 0; t < l->n_threads; t++)
		pthread_join(l->threads[t], NULL);
	for (size_t i = 0; i < l->n; i++)
		ks_cert_free(l->slots[i].cert);
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->lock);
	ks_cert_pool_free(l->pool);
	free(l->slots);
	free(l);
}

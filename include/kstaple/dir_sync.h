/* SPDX-License-Identifier: MIT */
/*
 * dir_sync: fsync a directory after a rename into it, once for several concurrent writers.
 *
 * A rename is durable once an fsync of its directory that began after the rename has
 * succeeded, and one fsync covers every rename made before it started. Writers on several
 * threads (the fetcher's worker pool persisting staples) therefore share fsyncs: a writer takes
 * a ticket after its rename; if an fsync is running it waits for it to end, then the first
 * writer to find none running starts one for every ticket taken so far (group commit). Never
 * fewer fsyncs than durability needs: each ticket waits for an fsync that started after it.
 */
#ifndef KSTAPLE_DIR_SYNC_H
#define KSTAPLE_DIR_SYNC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kstaple/common.h"

struct ks_dir_sync {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t renamed; /* tickets handed out */
	uint64_t done;	  /* tickets <= this had an fsync start after them */
	uint64_t ok;	  /* tickets <= this had a successful one */
	uint64_t fsyncs;  /* fsyncs run (for tests and benchmarks) */
	int err;	  /* the latest fsync error */
	bool busy;
};

void ks_dir_sync_init(struct ks_dir_sync *s);
void ks_dir_sync_destroy(struct ks_dir_sync *s);

/*
 * Call after renaming a file into dir (the same dir for every caller of s): returns once an
 * fsync of dir that started after this call has completed. 0, or the negative errno of open or
 * fsync when every fsync covering this rename failed.
 */
KS_MUST_CHECK int ks_dir_sync(struct ks_dir_sync *s, const char *dir);

/* Test seam: replaces the open+fsync+close of dir (NULL: the real one). */
extern int (*ks_dir_sync_test_hook)(const char *dir);

#endif /* KSTAPLE_DIR_SYNC_H */

// SPDX-License-Identifier: MIT
/* dir_sync: grouped directory fsyncs never leave a rename without an fsync that followed it. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "helpers/fixtures.h"
#include "kstaple/dir_sync.h"

#define THREADS 8
#define ROUNDS	20

static atomic_uint renames;		      /* "renames" done by the test threads */
static unsigned starts[THREADS * ROUNDS + 8]; /* renames seen by each fsync as it started */
static atomic_uint n_starts;
static atomic_int fail_next;

static int slow_fsync(const char *dir)
{
	unsigned i = atomic_fetch_add(&n_starts, 1);
	struct timespec ts = { 0, 2 * 1000 * 1000 };

	(void)dir;
	cr_assert_lt(i, sizeof(starts) / sizeof(starts[0]));
	starts[i] = atomic_load(&renames);
	nanosleep(&ts, NULL); /* long enough for the others to queue up behind it */
	return atomic_exchange(&fail_next, 0);
}

static void reset(void)
{
	atomic_store(&renames, 0);
	atomic_store(&n_starts, 0);
	atomic_store(&fail_next, 0);
	ks_dir_sync_test_hook = slow_fsync;
}

static void fini(void)
{
	ks_dir_sync_test_hook = NULL;
}

TestSuite(dir_sync, .init = reset, .fini = fini);

static struct ks_dir_sync ds;

static void *writer(void *arg)
{
	(void)arg;
	for (int r = 0; r < ROUNDS; r++) {
		unsigned mine = atomic_fetch_add(&renames, 1) + 1;
		bool covered = false;

		cr_assert_eq(ks_dir_sync(&ds, "/unused"), 0);
		/* Some fsync began after this "rename" and had ended by the time we returned. */
		for (unsigned i = 0; i < atomic_load(&n_starts); i++)
			covered |= starts[i] >= mine;
		cr_assert(covered, "rename %u returned without an fsync after it", mine);
	}
	return NULL;
}

Test(dir_sync, concurrent_writers_share_fsyncs_and_each_is_covered)
{
	pthread_t t[THREADS];

	ks_dir_sync_init(&ds);
	for (int i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, writer, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(ds.renamed, THREADS * ROUNDS);
	cr_assert_eq(ds.fsyncs, atomic_load(&n_starts));
	/* 160 renames with 2 ms fsyncs: writers queued behind one another share them. */
	cr_assert_lt(ds.fsyncs, THREADS * ROUNDS, "no fsync was shared (%llu)",
		     (unsigned long long)ds.fsyncs);
	ks_dir_sync_destroy(&ds);
}

Test(dir_sync, failure_is_reported_and_a_later_success_clears_it)
{
	ks_dir_sync_init(&ds);
	atomic_store(&fail_next, -EIO);
	cr_assert_eq(ks_dir_sync(&ds, "/unused"), -EIO);
	cr_assert_eq(ks_dir_sync(&ds, "/unused"), 0);
	cr_assert_eq(ds.fsyncs, 2, "one fsync per lone writer");
	ks_dir_sync_destroy(&ds);
}

Test(dir_sync, real_directory)
{
	char dir[256];

	ks_dir_sync_test_hook = NULL;
	cr_assert_eq(ks_test_tmpdir(dir, sizeof(dir)), 0);
	ks_dir_sync_init(&ds);
	cr_assert_eq(ks_dir_sync(&ds, dir), 0);
	ks_test_rmdir(dir);
	cr_assert_eq(ks_dir_sync(&ds, dir), -ENOENT, "a directory that is gone");
	ks_dir_sync_destroy(&ds);
}

// SPDX-License-Identifier: MIT
/*
 * Group commit of directory fsyncs. See dir_sync.h.
 */
#include <fcntl.h>
#include <unistd.h>

#include "kstaple/dir_sync.h"

int (*ks_dir_sync_test_hook)(const char *dir);

/* Make the renames in dir durable: without this a crash may bring back the old names. */
static int fsync_dir(const char *dir)
{
	int fd, ret = 0;

	if (ks_dir_sync_test_hook)
		return ks_dir_sync_test_hook(dir);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

void ks_dir_sync_init(struct ks_dir_sync *s)
{
	*s = (struct ks_dir_sync){ 0 };
	/* Cannot fail with default attributes (glibc). */
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
}

void ks_dir_sync_destroy(struct ks_dir_sync *s)
{
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
}

int ks_dir_sync(struct ks_dir_sync *s, const char *dir)
{
	uint64_t ticket, target;
	int ret;

	pthread_mutex_lock(&s->lock);
	ticket = ++s->renamed;
	while (s->done < ticket) {
		if (s->busy) {
			/* The running fsync may have started before our rename: wait, then look. */
			pthread_cond_wait(&s->cond, &s->lock);
			continue;
		}
		s->busy = true;
		target = s->renamed; /* every ticket so far: their renames precede this fsync */
		s->fsyncs++;
		pthread_mutex_unlock(&s->lock);
		ret = fsync_dir(dir);
		pthread_mutex_lock(&s->lock);
		s->busy = false;
		s->done = target;
		if (ret == 0)
			s->ok = target;
		else
			s->err = ret;
		pthread_cond_broadcast(&s->cond);
	}
	/* A later successful fsync made our rename durable too, even if the first one failed. */
	ret = s->ok >= ticket ? 0 : s->err;
	pthread_mutex_unlock(&s->lock);
	return ret;
}

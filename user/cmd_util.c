// SPDX-License-Identifier: MIT
/* Small helpers shared by the subcommands. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kstaple/cmd.h"
#include "kstaple/common.h"

int ks_parse_i64(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int ks_read_file(const char *path, size_t max, unsigned char **buf, size_t *len)
{
	unsigned char *b = NULL;
	size_t n = 0, cap = 0;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t r;

		if (n == cap) {
			unsigned char *nb;

			cap = cap ? cap * 2 : 4096;
			nb = realloc(b, cap + 1);
			ENSURE_OUT(nb, -ENOMEM);
			b = nb;
		}
		r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		ENSURE_OUT(r >= 0, -errno);
		if (r == 0)
			break;
		n += (size_t)r;
		ENSURE_OUT(n <= max, -EFBIG);
	}
	b[n] = 0; /* callers that treat the file as text get a terminator for free */
	*buf = b;
	*len = n;
	b = NULL;
out:
	free(b);
	close(fd);
	return ret;
}

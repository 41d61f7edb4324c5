// SPDX-License-Identifier: MIT
/* Shared unit-test helpers; see fixtures.h. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "fixtures.h"

const char *ks_test_fixtures_dir(void)
{
	const char *d = getenv("KS_FIXTURES");

	return d && d[0] ? d : NULL;
}

const char *ks_test_fixturef(const char *fmt, ...)
{
	/* Thread-local: Criterion may run tests in parallel worker threads or processes. */
	static __thread char path[4096];
	const char *dir = ks_test_fixtures_dir();
	char rel[2048];
	va_list ap;
	int n;

	if (!dir)
		return NULL;
	va_start(ap, fmt);
	n = vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(rel))
		return NULL;
	n = snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if (n < 0 || (size_t)n >= sizeof(path))
		return NULL;
	return path;
}

const char *ks_test_fixture(const char *rel)
{
	return ks_test_fixturef("%s", rel);
}

bool ks_test_have_fixture(const char *rel)
{
	const char *p = ks_test_fixture(rel);

	return p && access(p, F_OK) == 0;
}

int ks_test_read_file(const char *path, uint8_t **buf, size_t *len)
{
	uint8_t *b = NULL, *nb;
	size_t n = 0, cap = 0, got;
	FILE *f;
	int ret = 0;

	*buf = NULL;
	*len = 0;
	f = fopen(path, "rb");
	if (!f)
		return -errno;
	do {
		if (cap - n < 4096) {
			cap = cap ? 2 * cap : 8192;
			nb = realloc(b, cap + 1);
			if (!nb) {
				ret = -ENOMEM;
				goto out;
			}
			b = nb;
		}
		got = fread(b + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	if (ferror(f)) {
		ret = -EIO;
		goto out;
	}
	b[n] = 0;
	*buf = b;
	*len = n;
	b = NULL;
out:
	free(b);
	fclose(f);
	return ret;
}

X509 *ks_test_x509(const char *rel)
{
	const char *p = ks_test_fixture(rel);
	X509 *x = NULL;
	FILE *f;

	if (!p)
		return NULL;
	f = fopen(p, "r");
	if (!f)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

int ks_test_ocsp_port(void)
{
	const char *p = ks_test_fixture("pki/ocsp-port");
	uint8_t *buf;
	size_t len;
	long port;
	char *end;

	if (!p || ks_test_read_file(p, &buf, &len) < 0)
		return -1;
	port = strtol((char *)buf, &end, 10);
	if (end == (char *)buf || port <= 0 || port > 65535)
		port = -1;
	free(buf);
	return (int)port;
}

int ks_test_tmpdir(char *dir, size_t len)
{
	const char *t = getenv("TMPDIR");
	int n;

	n = snprintf(dir, len, "%s/kstaple-test-XXXXXX", t && t[0] ? t : "/tmp");
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return mkdtemp(dir) ? 0 : -errno;
}

void ks_test_rmdir(const char *dir)
{
	struct dirent *de;
	char p[4096];
	DIR *d;

	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) < (int)sizeof(p))
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

// SPDX-License-Identifier: MIT
/*
 * Private key files: permission and ownership check on the open descriptor, then a read into a
 * buffer that is wiped before it is freed. See keyfile.h.
 */
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "kstaple/keyfile.h"
#include "kstaple/log.h"

/* "uid 1000 (alice)", or "uid 1000" when the user database does not know it. */
static const char *describe_uid(uid_t uid, char *buf, size_t len)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];

	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res)
		snprintf(buf, len, "uid %u (%s)", (unsigned)uid, res->pw_name);
	else
		snprintf(buf, len, "uid %u", (unsigned)uid);
	return buf;
}

/*
 * Who else could read or replace the key? Any group or other bit (mode & 077), or an owner
 * other than root and ourselves: the owner can always chmod the file back open. The
 * directories above the file are not checked: a key under a directory another user can write
 * to can be swapped for another file, which no check on the file itself can prevent.
 */
int ks_keyfile_check_fd(int fd, const char *path, const char *cert, bool allow_insecure)
{
	const enum ks_log_level lvl = allow_insecure ? KS_LOG_WARN : KS_LOG_ERR;
	const char *why = allow_insecure ? " (accepted: allow_insecure_key_permissions is set)"
					 : " (or set allow_insecure_key_permissions = yes in "
					   "[kstaple] to accept it)";
	char owner[300], self[300];
	struct stat st;
	int ret = 0;

	if (fstat(fd, &st) < 0) {
		ret = -errno;
		ks_log_cert(KS_LOG_ERR, cert, "cannot stat private key %s: %s", path,
			    strerror(-ret));
		return ret;
	}
	/* A FIFO or a device could block or be read twice differently: keys are plain files. */
	if (!S_ISREG(st.st_mode)) {
		ks_log_cert(KS_LOG_ERR, cert, "private key %s is not a regular file", path);
		return -EINVAL;
	}
	if (st.st_mode & 077) {
		ks_log_cert(lvl, cert,
			    "private key %s is accessible to other users (mode %04o, group or "
			    "other bits set): run `chmod 600 %s`%s",
			    path, (unsigned)(st.st_mode & 07777), path, why);
		ret = -EPERM;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		ks_log_cert(lvl, cert,
			    "private key %s is owned by %s, neither root nor the user kstaple runs "
			    "as (%s): run `chown root %s` or chown it to that user%s",
			    path, describe_uid(st.st_uid, owner, sizeof(owner)),
			    describe_uid(geteuid(), self, sizeof(self)), path, why);
		ret = -EPERM;
	}
	return allow_insecure ? 0 : ret;
}

int ks_keyfile_check(const char *path, bool allow_insecure)
{
	int fd, ret;

	/* O_PATH: fstat needs no read permission, so the check works on any file we can name. */
	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		ks_err("cannot open private key %s: %s", path, strerror(-ret));
		return ret;
	}
	ret = ks_keyfile_check_fd(fd, path, NULL, allow_insecure);
	close(fd);
	return ret;
}

void ks_keyfile_free(uint8_t *buf, size_t len)
{
	if (!buf)
		return;
	/* len + 1: the terminating NUL written by ks_keyfile_read is part of the allocation. */
	OPENSSL_cleanse(buf, len + 1);
	free(buf);
}

/*
 * read(2) straight into our buffer rather than through stdio or a file BIO, whose internal
 * buffers would hold a copy of the key that nobody wipes.
 */
static int read_all(int fd, const char *path, const char *cert, size_t size, uint8_t **out,
		    size_t *len)
{
	/* One byte more than the size fstat saw, to notice a file that grows under us. */
	uint8_t *buf = malloc(size + 2);
	size_t got = 0;
	ssize_t n;
	int ret = 0;

	if (!buf) {
		ks_log_cert(KS_LOG_ERR, cert, "out of memory reading private key %s", path);
		return -ENOMEM;
	}
	while (got < size + 1) {
		n = read(fd, buf + got, size + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			ks_log_cert(KS_LOG_ERR, cert, "cannot read private key %s: %s", path,
				    strerror(-ret));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > size) {
		ks_log_cert(KS_LOG_ERR, cert, "private key %s changed while it was read", path);
		ret = -EAGAIN;
		goto out;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
out:
	ks_keyfile_free(buf, size + 1);
	return ret;
}

int ks_keyfile_read(const char *path, const char *cert, bool allow_insecure, uint8_t **buf,
		    size_t *len)
{
	struct stat st;
	int fd, ret;

	*buf = NULL;
	*len = 0;
	/* O_NONBLOCK: opening a FIFO must not hang the agent; it is refused just below. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		ks_log_cert(KS_LOG_ERR, cert, "cannot open private key %s: %s", path,
			    strerror(-ret));
		return ret;
	}
	TRY_OUT(ks_keyfile_check_fd(fd, path, cert, allow_insecure));
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		ks_log_cert(KS_LOG_ERR, cert, "cannot stat private key %s: %s", path,
			    strerror(-ret));
		goto out;
	}
	if (st.st_size > KS_KEYFILE_MAX) {
		ks_log_cert(KS_LOG_ERR, cert,
			    "private key %s is %lld bytes, more than the %d a key file may have",
			    path, (long long)st.st_size, KS_KEYFILE_MAX);
		ret = -EFBIG;
		goto out;
	}
	ret = read_all(fd, path, cert, (size_t)st.st_size, buf, len);
out:
	close(fd);
	return ret;
}

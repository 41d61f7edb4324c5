// SPDX-License-Identifier: MIT
/* keyfile: private key files other users could read, write or own are refused (and loaded). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "helpers/log_capture.h"
#include "helpers/fixtures.h"
#include "kstaple/cert_store.h"
#include "kstaple/keyfile.h"
#include "kstaple/log.h"

#define NOBODY 65534

static char dir[256], key[300];

static const char pem[] = "-----BEGIN PRIVATE KEY-----\nnot really a key\n"
			  "-----END PRIVATE KEY-----\n";

static void setup(void)
{
	int fd;

	ks_test_log_start();
	cr_assert_eq(ks_test_tmpdir(dir, sizeof(dir)), 0);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	fd = open(key, O_CREAT | O_WRONLY | O_EXCL, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, pem, strlen(pem)), (ssize_t)strlen(pem));
	close(fd);
}

static void teardown(void)
{
	ks_test_log_stop();
	ks_test_rmdir(dir);
}

TestSuite(keyfile, .init = setup, .fini = teardown);

static void set_mode(mode_t m)
{
	/* chmod is not subject to the umask: the mode is exactly m. */
	cr_assert_eq(chmod(key, m), 0);
}

Test(keyfile, mode_0600_is_accepted_and_read_whole)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	cr_assert_eq(ks_keyfile_check(key, false), 0, "%s", ks_test_logged());
	cr_assert_eq(ks_keyfile_read(key, "www", false, &buf, &len), 0, "%s", ks_test_logged());
	cr_assert_eq(len, strlen(pem));
	cr_assert_eq(memcmp(buf, pem, len), 0);
	cr_assert_eq(buf[len], '\0', "NUL-terminated for PEM readers");
	ks_keyfile_free(buf, len);
	cr_assert_str_empty(ks_test_logged(), "nothing logged for a good key");
	set_mode(0400);
	cr_assert_eq(ks_keyfile_check(key, false), 0, "%s", ks_test_logged());
}

/* Each of these lets someone else read or change the key; the message says how to fix it. */
Test(keyfile, group_or_other_bits_are_refused_naming_mode_and_fix)
{
	static const mode_t modes[] = { 0640, 0644, 0604, 0620, 0602, 0610, 0601, 0660, 0666 };
	uint8_t *buf = (uint8_t *)"untouched";
	size_t len = 7;

	for (size_t i = 0; i < KS_ARRAY_SIZE(modes); i++) {
		char want_mode[32], want_fix[400];

		set_mode(modes[i]);
		cr_assert_eq(ks_keyfile_check(key, false), -EPERM, "mode %04o accepted",
			     (unsigned)modes[i]);
		snprintf(want_mode, sizeof(want_mode), "mode %04o", (unsigned)modes[i]);
		snprintf(want_fix, sizeof(want_fix), "chmod 600 %s", key);
		cr_assert(strstr(ks_test_logged(), want_mode), "%s", ks_test_logged());
		cr_assert(strstr(ks_test_logged(), want_fix), "%s", ks_test_logged());
		cr_assert(strstr(ks_test_logged(), "allow_insecure_key_permissions"), "%s",
			  ks_test_logged());
		cr_assert(strstr(ks_test_logged(), "error:"), "%s", ks_test_logged());
		/* The reader refuses too, and hands back nothing. */
		cr_assert_eq(ks_keyfile_read(key, "www", false, &buf, &len), -EPERM);
		cr_assert_null(buf);
		cr_assert_eq(len, 0);
		cr_assert(strstr(ks_test_logged(), "[cert www]"), "%s", ks_test_logged());
	}
	cr_assert_null(strstr(ks_test_logged(), "not really a key"), "key bytes logged: %s",
		       ks_test_logged());
}

Test(keyfile, allow_insecure_accepts_with_a_warning)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	set_mode(0644);
	cr_assert_eq(ks_keyfile_check(key, true), 0, "%s", ks_test_logged());
	cr_assert(strstr(ks_test_logged(), "warning:") && strstr(ks_test_logged(), "mode 0644") &&
			  strstr(ks_test_logged(), "accepted"),
		  "%s", ks_test_logged());
	cr_assert_eq(ks_keyfile_read(key, NULL, true, &buf, &len), 0);
	cr_assert_eq(len, strlen(pem));
	ks_keyfile_free(buf, len);
}

Test(keyfile, file_of_another_user_is_refused)
{
	if (geteuid() != 0)
		cr_skip_test("not root: cannot chown a file to another user");
	cr_assert_eq(chown(key, NOBODY, NOBODY), 0);
	cr_assert_eq(ks_keyfile_check(key, false), -EPERM);
	cr_assert(strstr(ks_test_logged(), "owned by uid 65534") &&
			  strstr(ks_test_logged(), "chown root"),
		  "%s", ks_test_logged());
	cr_assert(strstr(ks_test_logged(), key), "%s", ks_test_logged());
	cr_assert_eq(ks_keyfile_check(key, true), 0, "the flag overrides the owner check too");
}

/* The "user kstaple runs as" half of the owner rule: a child with that euid reads its key. */
Test(keyfile, file_of_the_running_user_is_accepted)
{
	pid_t pid;
	int st;

	if (geteuid() != 0)
		cr_skip_test("not root: cannot switch to another user");
	cr_assert_eq(chown(key, NOBODY, NOBODY), 0);
	cr_assert_eq(chmod(dir, 0711), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		uint8_t *buf = NULL;
		size_t len = 0;

		if (setresgid(NOBODY, NOBODY, NOBODY) || setresuid(NOBODY, NOBODY, NOBODY))
			_exit(10);
		if (ks_keyfile_read(key, NULL, false, &buf, &len) != 0 || len != strlen(pem))
			_exit(11);
		ks_keyfile_free(buf, len);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x: %s", st,
		  ks_test_logged());
}

Test(keyfile, not_a_regular_file_is_einval)
{
	char fifo[320];
	uint8_t *buf = NULL;
	size_t len = 0;

	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	/* Opening a FIFO with no writer must not hang the agent. */
	cr_assert_eq(ks_keyfile_read(fifo, NULL, false, &buf, &len), -EINVAL);
	cr_assert_eq(ks_keyfile_read(fifo, NULL, true, &buf, &len), -EINVAL, "not overridable");
	cr_assert(strstr(ks_test_logged(), "not a regular file") && strstr(ks_test_logged(), fifo),
		  "%s", ks_test_logged());
	cr_assert_eq(ks_keyfile_check(dir, false), -EINVAL);
	unlink(fifo);
}

Test(keyfile, oversized_file_is_efbig)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	cr_assert_eq(truncate(key, KS_KEYFILE_MAX + 1), 0);
	cr_assert_eq(ks_keyfile_read(key, NULL, false, &buf, &len), -EFBIG);
	cr_assert_null(buf);
	cr_assert(strstr(ks_test_logged(), key), "%s", ks_test_logged());
	cr_assert_eq(truncate(key, KS_KEYFILE_MAX), 0);
	cr_assert_eq(ks_keyfile_read(key, NULL, false, &buf, &len), 0, "the limit is inclusive");
	cr_assert_eq(len, (size_t)KS_KEYFILE_MAX);
	ks_keyfile_free(buf, len);
}

Test(keyfile, missing_file_is_enoent_naming_it)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	char missing[320];

	snprintf(missing, sizeof(missing), "%s/nope.pem", dir);
	cr_assert_eq(ks_keyfile_check(missing, false), -ENOENT);
	cr_assert_eq(ks_keyfile_read(missing, "www", false, &buf, &len), -ENOENT);
	cr_assert(strstr(ks_test_logged(), missing), "%s", ks_test_logged());
}

Test(keyfile, free_accepts_null)
{
	ks_keyfile_free(NULL, 0);
	ks_keyfile_free(NULL, 100);
}

/* Through cert_store: the fixture key, copied with a loose mode, is refused, then allowed. */
Test(keyfile, cert_store_refuses_a_key_others_can_read)
{
	char chain[4096], src[4096];
	struct ks_cert_spec spec = { .name = "ecdsa", .chain_path = chain, .key_path = key };
	struct ks_cert *c = NULL;
	uint8_t *data;
	size_t len;
	FILE *f;

	if (!ks_test_fixtures_dir())
		cr_skip_test("KS_FIXTURES is not set");
	snprintf(chain, sizeof(chain), "%s", ks_test_fixture("pki/leaf/ecdsa/chain.pem"));
	snprintf(src, sizeof(src), "%s", ks_test_fixture("pki/leaf/ecdsa/key.pem"));
	cr_assert_eq(ks_test_read_file(src, &data, &len), 0);
	f = fopen(key, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	fclose(f);
	free(data);

	set_mode(0644);
	cr_assert_eq(ks_cert_load(&spec, time(NULL), &c), -EPERM);
	cr_assert_null(c);
	cr_assert(strstr(ks_test_logged(), "[cert ecdsa]") && strstr(ks_test_logged(), "mode 0644"),
		  "%s", ks_test_logged());
	cr_assert_null(strstr(ks_test_logged(), "PRIVATE KEY"), "key bytes logged: %s",
		       ks_test_logged());

	spec.allow_insecure_key = true;
	cr_assert_eq(ks_cert_load(&spec, time(NULL), &c), 0, "%s", ks_test_logged());
	cr_assert_not_null(c->key);
	ks_cert_free(c);

	set_mode(0600);
	spec.allow_insecure_key = false;
	cr_assert_eq(ks_cert_load(&spec, time(NULL), &c), 0, "%s", ks_test_logged());
	cr_assert_not_null(c->key);
	ks_cert_free(c);
}

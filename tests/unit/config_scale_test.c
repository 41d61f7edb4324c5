// SPDX-License-Identifier: MIT
/*
 * config at scale: tens of thousands of [cert:NAME] sections (the section index is a hash, the
 * array grows geometrically: both must keep order, names and duplicate detection exact), a
 * listener naming thousands of certificates, and the file size limit (KS_CONFIG_FILE_MAX).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers/log_capture.h"
#include "kstaple/config.h"

#define NAME "/etc/kstaple/kstaple.conf"
#define N    20000

static void capture(void)
{
	ks_test_log_start();
}

static void release(void)
{
	ks_test_log_stop();
}

TestSuite(config_scale, .init = capture, .fini = release);

#define expect_log(sub)                                                                      \
	cr_assert(strstr(ks_test_logged(), (sub)), "log lacks \"%s\"; it holds:\n%s", (sub), \
		  ks_test_logged())

/* N sections "[cert:cI]", 4 lines each (header, chain, key, blank): section I is at 4I + 1. */
static char *many_sections(size_t extra)
{
	size_t cap = (size_t)N * 64 + extra, len = 0;
	char *text = malloc(cap);

	cr_assert_not_null(text);
	for (int i = 0; i < N; i++)
		len += (size_t)snprintf(text + len, cap - len,
					"[cert:c%d]\nchain = c%d.pem\nkey = k.pem\n\n", i, i);
	return text;
}

Test(config_scale, many_sections_in_order)
{
	struct ks_config *cfg = NULL;
	char *text = many_sections(0), want[32];

	cr_assert_eq(ks_config_parse(text, NAME, &cfg), 0, "%s", ks_test_logged());
	cr_assert_eq(cfg->n_certs, N);
	for (int i = 0; i < N; i++) {
		snprintf(want, sizeof(want), "c%d", i);
		cr_assert_str_eq(cfg->certs[i].name, want);
		snprintf(want, sizeof(want), "/etc/kstaple/c%d.pem", i);
		cr_assert_str_eq(cfg->certs[i].chain, want);
		cr_assert_eq(cfg->certs[i].line, 4 * i + 1);
	}
	cr_assert_not_null(ks_config_cert(cfg, "c19999"));
	cr_assert_null(ks_config_cert(cfg, "c20000"));
	ks_config_free(cfg);
	free(text);
}

Test(config_scale, duplicates_among_many_sections_name_the_first)
{
	struct ks_config *cfg = (void *)1;
	char *text = many_sections(256);
	size_t len = strlen(text);

	/* Near-misses ("c1" vs "c10", "C1") are different names; exact repeats are not. */
	snprintf(text + len, 256,
		 "[cert:c0]\nchain = x\nkey = x\n[cert:c12345]\nchain = x\nkey = x\n"
		 "[cert:c19999]\nchain = x\nkey = x\n[cert:C1]\nchain = x\nkey = x\n");
	cr_assert_eq(ks_config_parse(text, NAME, &cfg), -EINVAL);
	cr_assert_null(cfg);
	expect_log("[cert:c0]: duplicate section, first at line 1\n");
	expect_log("[cert:c12345]: duplicate section, first at line 49381\n");
	expect_log("[cert:c19999]: duplicate section, first at line 79997\n");
	cr_assert_null(strstr(ks_test_logged(), "[cert:C1]"), "%s", ks_test_logged());
	free(text);
}

/* Names are looked up in the section index, and repeats found through a set of their own. */
Test(config_scale, listener_names_checked_against_many_sections)
{
	struct ks_config *cfg = (void *)1;
	char *text;
	size_t len;

	/* Lines are limited to 198 characters, so a listener lists at most a few dozen names. */
	text = many_sections(1024);
	len = strlen(text);
	snprintf(text + len, 1024,
		 "[listener:web]\nlisten = *:443\nbackend = h:1\n"
		 "certs = c1, c10, c100, c1000, c10000, c19999, nope, c10, c2, c1\n");
	cr_assert_eq(ks_config_parse(text, NAME, &cfg), -EINVAL);
	expect_log("certs: no section [cert:nope] in this file");
	expect_log("'c10' is listed twice");
	expect_log("'c1' is listed twice");
	cr_assert_null(strstr(ks_test_logged(), "'c100' is listed twice"), "%s", ks_test_logged());
	cr_assert_null(strstr(ks_test_logged(), "'c2' is listed twice"), "%s", ks_test_logged());
	free(text);
}

static void write_file(const char *path, const char *text, size_t len, off_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	if (size)
		cr_assert_eq(ftruncate(fd, size), 0);
	close(fd);
}

Test(config_scale, file_size_limit)
{
	char dir[] = "/tmp/ks-config-scale-XXXXXX", path[64];
	size_t len = KS_CONFIG_FILE_MAX;
	struct ks_config *cfg = NULL;
	const char *tail = "\n[cert:last]\nchain = c\nkey = k\n";
	char *text = malloc(len + 2);

	cr_assert_not_null(text);
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/kstaple.conf", dir);
	/* Exactly the limit (comment lines, then one section at the very end) loads. */
	memset(text, '#', len);
	for (size_t i = 99; i < len; i += 100)
		text[i] = '\n';
	memcpy(text + len - strlen(tail), tail, strlen(tail));
	write_file(path, text, len, 0);
	cr_assert_eq(ks_config_load(path, &cfg), 0, "%s", ks_test_logged());
	cr_assert_eq(cfg->n_certs, 1);
	cr_assert_str_eq(cfg->certs[0].name, "last");
	ks_config_free(cfg);
	/* One byte more is refused, by its size, before it is read. */
	text[len] = '\n';
	write_file(path, text, len + 1, 0);
	cfg = (void *)1;
	cr_assert_eq(ks_config_load(path, &cfg), -EFBIG);
	cr_assert_null(cfg);
	expect_log("not a regular file of at most 16777216 bytes");
	unlink(path);
	rmdir(dir);
	free(text);
}

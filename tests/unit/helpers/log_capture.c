// SPDX-License-Identifier: MIT
/* See log_capture.h. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "kstaple/log.h"
#include "log_capture.h"

static char *log_buf;
static size_t log_len;
static FILE *log_f;

void ks_test_log_start(void)
{
	log_f = open_memstream(&log_buf, &log_len);
	cr_assert(log_f);
	ks_log_set_timestamps(0);
	ks_log_set_stream(log_f);
}

void ks_test_log_stop(void)
{
	ks_log_set_stream(NULL);
	if (log_f)
		fclose(log_f);
	log_f = NULL;
	free(log_buf);
	log_buf = NULL;
}

void ks_test_log_reset(void)
{
	ks_test_log_stop();
	ks_test_log_start();
}

const char *ks_test_logged(void)
{
	if (log_f)
		fflush(log_f);
	return log_buf ? log_buf : "";
}

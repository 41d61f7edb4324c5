/* SPDX-License-Identifier: MIT */
/*
 * Unit-test helper: run tests/integration/servers/ocsp_fault_server.py on a kernel-chosen
 * port and read what it logged ("conn N", "GET /path", "POST /path ctype=... len=N").
 */
#ifndef KSTAPLE_TEST_FAULT_SERVER_H
#define KSTAPLE_TEST_FAULT_SERVER_H

#include <stddef.h>
#include <sys/types.h>

struct fault_server {
	pid_t pid;
	int port;
	char dir[64];  /* scratch directory (port file, log) */
	char log[128]; /* request log */
	char base[64]; /* "http://127.0.0.1:PORT" */
};

/*
 * Start the server with extra arguments (NULL-terminated list, may be empty). Skips the
 * calling test (cr_skip_test) when python3 or the script is missing.
 */
void fault_server_start(struct fault_server *s, const char *const *extra);
void fault_server_stop(struct fault_server *s);
/* Number of log lines starting with prefix ("conn ", "GET /ok", ...). */
int fault_server_count(const struct fault_server *s, const char *prefix);
/* A port on 127.0.0.1 where nothing listens. */
int fault_server_free_port(void);

#endif

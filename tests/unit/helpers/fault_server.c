// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault_server.h"

static const char *script_path(char *buf, size_t len)
{
	const char *src = getenv("KS_SRCDIR");

	snprintf(buf, len, "%s/tests/integration/servers/ocsp_fault_server.py", src ? src : ".");
	return buf;
}

void fault_server_start(struct fault_server *s, const char *const *extra)
{
	char script[512], portfile[160];
	const char *argv[32];
	int n = 0, i;
	FILE *f;

	memset(s, 0, sizeof(*s));
	if (access(script_path(script, sizeof(script)), R_OK) != 0)
		cr_skip_test("%s not found (set KS_SRCDIR to the source tree)", script);
	if (system("python3 -c '' >/dev/null 2>&1") != 0)
		cr_skip_test("python3 is not installed");
	snprintf(s->dir, sizeof(s->dir), "/tmp/ks-fault.XXXXXX");
	cr_assert_not_null(mkdtemp(s->dir));
	snprintf(s->log, sizeof(s->log), "%s/log", s->dir);
	snprintf(portfile, sizeof(portfile), "%s/port", s->dir);
	argv[n++] = "python3";
	argv[n++] = script;
	argv[n++] = "--port-file";
	argv[n++] = portfile;
	argv[n++] = "--log";
	argv[n++] = s->log;
	for (i = 0; extra && extra[i] && n < 31; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	s->pid = fork();
	cr_assert_geq(s->pid, 0);
	if (s->pid == 0) {
		/* A crashing test must not leave its server behind. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		execvp("python3", (char *const *)argv);
		_exit(127);
	}
	for (i = 0; i < 200; i++) {
		f = fopen(portfile, "r");
		if (f) {
			if (fscanf(f, "%d", &s->port) != 1)
				s->port = 0;
			fclose(f);
			if (s->port)
				break;
		}
		usleep(25 * 1000);
	}
	cr_assert_gt(s->port, 0, "fault server did not start");
	snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", s->port);
}

void fault_server_stop(struct fault_server *s)
{
	char cmd[128];

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
	if (s->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", s->dir);
	}
}

int fault_server_count(const struct fault_server *s, const char *prefix)
{
	char line[4096];
	int n = 0;
	FILE *f = fopen(s->log, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, prefix, strlen(prefix)) == 0)
			n++;
	fclose(f);
	return n;
}

int fault_server_free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

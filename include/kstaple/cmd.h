/* SPDX-License-Identifier: MIT */
/*
 * Subcommands of the kstaple tool. Each lives in user/cmd_<name>.c, parses its own options
 * (getopt_long) and returns a process exit code (enum ks_exit in common.h).
 */
#ifndef KSTAPLE_CMD_H
#define KSTAPLE_CMD_H

#include <stdio.h>

struct ks_cmd {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is the command name */
	const char *summary;
};

int ks_cmd_verify(int argc, char **argv);
int ks_cmd_inspect(int argc, char **argv);
int ks_cmd_check_config(int argc, char **argv);
int ks_cmd_fetch(int argc, char **argv);
int ks_cmd_serve(int argc, char **argv);
/* kstaple telemetry attach --interface IF[,IF] --port P[,P] | detach [--interface IF] | status */
int ks_cmd_telemetry(int argc, char **argv);
/* kstaple stats [--json] [--watch SECONDS]: per-port ClientHello counters (pinned BPF maps) */
int ks_cmd_stats(int argc, char **argv);

/* Helpers shared by the commands. */
/* Parse a non-negative decimal integer (Unix seconds etc.); -EINVAL on junk or overflow. */
int ks_parse_i64(const char *s, long long min, long long max, long long *out);
/* Read a whole file (at most max bytes) into a malloc'd buffer. */
int ks_read_file(const char *path, size_t max, unsigned char **buf, size_t *len);

#endif /* KSTAPLE_CMD_H */

// SPDX-License-Identifier: MIT
/* kstaple command line: finds the subcommand and hands it the rest of the arguments. */
#include <stdio.h>
#include <string.h>

#include "kstaple/cmd.h"
#include "kstaple/common.h"

static const struct ks_cmd commands[] = {
	{ "verify", ks_cmd_verify, "check an OCSP response for a certificate (exit 0/1/2)" },
	{ "inspect", ks_cmd_inspect, "print the contents of an OCSP response" },
	{ "check-config", ks_cmd_check_config,
	  "load a configuration and report every certificate" },
	{ "fetch", ks_cmd_fetch, "fetch and store a staple for every certificate, once" },
	{ "serve", ks_cmd_serve, "terminate TLS and staple from the first handshake" },
	{ "telemetry", ks_cmd_telemetry, "attach/detach the eBPF ClientHello counter" },
	{ "stats", ks_cmd_stats, "ClientHellos per port, with and without status_request" },
};

static void usage(FILE *f)
{
	fprintf(f,
		"kstaple %s: OCSP stapling agent\n\n"
		"usage: kstaple COMMAND [OPTIONS]\n"
		"       kstaple COMMAND --help\n"
		"       kstaple --version\n\ncommands:\n",
		KS_VERSION);
	for (size_t i = 0; i < KS_ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nSee kstaple(8) and kstaple.conf(5).\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return KS_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("kstaple %s\n", KS_VERSION);
		return KS_EXIT_OK;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return KS_EXIT_OK;
	}
	for (size_t i = 0; i < KS_ARRAY_SIZE(commands); i++) {
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, "kstaple: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return KS_EXIT_USAGE;
}

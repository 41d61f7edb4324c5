// SPDX-License-Identifier: MIT
/* `kstaple serve -c FILE [--foreground]`: TLS termination with OCSP stapling. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "kstaple/cmd.h"
#include "kstaple/log.h"
#include "kstaple/server.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kstaple serve -c FILE [--foreground]\n"
		"\n"
		"Terminate TLS on the [listener:NAME] sections of FILE and proxy to their backends,\n"
		"stapling each certificate's OCSP response from the first handshake on.\n"
		"\n"
		"  -c, --config FILE  configuration (kstaple.conf(5))\n"
		"  -f, --foreground   stay in the foreground (always the case: kstaple serve never\n"
		"                     forks; run it under systemd or a supervisor)\n"
		"  --allow-insecure-key-permissions\n"
		"                     load private keys that group or others may read (for this run;\n"
		"                     see [kstaple] allow_insecure_key_permissions)\n"
		"  -h, --help         this text\n"
		"\n"
		"Signals: SIGTERM/SIGINT drain (stop accepting, wait up to drain_timeout), a second one\n"
		"closes at once; SIGHUP reloads the configuration and certificates.\n");
}

int ks_cmd_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "allow-insecure-key-permissions", no_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ks_server_opts opts = { 0 };
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:fh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			opts.config_path = optarg;
			break;
		case 'f':
			break;
		case 'K':
			opts.allow_insecure_keys = true;
			break;
		case 'h':
			usage(stdout);
			return KS_EXIT_OK;
		default:
			usage(stderr);
			return KS_EXIT_USAGE;
		}
	}
	if (!opts.config_path || optind != argc) {
		usage(stderr);
		return KS_EXIT_USAGE;
	}
	ret = ks_server_run(&opts);
	switch (ret) {
	case 0:
		return KS_EXIT_OK;
	case -EINVAL:
	case -EKEYREJECTED:
	case -EKEYEXPIRED:
	case -ENOKEY:
	case -EBADMSG:
	case -EHOSTUNREACH:
	case -EPERM: /* a private key others may read, or a user/group that cannot be used */
		return KS_EXIT_CONFIG;
	case -ENOENT:
	case -EACCES:
		return KS_EXIT_NOINPUT;
	case -EADDRINUSE:
	case -EADDRNOTAVAIL:
		return KS_EXIT_IOERR;
	default:
		return KS_EXIT_SOFTWARE;
	}
}

// SPDX-License-Identifier: MIT
/* kstaple command line: parses arguments and calls the modules. */
#include <stdio.h>
#include <string.h>

#include "kstaple/common.h"
#include "kstaple/fetcher.h"
#include "kstaple/server.h"

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "fetch") == 0)
		return ks_cmd_fetch(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("kstaple %s\n", KS_VERSION);
		return KS_EXIT_OK;
	}
	if (argc > 1 && strcmp(argv[1], "serve") == 0)
		return ks_cmd_serve(argc - 1, argv + 1);
	fprintf(stderr, "usage: kstaple COMMAND [OPTIONS]\n");
	return KS_EXIT_USAGE;
}

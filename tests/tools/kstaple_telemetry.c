// SPDX-License-Identifier: MIT
/*
 * Stand-alone front end for `telemetry` and `stats` (the same functions user/main.c dispatches
 * to), so the telemetry integration test and the benchmark run before and beside the agent:
 *   kstaple_telemetry telemetry attach --interface lo --port 443
 *   kstaple_telemetry stats --json
 */
#include <stdio.h>
#include <string.h>

#include "kstaple/common.h"
#include "kstaple/cmd.h"
#include "kstaple/telemetry.h"

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "telemetry") == 0)
		return ks_cmd_telemetry(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "stats") == 0)
		return ks_cmd_stats(argc - 1, argv + 1);
	fprintf(stderr, "usage: %s telemetry|stats ...\n", argv[0]);
	return KS_EXIT_USAGE;
}

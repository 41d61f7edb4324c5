// SPDX-License-Identifier: MIT
/*
 * `kstaple stats [--json] [--watch SECONDS]`: the per-port ClientHello counters from the
 * pinned BPF maps. Reads only the pinned maps, so it works with or without a running agent.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kstaple/log.h"
#include "kstaple/cmd.h"
#include "kstaple/telemetry.h"

static void print_table(FILE *f, const struct ks_port_counters *pc, int n)
{
	double r;
	int i;

	fprintf(f, "%-6s %10s %10s %10s %8s %6s | %9s %7s %7s %8s | %7s\n", "PORT", "HELLOS",
		"STAPLE?", "NO_STAPLE", "SR_V2", "HRR", "MALFORMED", "SHORT", "NON_TLS", "TOO_LONG",
		"DEMAND");
	for (i = 0; i < n; i++) {
		const struct ks_hello_counters *c = &pc[i].c;

		fprintf(f, "%-6u %10llu %10llu %10llu %8llu %6llu | %9llu %7llu %7llu %8llu | ",
			pc[i].port, (unsigned long long)c->hellos,
			(unsigned long long)c->status_request,
			(unsigned long long)c->no_status_request,
			(unsigned long long)c->status_request_v2, (unsigned long long)c->hrr_hellos,
			(unsigned long long)c->unclassified_malformed,
			(unsigned long long)c->unclassified_short,
			(unsigned long long)c->unclassified_non_tls,
			(unsigned long long)c->unclassified_too_long);
		r = ks_telemetry_demand_ratio(c);
		if (r < 0)
			fprintf(f, "%7s\n", "-");
		else
			fprintf(f, "%6.1f%%\n", r * 100.0);
	}
	if (n == 0)
		fprintf(f, "(no watched port)\n");
	fprintf(f,
		"STAPLE? = ClientHellos with status_request (RFC 6066), DEMAND = STAPLE?/HELLOS\n");
}

static void print_json(FILE *f, const struct ks_port_counters *pc, int n, time_t now)
{
	double r;
	int i;

	fprintf(f, "{\"time\":%lld,\"ports\":[", (long long)now);
	for (i = 0; i < n; i++) {
		const struct ks_hello_counters *c = &pc[i].c;

		fprintf(f,
			"%s{\"port\":%u,\"hellos\":%llu,\"status_request\":%llu,"
			"\"no_status_request\":%llu,\"status_request_v2\":%llu,\"hrr_hellos\":%llu,"
			"\"unclassified\":{\"malformed\":%llu,\"short\":%llu,\"non_tls\":%llu,"
			"\"too_long\":%llu},\"demand_ratio\":",
			i ? "," : "", pc[i].port, (unsigned long long)c->hellos,
			(unsigned long long)c->status_request,
			(unsigned long long)c->no_status_request,
			(unsigned long long)c->status_request_v2, (unsigned long long)c->hrr_hellos,
			(unsigned long long)c->unclassified_malformed,
			(unsigned long long)c->unclassified_short,
			(unsigned long long)c->unclassified_non_tls,
			(unsigned long long)c->unclassified_too_long);
		r = ks_telemetry_demand_ratio(c);
		if (r < 0)
			fprintf(f, "null}");
		else
			fprintf(f, "%.4f}", r);
	}
	fprintf(f, "]}\n");
}

static int show(bool json)
{
	struct ks_port_counters pc[KS_BPF_MAX_PORTS];
	time_t now = time(NULL);
	char stamp[32];
	int n;

	n = ks_telemetry_read(pc, KS_ARRAY_SIZE(pc));
	if (n == -ENOENT) {
		ks_err("stats: no counters under %s: run `kstaple telemetry attach` (or serve "
		       "with [telemetry] interfaces) first",
		       ks_telemetry_pin_dir());
		return KS_EXIT_NOINPUT;
	}
	if (n < 0) {
		ks_err("stats: cannot read the counters under %s: %s", ks_telemetry_pin_dir(),
		       strerror(-n));
		return KS_EXIT_IOERR;
	}
	if (json) {
		print_json(stdout, pc, n, now);
	} else {
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
		printf("ClientHellos per port (since first attach), %s\n", stamp);
		print_table(stdout, pc, n);
	}
	fflush(stdout);
	return KS_EXIT_OK;
}

int ks_cmd_stats(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "watch", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false;
	long watch = 0;
	char *end;
	int opt, rc;

	optind = 0; /* glibc: full reinitialisation */
	while ((opt = getopt_long(argc, argv, "jw:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'w':
			watch = strtol(optarg, &end, 10);
			if (end == optarg || *end || watch < 1 || watch > 86400) {
				ks_err("stats: --watch takes a number of seconds (1..86400)");
				return KS_EXIT_USAGE;
			}
			break;
		case 'h':
			printf("usage: kstaple stats [--json] [--watch SECONDS]\n\n"
			       "Per watched TCP port: TLS ClientHellos seen by the eBPF program\n"
			       "(kstaple telemetry attach), how many asked for an OCSP staple\n"
			       "(status_request), how many did not, status_request_v2, second hellos\n"
			       "after HelloRetryRequest, unclassified ones by reason, and the\n"
			       "stapling-demand ratio. Reads the pinned maps: works without the agent.\n\n"
			       "  --json            one JSON object\n"
			       "  --watch SECONDS   print again every SECONDS until interrupted\n\n"
			       "exit status: 0, 64 usage, 66 never attached (no pinned maps),\n"
			       "74 maps unreadable\n");
			return KS_EXIT_OK;
		default:
			fprintf(stderr, "usage: kstaple stats [--json] [--watch SECONDS]\n");
			return KS_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: kstaple stats [--json] [--watch SECONDS]\n");
		return KS_EXIT_USAGE;
	}
	for (;;) {
		rc = show(json);
		if (rc != KS_EXIT_OK || !watch)
			return rc;
		sleep((unsigned int)watch);
		if (!json)
			printf("\n");
	}
}

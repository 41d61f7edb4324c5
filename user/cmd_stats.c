// SPDX-License-Identifier: MIT
/*
 * `kstaple stats [--json] [--watch SECONDS] [-c FILE | --socket PATH]`: the per-port
 * ClientHello counters from the pinned BPF maps (no agent needed) and, when a `kstaple serve`
 * answers on its control socket, the agent's counters: stapling per listener and certificate,
 * OCSP fetches and the published responses, connections.
 *
 * Exit status: 0 when at least one of the two sources answered; 66 when neither exists (no
 * pinned maps and no agent); 74 when one exists but cannot be read and the other is absent;
 * 64 usage; 78 the -c file does not load.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kstaple/cmd.h"
#include "kstaple/config.h"
#include "kstaple/json.h"
#include "kstaple/log.h"
#include "kstaple/metrics.h"
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

/* "ports":[...] of the merged JSON; the keys are those of earlier versions of this command. */
static void print_ports(FILE *f, const struct ks_port_counters *pc, int n)
{
	double r;

	fprintf(f, "\"ports\":[");
	for (int i = 0; i < n; i++) {
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
	fprintf(f, "]");
}

/* A JSON string (RFC 8259 §7) of a message of ours. */
static void json_str(FILE *f, const char *s)
{
	struct ks_buf b = { 0 };

	ks_json_quote(&b, s);
	fputs(b.failed ? "\"\"" : b.p, f);
	ks_buf_free(&b);
}

#define DEFAULT_CONFIG "/etc/kstaple/kstaple.conf"
#define DEFAULT_SOCKET "/var/lib/kstaple/control.sock"

struct opts {
	bool json;
	long watch;
	const char *socket; /* --socket */
	const char *config; /* -c */
};

/* What one source gave: 1 shown, 0 absent (no maps, no agent), < 0 failed. */
struct source {
	int state;
	char why[256];
};

/*
 * The control socket: --socket, else the configuration's (-c, or the default file when it
 * exists), else the default state_dir's. The default file is read quietly: a broken one is
 * `serve`'s problem to report, not ours.
 */
static int control_path(const struct opts *o, char **out)
{
	const char *conf = o->config;
	struct ks_config *cfg;
	FILE *devnull = NULL;
	int r;

	if (o->socket)
		return (*out = strdup(o->socket)) ? 0 : -ENOMEM;
	if (!conf && access(DEFAULT_CONFIG, R_OK) == 0) {
		conf = DEFAULT_CONFIG;
		devnull = fopen("/dev/null", "w");
		if (devnull)
			ks_log_set_stream(devnull);
	}
	r = conf ? ks_config_load(conf, &cfg) : -ENOENT;
	if (devnull) {
		ks_log_set_stream(NULL);
		fclose(devnull);
	}
	if (r < 0 && o->config)
		return r; /* logged */
	if (r < 0)
		return (*out = strdup(DEFAULT_SOCKET)) ? 0 : -ENOMEM;
	if (cfg->control_socket)
		*out = strdup(cfg->control_socket);
	else if (asprintf(out, "%s/control.sock", cfg->state_dir) < 0)
		*out = NULL;
	ks_config_free(cfg);
	return *out ? 0 : -ENOMEM;
}

static int read_bpf(struct ks_port_counters *pc, size_t max, struct source *src)
{
	int n = ks_telemetry_read(pc, max);

	if (n >= 0) {
		src->state = 1;
		return n;
	}
	src->state = n == -ENOENT ? 0 : n;
	if (n == -ENOENT)
		snprintf(src->why, sizeof(src->why),
			 "no ClientHello counters under %s: run `kstaple telemetry attach` (or "
			 "serve with [telemetry] interfaces)",
			 ks_telemetry_pin_dir());
	else
		snprintf(src->why, sizeof(src->why), "cannot read the counters under %s: %s",
			 ks_telemetry_pin_dir(), strerror(-n));
	return 0;
}

/* The agent's snapshot; *json keeps the text (for --json), *arena the parsed form. */
static void read_agent(const char *path, struct ks_metrics_snapshot *s,
		       struct ks_metrics_arena **arena, char **json, struct source *src)
{
	size_t len;
	int r;

	*arena = NULL;
	r = ks_metrics_read_control(path, 5000, json, &len);
	if (r == 0) {
		r = ks_metrics_from_json(*json, len, s, arena);
		if (r < 0) {
			free(*json);
			*json = NULL;
		}
	}
	src->state = r == 0 ? 1 : r == -ENOENT || r == -ECONNREFUSED ? 0 : r;
	if (r == -ENOENT || r == -ECONNREFUSED)
		snprintf(src->why, sizeof(src->why), "no agent answers on %s (kstaple serve)",
			 path);
	else if (r == -EBADMSG)
		snprintf(src->why, sizeof(src->why), "%s: not a kstaple snapshot", path);
	else if (r < 0)
		snprintf(src->why, sizeof(src->why), "%s: %s", path, strerror(-r));
}

/*
 * {"time":T,"ports":[...],"telemetry":"ok"|"absent"|"error","telemetry_error":..,
 *  "agent":{the agent's snapshot, as it sent it}|null,"agent_error":..}
 */
static void print_merged(FILE *f, const struct ks_port_counters *pc, int n, time_t now,
			 const struct source *bpf, const char *agent, const struct source *ag)
{
	fprintf(f, "{\"time\":%lld,", (long long)now);
	print_ports(f, pc, bpf->state > 0 ? n : 0);
	fprintf(f, ",\"telemetry\":\"%s\",\"telemetry_error\":",
		bpf->state > 0	  ? "ok"
		: bpf->state == 0 ? "absent"
				  : "error");
	if (bpf->state > 0)
		fprintf(f, "null");
	else
		json_str(f, bpf->why);
	fprintf(f, ",\"agent\":");
	if (ag->state > 0 && agent)
		/* Checked by ks_metrics_from_json(): one JSON object, ending in a newline. */
		fprintf(f, "%.*s", (int)strcspn(agent, "\n"), agent);
	else
		fprintf(f, "null");
	fprintf(f, ",\"agent_error\":");
	if (ag->state > 0)
		fprintf(f, "null");
	else
		json_str(f, ag->why);
	fprintf(f, "}\n");
}

static int show(const struct opts *o, const char *path)
{
	struct ks_port_counters pc[KS_BPF_MAX_PORTS];
	struct source bpf = { 0 }, ag = { 0 };
	struct ks_metrics_snapshot snap;
	struct ks_metrics_arena *arena = NULL;
	time_t now = time(NULL);
	char stamp[32], *agent = NULL;
	int n;

	n = read_bpf(pc, KS_ARRAY_SIZE(pc), &bpf);
	read_agent(path, &snap, &arena, &agent, &ag);
	if (o->json) {
		print_merged(stdout, pc, n, now, &bpf, agent, &ag);
	} else {
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
		if (bpf.state > 0) {
			printf("ClientHellos per port (since first attach), %s\n", stamp);
			print_table(stdout, pc, n);
		} else {
			printf("ClientHellos per port: %s\n", bpf.why);
		}
		printf("\n");
		if (ag.state > 0)
			ks_metrics_table(stdout, &snap);
		else
			printf("Agent: %s\n", ag.why);
	}
	fflush(stdout);
	ks_metrics_snapshot_free(arena);
	free(agent);
	if (bpf.state > 0 || ag.state > 0)
		return KS_EXIT_OK;
	if (bpf.state < 0 || ag.state < 0) {
		ks_err("stats: %s", bpf.state < 0 ? bpf.why : ag.why);
		return KS_EXIT_IOERR;
	}
	ks_err("stats: nothing to show: %s; %s", bpf.why, ag.why);
	return KS_EXIT_NOINPUT;
}

#define USAGE "usage: kstaple stats [--json] [--watch SECONDS] [-c FILE | --socket PATH]\n"

static int usage_help(void)
{
	printf(USAGE
	       "\n"
	       "Per watched TCP port: TLS ClientHellos seen by the eBPF program (kstaple\n"
	       "telemetry attach, or serve with [telemetry]), how many asked for an OCSP staple\n"
	       "(status_request), how many did not, status_request_v2, second hellos after\n"
	       "HelloRetryRequest, unclassified ones by reason, and the stapling-demand ratio.\n"
	       "Read from the pinned maps: works without the agent.\n"
	       "When kstaple serve answers on its control socket, also its counters: handshakes\n"
	       "per listener and certificate (asked, stapled, or why not), each certificate's\n"
	       "OCSP response (expiry, age) and fetches (failures by reason), connections.\n\n"
	       "  --json            one JSON object: ports, and the agent's snapshot as \"agent\"\n"
	       "  --watch SECONDS   print again every SECONDS until interrupted\n"
	       "  -c, --config FILE the agent's configuration: its control_socket (default:\n"
	       "                    " DEFAULT_CONFIG " when it exists)\n"
	       "  --socket PATH     the control socket (default: control.sock in state_dir,\n"
	       "                    " DEFAULT_SOCKET ")\n\n"
	       "exit status: 0 something to show, 64 usage, 66 neither pinned maps nor an agent,\n"
	       "74 maps or agent unreadable, 78 FILE does not load\n");
	return KS_EXIT_OK;
}

int ks_cmd_stats(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "watch", required_argument, NULL, 'w' },
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { 0 };
	char *end, *path;
	int opt, rc;

	optind = 0; /* glibc: full reinitialisation */
	while ((opt = getopt_long(argc, argv, "jw:c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			o.json = true;
			break;
		case 'w':
			o.watch = strtol(optarg, &end, 10);
			if (end == optarg || *end || o.watch < 1 || o.watch > 86400) {
				ks_err("stats: --watch takes a number of seconds (1..86400)");
				return KS_EXIT_USAGE;
			}
			break;
		case 'c':
			o.config = optarg;
			break;
		case 's':
			o.socket = optarg;
			break;
		case 'h':
			return usage_help();
		default:
			fprintf(stderr, USAGE);
			return KS_EXIT_USAGE;
		}
	}
	if (optind != argc || (o.config && o.socket)) {
		fprintf(stderr, USAGE);
		return KS_EXIT_USAGE;
	}
	rc = control_path(&o, &path);
	if (rc < 0)
		return rc == -ENOMEM ? KS_EXIT_SOFTWARE : KS_EXIT_CONFIG;
	for (;;) {
		rc = show(&o, path);
		if (rc != KS_EXIT_OK || !o.watch)
			break;
		sleep((unsigned int)o.watch);
		if (!o.json)
			printf("\n");
	}
	free(path);
	return rc;
}

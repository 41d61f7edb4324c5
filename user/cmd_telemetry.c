// SPDX-License-Identifier: MIT
/* `kstaple telemetry attach|detach|status`: the BPF classifier without `serve`. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "kstaple/log.h"
#include "kstaple/cmd.h"
#include "kstaple/telemetry.h"

#define MAX_IFACES 16

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kstaple telemetry attach --interface IF[,IF...] --port P[,P...]\n"
		"       kstaple telemetry detach [--interface IF[,IF...]]\n"
		"       kstaple telemetry status\n\n"
		"Count, per TCP destination port, the TLS ClientHellos that ask for an OCSP\n"
		"staple (status_request) and those that do not, with an eBPF program at tc\n"
		"ingress, for kstaple or any other TLS server on the host. Read the counts\n"
		"with `kstaple stats`. Needs root (CAP_BPF and CAP_NET_ADMIN).\n\n"
		"  attach   load the program (once) and attach it to each interface; --port\n"
		"           sets the watched ports to exactly that list. A clsact qdisc is\n"
		"           created only where none exists.\n"
		"  detach   remove our filter (from every interface, or those given); the qdisc\n"
		"           goes only if attach created it\n"
		"  status   where the program is attached and which ports it watches\n\n"
		"Counters live in maps pinned under %s ($KSTAPLE_BPF_PIN_DIR) and\n"
		"survive restarts.\n"
		"exit status: 0, 64 usage, 66 never attached, 70 attach failed\n",
		ks_telemetry_pin_dir());
}

/* Split "lo,eth0" in place; count or -EINVAL. */
static int split_ifaces(char *s, char **out, size_t max)
{
	size_t n = 0;
	char *save = NULL, *tok;

	for (tok = strtok_r(s, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		ENSURE(n < max && strlen(tok) < 16, -EINVAL);
		out[n++] = tok;
	}
	ENSURE(n > 0, -EINVAL);
	return (int)n;
}

static int do_attach(char **ifs, int nifs, const uint16_t *ports, int nports)
{
	struct ks_telemetry *t = NULL;
	int i, err;

	err = ks_telemetry_load(&t);
	if (err < 0) {
		ks_err("telemetry: cannot load the classifier: %s", strerror(-err));
		return KS_EXIT_SOFTWARE;
	}
	err = ks_telemetry_set_ports(t, ports, (size_t)nports);
	if (err < 0)
		ks_err("telemetry: cannot set the watched ports: %s", strerror(-err));
	for (i = 0; err == 0 && i < nifs; i++)
		err = ks_telemetry_attach(t, ifs[i]);
	ks_telemetry_close(t);
	return err < 0 ? KS_EXIT_SOFTWARE : KS_EXIT_OK;
}

static int do_detach(char **ifs, int nifs)
{
	struct ks_attach_info info[KS_BPF_MAX_IFACES];
	int i, n, err, rc = KS_EXIT_OK;

	if (nifs == 0) {
		n = ks_telemetry_attachments(info, KS_ARRAY_SIZE(info));
		if (n < 0) {
			ks_err("telemetry: nothing attached (%s: %s)", ks_telemetry_pin_dir(),
			       strerror(-n));
			return KS_EXIT_NOINPUT;
		}
		for (i = 0; i < n; i++)
			if (ks_telemetry_detach(info[i].ifname) < 0)
				rc = KS_EXIT_SOFTWARE;
		return rc;
	}
	for (i = 0; i < nifs; i++) {
		err = ks_telemetry_detach(ifs[i]);
		if (err == -ENOENT)
			ks_err("telemetry: %s was not attached by kstaple", ifs[i]);
		if (err < 0)
			rc = KS_EXIT_SOFTWARE;
	}
	return rc;
}

static int do_status(void)
{
	struct ks_attach_info info[KS_BPF_MAX_IFACES];
	uint16_t ports[KS_BPF_MAX_PORTS];
	int i, n, np;

	printf("pin directory: %s\n", ks_telemetry_pin_dir());
	np = ks_telemetry_ports(ports, KS_ARRAY_SIZE(ports));
	n = ks_telemetry_attachments(info, KS_ARRAY_SIZE(info));
	if (np < 0 || n < 0) {
		printf("not attached (no pinned maps)\n");
		return KS_EXIT_OK;
	}
	printf("ports:");
	for (i = 0; i < np; i++)
		printf("%s%u", i ? "," : " ", ports[i]);
	printf("%s\n", np ? "" : " none");
	for (i = 0; i < n; i++) {
		if (info[i].live)
			printf("interface %s (ifindex %u): attached, prog id %u%s\n",
			       info[i].ifname, info[i].ifindex, info[i].prog_id,
			       info[i].created_qdisc ? ", clsact qdisc ours" : "");
		else
			printf("interface %s (ifindex %u): recorded but not attached "
			       "(interface gone or filter removed)\n",
			       info[i].ifname, info[i].ifindex);
	}
	if (n == 0)
		printf("no interface attached\n");
	return KS_EXIT_OK;
}

int ks_cmd_telemetry(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "interface", required_argument, NULL, 'i' },
		{ "port", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint16_t ports[KS_BPF_MAX_PORTS];
	char *ifs[MAX_IFACES];
	const char *action;
	int nports = 0, nifs = 0, opt;

	if (argc < 2) {
		usage(stderr);
		return KS_EXIT_USAGE;
	}
	action = argv[1];
	if (strcmp(action, "--help") == 0 || strcmp(action, "-h") == 0) {
		usage(stdout);
		return KS_EXIT_OK;
	}
	optind = 0; /* glibc: full reinitialisation */
	while ((opt = getopt_long(argc - 1, argv + 1, "i:p:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			nifs = split_ifaces(optarg, ifs, KS_ARRAY_SIZE(ifs));
			break;
		case 'p':
			nports = ks_telemetry_parse_ports(optarg, ports, KS_ARRAY_SIZE(ports));
			break;
		case 'h':
			usage(stdout);
			return KS_EXIT_OK;
		default:
			usage(stderr);
			return KS_EXIT_USAGE;
		}
		if (nifs < 0 || nports < 0) {
			ks_err("telemetry: bad value for --%s: %s",
			       opt == 'i' ? "interface" : "port", optarg);
			return KS_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return KS_EXIT_USAGE;
	}
	if (strcmp(action, "attach") == 0) {
		if (nifs == 0 || nports == 0) {
			ks_err("telemetry attach needs --interface and --port");
			return KS_EXIT_USAGE;
		}
		return do_attach(ifs, nifs, ports, nports);
	}
	if (strcmp(action, "detach") == 0)
		return do_detach(ifs, nifs);
	if (strcmp(action, "status") == 0)
		return do_status();
	usage(stderr);
	return KS_EXIT_USAGE;
}

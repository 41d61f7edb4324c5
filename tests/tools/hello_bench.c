// SPDX-License-Identifier: MIT
/*
 * Per-packet cost of bpf/hello.bpf.c, measured in the kernel with bpf_prog_test_run_opts and
 * repeat (the kernel reports the mean time per run). Cases:
 *   udp           not TCP: header parse only
 *   tcp-unwatched TCP to a port not in the ports map: + one hash lookup
 *   tcp-data      payload on a watched port of a connection with no parse state (established
 *                 traffic, or non-TLS): + one LRU lookup that misses
 *   syn           SYN on a watched port: creates the flow state
 *   syn+hello     a SYN carrying a whole ClientHello (TCP Fast Open form): create, parse,
 *                 count, delete in one run, so every repetition parses the full hello; the
 *                 ClientHello's own cost is syn+hello - syn.
 *
 * usage: hello_bench [--repeat N]      (ClientHellos from $KS_HELLO_FIXTURES)
 * Prints one line per case: "name ns_per_packet". Exit 77 when BPF cannot be loaded.
 */
#include <getopt.h>

#include "../unit/helpers/hello_testlib.h"
#include "hello.skel.h"

static uint8_t pkt[4096];

static int measure(int prog, const uint8_t *p, size_t n, unsigned int repeat, double *ns)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p, .data_size_in = (__u32)n, .repeat = repeat);
	unsigned int best = ~0u;
	int i;

	/* best of 15: the machine is shared, the minimum is the program's cost */
	for (i = 0; i < 15; i++) {
		if (bpf_prog_test_run_opts(prog, &o) < 0)
			return -errno;
		if (o.retval != 0)
			return -EPROTO;
		if (o.duration < best)
			best = o.duration;
	}
	*ns = best;
	return 0;
}

static int report(int prog, const char *name, size_t n, unsigned int repeat)
{
	double ns = 0;
	int err = measure(prog, pkt, n, repeat, &ns);

	if (err < 0) {
		fprintf(stderr, "hello_bench: %s: %s\n", name, strerror(-err));
		return err;
	}
	printf("%-28s %8.1f ns/packet\n", name, ns);
	return 0;
}

/*
 * The ClientHello packet alone: a copy of the program loaded with ks_bench_keep_state, so the
 * state one SYN created is parsed again by every repetition.
 */
static int hello_only(const struct tl_fixture *fx, int n, unsigned int repeat)
{
	struct tl_flow f = { .sport = 40001, .dport = 443, .isn = 1 };
	struct hello_bpf *skel = hello_bpf__open();
	int prog, i, err = 0;
	char name[128];
	size_t len;

	if (!skel)
		return -errno;
	skel->rodata->ks_bench_keep_state = 1;
	if (hello_bpf__load(skel) < 0 || tl_watch(bpf_map__fd(skel->maps.ks_ports),
						  bpf_map__fd(skel->maps.ks_port_bits), 443) < 0) {
		hello_bpf__destroy(skel);
		return -EINVAL;
	}
	prog = bpf_program__fd(skel->progs.ks_hello);
	for (i = 0; i < n; i++) {
		if (strcmp(fx[i].name, "openssl-status") && strcmp(fx[i].name, "chromium") &&
		    strcmp(fx[i].name, "java"))
			continue;
		f.sport++;
		len = tl_packet(pkt, sizeof(pkt), &f, f.isn, TL_SYN, NULL, 0);
		if (tl_run(prog, pkt, len) != 0) {
			err = -EPROTO;
			break;
		}
		len = tl_packet(pkt, sizeof(pkt), &f, f.isn + 1, TL_ACK | TL_PSH, fx[i].data,
				fx[i].len);
		snprintf(name, sizeof(name), "hello %.40s (%zu B)", fx[i].name, fx[i].len);
		err |= report(prog, name, len, repeat);
	}
	hello_bpf__destroy(skel);
	return err;
}

static int quiet(enum libbpf_print_level l, const char *fmt, va_list ap)
{
	(void)l, (void)fmt, (void)ap;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "repeat", required_argument, NULL, 'r' },
					      { NULL, 0, NULL, 0 } };
	static struct tl_fixture fx[32];
	struct tl_flow f = { .sport = 40000, .dport = 443, .isn = 1 };
	unsigned int repeat = 200000;
	struct hello_bpf *skel;
	uint16_t port = 443;
	int prog, opt, n, i, err = 0;
	char name[128];
	size_t len;

	while ((opt = getopt_long(argc, argv, "r:", opts, NULL)) != -1) {
		if (opt != 'r')
			return 64;
		repeat = (unsigned int)strtoul(optarg, NULL, 0);
	}
	libbpf_set_print(quiet);
	skel = hello_bpf__open_and_load();
	if (!skel) {
		printf("hello_bench: skipped: cannot load the BPF program: %s\n", strerror(errno));
		return 77;
	}
	prog = bpf_program__fd(skel->progs.ks_hello);
	if (tl_watch(bpf_map__fd(skel->maps.ks_ports), bpf_map__fd(skel->maps.ks_port_bits), port) <
	    0)
		return 1;

	/* UDP: the IPv4 protocol byte of a TCP packet changed to 17 */
	len = tl_packet(pkt, sizeof(pkt), &f, 1, TL_ACK, (const uint8_t *)"hello", 5);
	pkt[14 + 9] = 17;
	err |= report(prog, "udp", len, repeat);
	f.dport = 444;
	len = tl_packet(pkt, sizeof(pkt), &f, 1, TL_ACK, (const uint8_t *)"hello", 5);
	err |= report(prog, "tcp-unwatched", len, repeat);
	f.dport = 443;
	len = tl_packet(pkt, sizeof(pkt), &f, 12345, TL_ACK | TL_PSH, (const uint8_t *)"x", 1);
	err |= report(prog, "tcp-data (no state)", len, repeat);
	f.v6 = true;
	len = tl_packet(pkt, sizeof(pkt), &f, 12345, TL_ACK | TL_PSH, (const uint8_t *)"x", 1);
	err |= report(prog, "tcp-data (no state, IPv6)", len, repeat);
	f.v6 = false;
	len = tl_packet(pkt, sizeof(pkt), &f, 1, TL_SYN, NULL, 0);
	err |= report(prog, "syn", len, repeat);

	n = tl_load_fixtures(fx, 32);
	for (i = 0; i < n; i++) {
		if (strcmp(fx[i].name, "openssl-status") && strcmp(fx[i].name, "chromium") &&
		    strcmp(fx[i].name, "java"))
			continue;
		len = tl_packet(pkt, sizeof(pkt), &f, 1, TL_SYN, fx[i].data, fx[i].len);
		snprintf(name, sizeof(name), "syn+hello %.40s (%zu B)", fx[i].name, fx[i].len);
		err |= report(prog, name, len, repeat / 4);
	}
	if (n <= 0)
		fprintf(stderr, "hello_bench: no fixtures in %s\n", tl_fixture_dir());
	hello_bpf__destroy(skel);
	if (n > 0)
		err |= hello_only(fx, n, repeat / 4);
	return err ? 1 : 0;
}

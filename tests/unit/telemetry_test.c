// SPDX-License-Identifier: MIT
/* user/telemetry.c: option parsing, pinned maps, per-CPU sums, reuse across loads. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <unistd.h>

#include "kstaple/log.h"
#include "kstaple/telemetry.h"

Test(telemetry, parse_ports)
{
	uint16_t p[4];

	cr_assert_eq(ks_telemetry_parse_ports("443", p, 4), 1);
	cr_assert_eq(p[0], 443);
	cr_assert_eq(ks_telemetry_parse_ports("443, 8443,1", p, 4), 3);
	cr_assert_eq(p[1], 8443);
	cr_assert_eq(p[2], 1);
	cr_assert_eq(ks_telemetry_parse_ports("", p, 4), -EINVAL);
	cr_assert_eq(ks_telemetry_parse_ports("0", p, 4), -EINVAL);
	cr_assert_eq(ks_telemetry_parse_ports("65536", p, 4), -EINVAL);
	cr_assert_eq(ks_telemetry_parse_ports("443x", p, 4), -EINVAL);
	cr_assert_eq(ks_telemetry_parse_ports("-1", p, 4), -EINVAL);
	cr_assert_eq(ks_telemetry_parse_ports("1,2,3,4,5", p, 4), -EINVAL);
}

Test(telemetry, demand_ratio)
{
	struct ks_hello_counters c = { 0 };

	cr_assert_lt(ks_telemetry_demand_ratio(&c), 0.0);
	cr_assert_lt(ks_telemetry_demand_ratio(NULL), 0.0);
	c.hellos = 4;
	c.status_request = 1;
	cr_assert_float_eq(ks_telemetry_demand_ratio(&c), 0.25, 1e-9);
}

Test(telemetry, pin_dir_and_missing_maps)
{
	struct ks_port_counters pc[2];
	struct ks_attach_info ai[2];
	uint16_t ports[2];

	cr_assert_eq(ks_telemetry_set_pin_dir("relative"), -EINVAL);
	cr_assert_eq(ks_telemetry_set_pin_dir("/nonexistent/kstaple-unit"), 0);
	cr_assert_str_eq(ks_telemetry_pin_dir(), "/nonexistent/kstaple-unit");
	cr_assert_eq(ks_telemetry_read(pc, 2), -ENOENT);
	cr_assert_eq(ks_telemetry_ports(ports, 2), -ENOENT);
	cr_assert_eq(ks_telemetry_attachments(ai, 2), -ENOENT);
	cr_assert_eq(ks_telemetry_detach("lo"), -ENOENT);
	cr_assert_eq(ks_telemetry_set_pin_dir(NULL), 0);
}

static char dir[128];

static void rm_pins(void)
{
	static const char *const maps[] = { KS_MAP_PORTS, KS_MAP_PORT_BITS, KS_MAP_COUNTERS,
					    KS_MAP_FLOWS, KS_MAP_ATTACH };
	char path[256];

	for (size_t i = 0; i < KS_ARRAY_SIZE(maps); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, maps[i]);
		unlink(path);
	}
	rmdir(dir);
}

/* Counters written straight into the pinned per-CPU map are summed, and survive a reload. */
Test(telemetry, pinned_counters_sum_and_survive_reload)
{
	struct ks_telemetry *t = NULL;
	struct ks_port_counters pc[4];
	struct ks_hello_counters *v;
	uint16_t ports[] = { 8443, 443 }, got[4], p443 = 443;
	char path[256];
	int ncpu, fd, err, i;

	if (geteuid() != 0)
		cr_skip_test("needs root to load BPF programs");
	snprintf(dir, sizeof(dir), "/sys/fs/bpf/kstaple-unit-%d", (int)getpid());
	cr_assert_eq(ks_telemetry_set_pin_dir(dir), 0);
	ks_log_set_stream(fopen("/dev/null", "w")); /* the expected "no interface" error */
	err = ks_telemetry_load(&t);
	if (err < 0)
		cr_skip_test("cannot load the BPF program here: %s", strerror(-err));
	cr_assert_eq(ks_telemetry_set_ports(t, ports, 2), 0);
	cr_assert_eq(ks_telemetry_set_ports(t, ports, 0), -EINVAL);
	cr_assert_eq(ks_telemetry_ports(got, 4), 2);
	cr_assert_eq(got[0], 443); /* sorted */
	cr_assert_eq(got[1], 8443);
	cr_assert_eq(ks_telemetry_attach(t, "no-such-if0"), -ENODEV);
	ks_telemetry_close(t);

	ncpu = libbpf_num_possible_cpus();
	cr_assert_gt(ncpu, 0);
	v = calloc((size_t)ncpu, sizeof(*v));
	cr_assert_not_null(v);
	for (i = 0; i < ncpu; i++) {
		v[i].hellos = 3;
		v[i].status_request = 2;
		v[i].no_status_request = 1;
		v[i].unclassified_short = (uint64_t)i;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, KS_MAP_COUNTERS);
	fd = bpf_obj_get(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bpf_map_update_elem(fd, &p443, v, BPF_EXIST), 0);
	close(fd);
	free(v);

	/* A second load reuses the pinned maps: the counts are still there. */
	cr_assert_eq(ks_telemetry_load(&t), 0);
	cr_assert_eq(ks_telemetry_set_ports(t, &p443, 1), 0); /* 8443 unwatched, counters kept */
	ks_telemetry_close(t);
	cr_assert_eq(ks_telemetry_ports(got, 4), 1);
	cr_assert_eq(ks_telemetry_read(pc, 4), 2);
	cr_assert_eq(pc[0].port, 443);
	cr_assert_eq(pc[0].c.hellos, 3ull * (unsigned)ncpu);
	cr_assert_eq(pc[0].c.status_request, 2ull * (unsigned)ncpu);
	cr_assert_eq(pc[0].c.unclassified_short, (unsigned)(ncpu * (ncpu - 1) / 2));
	cr_assert_eq(pc[1].port, 8443);
	cr_assert_eq(pc[1].c.hellos, 0);
	cr_assert_eq(ks_telemetry_read(pc, 1), 1);
	rm_pins();
}

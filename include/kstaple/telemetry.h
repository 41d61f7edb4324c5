/* SPDX-License-Identifier: MIT */
/*
 * eBPF ClientHello telemetry: loads bpf/hello.bpf.c, pins its maps under the pin directory
 * (KS_BPF_PIN_DIR, or $KSTAPLE_BPF_PIN_DIR), attaches it at tc ingress of interfaces, and
 * reads the per-port counters back.
 *
 * The tc filters outlive the process that attached them (the kernel holds the program) and
 * the counters live in pinned maps, so `kstaple telemetry attach` can exit, an agent can be
 * restarted without losing counts, and `kstaple stats` / a metrics module read the counters
 * with ks_telemetry_read() without loading anything.
 */
#ifndef KSTAPLE_TELEMETRY_H
#define KSTAPLE_TELEMETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kstaple/bpf_abi.h"
#include "kstaple/common.h"

/* Counters of one watched port, summed over CPUs. */
struct ks_port_counters {
	uint16_t port;
	struct ks_hello_counters c;
};

/* One interface `attach` recorded in the pinned attach map. */
struct ks_attach_info {
	uint32_t ifindex;
	char ifname[16];
	bool created_qdisc; /* detach destroys the clsact qdisc (we created it) */
	bool live;	    /* our filter is attached there right now */
	uint32_t prog_id;   /* of the attached filter when live */
};

/* The pin directory in use: $KSTAPLE_BPF_PIN_DIR, else KS_BPF_PIN_DIR. */
const char *ks_telemetry_pin_dir(void);
/* Override the pin directory (tests); NULL restores the default. The string is copied. */
KS_MUST_CHECK int ks_telemetry_set_pin_dir(const char *dir);

/* Route libbpf's messages into ks_log (idempotent; ks_telemetry_load calls it). */
void ks_telemetry_route_libbpf_log(void);

/*
 * Per-port counters from the pinned maps, sorted by port: one call for a metrics module.
 * Returns the number of entries written to out (at most max), -ENOENT when nothing was ever
 * attached (no pinned maps), or another negative errno.
 */
KS_MUST_CHECK int ks_telemetry_read(struct ks_port_counters *out, size_t max);

/*
 * The same through a descriptor kept open: the agent opens the pinned counters map before it
 * drops privileges (the pin is root's, mode 0600) and reads it on every scrape afterwards.
 * open: fd or negative errno (-ENOENT: nothing pinned). read_fd: as ks_telemetry_read.
 */
KS_MUST_CHECK int ks_telemetry_open_counters(void);
KS_MUST_CHECK int ks_telemetry_read_fd(int fd, struct ks_port_counters *out, size_t max);

/* Ports currently watched (the pinned ports map), sorted. Count or negative errno. */
KS_MUST_CHECK int ks_telemetry_ports(uint16_t *out, size_t max);

/* Interfaces recorded by attach. Count or negative errno (-ENOENT: never attached). */
KS_MUST_CHECK int ks_telemetry_attachments(struct ks_attach_info *out, size_t max);

/* A loaded program whose maps are pinned (reused when already pinned). */
struct ks_telemetry;

/* Load the program, creating or reusing the pinned maps (mounts bpffs if needed). */
KS_MUST_CHECK int ks_telemetry_load(struct ks_telemetry **out);
void ks_telemetry_close(struct ks_telemetry *t);

/* Make the watched ports exactly ports[0..n) (1..KS_BPF_MAX_PORTS); counters are kept. */
KS_MUST_CHECK int ks_telemetry_set_ports(struct ks_telemetry *t, const uint16_t *ports, size_t n);

/*
 * Attach at tc ingress of ifname (replacing our own filter if present). Creates the clsact
 * qdisc if the interface has none and records that, so detach removes only what we added.
 */
KS_MUST_CHECK int ks_telemetry_attach(struct ks_telemetry *t, const char *ifname);

/*
 * Remove our filter from ifname; destroy the clsact qdisc only if attach created it. Needs no
 * loaded program. -ENOENT if attach never recorded ifname.
 */
KS_MUST_CHECK int ks_telemetry_detach(const char *ifname);

/* Parse "443,8443" (also spaces) into ports; count or -EINVAL. */
KS_MUST_CHECK int ks_telemetry_parse_ports(const char *s, uint16_t *out, size_t max);

/* hellos with status_request / hellos, or -1.0 when there were no hellos. */
double ks_telemetry_demand_ratio(const struct ks_hello_counters *c);

#endif /* KSTAPLE_TELEMETRY_H */

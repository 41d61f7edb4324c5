// SPDX-License-Identifier: MIT
/* eBPF ClientHello telemetry: load, pin, attach, read; see include/kstaple/telemetry.h. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "hello.skel.h"
#include "kstaple/log.h"
#include "kstaple/telemetry.h"

/*
 * The object is opened from the bytes the skeleton embeds, with maps and program found by
 * name: the skeleton's generated open/load code is not used (static analysers flag it).
 */
struct ks_telemetry {
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_map *ports, *port_bits, *counters, *flows, *attach;
};

static const char *const pinned_maps[] = { KS_MAP_PORTS, KS_MAP_PORT_BITS, KS_MAP_COUNTERS,
					   KS_MAP_FLOWS, KS_MAP_ATTACH };

static char pin_dir_override[256];

const char *ks_telemetry_pin_dir(void)
{
	const char *env = getenv("KSTAPLE_BPF_PIN_DIR");

	if (pin_dir_override[0])
		return pin_dir_override;
	return env && env[0] ? env : KS_BPF_PIN_DIR;
}

int ks_telemetry_set_pin_dir(const char *dir)
{
	if (!dir) {
		pin_dir_override[0] = '\0';
		return 0;
	}
	size_t n = strlen(dir);

	ENSURE(dir[0] == '/' && n < sizeof(pin_dir_override), -EINVAL);
	memcpy(pin_dir_override, dir, n + 1);
	return 0;
}

static int libbpf_to_ks_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[1024];
	size_t n;

	/* libbpf's info/debug lines (and verifier logs on success) are for debugging only. */
	if (level != LIBBPF_WARN && ks_log_get_level() < KS_LOG_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	/* bpf_tc_hook_create() on an interface that already has clsact: expected, not a fault */
	if (strstr(line, "Exclusivity flag on"))
		level = LIBBPF_DEBUG;
	if (level != LIBBPF_WARN && ks_log_get_level() < KS_LOG_DEBUG)
		return 0;
	/* libbpf starts most lines with "libbpf: " itself */
	ks_log(level == LIBBPF_WARN ? KS_LOG_WARN : KS_LOG_DEBUG, "%s%s",
	       strncmp(line, "libbpf: ", 8) ? "libbpf: " : "", line);
	return 0;
}

void ks_telemetry_route_libbpf_log(void)
{
	libbpf_set_print(libbpf_to_ks_log);
}

static int map_path(const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", ks_telemetry_pin_dir(), name);

	ENSURE(n > 0 && (size_t)n < len, -ENAMETOOLONG);
	return 0;
}

static int open_pinned(const char *name)
{
	char path[320];
	int fd;

	TRY(map_path(name, path, sizeof(path)));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	return fd;
}

/* The pin directory must be on a bpffs; mount one on /sys/fs/bpf if the system has none. */
static int ensure_pin_dir(void)
{
	const char *dir = ks_telemetry_pin_dir();
	char parent[256];
	struct statfs sfs;
	char *slash;

	ENSURE(strlen(dir) < sizeof(parent), -ENAMETOOLONG);
	memcpy(parent, dir, strlen(dir) + 1);
	slash = strrchr(parent, '/');
	ENSURE(slash && slash != parent, -EINVAL);
	*slash = '\0';
	if (statfs(parent, &sfs) < 0)
		return -errno;
	if (sfs.f_type != BPF_FS_MAGIC) {
		if (strcmp(parent, "/sys/fs/bpf") != 0) {
			ks_err("telemetry: %s is not a bpf filesystem", parent);
			return -ENOTSUP;
		}
		if (mount("bpf", parent, "bpf", 0, "mode=0700") < 0) {
			ks_err("telemetry: cannot mount bpffs on %s: %s", parent, strerror(errno));
			return -errno;
		}
		ks_info("telemetry: mounted bpffs on %s", parent);
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int sum_counters(int fd, uint16_t port, struct ks_hello_counters *sum)
{
	int ncpu = libbpf_num_possible_cpus(), i;
	struct ks_hello_counters *vals;

	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	vals = calloc((size_t)ncpu, sizeof(*vals)); /* 8-byte multiple: no per-CPU padding */
	if (!vals)
		return -ENOMEM;
	memset(sum, 0, sizeof(*sum));
	if (bpf_map_lookup_elem(fd, &port, vals) < 0) {
		i = -errno;
		free(vals);
		return i;
	}
	for (i = 0; i < ncpu; i++) {
		sum->hellos += vals[i].hellos;
		sum->status_request += vals[i].status_request;
		sum->no_status_request += vals[i].no_status_request;
		sum->status_request_v2 += vals[i].status_request_v2;
		sum->hrr_hellos += vals[i].hrr_hellos;
		sum->unclassified_malformed += vals[i].unclassified_malformed;
		sum->unclassified_short += vals[i].unclassified_short;
		sum->unclassified_non_tls += vals[i].unclassified_non_tls;
		sum->unclassified_too_long += vals[i].unclassified_too_long;
	}
	free(vals);
	return 0;
}

static int cmp_port(const void *a, const void *b)
{
	return (int)((const struct ks_port_counters *)a)->port -
	       (int)((const struct ks_port_counters *)b)->port;
}

static int cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* Keys of a u16-keyed map, unsorted. Count or negative errno. */
static int map_ports(int fd, uint16_t *out, size_t max)
{
	uint16_t key, next;
	size_t n = 0;
	void *prev = NULL;

	while (n < max && bpf_map_get_next_key(fd, prev, &next) == 0) {
		out[n++] = next;
		key = next;
		prev = &key;
	}
	return (int)n;
}

int ks_telemetry_open_counters(void)
{
	return open_pinned(KS_MAP_COUNTERS);
}

int ks_telemetry_read_fd(int fd, struct ks_port_counters *out, size_t max)
{
	uint16_t ports[KS_BPF_MAX_PORTS];
	int n, i, k = 0, err;

	ENSURE(fd >= 0 && (out || max == 0), -EINVAL);
	n = map_ports(fd, ports, KS_ARRAY_SIZE(ports));
	for (i = 0; i < n && (size_t)k < max; i++) {
		err = sum_counters(fd, ports[i], &out[k].c);
		if (err == -ENOENT) /* removed between the walk and the lookup */
			continue;
		if (err < 0)
			return err;
		out[k++].port = ports[i];
	}
	qsort(out, (size_t)k, sizeof(*out), cmp_port);
	return k;
}

int ks_telemetry_read(struct ks_port_counters *out, size_t max)
{
	int fd, n;

	ENSURE(out || max == 0, -EINVAL);
	fd = open_pinned(KS_MAP_COUNTERS);
	if (fd < 0)
		return fd;
	n = ks_telemetry_read_fd(fd, out, max);
	close(fd);
	return n;
}

int ks_telemetry_ports(uint16_t *out, size_t max)
{
	int fd = open_pinned(KS_MAP_PORTS), n;

	if (fd < 0)
		return fd;
	n = map_ports(fd, out, max);
	close(fd);
	qsort(out, (size_t)n, sizeof(*out), cmp_u16);
	return n;
}

static bool tc_live(uint32_t ifindex, uint32_t *prog_id)
{
	struct bpf_tc_hook hook = { .sz = sizeof(struct bpf_tc_hook),
				    .ifindex = (int)ifindex,
				    .attach_point = BPF_TC_INGRESS };
	struct bpf_tc_opts opts = { .sz = sizeof(struct bpf_tc_opts),
				    .handle = KS_TC_HANDLE,
				    .priority = KS_TC_PRIORITY };

	if (bpf_tc_query(&hook, &opts) < 0)
		return false;
	*prog_id = opts.prog_id;
	return true;
}

int ks_telemetry_attachments(struct ks_attach_info *out, size_t max)
{
	struct ks_attach_rec rec;
	uint32_t key, next;
	void *prev = NULL;
	int fd, n = 0;

	fd = open_pinned(KS_MAP_ATTACH);
	if (fd < 0)
		return fd;
	while ((size_t)n < max && bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &rec) < 0)
			continue;
		memset(&out[n], 0, sizeof(out[n]));
		out[n].ifindex = key;
		memcpy(out[n].ifname, rec.ifname, sizeof(out[n].ifname));
		out[n].ifname[sizeof(out[n].ifname) - 1] = '\0';
		out[n].created_qdisc = rec.created_qdisc != 0;
		out[n].live = tc_live(key, &out[n].prog_id);
		n++;
	}
	close(fd);
	return n;
}

static int open_object(struct ks_telemetry *t)
{
	struct bpf_object_open_opts opts = { .sz = sizeof(opts), .object_name = "hello_bpf" };
	const void *elf;
	size_t len;

	elf = hello_bpf__elf_bytes(&len);
	t->obj = bpf_object__open_mem(elf, len, &opts);
	if (!t->obj)
		return -errno;
	t->prog = bpf_object__find_program_by_name(t->obj, "ks_hello");
	t->ports = bpf_object__find_map_by_name(t->obj, KS_MAP_PORTS);
	t->port_bits = bpf_object__find_map_by_name(t->obj, KS_MAP_PORT_BITS);
	t->counters = bpf_object__find_map_by_name(t->obj, KS_MAP_COUNTERS);
	t->flows = bpf_object__find_map_by_name(t->obj, KS_MAP_FLOWS);
	t->attach = bpf_object__find_map_by_name(t->obj, KS_MAP_ATTACH);
	ENSURE(t->prog && t->ports && t->port_bits && t->counters && t->flows && t->attach,
	       -ENOENT);
	return 0;
}

int ks_telemetry_load(struct ks_telemetry **out)
{
	struct ks_telemetry *t;
	struct bpf_map *map;
	char path[320];
	int err;

	ks_telemetry_route_libbpf_log();
	TRY(ensure_pin_dir());
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	err = open_object(t);
	if (err < 0)
		goto fail;
	/*
	 * Pin the maps that hold state worth keeping (not the per-CPU scratch, not .rodata);
	 * libbpf reuses compatible pinned maps, so counts survive a restart or an upgrade.
	 */
	for (size_t i = 0; i < KS_ARRAY_SIZE(pinned_maps); i++) {
		map = bpf_object__find_map_by_name(t->obj, pinned_maps[i]);
		err = map ? map_path(pinned_maps[i], path, sizeof(path)) : -ENOENT;
		if (err == 0)
			err = bpf_map__set_pin_path(map, path);
		if (err < 0)
			goto fail;
	}
	err = bpf_object__load(t->obj);
	if (err < 0) {
		ks_err("telemetry: cannot load the BPF program (%s); if %s holds maps of an "
		       "older kstaple, remove that directory",
		       strerror(-err), ks_telemetry_pin_dir());
		goto fail;
	}
	*out = t;
	return 0;
fail:
	ks_telemetry_close(t);
	return err;
}

void ks_telemetry_close(struct ks_telemetry *t)
{
	if (!t)
		return;
	bpf_object__close(t->obj);
	free(t);
}

/* The bitmap the program tests, rebuilt from ports (a single-entry array update). */
static int set_port_bits(struct ks_telemetry *t, const uint16_t *ports, size_t n)
{
	struct ks_port_bits *bits = calloc(1, sizeof(*bits));
	uint32_t zero = 0;
	size_t i;
	int err = 0;

	if (!bits)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		bits->bits[ports[i] >> 6] |= 1ULL << (ports[i] & 63);
	if (bpf_map_update_elem(bpf_map__fd(t->port_bits), &zero, bits, BPF_ANY) < 0)
		err = -errno;
	free(bits);
	return err;
}

int ks_telemetry_set_ports(struct ks_telemetry *t, const uint16_t *ports, size_t n)
{
	int pfd, cfd, i, k, have_n;
	struct ks_port_conf on = { .enabled = 1 };
	uint16_t have[KS_BPF_MAX_PORTS];
	struct ks_hello_counters *zero;
	size_t j;
	bool keep;

	ENSURE(t && ports && n >= 1 && n <= KS_BPF_MAX_PORTS, -EINVAL);
	pfd = bpf_map__fd(t->ports);
	cfd = bpf_map__fd(t->counters);
	have_n = map_ports(pfd, have, KS_ARRAY_SIZE(have));
	for (i = 0; i < have_n; i++) {
		keep = false;
		for (j = 0; j < n; j++)
			keep |= ports[j] == have[i];
		if (!keep && bpf_map_delete_elem(pfd, &have[i]) < 0 && errno != ENOENT)
			return -errno;
	}
	k = libbpf_num_possible_cpus();
	if (k <= 0)
		return k < 0 ? k : -EINVAL;
	zero = calloc((size_t)k, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	for (j = 0; j < n; j++) {
		if (ports[j] == 0 || bpf_map_update_elem(pfd, &ports[j], &on, BPF_ANY) < 0) {
			free(zero);
			return ports[j] == 0 ? -EINVAL : -errno;
		}
		/* Counters start at zero once and then only grow (BPF_NOEXIST keeps old ones). */
		if (bpf_map_update_elem(cfd, &ports[j], zero, BPF_NOEXIST) < 0 && errno != EEXIST) {
			free(zero);
			return -errno;
		}
	}
	free(zero);
	return set_port_bits(t, ports, n);
}

static int attach_fd(void)
{
	return open_pinned(KS_MAP_ATTACH);
}

int ks_telemetry_attach(struct ks_telemetry *t, const char *ifname)
{
	struct bpf_tc_hook hook = { .sz = sizeof(struct bpf_tc_hook),
				    .attach_point = BPF_TC_INGRESS };
	struct bpf_tc_opts opts = { .sz = sizeof(struct bpf_tc_opts),
				    .handle = KS_TC_HANDLE,
				    .priority = KS_TC_PRIORITY,
				    .flags = BPF_TC_F_REPLACE };
	struct ks_attach_rec rec = { .handle = KS_TC_HANDLE, .priority = KS_TC_PRIORITY }, old;
	unsigned int ifindex;
	int err, afd;
	bool created;

	ENSURE(t && ifname && strlen(ifname) < sizeof(rec.ifname), -EINVAL);
	ifindex = if_nametoindex(ifname);
	if (!ifindex) {
		ks_err("telemetry: no interface %s", ifname);
		return -ENODEV;
	}
	hook.ifindex = (int)ifindex;
	err = bpf_tc_hook_create(&hook);
	if (err < 0 && err != -EEXIST) {
		ks_err("telemetry: cannot create a clsact qdisc on %s: %s", ifname, strerror(-err));
		return err;
	}
	created = err == 0;
	opts.prog_fd = bpf_program__fd(t->prog);
	err = bpf_tc_attach(&hook, &opts);
	if (err < 0) {
		ks_err("telemetry: cannot attach to %s ingress: %s", ifname, strerror(-err));
		if (created) {
			hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
			(void)bpf_tc_hook_destroy(&hook);
		}
		return err;
	}
	afd = bpf_map__fd(t->attach);
	/* Re-attaching: the qdisc exists now, but it is still ours if a first attach made it. */
	if (bpf_map_lookup_elem(afd, &ifindex, &old) == 0 && old.created_qdisc &&
	    strncmp(old.ifname, ifname, sizeof(old.ifname)) == 0)
		created = true;
	rec.created_qdisc = created;
	rec.prog_id = opts.prog_id;
	memcpy(rec.ifname, ifname, strlen(ifname)); /* < sizeof(rec.ifname), checked above */
	if (bpf_map_update_elem(afd, &ifindex, &rec, BPF_ANY) < 0)
		return -errno;
	ks_info("telemetry: attached to %s ingress (prog id %u%s)", ifname, opts.prog_id,
		created ? ", clsact qdisc created" : "");
	return 0;
}

int ks_telemetry_detach(const char *ifname)
{
	struct bpf_tc_hook hook = { .sz = sizeof(struct bpf_tc_hook),
				    .attach_point = BPF_TC_INGRESS };
	struct bpf_tc_opts opts = { .sz = sizeof(struct bpf_tc_opts),
				    .handle = KS_TC_HANDLE,
				    .priority = KS_TC_PRIORITY };
	struct ks_attach_rec rec;
	uint32_t key, next, found = 0;
	void *prev = NULL;
	int afd, err = 0;

	ENSURE(ifname, -EINVAL);
	afd = attach_fd();
	if (afd < 0)
		return afd;
	while (bpf_map_get_next_key(afd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(afd, &key, &rec) == 0 &&
		    strncmp(rec.ifname, ifname, sizeof(rec.ifname)) == 0) {
			found = key;
			break;
		}
	}
	if (!found) {
		close(afd);
		return -ENOENT;
	}
	hook.ifindex = (int)found;
	if (if_nametoindex(ifname) == found) {
		err = bpf_tc_detach(&hook, &opts);
		if (err == -ENOENT) /* someone removed it already */
			err = 0;
		/* Only a qdisc we created goes: destroying clsact drops every filter on it. */
		if (err == 0 && rec.created_qdisc) {
			hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
			err = bpf_tc_hook_destroy(&hook);
			if (err == -ENOENT || err == -EINVAL)
				err = 0;
		}
	}
	if (err < 0)
		ks_err("telemetry: cannot detach from %s: %s", ifname, strerror(-err));
	else if (bpf_map_delete_elem(afd, &found) < 0)
		err = -errno;
	else
		ks_info("telemetry: detached from %s%s", ifname,
			rec.created_qdisc ? " (clsact qdisc removed)" : "");
	close(afd);
	return err;
}

int ks_telemetry_parse_ports(const char *s, uint16_t *out, size_t max)
{
	size_t n = 0;
	char *end;
	long v;

	ENSURE(s && out, -EINVAL);
	while (*s) {
		if (*s == ',' || *s == ' ' || *s == '\t') {
			s++;
			continue;
		}
		errno = 0;
		v = strtol(s, &end, 10);
		ENSURE(end != s && errno == 0 && v >= 1 && v <= 65535 && n < max, -EINVAL);
		ENSURE(*end == '\0' || *end == ',' || *end == ' ' || *end == '\t', -EINVAL);
		out[n++] = (uint16_t)v;
		s = end;
	}
	ENSURE(n > 0, -EINVAL);
	return (int)n;
}

double ks_telemetry_demand_ratio(const struct ks_hello_counters *c)
{
	if (!c || c->hellos == 0)
		return -1.0;
	return (double)c->status_request / (double)c->hellos;
}

/* SPDX-License-Identifier: MIT */
/*
 * Test helpers for the ClientHello classifier (header-only: used by tests/unit/hello_*_test.c,
 * tests/tools/hello_fuzz.c and the benchmark): build ClientHellos and TLS records, wrap byte
 * streams in Ethernet/IPv4/IPv6/TCP packets, and run them through the BPF program with
 * bpf_prog_test_run_opts.
 */
#ifndef KSTAPLE_TEST_HELLO_TESTLIB_H
#define KSTAPLE_TEST_HELLO_TESTLIB_H

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kstaple/bpf_abi.h"

/* ---- ClientHello builder ---- */

struct tl_buf {
	uint8_t b[70000];
	size_t len;
};

static inline void tl_put(struct tl_buf *o, const void *p, size_t n)
{
	if (n && o->len + n <= sizeof(o->b)) {
		memcpy(o->b + o->len, p, n);
		o->len += n;
	}
}

static inline void tl_u8(struct tl_buf *o, unsigned int v)
{
	uint8_t x = (uint8_t)v;

	tl_put(o, &x, 1);
}

static inline void tl_u16(struct tl_buf *o, unsigned int v)
{
	tl_u8(o, v >> 8);
	tl_u8(o, v);
}

static inline void tl_u24(struct tl_buf *o, unsigned int v)
{
	tl_u8(o, v >> 16);
	tl_u16(o, v & 0xffff);
}

/* Append one extension (type, body). */
static inline void tl_ext(struct tl_buf *exts, unsigned int type, const void *body, size_t n)
{
	tl_u16(exts, type);
	tl_u16(exts, (unsigned int)n);
	tl_put(exts, body, n);
}

/* RFC 6066 §8 status_request, type ocsp, no responder ids, no extensions. */
static inline void tl_ext_status_request(struct tl_buf *exts)
{
	static const uint8_t body[] = { 1, 0, 0, 0, 0 };

	tl_ext(exts, 5, body, sizeof(body));
}

/* RFC 6961 status_request_v2 with one ocsp_multi item as Java sends it. */
static inline void tl_ext_status_request_v2(struct tl_buf *exts)
{
	static const uint8_t body[] = { 0, 7, 2, 0, 4, 0, 0, 0, 0 };

	tl_ext(exts, 17, body, sizeof(body));
}

/*
 * A ClientHello handshake message (header included) with the given extensions block body;
 * exts == NULL omits the extensions block (TLS 1.2 style).
 */
static inline void tl_hello(struct tl_buf *o, const struct tl_buf *exts, size_t pad_ciphers)
{
	size_t body = 2 + 32 + 1 + 32 + 2 + 2 + 2 * pad_ciphers + 2 + (exts ? 2 + exts->len : 0);
	size_t i;

	tl_u8(o, 1);
	tl_u24(o, (unsigned int)body);
	tl_u16(o, 0x0303);
	for (i = 0; i < 32; i++)
		tl_u8(o, 0xa0 + i); /* random */
	tl_u8(o, 32);
	for (i = 0; i < 32; i++)
		tl_u8(o, 0x50 + i); /* legacy_session_id */
	tl_u16(o, (unsigned int)(2 + 2 * pad_ciphers));
	tl_u16(o, 0x1301);
	for (i = 0; i < pad_ciphers; i++)
		tl_u16(o, 0xc02b);
	tl_u8(o, 1);
	tl_u8(o, 0);
	if (exts) {
		tl_u16(o, (unsigned int)exts->len);
		tl_put(o, exts->b, exts->len);
	}
}

/* Wrap handshake bytes into handshake records of at most frag bytes each. */
static inline void tl_records(struct tl_buf *o, const uint8_t *hs, size_t n, size_t frag)
{
	size_t k;

	while (n) {
		k = n < frag ? n : frag;
		tl_u8(o, 22);
		tl_u16(o, 0x0301);
		tl_u16(o, (unsigned int)k);
		tl_put(o, hs, k);
		hs += k;
		n -= k;
	}
}

static inline void tl_ccs(struct tl_buf *o)
{
	static const uint8_t ccs[] = { 20, 3, 3, 0, 1, 1 };

	tl_put(o, ccs, sizeof(ccs));
}

/* A standard hello stream: one record, optional status_request / v2, padded to ~size. */
static inline void tl_stream(struct tl_buf *o, bool sr, bool v2, size_t pad)
{
	static struct tl_buf exts, hs;
	static uint8_t zeros[4096];

	exts.len = 0;
	hs.len = 0;
	tl_ext(&exts, 0x0a0a, NULL, 0); /* GREASE */
	tl_ext(&exts, 0, "\x00\x0c\x00\x00\x09localhost", 14);
	if (sr)
		tl_ext_status_request(&exts);
	tl_ext(&exts, 43, "\x02\x03\x04", 3);
	if (v2)
		tl_ext_status_request_v2(&exts);
	if (pad)
		tl_ext(&exts, 21, zeros, pad < sizeof(zeros) ? pad : sizeof(zeros));
	tl_hello(&hs, &exts, 8);
	tl_records(o, hs.b, hs.len, KS_TLS_MAX_RECORD);
}

/* ---- packets ---- */

struct tl_flow {
	bool v6;
	uint16_t sport, dport;
	uint32_t isn;
};

/* Ethernet + IPv4/IPv6 + TCP (doff 5) carrying payload; returns the packet length. */
static inline size_t tl_packet(uint8_t *pkt, size_t cap, const struct tl_flow *f, uint32_t seq,
			       uint8_t tcp_flags, const uint8_t *payload, size_t n)
{
	size_t l3 = f->v6 ? 40 : 20, off = 14, tcp;
	uint8_t *ip;

	if (14 + l3 + 20 + n > cap)
		return 0;
	memset(pkt, 0, 14 + l3 + 20);
	pkt[12] = f->v6 ? 0x86 : 0x08;
	pkt[13] = f->v6 ? 0xdd : 0x00;
	memset(pkt, 0x02, 6);
	memset(pkt + 6, 0x04, 6);
	ip = pkt + off;
	if (f->v6) {
		ip[0] = 0x60;
		ip[4] = (uint8_t)((20 + n) >> 8);
		ip[5] = (uint8_t)(20 + n);
		ip[6] = 6;
		ip[7] = 64;
		ip[23] = 1; /* ::1 -> ::2 */
		ip[39] = 2;
	} else {
		ip[0] = 0x45;
		ip[2] = (uint8_t)((20 + 20 + n) >> 8);
		ip[3] = (uint8_t)(20 + 20 + n);
		ip[6] = 0x40; /* DF */
		ip[8] = 64;
		ip[9] = 6;
		ip[12] = 10, ip[15] = 1; /* 10.0.0.1 -> 10.0.0.2 */
		ip[16] = 10, ip[19] = 2;
	}
	tcp = off + l3;
	pkt[tcp + 0] = (uint8_t)(f->sport >> 8);
	pkt[tcp + 1] = (uint8_t)f->sport;
	pkt[tcp + 2] = (uint8_t)(f->dport >> 8);
	pkt[tcp + 3] = (uint8_t)f->dport;
	pkt[tcp + 4] = (uint8_t)(seq >> 24);
	pkt[tcp + 5] = (uint8_t)(seq >> 16);
	pkt[tcp + 6] = (uint8_t)(seq >> 8);
	pkt[tcp + 7] = (uint8_t)seq;
	pkt[tcp + 12] = 5 << 4;
	pkt[tcp + 13] = tcp_flags;
	pkt[tcp + 14] = 0xff;
	if (n)
		memcpy(pkt + tcp + 20, payload, n);
	return tcp + 20 + n;
}

#define TL_MAX_SEGMENT 2048

#define TL_FIN 0x01
#define TL_SYN 0x02
#define TL_RST 0x04
#define TL_PSH 0x08
#define TL_ACK 0x10

/* Watch port: add it to the ports map and to the bitmap the program tests. */
static inline int tl_watch(int ports_fd, int bits_fd, uint16_t port)
{
	static struct ks_port_bits bits;
	struct ks_port_conf on = { .enabled = 1 };
	uint32_t zero = 0;

	if (bpf_map_update_elem(ports_fd, &port, &on, 0) < 0 ||
	    bpf_map_lookup_elem(bits_fd, &zero, &bits) < 0)
		return -errno;
	bits.bits[port >> 6] |= 1ULL << (port & 63);
	return bpf_map_update_elem(bits_fd, &zero, &bits, 0) < 0 ? -errno : 0;
}

/* Run one packet through the program; returns its tc verdict or a negative errno. */
static inline int tl_run(int prog_fd, const uint8_t *pkt, size_t n)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = (__u32)n, .repeat = 1);
	int err = bpf_prog_test_run_opts(prog_fd, &o);

	return err < 0 ? -errno : (int)o.retval;
}

static inline int tl_send(int prog_fd, const struct tl_flow *f, uint32_t seq, uint8_t flags,
			  const uint8_t *payload, size_t n)
{
	static uint8_t pkt[70000];
	size_t len = tl_packet(pkt, sizeof(pkt), f, seq, flags, payload, n);

	return len ? tl_run(prog_fd, pkt, len) : -EMSGSIZE;
}

/*
 * One connection: SYN, the stream cut into segments at cuts[0..ncuts) (increasing offsets),
 * then FIN when fin. Returns 0 or the first error / non-OK verdict (as -EPROTO).
 */
static inline int tl_connection(int prog_fd, const struct tl_flow *f, const uint8_t *s, size_t n,
				const size_t *cuts, size_t ncuts, bool fin)
{
	size_t start = 0, i, end;
	int r;

	r = tl_send(prog_fd, f, f->isn, TL_SYN, NULL, 0);
	for (i = 0; r == 0 && i <= ncuts; i++) {
		end = i < ncuts ? cuts[i] : n;
		if (end <= start)
			continue;
		/* prog_test_run takes at most about a page: cut longer segments further */
		if (end - start > TL_MAX_SEGMENT) {
			end = start + TL_MAX_SEGMENT;
			i--;
		}
		r = tl_send(prog_fd, f, f->isn + 1 + (uint32_t)start, TL_ACK | TL_PSH, s + start,
			    end - start);
		start = end;
	}
	if (r == 0 && fin)
		r = tl_send(prog_fd, f, f->isn + 1 + (uint32_t)n, TL_ACK | TL_FIN, NULL, 0);
	return r > 0 ? -EPROTO : r;
}

/* Per-CPU counters of port summed; zeroes when the port has none. */
static inline int tl_counters(int map_fd, uint16_t port, struct ks_hello_counters *sum)
{
	int ncpu = libbpf_num_possible_cpus(), i;
	struct ks_hello_counters v[512];

	memset(sum, 0, sizeof(*sum));
	if (ncpu <= 0 || ncpu > 512)
		return -EINVAL;
	if (bpf_map_lookup_elem(map_fd, &port, v) < 0)
		return errno == ENOENT ? 0 : -errno;
	for (i = 0; i < ncpu; i++) {
		sum->hellos += v[i].hellos;
		sum->status_request += v[i].status_request;
		sum->no_status_request += v[i].no_status_request;
		sum->status_request_v2 += v[i].status_request_v2;
		sum->hrr_hellos += v[i].hrr_hellos;
		sum->unclassified_malformed += v[i].unclassified_malformed;
		sum->unclassified_short += v[i].unclassified_short;
		sum->unclassified_non_tls += v[i].unclassified_non_tls;
		sum->unclassified_too_long += v[i].unclassified_too_long;
	}
	return 0;
}

static inline void tl_counters_str(const struct ks_hello_counters *c, char *buf, size_t n)
{
	snprintf(buf, n,
		 "hellos=%llu sr=%llu nosr=%llu v2=%llu hrr=%llu mal=%llu short=%llu "
		 "nontls=%llu long=%llu",
		 (unsigned long long)c->hellos, (unsigned long long)c->status_request,
		 (unsigned long long)c->no_status_request, (unsigned long long)c->status_request_v2,
		 (unsigned long long)c->hrr_hellos, (unsigned long long)c->unclassified_malformed,
		 (unsigned long long)c->unclassified_short,
		 (unsigned long long)c->unclassified_non_tls,
		 (unsigned long long)c->unclassified_too_long);
}

/* ---- fixtures (tests/fixtures/hellos) ---- */

struct tl_fixture {
	char name[64];
	uint8_t data[8192];
	size_t len;
	struct ks_hello_counters expect;
};

/* Directory of the captured hellos: $KS_HELLO_FIXTURES or tests/fixtures/hellos. */
static inline const char *tl_fixture_dir(void)
{
	const char *d = getenv("KS_HELLO_FIXTURES");

	return d && d[0] ? d : "tests/fixtures/hellos";
}

/* Load every fixture listed in expected.tsv; count or negative errno. */
static inline int tl_load_fixtures(struct tl_fixture *fx, int max)
{
	char path[512], line[256];
	unsigned long long h, sr, nosr, v2, hrr;
	FILE *f, *b;
	int n = 0;

	snprintf(path, sizeof(path), "%s/expected.tsv", tl_fixture_dir());
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (n < max && fgets(line, sizeof(line), f)) {
		struct tl_fixture *x = &fx[n];

		memset(x, 0, sizeof(*x));
		if (sscanf(line, "%63s %llu %llu %llu %llu %llu", x->name, &h, &sr, &nosr, &v2,
			   &hrr) != 6)
			continue;
		x->expect.hellos = h;
		x->expect.status_request = sr;
		x->expect.no_status_request = nosr;
		x->expect.status_request_v2 = v2;
		x->expect.hrr_hellos = hrr;
		snprintf(path, sizeof(path), "%s/%s.bin", tl_fixture_dir(), x->name);
		b = fopen(path, "rb");
		if (!b)
			continue;
		x->len = fread(x->data, 1, sizeof(x->data), b);
		fclose(b);
		if (x->len)
			n++;
	}
	fclose(f);
	return n;
}

#endif /* KSTAPLE_TEST_HELLO_TESTLIB_H */

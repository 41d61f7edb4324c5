// SPDX-License-Identifier: MIT
/*
 * tc (clsact) ingress classifier: counts, per watched TCP destination port, the ClientHellos
 * that ask for an OCSP staple (status_request, RFC 6066 §8) and those that do not.
 *
 * A connection is tracked from its SYN: the flows map (LRU) holds the parse state under the
 * 4-tuple, tagged with the sequence number of the next client byte expected; only the segment
 * starting there is parsed (retransmissions and reordered segments are not). Each in-order
 * segment feeds a byte-stream parser (bpf_loop, a field or a run of plain extensions per
 * step), so a hello may be split over any number of TCP segments and TLS records. A verdict is counted only when the ClientHello
 * has been walked to its last byte with every length consistent: lying lengths end in
 * unclassified_malformed, never in status_request. The program never drops (TC_ACT_OK).
 *
 * user/hello_parse.c is the reference implementation of the same rules (same verdicts, tested
 * against this program by tests/tools/hello_fuzz.c).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "kstaple/bpf_abi.h"

#define CHUNK	       512 /* payload bytes copied out of the skb at a time */
#define LOOP_MAX       512 /* bpf_loop iterations per packet */
#define STEPS_PER_ITER 2
#define IP_MF	       0x2000
#define IP_OFFSET      0x1fff

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/*
 * Benchmarks only (tests/tools/hello_bench.c): leave the flow state as found, so that
 * prog_test_run's repeat parses the same ClientHello every time. A load-time constant: the
 * verifier removes the branch from the production program.
 */
const volatile __u32 ks_bench_keep_state = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KS_BPF_MAX_PORTS);
	__type(key, __u16);
	__type(value, struct ks_port_conf);
} ks_ports SEC(".maps");

/* The same ports as a bitmap: an array lookup is inlined, a hash lookup is not. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ks_port_bits);
} ks_port_bits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, KS_BPF_MAX_PORTS);
	__type(key, __u16);
	__type(value, struct ks_hello_counters);
} ks_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	/* per-CPU LRU lists: cheaper inserts; the table itself is still shared by all CPUs */
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__uint(max_entries, KS_BPF_MAX_FLOWS);
	__type(key, struct ks_flow_key);
	__type(value, struct ks_hello_state);
} ks_flows SEC(".maps");

/* Written only by userspace (telemetry attach/detach); here so it is pinned with the rest. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KS_BPF_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct ks_attach_rec);
} ks_attach SEC(".maps");

/* Per-CPU working copy of one flow's state, its counter deltas and a window of its payload. */
struct scratch {
	struct ks_hello_state st;
	struct ks_hello_counters delta;
	__u32 any;    /* delta is not all zero */
	__u32 cstart; /* buf holds payload bytes [cstart, cend) */
	__u32 cend;
	__u8 buf[CHUNK + 8]; /* + 8: reads of up to 5 bytes at a masked index stay inside */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} ks_scratch SEC(".maps");

struct loop_ctx {
	struct __sk_buff *skb;
	struct scratch *s;
	__u32 poff;    /* offset of the TCP payload in the skb */
	__u32 pos;     /* next payload byte to consume */
	__u32 end;     /* TCP payload length */
	__u32 stopped; /* step() ended the loop (rather than bpf_loop running out) */
};

enum reason {
	R_MALFORMED,
	R_SHORT,
	R_NON_TLS,
	R_TOO_LONG
};

static __always_inline void give_up(struct scratch *s, enum reason r)
{
	switch (r) {
	case R_MALFORMED:
		s->delta.unclassified_malformed++;
		break;
	case R_SHORT:
		s->delta.unclassified_short++;
		break;
	case R_NON_TLS:
		s->delta.unclassified_non_tls++;
		break;
	default:
		s->delta.unclassified_too_long++;
		break;
	}
	s->any = 1;
	s->st.phase = KS_PH_DONE;
	s->st.flags = 0;
}

/* Stop quietly: what follows is not a ClientHello we are asked to count. */
static __always_inline void stop(struct scratch *s)
{
	s->st.phase = KS_PH_DONE;
	s->st.flags = 0;
}

/* The whole ClientHello has been consumed with consistent lengths: count it. */
static __always_inline void hello_done(struct scratch *s)
{
	struct ks_hello_state *st = &s->st;

	s->delta.hellos++;
	if (st->flags & KS_HF_SR_OCSP)
		s->delta.status_request++;
	else
		s->delta.no_status_request++;
	if (st->flags & KS_HF_SR_V2)
		s->delta.status_request_v2++;
	if (st->flags & KS_HF_RETRY)
		s->delta.hrr_hellos++;
	s->any = 1;
	/*
	 * RFC 8446 §4.1.4: after a HelloRetryRequest the client sends a second ClientHello
	 * (after a ChangeCipherSpec in middlebox-compatibility mode). Watch the record that
	 * follows the first hello; a hello that shares its last record with other data is not
	 * followed by one.
	 */
	if (!(st->flags & KS_HF_RETRY) && st->rec_left == 0) {
		st->phase = KS_PH_NEXT_FLIGHT;
		st->flags = 0;
		st->rgot = 0;
		st->rlen = 0;
	} else {
		stop(s);
	}
}

static __always_inline void set_skip(struct scratch *s, __u32 n, __u8 next)
{
	struct ks_hello_state *st = &s->st;

	if (n > st->hs_left - st->ext_end)
		return give_up(s, R_MALFORMED);
	st->skip = n;
	st->next = next;
	st->phase = KS_PH_SKIP;
}

/* Make buf hold payload bytes [pos, pos + n); returns the index of pos in buf or -1. */
static __always_inline int fetch(struct loop_ctx *c, __u32 n)
{
	struct scratch *s = c->s;
	__u64 len;

	if (c->pos < s->cstart || c->pos + n > s->cend) {
		len = c->end - c->pos; /* >= n >= 1: callers checked */
		if (len > CHUNK)
			len = CHUNK;
		/* Spell the range [1, CHUNK] out for the verifier, which loses it in clang's
		 * 32-bit arithmetic. */
		len -= 1;
		asm volatile("%[l] &= %[m]" : [l] "+r"(len) : [m] "i"(CHUNK - 1));
		len += 1;
		if (bpf_skb_load_bytes(c->skb, c->poff + c->pos, s->buf, len))
			return -1;
		s->cstart = c->pos;
		s->cend = c->pos + len;
	}
	return (c->pos - s->cstart) & (CHUNK - 1);
}

/*
 * RFC 8446 §5.1:
 *   struct { ContentType type; ProtocolVersion legacy_record_version; uint16 length;
 *            opaque fragment[TLSPlaintext.length]; } TLSPlaintext;
 * Read (the rest of) a 5-byte record header, then judge it by where we are.
 */
static __always_inline int record_header(struct loop_ctx *c)
{
	struct scratch *s = c->s;
	struct ks_hello_state *st = &s->st;
	__u32 n = 5 - st->rgot, avail = c->end - c->pos, len;
	int idx, k;

	if (avail == 0)
		return 1;
	if (n > avail)
		n = avail;
	idx = fetch(c, n);
	if (idx < 0)
		return 1;
	for (k = 0; k < 5; k++) {
		__u8 b = s->buf[idx + k];

		if ((__u32)k >= n)
			break;
		if (st->rgot == 0)
			st->rtype = b;
		else if (st->rgot == 1)
			st->rmajor = b;
		else if (st->rgot >= 3)
			st->rlen = (__u16)(st->rlen << 8 | b);
		st->rgot++;
	}
	c->pos += n;
	if (st->phase == KS_PH_FIRST_RECORD)
		st->flags |= KS_HF_ACTIVE;
	if (st->rgot < 5)
		return 0;
	len = st->rlen;
	st->rgot = 0;
	st->rlen = 0;
	if (st->phase == KS_PH_FIRST_RECORD) {
		if (st->rtype != KS_TLS_CT_HANDSHAKE || st->rmajor != 3)
			give_up(s, R_NON_TLS);
		else if (len == 0 || len > KS_TLS_MAX_RECORD)
			give_up(s, R_MALFORMED);
		else {
			st->rec_left = len;
			st->records = 1;
			st->phase = KS_PH_HS_HEADER;
		}
		return 0;
	}
	if (st->phase == KS_PH_NEXT_FLIGHT) {
		if (st->rtype == KS_TLS_CT_CCS && len == 1 && !(st->flags & KS_HF_CCS)) {
			st->flags |= KS_HF_CCS;
			st->rec_left = 1;
			st->phase = KS_PH_CCS_BODY;
		} else if (st->rtype == KS_TLS_CT_HANDSHAKE && st->rmajor == 3 && len > 0 &&
			   len <= KS_TLS_MAX_RECORD) {
			st->rec_left = len;
			st->records = 1;
			st->phase = KS_PH_HS2_HEADER;
		} else {
			stop(s);
		}
		return 0;
	}
	/* KS_PH_RECORD: a continuation record; handshake data MUST NOT interleave (§5.1). */
	if (st->rtype != KS_TLS_CT_HANDSHAKE || st->rmajor != 3 || len == 0 ||
	    len > KS_TLS_MAX_RECORD) {
		if (st->resume == KS_PH_HS2_HEADER)
			stop(s);
		else
			give_up(s, R_MALFORMED);
		return 0;
	}
	if (++st->records > KS_HELLO_MAX_RECORDS) {
		if (st->resume == KS_PH_HS2_HEADER)
			stop(s);
		else
			give_up(s, R_TOO_LONG);
		return 0;
	}
	st->rec_left = len;
	st->phase = st->resume;
	return 0;
}

static __always_inline __u32 field_size(__u8 phase)
{
	switch (phase) {
	case KS_PH_HS_HEADER:
	case KS_PH_HS2_HEADER:
	case KS_PH_EXT_HEADER:
		return 4;
	case KS_PH_SID_LEN:
	case KS_PH_COMP_LEN:
	case KS_PH_SR_TYPE:
	case KS_PH_CCS_BODY:
		return 1;
	default:
		return 2;
	}
}

/* A handshake-layer field of field_size() bytes is complete with value v. */
static __always_inline void field_done(struct scratch *s, __u32 v)
{
	struct ks_hello_state *st = &s->st;
	__u32 left = st->hs_left - st->ext_end, type, len;

	switch (st->phase) {
	case KS_PH_HS2_HEADER:
		/* Only a ClientHello here is a retried hello; anything else ends the watch. */
		if (v >> 24 != KS_TLS_HS_CLIENT_HELLO)
			return stop(s);
		st->flags = KS_HF_RETRY | KS_HF_ACTIVE;
		/* fall through */
	case KS_PH_HS_HEADER:
		/* RFC 8446 §4: struct { HandshakeType msg_type; uint24 length; ... } Handshake; */
		if (v >> 24 != KS_TLS_HS_CLIENT_HELLO)
			return give_up(s, R_MALFORMED);
		if ((v & 0xffffff) > KS_HELLO_MAX_LEN)
			return give_up(s, R_TOO_LONG);
		st->hs_left = v & 0xffffff;
		st->ext_end = 0;
		st->exts = 0;
		st->phase = KS_PH_VERSION;
		return;
	/*
	 * RFC 8446 §4.1.2:
	 *   struct { ProtocolVersion legacy_version; Random random; opaque legacy_session_id<0..32>;
	 *            CipherSuite cipher_suites<2..2^16-2>;
	 *            opaque legacy_compression_methods<1..2^8-1>;
	 *            Extension extensions<8..2^16-1>; } ClientHello;
	 * (extensions may be absent in TLS 1.2 and earlier, RFC 5246 §7.4.1.2)
	 */
	case KS_PH_VERSION:
		if (v >> 8 != 3)
			return give_up(s, R_MALFORMED);
		return set_skip(s, 32, KS_PH_SID_LEN);
	case KS_PH_SID_LEN:
		if (v > 32)
			return give_up(s, R_MALFORMED);
		return set_skip(s, v, KS_PH_CS_LEN);
	case KS_PH_CS_LEN:
		if (v < 2 || (v & 1))
			return give_up(s, R_MALFORMED);
		return set_skip(s, v, KS_PH_COMP_LEN);
	case KS_PH_COMP_LEN:
		if (v < 1)
			return give_up(s, R_MALFORMED);
		return set_skip(s, v, KS_PH_EXTS_LEN);
	case KS_PH_EXTS_LEN:
		/* The extensions block ends exactly where the ClientHello ends. */
		if (v != st->hs_left)
			return give_up(s, R_MALFORMED);
		st->phase = KS_PH_EXT_NEXT;
		return;
	case KS_PH_EXT_HEADER:
		/* RFC 8446 §4.2: struct { ExtensionType extension_type;
		 *                         opaque extension_data<0..2^16-1>; } Extension; */
		type = v >> 16;
		len = v & 0xffff;
		if (++st->exts > KS_HELLO_MAX_EXTS)
			return give_up(s, R_TOO_LONG);
		if (len > st->hs_left)
			return give_up(s, R_MALFORMED);
		st->ext_end = st->hs_left - len;
		if (type == KS_TLS_EXT_STATUS_REQUEST) {
			/* "There MUST NOT be more than one extension of the same type." */
			if (st->flags & KS_HF_SEEN_SR)
				return give_up(s, R_MALFORMED);
			st->flags |= KS_HF_SEEN_SR;
			st->phase = KS_PH_SR_TYPE;
		} else if (type == KS_TLS_EXT_STATUS_REQUEST_V2) {
			if (st->flags & KS_HF_SEEN_V2)
				return give_up(s, R_MALFORMED);
			st->flags |= KS_HF_SEEN_V2;
			st->phase = KS_PH_V2_LIST_LEN;
		} else {
			set_skip(s, len, KS_PH_EXT_NEXT);
		}
		return;
	/*
	 * RFC 6066 §8:
	 *   struct { CertificateStatusType status_type;
	 *            select (status_type) { case ocsp: OCSPStatusRequest; } request;
	 *   } CertificateStatusRequest;
	 *   struct { ResponderID responder_id_list<0..2^16-1>; Extensions request_extensions;
	 *   } OCSPStatusRequest;                       Extensions: opaque <0..2^16-1>
	 */
	case KS_PH_SR_TYPE:
		if (v != KS_TLS_STATUS_TYPE_OCSP) /* a type we do not know: not an OCSP request */
			return set_skip(s, left, KS_PH_EXT_NEXT);
		st->phase = KS_PH_SR_RID_LEN;
		return;
	case KS_PH_SR_RID_LEN:
		return set_skip(s, v, KS_PH_SR_EXTS_LEN);
	case KS_PH_SR_EXTS_LEN:
		if (v != left)
			return give_up(s, R_MALFORMED);
		st->flags |= KS_HF_SR_OCSP;
		return set_skip(s, v, KS_PH_EXT_NEXT);
	/* RFC 6961 §2.2: struct { CertificateStatusRequestItemV2
	 *                         certificate_status_req_list<1..2^16-1>; } ...ListV2; */
	case KS_PH_V2_LIST_LEN:
		if (v == 0 || v != left)
			return give_up(s, R_MALFORMED);
		st->flags |= KS_HF_SR_V2;
		return set_skip(s, v, KS_PH_EXT_NEXT);
	}
}

static __always_inline int is_body_phase(__u8 phase)
{
	return phase >= KS_PH_VERSION && phase <= KS_PH_SKIP;
}

/* Phases that consume no byte: they run even when the segment has no byte left. */
static __always_inline int step_free(struct scratch *s)
{
	struct ks_hello_state *st = &s->st;

	switch (st->phase) {
	case KS_PH_EXT_NEXT:
		st->ext_end = 0;
		if (st->hs_left == 0)
			hello_done(s);
		else
			st->phase = KS_PH_EXT_HEADER;
		return 1;
	case KS_PH_EXTS_LEN:
		if (st->got == 0 && st->hs_left == 0) { /* no extensions block (TLS <= 1.2) */
			hello_done(s);
			return 1;
		}
		return 0;
	case KS_PH_SKIP:
		if (st->skip == 0) {
			st->phase = st->next;
			return 1;
		}
		return 0;
	}
	return 0;
}

/*
 * After a field: take the skip that follows it at once when its bytes are all here, and the
 * byte-less end-of-extension step, so that a typical extension costs one iteration.
 */
static __always_inline void settle(struct loop_ctx *c)
{
	struct scratch *s = c->s;
	struct ks_hello_state *st = &s->st;
	__u32 avail = c->end - c->pos;

	if (avail > st->rec_left)
		avail = st->rec_left;
	if (st->phase == KS_PH_SKIP && st->skip <= avail) {
		c->pos += st->skip;
		st->rec_left -= st->skip;
		st->hs_left -= st->skip;
		st->skip = 0;
		st->phase = st->next;
	}
	if (st->phase == KS_PH_EXT_NEXT) {
		st->ext_end = 0;
		if (st->hs_left == 0)
			hello_done(s);
		else
			st->phase = KS_PH_EXT_HEADER;
	}
}

/*
 * Fast path for the common case, the same rules as field_done(KS_PH_EXT_HEADER) + settle():
 * walk extensions that are neither status_request nor status_request_v2 while each one's
 * header and body are all in this record and segment. Anything else (a boundary, a length
 * that does not fit, a limit, extension 5 or 17) is left to the general step.
 */
static __always_inline void ext_fast(struct loop_ctx *c)
{
	struct scratch *s = c->s;
	struct ks_hello_state *st = &s->st;
	__u32 avail, type, len;
	int k, idx;

#pragma unroll
	for (k = 0; k < 8; k++) {
		if (st->phase != KS_PH_EXT_HEADER || st->got || st->hs_left < 4 ||
		    st->exts >= KS_HELLO_MAX_EXTS)
			return;
		avail = c->end - c->pos;
		if (avail > st->rec_left)
			avail = st->rec_left;
		if (avail < 4)
			return;
		idx = fetch(c, 4);
		if (idx < 0)
			return;
		type = (__u32)s->buf[idx] << 8 | s->buf[idx + 1];
		len = (__u32)s->buf[idx + 2] << 8 | s->buf[idx + 3];
		if (type == KS_TLS_EXT_STATUS_REQUEST || type == KS_TLS_EXT_STATUS_REQUEST_V2 ||
		    len > st->hs_left - 4 || len > avail - 4)
			return;
		st->exts++;
		c->pos += 4 + len;
		st->rec_left -= 4 + len;
		st->hs_left -= 4 + len;
		if (st->hs_left == 0)
			hello_done(s);
	}
}

/* One field, skip or record header (or part of it). 1 stops. */
static __always_inline int step1(void *arg)
{
	struct loop_ctx *c = arg;
	struct scratch *s = c->s;
	struct ks_hello_state *st = &s->st;
	__u32 size, n, avail;
	int idx, k;

	if (st->phase == KS_PH_EXT_HEADER)
		ext_fast(c);
	if (st->phase == KS_PH_DONE)
		return 1;
	if (step_free(s))
		return 0;
	if (st->phase == KS_PH_FIRST_RECORD || st->phase == KS_PH_RECORD ||
	    st->phase == KS_PH_NEXT_FLIGHT)
		return record_header(c);
	size = field_size(st->phase);
	/* A field must fit in the declared lengths: judged before waiting for more bytes. */
	if (st->got == 0 && st->phase != KS_PH_SKIP && is_body_phase(st->phase) &&
	    size > st->hs_left - st->ext_end) {
		give_up(s, R_MALFORMED);
		return 1;
	}
	if (st->rec_left == 0) { /* the field goes on in the next record */
		st->resume = st->phase;
		st->phase = KS_PH_RECORD;
		return 0;
	}
	avail = c->end - c->pos;
	if (avail == 0)
		return 1;
	if (avail > st->rec_left)
		avail = st->rec_left;
	if (st->phase == KS_PH_SKIP) {
		n = st->skip < avail ? st->skip : avail;
		c->pos += n;
		st->rec_left -= n;
		st->hs_left -= n;
		st->skip -= n;
		return 0;
	}
	n = size - st->got;
	if (n > avail)
		n = avail;
	idx = fetch(c, n);
	if (idx < 0)
		return 1;
	for (k = 0; k < 4; k++) {
		if ((__u32)k >= n)
			break;
		st->acc = st->acc << 8 | s->buf[idx + k];
	}
	st->got += n;
	c->pos += n;
	st->rec_left -= n;
	if (is_body_phase(st->phase))
		st->hs_left -= n;
	if (st->got < size)
		return 0;
	n = st->acc;
	st->acc = 0;
	st->got = 0;
	if (st->phase == KS_PH_CCS_BODY) {
		/* RFC 8446 §5: a ChangeCipherSpec record holds the single byte 0x01. */
		if (n != 1)
			stop(s);
		else
			st->phase = KS_PH_NEXT_FLIGHT;
		return 0;
	}
	field_done(s, n);
	settle(c);
	return 0;
}

/* One bpf_loop iteration: STEPS_PER_ITER steps, to spread the cost of the callback call. */
static int step(__u32 index, void *arg)
{
	struct loop_ctx *c = arg;
	int k;

#pragma unroll
	for (k = 0; k < STEPS_PER_ITER; k++) {
		if (step1(c)) {
			c->stopped = 1;
			return 1;
		}
	}
	return 0;
}

struct pkt {
	struct ks_flow_key key;
	__u32 seq;
	__u32 poff;
	__u32 plen;
	__u8 syn, fin_rst;
};

/* Copy a header: straight from the linear area when it is there, else through the helper. */
static __always_inline int load_hdr(struct __sk_buff *skb, __u32 off, void *to, __u32 len)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;

	if (off <= 128 && data + off + len <= end) {
		__builtin_memcpy(to, data + off, len);
		return 0;
	}
	return bpf_skb_load_bytes(skb, off, to, len);
}

/* Ethernet + IPv4/IPv6 + TCP headers. 0 if the packet is one we look at. */
static __always_inline int parse_headers(struct __sk_buff *skb, struct pkt *p)
{
	struct tcphdr tcp;
	__u32 l4off, l3len;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (load_hdr(skb, ETH_HLEN, &ip, sizeof(ip)))
			return -1;
		/* Non-first fragments carry no TCP header; first ones are rare enough to skip. */
		if (ip.protocol != IPPROTO_TCP || (ip.frag_off & bpf_htons(IP_MF | IP_OFFSET)))
			return -1;
		l4off = ETH_HLEN + ip.ihl * 4;
		l3len = bpf_ntohs(ip.tot_len);
		if (ip.ihl < 5 || l3len < ip.ihl * 4)
			return -1;
		l3len -= ip.ihl * 4;
		__builtin_memset(p->key.saddr, 0, 10);
		p->key.saddr[10] = p->key.saddr[11] = 0xff;
		__builtin_memcpy(&p->key.saddr[12], &ip.saddr, 4);
		__builtin_memset(p->key.daddr, 0, 10);
		p->key.daddr[10] = p->key.daddr[11] = 0xff;
		__builtin_memcpy(&p->key.daddr[12], &ip.daddr, 4);
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (load_hdr(skb, ETH_HLEN, &ip6, sizeof(ip6)))
			return -1;
		/* TCP right after the fixed header; extension headers are not walked. */
		if (ip6.nexthdr != IPPROTO_TCP)
			return -1;
		l4off = ETH_HLEN + sizeof(ip6);
		l3len = bpf_ntohs(ip6.payload_len);
		__builtin_memcpy(p->key.saddr, &ip6.saddr, 16);
		__builtin_memcpy(p->key.daddr, &ip6.daddr, 16);
	} else {
		return -1;
	}
	if (load_hdr(skb, l4off, &tcp, sizeof(tcp)))
		return -1;
	if (tcp.doff < 5 || l3len < tcp.doff * 4u)
		return -1;
	p->key.sport = tcp.source;
	p->key.dport = tcp.dest;
	p->seq = bpf_ntohl(tcp.seq);
	p->poff = l4off + tcp.doff * 4;
	p->plen = l3len - tcp.doff * 4;
	p->syn = tcp.syn && !tcp.ack;
	p->fin_rst = tcp.fin || tcp.rst;
	return 0;
}

static __always_inline void add_counters(struct scratch *s, __u16 port)
{
	struct ks_hello_counters *cnt, zero = {};

	cnt = bpf_map_lookup_elem(&ks_counters, &port);
	if (!cnt) {
		/* userspace creates the entry when it adds the port; recreate it if removed */
		bpf_map_update_elem(&ks_counters, &port, &zero, BPF_NOEXIST);
		cnt = bpf_map_lookup_elem(&ks_counters, &port);
		if (!cnt)
			return;
	}
	cnt->hellos += s->delta.hellos;
	cnt->status_request += s->delta.status_request;
	cnt->no_status_request += s->delta.no_status_request;
	cnt->status_request_v2 += s->delta.status_request_v2;
	cnt->hrr_hellos += s->delta.hrr_hellos;
	cnt->unclassified_malformed += s->delta.unclassified_malformed;
	cnt->unclassified_short += s->delta.unclassified_short;
	cnt->unclassified_non_tls += s->delta.unclassified_non_tls;
	cnt->unclassified_too_long += s->delta.unclassified_too_long;
}

SEC("tc")
int ks_hello(struct __sk_buff *skb)
{
	struct pkt p = {};
	struct ks_hello_state *fst;
	struct ks_port_bits *bits;
	struct scratch *s;
	struct loop_ctx c;
	__u32 zero = 0, data_seq;
	__u16 port;

	if (parse_headers(skb, &p))
		return TC_ACT_OK;
	port = bpf_ntohs(p.key.dport);
	bits = bpf_map_lookup_elem(&ks_port_bits, &zero);
	if (!bits || !(bits->bits[(port >> 6) & 1023] & (1ULL << (port & 63))))
		return TC_ACT_OK;

	data_seq = p.seq;
	if (p.syn) {
		/* A new connection: its first byte (seq + 1) must start a TLS record. */
		struct ks_hello_state init = { .phase = KS_PH_FIRST_RECORD, .port = port };

		data_seq++;
		init.seq = data_seq;
		bpf_map_update_elem(&ks_flows, &p.key, &init, BPF_ANY);
		if (p.plen == 0) /* no TCP Fast Open data */
			return TC_ACT_OK;
	}
	if (p.plen == 0 && !p.fin_rst)
		return TC_ACT_OK;
	fst = bpf_map_lookup_elem(&ks_flows, &p.key);
	if (!fst || fst->seq != data_seq) /* not tracked, or not the next segment */
		return TC_ACT_OK;
	s = bpf_map_lookup_elem(&ks_scratch, &zero);
	if (!s)
		return TC_ACT_OK;
	__builtin_memcpy(&s->st, fst, sizeof(s->st));
	__builtin_memset(&s->delta, 0, sizeof(s->delta));
	s->any = 0;
	s->cstart = 0;
	s->cend = 0;

	c.skb = skb;
	c.s = s;
	c.poff = p.poff;
	c.pos = 0;
	c.end = p.plen;
	c.stopped = 0;
	bpf_loop(LOOP_MAX, step, &c, 0);
	/* The limits keep a valid hello far below LOOP_MAX; running out means we gave up. */
	if (!c.stopped)
		give_up(s, R_TOO_LONG);

	if (ks_bench_keep_state) {
		/* counted, but the flow state stays as it was */
	} else if (p.fin_rst) {
		if (s->st.flags & KS_HF_ACTIVE)
			give_up(s, R_SHORT);
		bpf_map_delete_elem(&ks_flows, &p.key);
	} else if (s->st.phase == KS_PH_DONE) {
		bpf_map_delete_elem(&ks_flows, &p.key);
	} else {
		s->st.seq = data_seq + p.plen;
		__builtin_memcpy(fst, &s->st, sizeof(s->st));
	}
	if (s->any)
		add_counters(s, s->st.port);
	return TC_ACT_OK;
}

/* SPDX-License-Identifier: MIT */
/*
 * Structs and constants shared by bpf/hello.bpf.c and userspace (telemetry.c, the tests).
 *
 * Only fixed-width __uNN types: this header is compiled both by clang -target bpf and by the
 * host compiler. Every struct here is visible through BTF, so `bpftool map dump pinned
 * /sys/fs/bpf/kstaple/<map>` prints field names.
 */
#ifndef KSTAPLE_BPF_ABI_H
#define KSTAPLE_BPF_ABI_H

#include <linux/types.h>

/* Where the maps are pinned (bpffs). Counts survive an agent restart because they live here. */
#define KS_BPF_PIN_DIR "/sys/fs/bpf/kstaple"

/* Map names (also the pin file names under KS_BPF_PIN_DIR). */
#define KS_MAP_PORTS	 "ks_ports"
#define KS_MAP_PORT_BITS "ks_port_bits"
#define KS_MAP_COUNTERS	 "ks_counters"
#define KS_MAP_FLOWS	 "ks_flows"
#define KS_MAP_ATTACH	 "ks_attach"

#define KS_BPF_MAX_PORTS  64	/* TCP destination ports watched at once */
#define KS_BPF_MAX_FLOWS  16384 /* connections between SYN and the end of their ClientHello */
#define KS_BPF_MAX_IFACES 64

/*
 * Limits on one ClientHello. A hello beyond them is counted as unclassified_too_long. They
 * bound the work per packet (so the verifier and the per-packet cost stay small) and are far
 * above what real clients send (Chromium with a post-quantum key share: ~1.9 KB, ~18
 * extensions, one record).
 */
#define KS_HELLO_MAX_LEN     16384 /* handshake message body bytes */
#define KS_HELLO_MAX_RECORDS 16	   /* TLS records one ClientHello may be fragmented into */
#define KS_HELLO_MAX_EXTS    64	   /* extensions in one ClientHello */
/* TLSPlaintext.length MUST NOT exceed 2^14 (RFC 8446 §5.1). */
#define KS_TLS_MAX_RECORD 16384

/* TLS numbers (RFC 8446 §5.1, §4; RFC 6066 §8; RFC 6961 §2). */
#define KS_TLS_CT_CCS		     20
#define KS_TLS_CT_HANDSHAKE	     22
#define KS_TLS_HS_CLIENT_HELLO	     1
#define KS_TLS_EXT_STATUS_REQUEST    5
#define KS_TLS_EXT_STATUS_REQUEST_V2 17
#define KS_TLS_STATUS_TYPE_OCSP	     1

/*
 * Per-port counters, one copy per CPU (BPF_MAP_TYPE_PERCPU_HASH keyed by the host-order port);
 * userspace sums the copies. Every ClientHello that is parsed to its end lands in exactly one of
 * status_request / no_status_request, and hellos is their sum. status_request_v2 counts those of
 * them that also carried status_request_v2 (17), with or without status_request (5).
 * hrr_hellos counts second ClientHellos sent after a HelloRetryRequest (also counted in hellos).
 * The unclassified_* counters are ClientHello attempts that could not be classified.
 */
struct ks_hello_counters {
	__u64 hellos;
	__u64 status_request;
	__u64 no_status_request;
	__u64 status_request_v2;
	__u64 hrr_hellos;
	__u64 unclassified_malformed; /* lengths or types that contradict RFC 8446 */
	__u64 unclassified_short;     /* the connection ended (FIN/RST) inside the hello */
	__u64 unclassified_non_tls;   /* first bytes of the connection are not a TLS record */
	__u64 unclassified_too_long;  /* beyond the KS_HELLO_MAX_* limits */
};

/*
 * Value of the ports map (key: __u16 port in host order): the list an operator reads. The
 * program itself tests the ks_port_bits bitmap, which userspace keeps equal to it.
 */
struct ks_port_conf {
	__u32 enabled;
};

/* Value of the one-entry ks_port_bits array: bit (port & 63) of bits[port >> 6]. */
struct ks_port_bits {
	__u64 bits[1024];
};

/*
 * Flow key: the 4-tuple; IPv4 addresses are stored v4-mapped (::ffff:a.b.c.d). The state
 * carries the TCP sequence number of the next client byte it expects (ks_hello_state.seq), so
 * a retransmitted or out-of-order segment never matches and is never parsed twice, while an
 * in-order segment updates the state in place (no delete and insert per segment).
 */
struct ks_flow_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport; /* network order, as on the wire */
	__u16 dport;
};

/* Where the byte-stream parser stands (ks_hello_state.phase). */
enum ks_hello_phase {
	KS_PH_FIRST_RECORD = 0, /* no client byte seen yet: reading the first record header */
	KS_PH_RECORD,		/* reading the header of a continuation record of the hello */
	KS_PH_HS_HEADER,	/* Handshake.msg_type + length (4 bytes) */
	KS_PH_VERSION,		/* ClientHello.legacy_version */
	KS_PH_SID_LEN,
	KS_PH_CS_LEN,
	KS_PH_COMP_LEN,
	KS_PH_EXTS_LEN,
	KS_PH_EXT_HEADER,  /* extension_type + extension_data length */
	KS_PH_SR_TYPE,	   /* CertificateStatusRequest.status_type */
	KS_PH_SR_RID_LEN,  /* OCSPStatusRequest.responder_id_list length */
	KS_PH_SR_EXTS_LEN, /* OCSPStatusRequest.request_extensions length */
	KS_PH_V2_LIST_LEN, /* CertificateStatusRequestListV2 length */
	KS_PH_SKIP,	   /* skipping ks_hello_state.skip bytes, then back to ->next */
	KS_PH_EXT_NEXT,	   /* end of an extension: the hello ends or another extension follows */
	KS_PH_NEXT_FLIGHT, /* hello done: reading the header of the client's next record */
	KS_PH_CCS_BODY,	   /* the 1-byte body of a ChangeCipherSpec before a retried hello */
	KS_PH_HS2_HEADER,  /* first handshake header after HRR: a ClientHello or the end */
	KS_PH_DONE,
};

/* ks_hello_state.flags */
#define KS_HF_SR_OCSP 0x01 /* a well-formed status_request of type ocsp */
#define KS_HF_SR_V2   0x02 /* a well-formed status_request_v2 */
#define KS_HF_SEEN_SR 0x04 /* extension 5 seen (a second one is malformed) */
#define KS_HF_SEEN_V2 0x08 /* extension 17 seen */
#define KS_HF_RETRY   0x10 /* parsing the second ClientHello (after HRR) */
#define KS_HF_ACTIVE  0x20 /* inside a hello: a connection ending now is unclassified_short */
#define KS_HF_CCS     0x40 /* the ChangeCipherSpec before a retried hello was seen */

/*
 * Parse state of one connection, carried from segment to segment in the flows map. A field of
 * up to 4 bytes may straddle a record or segment boundary; acc/got keep its bytes so far.
 * hs_left counts the bytes of the ClientHello body not yet consumed, ext_end the value hs_left
 * will have at the end of the current extension.
 */
struct ks_hello_state {
	__u8 phase;
	__u8 next;   /* phase after KS_PH_SKIP */
	__u8 resume; /* phase after KS_PH_RECORD (the field a record boundary interrupted) */
	__u8 flags;
	__u8 got;   /* bytes of the current handshake field read so far */
	__u8 rtype; /* record header being read: content type */
	__u8 rmajor;
	__u8 records; /* records of the current hello */
	__u8 exts;    /* extensions of the current hello */
	__u8 rgot;    /* bytes of the record header read so far */
	__u16 rlen;   /* record header being read: length */
	__u32 acc;    /* accumulator of the current handshake field */
	__u32 rec_left;
	__u32 hs_left;
	__u32 ext_end;
	__u32 skip;
	__u16 port; /* host order, for the counters */
	__u16 pad;
	__u32 seq; /* TCP sequence number (host order) of the next client byte expected */
};

/* Value of the attach map (key: __u32 ifindex): what `telemetry attach` did, for detach. */
struct ks_attach_rec {
	__u32 created_qdisc; /* 1: we created the clsact qdisc, so detach destroys it */
	__u32 handle;
	__u32 priority;
	__u32 prog_id;
	char ifname[16];
};

/* tc filter handle and priority of our program ("ks" and an arbitrary low priority). */
#define KS_TC_HANDLE   0x6b73
#define KS_TC_PRIORITY 0x4b53

#endif /* KSTAPLE_BPF_ABI_H */

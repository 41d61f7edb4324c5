// SPDX-License-Identifier: MIT
/*
 * Reference ClientHello classifier; see include/kstaple/hello_parse.h.
 *
 * Written as a recursive-descent parser over a reader that hands out handshake bytes across
 * TLS record boundaries, reading (and judging) each record header only when the next byte is
 * needed. That lazy order is what the BPF program's byte-stream state machine does, so the
 * first error met is the same in both. Internal functions return 0 or:
 *   -EBADMSG malformed, -E2BIG beyond a KS_HELLO_MAX_* limit, -ENODATA the stream ended.
 */
#include <string.h>

#include "kstaple/cursor.h"
#include "kstaple/hello_parse.h"

struct hs_reader {
	struct ks_cursor raw; /* client bytes not consumed yet */
	uint32_t rec_left;    /* bytes left in the current record */
	unsigned int records; /* records of the current hello */
};

/* The declared extent of a ClientHello body, independent of how many bytes have arrived. */
struct hs_body {
	uint32_t left;	  /* body bytes not consumed yet */
	uint32_t ext_end; /* value of left at the end of the current extension (0 outside) */
};

/*
 * RFC 8446 §5.1:
 *   struct { ContentType type; ProtocolVersion legacy_record_version; uint16 length;
 *            opaque fragment[TLSPlaintext.length]; } TLSPlaintext;
 * Implementations MUST NOT send zero-length fragments of Handshake types, length <= 2^14, and
 * handshake messages MUST NOT be interleaved with other record types.
 */
static int record_header(struct ks_cursor *raw, uint8_t *type, uint8_t *major, uint16_t *len)
{
	uint8_t minor;

	if (ks_cur_left(raw) < 5)
		return -ENODATA;
	TRY(ks_cur_u8(raw, type));
	TRY(ks_cur_u8(raw, major));
	TRY(ks_cur_u8(raw, &minor));
	TRY(ks_cur_u16(raw, len));
	return 0;
}

static int next_record(struct hs_reader *r)
{
	uint8_t type, major;
	uint16_t len;

	TRY(record_header(&r->raw, &type, &major, &len));
	if (type != KS_TLS_CT_HANDSHAKE || major != 3 || len == 0 || len > KS_TLS_MAX_RECORD)
		return -EBADMSG;
	if (++r->records > KS_HELLO_MAX_RECORDS)
		return -E2BIG;
	r->rec_left = len;
	return 0;
}

/* Read an n-byte (n <= 4) big-endian handshake-layer integer, crossing records as needed. */
static int hs_read(struct hs_reader *r, unsigned int n, uint32_t *v)
{
	uint8_t b;

	*v = 0;
	while (n--) {
		while (r->rec_left == 0)
			TRY(next_record(r));
		if (ks_cur_u8(&r->raw, &b) < 0)
			return -ENODATA;
		r->rec_left--;
		*v = *v << 8 | b;
	}
	return 0;
}

static int hs_skip(struct hs_reader *r, uint32_t n)
{
	size_t k;

	while (n) {
		while (r->rec_left == 0)
			TRY(next_record(r));
		k = KS_MIN(KS_MIN((size_t)n, (size_t)r->rec_left), ks_cur_left(&r->raw));
		if (k == 0)
			return -ENODATA;
		TRY(ks_cur_skip(&r->raw, k));
		r->rec_left -= (uint32_t)k;
		n -= (uint32_t)k;
	}
	return 0;
}

/* A field of the body must fit in what the enclosing lengths declare. */
static int field(struct hs_reader *r, struct hs_body *b, unsigned int n, uint32_t *v)
{
	if (n > b->left - b->ext_end)
		return -EBADMSG;
	TRY(hs_read(r, n, v));
	b->left -= n;
	return 0;
}

static int body_skip(struct hs_reader *r, struct hs_body *b, uint32_t n)
{
	if (n > b->left - b->ext_end)
		return -EBADMSG;
	TRY(hs_skip(r, n));
	b->left -= n;
	return 0;
}

/*
 * RFC 6066 §8:
 *   struct { CertificateStatusType status_type;
 *            select (status_type) { case ocsp: OCSPStatusRequest; } request;
 *   } CertificateStatusRequest;                      enum { ocsp(1), (255) }
 *   struct { ResponderID responder_id_list<0..2^16-1>; Extensions request_extensions;
 *   } OCSPStatusRequest;                             Extensions: opaque <0..2^16-1>
 */
static int status_request(struct hs_reader *r, struct hs_body *b, unsigned int *flags)
{
	uint32_t type, rids, exts;

	TRY(field(r, b, 1, &type));
	if (type != KS_TLS_STATUS_TYPE_OCSP) /* unknown type: servers ignore it, so do we */
		return body_skip(r, b, b->left - b->ext_end);
	TRY(field(r, b, 2, &rids));
	TRY(body_skip(r, b, rids));
	TRY(field(r, b, 2, &exts));
	ENSURE(exts == b->left - b->ext_end, -EBADMSG);
	*flags |= KS_HF_SR_OCSP;
	return body_skip(r, b, exts);
}

/* RFC 6961 §2.2: struct { CertificateStatusRequestItemV2
 *                         certificate_status_req_list<1..2^16-1>; } CertificateStatusRequestListV2; */
static int status_request_v2(struct hs_reader *r, struct hs_body *b, unsigned int *flags)
{
	uint32_t len;

	TRY(field(r, b, 2, &len));
	ENSURE(len != 0 && len == b->left - b->ext_end, -EBADMSG);
	*flags |= KS_HF_SR_V2;
	return body_skip(r, b, len);
}

/* RFC 8446 §4.2: struct { ExtensionType extension_type; opaque extension_data<0..2^16-1>; } */
static int extensions(struct hs_reader *r, struct hs_body *b, unsigned int *flags)
{
	unsigned int n = 0;
	uint32_t v, type, len;

	while (b->left) {
		TRY(field(r, b, 4, &v));
		type = v >> 16;
		len = v & 0xffff;
		if (++n > KS_HELLO_MAX_EXTS)
			return -E2BIG;
		ENSURE(len <= b->left, -EBADMSG);
		b->ext_end = b->left - len;
		/* "There MUST NOT be more than one extension of the same type." */
		if (type == KS_TLS_EXT_STATUS_REQUEST) {
			ENSURE(!(*flags & KS_HF_SEEN_SR), -EBADMSG);
			*flags |= KS_HF_SEEN_SR;
			TRY(status_request(r, b, flags));
		} else if (type == KS_TLS_EXT_STATUS_REQUEST_V2) {
			ENSURE(!(*flags & KS_HF_SEEN_V2), -EBADMSG);
			*flags |= KS_HF_SEEN_V2;
			TRY(status_request_v2(r, b, flags));
		} else {
			TRY(body_skip(r, b, len));
		}
		b->ext_end = 0;
	}
	return 0;
}

/*
 * RFC 8446 §4.1.2:
 *   struct { ProtocolVersion legacy_version; Random random; opaque legacy_session_id<0..32>;
 *            CipherSuite cipher_suites<2..2^16-2>; opaque legacy_compression_methods<1..2^8-1>;
 *            Extension extensions<8..2^16-1>; } ClientHello;
 * TLS 1.2 and earlier may omit the extensions (RFC 5246 §7.4.1.2).
 */
static int client_hello(struct hs_reader *r, uint32_t len, unsigned int *flags)
{
	struct hs_body b = { .left = len };
	uint32_t v;

	ENSURE(len <= KS_HELLO_MAX_LEN, -E2BIG);
	TRY(field(r, &b, 2, &v));
	ENSURE(v >> 8 == 3, -EBADMSG);
	TRY(body_skip(r, &b, 32));
	TRY(field(r, &b, 1, &v));
	ENSURE(v <= 32, -EBADMSG);
	TRY(body_skip(r, &b, v));
	TRY(field(r, &b, 2, &v));
	ENSURE(v >= 2 && !(v & 1), -EBADMSG);
	TRY(body_skip(r, &b, v));
	TRY(field(r, &b, 1, &v));
	ENSURE(v >= 1, -EBADMSG);
	TRY(body_skip(r, &b, v));
	if (b.left == 0)
		return 0;
	TRY(field(r, &b, 2, &v));
	ENSURE(v == b.left, -EBADMSG);
	return extensions(r, &b, flags);
}

static void count(struct ks_hello_counters *add, int err, bool fin)
{
	if (err == -EBADMSG)
		add->unclassified_malformed++;
	else if (err == -E2BIG)
		add->unclassified_too_long++;
	else if (err == -ENODATA && fin)
		add->unclassified_short++;
}

static void count_hello(struct ks_hello_counters *add, unsigned int flags, bool retry)
{
	add->hellos++;
	if (flags & KS_HF_SR_OCSP)
		add->status_request++;
	else
		add->no_status_request++;
	if (flags & KS_HF_SR_V2)
		add->status_request_v2++;
	if (retry)
		add->hrr_hellos++;
}

/*
 * After a first hello that ended with its record: at most one ChangeCipherSpec (RFC 8446
 * §5, middlebox compatibility) and then a handshake record. Returns the retried hello's
 * length in *len, or -ECANCELED when what follows is not a second ClientHello.
 */
static int retry_header(struct hs_reader *r, uint32_t *len)
{
	bool ccs = false;
	uint8_t type, major, b;
	uint16_t rlen;
	uint32_t v;

	for (;;) {
		if (record_header(&r->raw, &type, &major, &rlen) < 0)
			return -ECANCELED;
		if (type == KS_TLS_CT_CCS && rlen == 1 && !ccs) {
			ccs = true;
			if (ks_cur_u8(&r->raw, &b) < 0 || b != 1)
				return -ECANCELED;
			continue;
		}
		if (type != KS_TLS_CT_HANDSHAKE || major != 3 || rlen == 0 ||
		    rlen > KS_TLS_MAX_RECORD)
			return -ECANCELED;
		break;
	}
	r->rec_left = rlen;
	r->records = 1;
	if (hs_read(r, 4, &v) < 0 || v >> 24 != KS_TLS_HS_CLIENT_HELLO)
		return -ECANCELED;
	*len = v & 0xffffff;
	return 0;
}

int ks_hello_classify(const uint8_t *stream, size_t len, bool fin, struct ks_hello_counters *add)
{
	struct hs_reader r = { .raw = ks_cur_init(stream, len) };
	struct ks_hello_counters before;
	unsigned int flags = 0;
	uint8_t type, major;
	uint16_t rlen;
	uint32_t v;
	int err;

	ENSURE(add && (stream || len == 0), -EINVAL);
	before = *add;
	if (len == 0)
		return 0;
	err = record_header(&r.raw, &type, &major, &rlen);
	if (err < 0) {
		count(add, err, fin);
		goto out;
	}
	if (type != KS_TLS_CT_HANDSHAKE || major != 3) {
		add->unclassified_non_tls++;
		goto out;
	}
	if (rlen == 0 || rlen > KS_TLS_MAX_RECORD) {
		add->unclassified_malformed++;
		goto out;
	}
	r.rec_left = rlen;
	r.records = 1;
	/* RFC 8446 §4: struct { HandshakeType msg_type; uint24 length; ... } Handshake; */
	err = hs_read(&r, 4, &v);
	if (err == 0 && v >> 24 != KS_TLS_HS_CLIENT_HELLO)
		err = -EBADMSG;
	if (err == 0)
		err = client_hello(&r, v & 0xffffff, &flags);
	if (err < 0) {
		count(add, err, fin);
		goto out;
	}
	count_hello(add, flags, false);
	if (r.rec_left != 0 || retry_header(&r, &v) < 0)
		goto out;
	flags = 0;
	err = client_hello(&r, v, &flags);
	if (err < 0)
		count(add, err, fin);
	else
		count_hello(add, flags, true);
out:
	return (int)(add->hellos - before.hellos + add->unclassified_malformed -
		     before.unclassified_malformed + add->unclassified_short -
		     before.unclassified_short + add->unclassified_non_tls -
		     before.unclassified_non_tls + add->unclassified_too_long -
		     before.unclassified_too_long);
}

void ks_hello_counters_add(struct ks_hello_counters *counters, const struct ks_hello_counters *add)
{
	counters->hellos += add->hellos;
	counters->status_request += add->status_request;
	counters->no_status_request += add->no_status_request;
	counters->status_request_v2 += add->status_request_v2;
	counters->hrr_hellos += add->hrr_hellos;
	counters->unclassified_malformed += add->unclassified_malformed;
	counters->unclassified_short += add->unclassified_short;
	counters->unclassified_non_tls += add->unclassified_non_tls;
	counters->unclassified_too_long += add->unclassified_too_long;
}

// SPDX-License-Identifier: MIT
/*
 * Shared by the OCSP validator and the inspect dump: the outer OCSPResponse is split with our
 * own bounds-checked DER cursor (so trailing bytes, BER lengths and HTML error pages are caught
 * before OpenSSL sees anything), then the BasicOCSPResponse is decoded by OpenSSL.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/evp.h>

#include "kstaple/cursor.h"
#include "ocsp_internal.h"

#define DER_SEQUENCE	0x30
#define DER_ENUMERATED	0x0a
#define DER_OID		0x06
#define DER_OCTETSTRING 0x04
#define DER_CTX0	0xa0 /* [0] EXPLICIT, constructed */

/* id-pkix-ocsp-basic, 1.3.6.1.5.5.7.48.1.1 (RFC 6960 §4.2.1), OID content octets. */
static const uint8_t oid_ocsp_basic[] = { 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01 };

static int why(char *buf, size_t len, const char *msg)
{
	snprintf(buf, len, "%s", msg);
	return -EBADMSG;
}

/* A responder or proxy error page is the most common non-DER answer: say so. */
static bool looks_like_text(const uint8_t *p, size_t n)
{
	size_t i, k = KS_MIN(n, (size_t)16);

	if (!k)
		return false;
	for (i = 0; i < k; i++)
		if (p[i] < 0x09 || p[i] > 0x7e)
			return false;
	return true;
}

/*
 * RFC 6960 §4.2.1:
 *   ResponseBytes ::= SEQUENCE {
 *      responseType   OBJECT IDENTIFIER,
 *      response       OCTET STRING }
 */
static int parse_response_bytes(struct ks_cursor *c, struct ks_ocsp_outer *o, char *w, size_t wl)
{
	struct ks_cursor rb, seq, oid, oct;
	const uint8_t *type_start;

	if (ks_cur_der_expect(c, DER_CTX0, &rb) < 0 ||
	    ks_cur_der_expect(&rb, DER_SEQUENCE, &seq) < 0 || ks_cur_close(&rb) < 0)
		return why(w, wl, "responseBytes is not a [0] EXPLICIT SEQUENCE");
	type_start = seq.p;
	if (ks_cur_der_expect(&seq, DER_OID, &oid) < 0)
		return why(w, wl, "responseBytes has no responseType OID");
	o->type = type_start;
	o->type_len = (size_t)(seq.p - type_start);
	o->is_basic = ks_cur_left(&oid) == sizeof(oid_ocsp_basic) &&
		      memcmp(oid.p, oid_ocsp_basic, sizeof(oid_ocsp_basic)) == 0;
	if (ks_cur_der_expect(&seq, DER_OCTETSTRING, &oct) < 0 || ks_cur_close(&seq) < 0)
		return why(w, wl, "responseBytes.response is not a single OCTET STRING");
	o->basic = oct.p;
	o->basic_len = ks_cur_left(&oct);
	o->has_bytes = true;
	return 0;
}

/*
 * RFC 6960 §4.2.1:
 *   OCSPResponse ::= SEQUENCE {
 *      responseStatus         OCSPResponseStatus,
 *      responseBytes          [0] EXPLICIT ResponseBytes OPTIONAL }
 *   OCSPResponseStatus ::= ENUMERATED { successful (0), malformedRequest (1),
 *      internalError (2), tryLater (3), -- (4) is not used -- sigRequired (5), unauthorized (6) }
 */
int ks_ocsp_outer_parse(const uint8_t *der, size_t len, struct ks_ocsp_outer *o, char *w, size_t wl)
{
	struct ks_cursor c = ks_cur_init(der, len), seq, st;
	uint8_t v;

	memset(o, 0, sizeof(*o));
	o->status = -1;
	if (!len)
		return why(w, wl, "empty input: no OCSP response");
	if (looks_like_text(der, len))
		return why(w, wl, "input is text (an HTML error page?), not a DER OCSPResponse");
	if (ks_cur_der_expect(&c, DER_SEQUENCE, &seq) < 0)
		return why(w, wl,
			   "not a DER OCSPResponse: the outer SEQUENCE is truncated or invalid");
	if (!ks_cur_empty(&c)) {
		snprintf(w, wl, "%zu trailing bytes after the DER OCSPResponse", ks_cur_left(&c));
		return -EBADMSG;
	}
	/* DER INTEGER/ENUMERATED content is minimal; statuses fit one non-negative octet. */
	if (ks_cur_der_expect(&seq, DER_ENUMERATED, &st) < 0 || ks_cur_left(&st) != 1 ||
	    ks_cur_u8(&st, &v) < 0 || v > 0x7f)
		return why(w, wl, "responseStatus is not a one-octet ENUMERATED");
	o->status = v;
	if (!ks_cur_empty(&seq))
		TRY(parse_response_bytes(&seq, o, w, wl));
	if (!ks_cur_empty(&seq))
		return why(w, wl, "unexpected fields after responseBytes");
	if (o->status == OCSP_RESPONSE_STATUS_SUCCESSFUL && !o->has_bytes)
		return why(w, wl, "responseStatus is successful but responseBytes is absent");
	return 0;
}

OCSP_BASICRESP *ks_ocsp_basic_decode(const uint8_t *p, size_t len)
{
	const uint8_t *q = p;
	OCSP_BASICRESP *bs;

	if (!len || len > LONG_MAX)
		return NULL;
	bs = d2i_OCSP_BASICRESP(NULL, &q, (long)len);
	/* d2i stops at the end of the first object: bytes after it would be unsigned junk. */
	if (bs && q != p + len) {
		OCSP_BASICRESP_free(bs);
		bs = NULL;
	}
	return bs;
}

/* A DER SEQUENCE header for a body of len bytes (X.690 §8.1.3); returns its size (<= 6). */
static size_t der_seq_header(uint8_t *h, size_t len)
{
	size_t n = 0, k;

	h[n++] = DER_SEQUENCE;
	if (len < 0x80) {
		h[n++] = (uint8_t)len;
		return n;
	}
	for (k = 0; k < sizeof(uint32_t) && len >> (8 * k); k++)
		;
	h[n++] = (uint8_t)(0x80 | k);
	while (k--)
		h[n++] = (uint8_t)(len >> (8 * k));
	return n;
}

/*
 * RFC 6960 §4.2.1:
 *   BasicOCSPResponse ::= SEQUENCE {
 *      tbsResponseData      ResponseData,
 *      signatureAlgorithm   AlgorithmIdentifier,
 *      signature            BIT STRING,
 *      certs            [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
 *
 * Finds where certs starts (*signed_end) and its list of certificates (*certs). -EBADMSG if
 * the bytes are not this shape in plain DER; the caller then leaves the decision to OpenSSL.
 */
static int split_basic(const uint8_t *p, size_t len, const uint8_t **body,
		       const uint8_t **signed_end, struct ks_cursor *certs)
{
	struct ks_cursor c = ks_cur_init(p, len), seq, v, wrap;
	uint8_t tag;

	ENSURE(len <= UINT32_MAX, -EBADMSG); /* der_seq_header() writes at most 4 octets */
	TRY(ks_cur_der_expect(&c, DER_SEQUENCE, &seq));
	ENSURE(ks_cur_empty(&c), -EBADMSG);
	*body = seq.p;
	for (int i = 0; i < 3; i++)
		TRY(ks_cur_der(&seq, &tag, &v));
	*signed_end = seq.p;
	*certs = ks_cur_init(seq.p, 0);
	if (ks_cur_empty(&seq))
		return 0;
	TRY(ks_cur_der_expect(&seq, DER_CTX0, &wrap));
	ENSURE(ks_cur_empty(&seq), -EBADMSG);
	TRY(ks_cur_der_expect(&wrap, DER_SEQUENCE, certs));
	ENSURE(ks_cur_empty(&wrap), -EBADMSG);
	return 0;
}

/* Each Certificate of the certs list, from the cache, added to bs in order. */
static int add_certs(OCSP_BASICRESP *bs, struct ks_cursor *certs, struct ks_ocsp_certcache *cc)
{
	const uint8_t *start;
	struct ks_cursor v;
	X509 *x;
	int ok;

	while (!ks_cur_empty(certs)) {
		start = certs->p;
		/* Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature } */
		TRY(ks_cur_der_expect(certs, DER_SEQUENCE, &v));
		x = ks_ocsp_certcache_get(cc, start, (size_t)(certs->p - start));
		ENSURE(x, -errno);
		ok = OCSP_basic_add1_cert(bs, x);
		X509_free(x);
		ENSURE(ok == 1, -ENOMEM);
	}
	return 0;
}

OCSP_BASICRESP *ks_ocsp_basic_decode_cached(const uint8_t *p, size_t len,
					    struct ks_ocsp_certcache *cc)
{
	const uint8_t *body, *signed_end, *q;
	struct ks_cursor certs;
	OCSP_BASICRESP *bs = NULL;
	uint8_t *buf;
	size_t n, hl;

	if (!cc || split_basic(p, len, &body, &signed_end, &certs) < 0 || !ks_cur_left(&certs))
		return ks_ocsp_basic_decode(p, len);
	/*
	 * OpenSSL decodes the signed part alone (the same SEQUENCE without certs); the
	 * certificates come from the cache, so each distinct one is parsed once. A certificate
	 * that does not decode fails the whole response, as it would in d2i_OCSP_BASICRESP().
	 */
	n = (size_t)(signed_end - body);
	buf = malloc(n + 8);
	if (!buf)
		return NULL;
	hl = der_seq_header(buf, n);
	memcpy(buf + hl, body, n);
	q = buf;
	bs = d2i_OCSP_BASICRESP(NULL, &q, (long)(hl + n));
	if (bs && (q != buf + hl + n || add_certs(bs, &certs, cc) < 0)) {
		OCSP_BASICRESP_free(bs);
		bs = NULL;
	}
	free(buf);
	return bs;
}

const char *ks_ocsp_status_name(int status)
{
	static const char *const names[] = {
		[0] = "successful", [1] = "malformedRequest", [2] = "internalError",
		[3] = "tryLater",   [5] = "sigRequired",      [6] = "unauthorized",
	};

	if (status >= 0 && (size_t)status < KS_ARRAY_SIZE(names) && names[status])
		return names[status];
	return "unknown";
}

bool ks_ocsp_responder_is(X509 *cert, const ASN1_OCTET_STRING *keyid, const X509_NAME *name)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	if (name)
		return X509_NAME_cmp(X509_get_subject_name(cert), name) == 0;
	/* RFC 6960 §4.2.1: KeyHash is the SHA-1 of the subjectPublicKey BIT STRING value. */
	if (!keyid || !X509_pubkey_digest(cert, EVP_sha1(), md, &md_len))
		return false;
	return (size_t)ASN1_STRING_length(keyid) == md_len &&
	       memcmp(ASN1_STRING_get0_data(keyid), md, md_len) == 0;
}

X509 *ks_ocsp_find_responder(const OCSP_BASICRESP *bs)
{
	const STACK_OF(X509) *certs = OCSP_resp_get0_certs(bs);
	const ASN1_OCTET_STRING *keyid = NULL;
	const X509_NAME *name = NULL;

	if (!OCSP_resp_get0_id(bs, &keyid, &name))
		return NULL;
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);

		if (ks_ocsp_responder_is(x, keyid, name))
			return x;
	}
	return NULL;
}

char *ks_ocsp_hex(const uint8_t *p, size_t n, char *buf, size_t len)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t i, o = 0;

	if (!len)
		return buf;
	for (i = 0; i < n && o + 2 < len; i++) {
		buf[o++] = digits[p[i] >> 4];
		buf[o++] = digits[p[i] & 0xf];
	}
	buf[o] = '\0';
	if (i < n && len >= 4)
		memcpy(buf + len - 4, "...", 4);
	return buf;
}

char *ks_ocsp_serial_hex(const ASN1_INTEGER *serial, char *buf, size_t len)
{
	bool neg = ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER;

	if (len < 2)
		return ks_ocsp_hex(NULL, 0, buf, len);
	buf[0] = '-';
	/* ASN1_INTEGER holds the magnitude, big-endian, with the sign in its type. */
	ks_ocsp_hex(ASN1_STRING_get0_data(serial), (size_t)ASN1_STRING_length(serial), buf + neg,
		    len - neg);
	if (!buf[neg])
		snprintf(buf, len, "00");
	return buf;
}

char *ks_ocsp_name_str(const X509_NAME *name, unsigned long flags, char *buf, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n = 0;

	if (len)
		buf[0] = '\0';
	if (b && X509_NAME_print_ex(b, name, 0, flags) >= 0 && len)
		n = BIO_read(b, buf, (int)KS_MIN(len - 1, (size_t)INT32_MAX));
	if (n > 0)
		buf[n] = '\0';
	BIO_free(b);
	return buf;
}

char *ks_ocsp_responder_str(const OCSP_BASICRESP *bs, unsigned long flags, char *buf, size_t len)
{
	const ASN1_OCTET_STRING *keyid = NULL;
	const X509_NAME *name = NULL;
	char hex[2 * 20 + 4];

	if (!OCSP_resp_get0_id(bs, &keyid, &name))
		snprintf(buf, len, "(none)");
	else if (name)
		ks_ocsp_name_str(name, flags, buf, len);
	else
		snprintf(buf, len, "key:%s",
			 ks_ocsp_hex(ASN1_STRING_get0_data(keyid),
				     (size_t)ASN1_STRING_length(keyid), hex, sizeof(hex)));
	return buf;
}

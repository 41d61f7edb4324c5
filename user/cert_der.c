// SPDX-License-Identifier: MIT
/*
 * The fields of an X.509 leaf that OCSP needs, read from its DER without OpenSSL decoding the
 * public key. See cert_der.h. Every read goes through cursor.h; every span is a view into the
 * caller's buffer.
 */
#include <string.h>
#include <time.h>

#include "kstaple/cert_der.h"
#include "kstaple/cursor.h"

/* X.690 identifier octets. */
#define DER_BOOLEAN	 0x01
#define DER_INTEGER	 0x02
#define DER_BIT_STRING	 0x03
#define DER_OCTET_STRING 0x04
#define DER_NULL	 0x05
#define DER_OID		 0x06
#define DER_UTCTIME	 0x17
#define DER_GENTIME	 0x18
#define DER_SEQUENCE	 0x30
#define DER_CTX(n)	 (0x80 | (n)) /* [n] IMPLICIT, primitive */
#define DER_CTX_C(n)	 (0xa0 | (n)) /* [n], constructed */

/* OID contents octets (X.690 §8.19), compared byte for byte. */
static const uint8_t OID_AIA[] = { 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01 };
static const uint8_t OID_TLSFEATURE[] = { 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x18 };
static const uint8_t OID_PROXYCERTINFO[] = { 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x0e };
static const uint8_t OID_AD_OCSP[] = { 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01 };
static const uint8_t OID_AKID[] = { 0x55, 0x1d, 0x23 };
static const uint8_t OID_EC_PUBKEY[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };

static bool span_is(struct ks_cursor v, const uint8_t *oid, size_t n)
{
	return ks_cur_left(&v) == n && memcmp(v.p, oid, n) == 0;
}

/* Read one TLV with the expected tag; *whole covers tag, length and value. */
static int der_tlv(struct ks_cursor *c, uint8_t tag, struct ks_der_span *whole,
		   struct ks_cursor *value)
{
	const uint8_t *start = c->p;

	TRY(ks_cur_der_expect(c, tag, value));
	whole->p = start;
	whole->len = (size_t)(c->p - start);
	return 0;
}

/* Two decimal digits, each checked. */
static int digits2(const uint8_t *s, int *out)
{
	ENSURE(s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9', -EBADMSG);
	*out = (s[0] - '0') * 10 + (s[1] - '0');
	return 0;
}

/*
 * RFC 5280 §4.1.2.5.1: UTCTime "YYMMDDHHMMSSZ", YY >= 50 is 19YY, else 20YY.
 * RFC 5280 §4.1.2.5.2: GeneralizedTime "YYYYMMDDHHMMSSZ", no fractional seconds.
 */
int ks_der_time(uint8_t tag, const uint8_t *s, size_t len, int64_t *out)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int yy, cc = 0, mo, d, h, mi, sec, year;
	bool leap;

	ENSURE((tag == DER_UTCTIME && len == 13) || (tag == DER_GENTIME && len == 15), -EBADMSG);
	ENSURE(s[len - 1] == 'Z', -EBADMSG);
	if (tag == DER_GENTIME) {
		TRY(digits2(s, &cc));
		s += 2;
	}
	TRY(digits2(s, &yy));
	TRY(digits2(s + 2, &mo));
	TRY(digits2(s + 4, &d));
	TRY(digits2(s + 6, &h));
	TRY(digits2(s + 8, &mi));
	TRY(digits2(s + 10, &sec));
	year = tag == DER_GENTIME ? cc * 100 + yy : yy >= 50 ? 1900 + yy : 2000 + yy;
	leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	ENSURE(mo >= 1 && mo <= 12 && d >= 1, -EBADMSG);
	ENSURE(d <= mdays[mo - 1] + (mo == 2 && leap), -EBADMSG);
	ENSURE(h <= 23 && mi <= 59 && sec <= 59, -EBADMSG);
	/* Fields checked above, so timegm's -1 is 1969-12-31T23:59:59Z, not an error. */
	*out = (int64_t)timegm(&(struct tm){ .tm_year = year - 1900,
					     .tm_mon = mo - 1,
					     .tm_mday = d,
					     .tm_hour = h,
					     .tm_min = mi,
					     .tm_sec = sec });
	return 0;
}

/* RFC 5280 §4.1.2.5: Validity ::= SEQUENCE { notBefore Time, notAfter Time } */
static int parse_validity(struct ks_cursor *tbs, struct ks_cert_der *out)
{
	struct ks_cursor seq, v;
	uint8_t tag;

	TRY(ks_cur_der_expect(tbs, DER_SEQUENCE, &seq));
	TRY(ks_cur_der(&seq, &tag, &v));
	TRY(ks_der_time(tag, v.p, ks_cur_left(&v), &out->not_before));
	TRY(ks_cur_der(&seq, &tag, &v));
	TRY(ks_der_time(tag, v.p, ks_cur_left(&v), &out->not_after));
	return ks_cur_close(&seq);
}

/*
 * RFC 5280 §4.2.2.1:
 *   AuthorityInfoAccessSyntax ::= SEQUENCE SIZE (1..MAX) OF AccessDescription
 *   AccessDescription ::= SEQUENCE { accessMethod OBJECT IDENTIFIER, accessLocation GeneralName }
 *   GeneralName ::= CHOICE { ... uniformResourceIdentifier [6] IA5String, ... }
 * As OpenSSL's X509_get1_ocsp(): id-ad-ocsp URIs only, empty ones skipped, duplicates once. A
 * URI with a NUL octet is refused (OpenSSL would cut it there).
 */
static int parse_aia(struct ks_cursor ext, struct ks_cert_der *out)
{
	struct ks_cursor seq, ad, oid, loc;
	uint8_t tag;

	TRY(ks_cur_der_expect(&ext, DER_SEQUENCE, &seq));
	TRY(ks_cur_close(&ext));
	ENSURE(!ks_cur_empty(&seq), -EBADMSG); /* SIZE (1..MAX) */
	while (!ks_cur_empty(&seq)) {
		TRY(ks_cur_der_expect(&seq, DER_SEQUENCE, &ad));
		TRY(ks_cur_der_expect(&ad, DER_OID, &oid));
		TRY(ks_cur_der(&ad, &tag, &loc));
		TRY(ks_cur_close(&ad));
		if (!span_is(oid, OID_AD_OCSP, sizeof(OID_AD_OCSP)) || tag != DER_CTX(6))
			continue;
		size_t n = ks_cur_left(&loc);
		bool dup = false;

		ENSURE(!memchr(loc.p, 0, n), -EBADMSG);
		for (size_t i = 0; i < n; i++)
			ENSURE(loc.p[i] < 0x80, -EBADMSG); /* IA5String: 7-bit */
		if (!n)
			continue;
		for (size_t i = 0; i < out->n_ocsp_urls; i++)
			dup |= out->ocsp_urls[i].len == n && !memcmp(out->ocsp_urls[i].p, loc.p, n);
		if (dup)
			continue;
		ENSURE(out->n_ocsp_urls < KS_DER_MAX_OCSP_URLS, -EBADMSG);
		out->ocsp_urls[out->n_ocsp_urls++] = (struct ks_der_span){ loc.p, n };
	}
	return 0;
}

/*
 * RFC 5280 §4.2.1.1:
 *   AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] KeyIdentifier OPTIONAL,
 *       authorityCertIssuer [1] GeneralNames OPTIONAL,
 *       authorityCertSerialNumber [2] CertificateSerialNumber OPTIONAL }
 * Only the keyIdentifier form is handled here; the other two are left to OpenSSL.
 */
static int parse_akid(struct ks_cursor ext, struct ks_cert_der *out)
{
	struct ks_cursor seq, kid;

	TRY(ks_cur_der_expect(&ext, DER_SEQUENCE, &seq));
	TRY(ks_cur_close(&ext));
	if (ks_cur_empty(&seq))
		return 0;
	TRY(ks_cur_der_expect(&seq, DER_CTX(0), &kid));
	TRY(ks_cur_close(&seq));
	out->akid_keyid = (struct ks_der_span){ kid.p, ks_cur_left(&kid) };
	return 0;
}

/* Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING } */
static int parse_extension(struct ks_cursor *exts, struct ks_cursor *oid, struct ks_cert_der *out)
{
	struct ks_cursor ext, crit, val;
	uint8_t b;

	TRY(ks_cur_der_expect(exts, DER_SEQUENCE, &ext));
	TRY(ks_cur_der_expect(&ext, DER_OID, oid));
	ENSURE(ks_cur_left(oid) > 0, -EBADMSG);
	if (ks_cur_peek_u8(&ext, &b) == 0 && b == DER_BOOLEAN) {
		TRY(ks_cur_der_expect(&ext, DER_BOOLEAN, &crit));
		/* DER (X.690 §11.5): a DEFAULT value is omitted, so an explicit one is TRUE. */
		TRY(ks_cur_u8(&crit, &b));
		ENSURE(b == 0xff, -EBADMSG);
		TRY(ks_cur_close(&crit));
	}
	TRY(ks_cur_der_expect(&ext, DER_OCTET_STRING, &val));
	TRY(ks_cur_close(&ext));
	if (span_is(*oid, OID_AIA, sizeof(OID_AIA)))
		return parse_aia(val, out);
	if (span_is(*oid, OID_AKID, sizeof(OID_AKID)))
		return parse_akid(val, out);
	if (span_is(*oid, OID_TLSFEATURE, sizeof(OID_TLSFEATURE)))
		out->tlsfeature = (struct ks_der_span){ val.p, ks_cur_left(&val) };
	/* A proxy certificate is issued under other rules (RFC 3820): OpenSSL's path decides. */
	ENSURE(!span_is(*oid, OID_PROXYCERTINFO, sizeof(OID_PROXYCERTINFO)), -EBADMSG);
	return 0;
}

/* Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension; RFC 5280 §4.2: each extnID at most once. */
static int parse_extensions(struct ks_cursor *tbs, struct ks_cert_der *out)
{
	struct ks_cursor wrap, exts, seen[32];
	size_t n = 0;

	TRY(ks_cur_der_expect(tbs, DER_CTX_C(3), &wrap));
	TRY(ks_cur_der_expect(&wrap, DER_SEQUENCE, &exts));
	TRY(ks_cur_close(&wrap));
	ENSURE(!ks_cur_empty(&exts), -EBADMSG);
	while (!ks_cur_empty(&exts)) {
		ENSURE(n < KS_ARRAY_SIZE(seen), -EBADMSG);
		TRY(parse_extension(&exts, &seen[n], out));
		for (size_t i = 0; i < n; i++)
			ENSURE(!span_is(seen[i], seen[n].p, ks_cur_left(&seen[n])), -EBADMSG);
		n++;
	}
	return 0;
}

/* SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING } */
static int parse_spki(struct ks_cursor *tbs, struct ks_cert_der *out)
{
	struct ks_cursor spki, alg, key;

	TRY(ks_cur_der_expect(tbs, DER_SEQUENCE, &spki));
	TRY(der_tlv(&spki, DER_SEQUENCE, &out->spki_alg, &alg));
	TRY(ks_cur_der_expect(&spki, DER_BIT_STRING, &key));
	return ks_cur_close(&spki);
}

/*
 * RFC 5280 §4.1:
 *   TBSCertificate ::= SEQUENCE {
 *       version [0] EXPLICIT Version DEFAULT v1, serialNumber CertificateSerialNumber,
 *       signature AlgorithmIdentifier, issuer Name, validity Validity, subject Name,
 *       subjectPublicKeyInfo SubjectPublicKeyInfo,
 *       issuerUniqueID [1] IMPLICIT UniqueIdentifier OPTIONAL,  -- v2 or v3
 *       subjectUniqueID [2] IMPLICIT UniqueIdentifier OPTIONAL, -- v2 or v3
 *       extensions [3] EXPLICIT Extensions OPTIONAL }           -- v3
 *   Version ::= INTEGER { v1(0), v2(1), v3(2) }
 */
static int parse_tbs(struct ks_cursor tbs, struct ks_der_span *tbs_sig_alg, struct ks_cert_der *out)
{
	struct ks_cursor v, ver;
	uint8_t tag, version = 0;

	if (ks_cur_peek_u8(&tbs, &tag) == 0 && tag == DER_CTX_C(0)) {
		TRY(ks_cur_der_expect(&tbs, DER_CTX_C(0), &v));
		TRY(ks_cur_der_expect(&v, DER_INTEGER, &ver));
		TRY(ks_cur_u8(&ver, &version));
		TRY(ks_cur_close(&ver));
		TRY(ks_cur_close(&v));
		ENSURE(version == 1 || version == 2, -EBADMSG); /* v1 is DEFAULT: never explicit */
	}
	TRY(der_tlv(&tbs, DER_INTEGER, &out->serial, &v));
	ENSURE(ks_cur_left(&v) > 0, -EBADMSG);
	TRY(der_tlv(&tbs, DER_SEQUENCE, tbs_sig_alg, &v));
	TRY(der_tlv(&tbs, DER_SEQUENCE, &out->issuer, &v));
	TRY(parse_validity(&tbs, out));
	TRY(der_tlv(&tbs, DER_SEQUENCE, &out->subject, &v));
	TRY(parse_spki(&tbs, out));
	if (ks_cur_peek_u8(&tbs, &tag) == 0 && tag == DER_CTX(1) && version >= 1)
		TRY(ks_cur_der_expect(&tbs, DER_CTX(1), &v));
	if (ks_cur_peek_u8(&tbs, &tag) == 0 && tag == DER_CTX(2) && version >= 1)
		TRY(ks_cur_der_expect(&tbs, DER_CTX(2), &v));
	if (!ks_cur_empty(&tbs) && version == 2)
		TRY(parse_extensions(&tbs, out));
	return ks_cur_close(&tbs);
}

/*
 * RFC 5280 §4.1.1:
 *   Certificate ::= SEQUENCE { tbsCertificate TBSCertificate,
 *       signatureAlgorithm AlgorithmIdentifier, signatureValue BIT STRING }
 * §4.1.1.2: signatureAlgorithm MUST be the same as the signature field of the TBSCertificate.
 */
int ks_cert_der_parse(const uint8_t *der, size_t len, struct ks_cert_der *out)
{
	struct ks_cursor c = ks_cur_init(der, len), cert, tbs, alg, sig;
	struct ks_der_span tbs_sig_alg;
	uint8_t unused;

	memset(out, 0, sizeof(*out));
	ENSURE(der, -EBADMSG);
	TRY(ks_cur_der_expect(&c, DER_SEQUENCE, &cert));
	TRY(ks_cur_close(&c));
	TRY(der_tlv(&cert, DER_SEQUENCE, &out->tbs, &tbs));
	TRY(der_tlv(&cert, DER_SEQUENCE, &out->sig_alg, &alg));
	TRY(ks_cur_der_expect(&cert, DER_BIT_STRING, &sig));
	TRY(ks_cur_close(&cert));
	TRY(ks_cur_u8(&sig, &unused));
	ENSURE(unused == 0 && !ks_cur_empty(&sig), -EBADMSG);
	out->sig = (struct ks_der_span){ sig.p, ks_cur_left(&sig) };
	TRY(parse_tbs(tbs, &tbs_sig_alg, out));
	ENSURE(tbs_sig_alg.len == out->sig_alg.len &&
		       !memcmp(tbs_sig_alg.p, out->sig_alg.p, tbs_sig_alg.len),
	       -EBADMSG);
	return 0;
}

/* AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY DEFINED BY algorithm OPTIONAL } */
enum ks_sig_alg ks_der_sig_alg(const uint8_t *alg, size_t len)
{
	/* RFC 5758 §3.2: ecdsa-with-SHA2 family, parameters absent. */
	static const uint8_t ecdsa[] = { 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
					 0x48, 0xce, 0x3d, 0x04, 0x03 };
	/* RFC 4055 §5: sha{256,384,512}WithRSAEncryption, parameters NULL. */
	static const uint8_t rsa[] = { 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86,
				       0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01 };
	/* RFC 8410 §3: id-Ed25519, parameters absent. */
	static const uint8_t ed25519[] = { 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70 };

	if (len == sizeof(ecdsa) + 1 && !memcmp(alg, ecdsa, sizeof(ecdsa))) {
		switch (alg[sizeof(ecdsa)]) {
		case 0x02:
			return KS_SIG_ECDSA_SHA256;
		case 0x03:
			return KS_SIG_ECDSA_SHA384;
		case 0x04:
			return KS_SIG_ECDSA_SHA512;
		}
	}
	if (len == sizeof(rsa) + 3 && !memcmp(alg, rsa, sizeof(rsa)) &&
	    alg[sizeof(rsa) + 1] == DER_NULL && alg[sizeof(rsa) + 2] == 0) {
		switch (alg[sizeof(rsa)]) {
		case 0x0b:
			return KS_SIG_RSA_SHA256;
		case 0x0c:
			return KS_SIG_RSA_SHA384;
		case 0x0d:
			return KS_SIG_RSA_SHA512;
		}
	}
	if (len == sizeof(ed25519) && !memcmp(alg, ed25519, sizeof(ed25519)))
		return KS_SIG_ED25519;
	return KS_SIG_UNKNOWN;
}

/* RFC 5480 §2.1.1: id-ecPublicKey, the parameters naming the curve. */
bool ks_der_spki_is_ec(const uint8_t *alg, size_t len)
{
	struct ks_cursor c = ks_cur_init(alg, len), seq, oid;

	return ks_cur_der_expect(&c, DER_SEQUENCE, &seq) == 0 &&
	       ks_cur_der_expect(&seq, DER_OID, &oid) == 0 &&
	       span_is(oid, OID_EC_PUBKEY, sizeof(OID_EC_PUBKEY));
}

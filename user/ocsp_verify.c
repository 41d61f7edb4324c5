// SPDX-License-Identifier: MIT
/*
 * The pure OCSP response validator; see include/kstaple/ocsp_verify.h.
 *
 * Everything is checked explicitly instead of through OCSP_basic_verify(): that function
 * builds chains in an X509_STORE and checks validity against the system clock, and this one
 * must depend only on its arguments. The checks run in a fixed order (structure, status, type,
 * signer, SingleResponse, times, certificate status) and the first failure is the verdict, so
 * every rejection has exactly one reason and one sentence.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "kstaple/cert_store.h"
#include "kstaple/clock.h"
#include "kstaple/ocsp_verify.h"
#include "ocsp_internal.h"

/* Stage results: DECIDED means res->verdict is final; negative values are local errors. */
#define CONTINUE 0
#define DECIDED	 1

static const char *const verdict_names[KS_V__COUNT] = {
	[KS_V_GOOD] = "good",
	[KS_V_REVOKED] = "revoked",
	[KS_V_UNKNOWN] = "unknown",
	[KS_V_MALFORMED] = "malformed",
	[KS_V_NOT_SUCCESSFUL] = "not-successful",
	[KS_V_NOT_BASIC] = "not-basic",
	[KS_V_BAD_SIGNATURE] = "bad-signature",
	[KS_V_UNTRUSTED_SIGNER] = "untrusted-signer",
	[KS_V_DELEGATE_NO_EKU] = "delegate-no-eku",
	[KS_V_CERTID_MISMATCH] = "certid-mismatch",
	[KS_V_MULTIPLE_RESPONSES] = "multiple-responses",
	[KS_V_NOT_YET_VALID] = "not-yet-valid",
	[KS_V_EXPIRED] = "expired",
	[KS_V_NO_NEXT_UPDATE] = "no-next-update",
};

static const char *const verdict_strs[KS_V__COUNT] = {
	[KS_V_GOOD] = "the certificate is good",
	[KS_V_REVOKED] = "the certificate is revoked",
	[KS_V_UNKNOWN] = "the responder does not know the certificate",
	[KS_V_MALFORMED] = "the response is not a well-formed DER OCSPResponse",
	[KS_V_NOT_SUCCESSFUL] = "the responder returned an error status",
	[KS_V_NOT_BASIC] = "the response is not a BasicOCSPResponse",
	[KS_V_BAD_SIGNATURE] = "the response signature does not verify",
	[KS_V_UNTRUSTED_SIGNER] = "the response is signed by neither the issuer nor its delegate",
	[KS_V_DELEGATE_NO_EKU] = "the delegated responder certificate lacks id-kp-OCSPSigning",
	[KS_V_CERTID_MISMATCH] = "the response is about another certificate",
	[KS_V_MULTIPLE_RESPONSES] = "the response holds more than one SingleResponse",
	[KS_V_NOT_YET_VALID] = "thisUpdate is in the future: the response is not yet valid",
	[KS_V_EXPIRED] = "nextUpdate is in the past: the response expired",
	[KS_V_NO_NEXT_UPDATE] = "the response has no nextUpdate: its freshness is unknown",
};

const char *ks_verdict_name(enum ks_verdict v)
{
	return (unsigned)v < KS_V__COUNT ? verdict_names[v] : "invalid";
}

const char *ks_verdict_str(enum ks_verdict v)
{
	return (unsigned)v < KS_V__COUNT ? verdict_strs[v] : "invalid verdict";
}

static int decide(struct ks_ocsp_result *res, enum ks_verdict v, const char *fmt, ...)
	KS_PRINTF(3, 4);

static int decide(struct ks_ocsp_result *res, enum ks_verdict v, const char *fmt, ...)
{
	va_list ap;

	res->verdict = v;
	va_start(ap, fmt);
	vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
	va_end(ap);
	return DECIDED;
}

static int64_t sat_add(int64_t a, int64_t b)
{
	int64_t r;

	return __builtin_add_overflow(a, b, &r) ? (b > 0 ? INT64_MAX : INT64_MIN) : r;
}

/*
 * RFC 6960 §4.2.2.2: a delegated responder certificate must be issued directly by the CA that
 * issued the certificate in question and carry id-kp-OCSPSigning. Its validity is checked at
 * p->now without skew: a client would reject a staple whose responder certificate is stale.
 */
/* The delegate's subject, formatted only for a message: printing a name costs more than a check. */
#define SUBJ ks_ocsp_name_str(X509_get_subject_name(d), XN_FLAG_ONELINE, subj, sizeof(subj))

static int check_delegate(X509 *d, const struct ks_verify_params *p, struct ks_ocsp_result *res)
{
	char subj[96], t[32];
	int64_t nb, na;
	uint32_t flags;

	/*
	 * The issuance check depends only on the two certificates, so a cache remembers it once
	 * it succeeded (never a failure); the time and usage checks below run every time.
	 */
	if (!ks_ocsp_certcache_issued_by(p->certs, d, p->issuer)) {
		if (X509_check_issued(p->issuer, d) != X509_V_OK ||
		    X509_verify(d, X509_get0_pubkey(p->issuer)) != 1)
			return decide(res, KS_V_UNTRUSTED_SIGNER,
				      "responder certificate \"%s\" was not issued by the "
				      "certificate's issuer",
				      SUBJ);
		ks_ocsp_certcache_note_issued(p->certs, d, p->issuer);
	}
	if (ks_asn1_time_to_unix(X509_get0_notBefore(d), &nb) < 0 ||
	    ks_asn1_time_to_unix(X509_get0_notAfter(d), &na) < 0)
		return decide(res, KS_V_UNTRUSTED_SIGNER,
			      "responder certificate \"%s\" has an unreadable validity period",
			      SUBJ);
	if (p->now < nb)
		return decide(res, KS_V_UNTRUSTED_SIGNER,
			      "responder certificate \"%s\" is not valid before %s", SUBJ,
			      ks_fmt_time(nb, t, sizeof(t)));
	if (p->now > na)
		return decide(res, KS_V_UNTRUSTED_SIGNER,
			      "responder certificate \"%s\" expired at %s", SUBJ,
			      ks_fmt_time(na, t, sizeof(t)));
	/* With no EKU extension OpenSSL reports "any usage": RFC 6960 wants it explicitly. */
	flags = X509_get_extension_flags(d);
	if ((flags & EXFLAG_INVALID) || !(flags & EXFLAG_XKUSAGE) ||
	    !(X509_get_extended_key_usage(d) & XKU_OCSP_SIGN))
		return decide(
			res, KS_V_DELEGATE_NO_EKU,
			"responder certificate \"%s\" lacks extendedKeyUsage id-kp-OCSPSigning",
			SUBJ);
	return CONTINUE;
}
#undef SUBJ

/* Find who the ResponderID names, make sure they may speak for the issuer, check the signature. */
static int check_signer(OCSP_BASICRESP *bs, const struct ks_verify_params *p,
			struct ks_ocsp_result *res)
{
	const ASN1_OCTET_STRING *keyid = NULL;
	const X509_NAME *name = NULL;
	const char *who = "the issuer";
	EVP_PKEY *pkey;
	X509 *signer;
	char rid[96];
	int r;

	if (!OCSP_resp_get0_id(bs, &keyid, &name))
		return decide(res, KS_V_MALFORMED, "the response has no ResponderID");
	if (ks_ocsp_responder_is(p->issuer, keyid, name)) {
		signer = p->issuer;
	} else {
		signer = ks_ocsp_find_responder(bs);
		if (!signer)
			return decide(res, KS_V_UNTRUSTED_SIGNER,
				      "responderID %s is neither the issuer nor a certificate "
				      "included in the response",
				      ks_ocsp_responder_str(bs, XN_FLAG_ONELINE, rid, sizeof(rid)));
		r = check_delegate(signer, p, res);
		if (r != CONTINUE)
			return r;
		who = "the delegated responder";
	}
	/* The signature covers the DER of tbsResponseData (RFC 6960 §4.2.1). */
	pkey = X509_get0_pubkey(signer);
	if (!pkey ||
	    ASN1_item_verify(ASN1_ITEM_rptr(OCSP_RESPDATA), OCSP_resp_get0_tbs_sigalg(bs),
			     OCSP_resp_get0_signature(bs), OCSP_resp_get0_respdata(bs), pkey) != 1)
		return decide(res, KS_V_BAD_SIGNATURE,
			      "the response signature does not verify with %s's public key", who);
	return CONTINUE;
}

/* Recompute our CertID with the responder's hash algorithm and compare (RFC 6960 §4.1.1). */
static int check_certid(OCSP_SINGLERESP *sr, const struct ks_verify_params *p,
			struct ks_ocsp_result *res)
{
	OCSP_CERTID *cid = (OCSP_CERTID *)OCSP_SINGLERESP_get0_id(sr), *ours;
	ASN1_OBJECT *alg = NULL;
	ASN1_INTEGER *serial = NULL;
	char theirs_hex[44], ours_hex[44], algname[64];
	const EVP_MD *md;
	int cmp;

	if (!cid || !OCSP_id_get0_info(NULL, &alg, NULL, &serial, cid) || !alg || !serial)
		return decide(res, KS_V_MALFORMED, "the SingleResponse has no usable CertID");
	md = EVP_get_digestbyobj(alg);
	if (!md) {
		OBJ_obj2txt(algname, sizeof(algname), alg, 0);
		return decide(res, KS_V_CERTID_MISMATCH,
			      "the CertID uses hash algorithm %s, which cannot be computed here",
			      algname);
	}
	/* OCSP_cert_to_id() is this with the leaf's issuer Name and serial taken from the leaf. */
	ours = p->leaf ? OCSP_cert_to_id(md, p->leaf, p->issuer)
		       : OCSP_cert_id_new(md, p->leaf_issuer_name,
					  X509_get0_pubkey_bitstr(p->issuer), p->leaf_serial);
	if (!ours)
		return -ENOMEM;
	cmp = OCSP_id_cmp(ours, cid);
	OCSP_CERTID_free(ours);
	if (cmp == 0)
		return CONTINUE;
	ks_ocsp_serial_hex(serial, theirs_hex, sizeof(theirs_hex));
	ks_ocsp_serial_hex(p->leaf ? X509_get0_serialNumber(p->leaf) : p->leaf_serial, ours_hex,
			   sizeof(ours_hex));
	return decide(res, KS_V_CERTID_MISMATCH,
		      strcmp(theirs_hex, ours_hex) ? "the response is for serial %s, not ours (%s)"
						   : "the response is for serial %s from another "
						     "issuer (our serial is %s too)",
		      theirs_hex, ours_hex);
}

/* RFC 6960 §4.2.2.1 / RFC 5019 §4: thisUpdate <= now + skew, now - skew <= nextUpdate. */
static int check_times(const struct ks_verify_params *p, struct ks_ocsp_result *res)
{
	char a[32], b[32];

	if (res->this_update > sat_add(p->now, p->skew))
		return decide(res, KS_V_NOT_YET_VALID,
			      "thisUpdate %s is later than now (%s) plus %llds of skew",
			      ks_fmt_time(res->this_update, a, sizeof(a)),
			      ks_fmt_time(p->now, b, sizeof(b)), (long long)p->skew);
	if (!res->next_update)
		return decide(
			res, KS_V_NO_NEXT_UPDATE,
			"the response has no nextUpdate, so nobody can tell when it is stale");
	if (res->next_update < res->this_update)
		return decide(res, KS_V_MALFORMED, "nextUpdate precedes thisUpdate");
	if (sat_add(p->now, -p->skew) > res->next_update)
		return decide(res, KS_V_EXPIRED, "nextUpdate %s passed (now %s, skew %llds)",
			      ks_fmt_time(res->next_update, a, sizeof(a)),
			      ks_fmt_time(p->now, b, sizeof(b)), (long long)p->skew);
	return CONTINUE;
}

/* Read the SingleResponse's times and status into res; MALFORMED if unreadable. */
static int read_single(OCSP_SINGLERESP *sr, struct ks_ocsp_result *res, int *status)
{
	ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
	int reason = -1;

	*status = OCSP_single_get0_status(sr, &reason, &rev, &thisupd, &nextupd);
	if (*status < 0 || ks_asn1_time_to_unix(thisupd, &res->this_update) < 0)
		return decide(res, KS_V_MALFORMED, "the SingleResponse has no valid thisUpdate");
	if (nextupd && ks_asn1_time_to_unix(nextupd, &res->next_update) < 0)
		return decide(res, KS_V_MALFORMED, "the SingleResponse has an invalid nextUpdate");
	if (*status == V_OCSP_CERTSTATUS_REVOKED) {
		if (ks_asn1_time_to_unix(rev, &res->revocation_time) < 0)
			return decide(res, KS_V_MALFORMED, "the revocationTime is invalid");
		res->revocation_reason = reason;
	}
	return CONTINUE;
}

static int check_basic(OCSP_BASICRESP *bs, const struct ks_verify_params *p,
		       struct ks_ocsp_result *res)
{
	int n = OCSP_resp_count(bs), status = -1, r;
	OCSP_SINGLERESP *sr = OCSP_resp_get0(bs, 0);
	char t[32];

	if (ks_asn1_time_to_unix(OCSP_resp_get0_produced_at(bs), &res->produced_at) < 0)
		return decide(res, KS_V_MALFORMED, "producedAt is not a valid GeneralizedTime");
	/* Read times before judging, so a rejected response still tells its age. */
	if (sr && (r = read_single(sr, res, &status)) != CONTINUE)
		return r;
	if ((r = check_signer(bs, p, res)) != CONTINUE)
		return r;
	if (n <= 0 || !sr)
		return decide(res, KS_V_MALFORMED, "the response holds no SingleResponse");
	if (n > 1)
		return decide(
			res, KS_V_MULTIPLE_RESPONSES,
			"the response holds %d SingleResponses; a staple must hold exactly one", n);
	if ((r = check_certid(sr, p, res)) != CONTINUE)
		return r;
	if ((r = check_times(p, res)) != CONTINUE)
		return r;
	if (status == V_OCSP_CERTSTATUS_GOOD)
		return decide(res, KS_V_GOOD, "good until %s",
			      ks_fmt_time(res->next_update, t, sizeof(t)));
	if (status == V_OCSP_CERTSTATUS_REVOKED)
		return decide(res, KS_V_REVOKED, "revoked at %s (%s)",
			      ks_fmt_time(res->revocation_time, t, sizeof(t)),
			      ks_crl_reason_str(res->revocation_reason));
	return decide(res, KS_V_UNKNOWN, "the responder does not know this certificate");
}

int ks_ocsp_verify(const uint8_t *der, size_t len, const struct ks_verify_params *p,
		   struct ks_ocsp_result *res)
{
	struct ks_ocsp_outer o;
	OCSP_BASICRESP *bs;
	char oid[80];
	int r;

	ENSURE(res && p && (p->leaf || (p->leaf_issuer_name && p->leaf_serial)) && p->issuer &&
		       p->skew >= 0 && (der || !len),
	       -EINVAL);
	*res = (struct ks_ocsp_result){ .verdict = KS_V_MALFORMED,
					.response_status = -1,
					.revocation_reason = -1 };
	/* Leave the caller's OpenSSL error queue as it was: decoding garbage fills it. */
	ERR_set_mark();
	if (ks_ocsp_outer_parse(der, len, &o, res->detail, sizeof(res->detail)) < 0) {
		r = DECIDED;
		goto out;
	}
	res->response_status = o.status;
	if (o.status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		r = decide(res, KS_V_NOT_SUCCESSFUL, "responder said %s (%d)",
			   ks_ocsp_status_name(o.status), o.status);
		goto out;
	}
	if (!o.is_basic) {
		const uint8_t *q = o.type;
		ASN1_OBJECT *obj = d2i_ASN1_OBJECT(NULL, &q, (long)o.type_len);

		if (!obj || OBJ_obj2txt(oid, sizeof(oid), obj, 1) <= 0)
			snprintf(oid, sizeof(oid), "(invalid OID)");
		ASN1_OBJECT_free(obj);
		r = decide(res, KS_V_NOT_BASIC, "responseType is %s, not id-pkix-ocsp-basic", oid);
		goto out;
	}
	bs = ks_ocsp_basic_decode_cached(o.basic, o.basic_len, p->certs);
	if (!bs) {
		r = decide(res, KS_V_MALFORMED, "the BasicOCSPResponse does not decode as DER");
		goto out;
	}
	r = check_basic(bs, p, res);
	OCSP_BASICRESP_free(bs);
out:
	ERR_pop_to_mark();
	return r < 0 ? r : 0;
}

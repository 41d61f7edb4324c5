/* SPDX-License-Identifier: MIT */
/*
 * ocsp_verify: the pure validator that decides whether an OCSP response may be stapled.
 *
 * No I/O, no global state, the time is an argument. A response is stapleable only if:
 * responseStatus is successful; it is a BasicOCSPResponse whose signature verifies with the
 * issuer's key, or with a delegated responder certificate issued by the issuer that carries
 * id-kp-OCSPSigning (RFC 6960 §4.2.2.2); it holds exactly one SingleResponse and that one
 * matches our CertID; thisUpdate <= now + skew; nextUpdate is present and now <= nextUpdate
 * (+ skew). GOOD and REVOKED are stapleable (REVOKED is the truth); everything else is not.
 */
#ifndef KSTAPLE_OCSP_VERIFY_H
#define KSTAPLE_OCSP_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <openssl/x509.h>

#include "kstaple/common.h"
#include "kstaple/ocsp_certcache.h"

#define KS_OCSP_DEFAULT_SKEW 300 /* seconds */

enum ks_verdict {
	KS_V_GOOD = 0,
	KS_V_REVOKED,
	KS_V_UNKNOWN, /* responder does not know the certificate: never stapled */
	/* Rejections, one per reason. */
	KS_V_MALFORMED,		 /* not a DER OCSPResponse (truncated, HTML, garbage) */
	KS_V_NOT_SUCCESSFUL,	 /* responseStatus is tryLater, internalError, ... */
	KS_V_NOT_BASIC,		 /* responseType is not id-pkix-ocsp-basic */
	KS_V_BAD_SIGNATURE,	 /* signature does not verify with the signer's key */
	KS_V_UNTRUSTED_SIGNER,	 /* signer is neither the issuer nor issued by it */
	KS_V_DELEGATE_NO_EKU,	 /* delegated signer lacks id-kp-OCSPSigning */
	KS_V_CERTID_MISMATCH,	 /* the SingleResponse is for another certificate */
	KS_V_MULTIPLE_RESPONSES, /* more than one SingleResponse */
	KS_V_NOT_YET_VALID,	 /* thisUpdate > now + skew */
	KS_V_EXPIRED,		 /* nextUpdate < now - skew */
	KS_V_NO_NEXT_UPDATE,	 /* no nextUpdate: cannot know when it goes stale */
	KS_V__COUNT
};

struct ks_ocsp_result {
	enum ks_verdict verdict;
	int response_status; /* OCSPResponseStatus, RFC 6960 §4.2.1 (-1 if unparsed) */
	int64_t produced_at; /* 0 when unknown */
	int64_t this_update;
	int64_t next_update;	 /* 0 when absent */
	int64_t revocation_time; /* REVOKED only */
	int revocation_reason;	 /* CRLReason, -1 when absent */
	char detail[192];	 /* a human sentence for logs: what exactly was wrong */
};

struct ks_verify_params {
	X509 *leaf;   /* the certificate the response must be about */
	X509 *issuer; /* its issuer: signs the response or the delegate */
	/*
	 * When leaf is NULL (a certificate loaded without an X509 for its leaf, cert_store.h
	 * spec->light): the leaf's issuer Name and serialNumber, from which the CertID is built.
	 */
	const X509_NAME *leaf_issuer_name;
	const ASN1_INTEGER *leaf_serial;
	int64_t now;  /* Unix seconds */
	int64_t skew; /* allowance for clock differences, seconds (KS_OCSP_DEFAULT_SKEW) */
	/*
	 * Optional (NULL: none): certificates embedded in responses are taken from here rather
	 * than parsed again, and a delegate's issuance by p->issuer is checked once per pair.
	 * Every verdict is the same with or without it; only the time differs.
	 */
	struct ks_ocsp_certcache *certs;
};

/*
 * Validate der. Returns 0 and fills res (verdict set, including rejections) whenever a verdict
 * could be reached; negative errno only for local failures (-ENOMEM, -EINVAL for bad params).
 */
KS_MUST_CHECK int ks_ocsp_verify(const uint8_t *der, size_t len, const struct ks_verify_params *p,
				 struct ks_ocsp_result *res);

/* GOOD or REVOKED. */
static inline bool ks_verdict_stapleable(enum ks_verdict v)
{
	return v == KS_V_GOOD || v == KS_V_REVOKED;
}

/* Short token for metrics/JSON ("good", "expired", ...). */
const char *ks_verdict_name(enum ks_verdict v);
/* Human phrase for logs ("nextUpdate is in the past: the response expired"). */
const char *ks_verdict_str(enum ks_verdict v);
/* RFC 5280 §5.3.1 CRLReason name ("keyCompromise"), or "unspecified". */
const char *ks_crl_reason_str(int reason);

/*
 * Human-readable (or JSON) dump of any OCSP response, for `kstaple inspect`: responder id,
 * producedAt, each SingleResponse's CertID, status, revocation time/reason, this/next update,
 * signer certificate subject. Returns 0, or -EBADMSG if der is not an OCSPResponse.
 */
KS_MUST_CHECK int ks_ocsp_inspect(const uint8_t *der, size_t len, bool json, FILE *out);

#endif /* KSTAPLE_OCSP_VERIFY_H */

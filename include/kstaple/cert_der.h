/* SPDX-License-Identifier: MIT */
/*
 * cert_der: the few fields of an X.509 leaf that OCSP needs, read straight from its DER.
 *
 * OpenSSL 3.0's d2i_X509() decodes every certificate's public key through a provider decoder
 * built for that one call (about 0.2 ms, much of it lock traffic): a third of `kstaple fetch`'s
 * CPU at 10,000 certificates. Fetching needs the serial, the issuer and subject Names, the
 * validity, the AIA OCSP URLs, the TLS Feature, the AKID and the signature over the
 * TBSCertificate, never the leaf's own key. This walker finds them with the bounds-checked
 * cursor (cursor.h), pointing into the caller's buffer (no copies, no allocation).
 *
 * It is deliberately strict: anything it does not fully understand (an unusual time form, a
 * duplicated or malformed extension it reads, an AKID naming the issuer by name, a proxy
 * certificate, trailing bytes) is -EBADMSG, and cert_store.c then loads the certificate with
 * OpenSSL as before. So the walker only ever makes loading faster, never more permissive.
 */
#ifndef KSTAPLE_CERT_DER_H
#define KSTAPLE_CERT_DER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kstaple/common.h"

/* A byte range inside the parsed buffer; len 0 and p NULL when absent. */
struct ks_der_span {
	const uint8_t *p;
	size_t len;
};

#define KS_DER_MAX_OCSP_URLS 8

struct ks_cert_der {
	struct ks_der_span tbs;	     /* TBSCertificate, whole TLV: what the signature covers */
	struct ks_der_span serial;   /* serialNumber, whole INTEGER TLV */
	struct ks_der_span sig_alg;  /* signatureAlgorithm, whole TLV (equal to tbs signature) */
	struct ks_der_span issuer;   /* issuer Name, whole TLV */
	struct ks_der_span subject;  /* subject Name, whole TLV */
	struct ks_der_span spki_alg; /* subjectPublicKeyInfo.algorithm, whole TLV */
	struct ks_der_span sig;	     /* signatureValue BIT STRING contents, unused-bits octet 0 */
	int64_t not_before, not_after;
	/* Extensions (each at most once, else -EBADMSG): */
	struct ks_der_span akid_keyid; /* AuthorityKeyIdentifier keyIdentifier contents */
	struct ks_der_span tlsfeature; /* TLS Feature extnValue contents (RFC 7633) */
	struct ks_der_span ocsp_urls[KS_DER_MAX_OCSP_URLS]; /* AIA id-ad-ocsp URIs, deduplicated */
	size_t n_ocsp_urls;
};

/*
 * Walk one DER Certificate (RFC 5280 §4.1) that must fill der[0..len) exactly. 0 or -EBADMSG.
 * Every span points into der.
 */
KS_MUST_CHECK int ks_cert_der_parse(const uint8_t *der, size_t len, struct ks_cert_der *out);

/* RFC 5280 §4.1.2.5.1/.2: UTCTime (tag 0x17) or GeneralizedTime (0x18), "Z" form with seconds.
 * 0 or -EBADMSG. */
KS_MUST_CHECK int ks_der_time(uint8_t tag, const uint8_t *s, size_t len, int64_t *out);

/* Signature algorithms the light path verifies itself (others: OpenSSL's X509_verify). */
enum ks_sig_alg {
	KS_SIG_UNKNOWN = 0,
	KS_SIG_ECDSA_SHA256,
	KS_SIG_ECDSA_SHA384,
	KS_SIG_ECDSA_SHA512,
	KS_SIG_RSA_SHA256,
	KS_SIG_RSA_SHA384,
	KS_SIG_RSA_SHA512,
	KS_SIG_ED25519,
};

/* Map a whole AlgorithmIdentifier TLV; parameters must be exactly as RFC 5758/4055/8410 say. */
enum ks_sig_alg ks_der_sig_alg(const uint8_t *alg, size_t len);

/* true when the SubjectPublicKeyInfo algorithm (whole TLV) is id-ecPublicKey. */
bool ks_der_spki_is_ec(const uint8_t *alg, size_t len);

#endif /* KSTAPLE_CERT_DER_H */

/* SPDX-License-Identifier: MIT */
/*
 * cert_store: a configured certificate, loaded and checked once.
 *
 * Loads a PEM chain (leaf first, then intermediates) and its private key, finds the leaf's
 * issuer (in the chain, or in a separately configured issuer file), extracts the Authority
 * Information Access OCSP URL(s) (RFC 5280 §4.2.2.1), computes the OCSP CertID with SHA-1
 * (RFC 5019 §2.1.1) and detects the TLS Feature "status_request" extension (must-staple,
 * RFC 7633). Errors are logged naming the certificate and the file.
 */
#ifndef KSTAPLE_CERT_STORE_H
#define KSTAPLE_CERT_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include "kstaple/common.h"

struct ks_cert_pool; /* cert_pool.h */

#define KS_CERTID_HASH_LEN 32 /* SHA-256 over the DER CertID: names the state file */

/* What the configuration says about one certificate. Strings are borrowed. */
struct ks_cert_spec {
	const char *name;	/* config section name, "[cert:NAME]" */
	const char *chain_path; /* PEM: leaf first, then intermediates */
	const char *key_path; /* PEM private key; NULL: do not load a key (verify/inspect tools) */
	const char *issuer_path; /* optional: PEM issuer certificate */
	const char *responder;	 /* optional: OCSP URL overriding the AIA */
	bool allow_expired;	 /* tools only: load an expired leaf without error */
	/* Accept a key file other users can read or own (warned); see keyfile.h. */
	bool allow_insecure_key;
	/* Optional: share intermediates and issuer files parsed for other certificates. */
	struct ks_cert_pool *pool;
	/*
	 * OCSP only (fetch): read the leaf's DER directly instead of building an X509 for it
	 * (cert_der.h), so cert->leaf is NULL and cert->serial/leaf_issuer_name are set. Ignored
	 * with a key_path (the key must be matched against the leaf). Falls back to OpenSSL for
	 * anything unusual; the result is otherwise the same.
	 */
	bool light;
};

struct ks_cert {
	char *name;
	char *chain_path;
	X509 *leaf; /* NULL when loaded light (spec->light): then use serial, leaf_issuer_name */
	STACK_OF(X509) * chain; /* intermediates, in order, without the leaf */
	X509 *issuer;		/* the leaf's issuer (a reference; may also be in chain) */
	EVP_PKEY *key;		/* NULL when the spec had no key_path */
	char **ocsp_urls;	/* AIA id-ad-ocsp URIs, in certificate order */
	size_t n_ocsp_urls;
	char *responder;     /* the URL to use: the override, else ocsp_urls[0], else NULL */
	bool must_staple;    /* TLS Feature extension lists status_request (5) */
	OCSP_CERTID *certid; /* SHA-1 CertID of (leaf, issuer) */
	uint8_t certid_hash[KS_CERTID_HASH_LEN];
	char certid_hex[2 * KS_CERTID_HASH_LEN + 1];
	char serial_hex[2 * 20 + 1]; /* leaf serial number, upper-case hex */
	char *subject;		     /* one-line subject, for logs */
	int64_t not_before, not_after;
	bool is_ecdsa; /* key type of the leaf: EC (true) or RSA (false) */
	/* Set only when leaf is NULL: what OCSP needs of it (the CertID's inputs). */
	ASN1_INTEGER *serial;
	X509_NAME *leaf_issuer_name;
};

/*
 * Load and check a certificate. now is used for the expiry check. Errors (logged with the
 * certificate name and path): -ENOENT/-EACCES file unreadable, -EBADMSG no certificate or
 * key in the file, -EKEYREJECTED key does not match the certificate, -ENOKEY no issuer found,
 * -EKEYEXPIRED certificate expired or not yet valid, -EPERM key file readable or writable by
 * group or other, or owned by another user (unless allow_insecure_key), -EFBIG/-EINVAL key
 * file too large or not a regular file.
 */
KS_MUST_CHECK int ks_cert_load(const struct ks_cert_spec *spec, int64_t now, struct ks_cert **out);

struct ks_config;
struct ks_cert_conf;
/*
 * Load the certificate of a [cert:NAME] section as the agent does: with its key when with_key
 * (serve, check-config), without it when only OCSP is needed (fetch); insecure key file
 * permissions are allowed only if the configuration says so.
 */
KS_MUST_CHECK int ks_cert_load_conf(const struct ks_config *cfg, const struct ks_cert_conf *cc,
				    bool with_key, int64_t now, struct ks_cert **out);
/* Same, sharing parsed intermediates through pool (NULL: none), for loading many at once. */
KS_MUST_CHECK int ks_cert_load_conf_pooled(const struct ks_config *cfg,
					   const struct ks_cert_conf *cc, bool with_key,
					   int64_t now, struct ks_cert_pool *pool,
					   struct ks_cert **out);
void ks_cert_free(struct ks_cert *cert);

/* Load a single PEM certificate (first one in the file). NULL + errno on failure. */
X509 *ks_x509_load(const char *path);

/*
 * Parse the DER value of a TLS Feature extension (RFC 7633 §4: Features ::= SEQUENCE OF
 * INTEGER); *status_request is set when it lists status_request (5). -EBADMSG if malformed.
 * Exposed for unit tests and fuzzing; ks_cert_load() calls it.
 */
KS_MUST_CHECK int ks_cert_parse_tlsfeature(const uint8_t *der, size_t len, bool *status_request);

/* Convert an ASN1_TIME / ASN1_GENERALIZEDTIME to Unix seconds; -EBADMSG if malformed. */
KS_MUST_CHECK int ks_asn1_time_to_unix(const ASN1_TIME *t, int64_t *out);

#endif /* KSTAPLE_CERT_STORE_H */

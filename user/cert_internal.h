/* SPDX-License-Identifier: MIT */
/*
 * Shared between cert_store.c (the OpenSSL path) and cert_light.c (leaves read with
 * cert_der.c): the steps both paths take, so both log the same words for the same problem.
 */
#ifndef KSTAPLE_CERT_INTERNAL_H
#define KSTAPLE_CERT_INTERNAL_H

#include "kstaple/cert_der.h"
#include "kstaple/cert_store.h"

struct ks_cert_pool;

/* The first certificate of a PEM file, through pool: 0, -errno from open, -EBADMSG, -ENOMEM. */
KS_MUST_CHECK int ks_cert_read_file(const char *path, struct ks_cert_pool *pool, X509 **out);
/* c->not_before/not_after against now (unless spec->allow_expired); logs; -EKEYEXPIRED. */
KS_MUST_CHECK int ks_cert_check_validity(const struct ks_cert_spec *spec, const struct ks_cert *c,
					 int64_t now);
/* Copy the OCSP URLs into c and choose c->responder. -ENOMEM (logged). */
KS_MUST_CHECK int ks_cert_set_urls(const struct ks_cert_spec *spec, struct ks_cert *c,
				   const struct ks_der_span *urls, size_t n);
/* Take id (NULL: -ENOMEM) as c->certid and name it (certid_hash, certid_hex). Logs. */
KS_MUST_CHECK int ks_cert_set_certid(const struct ks_cert_spec *spec, struct ks_cert *c,
				     OCSP_CERTID *id);
/* c->subject and c->serial_hex. Logs. */
KS_MUST_CHECK int ks_cert_describe(const struct ks_cert_spec *spec, struct ks_cert *c,
				   const X509_NAME *subject, const ASN1_INTEGER *serial);

/*
 * The light path (cert_light.c): fill c from the leaf's DER without an X509 for it. 0 when c is
 * complete (c->leaf stays NULL); KS_CERT_LIGHT_FALLBACK when the caller must load the leaf with
 * OpenSSL instead (c is untouched: unusual encoding, issuer not found or not verified, an
 * algorithm not handled here); a negative errno (logged) for an error the OpenSSL path would
 * report the same way (expired, out of memory).
 */
#define KS_CERT_LIGHT_FALLBACK 1
KS_MUST_CHECK int ks_cert_load_light(const struct ks_cert_spec *spec, struct ks_cert *c,
				     const uint8_t *der, size_t len, int64_t now);

#endif /* KSTAPLE_CERT_INTERNAL_H */

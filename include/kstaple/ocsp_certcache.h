/* SPDX-License-Identifier: MIT */
/*
 * ocsp_certcache: the certificates OCSP responses carry, parsed once instead of once per
 * response.
 *
 * A responder embeds the same certificate (its delegated signing certificate, or the CA
 * itself) in every BasicOCSPResponse it sends. Decoding it with OpenSSL 3.0 costs more than
 * the rest of the response together (d2i_X509 decodes the public key through a provider
 * decoder), so at thousands of responses per pass it was a quarter of `kstaple fetch`'s CPU.
 *
 * The cache maps the exact DER bytes of a certificate to one parsed X509, shared by reference:
 * identical bytes give an identical certificate, so a hit changes nothing but the time taken.
 * Bytes that do not decode as exactly one certificate are never cached. Separately it
 * remembers, per certificate, the issuer whose signature on it verified (RFC 6960 §4.2.2.2
 * "issued directly by the CA"), so that check runs once per (delegate, issuer) pair; it is
 * recorded only after it succeeded, never for a certificate that failed it. Everything that
 * depends on the time (the certificate's validity period) is still checked on every response.
 *
 * Bounded: at most max_entries certificates (a responder rotates its signing certificate every
 * few days; a handful of responders share one cache); the least recently used one makes room.
 * Thread-safe (verification runs on worker threads); the X509 objects handed out are shared
 * and must be treated as read-only.
 */
#ifndef KSTAPLE_OCSP_CERTCACHE_H
#define KSTAPLE_OCSP_CERTCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "kstaple/common.h"

#define KS_OCSP_CERTCACHE_DEFAULT 64 /* certificates */

struct ks_ocsp_certcache;

/* max_entries 0: KS_OCSP_CERTCACHE_DEFAULT. NULL + errno (ENOMEM). */
struct ks_ocsp_certcache *ks_ocsp_certcache_new(size_t max_entries);
void ks_ocsp_certcache_free(struct ks_ocsp_certcache *cc);

/*
 * The certificate whose DER encoding is exactly der[0..len), as a new reference (X509_free()
 * it): from the cache, or parsed and remembered. cc may be NULL: then it is parsed every time.
 * NULL + errno: EBADMSG (not exactly one DER certificate), ENOMEM.
 */
X509 *ks_ocsp_certcache_get(struct ks_ocsp_certcache *cc, const uint8_t *der, size_t len);

/*
 * Did X509_check_issued(issuer, cert) and the signature check of cert with issuer's key both
 * succeed before (ks_ocsp_certcache_note_issued)? cert must come from ks_ocsp_certcache_get()
 * of this cache; issuer is compared by its encoding (X509_cmp), not by address. False when
 * cc is NULL, or the certificate is no longer cached.
 */
bool ks_ocsp_certcache_issued_by(struct ks_ocsp_certcache *cc, X509 *cert, X509 *issuer);

/* Record that cert (from this cache) is verified as issued by issuer. Call only on success. */
void ks_ocsp_certcache_note_issued(struct ks_ocsp_certcache *cc, X509 *cert, X509 *issuer);

/* Lookups answered from the cache, certificates parsed, entries evicted (tests, benchmarks). */
void ks_ocsp_certcache_stats(struct ks_ocsp_certcache *cc, size_t *hits, size_t *parsed,
			     size_t *evicted);

#endif /* KSTAPLE_OCSP_CERTCACHE_H */

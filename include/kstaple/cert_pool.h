/* SPDX-License-Identifier: MIT */
/*
 * cert_pool: parse each distinct intermediate/issuer certificate once while loading many chains.
 *
 * Thousands of configured chains usually end in the same one or two intermediates. Parsing a
 * certificate with OpenSSL 3.0 costs about 0.2 ms, most of it building a provider decoder for
 * its public key (d2i_X509 decodes the SubjectPublicKeyInfo eagerly, whatever the input form),
 * so decoding the same intermediate once per chain was a third of `kstaple fetch`'s start-up.
 *
 * The pool maps the exact DER bytes of a certificate to one parsed X509, shared by reference:
 * identical bytes give an identical certificate, so sharing changes nothing a caller can see
 * except the time taken. Leaves are not pooled (each is unique). A pool is thread-safe; it
 * lives while a set of certificates loads and may be freed afterwards (the certificates keep
 * their own references).
 */
#ifndef KSTAPLE_CERT_POOL_H
#define KSTAPLE_CERT_POOL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "kstaple/common.h"

struct ks_cert_pool;

/* NULL + errno (ENOMEM). */
struct ks_cert_pool *ks_cert_pool_new(void);
void ks_cert_pool_free(struct ks_cert_pool *pool);

/*
 * The certificate whose DER encoding is der[0..len), as a new reference (X509_free() it).
 * Parsed on the first request, shared afterwards. pool may be NULL: then this is d2i_X509().
 * NULL + errno: EBADMSG (not a certificate), ENOMEM.
 */
X509 *ks_cert_pool_get(struct ks_cert_pool *pool, const uint8_t *der, size_t len);

/* Requests answered from the pool, and certificates parsed (for tests and benchmarks). */
void ks_cert_pool_stats(struct ks_cert_pool *pool, size_t *hits, size_t *parsed);

#endif /* KSTAPLE_CERT_POOL_H */

/* SPDX-License-Identifier: MIT */
/*
 * cert_loader: load the configured certificates on a few threads, hand them out in order.
 *
 * Loading a certificate is CPU work (PEM and X.509 decoding, the issuer-signature check: about
 * 0.4 ms with OpenSSL 3.0, more with a private key; less without a key, where cert_der.c reads
 * the leaf and the signature check is most of what is left), so 10,000 of them took seconds on
 * the one thread that also runs the event loop. The loader spreads them over the CPUs while the caller
 * keeps its loop turning, and shares parsed intermediates between them (cert_pool.h).
 *
 * ks_cert_loader_next() returns the certificates in the order of confs[]. Everything except the
 * loading itself happens on the caller's thread; errors are logged by ks_cert_load(), naming
 * the certificate and the file, as when loading one by one.
 */
#ifndef KSTAPLE_CERT_LOADER_H
#define KSTAPLE_CERT_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kstaple/cert_store.h"
#include "kstaple/common.h"
#include "kstaple/config.h"

struct ks_cert_loader;

/*
 * Start loading confs[0..n) (borrowed until ks_cert_loader_free) as ks_cert_load_conf()
 * would. threads 0: one per online CPU, at most 4. If no thread can be started, the
 * certificates are loaded by ks_cert_loader_next() itself. NULL + errno (ENOMEM).
 */
struct ks_cert_loader *ks_cert_loader_start(const struct ks_config *cfg,
					    const struct ks_cert_conf *const *confs, size_t n,
					    bool with_key, int64_t now, unsigned threads);

/*
 * The next certificate in order. Returns 1 with *index set and *cert owned by the caller, or
 * *cert NULL and *err the negative errno of ks_cert_load() (already logged); 0 when it is not
 * loaded yet and wait is false; -ENODATA when all n were handed out.
 */
KS_MUST_CHECK int ks_cert_loader_next(struct ks_cert_loader *l, bool wait, size_t *index,
				      struct ks_cert **cert, int *err);

/* Stop (certificates not started are not loaded), join the threads, free what is left. */
void ks_cert_loader_free(struct ks_cert_loader *l);

#endif /* KSTAPLE_CERT_LOADER_H */

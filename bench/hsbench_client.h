/* SPDX-License-Identifier: MIT */
/* Internals shared by hsbench_client.c and hsbench_ocsp.c (not used outside bench/). */
#ifndef KSTAPLE_BENCH_HSBENCH_CLIENT_H
#define KSTAPLE_BENCH_HSBENCH_CLIENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "hsbench.h"

/* Read-only during the run, except the atomics. */
struct ks_bench_shared {
	const struct ks_bench_opts *o;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	X509 *issuer;				 /* --issuer, or NULL */
	char *ocsp_host, *ocsp_port, *ocsp_path; /* --ocsp-url, or NULL: the certificate's AIA */
	uint64_t t0;		    /* CLOCK_MONOTONIC ns when the first handshake may start */
	uint64_t warm_end;	    /* handshakes starting before this are warm-up */
	uint64_t end;		    /* --duration: no handshake starts at or after this; else 0 */
	double period_ns;	    /* open loop: 1e9 / rate */
	uint64_t warm_slots;	    /* open loop with --count: arrivals inside the warm-up */
	_Atomic uint64_t next_slot; /* every attempt takes the next index (its order of start) */
	_Atomic uint64_t measured;  /* closed loop with --count: measured attempts taken */
	atomic_int have_first_error;
	char first_error[256];
	struct ks_bench_first *first;
};

struct ks_bench_worker {
	struct ks_bench_shared *sh;
	pthread_t tid;
	SSL_CTX *ctx;
	X509_STORE *store;	/* --issuer as the only (partial-chain) trust anchor */
	STACK_OF(X509) * certs; /* the issuer again, so the signer is found when the response
				   carries no certificates */
	SSL_SESSION *sess;	/* --resume: latest ticket */
	int got_ticket;
	uint64_t last_end; /* when the last measured handshake ended */
	struct ks_bench_result r;
};

uint64_t ks_bench_now_ns(void);

/* Load --issuer and split --ocsp-url into sh. Returns 0 or -errno (logged). */
KS_MUST_CHECK int ks_bench_ocsp_setup(struct ks_bench_shared *sh);
void ks_bench_ocsp_teardown(struct ks_bench_shared *sh);
KS_MUST_CHECK int ks_bench_ocsp_worker_init(struct ks_bench_worker *w);
void ks_bench_ocsp_worker_free(struct ks_bench_worker *w);

/*
 * Does resp prove that leaf is good, signed by the issuer or its delegate, and current?
 * 0 if so, -EBADMSG (unparsable, not successful), -EPERM (signature, signer or CertID) or
 * -ESTALE (status not good, or outside thisUpdate..nextUpdate).
 */
KS_MUST_CHECK int ks_bench_ocsp_check(struct ks_bench_worker *w, OCSP_RESPONSE *resp, X509 *leaf);

/*
 * --client-ocsp: POST a request for leaf (issuer: --issuer, else the next certificate of the
 * peer's chain) to the responder after sleeping 2 x --added-rtt. *out is the response.
 * Returns 0 or a negative errno; *why names the failure.
 */
KS_MUST_CHECK int ks_bench_ocsp_fetch(struct ks_bench_worker *w, SSL *ssl, X509 *leaf,
				      OCSP_RESPONSE **out, const char **why);

#endif /* KSTAPLE_BENCH_HSBENCH_CLIENT_H */

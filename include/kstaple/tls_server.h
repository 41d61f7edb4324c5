/* SPDX-License-Identifier: MIT */
/*
 * tls_server: the OpenSSL side of `kstaple serve`, built once per listener.
 *
 * A listener serves a list of certificates. They are grouped by the names they cover: one
 * SSL_CTX per group, holding up to one ECDSA and one RSA certificate (OpenSSL keeps one per key
 * type and picks by the client's signature algorithms), each with its chain set explicitly
 * (SSL_MODE_NO_AUTO_CHAIN: nothing is built from a store per handshake). The first group is the
 * listener's default; the SNI callback switches to the group whose names match.
 *
 * Stapling: the status callback runs only when the client sent status_request. It takes the
 * published staple of the certificate OpenSSL selected (ks_staple_acquire: lock-free), refuses
 * one whose nextUpdate is past (clock injected), and otherwise hands a copy to OpenSSL. With no
 * valid staple it answers NOACK, or fails the handshake when the certificate requires one
 * (must_staple = enforce, or auto with the TLS Feature extension). Every decision is counted per
 * certificate and per listener x certificate (relaxed atomics, read by the metrics module:
 * ks_tls_cert.stats and ks_tls_ctx_cert_stats()) and each change of a certificate's
 * stapling state is logged once.
 *
 * Session tickets: keys made and rotated by the agent (struct ks_ticket_keys), the previous key
 * still accepted for one period; one ticket per handshake unless the listener says otherwise.
 */
#ifndef KSTAPLE_TLS_SERVER_H
#define KSTAPLE_TLS_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "kstaple/cert_store.h"
#include "kstaple/clock.h"
#include "kstaple/common.h"
#include "kstaple/config.h"
#include "kstaple/staple_cache.h"

/* What a handshake got, counted per certificate. */
enum ks_tls_outcome {
	KS_TLS_STAPLED = 0,	 /* asked, valid staple sent */
	KS_TLS_NONE_CACHED,	 /* asked, nothing published for this certificate */
	KS_TLS_EXPIRED,		 /* asked, the published staple's nextUpdate is past */
	KS_TLS_MUST_STAPLE_FAIL, /* asked, no valid staple and one is required: handshake failed */
	KS_TLS_NOT_ASKED,	 /* the client did not send status_request */
	KS_TLS__OUTCOMES,
};

const char *ks_tls_outcome_name(enum ks_tls_outcome o);

struct ks_tls_cert_stats {
	atomic_uint_fast64_t outcome[KS_TLS__OUTCOMES];
};

/* One certificate as served. The caller owns it and keeps it alive as long as the ks_tls_ctx. */
struct ks_tls_cert {
	struct ks_cert *cert;	      /* borrowed */
	struct ks_cache_entry *entry; /* borrowed: where its staple is published */
	enum ks_must_staple policy;
	struct ks_tls_cert_stats stats;
	atomic_int state; /* last stapling state seen by a handshake, for logging changes once */
};

/* True when the policy makes a valid staple mandatory for this certificate. */
static inline bool ks_tls_requires_staple(const struct ks_tls_cert *tc)
{
	return tc->policy == KS_MUST_STAPLE_ENFORCE ||
	       (tc->policy == KS_MUST_STAPLE_AUTO && tc->cert->must_staple);
}

/*
 * The status callback's decision, a pure function for tests: st may be NULL. Returns
 * KS_TLS_STAPLED, KS_TLS_NONE_CACHED, KS_TLS_EXPIRED or, when require is set and there is no
 * valid staple, KS_TLS_MUST_STAPLE_FAIL. A staple is valid while now <= next_update.
 */
enum ks_tls_outcome ks_tls_decide(const struct ks_staple *st, int64_t now, bool require);

/* Session ticket keys, shared by every listener; rotated on the main thread. */
struct ks_ticket_keys;

struct ks_ticket_keys *ks_ticket_keys_new(void);
void ks_ticket_keys_free(struct ks_ticket_keys *k);
/* Make a new current key; the current one becomes the previous (still decrypts, renews). */
KS_MUST_CHECK int ks_ticket_keys_rotate(struct ks_ticket_keys *k);

struct ks_tls_listener_stats {
	atomic_uint_fast64_t handshakes;	 /* completed */
	atomic_uint_fast64_t handshake_failures; /* TLS errors, timeouts excluded */
	atomic_uint_fast64_t resumed;
	atomic_uint_fast64_t sni_unknown; /* SNI matched no certificate: default served */
};

struct ks_tls_listener_spec {
	const char *name;		  /* [listener:NAME], for logs */
	struct ks_tls_cert *const *certs; /* first: the default */
	size_t n_certs;
	char *const *alpn;		    /* NULL-terminated, preference order; NULL: no ALPN */
	const struct ks_clock *clk;	    /* must outlive the context */
	struct ks_ticket_keys *ticket_keys; /* NULL: OpenSSL's own per-context key */
	/* ktls != off: SSL_OP_ENABLE_KTLS and the keylog callback of ks_ktls_ctx_setup() */
	bool ktls;
	/*
	 * TLS 1.3 tickets sent after a full handshake, 1..KS_TLS_MAX_TICKETS; 0 (a zeroed spec)
	 * means the default, 1; KS_TLS_NO_TICKETS turns tickets off in TLS 1.2 as well, and with
	 * them resumption. Each ticket costs the server an encryption, a MAC and a record.
	 */
	int tickets;
};

#define KS_TLS_MAX_TICKETS 8
#define KS_TLS_NO_TICKETS  (-1)

struct ks_tls_ctx;

/* Build the SSL_CTXs once. NULL + errno (EINVAL for a bad combination, logged). */
struct ks_tls_ctx *ks_tls_ctx_new(const struct ks_tls_listener_spec *spec);
void ks_tls_ctx_free(struct ks_tls_ctx *t);
struct ks_tls_listener_stats *ks_tls_ctx_stats(struct ks_tls_ctx *t);
/*
 * The listener's certificates in spec order, and the outcomes of its handshakes per
 * certificate (the same decisions as ks_tls_cert.stats, which sums every listener).
 */
size_t ks_tls_ctx_n_certs(const struct ks_tls_ctx *t);
struct ks_tls_cert *ks_tls_ctx_cert(const struct ks_tls_ctx *t, size_t i);
struct ks_tls_cert_stats *ks_tls_ctx_cert_stats(struct ks_tls_ctx *t, size_t i);
/* The default group's context (tests drive handshakes with it). */
SSL_CTX *ks_tls_ctx_default(struct ks_tls_ctx *t);

/* A server SSL over the connected non-blocking socket fd (socket BIO). NULL on failure. */
SSL *ks_tls_ssl_new(struct ks_tls_ctx *t, int fd);
/*
 * Record a completed handshake: counts the listener's handshakes and, when the client did not
 * ask for a status, the served certificate's KS_TLS_NOT_ASKED.
 */
void ks_tls_handshake_done(struct ks_tls_ctx *t, SSL *ssl);
/* The certificate the handshake selected (NULL before the selection). */
struct ks_tls_cert *ks_tls_selected(SSL *ssl);

#endif /* KSTAPLE_TLS_SERVER_H */

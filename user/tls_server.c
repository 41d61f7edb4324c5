// SPDX-License-Identifier: MIT
/*
 * tls_server: SSL_CTXs per listener, SNI, ALPN, session tickets and the OCSP status callback
 * (see include/kstaple/tls_server.h). Everything here is built once at start-up (or reload):
 * the handshake path only reads it.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "kstaple/cursor.h"
#include "kstaple/ktls.h"
#include "kstaple/log.h"
#include "kstaple/tls_server.h"
#include "tls_internal.h"

#define MAX_NAMES 64 /* DNS names per group kept for SNI matching */

/* Certificates that cover the same names, at most one per key type: one SSL_CTX. */
struct group {
	struct ks_tls_ctx *owner;
	SSL_CTX *ctx;
	struct ks_tls_cert *ec, *rsa;
	size_t ec_idx, rsa_idx; /* their places in the listener's list (per-listener counters) */
	char *names[MAX_NAMES];
	size_t n_names;
};

struct ks_tls_ctx {
	char *name;
	const struct ks_clock *clk;
	struct ks_ticket_keys *keys;
	uint8_t *alpn; /* server preference list in wire format (RFC 7301 §3.1) */
	size_t alpn_len;
	struct group *groups; /* groups[0]: the default */
	size_t n_groups;
	int tickets; /* spec->tickets */
	struct ks_tls_listener_stats stats;
	bool ktls;			      /* spec->ktls */
	struct ks_tls_cert **certs;	      /* as listed in the spec */
	struct ks_tls_cert_stats *cert_stats; /* per certificate, on this listener only */
	size_t n_certs;
};

static const char *const outcome_names[KS_TLS__OUTCOMES] = {
	[KS_TLS_STAPLED] = "stapled",	  [KS_TLS_NONE_CACHED] = "none-cached",
	[KS_TLS_EXPIRED] = "expired",	  [KS_TLS_MUST_STAPLE_FAIL] = "must-staple-refused",
	[KS_TLS_NOT_ASKED] = "not-asked",
};

const char *ks_tls_outcome_name(enum ks_tls_outcome o)
{
	return (unsigned)o < KS_TLS__OUTCOMES ? outcome_names[o] : "?";
}

#define STAT_INC(f) atomic_fetch_add_explicit(&(f), 1, memory_order_relaxed)

enum ks_tls_outcome ks_tls_decide(const struct ks_staple *st, int64_t now, bool require)
{
	enum ks_tls_outcome o;

	if (!st)
		o = KS_TLS_NONE_CACHED;
	/* The cache keeps the last good response through failures; its expiry is ours to check. */
	else if (now > st->next_update)
		o = KS_TLS_EXPIRED;
	else
		return KS_TLS_STAPLED;
	return require ? KS_TLS_MUST_STAPLE_FAIL : o;
}

/* Log each change of a certificate's stapling state once, whichever worker sees it first. */
static void note_state(struct ks_tls_cert *tc, enum ks_tls_outcome o, const struct ks_staple *st)
{
	char t[40];
	int old = atomic_exchange_explicit(&tc->state, (int)o + 1, memory_order_relaxed);

	if (old == (int)o + 1)
		return;
	switch (o) {
	case KS_TLS_STAPLED:
		ks_log_cert(KS_LOG_INFO, tc->cert->name, "stapling a response valid until %s",
			    ks_fmt_time(st->next_update, t, sizeof(t)));
		break;
	case KS_TLS_EXPIRED:
		ks_log_cert(KS_LOG_WARN, tc->cert->name,
			    "the last good response expired at %s: handshakes get no staple",
			    ks_fmt_time(st->next_update, t, sizeof(t)));
		break;
	case KS_TLS_NONE_CACHED:
		ks_log_cert(KS_LOG_WARN, tc->cert->name,
			    "no OCSP response to staple yet: handshakes get no staple");
		break;
	case KS_TLS_MUST_STAPLE_FAIL:
		ks_log_cert(KS_LOG_ERR, tc->cert->name,
			    "must-staple (%s): no valid OCSP response (%s), refusing handshakes "
			    "that ask for one",
			    tc->cert->must_staple ? "TLS Feature extension"
						  : "must_staple = enforce",
			    !st ? "none fetched" : "expired");
		break;
	default:
		break;
	}
}

static struct ks_tls_cert *selected_in(struct group *g, SSL *ssl, size_t *idx)
{
	X509 *x = SSL_get_certificate(ssl);

	if (!x)
		return NULL;
	if (g->ec && g->ec->cert->leaf == x) {
		*idx = g->ec_idx;
		return g->ec;
	}
	if (g->rsa && g->rsa->cert->leaf == x) {
		*idx = g->rsa_idx;
		return g->rsa;
	}
	return NULL;
}

/* Counted twice: for the certificate (all listeners) and for this listener's use of it. */
static void count(struct group *g, struct ks_tls_cert *tc, size_t idx, enum ks_tls_outcome o)
{
	STAT_INC(tc->stats.outcome[o]);
	STAT_INC(g->owner->cert_stats[idx].outcome[o]);
}

struct ks_tls_cert *ks_tls_selected(SSL *ssl)
{
	struct group *g = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	size_t idx;

	return g ? selected_in(g, ssl, &idx) : NULL;
}

/*
 * SSL_CTX_set_tlsext_status_cb. OpenSSL calls it after choosing the certificate and only when
 * the ClientHello carried status_request (RFC 6066 §8). Return OK with a response set, NOACK
 * to send none, ALERT_FATAL to fail the handshake.
 */
static int status_cb(SSL *ssl, void *arg)
{
	struct group *g = arg;
	struct ks_tls_cert *tc;
	struct ks_staple *st;
	enum ks_tls_outcome o;
	unsigned char *copy;
	size_t idx;

	if (SSL_get_tlsext_status_type(ssl) != TLSEXT_STATUSTYPE_ocsp)
		return SSL_TLSEXT_ERR_NOACK;
	tc = selected_in(g, ssl, &idx);
	if (!tc)
		return SSL_TLSEXT_ERR_NOACK;
	st = ks_staple_acquire(tc->entry);
	o = ks_tls_decide(st, ks_now(g->owner->clk), ks_tls_requires_staple(tc));
	count(g, tc, idx, o);
	note_state(tc, o, st);
	if (o == KS_TLS_STAPLED) {
		/* OpenSSL takes ownership of the buffer and frees it with the SSL. */
		copy = OPENSSL_malloc(st->len);
		if (copy) {
			memcpy(copy, st->der, st->len);
			if (SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long)st->len) != 1) {
				OPENSSL_free(copy);
				copy = NULL;
			}
		}
		ks_staple_release(st);
		return copy ? SSL_TLSEXT_ERR_OK : SSL_TLSEXT_ERR_NOACK;
	}
	ks_staple_release(st);
	return o == KS_TLS_MUST_STAPLE_FAIL ? SSL_TLSEXT_ERR_ALERT_FATAL : SSL_TLSEXT_ERR_NOACK;
}

void ks_tls_handshake_done(struct ks_tls_ctx *t, SSL *ssl)
{
	struct group *g = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	struct ks_tls_cert *tc;
	size_t idx;

	STAT_INC(t->stats.handshakes);
	if (SSL_session_reused(ssl))
		STAT_INC(t->stats.resumed);
	else if (SSL_get_tlsext_status_type(ssl) != TLSEXT_STATUSTYPE_ocsp && g &&
		 (tc = selected_in(g, ssl, &idx)))
		count(g, tc, idx, KS_TLS_NOT_ASKED);
}

/*
 * ALPN (RFC 7301 §3.1): "opaque ProtocolName<1..2^8-1>; struct { ProtocolName
 * protocol_name_list<2..2^16-1> } ProtocolNameList;". OpenSSL hands us the list without its
 * 16-bit length. The server's preference wins; no common protocol is a fatal
 * no_application_protocol alert (§3.2).
 */
static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned inlen, void *arg)
{
	struct ks_tls_ctx *t = arg;
	struct ks_cursor srv = ks_cur_init(t->alpn, t->alpn_len), cli, name, mine;

	(void)ssl;
	while (!ks_cur_empty(&srv)) {
		if (ks_cur_block8(&srv, &mine) < 0)
			return SSL_TLSEXT_ERR_ALERT_FATAL;
		cli = ks_cur_init(in, inlen);
		while (!ks_cur_empty(&cli)) {
			if (ks_cur_block8(&cli, &name) < 0)
				return SSL_TLSEXT_ERR_ALERT_FATAL; /* malformed list */
			if (ks_cur_left(&name) == ks_cur_left(&mine) &&
			    !memcmp(name.p, mine.p, ks_cur_left(&name))) {
				*out = name.p;
				*outlen = (unsigned char)ks_cur_left(&name);
				return SSL_TLSEXT_ERR_OK;
			}
		}
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* RFC 6125 §6.4.3: a wildcard only as the whole left-most label, matching exactly one label. */
static bool name_matches(const char *pattern, const char *host)
{
	const char *dot;

	if (!strcasecmp(pattern, host))
		return true;
	if (strncmp(pattern, "*.", 2) != 0)
		return false;
	dot = strchr(host, '.');
	return dot && dot != host && !strcasecmp(pattern + 1, dot);
}

static int sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct ks_tls_ctx *t = arg;
	const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	(void)alert;
	if (!host || t->n_groups == 1)
		return SSL_TLSEXT_ERR_OK;
	for (size_t i = 0; i < t->n_groups; i++) {
		for (size_t j = 0; j < t->groups[i].n_names; j++) {
			if (!name_matches(t->groups[i].names[j], host))
				continue;
			if (i && !SSL_set_SSL_CTX(ssl, t->groups[i].ctx))
				return SSL_TLSEXT_ERR_ALERT_FATAL;
			return SSL_TLSEXT_ERR_OK;
		}
	}
	STAT_INC(t->stats.sni_unknown);
	return SSL_TLSEXT_ERR_OK; /* the default certificate; the client decides */
}

struct ks_ticket_keys *ks_tls_keys_of(SSL *ssl)
{
	struct group *g = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));

	return g ? g->owner->keys : NULL;
}

/* The DNS names of a certificate (subjectAltName, else the subject CN), for SNI. */
static int collect_names(struct group *g, X509 *x)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	char cn[256];
	int ret = 0;

	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
		const char *s;

		if (gn->type != GEN_DNS || g->n_names == MAX_NAMES)
			continue;
		s = (const char *)ASN1_STRING_get0_data(gn->d.dNSName);
		/* An embedded NUL would make the name mean something else. */
		if ((size_t)ASN1_STRING_length(gn->d.dNSName) != strlen(s))
			continue;
		g->names[g->n_names] = strdup(s);
		ENSURE_OUT(g->names[g->n_names++], -ENOMEM);
	}
	if (!gens && g->n_names < MAX_NAMES &&
	    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn)) >
		    0) {
		g->names[g->n_names] = strdup(cn);
		ENSURE_OUT(g->names[g->n_names++], -ENOMEM);
	}
out:
	GENERAL_NAMES_free(gens);
	return ret;
}

static bool same_names(X509 *a, X509 *b)
{
	struct group ga = { 0 }, gb = { 0 };
	bool same = collect_names(&ga, a) == 0 && collect_names(&gb, b) == 0 &&
		    ga.n_names == gb.n_names;

	for (size_t i = 0; same && i < ga.n_names; i++)
		same = !strcasecmp(ga.names[i], gb.names[i]);
	for (size_t i = 0; i < ga.n_names; i++)
		free(ga.names[i]);
	for (size_t i = 0; i < gb.n_names; i++)
		free(gb.names[i]);
	return same;
}

static int add_cert(struct ks_tls_ctx *t, struct group *g, struct ks_tls_cert *tc, size_t idx)
{
	struct ks_cert *c = tc->cert;

	/* The chain goes in as configured: SSL_MODE_NO_AUTO_CHAIN keeps libssl from building one. */
	if (SSL_CTX_use_cert_and_key(g->ctx, c->leaf, c->key, c->chain, 1) != 1 ||
	    SSL_CTX_check_private_key(g->ctx) != 1) {
		ks_log_ossl(KS_LOG_ERR, c->name, "cannot use the certificate and key for TLS");
		return -EINVAL;
	}
	if (c->is_ecdsa) {
		g->ec = tc;
		g->ec_idx = idx;
	} else {
		g->rsa = tc;
		g->rsa_idx = idx;
	}
	(void)t;
	return 0;
}

/*
 * TLS 1.3 sends num_tickets NewSessionTickets after every full handshake (OpenSSL's default is
 * 2); each costs an encryption, a MAC, a record and a write. None also turns the TLS 1.2 ticket
 * off: with the session cache off nothing is resumable then, and nothing is advertised.
 */
static int set_tickets(SSL_CTX *ctx, int n)
{
	if (n == KS_TLS_NO_TICKETS) {
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		TRY_OSSL(SSL_CTX_set_num_tickets(ctx, 0), -EINVAL);
		return 0;
	}
	ENSURE(n >= 0 && n <= KS_TLS_MAX_TICKETS, -EINVAL);
	TRY_OSSL(SSL_CTX_set_num_tickets(ctx, n ? (size_t)n : 1), -EINVAL);
	return 0;
}

static int group_ctx_new(struct ks_tls_ctx *t, struct group *g)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	ENSURE(ctx, -ENOMEM);
	g->ctx = ctx;
	g->owner = t;
	SSL_CTX_set_app_data(ctx, g);
	TRY_OSSL(SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION), -EINVAL);
	/*
	 * IGNORE_UNEXPECTED_EOF: a peer closing TCP without close_notify is an ordinary EOF
	 * for a proxy (it half-closes the backend); NO_RENEGOTIATION: TLS 1.2 renegotiation
	 * has no use here and costs a handshake per request.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN | SSL_MODE_ENABLE_PARTIAL_WRITE |
				      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/*
	 * Read ahead: one recv per flight instead of two per record (header, then body): a
	 * handshake went from 9 reads to 4, as nginx does. conn.c always calls SSL_read before
	 * it polls, so bytes buffered here are never left waiting for readiness. Not with
	 * kTLS: the kernel can take over a session only when OpenSSL holds no bytes it read
	 * past the handshake, and read-ahead would often leave the client's first record
	 * buffered in userspace ("pending-bytes"), keeping the session there.
	 */
	SSL_CTX_set_read_ahead(ctx, t->ktls ? 0 : 1);
	/* Tickets carry resumption; a server-side cache would add a lock per handshake. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	TRY(set_tickets(ctx, t->tickets));
	TRY_OSSL(SSL_CTX_set_session_id_context(ctx, (const unsigned char *)t->name,
						(unsigned)KS_MIN(strlen(t->name), 32)),
		 -EINVAL);
	if (t->keys)
		TRY_OSSL(SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ks_tls_ticket_cb), -EINVAL);
	if (t->alpn)
		SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, t);
	TRY_OSSL(SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb), -EINVAL);
	TRY_OSSL(SSL_CTX_set_tlsext_servername_arg(ctx, t), -EINVAL);
	TRY_OSSL(SSL_CTX_set_tlsext_status_cb(ctx, status_cb), -EINVAL);
	TRY_OSSL(SSL_CTX_set_tlsext_status_arg(ctx, g), -EINVAL);
	/*
	 * kTLS: OpenSSL installs what it can itself and the keylog callback keeps the TLS 1.3
	 * traffic secrets for the rest (ktls.h). Every group's context gets it, as the SNI
	 * callback may switch to any. Not with ktls = off: no secret is kept in memory then.
	 */
	if (t->ktls)
		ks_ktls_ctx_setup(ctx);
	return 0;
}

/* A certificate joins the first group with the same names and a free slot for its key type. */
static int place_cert(struct ks_tls_ctx *t, struct ks_tls_cert *tc, size_t idx)
{
	struct group *g;

	for (size_t i = 0; i < t->n_groups; i++) {
		struct ks_tls_cert *other = t->groups[i].ec ? t->groups[i].ec : t->groups[i].rsa;

		g = &t->groups[i];
		if (!other || (tc->cert->is_ecdsa ? g->ec : g->rsa) ||
		    !same_names(other->cert->leaf, tc->cert->leaf))
			continue;
		return add_cert(t, g, tc, idx);
	}
	g = &t->groups[t->n_groups++];
	TRY(group_ctx_new(t, g));
	TRY(collect_names(g, tc->cert->leaf));
	return add_cert(t, g, tc, idx);
}

static int alpn_wire(struct ks_tls_ctx *t, char *const *alpn)
{
	size_t len = 0, n;

	for (size_t i = 0; alpn[i]; i++)
		len += 1 + strlen(alpn[i]);
	if (!len)
		return 0; /* an empty list: no ALPN */
	t->alpn = malloc(len);
	ENSURE(t->alpn, -ENOMEM);
	for (size_t i = 0; alpn[i]; i++) {
		n = strlen(alpn[i]);
		if (n > 255) {
			ks_err("listener %s: ALPN protocol name longer than 255 bytes", t->name);
			return -EINVAL;
		}
		t->alpn[t->alpn_len++] = (uint8_t)n;
		memcpy(t->alpn + t->alpn_len, alpn[i], n);
		t->alpn_len += n;
	}
	return 0;
}

struct ks_tls_ctx *ks_tls_ctx_new(const struct ks_tls_listener_spec *spec)
{
	struct ks_tls_ctx *t = calloc(1, sizeof(*t));
	int ret;

	if (!t)
		return NULL;
	t->name = strdup(spec->name);
	t->clk = spec->clk;
	t->keys = spec->ticket_keys;
	t->ktls = spec->ktls;
	t->tickets = spec->tickets;
	t->groups = calloc(spec->n_certs, sizeof(*t->groups));
	t->certs = calloc(spec->n_certs, sizeof(*t->certs));
	t->cert_stats = calloc(spec->n_certs, sizeof(*t->cert_stats));
	ENSURE_OUT(t->name && t->groups && t->certs && t->cert_stats, -ENOMEM);
	ENSURE_OUT(spec->n_certs > 0, -EINVAL);
	if (spec->alpn)
		TRY_OUT(alpn_wire(t, spec->alpn));
	for (size_t i = 0; i < spec->n_certs; i++) {
		if (!spec->certs[i]->cert->key) {
			ks_log_cert(KS_LOG_ERR, spec->certs[i]->cert->name,
				    "no private key loaded");
			ENSURE_OUT(false, -EINVAL);
		}
		TRY_OUT(place_cert(t, spec->certs[i], i));
		t->certs[t->n_certs++] = spec->certs[i];
	}
	return t;
out:
	ks_tls_ctx_free(t);
	errno = -ret;
	return NULL;
}

void ks_tls_ctx_free(struct ks_tls_ctx *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_groups; i++) {
		SSL_CTX_free(t->groups[i].ctx);
		for (size_t j = 0; j < t->groups[i].n_names; j++)
			free(t->groups[i].names[j]);
	}
	free(t->groups);
	free(t->certs);
	free(t->cert_stats);
	free(t->alpn);
	free(t->name);
	free(t);
}

struct ks_tls_listener_stats *ks_tls_ctx_stats(struct ks_tls_ctx *t)
{
	return &t->stats;
}

size_t ks_tls_ctx_n_certs(const struct ks_tls_ctx *t)
{
	return t->n_certs;
}

struct ks_tls_cert *ks_tls_ctx_cert(const struct ks_tls_ctx *t, size_t i)
{
	return i < t->n_certs ? t->certs[i] : NULL;
}

struct ks_tls_cert_stats *ks_tls_ctx_cert_stats(struct ks_tls_ctx *t, size_t i)
{
	return i < t->n_certs ? &t->cert_stats[i] : NULL;
}

SSL_CTX *ks_tls_ctx_default(struct ks_tls_ctx *t)
{
	return t->groups[0].ctx;
}

SSL *ks_tls_ssl_new(struct ks_tls_ctx *t, int fd)
{
	SSL *ssl = SSL_new(t->groups[0].ctx);

	if (!ssl)
		return NULL;
	/* A plain socket BIO on the non-blocking fd: OpenSSL's kTLS path stays available. */
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

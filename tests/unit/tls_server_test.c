// SPDX-License-Identifier: MIT
/*
 * tls_server: real handshakes between an OpenSSL client SSL and the server's SSL_CTX over a
 * non-blocking socketpair, with the staple published through staple_cache and the time given
 * by an injected clock. The assertions are on what the client received.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>

#include "helpers/fixtures.h"
#include "kstaple/log.h"
#include "kstaple/tls_server.h"

static int64_t now_t;
static struct ks_clock clk;
static char dir[128];
static struct ks_cache *cache;

struct srv_cert {
	struct ks_cert *cert;
	struct ks_tls_cert tc;
};

static struct srv_cert certs[4];
static size_t n_certs;
static struct ks_tls_ctx *tls;
static struct ks_ticket_keys *keys;
static int spec_tickets; /* ks_tls_listener_spec.tickets for the next build() */
static int tickets_seen; /* NewSessionTickets the client received (count_tickets) */

static void setup(void)
{
	if (!ks_test_fixtures_dir())
		cr_skip_test("KS_FIXTURES is not set (scripts/mkfixtures.sh DIR)");
	ks_log_set_level(KS_LOG_ERR);
	/* Inside the fixtures' validity (thisUpdate is about now, nextUpdate now + 7 days). */
	now_t = time(NULL);
	ks_clock_fixed(&clk, &now_t);
	cr_assert_eq(ks_test_tmpdir(dir, sizeof(dir)), 0);
	cache = ks_cache_new(dir, &clk, 300);
	cr_assert_not_null(cache);
	n_certs = 0;
	tls = NULL;
	keys = NULL;
	spec_tickets = 0;
}

static void teardown(void)
{
	ks_tls_ctx_free(tls);
	ks_ticket_keys_free(keys);
	ks_cache_free(cache);
	for (size_t i = 0; i < n_certs; i++)
		ks_cert_free(certs[i].cert);
	if (dir[0])
		ks_test_rmdir(dir);
	dir[0] = '\0';
}

TestSuite(tls_server, .init = setup, .fini = teardown);

/* Load leaf NAME, add it to the cache and, when ocsp is given, publish that fixture. */
static struct ks_tls_cert *add(const char *leaf, const char *ocsp, enum ks_must_staple pol)
{
	char chain[512], key[512];
	struct srv_cert *s = &certs[n_certs++];
	struct ks_cert_spec spec = { .name = leaf, .chain_path = chain, .key_path = key };
	struct ks_ocsp_result res;
	uint8_t *der;
	size_t len;

	snprintf(chain, sizeof(chain), "%s", ks_test_fixturef("pki/leaf/%s/chain.pem", leaf));
	snprintf(key, sizeof(key), "%s", ks_test_fixturef("pki/leaf/%s/key.pem", leaf));
	cr_assert_eq(ks_cert_load(&spec, now_t, &s->cert), 0, "load %s", leaf);
	s->tc.cert = s->cert;
	s->tc.policy = pol;
	cr_assert_eq(ks_cache_add(cache, s->cert, &s->tc.entry), 0);
	if (ocsp) {
		cr_assert_eq(ks_test_read_file(ks_test_fixturef("ocsp/%s", ocsp), &der, &len), 0);
		cr_assert_eq(ks_cache_submit(cache, s->tc.entry, der, len, &res), 1, "%s", ocsp);
		free(der);
	}
	return &s->tc;
}

static void build(char *const *alpn)
{
	struct ks_tls_cert *list[4];
	struct ks_tls_listener_spec spec = { .name = "test", .clk = &clk, .alpn = alpn };

	for (size_t i = 0; i < n_certs; i++)
		list[i] = &certs[i].tc;
	spec.certs = list;
	spec.n_certs = n_certs;
	spec.ticket_keys = keys;
	spec.tickets = spec_tickets;
	tls = ks_tls_ctx_new(&spec);
	cr_assert_not_null(tls);
}

struct client_opts {
	bool ask;	     /* send status_request */
	int version;	     /* 0: any */
	const char *sigalgs; /* restrict what the client accepts (picks ECDSA or RSA) */
	const unsigned char *alpn;
	unsigned alpn_len;
	SSL_SESSION *resume;
	bool count_tickets; /* count the sessions the server sends in tickets_seen */
};

struct result {
	bool ok;
	long status_len; /* -1: no status received */
	unsigned char *status;
	X509 *peer;
	char alpn[32];
	bool reused;
	SSL_SESSION *session;
	SSL *server;
};

static void result_free(struct result *r)
{
	X509_free(r->peer);
	SSL_SESSION_free(r->session);
	free(r->status);
}

/* Client new-session callback: called once per TLS 1.3 NewSessionTicket. */
static int count_ticket(SSL *ssl, SSL_SESSION *sess)
{
	(void)ssl;
	(void)sess;
	tickets_seen++;
	return 0; /* not kept */
}

/* Drive both ends of a non-blocking socketpair until the handshake ends either way. */
static struct result handshake(const struct client_opts *o)
{
	struct result r = { .status_len = -1 };
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	const unsigned char *p;
	unsigned char buf[64];
	int sv[2], rc, rs = 0, n;
	SSL *c, *s;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	if (o->version) {
		SSL_CTX_set_min_proto_version(cctx, o->version);
		SSL_CTX_set_max_proto_version(cctx, o->version);
	}
	if (o->sigalgs)
		cr_assert_eq(SSL_CTX_set1_sigalgs_list(cctx, o->sigalgs), 1);
	if (o->count_tickets) {
		SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_CLIENT |
							     SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(cctx, count_ticket);
		tickets_seen = 0;
	}
	c = SSL_new(cctx);
	SSL_set_fd(c, sv[1]);
	SSL_set_connect_state(c);
	SSL_set_tlsext_host_name(c, "localhost");
	if (o->ask)
		SSL_set_tlsext_status_type(c, TLSEXT_STATUSTYPE_ocsp);
	if (o->alpn)
		SSL_set_alpn_protos(c, o->alpn, o->alpn_len);
	if (o->resume)
		SSL_set_session(c, o->resume);
	s = ks_tls_ssl_new(tls, sv[0]);
	cr_assert_not_null(s);
	for (int i = 0; i < 100; i++) {
		rc = SSL_do_handshake(c);
		if (rs != 1)
			rs = SSL_do_handshake(s);
		if (rc == 1 && rs == 1)
			break;
		if ((rc <= 0 && SSL_get_error(c, rc) != SSL_ERROR_WANT_READ) ||
		    (rs <= 0 && SSL_get_error(s, rs) != SSL_ERROR_WANT_READ))
			break;
	}
	r.ok = rc == 1 && rs == 1;
	ERR_clear_error();
	if (r.ok) {
		/* TLS 1.3 tickets arrive after the handshake: read them. */
		SSL_write(s, "x", 1);
		n = SSL_read(c, buf, sizeof(buf));
		cr_assert_eq(n, 1);
		ks_tls_handshake_done(tls, s);
		n = (int)SSL_get_tlsext_status_ocsp_resp(c, &p);
		if (n > 0) {
			r.status_len = n;
			r.status = malloc((size_t)n);
			memcpy(r.status, p, (size_t)n);
		}
		r.peer = SSL_get1_peer_certificate(c);
		SSL_get0_alpn_selected(c, &p, (unsigned *)&n);
		snprintf(r.alpn, sizeof(r.alpn), "%.*s", n, p ? (const char *)p : "");
		r.reused = SSL_session_reused(c);
		r.session = SSL_get1_session(c);
		/* Freed without close_notify, a session is marked not resumable. */
		SSL_shutdown(c);
	}
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	close(sv[0]);
	close(sv[1]);
	return r;
}

static bool is_fixture(const struct result *r, const char *name)
{
	uint8_t *der;
	size_t len;
	bool same;

	cr_assert_eq(ks_test_read_file(ks_test_fixturef("ocsp/%s", name), &der, &len), 0);
	same = r->status_len == (long)len && !memcmp(r->status, der, len);
	free(der);
	return same;
}

static uint64_t count(struct ks_tls_cert *tc, enum ks_tls_outcome o)
{
	return atomic_load(&tc->stats.outcome[o]);
}

Test(tls_server, asked_gets_the_published_staple_tls13_and_tls12)
{
	struct ks_tls_cert *ec = add("ecdsa", "good.der", KS_MUST_STAPLE_AUTO);
	int versions[] = { TLS1_3_VERSION, TLS1_2_VERSION };

	build(NULL);
	for (size_t i = 0; i < 2; i++) {
		struct client_opts o = { .ask = true, .version = versions[i] };
		struct result r = handshake(&o);

		cr_assert(r.ok, "handshake version %x", versions[i]);
		cr_assert(is_fixture(&r, "good.der"), "client got the good.der bytes");
		cr_assert_eq(X509_cmp(r.peer, ec->cert->leaf), 0);
		result_free(&r);
	}
	cr_assert_eq(count(ec, KS_TLS_STAPLED), 2);
	cr_assert_eq(count(ec, KS_TLS_NOT_ASKED), 0);
}

Test(tls_server, not_asked_gets_no_status)
{
	struct ks_tls_cert *ec = add("ecdsa", "good.der", KS_MUST_STAPLE_AUTO);
	struct client_opts o = { .ask = false };
	struct result r;

	build(NULL);
	r = handshake(&o);
	cr_assert(r.ok);
	cr_assert_eq(r.status_len, -1);
	cr_assert_eq(count(ec, KS_TLS_NOT_ASKED), 1);
	cr_assert_eq(count(ec, KS_TLS_STAPLED), 0);
	result_free(&r);
}

Test(tls_server, none_cached_is_noack)
{
	struct ks_tls_cert *ec = add("ecdsa", NULL, KS_MUST_STAPLE_AUTO);
	struct client_opts o = { .ask = true };
	struct result r;

	build(NULL);
	r = handshake(&o);
	cr_assert(r.ok);
	cr_assert_eq(r.status_len, -1);
	cr_assert_eq(count(ec, KS_TLS_NONE_CACHED), 1);
	result_free(&r);
}

Test(tls_server, expired_at_handshake_time_is_not_stapled)
{
	struct ks_tls_cert *ec = add("ecdsa", "good.der", KS_MUST_STAPLE_AUTO);
	struct client_opts o = { .ask = true };
	struct ks_staple *st = ks_staple_acquire(ec->entry);
	struct result r;
	int64_t nu = st->next_update;

	ks_staple_release(st);
	build(NULL);
	now_t = nu; /* the last second of validity: still stapled */
	r = handshake(&o);
	cr_assert(r.ok && is_fixture(&r, "good.der"));
	result_free(&r);
	now_t = nu + 1; /* the cache still publishes it, the callback must refuse it */
	r = handshake(&o);
	cr_assert(r.ok);
	cr_assert_eq(r.status_len, -1, "an expired response was stapled");
	cr_assert_eq(count(ec, KS_TLS_EXPIRED), 1);
	cr_assert_eq(count(ec, KS_TLS_STAPLED), 1);
	result_free(&r);
}

Test(tls_server, decide_boundaries)
{
	struct ks_staple st = { .next_update = 1000 };

	cr_assert_eq(ks_tls_decide(NULL, 0, false), KS_TLS_NONE_CACHED);
	cr_assert_eq(ks_tls_decide(NULL, 0, true), KS_TLS_MUST_STAPLE_FAIL);
	cr_assert_eq(ks_tls_decide(&st, 1000, true), KS_TLS_STAPLED);
	cr_assert_eq(ks_tls_decide(&st, 1001, false), KS_TLS_EXPIRED);
	cr_assert_eq(ks_tls_decide(&st, 1001, true), KS_TLS_MUST_STAPLE_FAIL);
	cr_assert_str_eq(ks_tls_outcome_name(KS_TLS_MUST_STAPLE_FAIL), "must-staple-refused");
}

Test(tls_server, must_staple_auto_refuses_without_staple)
{
	struct ks_tls_cert *ms = add("muststaple", NULL, KS_MUST_STAPLE_AUTO);
	struct client_opts o = { .ask = true };
	struct result r;

	cr_assert(ms->cert->must_staple, "fixture has the TLS Feature extension");
	build(NULL);
	r = handshake(&o);
	cr_assert_not(r.ok, "must-staple certificate served without a staple");
	cr_assert_eq(count(ms, KS_TLS_MUST_STAPLE_FAIL), 1);
	cr_assert_eq(atomic_load(&ks_tls_ctx_stats(tls)->handshakes), 0);
}

Test(tls_server, must_staple_auto_serves_with_staple_and_refuses_once_expired)
{
	struct ks_tls_cert *ms = add("muststaple", "good-muststaple.der", KS_MUST_STAPLE_AUTO);
	struct client_opts o = { .ask = true, .version = TLS1_2_VERSION };
	struct ks_staple *st = ks_staple_acquire(ms->entry);
	struct result r;

	build(NULL);
	r = handshake(&o);
	cr_assert(r.ok && is_fixture(&r, "good-muststaple.der"));
	result_free(&r);
	now_t = st->next_update + 1;
	ks_staple_release(st);
	r = handshake(&o);
	cr_assert_not(r.ok);
	cr_assert_eq(count(ms, KS_TLS_MUST_STAPLE_FAIL), 1);
}

Test(tls_server, must_staple_ignore_serves_without_staple)
{
	struct ks_tls_cert *ms = add("muststaple", NULL, KS_MUST_STAPLE_IGNORE);
	struct client_opts o = { .ask = true };
	struct result r;

	build(NULL);
	r = handshake(&o);
	cr_assert(r.ok, "ignore: served without a staple");
	cr_assert_eq(r.status_len, -1);
	cr_assert_eq(count(ms, KS_TLS_NONE_CACHED), 1);
	cr_assert_eq(count(ms, KS_TLS_MUST_STAPLE_FAIL), 0);
	result_free(&r);
}

Test(tls_server, must_staple_enforce_without_the_extension)
{
	struct ks_tls_cert *ec = add("ecdsa", NULL, KS_MUST_STAPLE_ENFORCE);
	struct client_opts o = { .ask = true };
	struct result r;

	cr_assert_not(ec->cert->must_staple);
	build(NULL);
	r = handshake(&o);
	cr_assert_not(r.ok, "enforce: served without a staple");
	cr_assert_eq(count(ec, KS_TLS_MUST_STAPLE_FAIL), 1);
	/* A client that does not ask cannot check a staple: it is served. */
	o.ask = false;
	r = handshake(&o);
	cr_assert(r.ok);
	cr_assert_eq(count(ec, KS_TLS_NOT_ASKED), 1);
	result_free(&r);
}

Test(tls_server, ecdsa_and_rsa_for_the_same_name_by_client_sigalgs)
{
	struct ks_tls_cert *ec = add("ecdsa", "good.der", KS_MUST_STAPLE_AUTO);
	struct ks_tls_cert *rsa = add("rsa", "good-rsa.der", KS_MUST_STAPLE_AUTO);
	struct client_opts any = { .ask = true };
	struct client_opts rsa_only = { .ask = true, .sigalgs = "rsa_pss_rsae_sha256:RSA+SHA256" };
	struct client_opts rsa12 = { .ask = true,
				     .version = TLS1_2_VERSION,
				     .sigalgs = "RSA+SHA256" };
	struct result r;

	build(NULL);
	r = handshake(&any);
	cr_assert(r.ok && X509_cmp(r.peer, ec->cert->leaf) == 0 && is_fixture(&r, "good.der"));
	result_free(&r);
	r = handshake(&rsa_only);
	cr_assert(r.ok);
	cr_assert_eq(X509_cmp(r.peer, rsa->cert->leaf), 0, "RSA-only client got the RSA cert");
	cr_assert(is_fixture(&r, "good-rsa.der"), "and the RSA certificate's staple");
	result_free(&r);
	r = handshake(&rsa12);
	cr_assert(r.ok && X509_cmp(r.peer, rsa->cert->leaf) == 0 && is_fixture(&r, "good-rsa.der"));
	result_free(&r);
	cr_assert_eq(count(ec, KS_TLS_STAPLED), 1);
	cr_assert_eq(count(rsa, KS_TLS_STAPLED), 2);
}

Test(tls_server, revoked_response_is_stapled_as_is)
{
	add("revoked", "revoked.der", KS_MUST_STAPLE_AUTO);
	struct client_opts o = { .ask = true };
	struct result r;
	OCSP_RESPONSE *resp;
	OCSP_BASICRESP *basic;
	const unsigned char *p;
	int status, reason;

	build(NULL);
	r = handshake(&o);
	cr_assert(r.ok && is_fixture(&r, "revoked.der"));
	p = r.status;
	resp = d2i_OCSP_RESPONSE(NULL, &p, r.status_len);
	basic = OCSP_response_get1_basic(resp);
	status = OCSP_single_get0_status(OCSP_resp_get0(basic, 0), &reason, NULL, NULL, NULL);
	cr_assert_eq(status, V_OCSP_CERTSTATUS_REVOKED);
	OCSP_BASICRESP_free(basic);
	OCSP_RESPONSE_free(resp);
	result_free(&r);
}

static char *const alpn_list[] = { "h2", "http/1.1", NULL };

Test(tls_server, alpn_server_preference_and_no_overlap)
{
	static const unsigned char both[] = "\x08http/1.1\x02h2";
	static const unsigned char other[] = "\x03"
					     "foo";
	struct client_opts o = { .alpn = both, .alpn_len = sizeof(both) - 1 };
	struct result r;

	add("ecdsa", "good.der", KS_MUST_STAPLE_AUTO);
	build(alpn_list);
	r = handshake(&o);
	cr_assert(r.ok);
	cr_assert_str_eq(r.alpn, "h2");
	result_free(&r);
	o.alpn = other;
	o.alpn_len = sizeof(other) - 1;
	r = handshake(&o);
	cr_assert_not(r.ok, "RFC 7301: no common protocol is a fatal alert");
	o.alpn = NULL;
	r = handshake(&o);
	cr_assert(r.ok, "a client without ALPN still connects");
	cr_assert_str_eq(r.alpn, "");
	result_free(&r);
}

Test(tls_server, tickets_resume_across_one_rotation_not_two)
{
	int versions[] = { TLS1_3_VERSION, TLS1_2_VERSION };

	keys = ks_ticket_keys_new();
	cr_assert_not_null(keys);
	add("ecdsa", "good.der", KS_MUST_STAPLE_AUTO);
	build(NULL);
	for (size_t i = 0; i < 2; i++) {
		struct client_opts o = { .version = versions[i] };
		struct result first = handshake(&o), again;

		cr_assert(first.ok && !first.reused);
		o.resume = first.session;
		again = handshake(&o);
		cr_assert(again.ok && again.reused, "resumed with the current key (%x)",
			  versions[i]);
		result_free(&again);
		cr_assert_eq(ks_ticket_keys_rotate(keys), 0);
		again = handshake(&o);
		cr_assert(again.reused, "resumed with the previous key (%x)", versions[i]);
		result_free(&again);
		cr_assert_eq(ks_ticket_keys_rotate(keys), 0);
		again = handshake(&o);
		cr_assert(again.ok);
		cr_assert_not(again.reused, "a key two rotations old must be refused (%x)",
			      versions[i]);
		result_free(&again);
		result_free(&first);
	}
}

/* [listener] session_tickets: how many TLS 1.3 tickets a full handshake gets, and none. */
Test(tls_server, session_tickets_count_and_off)
{
	static const struct {
		int spec, expect;
	} cases[] = { { 0, 1 }, { 1, 1 }, { 2, 2 }, { KS_TLS_MAX_TICKETS, KS_TLS_MAX_TICKETS } };
	struct client_opts o = { .ask = true, .version = TLS1_3_VERSION, .count_tickets = true };
	struct result r, again;

	add("ecdsa", "good.der", KS_MUST_STAPLE_AUTO);
	for (size_t i = 0; i < KS_ARRAY_SIZE(cases); i++) {
		spec_tickets = cases[i].spec;
		build(NULL);
		r = handshake(&o);
		cr_assert(r.ok);
		cr_assert_eq(tickets_seen, cases[i].expect, "tickets = %d: got %d tickets",
			     cases[i].spec, tickets_seen);
		result_free(&r);
		ks_tls_ctx_free(tls);
		tls = NULL;
	}
	spec_tickets = KS_TLS_NO_TICKETS;
	build(NULL);
	r = handshake(&o);
	cr_assert(r.ok && r.status_len > 0, "no tickets, still stapled");
	cr_assert_eq(tickets_seen, 0, "tickets off: got %d TLS 1.3 tickets", tickets_seen);
	result_free(&r);
	/* TLS 1.2: no ticket in the session, and with no session cache nothing resumes. */
	o.version = TLS1_2_VERSION;
	r = handshake(&o);
	cr_assert(r.ok);
	cr_assert_not(SSL_SESSION_has_ticket(r.session), "tickets off: TLS 1.2 got a ticket");
	o.resume = r.session;
	again = handshake(&o);
	cr_assert(again.ok);
	cr_assert_not(again.reused, "tickets off: a TLS 1.2 session was resumed");
	result_free(&again);
	result_free(&r);
}

Test(tls_server, session_tickets_out_of_range_refused)
{
	struct ks_tls_cert *list[1];
	struct ks_tls_listener_spec spec = {
		.name = "test", .clk = &clk, .certs = list, .n_certs = 1
	};

	list[0] = add("ecdsa", "good.der", KS_MUST_STAPLE_AUTO);
	for (int bad = KS_TLS_MAX_TICKETS + 1; bad < KS_TLS_MAX_TICKETS + 3; bad++) {
		spec.tickets = bad;
		errno = 0;
		cr_assert_null(ks_tls_ctx_new(&spec), "accepted tickets = %d", bad);
		cr_assert_eq(errno, EINVAL);
	}
	spec.tickets = -2;
	cr_assert_null(ks_tls_ctx_new(&spec), "accepted tickets = -2");
}

/* Two listeners serving the same certificates: per-listener counts apart, per-cert summed. */
Test(tls_server, counts_per_listener_and_certificate)
{
	struct ks_tls_cert *ec = add("ecdsa", "good.der", KS_MUST_STAPLE_AUTO);
	struct ks_tls_cert *rsa = add("rsa", NULL, KS_MUST_STAPLE_AUTO);
	struct client_opts ask = { .ask = true }, quiet = { .ask = false };
	struct client_opts rsa_only = { .ask = true, .sigalgs = "rsa_pss_rsae_sha256:RSA+SHA256" };
	struct ks_tls_ctx *a, *b;
	struct result r;

	build(NULL);
	a = tls;
	build(NULL);
	b = tls;
	cr_assert_eq(ks_tls_ctx_n_certs(b), 2);
	cr_assert_eq(ks_tls_ctx_cert(b, 1), rsa);
	cr_assert_null(ks_tls_ctx_cert(b, 2));
	cr_assert_null(ks_tls_ctx_cert_stats(b, 2));
	for (int i = 0; i < 2; i++) {
		r = handshake(&ask);
		cr_assert(r.ok && r.status_len > 0);
		result_free(&r);
	}
	r = handshake(&quiet);
	cr_assert(r.ok);
	result_free(&r);
	r = handshake(&rsa_only);
	cr_assert(r.ok && r.status_len == -1);
	result_free(&r);
	tls = a;
	r = handshake(&ask);
	cr_assert(r.ok);
	result_free(&r);
	cr_assert_eq(atomic_load(&ks_tls_ctx_cert_stats(a, 0)->outcome[KS_TLS_STAPLED]), 1);
	cr_assert_eq(atomic_load(&ks_tls_ctx_cert_stats(b, 0)->outcome[KS_TLS_STAPLED]), 2);
	cr_assert_eq(atomic_load(&ks_tls_ctx_cert_stats(b, 0)->outcome[KS_TLS_NOT_ASKED]), 1);
	cr_assert_eq(atomic_load(&ks_tls_ctx_cert_stats(a, 0)->outcome[KS_TLS_NOT_ASKED]), 0);
	cr_assert_eq(atomic_load(&ks_tls_ctx_cert_stats(b, 1)->outcome[KS_TLS_NONE_CACHED]), 1);
	cr_assert_eq(atomic_load(&ks_tls_ctx_cert_stats(a, 1)->outcome[KS_TLS_NONE_CACHED]), 0);
	cr_assert_eq(count(ec, KS_TLS_STAPLED), 3);
	cr_assert_eq(count(ec, KS_TLS_NOT_ASKED), 1);
	cr_assert_eq(count(rsa, KS_TLS_NONE_CACHED), 1);
	ks_tls_ctx_free(b);
}

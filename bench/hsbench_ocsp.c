// SPDX-License-Identifier: MIT
/*
 * OCSP for kstaple-bench: verifying a staple (or a fetched response) the way a careful client
 * would, and fetching the status itself for --client-ocsp. This is the client's view, used to
 * count shares; the agent's own validator is user/ocsp_verify.c.
 */
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "hsbench_client.h"
#include "kstaple/log.h"

#define OCSP_SKEW_S 300 /* tolerated clock difference, as `openssl ocsp` does by default */

int ks_bench_ocsp_setup(struct ks_bench_shared *sh)
{
	const struct ks_bench_opts *o = sh->o;
	int tls = 0;

	if (o->issuer) {
		FILE *f = fopen(o->issuer, "re");

		if (!f) {
			ks_err("--issuer %s: %s", o->issuer, strerror(errno));
			return -errno;
		}
		sh->issuer = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
		if (!sh->issuer) {
			ks_log_ossl(KS_LOG_ERR, NULL, "--issuer: no PEM certificate in the file");
			return -EINVAL;
		}
	}
	if (o->ocsp_url &&
	    OSSL_HTTP_parse_url(o->ocsp_url, &tls, NULL, &sh->ocsp_host, &sh->ocsp_port, NULL,
				&sh->ocsp_path, NULL, NULL) != 1) {
		ks_log_ossl(KS_LOG_ERR, NULL, "--ocsp-url: cannot parse");
		return -EINVAL;
	}
	return 0;
}

void ks_bench_ocsp_teardown(struct ks_bench_shared *sh)
{
	X509_free(sh->issuer);
	OPENSSL_free(sh->ocsp_host);
	OPENSSL_free(sh->ocsp_port);
	OPENSSL_free(sh->ocsp_path);
	sh->issuer = NULL;
	sh->ocsp_host = sh->ocsp_port = sh->ocsp_path = NULL;
}

int ks_bench_ocsp_worker_init(struct ks_bench_worker *w)
{
	X509 *issuer = w->sh->issuer;

	if (!issuer)
		return 0;
	/*
	 * The issuer is the only trust anchor, and PARTIAL_CHAIN lets it be one although it is
	 * not self-signed: the question is "did the issuer (or its delegate) sign this", not
	 * whether the issuer chains to a root. One store per thread: no shared lock.
	 */
	w->store = X509_STORE_new();
	w->certs = sk_X509_new_null();
	if (!w->store || !w->certs || X509_STORE_add_cert(w->store, issuer) != 1 ||
	    X509_STORE_set_flags(w->store, X509_V_FLAG_PARTIAL_CHAIN) != 1 ||
	    sk_X509_push(w->certs, issuer) <= 0) {
		ks_log_ossl(KS_LOG_ERR, NULL, "cannot build the OCSP verification store");
		return -ENOMEM;
	}
	X509_up_ref(issuer); /* the stack's reference */
	return 0;
}

void ks_bench_ocsp_worker_free(struct ks_bench_worker *w)
{
	X509_STORE_free(w->store);
	sk_X509_pop_free(w->certs, X509_free);
	w->store = NULL;
	w->certs = NULL;
}

int ks_bench_ocsp_check(struct ks_bench_worker *w, OCSP_RESPONSE *resp, X509 *leaf)
{
	OCSP_BASICRESP *bs = NULL;
	OCSP_CERTID *id = NULL;
	ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL;
	int status = -1, reason, ret = 0;

	ENSURE(w->store, -EINVAL);
	ENSURE(OCSP_response_status(resp) == OCSP_RESPONSE_STATUS_SUCCESSFUL, -EBADMSG);
	bs = OCSP_response_get1_basic(resp);
	ENSURE_OUT(bs, -EBADMSG);
	/* Signature, and a signer that is the issuer or carries id-kp-OCSPSigning from it. */
	ENSURE_OUT(OCSP_basic_verify(bs, w->certs, w->store, 0) > 0, -EPERM);
	id = OCSP_cert_to_id(NULL, leaf, w->sh->issuer);
	ENSURE_OUT(id, -ENOMEM);
	/* The CertID (issuer name and key hashes, serial) must match the peer's certificate. */
	ENSURE_OUT(OCSP_resp_find_status(bs, id, &status, &reason, NULL, &thisupd, &nextupd) == 1,
		   -EPERM);
	ENSURE_OUT(status == V_OCSP_CERTSTATUS_GOOD, -ESTALE);
	ENSURE_OUT(OCSP_check_validity(thisupd, nextupd, OCSP_SKEW_S, -1) == 1, -ESTALE);
out:
	OCSP_CERTID_free(id);
	OCSP_BASICRESP_free(bs);
	ERR_clear_error();
	return ret;
}

/* The issuer for the CertID: --issuer, else the certificate after the leaf in the peer's chain. */
static X509 *issuer_of(struct ks_bench_worker *w, SSL *ssl)
{
	STACK_OF(X509) * chain;

	if (w->sh->issuer)
		return w->sh->issuer;
	chain = SSL_get_peer_cert_chain(ssl);
	return chain && sk_X509_num(chain) > 1 ? sk_X509_value(chain, 1) : NULL;
}

static void set_timeouts(BIO *b, double timeout_s)
{
	struct timeval tv = { .tv_sec = (time_t)timeout_s,
			      .tv_usec = (suseconds_t)((timeout_s - (double)(time_t)timeout_s) *
						       1e6) };
	int fd = -1;

	if (BIO_get_fd(b, &fd) >= 0 && fd >= 0) {
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
}

static void sleep_rtt(double ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000),
			       .tv_nsec = (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6) };

	if (ms > 0)
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
}

/* The responder's host, port and path: --ocsp-url, else the leaf's AIA (owned by the caller). */
static int responder(struct ks_bench_worker *w, X509 *leaf, char **host, char **port, char **path)
{
	const struct ks_bench_shared *sh = w->sh;
	STACK_OF(OPENSSL_STRING) * aia;
	int tls = 0, ok = 0;

	if (sh->ocsp_host) {
		*host = OPENSSL_strdup(sh->ocsp_host);
		*port = OPENSSL_strdup(sh->ocsp_port);
		*path = OPENSSL_strdup(sh->ocsp_path);
		return *host && *port && *path ? 0 : -ENOMEM;
	}
	aia = X509_get1_ocsp(leaf);
	if (aia && sk_OPENSSL_STRING_num(aia) > 0)
		ok = OSSL_HTTP_parse_url(sk_OPENSSL_STRING_value(aia, 0), &tls, NULL, host, port,
					 NULL, path, NULL, NULL) == 1 &&
		     !tls;
	X509_email_free(aia);
	return ok ? 0 : -ENOENT;
}

int ks_bench_ocsp_fetch(struct ks_bench_worker *w, SSL *ssl, X509 *leaf, OCSP_RESPONSE **out,
			const char **why)
{
	const struct ks_bench_opts *o = w->sh->o;
	char *host = NULL, *port = NULL, *path = NULL;
	X509 *issuer = issuer_of(w, ssl);
	OCSP_REQUEST *req = NULL;
	OCSP_CERTID *id = NULL;
	BIO *b = NULL;
	int ret = 0;

	*out = NULL;
	*why = "no issuer certificate (give --issuer)";
	ENSURE_OUT(issuer, -ENOENT);
	*why = "no responder (give --ocsp-url, or a certificate with an http:// OCSP AIA)";
	TRY_OUT(responder(w, leaf, &host, &port, &path));
	*why = "cannot build the request";
	req = OCSP_REQUEST_new();
	id = OCSP_cert_to_id(NULL, leaf, issuer);
	ENSURE_OUT(req && id && OCSP_request_add0_id(req, id), -ENOMEM);
	id = NULL; /* owned by req now */
	/*
	 * A client without a staple opens a new TCP connection to the responder: one round trip
	 * for the TCP handshake, one for the POST. Distance is simulated by sleeping both.
	 */
	sleep_rtt(2 * o->added_rtt_ms);
	*why = "cannot connect to the responder";
	b = BIO_new_connect(host);
	ENSURE_OUT(b && BIO_set_conn_port(b, port) == 1 && BIO_do_connect(b) == 1, -ECONNREFUSED);
	set_timeouts(b, o->timeout_s);
	*why = "no OCSP response from the responder";
	*out = OCSP_sendreq_bio(b, path, req);
	ENSURE_OUT(*out, -EPROTO);
	*why = NULL;
out:
	BIO_free_all(b);
	OCSP_CERTID_free(id);
	OCSP_REQUEST_free(req);
	OPENSSL_free(host);
	OPENSSL_free(port);
	OPENSSL_free(path);
	ERR_clear_error();
	return ret;
}

/* SPDX-License-Identifier: MIT */
/*
 * http_fetch: OCSP over HTTP with libcurl's multi-socket API, driven by a struct ks_loop.
 *
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when to call it back
 * (CURLMOPT_TIMERFUNCTION); the sockets become one-shot io_uring polls and the timer an
 * io_uring timeout on the caller's loop. One multi handle per ks_http keeps connections alive
 * and reuses them per responder.
 *
 * Requests follow RFC 5019 §5: GET of "<url>/<base64url-escaped DER>" when the caller has a
 * GET URL (the encoded request is under 255 bytes), otherwise POST of the DER with
 * "Content-Type: application/ocsp-request". A response is accepted only if it is HTTP 200
 * with Content-Type application/ocsp-response (parameters tolerated) and a non-empty body no
 * larger than max_body. Redirects are not followed; only http and https are allowed.
 */
#ifndef KSTAPLE_HTTP_FETCH_H
#define KSTAPLE_HTTP_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kstaple/common.h"
#include "kstaple/loop.h"

#define KS_HTTP_DEFAULT_MAX_BODY (64 * 1024)

enum ks_http_err {
	KS_HTTP_OK = 0,
	KS_HTTP_ERR_CONNECT,	  /* connection refused or host unreachable */
	KS_HTTP_ERR_RESOLVE,	  /* host (or proxy) name does not resolve */
	KS_HTTP_ERR_TIMEOUT,	  /* connect or total timeout */
	KS_HTTP_ERR_STATUS,	  /* HTTP status other than 200 (redirects included) */
	KS_HTTP_ERR_CONTENT_TYPE, /* missing or not application/ocsp-response */
	KS_HTTP_ERR_TOO_LARGE,	  /* body over max_body */
	KS_HTTP_ERR_EMPTY,	  /* 200 with an empty body */
	KS_HTTP_ERR_PROTOCOL,	  /* not HTTP, truncated, reset mid-response */
	KS_HTTP_ERR_URL,	  /* malformed URL or scheme other than http/https */
	KS_HTTP_ERR_TLS,	  /* https responder: handshake or certificate failure */
	KS_HTTP_ERR_LOCAL,	  /* out of memory, curl could not be set up */
	KS_HTTP_ERR__COUNT
};

struct ks_http_result {
	bool ok; /* err == KS_HTTP_OK */
	enum ks_http_err err;
	long status;	       /* HTTP status, 0 when no response */
	char content_type[96]; /* as received, "" when absent */
	const uint8_t *body;   /* valid only during the completion callback */
	size_t body_len;
	int64_t elapsed_ms;
	bool reused;	 /* the request went over an already open connection */
	char error[256]; /* "connection refused", "HTTP status 500", ... */
};

struct ks_http_opts {
	int64_t connect_timeout_ms; /* 0: 5000 */
	int64_t timeout_ms;	    /* total per request; 0: 15000 */
	int64_t max_body;	    /* 0: KS_HTTP_DEFAULT_MAX_BODY */
	long max_total_connections; /* 0: 64 */
	long max_host_connections;  /* per responder host:port; 0: 8 */
	const char *proxy;	    /* NULL: curl's http_proxy/no_proxy environment handling */
};

struct ks_http;
struct ks_http_req;

/* Called once per request, from the loop, unless the request was cancelled. */
typedef void (*ks_http_done_fn)(const struct ks_http_result *res, void *arg);

/* NULL + errno. The loop must outlive the ks_http. */
struct ks_http *ks_http_new(struct ks_loop *loop, const struct ks_http_opts *opts);
/* Aborts in-flight requests without calling their callbacks. Not from a callback. */
void ks_http_free(struct ks_http *h);

/*
 * Start one OCSP request to url: GET get_url when it is non-NULL, else POST der (copied).
 * *out (optional) identifies the request for ks_http_cancel() until its callback starts.
 */
KS_MUST_CHECK int ks_http_ocsp(struct ks_http *h, const char *url, const char *get_url,
			       const uint8_t *der, size_t len, ks_http_done_fn done, void *arg,
			       struct ks_http_req **out);
/* Abandon a request: its callback will not be called. */
void ks_http_cancel(struct ks_http *h, struct ks_http_req *req);

/* Requests started and not yet completed. */
unsigned ks_http_active(const struct ks_http *h);

/* "connect", "timeout", "http-status", ... (for JSON and metrics). */
const char *ks_http_err_name(enum ks_http_err e);

/* True if ctype's media type is application/ocsp-response (RFC 9110 §8.3.1: case-insensitive,
 * parameters after ';' ignored, optional whitespace around). */
bool ks_http_ocsp_ctype_ok(const char *ctype);

/* What a finished transfer produced, as far as accepting its body depends on it. */
struct ks_http_response {
	long status;		  /* HTTP status; 0: no HTTP response */
	const char *content_type; /* the header's value as received; NULL when absent */
	size_t body_len;	  /* bytes kept, never more than max_body */
	bool over_limit;	  /* more than max_body bytes arrived or were announced */
	int64_t announced_len;	  /* Content-Length; -1 when absent */
	bool complete;		  /* the transfer ended normally, not cut short by us */
};

/*
 * The acceptance decision, pure (the fuzz target tests/fuzz/http_response_fuzz.c drives it):
 * status first, then Content-Type, then the body. KS_HTTP_OK only for 200, an
 * application/ocsp-response Content-Type, a complete body of 1..max_body bytes. why (may be
 * NULL) receives the reason in printable ASCII: bytes from the responder are never copied
 * into it raw, so they cannot forge log lines or break JSON.
 */
enum ks_http_err ks_http_judge(const struct ks_http_response *r, int64_t max_body, char *why,
			       size_t why_len);
/* The same decision before any body byte is stored: OK, STATUS or CONTENT_TYPE. */
enum ks_http_err ks_http_judge_head(long status, const char *content_type);

#endif /* KSTAPLE_HTTP_FETCH_H */

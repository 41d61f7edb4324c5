/* SPDX-License-Identifier: MIT */
/*
 * metrics: what the agent counts, as Prometheus text and as JSON.
 *
 * The counters themselves live beside the code that counts (relaxed atomics): stapling
 * outcomes in tls_server (per certificate and per listener x certificate), fetch results in
 * the staple cache, connections in conn, kTLS paths in struct ks_session_stats below,
 * ClientHellos in the pinned BPF maps. The agent copies them into a struct ks_metrics_snapshot
 * on its main thread (server_metrics.c); everything here is a pure function of a snapshot:
 *
 *   ks_metrics_prometheus()  text exposition format 0.0.4 (GET /metrics on metrics_listen)
 *   ks_metrics_json()        one JSON object (the control socket, read by `kstaple stats`)
 *   ks_metrics_from_json()   the reverse, so `kstaple stats` prints the table from a snapshot
 *
 * plus the one HTTP request parser of the /metrics endpoint (ks_metrics_parse_request).
 */
#ifndef KSTAPLE_METRICS_H
#define KSTAPLE_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kstaple/bpf_abi.h"
#include "kstaple/common.h"
#include "kstaple/http_fetch.h"
#include "kstaple/loop.h"
#include "kstaple/ocsp_verify.h"

/* ---- sessions by data path (fed by the kTLS code) ---------------------------------------- */

/* Where a session's records are encrypted after the handshake: label path="...". */
enum ks_session_path {
	KS_SESSION_KTLS = 0,  /* "ktls": both directions in the kernel */
	KS_SESSION_KTLS_TX,   /* "ktls_tx": transmit in the kernel, receive in OpenSSL */
	KS_SESSION_KTLS_RX,   /* "ktls_rx": receive in the kernel, transmit in OpenSSL */
	KS_SESSION_USERSPACE, /* "userspace": OpenSSL both ways */
	KS_SESSION__PATHS,
};

/*
 * Why a session is not (fully) in the kernel: label reason="...". The order is that of
 * enum ks_ktls_why (include/kstaple/ktls.h) so the kTLS code can pass its reason through a
 * cast (with a _Static_assert on KS_SESSION_R__COUNT == KS_KTLS_WHY_MAX).
 */
enum ks_session_reason {
	KS_SESSION_R_NONE = 0,	    /* "none": fully offloaded */
	KS_SESSION_R_NOT_ENABLED,   /* "ktls-not-enabled" */
	KS_SESSION_R_NO_ULP,	    /* "no-ulp": kernel has no TLS ULP */
	KS_SESSION_R_NOT_DONE,	    /* "handshake-not-done" */
	KS_SESSION_R_VERSION,	    /* "version": neither TLS 1.2 nor 1.3 */
	KS_SESSION_R_CIPHER,	    /* "cipher": no kTLS path for the cipher */
	KS_SESSION_R_PENDING,	    /* "pending-bytes": OpenSSL holds unread bytes */
	KS_SESSION_R_KERNEL_CIPHER, /* "kernel-cipher": the kernel refused the cipher */
	KS_SESSION_R_OPENSSL,	    /* "openssl": OpenSSL did not enable its kTLS */
	KS_SESSION_R_NO_SECRET,	    /* "no-secret": traffic secret not captured */
	KS_SESSION_R_TX_SEQ,	    /* "tx-seq": TLS 1.3 TX after tickets were sent */
	KS_SESSION_R_SETSOCKOPT,    /* "setsockopt": the kernel refused the keys */
	KS_SESSION_R__COUNT,
};

const char *ks_session_path_name(enum ks_session_path p);
const char *ks_session_reason_name(enum ks_session_reason r);

/* Per listener (in struct ks_conn_stats). Relaxed atomics: written by workers, read by anyone. */
struct ks_session_stats {
	atomic_uint_fast64_t n[KS_SESSION__PATHS][KS_SESSION_R__COUNT];
};

/* Count one session once its path is decided (right after the handshake). */
void ks_metrics_count_session(struct ks_session_stats *s, enum ks_session_path path,
			      enum ks_session_reason reason);

/* ---- the snapshot ------------------------------------------------------------------------ */

/* Stapling decisions (enum ks_tls_outcome order: tls_server.h). */
#define KS_METRICS_OUTCOMES 5

struct ks_metrics_port {
	uint16_t port;
	struct ks_hello_counters c;
};

/* One certificate as served by one listener: what handshakes asked and got. */
struct ks_metrics_lc {
	const char *listener, *cert;
	uint64_t outcome[KS_METRICS_OUTCOMES];
};

struct ks_metrics_cert {
	const char *name;
	bool has_responder;
	/* fetches (staple_cache.h struct ks_cache_stats) */
	uint64_t successes;
	uint64_t failures; /* all reasons: the sum of the arrays and counts below */
	uint64_t rejected[KS_V__COUNT];
	uint64_t http_failures[KS_HTTP_ERR__COUNT];
	uint64_t stale, local_failures, persist_failures;
	unsigned consecutive_failures;
	int64_t next_attempt;	/* 0: none scheduled */
	const char *last_error; /* NULL or "" when none */
	int64_t last_error_at;
	/* the published staple */
	bool has_staple;
	enum ks_verdict verdict; /* good or revoked */
	int64_t this_update, next_update, fetched_at;
};

struct ks_metrics_listener {
	const char *name, *listen;
	uint64_t connections; /* open now (gauge) */
	uint64_t accepted;
	/* why connections ended (struct ks_conn_stats) */
	uint64_t completed, handshake_timeouts, handshake_failures, backend_failures;
	uint64_t idle_timeouts, errors;
	uint64_t bytes_in, bytes_out;
	/* struct ks_tls_listener_stats */
	uint64_t handshakes, resumed, sni_unknown;
	uint64_t sessions[KS_SESSION__PATHS][KS_SESSION_R__COUNT];
};

/* The descriptor budget of `kstaple serve` (fd_budget.h). */
struct ks_metrics_fds {
	uint64_t limit;	 /* RLIMIT_NOFILE; 0: unknown, not reported */
	uint64_t budget; /* client connections it allows */
	bool paused;	 /* accepting paused at the budget now */
	uint64_t pauses; /* pause episodes */
	uint64_t overflow_closed;
};

struct ks_metrics_snapshot {
	const char *version;
	int64_t now, start_time; /* Unix seconds */
	/* > 0 ports read from the pinned maps, 0 none watched, -ENOENT not pinned, < 0 error */
	int telemetry;
	const struct ks_metrics_port *ports;
	size_t n_ports;
	const struct ks_metrics_listener *listeners;
	size_t n_listeners;
	const struct ks_metrics_lc *lcs;
	size_t n_lcs;
	const struct ks_metrics_cert *certs;
	size_t n_certs;
	struct ks_metrics_fds fds;
};

/* ---- output ------------------------------------------------------------------------------ */

/* A growing text buffer; after an allocation failure it stays failed (len frozen). */
struct ks_buf {
	char *p;
	size_t len, cap;
	bool failed;
};

void ks_buf_printf(struct ks_buf *b, const char *fmt, ...) KS_PRINTF(2, 3);
void ks_buf_free(struct ks_buf *b);

/* Prometheus text format 0.0.4. -ENOMEM on allocation failure. */
KS_MUST_CHECK int ks_metrics_prometheus(const struct ks_metrics_snapshot *s, struct ks_buf *out);
#define KS_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* One JSON object, no newline inside, valid UTF-8 (strings through ks_json_quote). */
KS_MUST_CHECK int ks_metrics_json(const struct ks_metrics_snapshot *s, struct ks_buf *out);

/*
 * Parse what ks_metrics_json() wrote back into a snapshot. Strings and arrays are allocated
 * in *arena (free with ks_metrics_snapshot_free); unknown keys are ignored, missing ones are
 * zero. -EBADMSG if text is not JSON of that shape, -ENOMEM.
 */
struct ks_metrics_arena;
KS_MUST_CHECK int ks_metrics_from_json(const char *text, size_t len, struct ks_metrics_snapshot *s,
				       struct ks_metrics_arena **arena);
void ks_metrics_snapshot_free(struct ks_metrics_arena *arena);

/* ---- the /metrics endpoint --------------------------------------------------------------- */

#define KS_METRICS_REQ_MAX 4096 /* request line and headers together */

struct ks_metrics_req {
	bool head;	 /* HEAD (else GET) */
	char path[256];	 /* the request-target's path, without the query */
	size_t head_len; /* bytes of the request head, up to and including the empty line */
};

/*
 * Parse an HTTP/1.x request head (RFC 9112 §2.1: request-line *( field-line CRLF ) CRLF) at
 * the start of buf. Returns 1 when complete (req filled), 0 when more bytes are needed, or:
 * -E2BIG head larger than KS_METRICS_REQ_MAX (431), -EBADMSG malformed (400), -EOPNOTSUPP a
 * method other than GET or HEAD (405), -EPROTONOSUPPORT not HTTP/1.0 or 1.1 (505),
 * -ENAMETOOLONG a target over sizeof(req->path) (414).
 */
KS_MUST_CHECK int ks_metrics_parse_request(const uint8_t *buf, size_t len,
					   struct ks_metrics_req *req);

/* True when the parsed request gets the exposition (200 on GET or HEAD /metrics). */
bool ks_metrics_wants_body(int parse_result, const struct ks_metrics_req *req);

/*
 * The whole response to a request: 200 with body (the exposition; its bytes omitted for
 * HEAD) when ks_metrics_wants_body(), 404 for any other path, or the error status for a
 * negative parse result (body_status < 0: 500). Connection: close, always.
 */
KS_MUST_CHECK int ks_metrics_http_response(int parse_result, const struct ks_metrics_req *req,
					   const struct ks_buf *body, int body_status,
					   struct ks_buf *out);

/*
 * A small server on a loop (the agent's main loop): either the HTTP /metrics endpoint (one
 * request per connection) or the control socket (the JSON snapshot is written as soon as a
 * client connects, then the connection is closed). At most max_clients at once (more are
 * answered 503 or closed), each with timeout_ms for the whole exchange.
 */
enum ks_metrics_body {
	KS_METRICS_PROMETHEUS = 0,
	KS_METRICS_JSON,
};
/* Fill out with the body (on the loop's thread). 0 or a negative errno. */
typedef int (*ks_metrics_render_fn)(void *arg, enum ks_metrics_body kind, struct ks_buf *out);

struct ks_metrics_srv_params {
	struct ks_loop *loop;
	int fd;	   /* a listening socket; the server owns it from now on */
	bool http; /* else: the control socket */
	ks_metrics_render_fn render;
	void *arg;
	unsigned max_clients; /* 0: 8 */
	int64_t timeout_ms;   /* 0: 5000 */
	const char *name;     /* for logs: "metrics 127.0.0.1:9100" */
};

struct ks_metrics_srv;

/* NULL + errno; p->fd is closed on failure. Accepting starts at once. */
struct ks_metrics_srv *ks_metrics_srv_new(const struct ks_metrics_srv_params *p);
/* Stop accepting, abandon clients; the memory goes when the last completion has arrived. */
void ks_metrics_srv_free(struct ks_metrics_srv *srv);
/* Clients connected now (tests). */
unsigned ks_metrics_srv_clients(const struct ks_metrics_srv *srv);

/* ---- `kstaple stats` ---------------------------------------------------------------------- */

/*
 * Connect to the control socket at path and read the agent's snapshot (until EOF, at most
 * 64 MiB, timeout_ms per read). *out is NUL-terminated, free() it. -ENOENT/-ECONNREFUSED: no
 * agent there; -ETIMEDOUT, -EFBIG, -EBADMSG (empty or NUL bytes).
 */
KS_MUST_CHECK int ks_metrics_read_control(const char *path, int64_t timeout_ms, char **out,
					  size_t *len);

/* The agent's tables: stapling per listener x certificate, OCSP per certificate, connections. */
void ks_metrics_table(FILE *f, const struct ks_metrics_snapshot *s);

#endif /* KSTAPLE_METRICS_H */

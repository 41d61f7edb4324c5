/* SPDX-License-Identifier: MIT */
/* Shared by server.c (threads, signals, accept) and server_gen.c (configuration generations). */
#ifndef KSTAPLE_SERVER_INTERNAL_H
#define KSTAPLE_SERVER_INTERNAL_H

#include <stdatomic.h>
#include <sys/socket.h>

#include "kstaple/config.h"
#include "kstaple/conn.h"
#include "kstaple/fd_budget.h"
#include "kstaple/fetcher.h"
#include "kstaple/staple_cache.h"
#include "kstaple/tls_server.h"

/* What one [listener:NAME] of a generation serves with. */
struct gen_listener {
	struct ks_tls_ctx *tls;
	struct sockaddr_storage backend;
	socklen_t backend_len;
};

/* Everything one configuration produces; freed by the last reference, on any thread. */
struct gen {
	atomic_uint refs;
	unsigned id; /* 1 at start, +1 per reload, for logs */
	struct ks_config *cfg;
	struct ks_cache *cache;
	struct ks_cert **certs; /* per cfg->certs */
	struct ks_tls_cert *tcs;
	size_t n_certs;
	struct gen_listener *lsn; /* per cfg->listeners */
};

/* Load certificates, persisted staples, and build the SSL_CTXs. NULL on error (logged). */
struct gen *ks_gen_new(struct ks_config *cfg, const struct ks_clock *clk,
		       struct ks_ticket_keys *keys, unsigned id);
void ks_gen_ref(struct gen *g);
void ks_gen_unref(struct gen *g);

/* A fetcher on loop for every certificate of g, started. NULL on error (logged). */
struct ks_fetcher *ks_gen_fetcher(struct gen *g, struct ks_loop *loop, const struct ks_clock *clk);
/*
 * True when every certificate with a responder either has a valid staple or has had its first
 * attempt (success or failure): start-up and reload wait for this, at most startup_wait_ms.
 */
bool ks_gen_staples_settled(struct gen *g, struct ks_fetcher *f, const struct ks_clock *clk);
/* Log one line per certificate without a valid staple after the wait. */
void ks_gen_log_missing(struct gen *g, const struct ks_clock *clk);

/* Resolve a KS_CT_HOSTPORT value ("*" = any address when passive). */
KS_MUST_CHECK int ks_resolve(const char *hostport, bool passive, struct sockaddr_storage *ss,
			     socklen_t *len);

/* ---- server.c: what the metrics read (main thread only) ---- */
struct ks_server;
struct gen *ks_server_gen(struct ks_server *srv);
struct ks_fetcher *ks_server_fetcher(struct ks_server *srv);
size_t ks_server_n_listeners(const struct ks_server *srv);
/* The process-wide descriptor budget (counters are atomics: read them from any thread). */
const struct ks_fd_budget *ks_server_budget(const struct ks_server *srv);
/* Listener i: its name, listen address and stats; returns the connections open now. */
unsigned ks_server_listener(struct ks_server *srv, size_t i, const char **name, const char **listen,
			    const struct ks_conn_stats **stats);

/* ---- server_metrics.c: [telemetry], metrics_listen, control_socket ---- */
struct ks_srv_metrics;
/*
 * Before the privilege drop: attach [telemetry], open the pinned counters, bind the metrics
 * endpoint and the control socket (serving on loop from its next turn). Errors are logged.
 */
KS_MUST_CHECK int ks_srv_metrics_setup(struct ks_server *srv, struct ks_loop *loop,
				       const struct ks_config *cfg, struct ks_srv_metrics **out);
void ks_srv_metrics_free(struct ks_srv_metrics *m);
/* A reload cannot move these: warn when the new configuration tries. */
void ks_srv_metrics_reload_check(const struct ks_config *old, const struct ks_config *cfg);

#endif /* KSTAPLE_SERVER_INTERNAL_H */

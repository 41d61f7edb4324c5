// SPDX-License-Identifier: MIT
/*
 * Configuration generations of `kstaple serve` (see include/kstaple/server.h): certificates,
 * the staple cache, the SSL_CTXs and backend addresses built from one ks_config, shared by
 * reference between the main thread, the workers and their connections.
 */
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "kstaple/cert_loader.h"
#include "kstaple/ktls.h"
#include "kstaple/log.h"
#include "server_internal.h"

int ks_resolve(const char *hostport, bool passive, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	char host[256], port_s[8];
	uint16_t port;
	int r;

	TRY(ks_config_split_hostport(hostport, host, sizeof(host), &port));
	snprintf(port_s, sizeof(port_s), "%u", port);
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	r = getaddrinfo(passive && !strcmp(host, "*") ? NULL : host, port_s, &hints, &res);
	if (r != 0) {
		ks_err("%s: cannot resolve: %s", hostport, gai_strerror(r));
		return -EHOSTUNREACH;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

void ks_gen_ref(struct gen *g)
{
	atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
}

static void gen_free(struct gen *g)
{
	if (g->lsn)
		for (size_t i = 0; i < g->cfg->n_listeners; i++)
			ks_tls_ctx_free(g->lsn[i].tls);
	free(g->lsn);
	/* The cache's entries point at the certificates: it goes first. */
	ks_cache_free(g->cache);
	for (size_t i = 0; g->certs && i < g->n_certs; i++)
		ks_cert_free(g->certs[i]);
	free(g->certs);
	free(g->tcs);
	ks_config_free(g->cfg);
	free(g);
}

void ks_gen_unref(struct gen *g)
{
	if (g && atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) == 1)
		gen_free(g);
}

/* One certificate per CPU at a time (cert_loader.h), added to the cache in order. */
static int add_certs(struct gen *g, struct ks_cert_loader *l)
{
	const struct ks_config *cfg = g->cfg;
	struct ks_cert *cert;
	size_t i;
	int ret, err;

	while ((ret = ks_cert_loader_next(l, true, &i, &cert, &err)) == 1) {
		struct ks_tls_cert *tc = &g->tcs[i];

		/* ks_cert_load logged why, naming the certificate and the file. */
		TRY(cert ? 0 : err);
		g->certs[i] = cert;
		g->n_certs++;
		tc->cert = cert;
		tc->policy = cfg->certs[i].must_staple;
		TRY(ks_cache_add(g->cache, cert, &tc->entry));
		/* A missing or unusable file is logged by the cache and is not an error. */
		TRY(ks_cache_load(g->cache, tc->entry));
	}
	return ret == -ENODATA ? 0 : ret;
}

static int load_certs(struct gen *g, const struct ks_clock *clk)
{
	const struct ks_config *cfg = g->cfg;
	const struct ks_cert_conf **confs;
	struct ks_cert_loader *l;
	int ret;

	g->certs = calloc(cfg->n_certs, sizeof(*g->certs));
	g->tcs = calloc(cfg->n_certs, sizeof(*g->tcs));
	confs = calloc(cfg->n_certs + 1, sizeof(*confs));
	if (!g->certs || !g->tcs || !confs) {
		free(confs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->n_certs; i++)
		confs[i] = &cfg->certs[i];
	l = ks_cert_loader_start(cfg, confs, cfg->n_certs, true, ks_now(clk), 0);
	ret = l ? add_certs(g, l) : -ENOMEM;
	/* Stops the loaders early after a failure, and frees what was not handed out. */
	ks_cert_loader_free(l);
	free(confs);
	return ret;
}

static struct ks_tls_cert *find_tc(struct gen *g, const char *name)
{
	for (size_t i = 0; i < g->n_certs; i++)
		if (!strcmp(g->cfg->certs[i].name, name))
			return &g->tcs[i];
	return NULL;
}

static int build_listener(struct gen *g, size_t i, const struct ks_clock *clk,
			  struct ks_ticket_keys *keys)
{
	const struct ks_listener_conf *lc = &g->cfg->listeners[i];
	struct ks_tls_listener_spec spec = {
		.name = lc->name,
		.alpn = lc->alpn,
		.clk = clk,
		.ticket_keys = keys,
		/* The config's 0 (none) is the spec's KS_TLS_NO_TICKETS; 0 there is the default. */
		.tickets = lc->session_tickets ? (int)lc->session_tickets : KS_TLS_NO_TICKETS,
	};
	struct ks_tls_cert *list[64];
	char why[200];
	size_t n = 0;

	/*
	 * kTLS: `require` and `handoff` need the kernel (probed once per process); `auto` logs
	 * once why sessions stay in userspace. Refused as a configuration the host cannot meet
	 * (-EINVAL: exit status 78), on start and on reload alike.
	 */
	if ((lc->ktls == KS_KTLS_MODE_REQUIRE || lc->handoff) &&
	    ks_ktls_check_mode((enum ks_ktls_mode)lc->ktls, lc->handoff != NULL, why, sizeof(why)) <
		    0) {
		ks_err("%s:%d: [listener:%s] %s: %s", g->cfg->path, lc->line, lc->name,
		       lc->handoff ? "handoff" : "ktls = require", why);
		return -EINVAL;
	}
	if (lc->ktls == KS_KTLS_MODE_AUTO &&
	    ks_ktls_check_mode(KS_KTLS_MODE_AUTO, false, why, sizeof(why)) < 0)
		return -EINVAL; /* not reached: auto never refuses */
	/* Without the TLS ULP OpenSSL would only try (and fail) a setsockopt per handshake. */
	spec.ktls = lc->ktls != KS_KTLS_MODE_OFF && ks_ktls_probe()->ulp;

	for (; lc->certs[n]; n++) {
		if (n == KS_ARRAY_SIZE(list)) {
			ks_err("%s:%d: [listener:%s] certs: at most %zu certificates", g->cfg->path,
			       lc->line, lc->name, KS_ARRAY_SIZE(list));
			return -EINVAL;
		}
		list[n] = find_tc(g, lc->certs[n]);
		ENSURE(list[n], -EINVAL); /* config.c checked the names */
	}
	spec.certs = list;
	spec.n_certs = n;
	g->lsn[i].tls = ks_tls_ctx_new(&spec);
	if (!g->lsn[i].tls) {
		ks_err("%s:%d: [listener:%s]: cannot set up TLS", g->cfg->path, lc->line, lc->name);
		return -errno;
	}
	return ks_resolve(lc->backend, false, &g->lsn[i].backend, &g->lsn[i].backend_len);
}

struct gen *ks_gen_new(struct ks_config *cfg, const struct ks_clock *clk,
		       struct ks_ticket_keys *keys, unsigned id)
{
	struct gen *g = calloc(1, sizeof(*g));
	int ret;

	if (!g) {
		ks_config_free(cfg);
		return NULL;
	}
	atomic_init(&g->refs, 1);
	g->id = id;
	g->cfg = cfg;
	g->cache = ks_cache_new(cfg->state_dir, clk, cfg->fetch.skew);
	ENSURE_OUT(g->cache, -errno);
	TRY_OUT(load_certs(g, clk));
	g->lsn = calloc(cfg->n_listeners, sizeof(*g->lsn));
	ENSURE_OUT(g->lsn, -ENOMEM);
	for (size_t i = 0; i < cfg->n_listeners; i++)
		TRY_OUT(build_listener(g, i, clk, keys));
	return g;
out:
	gen_free(g);
	errno = -ret;
	return NULL;
}

struct ks_fetcher *ks_gen_fetcher(struct gen *g, struct ks_loop *loop, const struct ks_clock *clk)
{
	struct ks_fetcher *f = ks_fetcher_new(loop, g->cache, &g->cfg->fetch, clk);
	int ret = 0;

	if (!f) {
		ks_err("cannot start the OCSP fetcher: %s", strerror(errno));
		return NULL;
	}
	for (size_t i = 0; i < g->n_certs && ret == 0; i++)
		ret = ks_fetcher_add(f, g->tcs[i].entry);
	if (ret == 0)
		ret = ks_fetcher_start(f);
	if (ret < 0) {
		ks_err("cannot start the OCSP fetcher: %s", strerror(-ret));
		ks_fetcher_free(f);
		return NULL;
	}
	return f;
}

static bool has_valid_staple(struct ks_cache_entry *e, int64_t now)
{
	struct ks_staple *st = ks_staple_acquire(e);
	bool ok = st && now <= st->next_update;

	ks_staple_release(st);
	return ok;
}

bool ks_gen_staples_settled(struct gen *g, struct ks_fetcher *f, const struct ks_clock *clk)
{
	int64_t now = ks_now(clk);

	(void)g;
	for (size_t i = 0; i < ks_fetcher_count(f); i++) {
		const struct ks_fetch_cert_result *r = ks_fetcher_result(f, i);

		if (r->outcome == KS_FETCH_PENDING &&
		    !has_valid_staple(ks_fetcher_entry(f, i), now))
			return false;
	}
	return true;
}

void ks_gen_log_missing(struct gen *g, const struct ks_clock *clk)
{
	int64_t now = ks_now(clk);

	for (size_t i = 0; i < g->n_certs; i++) {
		if (has_valid_staple(g->tcs[i].entry, now))
			continue;
		ks_log_cert(ks_tls_requires_staple(&g->tcs[i]) ? KS_LOG_ERR : KS_LOG_WARN,
			    g->certs[i]->name,
			    "no valid OCSP response yet%s; the fetcher keeps trying",
			    ks_tls_requires_staple(&g->tcs[i])
				    ? ": must-staple, handshakes asking for a staple fail"
				    : ": handshakes get no staple");
	}
}

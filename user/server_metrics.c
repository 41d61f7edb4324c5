// SPDX-License-Identifier: MIT
/*
 * The observability side of `kstaple serve`: [telemetry] attached at start, the Prometheus
 * endpoint (metrics_listen) and the control socket, both on the main loop, and the snapshot
 * they render, copied from the counters where they live (see include/kstaple/metrics.h).
 *
 * Everything that needs root happens in ks_srv_metrics_setup(), before the privilege drop:
 * the BPF program is loaded and attached, the pinned counters map is opened (its pin is
 * root's, mode 0600: later reads go through this descriptor), and both sockets are bound.
 * Nothing here needs a capability afterwards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "kstaple/log.h"
#include "kstaple/metrics.h"
#include "kstaple/privdrop.h"
#include "kstaple/telemetry.h"
#include "server_internal.h"

struct ks_srv_metrics {
	struct ks_server *srv;
	int64_t start_time;
	int counters_fd; /* pinned ClientHello counters, -1 when not pinned at start */
	struct ks_metrics_srv *http, *control;
	char *control_path; /* removed at exit */
};

/* ---- [telemetry] ------------------------------------------------------------------------- */

/* The watched ports: [telemetry] ports, else every listener's port (each once). */
static int telemetry_ports(const struct ks_config *cfg, uint16_t *ports, size_t max)
{
	char host[256];
	uint16_t p;
	size_t n = 0;

	if (cfg->telemetry.ports) {
		for (size_t i = 0; cfg->telemetry.ports[i] && n < max; i++)
			ports[n++] =
				(uint16_t)atoi(cfg->telemetry.ports[i]); /* checked by config */
		return (int)n;
	}
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		bool seen = false;

		TRY(ks_config_split_hostport(cfg->listeners[i].listen, host, sizeof(host), &p));
		for (size_t j = 0; j < n; j++)
			seen |= ports[j] == p;
		if (!seen && n < max)
			ports[n++] = p;
	}
	return (int)n;
}

static int attach_telemetry(const struct ks_config *cfg)
{
	uint16_t ports[KS_BPF_MAX_PORTS];
	struct ks_telemetry *t;
	char list[KS_BPF_MAX_PORTS * 7] = "";
	int n, ret = 0;

	if (!cfg->telemetry.interfaces)
		return 0;
	n = telemetry_ports(cfg, ports, KS_ARRAY_SIZE(ports));
	if (n <= 0) {
		ks_err("%s: [telemetry]: no port to watch", cfg->path);
		return -EINVAL;
	}
	ret = ks_telemetry_load(&t);
	if (ret < 0) {
		ks_err("telemetry: cannot load the eBPF program: %s (needs root: CAP_BPF and "
		       "CAP_NET_ADMIN, and a kernel with BTF)",
		       strerror(-ret));
		return ret;
	}
	ret = ks_telemetry_set_ports(t, ports, (size_t)n);
	if (ret < 0)
		ks_err("telemetry: cannot set the watched ports: %s", strerror(-ret));
	for (size_t i = 0; ret == 0 && cfg->telemetry.interfaces[i]; i++) {
		ret = ks_telemetry_attach(t, cfg->telemetry.interfaces[i]);
		if (ret < 0)
			ks_err("telemetry: cannot attach to %s: %s", cfg->telemetry.interfaces[i],
			       strerror(-ret));
	}
	ks_telemetry_close(t); /* the filters and pinned maps stay */
	if (ret < 0)
		return ret;
	for (int i = 0; i < n; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%u", i ? "," : "",
			 ports[i]);
	for (size_t i = 0; cfg->telemetry.interfaces[i]; i++)
		ks_info("telemetry: counting ClientHellos to ports %s at ingress of %s", list,
			cfg->telemetry.interfaces[i]);
	return 0;
}

/* ---- sockets ----------------------------------------------------------------------------- */

static int metrics_socket(const struct ks_config *cfg, int *out)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, ret;

	TRY(ks_resolve(cfg->metrics_listen, true, &ss, &len));
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ENSURE(fd >= 0, -errno);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 64) < 0) {
		ret = -errno;
		ks_err("%s: [kstaple] metrics_listen: cannot listen on %s: %s", cfg->path,
		       cfg->metrics_listen, strerror(-ret));
		close(fd);
		return ret;
	}
	*out = fd;
	return 0;
}

/*
 * Bind the control socket. A socket file left by an agent that died is replaced; one that
 * answers belongs to a running agent, and two agents on one socket would confuse `stats`.
 */
static int bind_unix(int fd, const struct sockaddr_un *un)
{
	struct stat st;
	int probe, ret;

	if (bind(fd, (const struct sockaddr *)un, sizeof(*un)) == 0)
		return 0;
	if (errno != EADDRINUSE)
		return -errno;
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ENSURE(probe >= 0, -errno);
	ret = connect(probe, (const struct sockaddr *)un, sizeof(*un));
	close(probe);
	if (ret == 0)
		return -EADDRINUSE;
	ENSURE(lstat(un->sun_path, &st) == 0 && S_ISSOCK(st.st_mode), -EEXIST);
	ENSURE(unlink(un->sun_path) == 0, -errno);
	ENSURE(bind(fd, (const struct sockaddr *)un, sizeof(*un)) == 0, -errno);
	return 0;
}

static int control_socket(const struct ks_config *cfg, char **path, int *out)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	uid_t uid;
	gid_t gid;
	char *p;
	int fd, ret;

	*out = -1;
	if (cfg->control_socket)
		p = strdup(cfg->control_socket);
	else if (asprintf(&p, "%s/control.sock", cfg->state_dir) < 0)
		p = NULL;
	ENSURE(p, -ENOMEM);
	if (strlen(p) >= sizeof(un.sun_path)) {
		/* The default under a deep state_dir is not worth refusing to start for. */
		ks_log(cfg->control_socket ? KS_LOG_ERR : KS_LOG_WARN,
		       "%s: control socket %s: longer than %zu bytes%s", cfg->path, p,
		       sizeof(un.sun_path) - 1,
		       cfg->control_socket ? "" : "; set [kstaple] control_socket to enable it");
		free(p);
		return cfg->control_socket ? -ENAMETOOLONG : 0;
	}
	memcpy(un.sun_path, p, strlen(p) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ENSURE_OUT(fd >= 0, -errno);
	ret = bind_unix(fd, &un);
	if (ret == 0 && chmod(p, 0660) < 0)
		ret = -errno;
	/* The user `kstaple stats` runs as when it is not root: the agent's own. */
	if (ret == 0 && cfg->user && ks_privdrop_resolve(cfg->user, cfg->group, &uid, &gid) == 0 &&
	    chown(p, uid, gid) < 0)
		ret = -errno;
	if (ret == 0 && listen(fd, 16) < 0)
		ret = -errno;
	if (ret < 0) {
		ks_err("control socket %s: %s", p,
		       ret == -EADDRINUSE ? "another kstaple answers on it" : strerror(-ret));
		close(fd);
		goto out;
	}
	*out = fd;
	*path = p;
	return 0;
out:
	free(p);
	return ret;
}

/* ---- the snapshot ------------------------------------------------------------------------ */

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

_Static_assert(KS_METRICS_OUTCOMES == KS_TLS__OUTCOMES, "one slot per stapling outcome");

static void fill_cert(struct ks_metrics_cert *mc, char *err, const struct ks_tls_cert *tc,
		      const struct ks_fetch_cert_result *fr)
{
	struct ks_cache_entry *e = tc->entry;
	struct ks_staple *st;

	mc->name = tc->cert->name;
	mc->has_responder = tc->cert->responder != NULL;
	mc->successes = LOAD(e->stats.successes);
	mc->failures = LOAD(e->stats.failures);
	for (int v = 0; v < KS_V__COUNT; v++)
		mc->rejected[v] = LOAD(e->stats.rejected[v]);
	for (int h = 0; h < KS_HTTP_ERR__COUNT; h++)
		mc->http_failures[h] = LOAD(e->stats.http_failures[h]);
	mc->stale = LOAD(e->stats.stale);
	mc->local_failures = LOAD(e->stats.local_failures);
	mc->persist_failures = LOAD(e->stats.persist_failures);
	/*
	 * last_error is written by the fetcher's verification threads: copied whole and cut,
	 * so a write in progress yields at worst a garbled message, never a read past it.
	 */
	memcpy(err, e->last_error, sizeof(e->last_error));
	err[sizeof(e->last_error) - 1] = '\0';
	mc->last_error = err;
	mc->last_error_at = e->last_error_at;
	if (fr) {
		mc->consecutive_failures = fr->failures;
		mc->next_attempt = fr->next_attempt;
	}
	st = ks_staple_acquire(e);
	if (st) {
		mc->has_staple = true;
		mc->verdict = st->verdict;
		mc->this_update = st->this_update;
		mc->next_update = st->next_update;
		mc->fetched_at = st->fetched_at;
	}
	ks_staple_release(st);
}

static void fill_listener(struct ks_metrics_listener *ml, struct ks_server *srv, size_t i,
			  struct ks_tls_ctx *tls)
{
	const struct ks_conn_stats *cs;
	const struct ks_tls_listener_stats *ts = ks_tls_ctx_stats(tls);

	ml->connections = ks_server_listener(srv, i, &ml->name, &ml->listen, &cs);
	ml->accepted = LOAD(cs->accepted);
	ml->completed = LOAD(cs->completed);
	ml->handshake_timeouts = LOAD(cs->handshake_timeouts);
	ml->handshake_failures = LOAD(cs->handshake_failures);
	ml->backend_failures = LOAD(cs->backend_failures);
	ml->idle_timeouts = LOAD(cs->idle_timeouts);
	ml->errors = LOAD(cs->errors);
	ml->bytes_in = LOAD(cs->bytes_in);
	ml->bytes_out = LOAD(cs->bytes_out);
	for (int p = 0; p < KS_SESSION__PATHS; p++)
		for (int r = 0; r < KS_SESSION_R__COUNT; r++)
			ml->sessions[p][r] = LOAD(cs->sessions.n[p][r]);
	ml->handshakes = LOAD(ts->handshakes);
	ml->resumed = LOAD(ts->resumed);
	ml->sni_unknown = LOAD(ts->sni_unknown);
}

/* The fetcher's result for tc: added in the order of g->tcs, so index i unless reordered. */
static const struct ks_fetch_cert_result *fetch_result(struct ks_fetcher *f, struct gen *g,
						       size_t i)
{
	size_t n = f ? ks_fetcher_count(f) : 0;

	if (i < n && ks_fetcher_entry(f, i) == g->tcs[i].entry)
		return ks_fetcher_result(f, i);
	for (size_t j = 0; j < n; j++)
		if (ks_fetcher_entry(f, j) == g->tcs[i].entry)
			return ks_fetcher_result(f, j);
	return NULL;
}

struct snap {
	struct ks_metrics_snapshot s;
	struct ks_metrics_port ports[KS_BPF_MAX_PORTS];
	struct ks_metrics_listener *lsn;
	struct ks_metrics_lc *lcs;
	struct ks_metrics_cert *certs;
	char (*errors)[sizeof(((struct ks_cache_entry *)0)->last_error)];
};

static void read_telemetry(struct ks_srv_metrics *m, struct snap *sn)
{
	struct ks_port_counters pc[KS_BPF_MAX_PORTS];
	int n;

	/* Without a descriptor from before the drop, try the pins (works as root). */
	n = m->counters_fd >= 0 ? ks_telemetry_read_fd(m->counters_fd, pc, KS_ARRAY_SIZE(pc))
				: ks_telemetry_read(pc, KS_ARRAY_SIZE(pc));
	sn->s.telemetry = n;
	for (int i = 0; i < n; i++) {
		sn->ports[i].port = pc[i].port;
		sn->ports[i].c = pc[i].c;
	}
	sn->s.ports = sn->ports;
	sn->s.n_ports = n > 0 ? (size_t)n : 0;
}

static void fill_fds(struct ks_metrics_fds *f, const struct ks_fd_budget *b)
{
	f->limit = b->plan.nofile;
	f->budget = b->plan.conns;
	f->paused = ks_fd_budget_is_paused(b);
	f->pauses = LOAD(b->pauses);
	f->overflow_closed = LOAD(b->overflow_closed);
}

static int take(struct ks_srv_metrics *m, struct snap *sn)
{
	struct gen *g = ks_server_gen(m->srv);
	struct ks_fetcher *f = ks_server_fetcher(m->srv);
	size_t n_lsn = ks_server_n_listeners(m->srv), n_lcs = 0;

	memset(sn, 0, sizeof(*sn));
	sn->s.version = KS_VERSION;
	sn->s.now = time(NULL);
	sn->s.start_time = m->start_time;
	fill_fds(&sn->s.fds, ks_server_budget(m->srv));
	read_telemetry(m, sn);
	ENSURE(g, -EAGAIN);
	for (size_t i = 0; i < n_lsn; i++)
		n_lcs += ks_tls_ctx_n_certs(g->lsn[i].tls);
	sn->lsn = calloc(n_lsn + 1, sizeof(*sn->lsn));
	sn->lcs = calloc(n_lcs + 1, sizeof(*sn->lcs));
	sn->certs = calloc(g->n_certs + 1, sizeof(*sn->certs));
	sn->errors = calloc(g->n_certs + 1, sizeof(*sn->errors));
	ENSURE(sn->lsn && sn->lcs && sn->certs && sn->errors, -ENOMEM);
	for (size_t i = 0; i < n_lsn; i++) {
		struct ks_tls_ctx *tls = g->lsn[i].tls;

		fill_listener(&sn->lsn[i], m->srv, i, tls);
		for (size_t j = 0; j < ks_tls_ctx_n_certs(tls); j++) {
			struct ks_metrics_lc *lc = &sn->lcs[sn->s.n_lcs++];
			const struct ks_tls_cert_stats *cs = ks_tls_ctx_cert_stats(tls, j);

			lc->listener = sn->lsn[i].name;
			lc->cert = ks_tls_ctx_cert(tls, j)->cert->name;
			for (int o = 0; o < KS_METRICS_OUTCOMES; o++)
				lc->outcome[o] = LOAD(cs->outcome[o]);
		}
	}
	for (size_t i = 0; i < g->n_certs; i++)
		fill_cert(&sn->certs[i], sn->errors[i], &g->tcs[i], fetch_result(f, g, i));
	sn->s.listeners = sn->lsn;
	sn->s.n_listeners = n_lsn;
	sn->s.lcs = sn->lcs;
	sn->s.certs = sn->certs;
	sn->s.n_certs = g->n_certs;
	return 0;
}

static int render(void *arg, enum ks_metrics_body kind, struct ks_buf *out)
{
	struct snap *sn = malloc(sizeof(*sn));
	int ret;

	ENSURE(sn, -ENOMEM);
	ret = take(arg, sn);
	if (ret == 0)
		ret = kind == KS_METRICS_JSON ? ks_metrics_json(&sn->s, out)
					      : ks_metrics_prometheus(&sn->s, out);
	free(sn->lsn);
	free(sn->lcs);
	free(sn->certs);
	free(sn->errors);
	free(sn);
	return ret;
}

/* ---- life cycle -------------------------------------------------------------------------- */

int ks_srv_metrics_setup(struct ks_server *srv, struct ks_loop *loop, const struct ks_config *cfg,
			 struct ks_srv_metrics **out)
{
	struct ks_srv_metrics *m = calloc(1, sizeof(*m));
	int fd = -1, ret;

	*out = NULL;
	ENSURE(m, -ENOMEM);
	m->srv = srv;
	m->start_time = time(NULL);
	m->counters_fd = -1;
	TRY_OUT(attach_telemetry(cfg));
	ret = ks_telemetry_open_counters();
	if (ret >= 0)
		m->counters_fd = ret;
	else if (ret != -ENOENT)
		ks_warn("telemetry: cannot open the counters under %s: %s; ClientHello metrics "
			"need the agent to start as root",
			ks_telemetry_pin_dir(), strerror(-ret));
	if (cfg->metrics_listen) {
		TRY_OUT(metrics_socket(cfg, &fd));
		m->http = ks_metrics_srv_new(&(struct ks_metrics_srv_params){ .loop = loop,
									      .fd = fd,
									      .http = true,
									      .render = render,
									      .arg = m,
									      .name = "metrics" });
		ENSURE_OUT(m->http, -errno);
		ks_info("metrics: Prometheus endpoint on http://%s/metrics", cfg->metrics_listen);
	}
	TRY_OUT(control_socket(cfg, &m->control_path, &fd));
	if (fd >= 0) {
		m->control = ks_metrics_srv_new(&(struct ks_metrics_srv_params){
			.loop = loop, .fd = fd, .render = render, .arg = m, .name = "control" });
		ENSURE_OUT(m->control, -errno);
	}
	*out = m;
	return 0;
out:
	ks_srv_metrics_free(m);
	return ret;
}

void ks_srv_metrics_free(struct ks_srv_metrics *m)
{
	if (!m)
		return;
	ks_metrics_srv_free(m->http);
	ks_metrics_srv_free(m->control);
	if (m->control_path)
		unlink(m->control_path); /* may fail after the drop: replaced at the next start */
	free(m->control_path);
	if (m->counters_fd >= 0)
		close(m->counters_fd);
	free(m);
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool same_list(char *const *a, char *const *b)
{
	size_t i = 0;

	for (; a && b && a[i] && b[i]; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return (!a || !a[i]) && (!b || !b[i]);
}

void ks_srv_metrics_reload_check(const struct ks_config *old, const struct ks_config *cfg)
{
	if (!same_str(old->metrics_listen, cfg->metrics_listen))
		ks_warn("%s: [kstaple] metrics_listen changes on restart only", cfg->path);
	if (!same_str(old->control_socket, cfg->control_socket))
		ks_warn("%s: [kstaple] control_socket changes on restart only", cfg->path);
	if (!same_list(old->telemetry.interfaces, cfg->telemetry.interfaces) ||
	    !same_list(old->telemetry.ports, cfg->telemetry.ports))
		ks_warn("%s: [telemetry] changes on restart only (the attached program keeps "
			"counting)",
			cfg->path);
}

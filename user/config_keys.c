// SPDX-License-Identifier: MIT
/*
 * The table of configuration keys and the parsers of their values. The table is the single
 * source for defaults, bounds, types and help text: config.c applies and checks it, `kstaple
 * check-config --keys` prints it (ks_config_dump_keys) and the man page is checked against it.
 *
 * Value syntax (documented in kstaple.conf(5)):
 *   duration  an integer and an optional unit: ms, s, m, h, d. No unit means seconds, whatever
 *             the key stores ("300" = 5 minutes, "1500ms"); keys stored in whole seconds reject
 *             "1500ms". No fractions, no compound "1h30m" (write "90m").
 *   size      an integer and an optional binary unit: k or KiB (1024), M or MiB (1048576).
 *   number    plain decimal "0.05" (no sign, exponent, "nan"): parsed by hand, so the locale's
 *             decimal point never matters.
 *   bool      yes/no, true/false, on/off, 1/0 (any case).
 *   list      "a, b, c": items trimmed, none empty.
 * Every value must be non-empty and free of control characters (it ends up in log lines).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_internal.h"
#include "kstaple/ktls.h"

#define CFG(f)	offsetof(struct ks_config, f)
#define CERT(f) offsetof(struct ks_cert_conf, f)
#define LSN(f)	offsetof(struct ks_listener_conf, f)

#define KIB   1024LL
#define MIB   (1024LL * 1024)
#define MS    1000LL /* milliseconds per second */
#define MIN_S 60LL
#define HOUR  3600LL
#define DAY   86400LL

/* Index = enum value: log.h's enum ks_log_level and config.h's enum ks_must_staple. */
static const char *const log_words[] = { "error", "warning", "info", "debug", NULL };
static const char *const must_staple_words[] = { "auto", "enforce", "ignore", NULL };
/* Index = enum ks_ktls_mode (ktls.h). */
static const char *const ktls_words[] = { "auto", "require", "off", NULL };
/* Index = enum ks_backend_connect (config.h). */
static const char *const backend_connect_words[] = { "handshake", "data", NULL };
/* RFC 6960 appendix A: OCSP over HTTP. Responses are signed; https only adds failure modes. */
static const char *const http_only[] = { "http://", NULL };
/* The proxy schemes libcurl accepts in CURLOPT_PROXY. */
static const char *const proxy_schemes[] = { "http://",	  "https://",	"socks4://", "socks4a://",
					     "socks5://", "socks5h://", NULL };

_Static_assert(sizeof(enum ks_log_level) == sizeof(int), "enum keys are stored as int");
_Static_assert(sizeof(enum ks_must_staple) == sizeof(int), "enum keys are stored as int");
_Static_assert(KS_LOG_DEBUG == 3 && KS_MUST_STAPLE_IGNORE == 2, "words[] follow the enums");
_Static_assert(KS_BACKEND_CONNECT_HANDSHAKE == 0 && KS_BACKEND_CONNECT_DATA == 1,
	       "backend_connect_words[] follows enum ks_backend_connect");
_Static_assert(KS_KTLS_MODE_AUTO == 0 && KS_KTLS_MODE_REQUIRE == 1 && KS_KTLS_MODE_OFF == 2,
	       "ktls_words[] follows enum ks_ktls_mode");

static const struct ks_conf_key keys[] = {
	/* [kstaple] */
	/* Privileges and key protection (privdrop.c, keyfile.c). */
	{ .sec = KS_SEC_KSTAPLE,
	  .name = "user",
	  .type = KS_CT_STRING,
	  .off = CFG(user),
	  .help = "after binding listeners and loading BPF, run as this user (unset: no drop)" },
	{ .sec = KS_SEC_KSTAPLE,
	  .name = "group",
	  .type = KS_CT_STRING,
	  .off = CFG(group),
	  .help = "and as this group (unset: the primary group of user)" },
	{ .sec = KS_SEC_KSTAPLE,
	  .name = "allow_insecure_key_permissions",
	  .type = KS_CT_BOOL,
	  .off = CFG(allow_insecure_key_permissions),
	  .def = "no",
	  .help = "load private keys that other users can read or own (logged as a warning)" },
	{ .sec = KS_SEC_KSTAPLE,
	  .name = "state_dir",
	  .type = KS_CT_PATH,
	  .off = CFG(state_dir),
	  .def = "/var/lib/kstaple",
	  .help = "directory where the last good response of each certificate is kept" },
	{ .sec = KS_SEC_KSTAPLE,
	  .name = "log_level",
	  .type = KS_CT_ENUM,
	  .off = CFG(log_level),
	  .def = "info",
	  .words = log_words,
	  .help = "least important messages that are logged" },
	{ .sec = KS_SEC_KSTAPLE,
	  .name = "workers",
	  .type = KS_CT_INT,
	  .off = CFG(workers),
	  .def = "0",
	  .min = 0,
	  .max = 1024,
	  .help = "serve: worker threads, each with its own io_uring (0: one per CPU)" },
	{ .sec = KS_SEC_KSTAPLE,
	  .name = "drain_timeout",
	  .type = KS_CT_DURATION_MS,
	  .off = CFG(drain_timeout_ms),
	  .def = "30s",
	  .min = 0,
	  .max = HOUR * MS,
	  .help = "serve: on SIGTERM, how long open connections may finish before they are closed" },
	{ .sec = KS_SEC_KSTAPLE,
	  .name = "ticket_key_lifetime",
	  .type = KS_CT_DURATION_S,
	  .off = CFG(ticket_key_lifetime),
	  .def = "1h",
	  .min = 1,
	  .max = 7 * DAY,
	  .help = "serve: session ticket keys rotate this often; the previous key is still accepted" },
	/* Observability (metrics.c, server_metrics.c). */
	{ .sec = KS_SEC_KSTAPLE,
	  .name = "metrics_listen",
	  .type = KS_CT_HOSTPORT,
	  .off = CFG(metrics_listen),
	  .help = "serve: ADDR:PORT of the Prometheus endpoint GET /metrics (unset: none)" },
	{ .sec = KS_SEC_KSTAPLE,
	  .name = "control_socket",
	  .type = KS_CT_PATH,
	  .off = CFG(control_socket),
	  .help = "serve: unix socket `kstaple stats` reads the counters from (unset: "
		  "STATE_DIR/control.sock)" },

	/* [fetch]: the clock, the refresh schedule (staple_sched.h), the HTTP client */
	{ .sec = KS_SEC_FETCH,
	  .name = "skew",
	  .type = KS_CT_DURATION_S,
	  .off = CFG(fetch.skew),
	  .def = "5m",
	  .min = 0,
	  .max = HOUR,
	  .help = "clock difference tolerated on thisUpdate and nextUpdate" },
	{ .sec = KS_SEC_FETCH,
	  .name = "refresh_fraction",
	  .type = KS_CT_DOUBLE,
	  .off = CFG(fetch.sched.refresh_fraction),
	  .def = "0.5",
	  .dmin = 0.01,
	  .dmax = 0.99,
	  .help = "refresh after this fraction of a response's validity (thisUpdate..nextUpdate)" },
	{ .sec = KS_SEC_FETCH,
	  .name = "jitter",
	  .type = KS_CT_DOUBLE,
	  .off = CFG(fetch.sched.jitter),
	  .def = "0.05",
	  .dmin = 0,
	  .dmax = 0.49,
	  .help = "random spread of the refresh time, +- this fraction of the validity" },
	{ .sec = KS_SEC_FETCH,
	  .name = "min_before_expiry",
	  .type = KS_CT_DURATION_S,
	  .off = CFG(fetch.sched.min_before_expiry),
	  .def = "10m",
	  .min = 0,
	  .max = 7 * DAY,
	  .help = "refresh no later than this long before nextUpdate" },
	{ .sec = KS_SEC_FETCH,
	  .name = "min_delay",
	  .type = KS_CT_DURATION_S,
	  .off = CFG(fetch.sched.min_delay),
	  .def = "1m",
	  .min = 1,
	  .max = DAY,
	  .help = "never schedule a fetch sooner than this from now" },
	{ .sec = KS_SEC_FETCH,
	  .name = "backoff_base",
	  .type = KS_CT_DURATION_S,
	  .off = CFG(fetch.sched.backoff_base),
	  .def = "1m",
	  .min = 1,
	  .max = DAY,
	  .help = "retry delay after a failure, doubled after each further one" },
	{ .sec = KS_SEC_FETCH,
	  .name = "backoff_max",
	  .type = KS_CT_DURATION_S,
	  .off = CFG(fetch.sched.backoff_max),
	  .def = "1h",
	  .min = 1,
	  .max = 7 * DAY,
	  .help = "longest retry delay (never past the last good response's nextUpdate)" },
	{ .sec = KS_SEC_FETCH,
	  .name = "connect_timeout",
	  .type = KS_CT_DURATION_MS,
	  .off = CFG(fetch.connect_timeout_ms),
	  .def = "5s",
	  .min = 100,
	  .max = 5 * MIN_S * MS,
	  .help = "time allowed to connect to a responder or proxy" },
	{ .sec = KS_SEC_FETCH,
	  .name = "timeout",
	  .type = KS_CT_DURATION_MS,
	  .off = CFG(fetch.timeout_ms),
	  .def = "15s",
	  .min = 1 * MS,
	  .max = 10 * MIN_S * MS,
	  .help = "total time allowed for one OCSP request" },
	{ .sec = KS_SEC_FETCH,
	  .name = "max_body",
	  .type = KS_CT_BYTES,
	  .off = CFG(fetch.max_body),
	  .def = "64k",
	  .min = KIB,
	  .max = 16 * MIB,
	  .help = "largest OCSP response accepted (larger ones are a failure)" },
	{ .sec = KS_SEC_FETCH,
	  .name = "max_concurrency",
	  .type = KS_CT_INT,
	  .off = CFG(fetch.max_concurrency),
	  .def = "64",
	  .min = 1,
	  .max = 4096,
	  .help = "OCSP requests in flight at once" },
	{ .sec = KS_SEC_FETCH,
	  .name = "max_per_responder",
	  .type = KS_CT_INT,
	  .off = CFG(fetch.max_per_responder),
	  .def = "8",
	  .min = 1,
	  .max = 1024,
	  .help = "OCSP requests in flight to one responder host" },
	{ .sec = KS_SEC_FETCH,
	  .name = "proxy",
	  .type = KS_CT_URL,
	  .off = CFG(fetch.proxy),
	  .words = proxy_schemes,
	  .help = "proxy for OCSP requests (unset: libcurl reads http_proxy from the environment)" },
	{ .sec = KS_SEC_FETCH,
	  /* Named as the project's issue tracker and users know it: milliseconds, no unit. */
	  .name = "startup_wait_ms",
	  .type = KS_CT_INT,
	  .off = CFG(fetch.startup_wait_ms),
	  .def = "5000",
	  .min = 0,
	  .max = 5 * MIN_S * MS,
	  .help = "at start, milliseconds to wait for first responses before serving without them" },

	/* [cert:NAME] */
	{ .sec = KS_SEC_CERT,
	  .name = "chain",
	  .type = KS_CT_PATH,
	  .off = CERT(chain),
	  .flags = KS_CK_REQUIRED,
	  .help = "PEM file: the certificate, then its intermediates" },
	{ .sec = KS_SEC_CERT,
	  .name = "key",
	  .type = KS_CT_PATH,
	  .off = CERT(key),
	  .flags = KS_CK_REQUIRED,
	  .help = "PEM file: the certificate's private key" },
	{ .sec = KS_SEC_CERT,
	  .name = "issuer",
	  .type = KS_CT_PATH,
	  .off = CERT(issuer),
	  .help = "PEM file: the issuer certificate (unset: the second certificate of chain)" },
	{ .sec = KS_SEC_CERT,
	  .name = "responder",
	  .type = KS_CT_URL,
	  .off = CERT(responder),
	  .words = http_only,
	  .help = "OCSP responder URL, must start with http:// (unset: the certificate's AIA URL)" },
	{ .sec = KS_SEC_CERT,
	  .name = "must_staple",
	  .type = KS_CT_ENUM,
	  .off = CERT(must_staple),
	  .def = "auto",
	  .words = must_staple_words,
	  .help = "auto: enforce if the certificate has the TLS Feature extension; enforce; ignore" },

	/* [listener:NAME]: kstaple serve */
	{ .sec = KS_SEC_LISTENER,
	  .name = "listen",
	  .type = KS_CT_HOSTPORT,
	  .off = LSN(listen),
	  .flags = KS_CK_REQUIRED,
	  .help = "address and port to accept TLS on: 127.0.0.1:443, [::]:443, *:443" },
	{ .sec = KS_SEC_LISTENER,
	  .name = "backend",
	  .type = KS_CT_HOSTPORT,
	  .off = LSN(backend),
	  .flags = KS_CK_REQUIRED,
	  .help = "HOST:PORT the decrypted bytes are proxied to over TCP" },
	{ .sec = KS_SEC_LISTENER,
	  .name = "certs",
	  .type = KS_CT_LIST,
	  .off = LSN(certs),
	  .flags = KS_CK_REQUIRED,
	  .help = "[cert:NAME] sections served here; the first is the default, SNI picks the rest" },
	{ .sec = KS_SEC_LISTENER,
	  .name = "alpn",
	  .type = KS_CT_LIST,
	  .off = LSN(alpn),
	  .help = "ALPN protocols in preference order, e.g. h2, http/1.1 (unset: no ALPN)" },
	{ .sec = KS_SEC_LISTENER,
	  .name = "backend_connect",
	  .type = KS_CT_ENUM,
	  .off = LSN(backend_connect),
	  .def = "handshake",
	  .words = backend_connect_words,
	  .help = "when the backend connection opens: handshake (right after it; needed when the "
		  "server speaks first: SMTP, IMAP, POP3, FTP) or data (on the client's first "
		  "bytes, as an HTTP server does; a client that sends nothing costs none)" },
	{ .sec = KS_SEC_LISTENER,
	  .name = "handshake_timeout",
	  .type = KS_CT_DURATION_MS,
	  .off = LSN(handshake_timeout_ms),
	  .def = "10s",
	  .min = 100,
	  .max = 10 * MIN_S * MS,
	  .help = "a TLS handshake not finished after this long is abandoned" },
	{ .sec = KS_SEC_LISTENER,
	  .name = "idle_timeout",
	  .type = KS_CT_DURATION_MS,
	  .off = LSN(idle_timeout_ms),
	  .def = "5m",
	  .min = 100,
	  .max = DAY * MS,
	  .help = "a proxied connection with no bytes either way for this long is closed" },
	{ .sec = KS_SEC_LISTENER,
	  .name = "max_connections",
	  .type = KS_CT_INT,
	  .off = LSN(max_connections),
	  .def = "10000",
	  .min = 1,
	  .max = 10000000,
	  .help = "connections open at once on this listener; beyond it accepting pauses" },
	/* kTLS (ktls.c): the session moves to the kernel after the handshake. */
	{ .sec = KS_SEC_LISTENER,
	  .name = "ktls",
	  .type = KS_CT_ENUM,
	  .off = LSN(ktls),
	  .def = "auto",
	  .words = ktls_words,
	  .help = "kernel TLS after the handshake: auto (when the kernel can), require (refuse to "
		  "start without it), off" },
	{ .sec = KS_SEC_LISTENER,
	  .name = "handoff",
	  .type = KS_CT_PATH,
	  .off = LSN(handoff),
	  .help = "unix socket (SOCK_SEQPACKET) that kTLS sessions are passed to with SCM_RIGHTS "
		  "instead of the backend (unset: proxy)" },
	{ .sec = KS_SEC_LISTENER,
	  .name = "session_tickets",
	  .type = KS_CT_INT,
	  .off = LSN(session_tickets),
	  .def = "1",
	  .min = 0,
	  .max = 8,
	  .help = "TLS 1.3 session tickets per full handshake; 0: none (no resumption, TLS 1.2 "
		  "too)" },

	/* [telemetry]: the eBPF ClientHello counters (telemetry.c), attached by serve */
	{ .sec = KS_SEC_TELEMETRY,
	  .name = "interfaces",
	  .type = KS_CT_LIST,
	  .off = CFG(telemetry.interfaces),
	  .help = "serve: attach the ClientHello counters at tc ingress of these interfaces at start" },
	{ .sec = KS_SEC_TELEMETRY,
	  .name = "ports",
	  .type = KS_CT_LIST,
	  .off = CFG(telemetry.ports),
	  .help = "TCP ports whose ClientHellos are counted (unset: the listeners' ports)" },
};

/*
 * Section kinds. Singletons store their keys in struct ks_config itself; an instanced kind
 * ([cert:NAME]) keeps an array of elem_size structs at arr_off with its length at count_off,
 * each element holding its NAME (char *) at name_off and its header's line (int) at line_off.
 */
const struct ks_conf_sec_kind ks_conf_sections[KS_SEC__COUNT] = {
	[KS_SEC_KSTAPLE] = { .name = "kstaple" },
	[KS_SEC_FETCH] = { .name = "fetch" },
	[KS_SEC_CERT] = { .name = "cert",
			  .instanced = true,
			  .arr_off = CFG(certs),
			  .count_off = CFG(n_certs),
			  .elem_size = sizeof(struct ks_cert_conf),
			  .name_off = CERT(name),
			  .line_off = CERT(line) },
	[KS_SEC_LISTENER] = { .name = "listener",
			      .instanced = true,
			      .arr_off = CFG(listeners),
			      .count_off = CFG(n_listeners),
			      .elem_size = sizeof(struct ks_listener_conf),
			      .name_off = LSN(name),
			      .line_off = LSN(line) },
	[KS_SEC_TELEMETRY] = { .name = "telemetry" },
};

const struct ks_conf_key *ks_config_keys(size_t *n)
{
	*n = KS_ARRAY_SIZE(keys);
	return keys;
}

const char *ks_config_section_name(enum ks_conf_section s)
{
	return (unsigned)s < KS_SEC__COUNT ? ks_conf_sections[s].name : "?";
}

const char *ks_must_staple_str(enum ks_must_staple m)
{
	return (unsigned)m <= KS_MUST_STAPLE_IGNORE ? must_staple_words[m] : "?";
}

/* The value as it goes into a message: at most 48 characters, control characters as '?'. */
static const char *shown(const char *v, char *buf, size_t len)
{
	size_t i;

	for (i = 0; v[i] && i + 4 < len && i < 48; i++)
		buf[i] = iscntrl((unsigned char)v[i]) ? '?' : v[i];
	if (v[i])
		buf[i++] = '.', buf[i++] = '.', buf[i++] = '.';
	buf[i] = '\0';
	return buf;
}

/* Digits only, at most 18 of them so that later multiplications by small units cannot wrap. */
static int parse_digits(const char **s, int64_t *out)
{
	int64_t v = 0;
	int n = 0;

	while (isdigit((unsigned char)**s)) {
		if (++n > 18)
			return -ERANGE;
		v = v * 10 + (**s - '0');
		(*s)++;
	}
	*out = v;
	return n ? 0 : -EINVAL;
}

struct unit {
	const char *name;
	int64_t mult;
};

/* "NUMBER[ ]UNIT": the unit (or "" for none) must be one of units[]. */
static int parse_with_unit(const char *s, const struct unit *units, int64_t *out)
{
	int64_t v;

	TRY(parse_digits(&s, &v));
	while (*s == ' ' || *s == '\t')
		s++;
	for (; units->name; units++) {
		if (strcmp(s, units->name) == 0) {
			ENSURE(v <= INT64_MAX / units->mult, -ERANGE);
			*out = v * units->mult;
			return 0;
		}
	}
	return -EINVAL;
}

static const struct unit duration_units[] = {
	{ "", MS },	   { "ms", 1 },	     { "s", MS }, { "m", MIN_S *MS },
	{ "h", HOUR *MS }, { "d", DAY *MS }, { NULL, 0 },
};
static const struct unit size_units[] = {
	{ "", 1 },    { "k", KIB },   { "K", KIB }, { "KiB", KIB },
	{ "M", MIB }, { "MiB", MIB }, { NULL, 0 },
};

/* A bound, written the way a user would: 3600000 ms -> "1h", 65536 -> "64k". */
static const char *fmt_bound(const struct ks_conf_key *k, int64_t v, char *buf, size_t len)
{
	static const struct unit dur[] = { { "d", DAY * MS },	{ "h", HOUR * MS },
					   { "m", MIN_S * MS }, { "s", MS },
					   { "ms", 1 },		{ NULL, 0 } };
	static const struct unit size[] = { { "M", MIB }, { "k", KIB }, { "", 1 }, { NULL, 0 } };
	const struct unit *u = k->type == KS_CT_BYTES ? size : dur;

	if (k->type == KS_CT_INT) {
		snprintf(buf, len, "%lld", (long long)v);
		return buf;
	}
	if (k->type == KS_CT_DURATION_S)
		v *= MS;
	if (v == 0) {
		snprintf(buf, len, k->type == KS_CT_BYTES ? "0" : "0s");
		return buf;
	}
	while (u[1].name && v % u->mult)
		u++;
	snprintf(buf, len, "%lld%s", (long long)(v / u->mult), u->name);
	return buf;
}

static int set_number(const struct ks_conf_key *k, const char *v, int64_t *f, char *why,
		      size_t why_len)
{
	char lo[32], hi[32], sv[64];
	const char *s = v;
	int64_t x = 0;
	bool neg = false;
	int r;

	switch (k->type) {
	case KS_CT_INT:
		if (*s == '-' && k->min < 0)
			neg = true, s++;
		r = parse_digits(&s, &x);
		if (r == 0 && *s)
			r = -EINVAL;
		x = neg ? -x : x;
		break;
	case KS_CT_BYTES:
		r = parse_with_unit(s, size_units, &x);
		break;
	default:
		r = parse_with_unit(s, duration_units, &x);
		if (r == 0 && k->type == KS_CT_DURATION_S) {
			if (x % MS) {
				snprintf(why, why_len, "expected whole seconds, got '%s'",
					 shown(v, sv, sizeof(sv)));
				return -EINVAL;
			}
			x /= MS;
		}
		break;
	}
	if (r == 0 && x >= k->min && x <= k->max) {
		*f = x;
		return 0;
	}
	fmt_bound(k, k->min, lo, sizeof(lo));
	fmt_bound(k, k->max, hi, sizeof(hi));
	if (k->type == KS_CT_INT)
		snprintf(why, why_len, "expected an integer between %s and %s, got '%s'", lo, hi,
			 shown(v, sv, sizeof(sv)));
	else if (k->type == KS_CT_BYTES)
		snprintf(why, why_len, "expected a size between %s and %s (units: k, M), got '%s'",
			 lo, hi, shown(v, sv, sizeof(sv)));
	else
		snprintf(why, why_len,
			 "expected a duration between %s and %s (such as 300, 5m, 2h, 1500ms; "
			 "no unit means seconds), got '%s'",
			 lo, hi, shown(v, sv, sizeof(sv)));
	return -EINVAL;
}

/* Plain decimal: DIGITS[.DIGITS] or .DIGITS, at most 15 significant digits. */
static int parse_decimal(const char *s, double *out)
{
	double v = 0, scale = 1;
	int n = 0;
	bool dot = false;

	for (; *s; s++) {
		if (*s == '.' && !dot) {
			dot = true;
			continue;
		}
		ENSURE(isdigit((unsigned char)*s) && ++n <= 15, -EINVAL);
		if (dot)
			scale /= 10;
		v = v * 10 + (*s - '0');
	}
	ENSURE(n > 0, -EINVAL);
	*out = v * scale;
	return 0;
}

static int set_word(const struct ks_conf_key *k, const char *v, void *f, char *why, size_t why_len)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	char sv[64], list[128] = "";
	bool b;

	if (k->type == KS_CT_BOOL) {
		for (size_t i = 0; i < KS_ARRAY_SIZE(yes); i++) {
			if (strcasecmp(v, yes[i]) == 0 || strcasecmp(v, no[i]) == 0) {
				b = strcasecmp(v, yes[i]) == 0;
				memcpy(f, &b, sizeof(b));
				return 0;
			}
		}
		snprintf(why, why_len, "expected yes or no (true/false, on/off, 1/0), got '%s'",
			 shown(v, sv, sizeof(sv)));
		return -EINVAL;
	}
	for (int i = 0; k->words[i]; i++) {
		if (strcmp(v, k->words[i]) == 0) {
			memcpy(f, &i, sizeof(i));
			return 0;
		}
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? "|" : "",
			 k->words[i]);
	}
	snprintf(why, why_len, "expected one of %s, got '%s'", list, shown(v, sv, sizeof(sv)));
	return -EINVAL;
}

static void free_list(char **l)
{
	for (size_t i = 0; l && l[i]; i++)
		free(l[i]);
	free(l);
}

/* "a, b, c" -> { "a", "b", "c", NULL }. */
static int split_list(const char *v, char ***out)
{
	size_t n = 1, i = 0;
	char **l;

	for (const char *p = v; *p; p++)
		n += *p == ',';
	l = calloc(n + 1, sizeof(*l));
	ENSURE(l, -ENOMEM);
	for (const char *p = v;; p++) {
		const char *end = strchr(p, ',');
		size_t len;

		end = end ? end : p + strlen(p);
		while (p < end && isblank((unsigned char)*p))
			p++;
		len = (size_t)(end - p);
		while (len && isblank((unsigned char)p[len - 1]))
			len--;
		if (!len) {
			free_list(l);
			return -EINVAL;
		}
		l[i] = strndup(p, len);
		if (!l[i++]) {
			free_list(l);
			return -ENOMEM;
		}
		if (!*end)
			break;
		p = end;
	}
	*out = l;
	return 0;
}

/* Relative paths are taken from the directory of the configuration file, not the cwd. */
static char *resolve_path(const char *v, const char *dir)
{
	char *p;

	while (v[0] == '.' && v[1] == '/')
		v += 2;
	if (v[0] == '/' || !dir || !*dir || !*v)
		return strdup(v);
	if (asprintf(&p, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", v) < 0)
		return NULL;
	return p;
}

static int set_string(const struct ks_conf_key *k, const char *v, const char *dir, char **f,
		      char *why, size_t why_len)
{
	char sv[64], list[128] = "";
	bool ok = k->type != KS_CT_URL;
	char *s;

	for (size_t i = 0; !ok && k->words[i]; i++) {
		size_t n = strlen(k->words[i]);

		/* Scheme, then at least a host; a URL never contains blanks. */
		ok = strncasecmp(v, k->words[i], n) == 0 && v[n] && v[n] != '/' &&
		     !strpbrk(v, " \t");
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
			 k->words[i]);
	}
	if (!ok) {
		snprintf(why, why_len, "expected a URL starting with %s, got '%s'", list,
			 shown(v, sv, sizeof(sv)));
		return -EINVAL;
	}
	s = k->type == KS_CT_PATH ? resolve_path(v, dir) : strdup(v);
	ENSURE(s, -ENOMEM);
	free(*f);
	*f = s;
	return 0;
}

int ks_config_split_hostport(const char *v, char *host, size_t host_len, uint16_t *port)
{
	const char *colon, *end;
	int64_t p;
	size_t len;

	if (v[0] == '[') {
		/* RFC 3986 §3.2.2: an IPv6 literal is written in brackets before ":PORT". */
		end = strchr(v, ']');
		ENSURE(end && end[1] == ':', -EINVAL);
		colon = end + 1;
		v++;
	} else {
		colon = strrchr(v, ':');
		ENSURE(colon && !memchr(v, ':', (size_t)(colon - v)), -EINVAL);
		end = colon;
	}
	len = (size_t)(end - v);
	ENSURE(len > 0 && len < host_len && !memchr(v, ' ', len), -EINVAL);
	end = colon + 1;
	ENSURE(parse_digits(&end, &p) == 0 && !*end && p >= 1 && p <= 65535, -EINVAL);
	memcpy(host, v, len);
	host[len] = '\0';
	*port = (uint16_t)p;
	return 0;
}

static int set_hostport(const struct ks_conf_key *k, const char *v, char **f, char *why,
			size_t why_len)
{
	char host[256], sv[64], *s;
	uint16_t port;

	(void)k;
	if (ks_config_split_hostport(v, host, sizeof(host), &port) < 0) {
		snprintf(why, why_len,
			 "expected HOST:PORT, [IPv6]:PORT or *:PORT with a port 1-65535, got '%s'",
			 shown(v, sv, sizeof(sv)));
		return -EINVAL;
	}
	s = strdup(v);
	ENSURE(s, -ENOMEM);
	free(*f);
	*f = s;
	return 0;
}

int ks_config_set_value(const struct ks_conf_key *k, const char *v, const char *dir, void *base,
			char *why, size_t why_len)
{
	void *f = (char *)base + k->off;
	char sv[64];
	double d;
	char **l;
	int r;

	if (!v || !*v) {
		snprintf(why, why_len, "empty value (remove the line to keep the default)");
		return -EINVAL;
	}
	for (const char *p = v; *p; p++) {
		if (iscntrl((unsigned char)*p)) {
			snprintf(why, why_len, "control character in value '%s'",
				 shown(v, sv, sizeof(sv)));
			return -EINVAL;
		}
	}
	switch (k->type) {
	case KS_CT_STRING:
	case KS_CT_PATH:
	case KS_CT_URL:
		return set_string(k, v, dir, f, why, why_len);
	case KS_CT_INT:
	case KS_CT_BYTES:
	case KS_CT_DURATION_S:
	case KS_CT_DURATION_MS:
		return set_number(k, v, f, why, why_len);
	case KS_CT_BOOL:
	case KS_CT_ENUM:
		return set_word(k, v, f, why, why_len);
	case KS_CT_DOUBLE:
		if (parse_decimal(v, &d) == 0 && d >= k->dmin && d <= k->dmax) {
			memcpy(f, &d, sizeof(d));
			return 0;
		}
		snprintf(why, why_len, "expected a number between %g and %g, got '%s'", k->dmin,
			 k->dmax, shown(v, sv, sizeof(sv)));
		return -EINVAL;
	case KS_CT_HOSTPORT:
		return set_hostport(k, v, f, why, why_len);
	case KS_CT_LIST:
		r = split_list(v, &l);
		if (r == -EINVAL)
			snprintf(why, why_len,
				 "expected a list 'a, b, c' without empty items, got '%s'",
				 shown(v, sv, sizeof(sv)));
		TRY(r);
		free_list(*(char ***)f);
		*(char ***)f = l;
		return 0;
	}
	snprintf(why, why_len, "internal error: key of unknown type %d", (int)k->type);
	return -EINVAL;
}

/* Free what ks_config_set_value allocated for k in base (strings, lists). */
void ks_config_free_value(const struct ks_conf_key *k, void *base)
{
	void *f = (char *)base + k->off;

	switch (k->type) {
	case KS_CT_STRING:
	case KS_CT_PATH:
	case KS_CT_URL:
	case KS_CT_HOSTPORT:
		free(*(char **)f);
		*(char **)f = NULL;
		break;
	case KS_CT_LIST:
		free_list(*(char ***)f);
		*(char ***)f = NULL;
		break;
	default:
		break;
	}
}

static void describe_type(const struct ks_conf_key *k, char *buf, size_t len)
{
	static const char *const names[] = {
		[KS_CT_STRING] = "string",
		[KS_CT_PATH] = "path",
		[KS_CT_URL] = "url",
		[KS_CT_INT] = "integer",
		[KS_CT_BYTES] = "size",
		[KS_CT_DURATION_S] = "duration",
		[KS_CT_DURATION_MS] = "duration",
		[KS_CT_BOOL] = "bool",
		[KS_CT_ENUM] = "enum",
		[KS_CT_DOUBLE] = "number",
		[KS_CT_LIST] = "list",
		[KS_CT_HOSTPORT] = "host:port",
	};
	char lo[32], hi[32];
	size_t n;

	n = (size_t)snprintf(buf, len, "%s", names[k->type]);
	switch (k->type) {
	case KS_CT_INT:
	case KS_CT_BYTES:
	case KS_CT_DURATION_S:
	case KS_CT_DURATION_MS:
		snprintf(buf + n, len - n, " %s..%s", fmt_bound(k, k->min, lo, sizeof(lo)),
			 fmt_bound(k, k->max, hi, sizeof(hi)));
		break;
	case KS_CT_DOUBLE:
		snprintf(buf + n, len - n, " %g..%g", k->dmin, k->dmax);
		break;
	case KS_CT_ENUM:
	case KS_CT_URL:
		for (size_t i = 0; k->words[i] && n < len; i++)
			n += (size_t)snprintf(buf + n, len - n, "%c%s", i ? '|' : ' ', k->words[i]);
		break;
	default:
		break;
	}
}

void ks_config_dump_keys(FILE *f)
{
	char type[160];

	for (size_t i = 0; i < KS_ARRAY_SIZE(keys); i++) {
		const struct ks_conf_key *k = &keys[i];

		describe_type(k, type, sizeof(type));
		fprintf(f, "%s%s\t%s\t%s\t%s\t%s\n", ks_conf_sections[k->sec].name,
			ks_conf_sections[k->sec].instanced ? ":NAME" : "", k->name, type,
			k->def			    ? k->def
			: k->flags & KS_CK_REQUIRED ? "(required)"
						    : "(unset)",
			k->help);
	}
}

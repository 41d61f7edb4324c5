/* SPDX-License-Identifier: MIT */
/*
 * config: the INI configuration file (parsed by inih), checked against one table of keys that
 * says for each section kind and key: the type, the bounds, the default and where it is stored.
 * Every error names the file, the line and the key. Later features add rows to the table.
 *
 *   [kstaple]              state_dir, log_level; user, group, allow_insecure_key_permissions
 *   [fetch]                skew, refresh/back-off policy, timeouts (see kstaple.conf(5))
 *   [cert:NAME]            chain, key, issuer, responder, must_staple
 *   [listener:NAME]        listen, backend, certs, alpn, timeouts, max_connections,
 *                          session_tickets (serve)
 *   [telemetry]            interfaces, ports: the eBPF ClientHello counters, attached by serve
 */
#ifndef KSTAPLE_CONFIG_H
#define KSTAPLE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kstaple/common.h"
#include "kstaple/log.h"
#include "kstaple/staple_sched.h"

enum ks_must_staple {
	KS_MUST_STAPLE_AUTO = 0, /* enforce when the certificate carries the TLS Feature */
	KS_MUST_STAPLE_ENFORCE,	 /* always require a valid staple */
	KS_MUST_STAPLE_IGNORE,	 /* never refuse a handshake for lack of a staple */
};

struct ks_cert_conf {
	char *name; /* NAME of [cert:NAME] */
	char *chain;
	char *key;
	char *issuer;	 /* NULL: the chain holds the issuer */
	char *responder; /* NULL: use the AIA OCSP URL */
	enum ks_must_staple must_staple;
	int line; /* line of the section header, for messages */
};

/* [listener] backend_connect: when the backend connection opens. */
enum ks_backend_connect {
	KS_BACKEND_CONNECT_HANDSHAKE, /* right after the TLS handshake (server-speaks-first) */
	KS_BACKEND_CONNECT_DATA,      /* on the client's first bytes, as HTTP servers do */
};

/* One [listener:NAME]: a TLS endpoint of `kstaple serve` proxying to one backend. */
struct ks_listener_conf {
	char *name;
	char *listen;  /* "ADDR:PORT", "[IPv6]:PORT" or "*:PORT" (checked as KS_CT_HOSTPORT) */
	char *backend; /* "HOST:PORT" */
	char **certs;  /* names of [cert:NAME] sections, NULL-terminated */
	char **alpn;   /* protocols in server preference order; NULL: no ALPN */
	int64_t handshake_timeout_ms;
	int64_t idle_timeout_ms;
	int64_t max_connections; /* per listener, all workers together */
	int ktls;		 /* enum ks_ktls_mode (ktls.h): auto, require, off */
	char *handoff;		 /* unix socket sessions are handed to; NULL: proxy to backend */
	int64_t session_tickets; /* TLS 1.3 tickets per full handshake, 0: no tickets at all */
	int backend_connect;	 /* enum ks_backend_connect */
	int line;
};

struct ks_fetch_conf {
	int64_t skew; /* seconds allowed between our clock and the responder's */
	struct ks_sched_policy sched;
	int64_t connect_timeout_ms;
	int64_t timeout_ms; /* total, per request */
	int64_t max_body;   /* bytes */
	int64_t max_concurrency;
	int64_t max_per_responder;
	char *proxy; /* NULL: libcurl honours http_proxy from the environment */
	int64_t startup_wait_ms;
};

/* [telemetry]: `kstaple serve` attaches the ClientHello counters at start when interfaces is set. */
struct ks_telemetry_conf {
	char **interfaces; /* NULL: no attach */
	char **ports;	   /* decimal port numbers (checked); NULL: the listeners' ports */
};

struct ks_config {
	char *path;
	/* [kstaple] privileges and key protection: privdrop.h, keyfile.h */
	char *user;  /* NULL: no privilege drop */
	char *group; /* NULL: the user's primary group */
	bool allow_insecure_key_permissions;
	char *state_dir;
	enum ks_log_level log_level;
	int64_t workers;	     /* serve: worker threads, 0 = one per CPU */
	int64_t drain_timeout_ms;    /* serve: SIGTERM waits this long for connections */
	int64_t ticket_key_lifetime; /* serve: seconds between session ticket key rotations */
	char *metrics_listen;	     /* serve: HOST:PORT of the Prometheus endpoint; NULL: none */
	char *control_socket;	     /* serve: unix socket for `kstaple stats`; NULL: default */
	struct ks_fetch_conf fetch;
	struct ks_telemetry_conf telemetry;
	struct ks_cert_conf *certs;
	size_t n_certs;
	struct ks_listener_conf *listeners;
	size_t n_listeners;
};

/*
 * The table of keys. Sections are singletons ([kstaple], [fetch]: fields of struct ks_config)
 * or instanced ([cert:NAME]: one element of an array in struct ks_config per section). A later
 * section kind is one enum value plus one row in config.c's section table; a key is one row.
 */
enum ks_conf_section {
	KS_SEC_KSTAPLE = 0,
	KS_SEC_FETCH,
	KS_SEC_CERT,
	KS_SEC_LISTENER,
	KS_SEC_TELEMETRY,
	KS_SEC__COUNT,
};

enum ks_conf_type {
	KS_CT_STRING = 0,  /* char *, as written */
	KS_CT_PATH,	   /* char *, relative paths joined to the config file's directory */
	KS_CT_URL,	   /* char *, must start with one of words[] (scheme prefixes) */
	KS_CT_INT,	   /* int64_t in [min, max] */
	KS_CT_BYTES,	   /* int64_t, optional suffix k/KiB (1024) or M/MiB (1048576) */
	KS_CT_DURATION_S,  /* int64_t seconds; "300" "5m" "2h" "1d" "2000ms" (whole seconds) */
	KS_CT_DURATION_MS, /* int64_t milliseconds; same syntax, no unit still means seconds */
	KS_CT_BOOL,	   /* bool: yes/no, true/false, on/off, 1/0 */
	KS_CT_ENUM,	   /* int-sized enum: the index of the value in words[] */
	KS_CT_DOUBLE,	   /* double in [dmin, dmax], plain decimal "0.05" */
	KS_CT_LIST,	   /* char **, NULL-terminated, from "a, b, c" */
	KS_CT_HOSTPORT,	   /* char *, "HOST:PORT" or "[IPv6]:PORT", port 1..65535 */
};

#define KS_CK_REQUIRED 0x1u /* the section is incomplete without it */

struct ks_conf_key {
	enum ks_conf_section sec;
	const char *name;
	enum ks_conf_type type;
	size_t off;		  /* into struct ks_config (singletons) or the instance struct */
	const char *def;	  /* default, in the file's syntax; NULL: unset */
	int64_t min, max;	  /* INT, BYTES, DURATION_*: inclusive bounds in the stored unit */
	double dmin, dmax;	  /* DOUBLE: inclusive bounds */
	const char *const *words; /* ENUM: allowed words; URL: allowed prefixes (NULL-terminated) */
	unsigned flags;
	const char *help; /* one line, for --keys and the man page */
};

/* The table (n rows) and the name of a section kind ("kstaple", "fetch", "cert"). */
const struct ks_conf_key *ks_config_keys(size_t *n);
const char *ks_config_section_name(enum ks_conf_section s);

/*
 * Parse value for key k into base + k->off, freeing what a string or list field held (base
 * must be zeroed or hold earlier values). dir: directory for relative paths (NULL: keep them).
 * On -EINVAL, why receives "expected ..., got '...'".
 */
KS_MUST_CHECK int ks_config_set_value(const struct ks_conf_key *k, const char *value,
				      const char *dir, void *base, char *why, size_t why_len);

/* Free what ks_config_set_value allocated for k in base (strings, lists); the field is zeroed. */
void ks_config_free_value(const struct ks_conf_key *k, void *base);

/* One line per key: "section<TAB>key<TAB>type<TAB>default<TAB>help" (kstaple check-config --keys). */
void ks_config_dump_keys(FILE *f);

/*
 * The largest configuration file ks_config_load() reads: room for 100,000 [cert:NAME] sections
 * with absolute paths, while a wrong path (a log, an image) is refused before it is read.
 */
#define KS_CONFIG_FILE_MAX (16 << 20)

/*
 * Parse and check path. Every problem is logged as "FILE:LINE: [section] key: problem" and all
 * of them are reported before -EINVAL is returned. -ENOENT (and other open errors) name the path.
 * Relative paths inside are resolved against the canonical directory of path. A file larger
 * than KS_CONFIG_FILE_MAX bytes is refused with -EFBIG.
 */
KS_MUST_CHECK int ks_config_load(const char *path, struct ks_config **out);
/*
 * Same, from a string (tests, fuzzing); name is used in messages and its directory part (as
 * written, without touching the file system) resolves relative paths.
 */
KS_MUST_CHECK int ks_config_parse(const char *text, const char *name, struct ks_config **out);
void ks_config_free(struct ks_config *cfg);

const struct ks_cert_conf *ks_config_cert(const struct ks_config *cfg, const char *name);

/*
 * Split a KS_CT_HOSTPORT value into host (brackets removed; "*" for "*:PORT") and port.
 * -EINVAL if it is not HOST:PORT with a port in 1..65535.
 */
KS_MUST_CHECK int ks_config_split_hostport(const char *v, char *host, size_t host_len,
					   uint16_t *port);
const char *ks_must_staple_str(enum ks_must_staple m);

#endif /* KSTAPLE_CONFIG_H */

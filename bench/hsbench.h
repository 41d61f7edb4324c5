/* SPDX-License-Identifier: MIT */
/*
 * kstaple-bench: a TLS handshake load generator (issue 7).
 *
 * hsbench_opts.c turns the command line into struct ks_bench_opts and refuses nonsense with
 * one clear message (unit-tested without running anything); hsbench_client.c runs the
 * handshakes and fills struct ks_bench_result; hsbench_report.c prints and writes it.
 * hsbench.c only holds main().
 */
#ifndef KSTAPLE_BENCH_HSBENCH_H
#define KSTAPLE_BENCH_HSBENCH_H

#include <stdint.h>
#include <stdio.h>

#include "kstaple/common.h"
#include "hist.h"

#define KS_BENCH_MAX_CONNECTIONS 4096
#define KS_BENCH_MAX_FIRST	 1000000
#define KS_BENCH_MAX_PIDS	 16

enum ks_bench_action {
	KS_BENCH_RUN = 0,
	KS_BENCH_HELP,
	KS_BENCH_VERSION,
};

enum ks_bench_mode {
	KS_BENCH_CLOSED = 0, /* each connection starts its next handshake when one ends */
	KS_BENCH_OPEN,	     /* arrivals on a fixed schedule, --rate per second */
};

struct ks_bench_opts {
	enum ks_bench_action action;
	enum ks_bench_mode mode;
	const char *host; /* owned copy, from --connect HOST:PORT */
	char port[8];
	const char *sni;
	int tls;	      /* 12 or 13 */
	const char *groups;   /* SSL_set1_groups_list syntax, or NULL for OpenSSL's default */
	const char *sigalgs;  /* SSL_set1_sigalgs_list syntax, or NULL */
	const char *ciphers;  /* TLS 1.3 suites or TLS 1.2 cipher list, per --tls; or NULL */
	const char *cafile;   /* verify the server's chain when set */
	unsigned connections; /* closed loop: concurrency; open loop: most handshakes in flight */
	double rate;	      /* open loop: handshakes per second */
	double duration_s;    /* measured seconds, or 0 when --count is used */
	uint64_t count;	      /* measured handshakes, or 0 when --duration is used */
	double warmup_s;      /* run but do not record for this long first */
	double timeout_s;     /* per socket operation */
	double wait_s;	      /* wait this long for the server's port to accept first */
	int resume;	      /* resume from a ticket of a first full handshake */
	int status;	      /* request an OCSP staple */
	const char *issuer;   /* verify staples (or fetched responses) against this issuer */
	int client_ocsp; /* no staple: fetch the status from the responder after each handshake */
	const char *ocsp_url;  /* responder for --client-ocsp; default: the certificate's AIA */
	double added_rtt_ms;   /* simulated round-trip time to the responder */
	const char *csv;       /* summary row appended here */
	const char *cdf;       /* latency CDF written here */
	const char *first_csv; /* per-handshake rows of the first --first N handshakes */
	uint64_t first;
	const char *label; /* free text copied into the CSV row */
	int pids[KS_BENCH_MAX_PIDS];
	unsigned npids; /* --server-pid: processes whose CPU time is accounted per handshake */
	int quiet;
};

/*
 * Parse argv (getopt_long; safe to call repeatedly) into o. Returns 0, or -EINVAL with a one-line
 * reason in err (never longer than errlen). --help and --version set o->action and return 0.
 * Strings in o point into argv except o->host, which must be released with ks_bench_opts_free().
 */
KS_MUST_CHECK int ks_bench_parse_opts(struct ks_bench_opts *o, int argc, char *argv[], char *err,
				      size_t errlen);
void ks_bench_opts_free(struct ks_bench_opts *o);
void ks_bench_usage(FILE *f);

enum ks_bench_err {
	KS_BENCH_ERR_CONNECT = 0, /* TCP connect failed */
	KS_BENCH_ERR_HANDSHAKE,	  /* TLS alert, protocol error, chain not verified, reset */
	KS_BENCH_ERR_TIMEOUT,	  /* a socket operation exceeded --timeout */
	KS_BENCH_ERR_OCSP,	  /* --client-ocsp: the fetch failed or gave no response */
	KS_BENCH_ERR_KINDS,
};

struct ks_bench_result {
	struct ks_hist hist; /* latency in ns of every measured, successful handshake */
	uint64_t ok;	     /* measured handshakes that completed */
	uint64_t stapled;    /* ... that received a staple */
	uint64_t verified;   /* ... whose staple (or fetched response) verified with --issuer */
	uint64_t resumed;    /* ... that were resumptions */
	uint64_t fetched;    /* --client-ocsp: ... that got a response from the responder */
	uint64_t errors[KS_BENCH_ERR_KINDS];
	uint64_t late;	     /* open loop: started more than 1 ms after their scheduled time */
	uint64_t warmup;     /* handshakes run during the warm-up, not recorded */
	double elapsed_s;    /* measured wall time */
	double client_cpu_s; /* user + system time of this process over the measured time */
	double server_cpu_s; /* same for the --server-pid processes, or -1 when not measured */
	struct ks_bench_first *first; /* o->first rows, or NULL */
	uint64_t nfirst;	      /* rows filled */
	char first_error[256];	      /* reason of the first failure, or "" */
};

/* One of the first N handshakes, in the order they were started. */
struct ks_bench_first {
	uint8_t done; /* the row was filled (the run may end before N handshakes) */
	uint8_t ok;
	uint8_t stapled;
	uint8_t verified;
	double start_ms; /* scheduled (open loop) or actual start, from the beginning of the run */
	uint64_t latency_ns; /* 0 when !ok */
};

/* Run the benchmark. Returns 0, or a negative errno when it could not start at all. */
KS_MUST_CHECK int ks_bench_run(const struct ks_bench_opts *o, struct ks_bench_result *r);
void ks_bench_result_free(struct ks_bench_result *r);

/* Output: hsbench_report.c. */
void ks_bench_print_summary(const struct ks_bench_opts *o, const struct ks_bench_result *r,
			    FILE *f);
/* Header line of the summary CSV (no newline); documented by --help. */
extern const char ks_bench_csv_header[];
/* Append one row to path, writing the header first if the file is new or empty. */
KS_MUST_CHECK int ks_bench_write_csv(const struct ks_bench_opts *o, const struct ks_bench_result *r,
				     const char *path);
KS_MUST_CHECK int ks_bench_write_first(const struct ks_bench_result *r, const char *path);
KS_MUST_CHECK int ks_bench_write_cdf(const struct ks_bench_result *r, const char *path);

#endif /* KSTAPLE_BENCH_HSBENCH_H */

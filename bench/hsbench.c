// SPDX-License-Identifier: MIT
/* kstaple-bench: main() only; see hsbench.h for the modules and --help for the tool. */
#include <stdlib.h>

#include "hsbench.h"
#include "kstaple/log.h"

int main(int argc, char *argv[])
{
	struct ks_bench_opts o;
	struct ks_bench_result *r = NULL;
	char err[256];
	int status = KS_EXIT_OK;

	if (ks_bench_parse_opts(&o, argc, argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "kstaple-bench: %s\n", err);
		ks_bench_opts_free(&o);
		return KS_EXIT_USAGE;
	}
	if (o.action == KS_BENCH_HELP) {
		ks_bench_usage(stdout);
		goto out;
	}
	if (o.action == KS_BENCH_VERSION) {
		printf("kstaple-bench %s\n", KS_VERSION);
		goto out;
	}
	/* The result holds a histogram of ~60 KiB: keep it off the stack. */
	r = calloc(1, sizeof(*r));
	if (!r || ks_bench_run(&o, r) < 0) {
		status = KS_EXIT_SOFTWARE;
		goto out;
	}
	if (!o.quiet)
		ks_bench_print_summary(&o, r, stdout);
	if ((o.csv && ks_bench_write_csv(&o, r, o.csv) < 0) ||
	    (o.cdf && ks_bench_write_cdf(r, o.cdf) < 0) ||
	    (o.first_csv && ks_bench_write_first(r, o.first_csv) < 0))
		status = KS_EXIT_IOERR;
	else if (r->errors[KS_BENCH_ERR_CONNECT] + r->errors[KS_BENCH_ERR_HANDSHAKE] +
			 r->errors[KS_BENCH_ERR_TIMEOUT] + r->errors[KS_BENCH_ERR_OCSP] >
		 0)
		status = 1;
out:
	if (r)
		ks_bench_result_free(r);
	free(r);
	ks_bench_opts_free(&o);
	return status;
}

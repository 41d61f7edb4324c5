// SPDX-License-Identifier: MIT
/* `kstaple verify` and `kstaple inspect`: offline tools over one DER OCSP response. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "kstaple/cert_store.h"
#include "kstaple/clock.h"
#include "kstaple/cmd.h"
#include "kstaple/log.h"
#include "kstaple/ocsp_verify.h"

#define MAX_RESPONSE (1 << 20) /* far above any real OCSP response */

static void verify_usage(FILE *f)
{
	fprintf(f,
		"usage: kstaple verify --cert LEAF.pem --issuer ISSUER.pem --response RESP.der\n"
		"                      [--at UNIX_SECONDS] [--skew SECONDS]\n\n"
		"Decide whether RESP.der may be stapled for LEAF.pem, exactly as the agent does:\n"
		"status successful, signed by ISSUER (or a delegate it issued with id-kp-OCSPSigning),\n"
		"one SingleResponse for LEAF's CertID, inside thisUpdate..nextUpdate at the given time.\n\n"
		"  --cert FILE      the certificate the response is about (PEM; first certificate used)\n"
		"  --issuer FILE    the certificate that issued it (PEM)\n"
		"  --response FILE  the OCSP response (DER)\n"
		"  --at SECONDS     check as of this Unix time instead of now\n"
		"  --skew SECONDS   clock skew allowance (default %d)\n\n"
		"exit status: 0 good, 1 revoked (valid and stapleable, but the certificate is revoked),\n"
		"             2 not stapleable (unknown or rejected: the reason is printed),\n"
		"             64 usage, 65 malformed input file, 66 file not readable\n",
		KS_OCSP_DEFAULT_SKEW);
}

static int load_x509(const char *path, const char *what, X509 **out)
{
	*out = ks_x509_load(path);
	if (!*out) {
		fprintf(stderr, "kstaple: cannot load %s certificate from %s: %s\n", what, path,
			errno == EBADMSG ? "no PEM certificate in the file" : strerror(errno));
		return errno == EBADMSG ? KS_EXIT_DATAERR : KS_EXIT_NOINPUT;
	}
	return 0;
}

static int load_response(const char *path, unsigned char **der, size_t *len)
{
	int ret = ks_read_file(path, MAX_RESPONSE, der, len);

	if (ret < 0) {
		fprintf(stderr, "kstaple: cannot read response %s: %s\n", path,
			ret == -EFBIG ? "larger than 1 MiB" : strerror(-ret));
		return ret == -EFBIG ? KS_EXIT_DATAERR : KS_EXIT_NOINPUT;
	}
	return 0;
}

static void print_result(const struct ks_ocsp_result *r)
{
	char a[40], b[40];

	printf("verdict: %s\n", ks_verdict_name(r->verdict));
	if (r->detail[0])
		printf("detail: %s\n", r->detail);
	if (r->this_update)
		printf("thisUpdate: %s\n", ks_fmt_time(r->this_update, a, sizeof(a)));
	if (r->next_update)
		printf("nextUpdate: %s\n", ks_fmt_time(r->next_update, b, sizeof(b)));
	if (r->verdict == KS_V_REVOKED) {
		printf("revoked: %s, reason %s\n", ks_fmt_time(r->revocation_time, a, sizeof(a)),
		       ks_crl_reason_str(r->revocation_reason));
	}
}

static int verdict_exit(enum ks_verdict v)
{
	if (v == KS_V_GOOD)
		return KS_EXIT_OK;
	if (v == KS_V_REVOKED)
		return KS_EXIT_REVOKED;
	return KS_EXIT_NOT_STAPLEABLE;
}

int ks_cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cert", required_argument, NULL, 'c' },
		{ "issuer", required_argument, NULL, 'i' },
		{ "response", required_argument, NULL, 'r' },
		{ "at", required_argument, NULL, 'a' },
		{ "skew", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *cert_path = NULL, *issuer_path = NULL, *resp_path = NULL;
	long long at = -1, skew = KS_OCSP_DEFAULT_SKEW;
	struct ks_ocsp_result res;
	X509 *leaf = NULL, *issuer = NULL;
	unsigned char *der = NULL;
	size_t len = 0;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "c:i:r:a:s:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			cert_path = optarg;
			break;
		case 'i':
			issuer_path = optarg;
			break;
		case 'r':
			resp_path = optarg;
			break;
		case 'a':
			if (ks_parse_i64(optarg, 0, INT64_MAX / 2, &at) < 0) {
				fprintf(stderr,
					"kstaple verify: --at wants Unix seconds, got '%s'\n",
					optarg);
				return KS_EXIT_USAGE;
			}
			break;
		case 's':
			if (ks_parse_i64(optarg, 0, 86400, &skew) < 0) {
				fprintf(stderr,
					"kstaple verify: --skew wants seconds (0..86400), got '%s'\n",
					optarg);
				return KS_EXIT_USAGE;
			}
			break;
		case 'h':
			verify_usage(stdout);
			return KS_EXIT_OK;
		default:
			verify_usage(stderr);
			return KS_EXIT_USAGE;
		}
	}
	if (!cert_path || !issuer_path || !resp_path || optind != argc) {
		fprintf(stderr, "kstaple verify: --cert, --issuer and --response are required\n\n");
		verify_usage(stderr);
		return KS_EXIT_USAGE;
	}

	rc = load_x509(cert_path, "leaf", &leaf);
	if (!rc)
		rc = load_x509(issuer_path, "issuer", &issuer);
	if (!rc)
		rc = load_response(resp_path, &der, &len);
	if (!rc) {
		struct ks_verify_params p = {
			.leaf = leaf,
			.issuer = issuer,
			.now = at >= 0 ? at : ks_now(&ks_clock_real),
			.skew = skew,
		};
		int ret = ks_ocsp_verify(der, len, &p, &res);

		if (ret < 0) {
			fprintf(stderr, "kstaple verify: %s\n", strerror(-ret));
			rc = KS_EXIT_SOFTWARE;
		} else {
			print_result(&res);
			rc = verdict_exit(res.verdict);
		}
	}
	free(der);
	X509_free(leaf);
	X509_free(issuer);
	return rc;
}

static void inspect_usage(FILE *f)
{
	fprintf(f,
		"usage: kstaple inspect RESP.der [--json]\n\n"
		"Print an OCSP response: status, responder id, producedAt, and for each\n"
		"SingleResponse its CertID, status, revocation time and reason, thisUpdate and\n"
		"nextUpdate, and the subject of the signer certificate it carries. Nothing is\n"
		"verified: use `kstaple verify` for that.\n\n"
		"  --json   one JSON object instead of text\n\n"
		"exit status: 0 printed, 64 usage, 65 not an OCSP response, 66 file not readable\n");
}

int ks_cmd_inspect(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	unsigned char *der = NULL;
	bool json = false;
	size_t len = 0;
	int opt, rc, ret;

	while ((opt = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'h':
			inspect_usage(stdout);
			return KS_EXIT_OK;
		default:
			inspect_usage(stderr);
			return KS_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		inspect_usage(stderr);
		return KS_EXIT_USAGE;
	}
	rc = load_response(argv[optind], &der, &len);
	if (rc)
		return rc;
	ret = ks_ocsp_inspect(der, len, json, stdout);
	if (ret < 0) {
		fprintf(stderr, "kstaple inspect: %s is not a DER OCSP response\n", argv[optind]);
		rc = KS_EXIT_DATAERR;
	}
	free(der);
	return rc;
}

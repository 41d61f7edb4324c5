/* SPDX-License-Identifier: MIT */
/*
 * ocsp_request: the DER OCSPRequest for one certificate, per the RFC 5019 profile: one Request,
 * SHA-1 CertID, no nonce, no signature. Produces the POST body and, when short enough, the
 * RFC 5019 §5 GET URL (responder URL + "/" + url-encoded base64 of the DER).
 */
#ifndef KSTAPLE_OCSP_REQUEST_H
#define KSTAPLE_OCSP_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "kstaple/cert_store.h"

/* RFC 5019 §5: GET is used when the whole URL (scheme, host, path, "/", url-encoded base64
 * request) is at most this many bytes; longer requests are POSTed. */
#define KS_OCSP_GET_MAX 255

struct ks_ocsp_req {
	uint8_t *der; /* POST body (application/ocsp-request) */
	size_t len;
	char *get_url; /* full GET URL, or NULL when longer than KS_OCSP_GET_MAX or no URL */
};

/* responder_url NULL: use cert->responder; if that is NULL too, only the DER is built. */
KS_MUST_CHECK int ks_ocsp_request_build(const struct ks_cert *cert, const char *responder_url,
					struct ks_ocsp_req *out);
void ks_ocsp_request_free(struct ks_ocsp_req *req);

/* base64 (RFC 4648 §4, with padding) then percent-encoding of everything but unreserved
 * characters (RFC 3986 §2.3). Returns a malloc'd string or NULL + errno. */
char *ks_ocsp_get_encode(const uint8_t *der, size_t len);

#endif /* KSTAPLE_OCSP_REQUEST_H */

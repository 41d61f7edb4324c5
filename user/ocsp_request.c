// SPDX-License-Identifier: MIT
/*
 * The OCSP request for one certificate (RFC 6960 §4.1.1, profiled by RFC 5019 §2.1.1) and its
 * HTTP GET form (RFC 5019 §5, RFC 6960 Appendix A.1). See ocsp_request.h.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>

#include "kstaple/log.h"
#include "kstaple/ocsp_request.h"

/* RFC 3986 §2.3: unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~" */
static bool unreserved(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

char *ks_ocsp_get_encode(const uint8_t *der, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char *b64 = NULL;
	char *out = NULL;
	size_t b64cap, o = 0;
	int n;

	/* EVP_EncodeBlock takes an int; an OCSP request is a few hundred bytes. */
	if (!der && len) {
		errno = EINVAL;
		return NULL;
	}
	if (len > (size_t)INT_MAX / 4) {
		errno = EOVERFLOW;
		return NULL;
	}
	/* RFC 4648 §4: 4 characters per 3 octets, padded with '='; EVP_EncodeBlock adds a NUL. */
	b64cap = 4 * ((len + 2) / 3) + 1;
	b64 = malloc(b64cap);
	/* RFC 3986 §2.1: every character may become a 3-character "%XX" triplet. */
	out = malloc(3 * b64cap);
	if (!b64 || !out) {
		free(b64);
		free(out);
		errno = ENOMEM;
		return NULL;
	}
	n = len ? EVP_EncodeBlock(b64, der, (int)len) : 0;
	for (int i = 0; i < n; i++) {
		if (unreserved(b64[i])) {
			out[o++] = (char)b64[i];
		} else {
			/* '+', '/' and '=' would otherwise read as URL syntax (RFC 3986 §2.2). */
			out[o++] = '%';
			out[o++] = hex[b64[i] >> 4];
			out[o++] = hex[b64[i] & 0xf];
		}
	}
	out[o] = '\0';
	free(b64);
	return out;
}

/*
 * RFC 6960 §4.1.1, with the RFC 5019 §2.1.1 profile (one Request, no requestorName, no
 * signature, no requestExtensions, so no nonce):
 *   OCSPRequest ::= SEQUENCE { tbsRequest TBSRequest, optionalSignature [0] EXPLICIT ... }
 *   TBSRequest  ::= SEQUENCE { version [0] EXPLICIT Version DEFAULT v1,
 *                              requestorName [1] EXPLICIT GeneralName OPTIONAL,
 *                              requestList SEQUENCE OF Request,
 *                              requestExtensions [2] EXPLICIT Extensions OPTIONAL }
 *   Request     ::= SEQUENCE { reqCert CertID, singleRequestExtensions [0] ... OPTIONAL }
 */
static int build_der(const struct ks_cert *cert, struct ks_ocsp_req *out)
{
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_CERTID *id = NULL;
	unsigned char *der = NULL;
	int len, ret = 0;

	ENSURE_OUT(req, -ENOMEM);
	id = OCSP_CERTID_dup(cert->certid);
	ENSURE_OUT(id, -ENOMEM);
	ENSURE_OUT(OCSP_request_add0_id(req, id), -ENOMEM);
	id = NULL; /* owned by req now */
	len = i2d_OCSP_REQUEST(req, &der);
	ENSURE_OUT(len > 0, -ENOMEM);
	/* Copied into malloc'd memory so callers free everything with one allocator. */
	out->der = malloc((size_t)len);
	ENSURE_OUT(out->der, -ENOMEM);
	memcpy(out->der, der, (size_t)len);
	out->len = (size_t)len;
out:
	OPENSSL_free(der);
	OCSP_CERTID_free(id);
	OCSP_REQUEST_free(req);
	ERR_clear_error();
	return ret;
}

/*
 * RFC 6960 Appendix A.1: GET {url}/{url-encoding of base-64 encoding of the DER OCSPRequest}.
 * RFC 5019 §5: "When sending requests that are less than or equal to 255 bytes in total (after
 * encoding) including the scheme and delimiters (http://), server name and base64-encoded
 * OCSPRequest structure, clients MUST use the GET method [...]. OCSP requests larger than 255
 * bytes SHOULD be submitted using the POST method." So the limit applies to the whole URL.
 */
static int build_get_url(const char *url, const struct ks_ocsp_req *req, char **get_url)
{
	size_t ulen = strlen(url), elen, total;
	bool slash;
	char *enc, *s;

	*get_url = NULL;
	enc = ks_ocsp_get_encode(req->der, req->len);
	if (!enc)
		return -errno;
	/* A URL whose path already ends in '/' (http://ocsp.example/ocsp/) gets no second one. */
	slash = ulen == 0 || url[ulen - 1] != '/';
	elen = strlen(enc);
	total = ulen + (slash ? 1 : 0) + elen;
	if (total > KS_OCSP_GET_MAX) {
		free(enc); /* too long: the caller POSTs */
		return 0;
	}
	s = malloc(total + 1);
	if (!s) {
		free(enc);
		return -ENOMEM;
	}
	memcpy(s, url, ulen);
	if (slash)
		s[ulen] = '/';
	memcpy(s + ulen + (slash ? 1 : 0), enc, elen + 1);
	free(enc);
	*get_url = s;
	return 0;
}

int ks_ocsp_request_build(const struct ks_cert *cert, const char *responder_url,
			  struct ks_ocsp_req *out)
{
	const char *url;
	int ret;

	memset(out, 0, sizeof(*out));
	ENSURE(cert && cert->certid, -EINVAL);
	url = responder_url ? responder_url : cert->responder;
	TRY_OUT(build_der(cert, out));
	/* Without any URL there is no GET form; the DER alone still serves tools and tests. */
	if (url)
		TRY_OUT(build_get_url(url, out, &out->get_url));
	return 0;
out:
	ks_log_cert(KS_LOG_ERR, cert->name, "cannot build the OCSP request: %s", strerror(-ret));
	ks_ocsp_request_free(out);
	return ret;
}

void ks_ocsp_request_free(struct ks_ocsp_req *req)
{
	if (!req)
		return;
	free(req->der);
	free(req->get_url);
	memset(req, 0, sizeof(*req));
}

/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by ocsp_verify.c and ocsp_inspect.c only (not a public interface): the
 * cursor-based split of the outer OCSPResponse, strict decoding of the BasicOCSPResponse, and
 * small formatting helpers.
 */
#ifndef KSTAPLE_OCSP_INTERNAL_H
#define KSTAPLE_OCSP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include "kstaple/common.h"
#include "kstaple/ocsp_certcache.h"

/* The outer OCSPResponse as found by ks_ocsp_outer_parse(); pointers borrow the input. */
struct ks_ocsp_outer {
	int status;	     /* OCSPResponseStatus */
	bool has_bytes;	     /* responseBytes present */
	bool is_basic;	     /* responseType is id-pkix-ocsp-basic */
	const uint8_t *type; /* responseType OID, whole TLV (for messages) */
	size_t type_len;
	const uint8_t *basic; /* response OCTET STRING contents */
	size_t basic_len;
};

/*
 * Split der into its outer fields, enforcing DER on this layer and that the whole input is
 * consumed. On failure returns -EBADMSG and writes the reason (a sentence) into why.
 */
KS_MUST_CHECK int ks_ocsp_outer_parse(const uint8_t *der, size_t len, struct ks_ocsp_outer *o,
				      char *why, size_t why_len);

/* Decode a BasicOCSPResponse that must span exactly len bytes. NULL if it does not. */
OCSP_BASICRESP *ks_ocsp_basic_decode(const uint8_t *p, size_t len);

/*
 * The same, with the embedded certificates (certs) taken from cc instead of parsed again: the
 * result is identical, only cheaper when the responder sends the same certificate each time.
 * cc NULL, or bytes that are not plain DER of the expected shape: ks_ocsp_basic_decode().
 */
OCSP_BASICRESP *ks_ocsp_basic_decode_cached(const uint8_t *p, size_t len,
					    struct ks_ocsp_certcache *cc);

/* RFC 6960 §4.2.1 name of an OCSPResponseStatus ("tryLater"), "unknown" otherwise. */
const char *ks_ocsp_status_name(int status);

/* Does cert's subject (byName) or SHA-1 key hash (byKey) match the ResponderID? */
bool ks_ocsp_responder_is(X509 *cert, const ASN1_OCTET_STRING *keyid, const X509_NAME *name);

/* The certificate carried in the response that the ResponderID names, or NULL. Borrowed. */
X509 *ks_ocsp_find_responder(const OCSP_BASICRESP *bs);

/* Upper-case hex of bytes into buf (always terminated; "..." marks truncation). Returns buf. */
char *ks_ocsp_hex(const uint8_t *p, size_t n, char *buf, size_t len);

/* Serial number (an INTEGER) as upper-case hex, "-" prefixed if negative. Returns buf. */
char *ks_ocsp_serial_hex(const ASN1_INTEGER *serial, char *buf, size_t len);

/* ResponderID as text: the subject name (XN_FLAG_* flags) or "key:HEX". Returns buf. */
char *ks_ocsp_responder_str(const OCSP_BASICRESP *bs, unsigned long flags, char *buf, size_t len);

/* A name as one line with the given XN_FLAG_* flags. Returns buf ("" on failure). */
char *ks_ocsp_name_str(const X509_NAME *name, unsigned long flags, char *buf, size_t len);

#endif /* KSTAPLE_OCSP_INTERNAL_H */

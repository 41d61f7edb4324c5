// SPDX-License-Identifier: MIT
/*
 * Certificate store: load a configured chain and key once, find the leaf's issuer, and derive
 * everything the OCSP pipeline needs (AIA URLs, must-staple, CertID). See cert_store.h.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "kstaple/cert_pool.h"
#include "kstaple/cert_store.h"
#include "cert_internal.h"
#include "kstaple/clock.h"
#include "kstaple/config.h"
#include "kstaple/cursor.h"
#include "kstaple/keyfile.h"
#include "kstaple/log.h"

/* RFC 6066 §8 / RFC 7633 §2: the TLS extension number of status_request. */
#define TLS_EXT_STATUS_REQUEST 5

/* X.690 identifier octets (universal class). */
#define DER_INTEGER  0x02
#define DER_SEQUENCE 0x30

/* Never prompt on a terminal for an encrypted key: a daemon has nobody to ask. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

/*
 * Open a PEM file as a BIO. fopen() is called directly (not BIO_new_file) so that the errno
 * (ENOENT, EACCES, ...) reaches the caller unchanged.
 */
static int open_pem(const char *path, BIO **out)
{
	FILE *f = fopen(path, "r");
	int err;

	if (!f)
		return -errno;
	*out = BIO_new_fp(f, BIO_CLOSE);
	if (!*out) {
		err = errno ? errno : ENOMEM;
		fclose(f);
		return -err;
	}
	return 0;
}

/* true when the last PEM read stopped at a clean end of file rather than on damaged input. */
static bool pem_at_eof(void)
{
	unsigned long e = ERR_peek_last_error();

	return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

/*
 * The next "CERTIFICATE" PEM block of bio, base64-decoded (OPENSSL_free() it): 1, 0 at a clean
 * end of file, -EBADMSG on damaged input. PEM_bytes_read_bio() is the reader inside
 * PEM_read_bio_X509() (same block names, other blocks skipped); parsing the DER is left to the
 * caller so that shared intermediates are parsed once (cert_pool.h).
 */
static int next_pem_cert(BIO *bio, unsigned char **der, long *len)
{
	*der = NULL;
	if (PEM_bytes_read_bio(der, len, NULL, PEM_STRING_X509, bio, no_passphrase, NULL) == 1)
		return 1;
	return pem_at_eof() ? 0 : -EBADMSG;
}

/* The first certificate of a PEM file: 0, -errno from open, -EBADMSG, -ENOMEM. */
int ks_cert_read_file(const char *path, struct ks_cert_pool *pool, X509 **out)
{
	unsigned char *der = NULL;
	BIO *bio = NULL;
	long len = 0;
	int ret;

	*out = NULL;
	TRY(open_pem(path, &bio));
	ret = next_pem_cert(bio, &der, &len);
	if (ret == 0)
		ret = -EBADMSG;
	if (ret > 0) {
		*out = ks_cert_pool_get(pool, der, (size_t)len);
		ret = *out ? 0 : -errno;
	}
	OPENSSL_free(der);
	BIO_free(bio);
	ERR_clear_error();
	return ret;
}

X509 *ks_x509_load(const char *path)
{
	X509 *x;
	int ret = ks_cert_read_file(path, NULL, &x);

	if (ret < 0)
		errno = -ret;
	return x;
}

static int log_open_error(const struct ks_cert_spec *spec, const char *what, const char *path,
			  int err)
{
	ks_log_cert(KS_LOG_ERR, spec->name, "cannot open %s %s: %s", what, path, strerror(-err));
	return err;
}

/* The intermediates after the leaf, in file order; shared through spec->pool. */
static int load_intermediates(const struct ks_cert_spec *spec, struct ks_cert *c, BIO *bio)
{
	unsigned char *der;
	long len;
	X509 *x;
	int ret;

	while ((ret = next_pem_cert(bio, &der, &len)) > 0) {
		x = ks_cert_pool_get(spec->pool, der, (size_t)len);
		OPENSSL_free(der);
		if (!x)
			return errno == ENOMEM ? -ENOMEM : -EBADMSG;
		if (!sk_X509_push(c->chain, x)) {
			X509_free(x);
			return -ENOMEM;
		}
	}
	return ret;
}

/*
 * The chain file: leaf first, then intermediates (RFC 8446 §4.4.2 order). The leaf's DER is
 * returned (OPENSSL_free() it) rather than parsed: the light path reads it itself.
 */
static int load_chain(const struct ks_cert_spec *spec, struct ks_cert *c, unsigned char **leaf,
		      long *leaf_len)
{
	BIO *bio = NULL;
	int ret;

	*leaf = NULL;
	ret = open_pem(spec->chain_path, &bio);
	if (ret < 0)
		return log_open_error(spec, "certificate chain", spec->chain_path, ret);
	if (next_pem_cert(bio, leaf, leaf_len) <= 0) {
		OPENSSL_free(*leaf);
		*leaf = NULL;
		ks_log_cert(KS_LOG_ERR, spec->name, "no certificate in %s (expected PEM)",
			    spec->chain_path);
		ret = -EBADMSG;
		goto out;
	}
	c->chain = sk_X509_new_null();
	ENSURE_OUT(c->chain, -ENOMEM);
	ret = load_intermediates(spec, c, bio);
	/* A damaged block after the leaf must not silently shorten the chain we serve. */
	if (ret == -EBADMSG)
		ks_log_cert(KS_LOG_ERR, spec->name,
			    "malformed PEM block after certificate %d in %s",
			    sk_X509_num(c->chain) + 1, spec->chain_path);
out:
	if (ret == -ENOMEM)
		ks_log_cert(KS_LOG_ERR, spec->name, "out of memory reading %s", spec->chain_path);
	ERR_clear_error();
	BIO_free(bio);
	return ret;
}

/* Leaves are unique: parsed directly, never pooled. */
static int parse_leaf(const struct ks_cert_spec *spec, struct ks_cert *c, const uint8_t *der,
		      size_t len)
{
	c->leaf = ks_cert_pool_get(NULL, der, len);
	ERR_clear_error();
	if (c->leaf)
		return 0;
	if (errno == ENOMEM) {
		ks_log_cert(KS_LOG_ERR, spec->name, "out of memory reading %s", spec->chain_path);
		return -ENOMEM;
	}
	ks_log_cert(KS_LOG_ERR, spec->name, "no certificate in %s (expected PEM)",
		    spec->chain_path);
	return -EBADMSG;
}

/*
 * The usual case, fast: the file's first PEM block is a private key of the leaf's key type.
 * PEM_read_bio_PrivateKey() asks OpenSSL 3.0 for a decoder chain covering every key type and
 * encoding the providers know, which costs about 1 ms per call (two thirds of `kstaple serve`'s
 * start-up per certificate); naming the type and the PEM input makes that chain small. NULL
 * when this does not apply (another key type, a certificate before the key, an encrypted key):
 * the caller then runs the general reader, so what is accepted and rejected does not change.
 */
static EVP_PKEY *decode_key_as_leaf(X509 *leaf, const uint8_t *pem, size_t len)
{
	EVP_PKEY *pub = X509_get0_pubkey(leaf), *key = NULL;
	const unsigned char *p = pem;
	OSSL_DECODER_CTX *dctx;
	const char *type;
	bool ok;

	type = pub ? EVP_PKEY_get0_type_name(pub) : NULL;
	if (!type)
		return NULL;
	dctx = OSSL_DECODER_CTX_new_for_pkey(&key, "PEM", NULL, type, EVP_PKEY_KEYPAIR, NULL, NULL);
	ok = dctx && OSSL_DECODER_CTX_get_num_decoders(dctx) > 0 &&
	     OSSL_DECODER_CTX_set_pem_password_cb(dctx, no_passphrase, NULL) == 1 &&
	     OSSL_DECODER_from_data(dctx, &p, &len) == 1 && key && EVP_PKEY_is_a(key, type);
	if (!ok) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	OSSL_DECODER_CTX_free(dctx);
	ERR_clear_error();
	return key;
}

/*
 * The key file is read by keyfile.c (permission check on the open descriptor, no stdio
 * buffer) and parsed from that buffer, which is wiped before it is freed.
 */
static int load_key(const struct ks_cert_spec *spec, struct ks_cert *c)
{
	uint8_t *pem = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	int ret = 0;

	/* ks_keyfile_read logs its own errors, naming the certificate and the file. */
	TRY(ks_keyfile_read(spec->key_path, spec->name, spec->allow_insecure_key, &pem, &len));
	ENSURE_OUT(len <= INT_MAX, -EFBIG); /* KS_KEYFILE_MAX is far below; BIO takes an int */
	c->key = decode_key_as_leaf(c->leaf, pem, len);
	if (!c->key) {
		bio = BIO_new_mem_buf(pem, (int)len);
		if (!bio) {
			ks_log_cert(KS_LOG_ERR, spec->name, "out of memory reading %s",
				    spec->key_path);
			ret = -ENOMEM;
			goto out;
		}
		c->key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	}
	if (!c->key) {
		ks_log_cert(KS_LOG_ERR, spec->name,
			    "no usable private key in %s (missing, malformed or encrypted)",
			    spec->key_path);
		ret = -EBADMSG;
	} else if (X509_check_private_key(c->leaf, c->key) != 1) {
		ks_log_cert(KS_LOG_ERR, spec->name, "key %s does not match certificate in %s",
			    spec->key_path, spec->chain_path);
		ret = -EKEYREJECTED;
	}
out:
	ERR_clear_error();
	BIO_free(bio);
	ks_keyfile_free(pem, len);
	return ret;
}

/*
 * Did ca issue leaf? X509_check_issued() compares names, AKID/SKID and keyUsage; the signature
 * check on top makes sure the CertID's issuerKeyHash (RFC 6960 §4.1.1) is computed over the key
 * that really signed the leaf, not over an impostor with the same name.
 */
static bool issued_by(X509 *ca, X509 *leaf)
{
	bool ok;

	ok = X509_check_issued(ca, leaf) == X509_V_OK &&
	     X509_verify(leaf, X509_get0_pubkey(ca)) == 1;
	ERR_clear_error();
	return ok;
}

static int find_issuer(const struct ks_cert_spec *spec, struct ks_cert *c)
{
	X509 *x;
	int ret;

	if (spec->issuer_path) {
		/* Usually one issuer file for many certificates: parsed once through the pool. */
		ret = ks_cert_read_file(spec->issuer_path, spec->pool, &x);
		if (ret == -EBADMSG) {
			ks_log_cert(KS_LOG_ERR, spec->name, "no certificate in issuer file %s",
				    spec->issuer_path);
			return ret;
		}
		if (ret < 0)
			return log_open_error(spec, "issuer certificate", spec->issuer_path, ret);
		if (!issued_by(x, c->leaf)) {
			ks_log_cert(KS_LOG_ERR, spec->name,
				    "the certificate in %s did not issue the certificate in %s",
				    spec->issuer_path, spec->chain_path);
			X509_free(x);
			return -ENOKEY;
		}
		c->issuer = x;
		return 0;
	}
	for (int i = 0; i < sk_X509_num(c->chain); i++) {
		x = sk_X509_value(c->chain, i);
		if (issued_by(x, c->leaf)) {
			X509_up_ref(x); /* cannot fail: an atomic increment */
			c->issuer = x;
			return 0;
		}
	}
	ks_log_cert(KS_LOG_ERR, spec->name,
		    "the issuer of the certificate in %s is not in that file: append it to the "
		    "chain or set `issuer =` to its PEM file",
		    spec->chain_path);
	return -ENOKEY;
}

int ks_asn1_time_to_unix(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;
	time_t u;

	/* ASN1_TIME_to_tm(NULL) would mean "now": a missing time is malformed input here. */
	ENSURE(t, -EBADMSG);
	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(t, &tm) != 1) {
		ERR_clear_error();
		return -EBADMSG;
	}
	u = timegm(&tm);
	/* timegm's -1 is also 1969-12-31T23:59:59Z: only an error when the fields disagree. */
	ENSURE(u != (time_t)-1 || tm.tm_year == 69, -EBADMSG);
	*out = (int64_t)u;
	return 0;
}

/* RFC 5280 §4.1.2.5: the validity period includes both notBefore and notAfter. */
int ks_cert_check_validity(const struct ks_cert_spec *spec, const struct ks_cert *c, int64_t now)
{
	char when[48];

	if (spec->allow_expired)
		return 0;
	if (now > c->not_after) {
		ks_log_cert(KS_LOG_ERR, spec->name, "certificate in %s expired on %s",
			    spec->chain_path, ks_fmt_time(c->not_after, when, sizeof(when)));
		return -EKEYEXPIRED;
	}
	if (now < c->not_before) {
		ks_log_cert(KS_LOG_ERR, spec->name, "certificate in %s is not valid before %s",
			    spec->chain_path, ks_fmt_time(c->not_before, when, sizeof(when)));
		return -EKEYEXPIRED;
	}
	return 0;
}

static int check_validity(const struct ks_cert_spec *spec, struct ks_cert *c, int64_t now)
{
	if (ks_asn1_time_to_unix(X509_get0_notBefore(c->leaf), &c->not_before) < 0 ||
	    ks_asn1_time_to_unix(X509_get0_notAfter(c->leaf), &c->not_after) < 0) {
		ks_log_cert(KS_LOG_ERR, spec->name, "malformed validity dates in %s",
			    spec->chain_path);
		return -EBADMSG;
	}
	return ks_cert_check_validity(spec, c, now);
}

/* Copy the OCSP URLs and choose the responder: the override, else the first URL. */
int ks_cert_set_urls(const struct ks_cert_spec *spec, struct ks_cert *c,
		     const struct ks_der_span *urls, size_t n)
{
	int ret = 0;

	if (n > 0) {
		c->ocsp_urls = calloc(n, sizeof(*c->ocsp_urls));
		ENSURE_OUT(c->ocsp_urls, -ENOMEM);
		for (size_t i = 0; i < n; i++) {
			c->ocsp_urls[i] = strndup((const char *)urls[i].p, urls[i].len);
			ENSURE_OUT(c->ocsp_urls[i], -ENOMEM);
			c->n_ocsp_urls++;
		}
	}
	if (spec->responder)
		c->responder = strdup(spec->responder);
	else if (c->n_ocsp_urls)
		c->responder = strdup(c->ocsp_urls[0]);
	ENSURE_OUT(c->responder || (!spec->responder && !c->n_ocsp_urls), -ENOMEM);
out:
	if (ret < 0)
		ks_log_cert(KS_LOG_ERR, spec->name, "out of memory copying the OCSP URLs of %s",
			    spec->chain_path);
	return ret;
}

/* RFC 5280 §4.2.2.1: AuthorityInfoAccess, accessMethod id-ad-ocsp, uniformResourceIdentifier. */
static int load_ocsp_urls(const struct ks_cert_spec *spec, struct ks_cert *c)
{
	STACK_OF(OPENSSL_STRING) *urls = X509_get1_ocsp(c->leaf);
	int n = urls ? sk_OPENSSL_STRING_num(urls) : 0;
	struct ks_der_span *spans = NULL;
	int ret;

	if (n > 0) {
		spans = calloc((size_t)n, sizeof(*spans));
		if (!spans) {
			ks_log_cert(KS_LOG_ERR, spec->name,
				    "out of memory copying the OCSP URLs of %s", spec->chain_path);
			X509_email_free(urls);
			return -ENOMEM;
		}
	}
	for (int i = 0; i < n; i++) {
		const char *u = sk_OPENSSL_STRING_value(urls, i);

		spans[i] = (struct ks_der_span){ (const uint8_t *)u, strlen(u) };
	}
	ret = ks_cert_set_urls(spec, c, spans, (size_t)n);
	free(spans);
	X509_email_free(urls);
	return ret;
}

/*
 * RFC 7633 §4: the TLS Feature extension's value.
 *   id-pe-tlsfeature OBJECT IDENTIFIER ::= { id-pe 24 }
 *   Features ::= SEQUENCE OF INTEGER
 * The integers are TLS extension numbers; status_request is 5 (RFC 6066 §8).
 */
int ks_cert_parse_tlsfeature(const uint8_t *der, size_t len, bool *status_request)
{
	struct ks_cursor c = ks_cur_init(der, len), seq, val;
	const uint8_t *v;
	size_t n;

	*status_request = false;
	TRY(ks_cur_der_expect(&c, DER_SEQUENCE, &seq));
	TRY(ks_cur_close(&c)); /* nothing may follow the SEQUENCE in the OCTET STRING */
	while (!ks_cur_empty(&seq)) {
		TRY(ks_cur_der_expect(&seq, DER_INTEGER, &val));
		n = ks_cur_left(&val);
		TRY(ks_cur_bytes(&val, n, &v));
		/* X.690 §8.3.2: at least one octet, and the first nine bits not all 0 or all 1. */
		ENSURE(n >= 1, -EBADMSG);
		ENSURE(n == 1 || !(v[0] == 0x00 && !(v[1] & 0x80)), -EBADMSG);
		ENSURE(n == 1 || !(v[0] == 0xff && (v[1] & 0x80)), -EBADMSG);
		/* With minimal encoding, 5 has exactly one representation. */
		if (n == 1 && v[0] == TLS_EXT_STATUS_REQUEST)
			*status_request = true;
	}
	return 0;
}

static int load_must_staple(const struct ks_cert_spec *spec, struct ks_cert *c)
{
	const ASN1_OCTET_STRING *data;
	int idx, ret;

	idx = X509_get_ext_by_NID(c->leaf, NID_tlsfeature, -1);
	if (idx < 0)
		return 0;
	/* RFC 5280 §4.2: a certificate MUST NOT include more than one instance of an extension. */
	ENSURE_OUT(X509_get_ext_by_NID(c->leaf, NID_tlsfeature, idx) < 0, -EBADMSG);
	data = X509_EXTENSION_get_data(X509_get_ext(c->leaf, idx));
	ENSURE_OUT(data, -EBADMSG);
	ret = ks_cert_parse_tlsfeature(ASN1_STRING_get0_data(data),
				       (size_t)ASN1_STRING_length(data), &c->must_staple);
out:
	if (ret < 0)
		ks_log_cert(KS_LOG_ERR, spec->name,
			    "malformed TLS Feature (must-staple) extension in %s",
			    spec->chain_path);
	return ret;
}

/* RFC 6960 §4.1.1 CertID with SHA-1 (RFC 5019 §2.1.1), and its SHA-256 as a stable name. */
int ks_cert_set_certid(const struct ks_cert_spec *spec, struct ks_cert *c, OCSP_CERTID *id)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char *der = NULL;
	unsigned int mdlen = 0;
	int len, ret = 0;

	c->certid = id;
	ENSURE_OUT(c->certid, -ENOMEM);
	len = i2d_OCSP_CERTID(c->certid, &der);
	ENSURE_OUT(len > 0, -ENOMEM);
	ENSURE_OUT(EVP_Digest(der, (size_t)len, c->certid_hash, &mdlen, EVP_sha256(), NULL) == 1,
		   -ENOMEM);
	ENSURE_OUT(mdlen == KS_CERTID_HASH_LEN, -EINVAL);
	for (size_t i = 0; i < KS_CERTID_HASH_LEN; i++) {
		c->certid_hex[2 * i] = hex[c->certid_hash[i] >> 4];
		c->certid_hex[2 * i + 1] = hex[c->certid_hash[i] & 0xf];
	}
	c->certid_hex[2 * KS_CERTID_HASH_LEN] = '\0';
out:
	OPENSSL_free(der);
	if (ret < 0)
		ks_log_ossl(KS_LOG_ERR, spec->name, "cannot compute the OCSP CertID");
	return ret;
}

/*
 * Serial number as upper-case hex, as `openssl x509 -serial` prints it. RFC 5280 §4.1.2.2 caps
 * serials at 20 octets but asks users to handle longer ones gracefully: they are truncated here
 * (the name is only for logs; certid_hash is the identity).
 */
static void format_serial(const struct ks_cert_spec *spec, struct ks_cert *c,
			  const ASN1_INTEGER *serial)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = ASN1_STRING_get0_data(serial);
	size_t n = (size_t)ASN1_STRING_length(serial), o = 0;

	if (n > 20) {
		ks_log_cert(KS_LOG_WARN, spec->name,
			    "serial number in %s is %zu octets (RFC 5280 allows 20); logs show "
			    "the first 20",
			    spec->chain_path, n);
		n = 20;
	}
	for (size_t i = 0; i < n; i++) {
		c->serial_hex[o++] = hex[p[i] >> 4];
		c->serial_hex[o++] = hex[p[i] & 0xf];
	}
	if (!o) {
		c->serial_hex[o++] = '0';
		c->serial_hex[o++] = '0';
	}
	c->serial_hex[o] = '\0';
}

/* The one-line subject (RFC 2253 form) and the serial, for logs. */
int ks_cert_describe(const struct ks_cert_spec *spec, struct ks_cert *c, const X509_NAME *subject,
		     const ASN1_INTEGER *serial)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;
	int ret = 0;

	ENSURE_OUT(mem, -ENOMEM);
	ENSURE_OUT(X509_NAME_print_ex(mem, subject, 0, XN_FLAG_RFC2253) >= 0, -EBADMSG);
	n = BIO_get_mem_data(mem, &p);
	ENSURE_OUT(n >= 0, -ENOMEM);
	c->subject = strndup(n ? p : "", (size_t)n);
	ENSURE_OUT(c->subject, -ENOMEM);
	format_serial(spec, c, serial);
out:
	BIO_free(mem);
	if (ret < 0)
		ks_log_ossl(KS_LOG_ERR, spec->name, "cannot describe the certificate");
	return ret;
}

static int describe(const struct ks_cert_spec *spec, struct ks_cert *c)
{
	EVP_PKEY *pk;

	TRY(ks_cert_describe(spec, c, X509_get_subject_name(c->leaf),
			     X509_get0_serialNumber(c->leaf)));
	/* NULL when OpenSSL cannot decode the key type; such a leaf is simply not ECDSA. */
	pk = X509_get0_pubkey(c->leaf);
	c->is_ecdsa = pk && EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC;
	return 0;
}

int ks_cert_load(const struct ks_cert_spec *spec, int64_t now, struct ks_cert **out)
{
	unsigned char *der = NULL;
	struct ks_cert *c;
	long len = 0;
	int ret = 0;

	*out = NULL;
	ENSURE(spec && spec->name && spec->chain_path, -EINVAL);
	c = calloc(1, sizeof(*c));
	ENSURE(c, -ENOMEM);
	c->name = strdup(spec->name);
	c->chain_path = strdup(spec->chain_path);
	if (!c->name || !c->chain_path) {
		ks_log_cert(KS_LOG_ERR, spec->name, "out of memory loading %s", spec->chain_path);
		ret = -ENOMEM;
		goto out;
	}

	/* Cheap, local checks first; each step logs its own error, once, naming the file. */
	TRY_OUT(load_chain(spec, c, &der, &len));
	if (spec->light && !spec->key_path) {
		ret = ks_cert_load_light(spec, c, der, (size_t)len, now);
		if (ret <= 0)
			goto out;
		ks_log_cert(KS_LOG_DEBUG, spec->name,
			    "certificate in %s read with OpenSSL (not the light path)",
			    spec->chain_path);
	}
	TRY_OUT(parse_leaf(spec, c, der, (size_t)len));
	if (spec->key_path)
		TRY_OUT(load_key(spec, c));
	TRY_OUT(find_issuer(spec, c));
	TRY_OUT(check_validity(spec, c, now));
	TRY_OUT(load_ocsp_urls(spec, c));
	TRY_OUT(load_must_staple(spec, c));
	TRY_OUT(ks_cert_set_certid(spec, c, OCSP_cert_to_id(EVP_sha1(), c->leaf, c->issuer)));
	TRY_OUT(describe(spec, c));
	ret = 0;
out:
	OPENSSL_free(der);
	if (ret == 0) {
		*out = c;
		c = NULL;
	}
	ks_cert_free(c);
	return ret;
}

void ks_cert_free(struct ks_cert *cert)
{
	if (!cert)
		return;
	free(cert->name);
	free(cert->chain_path);
	X509_free(cert->leaf);
	sk_X509_pop_free(cert->chain, X509_free);
	X509_free(cert->issuer);
	EVP_PKEY_free(cert->key);
	for (size_t i = 0; i < cert->n_ocsp_urls; i++)
		free(cert->ocsp_urls[i]);
	free(cert->ocsp_urls);
	free(cert->responder);
	OCSP_CERTID_free(cert->certid);
	ASN1_INTEGER_free(cert->serial);
	X509_NAME_free(cert->leaf_issuer_name);
	free(cert->subject);
	free(cert);
}

int ks_cert_load_conf_pooled(const struct ks_config *cfg, const struct ks_cert_conf *cc,
			     bool with_key, int64_t now, struct ks_cert_pool *pool,
			     struct ks_cert **out)
{
	const struct ks_cert_spec spec = {
		.name = cc->name,
		.chain_path = cc->chain,
		.key_path = with_key ? cc->key : NULL,
		.issuer_path = cc->issuer,
		.responder = cc->responder,
		.allow_insecure_key = cfg->allow_insecure_key_permissions,
		.pool = pool,
		/* Without a key only OCSP needs the leaf: no X509 for it (cert_der.h). */
		.light = !with_key,
	};

	return ks_cert_load(&spec, now, out);
}

int ks_cert_load_conf(const struct ks_config *cfg, const struct ks_cert_conf *cc, bool with_key,
		      int64_t now, struct ks_cert **out)
{
	return ks_cert_load_conf_pooled(cfg, cc, with_key, now, NULL, out);
}

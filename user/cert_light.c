// SPDX-License-Identifier: MIT
/*
 * The light path of cert_store: a leaf loaded for OCSP only, without an X509 for it.
 *
 * The leaf's DER is walked by cert_der.c; its issuer (an intermediate of the chain or the
 * issuer file, parsed once for all leaves through cert_pool) is still a full X509, whose
 * decoded public key OpenSSL keeps. Issuance is checked as X509_check_issued() + X509_verify()
 * do in the OpenSSL path:
 *   - the leaf's issuer Name equals the issuer's subject Name (byte for byte here; OpenSSL
 *     compares canonical forms, so a difference in encoding alone falls back to OpenSSL),
 *   - the leaf's AKID keyIdentifier, if any, equals the issuer's SKID, if any,
 *   - the issuer's keyUsage, if present, allows keyCertSign,
 *   - the signature algorithm suits the issuer's key type,
 *   - the signature over the TBSCertificate verifies with the issuer's key.
 * Whatever is not handled here falls back to the OpenSSL path, never to no check.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "kstaple/cert_pool.h"
#include "kstaple/log.h"
#include "cert_internal.h"

/* The digest and key type for a signature algorithm; false when not handled here. */
static bool sig_params(enum ks_sig_alg alg, const EVP_MD **md, const char **key_type)
{
	switch (alg) {
	case KS_SIG_ECDSA_SHA256:
		*md = EVP_sha256(), *key_type = "EC";
		return true;
	case KS_SIG_ECDSA_SHA384:
		*md = EVP_sha384(), *key_type = "EC";
		return true;
	case KS_SIG_ECDSA_SHA512:
		*md = EVP_sha512(), *key_type = "EC";
		return true;
	case KS_SIG_RSA_SHA256:
		*md = EVP_sha256(), *key_type = "RSA";
		return true;
	case KS_SIG_RSA_SHA384:
		*md = EVP_sha384(), *key_type = "RSA";
		return true;
	case KS_SIG_RSA_SHA512:
		*md = EVP_sha512(), *key_type = "RSA";
		return true;
	case KS_SIG_ED25519:
		*md = NULL, *key_type = "ED25519";
		return true; /* PureEdDSA */
	case KS_SIG_UNKNOWN:
		break;
	}
	return false;
}

/* RFC 5280 §4.1.1.3: the signature is computed over the DER TBSCertificate. */
static bool signature_ok(X509 *ca, const struct ks_cert_der *d)
{
	EVP_PKEY *key = X509_get0_pubkey(ca);
	const char *key_type;
	const EVP_MD *md;
	EVP_MD_CTX *ctx;
	bool ok;

	if (!key || !sig_params(ks_der_sig_alg(d->sig_alg.p, d->sig_alg.len), &md, &key_type) ||
	    !EVP_PKEY_is_a(key, key_type))
		return false;
	ctx = EVP_MD_CTX_new();
	ok = ctx && EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) == 1 &&
	     EVP_DigestVerify(ctx, d->sig.p, d->sig.len, d->tbs.p, d->tbs.len) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* Did ca issue the leaf d? As issued_by() in cert_store.c; false also means "ask OpenSSL". */
static bool light_issued_by(X509 *ca, const struct ks_cert_der *d)
{
	const ASN1_OCTET_STRING *skid;
	const unsigned char *name;
	size_t name_len;
	uint32_t flags;
	bool ok;

	if (X509_NAME_get0_der(X509_get_subject_name(ca), &name, &name_len) != 1 ||
	    name_len != d->issuer.len || memcmp(name, d->issuer.p, name_len) != 0)
		return false;
	flags = X509_get_extension_flags(ca); /* also caches the extensions: SKID, keyUsage */
	if (flags & EXFLAG_INVALID)
		return false;
	/* OpenSSL's X509_check_akid(): compared only when both sides have a key identifier. */
	skid = X509_get0_subject_key_id(ca);
	if (d->akid_keyid.p && skid &&
	    ((size_t)ASN1_STRING_length(skid) != d->akid_keyid.len ||
	     memcmp(ASN1_STRING_get0_data(skid), d->akid_keyid.p, d->akid_keyid.len) != 0))
		return false;
	if ((flags & EXFLAG_KUSAGE) && !(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN))
		return false;
	ok = signature_ok(ca, d);
	ERR_clear_error();
	return ok;
}

/* The issuer of d as a new reference, or NULL: the OpenSSL path then decides and reports. */
static X509 *light_find_issuer(const struct ks_cert_spec *spec, const struct ks_cert *c,
			       const struct ks_cert_der *d)
{
	X509 *x;

	if (spec->issuer_path) {
		if (ks_cert_read_file(spec->issuer_path, spec->pool, &x) < 0)
			return NULL; /* the OpenSSL path reports it */
		if (light_issued_by(x, d))
			return x;
		X509_free(x);
		return NULL;
	}
	for (int i = 0; i < sk_X509_num(c->chain); i++) {
		x = sk_X509_value(c->chain, i);
		if (light_issued_by(x, d)) {
			X509_up_ref(x); /* cannot fail: an atomic increment */
			return x;
		}
	}
	return NULL;
}

/* What is decoded before anything is committed to c: freed on fallback. */
struct light {
	struct ks_cert_der d;
	X509 *issuer;
	ASN1_INTEGER *serial;
	X509_NAME *issuer_name, *subject;
	bool must_staple;
};

static void light_free(struct light *l)
{
	X509_free(l->issuer);
	ASN1_INTEGER_free(l->serial);
	X509_NAME_free(l->issuer_name);
	X509_NAME_free(l->subject);
}

/* Everything that can send the leaf to the OpenSSL path: 0 or KS_CERT_LIGHT_FALLBACK. */
static int light_decode(const struct ks_cert_spec *spec, const struct ks_cert *c,
			const uint8_t *der, size_t len, struct light *l)
{
	const unsigned char *p;

	if (ks_cert_der_parse(der, len, &l->d) < 0)
		return KS_CERT_LIGHT_FALLBACK;
	if (l->d.tlsfeature.p &&
	    ks_cert_parse_tlsfeature(l->d.tlsfeature.p, l->d.tlsfeature.len, &l->must_staple) < 0)
		return KS_CERT_LIGHT_FALLBACK;
	/* Small ASN.1 objects, no provider involved: the CertID's inputs and the log name. */
	p = l->d.serial.p;
	l->serial = d2i_ASN1_INTEGER(NULL, &p, (long)l->d.serial.len);
	p = l->d.issuer.p;
	l->issuer_name = d2i_X509_NAME(NULL, &p, (long)l->d.issuer.len);
	p = l->d.subject.p;
	l->subject = d2i_X509_NAME(NULL, &p, (long)l->d.subject.len);
	if (!l->serial || !l->issuer_name || !l->subject)
		return KS_CERT_LIGHT_FALLBACK;
	l->issuer = light_find_issuer(spec, c, &l->d);
	return l->issuer ? 0 : KS_CERT_LIGHT_FALLBACK;
}

int ks_cert_load_light(const struct ks_cert_spec *spec, struct ks_cert *c, const uint8_t *der,
		       size_t len, int64_t now)
{
	struct light l = { 0 };
	int ret;

	ret = light_decode(spec, c, der, len, &l);
	ERR_clear_error();
	if (ret != 0)
		goto out;
	/* Committed: from here on c is this leaf's, and errors are errors, as in OpenSSL's path. */
	c->issuer = l.issuer;
	c->serial = l.serial;
	c->leaf_issuer_name = l.issuer_name;
	l.issuer = NULL, l.serial = NULL, l.issuer_name = NULL;
	c->not_before = l.d.not_before;
	c->not_after = l.d.not_after;
	c->must_staple = l.must_staple;
	c->is_ecdsa = ks_der_spki_is_ec(l.d.spki_alg.p, l.d.spki_alg.len);
	TRY_OUT(ks_cert_check_validity(spec, c, now));
	TRY_OUT(ks_cert_set_urls(spec, c, l.d.ocsp_urls, l.d.n_ocsp_urls));
	/* RFC 6960 §4.1.1 as OCSP_cert_to_id(): the leaf's issuer Name and the issuer's key. */
	TRY_OUT(ks_cert_set_certid(spec, c,
				   OCSP_cert_id_new(EVP_sha1(), c->leaf_issuer_name,
						    X509_get0_pubkey_bitstr(c->issuer),
						    c->serial)));
	TRY_OUT(ks_cert_describe(spec, c, l.subject, c->serial));
out:
	/* Each step above logged its own error, naming the certificate and the file. */
	light_free(&l);
	return ret;
}

// SPDX-License-Identifier: MIT
/*
 * `kstaple inspect`: a compact dump of any OCSP response, as text (in the spirit of
 * `openssl ocsp -resp_text`) or JSON. It judges nothing (that is ks_ocsp_verify's job) and
 * prints whatever the response claims, so an operator can see why a staple was rejected.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "kstaple/cert_store.h"
#include "kstaple/clock.h"
#include "kstaple/ocsp_verify.h"
#include "ocsp_internal.h"

#define NAME_FLAGS_TEXT XN_FLAG_ONELINE
#define NAME_FLAGS_JSON XN_FLAG_RFC2253

const char *ks_crl_reason_str(int reason)
{
	/* RFC 5280 §5.3.1 CRLReason; 7 is not used. */
	static const char *const names[] = {
		[0] = "unspecified",	    [1] = "keyCompromise", [2] = "cACompromise",
		[3] = "affiliationChanged", [4] = "superseded",	   [5] = "cessationOfOperation",
		[6] = "certificateHold",    [8] = "removeFromCRL", [9] = "privilegeWithdrawn",
		[10] = "aACompromise",
	};

	if (reason >= 0 && (size_t)reason < KS_ARRAY_SIZE(names) && names[reason])
		return names[reason];
	return "unspecified";
}

/* JSON string (RFC 8259 §7): quote, backslash and control characters escaped; bytes above
 * 0x7e are escaped too, so invalid UTF-8 from a hostile response still yields valid JSON. */
static void json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20 || ch > 0x7e)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

/* "key": "value" or "key": null, with the separator that precedes it. */
static void json_kv(FILE *out, const char *sep, const char *key, const char *val)
{
	fprintf(out, "%s\"%s\":", sep, key);
	if (val)
		json_str(out, val);
	else
		fputs("null", out);
}

/* A time as RFC 3339 (JSON) or "YYYY-MM-DD HH:MM:SS UTC" (text); NULL if absent/invalid. */
static const char *fmt_asn1(const ASN1_TIME *t, bool json, char *buf, size_t len)
{
	int64_t v;

	if (!t || ks_asn1_time_to_unix(t, &v) < 0)
		return NULL;
	return json ? ks_fmt_time_iso(v, buf, len) : ks_fmt_time(v, buf, len);
}

struct single {
	char alg[64], name_hash[132], key_hash[132], serial[132];
	char rev[32], this_upd[32], next_upd[32];
	const char *status, *reason;
	int reason_code;
};

static void read_single(OCSP_SINGLERESP *sr, bool json, struct single *s)
{
	ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
	ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
	ASN1_OBJECT *alg = NULL;
	ASN1_INTEGER *serial = NULL;
	const char *revp;
	int st;

	memset(s, 0, sizeof(*s));
	OCSP_id_get0_info(&nh, &alg, &kh, &serial, (OCSP_CERTID *)OCSP_SINGLERESP_get0_id(sr));
	if (!alg || OBJ_obj2txt(s->alg, sizeof(s->alg), alg, 0) <= 0)
		snprintf(s->alg, sizeof(s->alg), "?");
	if (nh)
		ks_ocsp_hex(ASN1_STRING_get0_data(nh), (size_t)ASN1_STRING_length(nh), s->name_hash,
			    sizeof(s->name_hash));
	if (kh)
		ks_ocsp_hex(ASN1_STRING_get0_data(kh), (size_t)ASN1_STRING_length(kh), s->key_hash,
			    sizeof(s->key_hash));
	if (serial)
		ks_ocsp_serial_hex(serial, s->serial, sizeof(s->serial));
	s->reason_code = -1;
	st = OCSP_single_get0_status(sr, &s->reason_code, &rev, &thisupd, &nextupd);
	s->status = st == V_OCSP_CERTSTATUS_GOOD      ? "good"
		    : st == V_OCSP_CERTSTATUS_REVOKED ? "revoked"
		    : st == V_OCSP_CERTSTATUS_UNKNOWN ? "unknown"
						      : "invalid";
	revp = st == V_OCSP_CERTSTATUS_REVOKED ? fmt_asn1(rev, json, s->rev, sizeof(s->rev)) : NULL;
	if (!revp)
		s->rev[0] = '\0';
	if (st == V_OCSP_CERTSTATUS_REVOKED && s->reason_code >= 0)
		s->reason = ks_crl_reason_str(s->reason_code);
	if (!fmt_asn1(thisupd, json, s->this_upd, sizeof(s->this_upd)))
		s->this_upd[0] = '\0';
	if (!fmt_asn1(nextupd, json, s->next_upd, sizeof(s->next_upd)))
		s->next_upd[0] = '\0';
}

static const char *or_null(const char *s)
{
	return s && *s ? s : NULL;
}

static void json_single(FILE *out, const struct single *s)
{
	fputs("{\"certid\":{", out);
	json_kv(out, "", "hash_alg", s->alg);
	json_kv(out, ",", "issuer_name_hash", s->name_hash);
	json_kv(out, ",", "issuer_key_hash", s->key_hash);
	json_kv(out, ",", "serial", s->serial);
	fputc('}', out);
	json_kv(out, ",", "status", s->status);
	json_kv(out, ",", "revocation_time", or_null(s->rev));
	json_kv(out, ",", "revocation_reason", s->reason);
	json_kv(out, ",", "this_update", or_null(s->this_upd));
	json_kv(out, ",", "next_update", or_null(s->next_upd));
	fputc('}', out);
}

static void text_single(FILE *out, int idx, const struct single *s)
{
	fprintf(out, "Response %d:\n", idx + 1);
	fprintf(out, "  Hash Algorithm:    %s\n", s->alg);
	fprintf(out, "  Issuer Name Hash:  %s\n", s->name_hash);
	fprintf(out, "  Issuer Key Hash:   %s\n", s->key_hash);
	fprintf(out, "  Serial Number:     %s\n", s->serial);
	fprintf(out, "  Cert Status:       %s\n", s->status);
	if (*s->rev)
		fprintf(out, "  Revocation Time:   %s\n", s->rev);
	if (s->reason)
		fprintf(out, "  Revocation Reason: %s (%d)\n", s->reason, s->reason_code);
	fprintf(out, "  This Update:       %s\n", *s->this_upd ? s->this_upd : "(invalid)");
	fprintf(out, "  Next Update:       %s\n", *s->next_upd ? s->next_upd : "(absent)");
}

static void dump_basic(OCSP_BASICRESP *bs, bool json, FILE *out)
{
	char rid[512], produced[32], signer[512];
	const char *prod =
		fmt_asn1(OCSP_resp_get0_produced_at(bs), json, produced, sizeof(produced));
	X509 *sx = ks_ocsp_find_responder(bs);
	unsigned long nf = json ? NAME_FLAGS_JSON : NAME_FLAGS_TEXT;
	/* certs is OPTIONAL: an absent list counts as none (sk_X509_num says -1). */
	int n = OCSP_resp_count(bs), ncerts = KS_MAX(sk_X509_num(OCSP_resp_get0_certs(bs)), 0);
	struct single s;

	ks_ocsp_responder_str(bs, nf, rid, sizeof(rid));
	if (sx)
		ks_ocsp_name_str(X509_get_subject_name(sx), nf, signer, sizeof(signer));
	if (json) {
		json_kv(out, ",", "responder_id", rid);
		json_kv(out, ",", "produced_at", prod);
		fputs(",\"responses\":[", out);
	} else {
		fprintf(out, "Responder Id: %s\n", rid);
		fprintf(out, "Produced At: %s\n", prod ? prod : "(invalid)");
	}
	for (int i = 0; i < n; i++) {
		read_single(OCSP_resp_get0(bs, i), json, &s);
		if (json) {
			if (i)
				fputc(',', out);
			json_single(out, &s);
		} else {
			text_single(out, i, &s);
		}
	}
	if (json) {
		fputc(']', out);
		json_kv(out, ",", "signer_subject", sx ? signer : NULL);
		fprintf(out, ",\"certs\":%d", ncerts);
	} else {
		fprintf(out, "Signer: %s\n",
			sx ? signer : "(not included: the issuer, or unknown)");
		fprintf(out, "Certificates: %d\n", ncerts);
	}
}

/* The responseType OID in dotted form, for responses that are not id-pkix-ocsp-basic. */
static const char *type_str(const struct ks_ocsp_outer *o, char *buf, size_t len)
{
	const uint8_t *q = o->type;
	ASN1_OBJECT *obj = d2i_ASN1_OBJECT(NULL, &q, (long)o->type_len);

	if (!obj || OBJ_obj2txt(buf, (int)len, obj, 1) <= 0)
		snprintf(buf, len, "(invalid OID)");
	ASN1_OBJECT_free(obj);
	return buf;
}

static int dump(const struct ks_ocsp_outer *o, bool json, FILE *out)
{
	OCSP_BASICRESP *bs = NULL;
	char type[80];

	if (o->status == OCSP_RESPONSE_STATUS_SUCCESSFUL && o->is_basic) {
		bs = ks_ocsp_basic_decode(o->basic, o->basic_len);
		ENSURE(bs, -EBADMSG);
	}
	if (json) {
		fputc('{', out);
		json_kv(out, "", "response_status", ks_ocsp_status_name(o->status));
	} else {
		fprintf(out, "OCSP Response Status: %s (%d)\n", ks_ocsp_status_name(o->status),
			o->status);
	}
	/* A non-successful response is just its status; a successful one of another type
	 * shows its type, since there is nothing we can decode. */
	if (o->status == OCSP_RESPONSE_STATUS_SUCCESSFUL && !o->is_basic) {
		if (json)
			json_kv(out, ",", "response_type", type_str(o, type, sizeof(type)));
		else
			fprintf(out, "Response Type: %s\n", type_str(o, type, sizeof(type)));
	}
	if (bs)
		dump_basic(bs, json, out);
	if (json)
		fputs("}\n", out);
	OCSP_BASICRESP_free(bs);
	return 0;
}

int ks_ocsp_inspect(const uint8_t *der, size_t len, bool json, FILE *out)
{
	struct ks_ocsp_outer o;
	char why[128];
	int ret;

	ENSURE(out && (der || !len), -EINVAL);
	ENSURE(ks_ocsp_outer_parse(der, len, &o, why, sizeof(why)) == 0, -EBADMSG);
	/* Leave the caller's OpenSSL error queue as it was. */
	ERR_set_mark();
	ret = dump(&o, json, out);
	ERR_pop_to_mark();
	TRY(ret);
	return ferror(out) ? -EIO : 0;
}

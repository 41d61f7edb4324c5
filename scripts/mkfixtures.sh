#!/bin/bash
# SPDX-License-Identifier: MIT
# OCSP response fixtures for kstaple's tests.
#
#   scripts/mkfixtures.sh DIR [PORT]
#
# Runs scripts/mkpki.sh --force DIR PORT, then writes DIR/ocsp/<name>.der and DIR/ocsp/expected.tsv,
# one line per fixture, tab-separated:
#   <file> <leaf NAME (DIR/pki/leaf/NAME)> <expected ks_verdict_name()> <kstaple verify exit code>
# Exit codes: 0 good, 1 revoked, 2 anything else.
#
# Responses are signed by OpenSSL's responder in offline mode (`openssl ocsp -index -reqin
# -respout`); times are shifted with faketime. Valid responses have nextUpdate = now + 7 days,
# so the fixtures must be regenerated at least weekly (the Makefile does it daily). Before the
# new set replaces the old one, every fixture is checked with `openssl ocsp` (status, and for the
# acceptable ones, the signature and chain), so a set that is wrong is never installed.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 DIR [PORT]" >&2
	exit 64
fi
here=$(cd "$(dirname "$0")" && pwd)
"$here/mkpki.sh" --force "$1" ${2:+"$2"}
DIR=$(cd "$1" && pwd)
P=$DIR/pki
I=$P/ca/intermediate
export OPENSSL_CONF=/dev/null

command -v faketime >/dev/null || {
	echo "mkfixtures: faketime is missing (apt-get install faketime, or make deps)" >&2
	exit 1
}

W=$(mktemp -d "$DIR/.ocsp.XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir "$W/req"

run() {
	local out
	if ! out=$("$@" 2>&1); then
		echo "mkfixtures: failed: $*" >&2
		printf '%s\n' "$out" >&2
		exit 1
	fi
}

# req NAME LEAF...: a request (SHA-1 CertID, no nonce) for the leaves, all issued by I.
req() {
	local name=$1 l args=()
	shift
	for l in "$@"; do args+=(-cert "$P/leaf/$l/cert.pem"); done
	run openssl ocsp -issuer "$I/ca.crt" "${args[@]}" -no_nonce -reqout "$W/req/$name.der"
}

# sign OUT REQ [options...]: OpenSSL's responder answers REQ from the intermediate's index.txt.
# Options may override the signer (-rsigner/-rkey) and validity (-ndays); FAKETIME=... in the
# environment shifts the clock (thisUpdate, producedAt and nextUpdate move with it).
sign() {
	local out=$1 rq=$2 signer=(-rsigner "$I/ca.crt" -rkey "$I/ca.key")
	shift 2
	case " $* " in *" -rsigner "*) signer=() ;; esac
	local ft=()
	[ -n "${SHIFT:-}" ] && ft=(faketime -f "$SHIFT")
	run "${ft[@]}" openssl ocsp -index "$I/index.txt" -CA "$I/ca.crt" "${signer[@]}" \
		-reqin "$W/req/$rq.der" -respout "$W/$out.der" "$@"
}

TSV=$W/expected.tsv
: >"$TSV"
expect() { printf '%s.der\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$TSV"; }

req ecdsa ecdsa
req rsa rsa
req muststaple muststaple
req revoked revoked
req unlisted unlisted
req two ecdsa rsa

# --- acceptable responses ----------------------------------------------------------------------
sign good ecdsa -ndays 7
expect good ecdsa good 0
sign good-rsa rsa -ndays 7
expect good-rsa rsa good 0
sign good-muststaple muststaple -ndays 7
expect good-muststaple muststaple good 0
# RFC 6960 §4.2.1: certs is OPTIONAL; the issuer itself signed, so the verifier needs none.
sign good-nocerts ecdsa -ndays 7 -resp_no_certs
expect good-nocerts ecdsa good 0
# ResponderID byKey (SHA-1 of the signer's public key) instead of byName.
sign good-bykey ecdsa -ndays 7 -resp_key_id
expect good-bykey ecdsa good 0
sign revoked revoked -ndays 7
expect revoked revoked revoked 1
# A delegated responder (RSA key, id-kp-OCSPSigning) issued by the intermediate; its
# certificate travels in the response's certs.
sign delegate ecdsa -ndays 7 -rsigner "$P/responder/delegate.crt" \
	-rkey "$P/responder/delegate.key"
expect delegate ecdsa good 0

# --- rejected responses ------------------------------------------------------------------------
# The serial is not in index.txt: "unknown" is well formed but must never be stapled.
sign unknown unlisted -ndays 7
expect unknown unlisted unknown 2
# thisUpdate 2 days ago, nextUpdate 1 day ago.
SHIFT=-2d sign expired ecdsa -ndays 1
expect expired ecdsa expired 2
# thisUpdate (and producedAt) 1 day ahead.
SHIFT=+1d sign notyet ecdsa -ndays 7
expect notyet ecdsa not-yet-valid 2
# No -ndays/-nmin: OpenSSL leaves nextUpdate out.
sign nonext ecdsa
expect nonext ecdsa no-next-update 2
# Signed by an unrelated CA (its certificate included): neither the issuer nor issued by it.
sign wrongkey ecdsa -ndays 7 -rsigner "$P/wrongca/ca.crt" -rkey "$P/wrongca/ca.key"
expect wrongkey ecdsa untrusted-signer 2
sign delegate-noeku ecdsa -ndays 7 -rsigner "$P/responder/delegate-noeku.crt" \
	-rkey "$P/responder/delegate-noeku.key"
expect delegate-noeku ecdsa delegate-no-eku 2
# A valid response, but for the rsa leaf: checked against the ecdsa leaf.
sign othercert rsa -ndays 7
expect othercert ecdsa certid-mismatch 2
sign two two -ndays 7
expect two ecdsa multiple-responses 2

# Signature with its last byte flipped. Without certs the signature BIT STRING ends the DER,
# so the last byte of the file is the last byte of ECDSA's s: still DER, no longer valid.
hex() { xxd -p -c 1000000 "$1"; }
h=$(hex "$W/good-nocerts.der")
last=$((0x${h: -2} ^ 0x01))
printf '%s%02x' "${h:0:${#h}-2}" "$last" | xxd -r -p >"$W/badsig.der"
expect badsig ecdsa bad-signature 2

# responseType (RFC 6960 §4.2.1: id-pkix-ocsp-basic = 1.3.6.1.5.5.7.48.1.1, DER
# 06 09 2b 06 01 05 05 07 30 01 01) changed to an unknown arc ...48.1.99: not Basic.
h=$(hex "$W/good.der")
case $h in *06092b0601050507300101*) ;; *)
	echo "mkfixtures: id-pkix-ocsp-basic not found in good.der" >&2
	exit 1
	;;
esac
printf '%s' "${h/06092b0601050507300101/06092b0601050507300163}" | xxd -r -p >"$W/notbasic.der"
expect notbasic ecdsa not-basic 2

# RFC 6960 §4.2.1: OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, responseBytes [0]
# EXPLICIT ... OPTIONAL }; a failure status comes without responseBytes.
printf '\x30\x03\x0a\x01\x03' >"$W/trylater.der"
expect trylater ecdsa not-successful 2
printf '\x30\x03\x0a\x01\x02' >"$W/internalerror.der"
expect internalerror ecdsa not-successful 2
# malformedRequest (1) and unauthorized (6): the other statuses a server may send.
printf '\x30\x03\x0a\x01\x06' >"$W/unauthorized.der"
expect unauthorized ecdsa not-successful 2

size=$(stat -c %s "$W/good.der")
head -c $((size / 2)) "$W/good.der" >"$W/truncated.der"
expect truncated ecdsa malformed 2
# What a misconfigured proxy or responder sends instead of DER.
cat >"$W/html.der" <<'EOF'
<!DOCTYPE html>
<html><head><title>502 Bad Gateway</title></head>
<body><h1>Bad Gateway</h1><p>The OCSP service is temporarily unavailable.</p></body></html>
EOF
expect html ecdsa malformed 2
: >"$W/empty.der"
expect empty ecdsa malformed 2

# --- self-check with OpenSSL -------------------------------------------------------------------
bad() {
	echo "mkfixtures: $1: $2" >&2
	exit 1
}
# What `openssl ocsp -resp_text` says about the (first) certificate status, or the failure.
status_of() {
	openssl ocsp -respin "$1" -resp_text -noverify 2>&1 |
		sed -n 's/^ *Cert Status: \([a-z]*\).*/\1/p; s/^Responder Error: \([a-z]*\).*/=\1/p' |
		head -n 1 || true
}
while IFS=$'\t' read -r f leaf verdict code; do
	name=${f%.der}
	st=$(status_of "$W/$f")
	case $verdict in
	good | revoked | unknown) want=$verdict ;;
	not-successful) want="=$name" ;; # OpenSSL's names: trylater, internalerror, unauthorized
	malformed | not-basic) want= ;;
	*) want=good ;;
	esac
	[ "$st" = "$want" ] || bad "$f" "openssl says status '$st', expected '$want'"
	# Acceptable ones must also pass OpenSSL's own verification (signature, signer, chain).
	if [ "$code" != 2 ] || [ "$verdict" = unknown ]; then
		out=$(openssl ocsp -respin "$W/$f" -issuer "$I/ca.crt" -CAfile "$P/ca/chain.pem" \
			-cert "$P/leaf/$leaf/cert.pem" -no_nonce 2>&1) ||
			bad "$f" "openssl ocsp does not accept it: $out"
		case $out in *"Response verify OK"*) ;; *) bad "$f" "not verified: $out" ;; esac
	fi
done <"$TSV"
# And OpenSSL must reject the signatures we mean to be bad.
for f in badsig wrongkey delegate-noeku; do
	if openssl ocsp -respin "$W/$f.der" -issuer "$I/ca.crt" -CAfile "$P/ca/chain.pem" \
		-cert "$P/leaf/ecdsa/cert.pem" -no_nonce >/dev/null 2>&1; then
		bad "$f.der" "openssl ocsp accepts it"
	fi
done

rm -rf "$W/req"
rm -rf "$DIR/ocsp.old"
[ -e "$DIR/ocsp" ] && mv "$DIR/ocsp" "$DIR/ocsp.old"
mv "$W" "$DIR/ocsp"
rm -rf "$DIR/ocsp.old"
trap - EXIT

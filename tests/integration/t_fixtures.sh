#!/bin/bash
# SPDX-License-Identifier: MIT
# The generated test PKI and OCSP fixtures (scripts/mkfixtures.sh) are what the other tests
# assume: checked with the openssl CLI, then against OpenSSL's live responder, before and after
# a revocation in the test's own copy of the PKI.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh disable=SC1091
. "$here/lib.sh"
export OPENSSL_CONF=/dev/null

use_pki
I=$P/ca/intermediate
ROOT=$P/ca/root/ca.crt
PORT=$(cat "$P/ocsp-port")
# The copy's openssl.cnf files still name the original tree: point them at the copy, so that
# revoking below cannot touch the shared fixtures.
sed -i -E "s#^dir = .*/pki/ca/(root|intermediate)\$#dir = $P/ca/\1#" "$P"/ca/*/openssl.cnf
grep -q "^dir = $I\$" "$I/openssl.cnf" || fail "could not relocate $I/openssl.cnf"
orig_index=$(cat "$KS_FIXTURES/pki/ca/intermediate/index.txt")

ext() { openssl x509 -in "$1" -noout -ext "$2" 2>/dev/null || true; }

step "layout"
for f in ca/root/ca.crt ca/root/ca.key ca/intermediate/ca.crt ca/intermediate/ca.key \
	ca/intermediate/index.txt ca/intermediate/openssl.cnf ca/intermediate/serial \
	ca/intermediate/crlnumber responder/delegate.crt responder/delegate.key \
	responder/delegate-noeku.crt responder/delegate-noeku.key wrongca/ca.crt wrongca/ca.key \
	ocsp-port; do
	[ -s "$P/$f" ] || fail "missing $P/$f"
done
case $PORT in '' | *[!0-9]*) fail "ocsp-port is '$PORT'" ;; esac
LEAVES="ecdsa rsa noaia muststaple revoked expired unlisted"
for l in $LEAVES; do
	d=$P/leaf/$l
	for f in cert.pem chain.pem key.pem; do [ -s "$d/$f" ] || fail "missing $d/$f"; done
	[ "$(stat -c %a "$d/key.pem")" = 600 ] || fail "$d/key.pem is not mode 600"
	[ "$(openssl x509 -in "$d/cert.pem" -noout -fingerprint)" = \
		"$(openssl x509 -in "$d/chain.pem" -noout -fingerprint)" ] ||
		fail "$d/chain.pem does not start with cert.pem"
	[ "$(grep -c 'BEGIN CERTIFICATE' "$d/chain.pem")" = 2 ] || fail "$d/chain.pem: not 2 certs"
	tail -n +"$(($(wc -l <"$d/cert.pem") + 1))" "$d/chain.pem" | cmp -s - "$I/ca.crt" ||
		fail "$d/chain.pem: second certificate is not the intermediate"
	# The key belongs to the certificate.
	[ "$(openssl x509 -in "$d/cert.pem" -noout -pubkey)" = \
		"$(openssl pkey -in "$d/key.pem" -pubout)" ] || fail "$d/key.pem does not match cert.pem"
	san=$(ext "$d/cert.pem" subjectAltName)
	case $san in *DNS:localhost*"IP Address:127.0.0.1"*) ;; *) fail "$l: SAN is '$san'" ;; esac
	case $(ext "$d/cert.pem" extendedKeyUsage) in *"TLS Web Server Authentication"*) ;;
	*) fail "$l: no serverAuth EKU" ;; esac
done
openssl x509 -in "$P/leaf/ecdsa/cert.pem" -noout -text | grep -q 'NIST CURVE: P-256' ||
	fail "ecdsa leaf is not P-256"
openssl x509 -in "$P/leaf/rsa/cert.pem" -noout -text | grep -q 'Public-Key: (2048 bit)' ||
	fail "rsa leaf is not RSA 2048"

step "chains verify against the root (expired must not)"
for l in $LEAVES; do
	out=$(openssl verify -CAfile "$ROOT" -untrusted "$I/ca.crt" "$P/leaf/$l/cert.pem" 2>&1) && rc=0 || rc=$?
	if [ "$l" = expired ]; then
		[ "$rc" -ne 0 ] || fail "expired leaf verifies"
		case $out in *"certificate has expired"*) ;; *) fail "expired leaf: $out" ;; esac
	else
		[ "$rc" -eq 0 ] || fail "$l does not verify: $out"
	fi
done
for c in responder/delegate.crt responder/delegate-noeku.crt; do
	openssl verify -CAfile "$ROOT" -untrusted "$I/ca.crt" "$P/$c" >/dev/null 2>&1 ||
		fail "$c is not issued under the root"
	[ "$(openssl x509 -in "$P/$c" -noout -issuer)" = \
		"issuer=$(openssl x509 -in "$I/ca.crt" -noout -subject | sed 's/^subject=//')" ] ||
		fail "$c is not issued by the intermediate"
done
if openssl verify -CAfile "$ROOT" -untrusted "$I/ca.crt" "$P/wrongca/ca.crt" >/dev/null 2>&1; then
	fail "wrongca verifies under the root"
fi

step "AIA and TLS Feature"
for l in ecdsa rsa muststaple revoked expired unlisted; do
	aia=$(ext "$P/leaf/$l/cert.pem" authorityInfoAccess)
	case $aia in *"OCSP - URI:http://127.0.0.1:$PORT"*) ;;
	*) fail "$l: AIA is '$aia', want OCSP http://127.0.0.1:$PORT" ;; esac
done
[ -z "$(ext "$P/leaf/noaia/cert.pem" authorityInfoAccess)" ] || fail "noaia has an AIA"
case $(ext "$P/leaf/muststaple/cert.pem" tlsfeature) in *status_request*) ;;
*) fail "muststaple has no TLS Feature status_request" ;; esac
[ -z "$(ext "$P/leaf/ecdsa/cert.pem" tlsfeature)" ] || fail "ecdsa has a TLS Feature"

step "delegated responders"
case $(ext "$P/responder/delegate.crt" extendedKeyUsage) in *"OCSP Signing"*) ;;
*) fail "delegate.crt lacks id-kp-OCSPSigning" ;; esac
ext "$P/responder/delegate.crt" noCheck | grep -q 'OCSP No Check' || fail "delegate.crt: no nocheck"
case $(ext "$P/responder/delegate-noeku.crt" extendedKeyUsage) in *"OCSP Signing"*)
	fail "delegate-noeku.crt has id-kp-OCSPSigning" ;;
esac

step "index.txt"
serial() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//'; }
for l in ecdsa rsa noaia muststaple revoked expired; do
	grep -q "	$(serial "$P/leaf/$l/cert.pem")	" "$I/index.txt" || fail "$l not in index.txt"
done
grep -q "^R	.*keyCompromise	$(serial "$P/leaf/revoked/cert.pem")	" "$I/index.txt" ||
	fail "revoked leaf is not revoked (keyCompromise) in index.txt"
if grep -q "	$(serial "$P/leaf/unlisted/cert.pem")	" "$I/index.txt"; then
	fail "unlisted leaf is in index.txt"
fi

step "expected.tsv"
O=$KS_FIXTURES/ocsp
TOKENS=" good revoked unknown malformed not-successful not-basic bad-signature untrusted-signer
	delegate-no-eku certid-mismatch multiple-responses not-yet-valid expired no-next-update "
n=0
while IFS=$'\t' read -r f leaf verdict code rest; do
	n=$((n + 1))
	[ -z "${rest:-}" ] || fail "expected.tsv line $n: more than 4 fields"
	[ -f "$O/$f" ] || fail "expected.tsv line $n: no $O/$f"
	[ -f "$P/leaf/$leaf/cert.pem" ] || fail "expected.tsv line $n: no leaf '$leaf'"
	case $TOKENS in *[[:space:]]"$verdict"[[:space:]]*) ;;
	*) fail "expected.tsv line $n: unknown verdict '$verdict'" ;; esac
	case $verdict in good) want=0 ;; revoked) want=1 ;; *) want=2 ;; esac
	[ "$code" = "$want" ] || fail "expected.tsv line $n: exit code $code for $verdict"
done <"$O/expected.tsv"
for f in good revoked unknown expired notyet nonext wrongkey delegate delegate-noeku othercert \
	two trylater internalerror truncated html; do
	grep -q "^$f.der	" "$O/expected.tsv" || fail "expected.tsv has no $f.der"
done

step "response statuses"
# cert_status FILE: the first "Cert Status" in the response, or "Responder Error: ..." line.
cert_status() {
	openssl ocsp -respin "$1" -resp_text -noverify 2>&1 |
		sed -n 's/^ *Cert Status: \([a-z]*\).*/\1/p; s/^Responder Error: \([a-z]*\).*/=\1/p' |
		head -n 1 || true
}
for pair in good:good revoked:revoked unknown:unknown delegate:good two:good \
	trylater:=trylater internalerror:=internalerror; do
	f=${pair%%:*} want=${pair#*:}
	got=$(cert_status "$O/$f.der")
	[ "$got" = "$want" ] || fail "$f.der: status '$got', want '$want'"
done
openssl ocsp -respin "$O/revoked.der" -resp_text -noverify | grep -q 'Reason: keyCompromise' ||
	fail "revoked.der: reason is not keyCompromise"
[ "$(openssl ocsp -respin "$O/two.der" -resp_text -noverify | grep -c 'Cert Status:')" = 2 ] ||
	fail "two.der does not hold two SingleResponses"
openssl ocsp -respin "$O/nonext.der" -resp_text -noverify | grep -q 'Next Update' &&
	fail "nonext.der has a nextUpdate"
if openssl ocsp -respin "$O/truncated.der" -resp_text -noverify >/dev/null 2>&1; then
	fail "truncated.der parses"
fi
if openssl ocsp -respin "$O/html.der" -resp_text -noverify >/dev/null 2>&1; then
	fail "html.der parses"
fi
# OpenSSL checks the validity period: expired and notyet must draw its warnings.
check() { # check FILE LEAF: OpenSSL's verdict (signature, chain, CertID, times)
	openssl ocsp -respin "$O/$1.der" -issuer "$I/ca.crt" -CAfile "$P/ca/chain.pem" \
		-cert "$P/leaf/$2/cert.pem" -no_nonce 2>&1
}
case $(check good ecdsa) in *"Response verify OK"*": good"*) ;; *) fail "good.der: $(check good ecdsa)" ;; esac
case $(check delegate ecdsa) in *"Response verify OK"*": good"*) ;;
*) fail "delegate.der: $(check delegate ecdsa)" ;; esac
case $(check expired ecdsa) in *"status expired"*) ;; *) fail "expired.der is current" ;; esac
case $(check notyet ecdsa) in *"status not yet valid"*) ;; *) fail "notyet.der is current" ;; esac
for f in wrongkey delegate-noeku badsig; do
	check "$f" ecdsa | grep -q 'Response verify OK' && fail "$f.der verifies"
done
# othercert: a valid response, but OpenSSL finds no status for the ecdsa leaf in it.
case $(check othercert ecdsa) in *"No Status found"*) ;; *) fail "othercert.der: $(check othercert ecdsa)" ;; esac

step "live responder"
# fetch LEAF: status of LEAF from the responder on $RPORT (the URL overrides the AIA port).
fetch() {
	local out
	out=$(openssl ocsp -issuer "$I/ca.crt" -cert "$P/leaf/$1/cert.pem" \
		-url "http://127.0.0.1:$RPORT" -respout "$T/$1.der" -no_nonce -timeout 10 \
		-CAfile "$P/ca/chain.pem" 2>&1) || fail "fetch $1: $out"
	case $out in *"Response verify OK"*) ;; *) fail "fetch $1: not verified: $out" ;; esac
	printf '%s\n' "$out" | sed -n "s|^$P/leaf/$1/cert.pem: \([a-z]*\).*|\1|p"
}
RPORT=$(free_port)
start_responder "$RPORT"
[ "$(fetch ecdsa)" = good ] || fail "responder: ecdsa is not good"
[ "$(fetch revoked)" = revoked ] || fail "responder: revoked is not revoked"
[ "$(fetch unlisted)" = unknown ] || fail "responder: unlisted is not unknown"
[ "$(cert_status "$T/ecdsa.der")" = good ] || fail "fetched response does not say good"

step "revoke in the copy, restart the responder"
out=$(openssl ca -config "$I/openssl.cnf" -revoke "$P/leaf/ecdsa/cert.pem" \
	-crl_reason keyCompromise 2>&1) || fail "openssl ca -revoke: $out"
kill "$RESPONDER_PID"
wait "$RESPONDER_PID" 2>/dev/null || true
RPORT=$(free_port)
start_responder "$RPORT"
[ "$(fetch ecdsa)" = revoked ] || fail "responder: ecdsa is not revoked after openssl ca -revoke"
[ "$(fetch rsa)" = good ] || fail "responder: rsa is not good after revoking ecdsa"
[ "$(cat "$KS_FIXTURES/pki/ca/intermediate/index.txt")" = "$orig_index" ] ||
	fail "revoking in the copy changed the shared fixtures' index.txt"
echo "fixtures OK"

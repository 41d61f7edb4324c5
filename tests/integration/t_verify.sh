#!/bin/bash
# SPDX-License-Identifier: MIT
# kstaple verify / inspect on every generated fixture, --at moving a response in and out of its
# validity window, and responses fetched live from OpenSSL's responder: good, then revoked.
. "$(dirname "$0")/lib.sh"
use_pki
F=$KS_FIXTURES/ocsp
I=$P/ca/intermediate/ca.crt

step "every fixture gets its documented verdict and exit code"
n=0
while IFS=$'\t' read -r file leaf verdict code; do
	set +e
	out=$("$KSTAPLE" verify --cert "$KS_FIXTURES/pki/leaf/$leaf/cert.pem" \
		--issuer "$KS_FIXTURES/pki/ca/intermediate/ca.crt" --response "$F/$file" 2>&1)
	rc=$?
	set -e
	got=$(awk '/^verdict:/{print $2}' <<<"$out")
	[ "$rc" = "$code" ] || fail "$file: exit $rc, want $code ($out)"
	[ "$got" = "$verdict" ] || fail "$file: verdict '$got', want '$verdict'"
	n=$((n + 1))
done <"$F/expected.tsv"
[ "$n" -ge 20 ] || fail "only $n fixtures in expected.tsv"
echo "$n fixtures checked"

verify_at() { # verify_at FILE AT -> prints exit code
	set +e
	"$KSTAPLE" verify --cert "$KS_FIXTURES/pki/leaf/ecdsa/cert.pem" \
		--issuer "$KS_FIXTURES/pki/ca/intermediate/ca.crt" --response "$1" --at "$2" >"$T/at.out" 2>&1
	echo $?
	set -e
}

step "--at moves good.der out of and back into its validity window"
this=$(openssl ocsp -respin "$F/good.der" -resp_text -noverify | awk -F': ' '/This Update/{print $2; exit}')
next=$(openssl ocsp -respin "$F/good.der" -resp_text -noverify | awk -F': ' '/Next Update/{print $2; exit}')
t_this=$(date -d "$this" +%s)
t_next=$(date -d "$next" +%s)
[ "$(verify_at "$F/good.der" $((t_this + 60)))" = 0 ] || fail "good just after thisUpdate"
[ "$(verify_at "$F/good.der" $((t_next + 301)))" = 2 ] || fail "good after nextUpdate + skew"
grep -q '^verdict: expired' "$T/at.out" || fail "after nextUpdate: $(cat "$T/at.out")"
[ "$(verify_at "$F/good.der" $((t_this - 301)))" = 2 ] || fail "good before thisUpdate - skew"
grep -q '^verdict: not-yet-valid' "$T/at.out" || fail "before thisUpdate: $(cat "$T/at.out")"

step "--at moves expired.der back into its window, notyet.der into its own"
this=$(openssl ocsp -respin "$F/expired.der" -resp_text -noverify | awk -F': ' '/This Update/{print $2; exit}')
[ "$(verify_at "$F/expired.der" $(($(date -d "$this" +%s) + 60)))" = 0 ] || fail "expired.der in its window"
this=$(openssl ocsp -respin "$F/notyet.der" -resp_text -noverify | awk -F': ' '/This Update/{print $2; exit}')
[ "$(verify_at "$F/notyet.der" $(($(date -d "$this" +%s) + 60)))" = 0 ] || fail "notyet.der in its window"

step "usage and input errors exit 64+"
set +e
"$KSTAPLE" verify --cert x >/dev/null 2>&1; [ $? = 64 ] || fail "missing options: not 64"
"$KSTAPLE" verify --cert "$P/leaf/ecdsa/cert.pem" --issuer "$I" --response "$T/nope.der" 2>/dev/null
[ $? = 66 ] || fail "missing response file: not 66"
"$KSTAPLE" verify --cert "$P/leaf/ecdsa/cert.pem" --issuer "$I" --response "$F/good.der" --at yesterday 2>/dev/null
[ $? = 64 ] || fail "bad --at: not 64"
"$KSTAPLE" inspect "$F/html.der" >/dev/null 2>&1; [ $? = 65 ] || fail "inspect html: not 65"
set -e

step "inspect --json is JSON and names the serial"
"$KSTAPLE" inspect --json "$F/revoked.der" | python3 -c '
import json, sys
d = json.load(sys.stdin)
r = d["responses"][0]
assert r["status"] == "revoked", r
assert r["revocation_reason"] == "keyCompromise", r
print("serial", r["certid"]["serial"])'

step "a live response from openssl ocsp verifies good, and revoked after openssl ca -revoke"
port=$(free_port)
start_responder "$port"
fetch() {
	openssl ocsp -issuer "$I" -cert "$P/leaf/ecdsa/cert.pem" -no_nonce -noverify \
		-url "http://127.0.0.1:$port" -respout "$T/live.der" >/dev/null 2>&1
}
fetch
"$KSTAPLE" verify --cert "$P/leaf/ecdsa/cert.pem" --issuer "$I" --response "$T/live.der" \
	|| fail "live response not good"
openssl ca -config "$P/ca/intermediate/openssl.cnf" -revoke "$P/leaf/ecdsa/cert.pem" \
	-crl_reason keyCompromise >/dev/null 2>&1
kill "$RESPONDER_PID"
wait "$RESPONDER_PID" 2>/dev/null || true
start_responder "$port"
fetch
set +e
"$KSTAPLE" verify --cert "$P/leaf/ecdsa/cert.pem" --issuer "$I" --response "$T/live.der" >"$T/rev.out"
rc=$?
set -e
[ $rc = 1 ] || fail "revoked live response: exit $rc ($(cat "$T/rev.out"))"
grep -q '^verdict: revoked' "$T/rev.out" || fail "revoked verdict missing"
echo ok

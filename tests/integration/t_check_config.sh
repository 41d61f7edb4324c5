#!/bin/bash
# SPDX-License-Identifier: MIT
# kstaple check-config: one line per certificate, persisted staples re-verified, and errors
# that name the file, line and key (or the certificate).
. "$(dirname "$0")/lib.sh"
use_pki
mkdir -p "$T/state"
cat >"$T/ok.conf" <<CONF
[kstaple]
state_dir = $T/state
[cert:ecdsa]
chain = $P/leaf/ecdsa/chain.pem
key = $P/leaf/ecdsa/key.pem
[cert:must]
chain = $P/leaf/muststaple/chain.pem
key = $P/leaf/muststaple/key.pem
[cert:noaia]
chain = $P/leaf/noaia/chain.pem
key = $P/leaf/noaia/key.pem
CONF

step "a good configuration: exit 0, one line per certificate"
"$KSTAPLE" check-config -c "$T/ok.conf" >"$T/out" 2>"$T/err" || fail "exit $?: $(cat "$T/err")"
cat "$T/out"
grep -Eq '^ecdsa +ecdsa +no +http://127\.0\.0\.1:[0-9]+ +none' "$T/out" || fail "ecdsa line"
grep -Eq '^must +ecdsa +yes ' "$T/out" || fail "must-staple not detected"
grep -Eq '^noaia .*\(none: not fetched\)' "$T/out" || fail "noaia line"

step "a persisted staple is shown with its verdict; a corrupt one is reported and ignored"
# The state file is named by the SHA-256 of the DER CertID (RFC 6960 §4.1.1): take the CertID
# out of the request openssl builds (OCSPRequest > tbsRequest > requestList > Request > CertID).
state_name() {
	openssl ocsp -issuer "$P/ca/intermediate/ca.crt" -cert "$P/leaf/$1/cert.pem" -no_nonce \
		-reqout "$T/req.der" >/dev/null 2>&1
	python3 - "$T/req.der" <<'PY'
import hashlib, sys
d = open(sys.argv[1], "rb").read()
def tlv(b, i):
    n = b[i + 1]; h = 2
    if n & 0x80:
        k = n & 0x7f; n = int.from_bytes(b[i + 2:i + 2 + k], "big"); h = 2 + k
    return i + h, i + h + n          # value start, end
i = 0
for _ in range(4):                   # descend into the first element four times
    i, _end = tlv(d, i)
s, e = tlv(d, i)
print(hashlib.sha256(d[i:e]).hexdigest())
PY
}
cp "$KS_FIXTURES/ocsp/good.der" "$T/state/$(state_name ecdsa).der"
head -c 100 "$KS_FIXTURES/ocsp/good.der" >"$T/state/$(state_name muststaple).der"
"$KSTAPLE" check-config -c "$T/ok.conf" >"$T/out" 2>"$T/err" || fail "exit $?: $(cat "$T/err")"
cat "$T/out" "$T/err"
grep -Eq '^ecdsa .* good, age [0-9]+[smhd], expires in [0-9]+[smhd]' "$T/out" || fail "cached good staple"
grep -Eq '^must .* none$' "$T/out" || fail "corrupt staple not ignored"
grep -q "$(state_name muststaple).der" "$T/err" || fail "corrupt file not named in a warning"
[ -f "$T/state/$(state_name muststaple).der" ] || fail "corrupt file deleted"

step "errors name the file and line, or the certificate and its file"
printf '[kstaple]\nstate_dir = %s\n[fetch]\nmax_concurrency = 0\n' "$T/state" >"$T/bad.conf"
set +e
"$KSTAPLE" check-config -c "$T/bad.conf" >/dev/null 2>"$T/err"; rc=$?
set -e
[ $rc = 78 ] || fail "bad value: exit $rc"
grep -q "bad.conf:4" "$T/err" || fail "no file:line in: $(cat "$T/err")"
grep -q "max_concurrency" "$T/err" || fail "no key in: $(cat "$T/err")"

sed "s#$P/leaf/ecdsa/key.pem#$P/leaf/rsa/key.pem#" "$T/ok.conf" >"$T/mismatch.conf"
set +e
"$KSTAPLE" check-config -c "$T/mismatch.conf" >"$T/out" 2>"$T/err"; rc=$?
set -e
[ $rc = 78 ] || fail "key mismatch: exit $rc"
grep -q "cert ecdsa" "$T/err" || fail "certificate not named: $(cat "$T/err")"
grep -q "rsa/key.pem" "$T/err" || fail "key file not named: $(cat "$T/err")"

set +e
"$KSTAPLE" check-config -c "$T/missing.conf" 2>"$T/err"; rc=$?
set -e
[ $rc = 78 ] || fail "missing config: exit $rc"
grep -q "missing.conf" "$T/err" || fail "missing file not named"
echo ok

#!/bin/bash
# SPDX-License-Identifier: MIT
# The self-contained kstaple demo (`make demo`): a test CA, OpenSSL's OCSP responder on
# 127.0.0.1, and kstaple deciding what may be stapled. Everything it starts, it stops.
set -euo pipefail

KSTAPLE=${KSTAPLE:-$(cd "$(dirname "$0")/.." && pwd)/build/kstaple}
here=$(cd "$(dirname "$0")" && pwd)
D=$(mktemp -d /tmp/kstaple-demo.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$D"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "1. A test PKI: root CA, intermediate CA, ECDSA and RSA leaves for localhost"
# A port nobody uses, so the demo never talks to some other responder by mistake.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$here/mkpki.sh" "$D" "$port" >/dev/null
P=$D/pki
I=$P/ca/intermediate
echo "PKI in $P; the leaves' AIA names http://127.0.0.1:$port"

say "2. OpenSSL's OCSP responder for the intermediate CA on 127.0.0.1:$port"
openssl ocsp -index "$I/index.txt" -port "$port" -rsigner "$I/ca.crt" -rkey "$I/ca.key" \
	-CA "$I/ca.crt" -nmin 60 -ignore_err >"$D/responder.log" 2>&1 &
pids+=($!)
# Never probe the responder with a bare connect (OpenSSL 3.0 spins on it): ask ss instead.
for _ in $(seq 1 100); do ss -Hltn "sport = :$port" | grep -q . && break; sleep 0.05; done

say "3. Fetch a response for the ECDSA leaf with the openssl CLI"
run openssl ocsp -issuer "$I/ca.crt" -cert "$P/leaf/ecdsa/cert.pem" -no_nonce \
	-url "http://127.0.0.1:$port" -respout "$D/ecdsa.der" -noverify >/dev/null
echo "saved $(stat -c %s "$D/ecdsa.der") bytes to $D/ecdsa.der"

say "4. kstaple inspect: what the responder said"
run "$KSTAPLE" inspect "$D/ecdsa.der"

say "5. kstaple verify: may it be stapled? (exit 0 = good)"
run "$KSTAPLE" verify --cert "$P/leaf/ecdsa/cert.pem" --issuer "$I/ca.crt" --response "$D/ecdsa.der"
echo "exit status: $?"

say "6. The same response a day after its nextUpdate (--at): never stapled"
later=$(( $(date +%s) + 2 * 86400 ))
set +e
run "$KSTAPLE" verify --cert "$P/leaf/ecdsa/cert.pem" --issuer "$I/ca.crt" \
	--response "$D/ecdsa.der" --at "$later"
echo "exit status: $? (2 = not stapleable)"

say "7. The same response checked against the RSA leaf: wrong CertID"
run "$KSTAPLE" verify --cert "$P/leaf/rsa/cert.pem" --issuer "$I/ca.crt" --response "$D/ecdsa.der"
echo "exit status: $?"
set -e

say "8. Revoke the RSA leaf, restart the responder, fetch and verify again"
openssl ca -config "$I/openssl.cnf" -revoke "$P/leaf/rsa/cert.pem" -crl_reason keyCompromise \
	>/dev/null 2>&1
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
openssl ocsp -index "$I/index.txt" -port "$port" -rsigner "$I/ca.crt" -rkey "$I/ca.key" \
	-CA "$I/ca.crt" -nmin 60 -ignore_err >>"$D/responder.log" 2>&1 &
pids[0]=$!
for _ in $(seq 1 100); do ss -Hltn "sport = :$port" | grep -q . && break; sleep 0.05; done
openssl ocsp -issuer "$I/ca.crt" -cert "$P/leaf/rsa/cert.pem" -no_nonce \
	-url "http://127.0.0.1:$port" -respout "$D/rsa.der" -noverify >/dev/null
set +e
run "$KSTAPLE" verify --cert "$P/leaf/rsa/cert.pem" --issuer "$I/ca.crt" --response "$D/rsa.der"
echo "exit status: $? (1 = revoked: still stapled, because it is the truth)"
set -e

say "Demo finished; everything it started has been stopped."

#!/bin/bash
# SPDX-License-Identifier: MIT
# Issue 3, acceptance 2: after a good staple is stored, each faulty responder (refused,
# silent, HTTP 500, HTML with 200, oversized body, garbage DER, wrong signer, expired response,
# response for another certificate) leaves that staple in place, byte for byte, and writes
# nothing else. Without a stored staple the same fault makes `kstaple fetch` exit 1.
. "$(dirname "$0")/lib.sh"

use_pki
here=$(cd "$(dirname "$0")" && pwd)
leaf=$P/leaf/ecdsa

good_port=$(free_port)
start_responder "$good_port"

python3 "$here/servers/ocsp_fault_server.py" --port-file "$T/fault.port" --log "$T/fault.log" \
	--der-dir "$KS_FIXTURES/ocsp" >"$T/fault.out" 2>&1 &
KS_PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$T/fault.port" ] && break; sleep 0.05; done
[ -s "$T/fault.port" ] || fail "fault server did not start"
F=http://127.0.0.1:$(cat "$T/fault.port")

# mkconf RESPONDER_URL [STATE_DIR]: one ECDSA certificate with a responder override.
mkconf() {
	cat >"$T/k.conf" <<CONF
[kstaple]
state_dir = ${2:-$T/state}

[fetch]
connect_timeout = 1s
timeout = 1s

[cert:ecdsa]
chain = $leaf/chain.pem
key = $leaf/key.pem
responder = $1
CONF
}

osslcheck() {
	openssl ocsp -respin "$1" -issuer "$P/ca/intermediate/ca.crt" -CAfile "$P/ca/root/ca.crt" \
		-no_nonce -cert "$leaf/cert.pem" >"$T/ossl.out" 2>&1 &&
		grep -q "Response verify OK" "$T/ossl.out" && grep -q ": good" "$T/ossl.out"
}

step "seed: a good staple from openssl ocsp"
mkconf "http://127.0.0.1:$good_port"
"$KSTAPLE" fetch -c "$T/k.conf" >"$T/seed.out" 2>&1 || { cat "$T/seed.out"; fail "seed fetch"; }
file=$(ls "$T"/state/*.der)
cp "$file" "$T/good.der"
osslcheck "$file" || { cat "$T/ossl.out"; fail "seed staple not accepted by openssl"; }

# fault NAME URL RESULT STATUS DETAIL_SUBSTRING
fault() {
	local name=$1 url=$2 result=$3 status=$4 detail=$5 rc=0
	step "$name"
	mkconf "$url"
	"$KSTAPLE" fetch -c "$T/k.conf" --json >"$T/$name.json" 2>"$T/$name.err" || rc=$?
	[ "$rc" = 0 ] || { cat "$T/$name.json" "$T/$name.err"; fail "$name: exit $rc, the kept staple is valid"; }
	python3 - "$T/$name.json" "$result" "$status" "$detail" <<'PY' || { cat "$T/$name.json"; fail "$name: wrong report"; }
import json, sys
c = json.load(open(sys.argv[1]))["certificates"][0]
assert c["result"] == sys.argv[2], (c["result"], sys.argv[2])
assert c["status"] == sys.argv[3], (c["status"], sys.argv[3])
assert sys.argv[4] in c["detail"], (c["detail"], sys.argv[4])
assert "kept staple valid until" in c["detail"], c["detail"]
assert c["staple_valid"] is True
PY
	cmp -s "$file" "$T/good.der" || fail "$name: the stored staple changed"
	[ "$(find "$T/state" -mindepth 1 | wc -l)" = 1 ] || { ls -la "$T/state"; fail "$name: stray files"; }
	osslcheck "$file" || fail "$name: stored staple no longer accepted by openssl"
	grep -q "\[cert ecdsa\]" "$T/$name.err" || fail "$name: failure not logged with the certificate name"
}

fault refused "http://127.0.0.1:$(free_port)/" http-error connect "connection refused"
t0=$(date +%s%N)
fault timeout "$F/slow" http-error timeout "timeout"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -lt 8000 ] || fail "timeout took $ms ms for a 1 s limit"
fault http500 "$F/500" http-error http-500 "HTTP status 500"
fault html200 "$F/html" http-error content-type "wrong content type 'text/html'"
fault oversized "$F/oversized" http-error too-large "body over 65536 bytes"
fault garbage "$F/garbage" rejected malformed "DER"
fault wrongkey "$F/der/wrongkey" rejected untrusted-signer "signed by neither"
fault expired "$F/der/expired" rejected expired "nextUpdate"
fault othercert "$F/der/othercert" rejected certid-mismatch "another certificate"

step "the same fault without a stored staple: exit 1 and nothing written"
mkconf "$F/500" "$T/empty-state"
rc=0; "$KSTAPLE" fetch -c "$T/k.conf" >"$T/nostaple.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat "$T/nostaple.out"; fail "exit $rc, want 1"; }
[ -z "$(ls -A "$T/empty-state")" ] || fail "something was written to the empty state_dir"
mkconf "$F/der/expired" "$T/empty-state"
rc=0; "$KSTAPLE" fetch -c "$T/k.conf" >"$T/nostaple2.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat "$T/nostaple2.out"; fail "expired response accepted: exit $rc"; }
[ -z "$(ls -A "$T/empty-state")" ] || fail "an expired response was written"
echo ok

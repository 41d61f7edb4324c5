#!/bin/bash
# SPDX-License-Identifier: MIT
# Issue 3, acceptance 1: `kstaple fetch` against OpenSSL's OCSP responder. Three certificates
# (ECDSA, RSA, one without an OCSP URL) give two staples that `openssl ocsp -respin` accepts;
# the third is reported (once, at info level), not failed, and never requested.
. "$(dirname "$0")/lib.sh"

use_pki
port=$(cat "$P/ocsp-port")
override=""
if ss -Hltn "sport = :$port" | grep -q .; then
	# Someone else holds the AIA port: keep the test meaningful with an explicit override.
	port=$(free_port)
	override="responder = http://127.0.0.1:$port"
	echo "note: AIA port busy, using responder override on port $port"
fi
start_responder "$port"

conf=$T/kstaple.conf
cat >"$conf" <<CONF
[kstaple]
state_dir = $T/state
log_level = info

[fetch]
timeout = 10s

[cert:ecdsa]
chain = $P/leaf/ecdsa/chain.pem
key = $P/leaf/ecdsa/key.pem
$override

[cert:rsa]
chain = $P/leaf/rsa/chain.pem
key = $P/leaf/rsa/key.pem
$override

[cert:noaia]
chain = $P/leaf/noaia/chain.pem
key = $P/leaf/noaia/key.pem
CONF

step "kstaple fetch --help"
"$KSTAPLE" fetch --help | grep -q -- "--only NAME" || fail "--help does not describe --only"
rc=0; "$KSTAPLE" fetch >/dev/null 2>&1 || rc=$?
[ "$rc" = 64 ] || fail "fetch without -c: exit $rc, want 64"

step "one pass over three certificates"
rc=0
"$KSTAPLE" fetch -c "$conf" --json >"$T/out.json" 2>"$T/err" || rc=$?
cat "$T/out.json"; cat "$T/err"
[ "$rc" = 0 ] || fail "kstaple fetch exited $rc"
python3 - "$T/out.json" >"$T/files" <<'PY' || fail "unexpected JSON"
import json, sys
doc = json.load(open(sys.argv[1]))
certs = {c["name"]: c for c in doc["certificates"]}
assert doc["ok"] is True and doc["valid"] == 2 and doc["no_responder"] == 1, doc
for n in ("ecdsa", "rsa"):
    c = certs[n]
    assert c["result"] == "ok" and c["status"] == "good", c
    assert c["http_status"] == 200 and c["method"] == "GET" and c["staple_valid"], c
    print(n, c["state_file"])
assert certs["noaia"]["result"] == "no-responder", certs["noaia"]
assert not certs["noaia"]["staple_valid"]
PY

step "the two staples pass openssl ocsp -respin"
[ "$(find "$T/state" -type f | wc -l)" = 2 ] || { ls -la "$T/state"; fail "expected exactly two files"; }
while read -r name file; do
	[ -s "$file" ] || fail "$name: $file missing"
	openssl ocsp -respin "$file" -issuer "$P/ca/intermediate/ca.crt" \
		-CAfile "$P/ca/root/ca.crt" -no_nonce -cert "$P/leaf/$name/cert.pem" \
		>"$T/$name.verify" 2>&1 || { cat "$T/$name.verify"; fail "$name: openssl rejects $file"; }
	grep -q "Response verify OK" "$T/$name.verify" || fail "$name: no 'Response verify OK'"
	grep -q ": good" "$T/$name.verify" || { cat "$T/$name.verify"; fail "$name: not good"; }
done <"$T/files"

step "the certificate without OCSP URL is reported once, at info level, not as a failure"
n=$(grep -c "\[cert noaia\].*no OCSP URL" "$T/err" || true)
[ "$n" = 1 ] || fail "noaia reported $n times"
grep "\[cert noaia\]" "$T/err" | grep -q "info:" || fail "noaia not reported at info level"
grep -q "\[cert noaia\].*fail" "$T/err" && fail "noaia reported as a failure"

step "table output, --only, and a second pass keeps everything valid"
"$KSTAPLE" fetch -c "$conf" >"$T/out.txt" 2>/dev/null || fail "second pass failed"
cat "$T/out.txt"
grep -Eq '^ecdsa +ok +good +[0-9T:-]+Z +[0-9T:-]+Z +[0-9]+ms' "$T/out.txt" || fail "ecdsa line"
grep -Eq '^rsa +ok +good ' "$T/out.txt" || fail "rsa line"
grep -Eq '^noaia +no-responder ' "$T/out.txt" || fail "noaia line"
"$KSTAPLE" fetch -c "$conf" --only rsa >"$T/only.txt" 2>/dev/null || fail "--only rsa failed"
[ "$(grep -c . "$T/only.txt")" = 2 ] || fail "--only printed more than the header and one line"
grep -q '^rsa ' "$T/only.txt" || fail "--only rsa did not print rsa"
rc=0; "$KSTAPLE" fetch -c "$conf" --only nosuch >/dev/null 2>&1 || rc=$?
[ "$rc" = 64 ] || fail "--only with an unknown name: exit $rc, want 64"

step "responder gone, staples still valid: exit 0; state_dir emptied: exit 1"
kill "$RESPONDER_PID"; wait "$RESPONDER_PID" 2>/dev/null || true
"$KSTAPLE" fetch -c "$conf" >"$T/down.txt" 2>/dev/null || fail "valid staples kept, exit must be 0"
grep -Eq '^ecdsa +http-error .*connection refused; kept staple valid until' "$T/down.txt" ||
	{ cat "$T/down.txt"; fail "ecdsa failure not reported"; }
rm -f "$T"/state/*.der
rc=0; "$KSTAPLE" fetch -c "$conf" >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "no staple and no responder: exit $rc, want 1"
echo "ok"

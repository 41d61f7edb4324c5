#!/bin/bash
# SPDX-License-Identifier: MIT
# kstaple serve, issue acceptance 3: after a restart with the responder stopped, the persisted
# staples are served from the first handshake (and start-up does not wait for a responder that
# is down when it already has valid staples).
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh disable=SC1091
. "$here/lib.sh"
# shellcheck source=serve_lib.sh disable=SC1091
. "$here/serve_lib.sh"

start_ocsp
start_backend restart
STARTUP_WAIT_MS=20000 write_conf "ecdsa,rsa"
start_kstaple
curl_status >/dev/null || fail "first run: curl --cert-status failed"
stop_kstaple
n=$(find "$T/state" -name '*.der' | wc -l)
[ "$n" = 2 ] || fail "expected 2 persisted staples in state_dir, found $n"

step "responder stopped, kstaple restarted"
stop_ocsp
start=$(date +%s%N)
start_kstaple
ms=$((($(date +%s%N) - start) / 1000000))
# startup_wait_ms is 20 s: listening this early means it did not wait for the dead responder.
[ "$ms" -lt 5000 ] || fail "start-up took $ms ms with valid persisted staples"
out=$(curl_status) || fail "first handshake after restart: curl --cert-status failed"
[ "$out" = "backend restart: hello" ] || fail "curl got '$out'"
for sig in ECDSA+SHA256 rsa_pss_rsae_sha256:RSA+SHA256; do
	out=$(s_client -status -sigalgs "$sig")
	grep -q "OCSP Response Status: successful" <<<"$out" || fail "$sig: no staple after restart"
	grep -q "Cert Status: good" <<<"$out" || fail "$sig: staple not good"
done
grep -q "stapling OCSP response ($T/state/" "$KS_LOG" || fail "the staple was not loaded from state_dir"
stop_kstaple

step "responder stopped and no persisted staple: start-up waits at most startup_wait_ms"
rm -rf "$T/state"
STARTUP_WAIT_MS=2000 write_conf "ecdsa"
start=$(date +%s%N)
start_kstaple
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -lt 6000 ] || fail "start-up took $ms ms with startup_wait_ms = 2000"
out=$(s_client -status)
grep -q "OCSP response: no response sent" <<<"$out" || fail "a staple appeared from nowhere"
grep -q "^backend restart: hello" <<<"$out" || fail "serving without a staple failed"
if curl_status >/dev/null 2>&1; then fail "curl --cert-status succeeded without a staple"; fi
stop_kstaple
echo "ok"

#!/bin/bash
# SPDX-License-Identifier: MIT
# kstaple serve, issue acceptance 4: with the responder stopped while running, the last good
# staple is served until its nextUpdate, then none; the must-staple certificate then stops
# handshaking; each transition is logged once. The responder runs 50 s in the past with
# one-minute responses, so every response expires about 10 s after it is made.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh disable=SC1091
. "$here/lib.sh"
# shellcheck source=serve_lib.sh disable=SC1091
. "$here/serve_lib.sh"
command -v faketime >/dev/null || skip "faketime is not installed"

MSPORT=$(free_port)
start_ocsp 1 -50s
start_backend expiry
write_conf "ecdsa" "skew = 0\nmin_before_expiry = 0\nmin_delay = 1s\nbackoff_base = 1s\nbackoff_max = 2s"
cat >>"$T/kstaple.conf" <<EOF
[cert:muststaple]
chain = $P/leaf/muststaple/chain.pem
key = $P/leaf/muststaple/key.pem
responder = http://127.0.0.1:$RPORT
[listener:ms]
listen = 127.0.0.1:$MSPORT
backend = 127.0.0.1:$BPORT
certs = muststaple
EOF
start_kstaple
wait_listen "$MSPORT"

ms_status() {
	printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect "127.0.0.1:$MSPORT" \
		-servername localhost -CAfile "$ROOT" -ign_eof -status 2>&1
}

step "responder up: both listeners staple"
curl_status >/dev/null || fail "curl --cert-status failed with the responder up"
out=$(ms_status)
grep -q "Cert Status: good" <<<"$out" || fail "must-staple listener: no staple"
grep -q "^backend expiry: hello" <<<"$out" || fail "must-staple listener: no backend bytes"

step "responder stopped: the last good staple is still served"
stop_ocsp
stopped=$(date +%s)
out=$(s_client -status)
grep -q "Cert Status: good" <<<"$out" || fail "the last good staple was dropped at once"
next=$(sed -n 's/^ *Next Update: //p' <<<"$out" | head -n 1)
next_s=$(date -d "$next" +%s)
[ "$next_s" -gt "$stopped" ] || fail "served a staple whose nextUpdate ($next) is past"
[ $((next_s - stopped)) -le 15 ] || fail "nextUpdate $next is not the short-lived one"

step "until its nextUpdate ($next), then no staple"
while [ "$(date +%s)" -le "$next_s" ]; do
	out=$(s_client -status)
	if ! grep -q "Cert Status: good" <<<"$out"; then
		# The handshake may land in the second of nextUpdate itself.
		[ "$(date +%s)" -ge "$next_s" ] || fail "staple gone before its nextUpdate"
	fi
	sleep 1
done
sleep 1
for _ in 1 2 3; do
	out=$(s_client -status)
	grep -q "OCSP response: no response sent" <<<"$out" || fail "expired staple still served"
	grep -q "^backend expiry: hello" <<<"$out" || fail "no backend bytes without a staple"
done
if curl_status >/dev/null 2>&1; then fail "curl --cert-status succeeded with an expired staple"; fi

step "the must-staple certificate stops handshaking"
for _ in 1 2 3; do
	out=$(ms_status) && true
	grep -q "^backend expiry: hello" <<<"$out" && fail "must-staple certificate served without a staple"
	grep -q "Cert Status: good" <<<"$out" && fail "must-staple certificate got an expired staple"
done

step "each transition logged once"
n=$(grep -c "\[cert ecdsa\] the last good response expired" "$KS_LOG" || true)
[ "$n" = 1 ] || fail "ecdsa expiry logged $n times"
n=$(grep -c "\[cert muststaple\] must-staple (TLS Feature extension): no valid OCSP response (expired)" "$KS_LOG" || true)
[ "$n" = 1 ] || fail "must-staple refusal logged $n times"
stop_kstaple
echo "ok"

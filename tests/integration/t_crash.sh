#!/bin/bash
# SPDX-License-Identifier: MIT
# Issue 8, crash safety: `kill -9` of `kstaple serve` at random moments of a refresh storm
# (CRASH_CERTS certificates, default 50, whose responses are valid for one minute and are
# refreshed about every second), CRASH_KILLS times (default 20). After each kill every state
# file is a complete, valid response for its certificate (`kstaple verify` exit 0: the write
# is temporary file + fsync + rename), and after each restart the leftovers of an interrupted
# write are gone and kstaple serves a valid staple at once (curl --cert-status).
# shellcheck disable=SC2119 # curl_status takes optional curl options
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh disable=SC1091
. "$here/lib.sh"
# shellcheck source=serve_lib.sh disable=SC1091
. "$here/serve_lib.sh"

N=${CRASH_CERTS:-50}
KILLS=${CRASH_KILLS:-20}

step "$N certificates under the test intermediate"
mkdir -p "$T/leaves"
# One key for all (only the certificates differ); kstaple refuses keys others can read.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/leaves/key.pem" \
	-subj "/CN=crash.kstaple.test" -out "$T/leaves/req.csr" 2>/dev/null
chmod 600 "$T/leaves/key.pem"
ls "$I/newcerts" >"$T/newcerts.before" # sorted, as comm wants
# shellcheck disable=SC2046 # one argument per copy of the request
openssl ca -batch -notext -config "$I/openssl.cnf" -out /dev/null \
	-infiles $(yes "$T/leaves/req.csr" | head -n "$N") >"$T/ca.log" 2>&1 ||
	{ cat "$T/ca.log"; fail "openssl ca"; }
names=()
# shellcheck disable=SC2012 # serial numbers: no odd names
for f in $(ls "$I/newcerts" | comm -13 "$T/newcerts.before" -); do
	n=c${f%.pem}
	mkdir -p "$T/leaves/$n"
	cat "$I/newcerts/$f" "$I/ca.crt" >"$T/leaves/$n/chain.pem"
	cp "$I/newcerts/$f" "$T/leaves/$n/cert.pem"
	ln -s ../key.pem "$T/leaves/$n/key.pem"
	names+=("$n")
done
[ "${#names[@]}" = "$N" ] || fail "made ${#names[@]} certificates, want $N"

# OpenSSL's responder, responses valid one minute, behind ocsp_switch.py in "good" mode: a
# kstaple killed between connect and request leaves an empty connection, on which OpenSSL
# 3.0's single-threaded responder spins for ever; the proxy only forwards whole requests.
UPORT=$(free_port)
openssl ocsp -index "$I/index.txt" -port "$UPORT" -rsigner "$I/ca.crt" -rkey "$I/ca.key" \
	-CA "$I/ca.crt" -nmin 1 -ignore_err >"$T/responder.log" 2>&1 &
KS_PIDS+=($!)
wait_listen "$UPORT"
echo good >"$T/switch.ctl"
python3 "$SRC/tests/integration/servers/ocsp_switch.py" --port "$RPORT" --ctl "$T/switch.ctl" \
	--log "$T/switch.log" --last "$T/switch.last" --upstream "127.0.0.1:$UPORT" \
	>"$T/switch.out" 2>&1 &
KS_PIDS+=($!)
wait_listen "$RPORT"
start_backend crash
# The listener serves the fixture's ecdsa leaf (curl checks its staple); the N others are
# fetched and persisted all the same.
write_conf ecdsa "min_delay = 1s\nbackoff_base = 1s\nbackoff_max = 2s
refresh_fraction = 0.02\njitter = 0.01\nmin_before_expiry = 0"
for n in "${names[@]}"; do
	printf '[cert:%s]\nchain = %s\nkey = %s\nresponder = http://127.0.0.1:%s\n' \
		"$n" "$T/leaves/$n/chain.pem" "$T/leaves/$n/key.pem" "$RPORT" >>"$T/kstaple.conf"
done

step "first staples, and which state file belongs to which certificate"
"$KSTAPLE" fetch -c "$T/kstaple.conf" --json >"$T/fetch.json" 2>"$T/fetch.err" ||
	{ tail "$T/fetch.err"; fail "kstaple fetch"; }
python3 - "$T/fetch.json" "$T/leaves" "$P/leaf" >"$T/map" <<'PY'
import json, os, sys
d = json.load(open(sys.argv[1]))
for c in d["certificates"]:
    assert c["result"] == "ok", c
    base = sys.argv[2] if c["name"].startswith("c") else sys.argv[3]
    print(os.path.basename(c["state_file"]), os.path.join(base, c["name"], "cert.pem"))
PY
[ "$(wc -l <"$T/map")" = $((N + 1)) ] || fail "not every certificate has a state file"

# check_state WHEN: every state file verifies against its certificate (exit 0: good).
check_state() {
	local file cert rc bad=0
	while read -r file cert; do
		[ -f "$T/state/$file" ] || { echo "missing $file" >&2; bad=1; continue; }
		rc=0
		"$KSTAPLE" verify --cert "$cert" --issuer "$I/ca.crt" --response "$T/state/$file" \
			>"$T/verify.out" 2>&1 || rc=$?
		[ "$rc" = 0 ] || { echo "$file ($cert): exit $rc: $(cat "$T/verify.out")" >&2; bad=1; }
	done <"$T/map"
	[ "$bad" = 0 ] || fail "$1: a persisted staple is missing or invalid"
	[ -z "$(find "$T/state" -type f ! -name '*.der' ! -name '.*.der.tmp.*')" ] ||
		fail "$1: unexpected files in state_dir: $(ls -a "$T/state")"
}
check_state "after kstaple fetch"

step "$KILLS kills during the refresh storm"
temps=0
t0=$(date +%s)
for k in $(seq 1 "$KILLS"); do
	start_kstaple
	# The staple is there from the first handshake: loaded from disk, not fetched again.
	curl_status >"$T/curl.out" 2>&1 || { cat "$T/curl.out"; fail "kill $k: no valid staple served"; }
	sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.3 + (r % 200) / 100 }')"
	kill -9 "$KS_PID"
	wait "$KS_PID" 2>/dev/null || true
	left=$(find "$T/state" -name '.*.der.tmp.*' | wc -l)
	temps=$((temps + left))
	check_state "kill $k"
	echo "    kill $k: $left interrupted writes left behind"
done
elapsed=$(($(date +%s) - t0))
start_kstaple
curl_status >/dev/null 2>&1 || fail "no valid staple after the last restart"
[ -z "$(find "$T/state" -name '.*.der.tmp.*')" ] || fail "temporary files survived a restart"
if [ "$temps" -gt 0 ]; then
	grep -q "temporary file left by an interrupted write" "$KS_LOG" ||
		fail "interrupted writes were cleaned up silently"
fi
refreshed=$(grep -c "stapling OCSP response (fetched)" "$KS_LOG" || true)
[ "$refreshed" -ge "$N" ] || fail "only $refreshed staples refreshed: no storm"
stop_kstaple
check_state "after the last run"
echo "$KILLS kills in ${elapsed}s, $refreshed staples refreshed, $temps interrupted writes cleaned"
! grep -E "Sanitizer|runtime error:" "$KS_LOG" || fail "sanitizer report in kstaple's log"
echo ok

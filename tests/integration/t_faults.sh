#!/bin/bash
# SPDX-License-Identifier: MIT
# Issue 8, the fault matrix: while clients keep handshaking with status_request, the OCSP
# responder of a running `kstaple serve` is, in turn: down at start, down after a good fetch,
# slow (answers after 60 s), answering 500, HTML, 10 MiB, garbage DER, an expired response, a
# not-yet-valid one, a revoked one, one by the wrong signer, one by a delegate without
# OCSPSigning, one for another CertID, one with two SingleResponses. In every phase:
#   - clients see a valid staple or none, never an invalid one: every staple gnutls-cli saves
#     is checked with `openssl ocsp -respin` (signature, CertID, times) and, once the fault is
#     in effect, is byte for byte the last good response; openssl s_client -status agrees;
#   - the published staple (the state_dir file) is the last good response, byte for byte;
#   - kstaple logs the cause exactly once although it retried several times, and counts every
#     attempt: the line that ends the episode says "after N failed attempts", and N is the
#     number of requests the responder saw in that mode;
#   - kstaple recovers when the responder is healthy again (a new good staple is published).
# The responder is tests/integration/servers/ocsp_switch.py in front of `openssl ocsp`.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh disable=SC1091
. "$here/lib.sh"
# shellcheck source=serve_lib.sh disable=SC1091
. "$here/serve_lib.sh"

command -v gnutls-cli >/dev/null || skip "gnutls-cli is missing (apt-get install gnutls-bin)"
LEAF=$P/leaf/ecdsa
UPORT=$(free_port)
VPORT=$(free_port)
SW=$T/switch
mkdir -p "$SW" "$T/c"

# The healthy responder: responses valid 1 minute, so kstaple refreshes every second (below).
openssl ocsp -index "$I/index.txt" -port "$UPORT" -rsigner "$I/ca.crt" -rkey "$I/ca.key" \
	-CA "$I/ca.crt" -nmin 1 -ignore_err >"$T/upstream.log" 2>&1 &
KS_PIDS+=($!)
# The same CA after revoking the ecdsa leaf (its own copy of the index).
serial=$(openssl x509 -in "$LEAF/cert.pem" -noout -serial | cut -d= -f2)
awk -v s="$serial" -v d="$(date -u +%y%m%d%H%M%SZ)" 'BEGIN { FS = OFS = "\t" }
	$4 == s { $1 = "R"; $3 = d ",keyCompromise" } { print }' "$I/index.txt" >"$T/index-revoked.txt"
grep -q "^R" "$T/index-revoked.txt" || fail "could not revoke serial $serial in the index copy"
openssl ocsp -index "$T/index-revoked.txt" -port "$VPORT" -rsigner "$I/ca.crt" \
	-rkey "$I/ca.key" -CA "$I/ca.crt" -nmin 1 -ignore_err >"$T/upstream-revoked.log" 2>&1 &
KS_PIDS+=($!)
wait_listen "$UPORT"
wait_listen "$VPORT"

# set_mode MODE: switch the responder and wait until it has taken the mode.
set_mode() {
	echo "$1" >"$SW/ctl.new"
	mv "$SW/ctl.new" "$SW/ctl"
	for _ in $(seq 1 100); do
		[ "$(cat "$SW/ctl.ack" 2>/dev/null)" = "$1" ] && return 0
		sleep 0.05
	done
	fail "the switch did not take mode $1"
}

echo down >"$SW/ctl" # down from the very start
: >"$SW/log"
python3 "$SRC/tests/integration/servers/ocsp_switch.py" --port "$RPORT" --ctl "$SW/ctl" \
	--log "$SW/log" --last "$SW/last.der" --upstream "127.0.0.1:$UPORT" \
	--revoked-upstream "127.0.0.1:$VPORT" --der-dir "$KS_FIXTURES/ocsp" >"$T/switch.out" 2>&1 &
KS_PIDS+=($!)
set_mode down

start_backend faults
STARTUP_WAIT_MS=1500 write_conf ecdsa "connect_timeout = 500ms\ntimeout = 1s
min_delay = 1s\nbackoff_base = 1s\nbackoff_max = 2s
refresh_fraction = 0.01\njitter = 0\nmin_before_expiry = 0"
# The agent's own counters, where it has them (/metrics, from the metrics branch): every
# failed attempt must be counted under its reason. Without them, the count in the line that
# ends the episode is what is checked (the cache's fail_streak, incremented with its failure
# counter).
METRICS=
if "$KSTAPLE" check-config --keys 2>/dev/null | grep -q "metrics_listen"; then
	MPORT=$(free_port)
	METRICS=http://127.0.0.1:$MPORT/metrics
	sed -i "/^\[kstaple\]/a metrics_listen = 127.0.0.1:$MPORT" "$T/kstaple.conf"
fi
# failures_counted REASON: kstaple_ocsp_fetches_total for ecdsa, failures for REASON.
failures_counted() {
	curl -s --max-time 5 "$METRICS" | awk -v r="reason=\"$1\"" '
		/^kstaple_ocsp_fetches_total\{/ && /cert="ecdsa"/ && /result="failure"/ &&
			index($0, r) { v = $NF } END { print v + 0 }'
}
start_kstaple

# ---- clients --------------------------------------------------------------------------------
# Every handshake appends "PHASE CLIENT RESULT SAME" to clients.log: RESULT is none, good,
# revoked or INVALID:<why>; SAME says whether the staple is the switch's last good response.
echo "down-at-start" >"$T/phase"
check_staple() {
	local f=$1 out
	out=$(openssl ocsp -respin "$f" -issuer "$I/ca.crt" -CAfile "$ROOT" -no_nonce \
		-cert "$LEAF/cert.pem" 2>&1) || { echo "INVALID:openssl-exit"; return; }
	grep -q "Response verify OK" <<<"$out" || { echo "INVALID:verify"; return; }
	grep -qi "WARNING" <<<"$out" && { echo "INVALID:times"; return; }
	if grep -q "cert.pem: good" <<<"$out"; then echo good
	elif grep -q "cert.pem: revoked" <<<"$out"; then echo revoked
	else echo "INVALID:status"; fi
}
clients() {
	local n=0 ph res same out
	while [ ! -e "$T/stop-clients" ]; do
		n=$((n + 1))
		ph=$(cat "$T/phase")
		rm -f "$T/c/staple.der"
		# gnutls-cli checks the staple itself: a revoked one fails the handshake (rightly).
		if ! timeout 10 gnutls-cli --x509cafile "$ROOT" -p "$SPORT" \
			--save-ocsp "$T/c/staple.der" localhost </dev/null >"$T/c/gnutls.out" 2>&1 &&
			! grep -q "revoked via OCSP" "$T/c/gnutls.out"; then
			echo "$ph gnutls HANDSHAKE-FAILED -" >>"$T/clients.log"
			cp "$T/c/gnutls.out" "$T/c/failed-$n.out"
		elif [ -s "$T/c/staple.der" ]; then
			res=$(check_staple "$T/c/staple.der")
			same="diff"
			cmp -s "$T/c/staple.der" "$SW/last.der" && same=same
			[ "${res#INVALID}" = "$res" ] || cp "$T/c/staple.der" "$T/c/invalid-$n.der"
		else
			res=none same=-
		fi
		[ -e "$T/c/failed-$n.out" ] || echo "$ph gnutls $res $same" >>"$T/clients.log"
		out=$(printf '' | timeout 10 openssl s_client -connect "127.0.0.1:$SPORT" \
			-servername localhost -CAfile "$ROOT" -status 2>&1) || true
		if grep -q "OCSP response: no response sent" <<<"$out"; then res=none
		elif grep -q "Cert Status: good" <<<"$out"; then res=good
		elif grep -q "Cert Status: revoked" <<<"$out"; then res=revoked
		else res="INVALID:s_client"; fi
		grep -q "Verify return code: 0 (ok)" <<<"$out" || res="HANDSHAKE-FAILED"
		echo "$ph s_client $res -" >>"$T/clients.log"
		sleep 0.2
	done
}
clients &
CLIENTS_PID=$!
KS_PIDS+=("$CLIENTS_PID")

# ---- phases ---------------------------------------------------------------------------------
state_file() { find "$T/state" -maxdepth 1 -name '*.der' | head -n 1; }
# since FILE OFFSET: the lines of FILE after its first OFFSET lines.
since() { tail -n +"$(($2 + 1))" "$1"; }
count_mode() { since "$SW/log" "$2" | grep -c "^$1 " || true; }
cause_lines() {
	since "$KS_LOG" "$1" |
		grep -E "\[cert ecdsa\] (OCSP fetch failed|rejected OCSP response|ignored OCSP response|cannot verify)" ||
		true
}
wait_for() { # wait_for SECONDS CMD...: until CMD succeeds
	local s=$1
	shift
	for _ in $(seq 1 $((s * 10))); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
state_differs() { ! cmp -s "$(state_file)" "$1"; }
have_state() { [ -n "$(state_file)" ]; }
state_good() {
	"$KSTAPLE" verify --cert "$LEAF/cert.pem" --issuer "$I/ca.crt" --response "$(state_file)" \
		>/dev/null 2>&1
}
ks_log_has() { since "$KS_LOG" "$1" | grep -qE "$2"; }
mode_seen() { [ "$(count_mode "$1" "$2")" -ge "$3" ]; }

# The episode must end with one line giving its length; N failed attempts.
recovered_after() {
	since "$KS_LOG" "$1" | sed -n 's/.*\[cert ecdsa\] OCSP responses are accepted again after \([0-9]*\) failed attempts.*/\1/p'
}

# fault NAME MODE CAUSE REASON: one phase of the matrix, from a good staple back to a new
# good one. CAUSE: what the log must say; REASON: the counter's reason label.
fault() {
	local name=$1 mode=$2 cause=$3 reason=$4 off soff lines n reqs m0=0 m1
	step "$name"
	[ -z "$METRICS" ] || m0=$(failures_counted "$reason")
	off=$(wc -l <"$KS_LOG")
	soff=$(wc -l <"$SW/log")
	echo "$name-switching" >"$T/phase"
	set_mode "$mode"
	if [ "$mode" = down ]; then
		wait_for 10 ks_log_has "$off" "OCSP fetch failed" || fail "$name: no failed fetch"
	else
		# The first request in this mode: the previous good response is published by now.
		wait_for 10 mode_seen "$mode" "$soff" 1 || fail "$name: no request reached the responder"
	fi
	cp "$SW/last.der" "$T/$name.last-good.der"
	echo "$name" >"$T/phase"
	# Two more attempts: back-off 1 s then 2 s (or 1 s timeouts on top for slow).
	if [ "$mode" = down ]; then
		sleep 4
	else
		wait_for 15 mode_seen "$mode" "$soff" 3 || fail "$name: kstaple did not retry"
	fi
	sleep 0.5 # let clients handshake while the fault lasts
	cmp -s "$(state_file)" "$T/$name.last-good.der" ||
		fail "$name: the published staple is not the last good response"
	echo "$name-recovering" >"$T/phase"
	set_mode good
	wait_for 10 ks_log_has "$off" "accepted again after" || {
		since "$KS_LOG" "$off" >&2
		fail "$name: kstaple did not recover"
	}
	wait_for 5 state_differs "$T/$name.last-good.der" ||
		fail "$name: no new staple published after recovery"
	lines=$(cause_lines "$off")
	[ "$(grep -c . <<<"$lines")" = 1 ] || {
		echo "$lines" >&2
		fail "$name: the cause was logged $(grep -c . <<<"$lines") times, want once"
	}
	grep -qE "$cause" <<<"$lines" || fail "$name: logged '$lines', want /$cause/"
	n=$(recovered_after "$off")
	[ -n "$n" ] || fail "$name: no 'accepted again after N failed attempts' line"
	if [ "$mode" = down ]; then
		[ "$n" -ge 3 ] || fail "$name: $n failed attempts counted, want >= 3"
	else
		reqs=$(count_mode "$mode" "$soff")
		[ "$n" = "$reqs" ] || fail "$name: $n failed attempts counted, the responder saw $reqs"
	fi
	if [ -n "$METRICS" ]; then
		m1=$(failures_counted "$reason")
		[ "$((m1 - m0))" = "$n" ] ||
			fail "$name: /metrics counted $((m1 - m0)) failures ($reason), want $n"
		echo "    /metrics: $((m1 - m0)) failures with reason $reason"
	fi
	echo "    cause logged once, $n failed attempts counted, recovered"
}

step "down at start: nothing to staple, logged once"
sleep 4
[ -z "$(state_file)" ] || fail "a staple was stored while the responder was down"
off0=0
lines=$(cause_lines "$off0")
[ "$(grep -c . <<<"$lines")" = 1 ] || { echo "$lines" >&2; fail "down at start: cause logged $(grep -c . <<<"$lines") times"; }
grep -q "OCSP fetch failed: connection refused; nothing to staple yet" <<<"$lines" ||
	fail "down at start: logged '$lines'"
echo "down-at-start-recovering" >"$T/phase"
set_mode good
wait_for 10 ks_log_has 0 "accepted again after" || fail "down at start: kstaple did not recover"
wait_for 5 have_state || fail "down at start: no staple stored"
n=$(recovered_after 0)
[ "$n" -ge 3 ] || fail "down at start: $n failed attempts counted, want >= 3"
if [ -n "$METRICS" ]; then
	[ "$(failures_counted connect)" = "$n" ] || fail "down at start: /metrics disagrees"
fi
echo "    cause logged once, $n failed attempts counted, recovered"
sleep 1.5

fault down-after-good down "OCSP fetch failed: connection refused; still stapling" connect
fault slow slow "OCSP fetch failed: timeout" timeout
fault http-500 500 "OCSP fetch failed: HTTP status 500" http-status
fault html html "OCSP fetch failed: wrong content type 'text/html'" content-type
fault 10MiB big "OCSP fetch failed: body over 65536 bytes" too-large
fault garbage garbage "rejected OCSP response: the response is not a well-formed DER" malformed
fault expired der:expired "rejected OCSP response: nextUpdate is in the past" expired
fault not-yet-valid der:notyet "rejected OCSP response: thisUpdate is in the future" not-yet-valid
fault wrong-signer der:wrongkey "rejected OCSP response: the response is signed by neither" untrusted-signer
fault delegate-no-eku der:delegate-noeku "rejected OCSP response: the delegated responder certificate lacks id-kp-OCSPSigning" delegate-no-eku
fault wrong-certid der:othercert "rejected OCSP response: the response is about another certificate" certid-mismatch
fault two-responses der:two "rejected OCSP response: the response holds more than one SingleResponse" multiple-responses

# Revoked: an authentic answer, stapled as it is (clients must learn it), announced once.
step "revoked"
off=$(wc -l <"$KS_LOG")
soff=$(wc -l <"$SW/log")
echo "revoked-switching" >"$T/phase"
set_mode revoked
wait_for 10 mode_seen revoked "$soff" 2 || fail "revoked: no request reached the responder"
echo "revoked" >"$T/phase"
wait_for 10 mode_seen revoked "$soff" 4 || fail "revoked: kstaple did not refresh"
rc=0
"$KSTAPLE" verify --cert "$LEAF/cert.pem" --issuer "$I/ca.crt" --response "$(state_file)" \
	>"$T/verify-revoked.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat "$T/verify-revoked.out"; fail "revoked: published staple: kstaple verify exit $rc, want 1"; }
[ "$(since "$KS_LOG" "$off" | grep -c "is REVOKED since")" = 1 ] ||
	fail "revoked: the revocation was not announced exactly once"
echo "revoked-recovering" >"$T/phase"
set_mode good
wait_for 10 state_good ||
	fail "revoked: no good staple after the responder said good again"
sleep 1

touch "$T/stop-clients"
wait "$CLIENTS_PID" || true

# ---- what the clients saw -------------------------------------------------------------------
step "clients"
awk '{ print $1, $2, $3 }' "$T/clients.log" | sort | uniq -c | sed 's/^/    /'
if grep -qE "INVALID|HANDSHAKE-FAILED" "$T/clients.log"; then
	grep -nE "INVALID|HANDSHAKE-FAILED" "$T/clients.log" | head >&2
	fail "a client saw an invalid staple or a failed handshake"
fi
# Before the first good response, no staple at all.
grep -E "^down-at-start (gnutls|s_client) " "$T/clients.log" | grep -qv " none " &&
	fail "a staple was served while there was none"
grep -q "^down-at-start gnutls none" "$T/clients.log" || fail "no client handshake while down at start"
for ph in down-after-good slow http-500 html 10MiB garbage expired not-yet-valid wrong-signer \
	delegate-no-eku wrong-certid two-responses; do
	grep -q "^$ph gnutls good same$" "$T/clients.log" || fail "$ph: no client got the last good staple"
	grep -q "^$ph s_client good " "$T/clients.log" || fail "$ph: s_client got no good staple"
	grep -E "^$ph (gnutls|s_client) " "$T/clients.log" | grep -qvE " good (same|-)$" && {
		grep -E "^$ph " "$T/clients.log" >&2
		fail "$ph: a client got something else than the last good staple"
	}
done
grep -q "^revoked gnutls revoked" "$T/clients.log" || fail "revoked: no client saw the revocation"
grep -E "^revoked (gnutls|s_client) " "$T/clients.log" | grep -qv " revoked " &&
	fail "revoked: a client got a good staple after the revocation was published"
stop_kstaple
# Under SANITIZE=address,undefined (KSTAPLE=build/san/kstaple) any report lands in the log.
! grep -E "Sanitizer|runtime error:" "$KS_LOG" || fail "sanitizer report in kstaple's log"
echo ok

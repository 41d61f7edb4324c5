#!/bin/bash
# SPDX-License-Identifier: MIT
# t_serve_ktls.sh: kernel TLS in `kstaple serve` (issue 5, acceptance 1-3).
#
# On a kernel without kTLS (this host): ktls = auto serves through userspace, 10 MiB each way
# byte-exact for TLS 1.2/1.3 x AES-128-GCM/AES-256-GCM/ChaCha20-Poly1305, and logs why exactly
# once; ktls = require and handoff refuse to start (exit 78) with the operator message. Then
# the test runs itself again inside scripts/ktls-vm.sh (User-Mode Linux with the tls module) and
# SKIPs only if that kernel cannot run here.
# Inside a kTLS kernel: ktls = require; the same transfers through the splice proxy with
# kstaple logging both directions in the kernel and the exact byte counts, then through
# hand-off mode to examples/handoff_echo; a client dropping mid-transfer and a client's
# KeyUpdate end the session; no fd of kstaple leaks.
#
# The client is `openssl s_client -quiet -no_ign_eof -nocommands` with stdin from a pipe: the
# file, then nothing until all of it came back, then EOF, on which s_client sends close_notify.
# curl (TLS 1.2 AES-128-GCM, TLS 1.3 ChaCha20-Poly1305) PUTs the same file to the backend's
# /echo and checks the sha256 of what the backend got and of what came back, on both paths.
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh disable=SC1091
. "$here/lib.sh"
# shellcheck source=serve_lib.sh disable=SC1091
. "$here/serve_lib.sh"

# UML's kernel has no sock_diag, so `ss` lists nothing there: the helpers' `ss -Hltn "sport =
# :PORT"` reads /proc/net/tcp{,6} instead (state 0A = LISTEN).
if [ -n "${KS_IN_VM:-}" ]; then
	ss() {
		local hex
		hex=$(printf "%04X" "${2##*:}")
		awk -v p=":$hex" '$2 ~ p"$" && $4 == "0A"' /proc/net/tcp /proc/net/tcp6 2>/dev/null
	}
fi

MIB=${KS_KTLS_MIB:-10}
IN=$T/in.bin
# A leading NUL: tests/tools/backend.py echoes anything that does not start like HTTP.
printf '\0' >"$IN"
head -c $((MIB * 1048576 - 1)) /dev/urandom >>"$IN"
SIZE=$(stat -c %s "$IN")
SUM=$(sha256sum <"$IN" | cut -d' ' -f1)

CASES="1.2:ECDHE-ECDSA-AES128-GCM-SHA256 1.2:ECDHE-ECDSA-AES256-GCM-SHA384
1.2:ECDHE-ECDSA-CHACHA20-POLY1305 1.3:TLS_AES_128_GCM_SHA256 1.3:TLS_AES_256_GCM_SHA384
1.3:TLS_CHACHA20_POLY1305_SHA256"

# xfer VERSION CIPHER: SIZE bytes up and echoed back, checked with sha256 both ways.
xfer() {
	local v=$1 c=$2 out=$T/out.bin opts t0=$SECONDS
	if [ "$v" = 1.3 ]; then opts="-tls1_3 -ciphersuites $c"; else opts="-tls1_2 -cipher $c"; fi
	: >"$out"
	# shellcheck disable=SC2086
	{
		cat "$IN"
		for _ in $(seq 1 1200); do
			[ "$(stat -c %s "$out")" -ge "$SIZE" ] && break
			sleep 0.1
		done
	} | timeout 150 openssl s_client -connect "127.0.0.1:$SPORT" -servername localhost \
		-CAfile "$ROOT" -verify_return_error -quiet -no_ign_eof -nocommands -status $opts \
		>"$out" 2>"$T/client.err" || true
	[ "$(sha256sum <"$out" | cut -d' ' -f1)" = "$SUM" ] ||
		fail "TLS $v $c: $(stat -c %s "$out") of $SIZE bytes came back intact: $(tail -n 3 "$T/client.err" "$T"/echo.err 2>/dev/null; tail -n 5 "$KS_LOG")"
	echo "    TLS $v $c: $SIZE bytes each way, sha256 equal ($((SECONDS - t0)) s)"
}

# curl_xfer VERSION CIPHER: curl PUTs the file to the backend's /echo through kstaple, stapling
# required, and gets it back: the sha256 of what the backend received (its X-Body-Sha256) and
# of what came back both equal the file's.
# wait_ended N: until kstaple has logged the end of N kTLS sessions (at most 5 s).
wait_ended() {
	for _ in $(seq 1 50); do
		[ "$(grep -c 'kTLS session ends' "$KS_LOG")" -ge "$1" ] && return
		sleep 0.1
	done
}
curl_xfer() {
	local v=$1 c=$2 out=$T/curl.out hdr=$T/curl.hdr opts t0=$SECONDS
	if [ "$v" = 1.3 ]; then
		opts="--tlsv1.3 --tls13-ciphers $c"
	else
		opts="--tlsv1.2 --tls-max 1.2 --ciphers $c"
	fi
	rm -f "$out" "$hdr"
	# shellcheck disable=SC2086
	curl -sS --max-time 120 --cert-status --cacert "$ROOT" \
		--resolve "localhost:$SPORT:127.0.0.1" $opts -H 'Expect:' -T "$IN" -D "$hdr" \
		-o "$out" "https://localhost:$SPORT/echo" 2>"$T/curl.err" ||
		fail "curl TLS $v $c: $(cat "$T/curl.err"; tail -n 5 "$KS_LOG")"
	grep -qi "^x-body-sha256: $SUM" "$hdr" ||
		fail "curl TLS $v $c: the backend received other bytes: $(cat "$hdr")"
	[ "$(sha256sum <"$out" | cut -d' ' -f1)" = "$SUM" ] ||
		fail "curl TLS $v $c: $(stat -c %s "$out") of $SIZE bytes came back intact"
	echo "    curl TLS $v $c: $SIZE bytes up (PUT) and back, sha256 equal both ways ($((SECONDS - t0)) s)"
}
CURL_CASES="1.2:ECDHE-ECDSA-AES128-GCM-SHA256 1.3:TLS_CHACHA20_POLY1305_SHA256"

fds() { find "/proc/$KS_PID/fd" -mindepth 1 | wc -l; }

# wait_fds N: kstaple's fd count back to N (sessions end asynchronously).
wait_fds() {
	for _ in $(seq 1 100); do
		[ "$(fds)" -le "$1" ] && return 0
		sleep 0.1
	done
	ls -l "/proc/$KS_PID/fd" >&2
	fail "kstaple holds $(fds) fds, $1 before: leaked"
}

# set_listener KEY = VALUE lines appended to [listener:web] (the last section of the file).
set_listener() { printf '%s\n' "$@" >>"$T/kstaple.conf"; }

# expect_refusal PATTERN: kstaple serve exits 78 and says PATTERN.
expect_refusal() {
	local rc=0
	timeout 20 "$KSTAPLE" serve -c "$T/kstaple.conf" >"$T/refused.log" 2>&1 || rc=$?
	[ "$rc" = 78 ] || fail "expected exit 78, got $rc: $(cat "$T/refused.log")"
	grep -q "$1" "$T/refused.log" || fail "no '$1' in: $(cat "$T/refused.log")"
	echo "    refused (78): $(grep -m1 "$1" "$T/refused.log" | cut -c1-200)"
}

start_ocsp
start_backend ktls

if ! why=$("$root/scripts/have-ktls.sh" -v); then
	[ -z "${KS_IN_VM:-}" ] || fail "inside the kTLS VM and still $why"
	echo "host kernel $(uname -r): $why"

	step "ktls = auto without kernel support: userspace, 10 MiB each way, reason logged once"
	write_conf ecdsa
	start_kstaple
	for vc in $CASES; do xfer "${vc%%:*}" "${vc#*:}"; done
	for vc in $CURL_CASES; do curl_xfer "${vc%%:*}" "${vc#*:}"; done
	n=$(grep -c "kTLS: kernel has no TLS ULP (CONFIG_TLS).*sessions stay in userspace" "$KS_LOG")
	[ "$n" = 1 ] || { cat "$KS_LOG" >&2; fail "the reason was logged $n times, not once"; }
	stop_kstaple

	step "ktls = require refuses to start"
	write_conf ecdsa
	set_listener "ktls = require"
	expect_refusal "kernel has no TLS ULP (CONFIG_TLS"

	step "handoff refuses to start without kTLS in both directions (and with ktls = off)"
	write_conf ecdsa
	set_listener "handoff = $T/handoff.sock"
	expect_refusal "handoff: kernel has no TLS ULP (CONFIG_TLS"
	set_listener "ktls = off"
	expect_refusal "hand-off needs kernel TLS but ktls = off"

	if asan_binary "$KSTAPLE"; then
		skip "host part passed; AddressSanitizer builds cannot run inside User-Mode Linux (make test runs the kTLS part with the plain build)"
	fi
	step "now inside scripts/ktls-vm.sh"
	stop_ocsp
	set +e
	# IPv6 for `openssl ocsp -port`, which listens on [::] (UML loads no module by itself).
	KS_VM_KMODS="lib/crc-ccitt net/ipv6/ipv6 ${KS_VM_KMODS:-}" \
		"$root/scripts/ktls-vm.sh" -- bash "$0" 2> >(tee "$T/vm.err" >&2)
	rc=$?
	set -e
	wait "$!" 2>/dev/null || true # the tee; the backend keeps running until cleanup
	if [ "$rc" = 125 ]; then
		skip "no kTLS kernel can run here: $(grep -m1 'ktls-vm:' "$T/vm.err" || echo "exit 125")"
	fi
	exit "$rc"
fi
echo "kernel $(uname -r): $why"

step "proxy mode, ktls = require: splice, both directions in the kernel"
LOG_LEVEL=debug write_conf ecdsa
set_listener "ktls = require"
start_kstaple
sleep 0.5
fd0=$(fds)
n=0
for vc in $CASES; do
	xfer "${vc%%:*}" "${vc#*:}"
	n=$((n + 1))
	wait_ended "$n"
	tail -n 30 "$KS_LOG" | grep -q "TLSv${vc%%:*} .*both directions in the kernel (splice proxy)" ||
		fail "TLS $vc: kstaple did not report both directions in the kernel: $(tail -n 5 "$KS_LOG")"
	grep "kTLS session ends" "$KS_LOG" | tail -n 1 | grep -q "close_notify from the client: yes): $SIZE bytes from the client, $SIZE to it" ||
		fail "TLS $vc: $(grep 'kTLS session ends' "$KS_LOG" | tail -n 1)"
done

step "proxy mode with curl: PUT to an echo backend and back, both directions in the kernel"
for vc in $CURL_CASES; do
	v=${vc%%:*}
	k0=$(grep -c "TLSv$v .*both directions in the kernel (splice proxy)" "$KS_LOG")
	curl_xfer "$v" "${vc#*:}"
	n=$((n + 1))
	wait_ended "$n"
	[ "$(grep -c "TLSv$v .*both directions in the kernel (splice proxy)" "$KS_LOG")" = $((k0 + 1)) ] ||
		fail "curl TLS $vc: kstaple did not report both directions in the kernel: $(tail -n 5 "$KS_LOG")"
	# The body plus the HTTP head each way went through the kernel's TLS.
	ends=$(grep "kTLS session ends" "$KS_LOG" | tail -n 1)
	# (No process substitution: the VM's /dev has no /dev/fd.)
	up=$(sed -n 's/.*: \([0-9]*\) bytes from the client, .*/\1/p' <<<"$ends")
	down=$(sed -n 's/.* bytes from the client, \([0-9]*\) to it.*/\1/p' <<<"$ends")
	if [ "${up:-0}" -le "$SIZE" ] || [ "${down:-0}" -le "$SIZE" ]; then
		fail "curl TLS $vc: $ends"
	fi
	echo "    kernel: $up bytes from curl, $down to it"
done
grep -q "stay in userspace" "$KS_LOG" && fail "a session stayed in userspace: $(grep 'stay in' "$KS_LOG")"
wait_fds "$fd0"
echo "    fds: $fd0 before, $(fds) after"

step "a client that drops the connection mid-transfer"
head -c 8388608 /dev/urandom >"$T/big.bin"
{ cat "$T/big.bin"; sleep 30; } | openssl s_client -connect "127.0.0.1:$SPORT" -quiet \
	-no_ign_eof -nocommands -CAfile "$ROOT" >"$T/drop.out" 2>/dev/null &
cpid=$!
for _ in $(seq 1 100); do [ "$(stat -c %s "$T/drop.out")" -gt 1048576 ] && break; sleep 0.1; done
kill -9 "$cpid"
wait "$cpid" 2>/dev/null || true
wait_log "kTLS session ends .*close_notify from the client: no" 10
wait_fds "$fd0"
echo "    $(grep 'kTLS session ends' "$KS_LOG" | tail -n 1 | sed 's/.*kTLS/kTLS/')"

step "a TLS 1.3 KeyUpdate from the client (openssl s_client's k command)"
{ printf 'hello\n'; sleep 1; printf 'k\n'; sleep 1; printf 'after\n'; sleep 2; } |
	timeout 20 openssl s_client -connect "127.0.0.1:$SPORT" -tls1_3 -quiet -no_ign_eof \
		-CAfile "$ROOT" >"$T/ku.out" 2>/dev/null || true
grep -q '^hello$' "$T/ku.out" || fail "no echo before the KeyUpdate: $(cat "$T/ku.out")"
if grep -q "cannot rekey" "$KS_LOG"; then
	echo "    closed with the logged reason: $(grep -m1 'cannot rekey' "$KS_LOG" | cut -c1-160)"
else
	grep -q '^after$' "$T/ku.out" || fail "KeyUpdate neither applied nor logged"
	echo "    KeyUpdate applied in the kernel"
fi
wait_fds "$fd0"
stop_kstaple

step "hand-off mode to examples/handoff_echo"
sock=$T/handoff.sock
"$KS_BUILD/examples/handoff_echo" "$sock" >"$T/echo.out" 2>"$T/echo.err" &
KS_PIDS+=($!)
for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || fail "handoff_echo did not listen: $(cat "$T/echo.err")"
: >"$KS_LOG"
LOG_LEVEL=debug write_conf ecdsa
set_listener "ktls = require" "handoff = $sock"
start_kstaple
sleep 0.5
fd0=$(fds)
for vc in $CASES; do xfer "${vc%%:*}" "${vc#*:}"; done
n=$(grep -c "both directions in the kernel (hand-off)" "$KS_LOG")
[ "$n" = 6 ] || fail "$n hand-offs logged, not 6: $(tail -n 5 "$KS_LOG")"
n=$(grep -c '^handoff: sni=localhost alpn=- tls=0x030[34] cipher=.* peer=127.0.0.1:[0-9]* staple=yes$' "$T/echo.out")
[ "$n" = 6 ] || fail "handoff_echo saw: $(cat "$T/echo.out" "$T/echo.err")"
wait_fds "$fd0"
echo "    fds: $fd0 before, $(fds) after"
stop_kstaple
echo "kTLS in serve: all cases passed in kernel $(uname -r)"

#!/bin/bash
# SPDX-License-Identifier: MIT
# Load test of `kstaple serve` (issue 8): N TLS connections that handshake (status_request) and
# then idle, plus M plain TCP connections that send nothing (slowloris); then the same server
# with `ulimit -n` below the load. Reports connections held, RSS, CPU while idle, handshake
# timeouts, and that accepting pauses at the descriptor budget (clients past it wait in the
# backlog, none is dropped after its handshake) without a busy loop, once, and resumes.
# usage: bench/load.sh          N=10000 M=1000 by default; QUICK=1: N=2000 M=200. Needs root
# (raises the descriptor limit). Env: KS_BUILD (default build), KSTAPLE, KS_FIXTURES.
# Sessions here run on the userspace TLS path; the kTLS figure needs a kernel with kTLS.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
B=${KS_BUILD:-$root/build}
KS=${KSTAPLE:-$B/kstaple}
HC=$B/tools/holdconns
N=${N:-10000} M=${M:-1000}
[ -n "${QUICK:-}" ] && N=${QN:-2000} M=${QM:-200}
# QUICK also shortens the two fixed waits: idle CPU over 5 s (not 10) and the fd-limit clients
# report after 8 s (not 20); what they measure does not change (0% CPU, a paused accept).
IDLE_S=10 FD_WAIT_S=20
[ -n "${QUICK:-}" ] && IDLE_S=5 FD_WAIT_S=8
HS_TIMEOUT=5
FD_LIMIT=${FD_LIMIT:-1024} FD_LOAD=${FD_LOAD:-2000}
export OPENSSL_CONF=/dev/null

[ -x "$KS" ] && [ -x "$HC" ] || { echo "build first: make -j2 (needs $KS and $HC)"; exit 1; }
T=$(mktemp -d /tmp/kstaple-load.XXXXXX)
PIDS=()
KS_PID=
cleanup() {
	local p
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
	if [ -z "${KS_KEEP:-}" ]; then rm -rf "$T"; else echo "kept $T" >&2; fi
}
trap cleanup EXIT
die() { echo "load.sh: $*" >&2; [ -f "$T/kstaple.log" ] && tail -n 20 "$T/kstaple.log" >&2; exit 1; }
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_listen() {
	for _ in $(seq 1 200); do
		ss -Hltn "sport = :$1" | grep -q . && return 0
		sleep 0.05
	done
	die "nothing listens on port $1"
}

# Descriptors: kstaple holds two per TLS connection (client + backend) and one per slowloris
# connection; the client and the backend (separate processes) fewer.
# Raising the hard limit needs CAP_SYS_RESOURCE.
want=$((2 * N + M + 512))
if [ "$(ulimit -Hn)" -lt "$want" ]; then ulimit -Hn "$want" 2>/dev/null || true; fi
ulimit -Sn "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt "$want" ]; then
	N=$((($(ulimit -n) - M - 512) / 2))
	echo "descriptor limit $(ulimit -n), cannot raise it (no CAP_SYS_RESOURCE): N lowered to $N"
fi

# Test PKI: the build's fixtures, else a fresh set.
F=${KS_FIXTURES:-$B/fixtures}
if [ ! -f "$F/pki/ca/root/ca.crt" ]; then
	F=$T/fixtures
	"$root/scripts/mkfixtures.sh" "$F" >"$T/mkfixtures.log" 2>&1 || die "mkfixtures failed"
fi
cp -a "$F/pki" "$T/pki"
P=$T/pki I=$T/pki/ca/intermediate ROOT=$T/pki/ca/root/ca.crt
sed -i -E "s#^dir = .*/pki/ca/(root|intermediate)\$#dir = $P/ca/\1#" "$P"/ca/*/openssl.cnf
RPORT=$(free_port) BPORT=$(free_port) SPORT=$(free_port) MPORT=$(free_port)

openssl ocsp -index "$I/index.txt" -port "$RPORT" -rsigner "$I/ca.crt" -rkey "$I/ca.key" \
	-CA "$I/ca.crt" -nmin 60 -ignore_err >"$T/responder.log" 2>&1 &
PIDS+=($!)
wait_listen "$RPORT"
"$HC" -B "$BPORT" -L 3600 >"$T/backend.log" 2>&1 &
PIDS+=($!)
wait_listen "$BPORT"

cat >"$T/kstaple.conf" <<EOF
[kstaple]
state_dir = $T/state
workers = 2
log_level = info
drain_timeout = 2s
metrics_listen = 127.0.0.1:$MPORT
[fetch]
startup_wait_ms = 5000
[cert:ecdsa]
chain = $P/leaf/ecdsa/chain.pem
key = $P/leaf/ecdsa/key.pem
responder = http://127.0.0.1:$RPORT
[listener:web]
listen = 127.0.0.1:$SPORT
backend = 127.0.0.1:$BPORT
certs = ecdsa
handshake_timeout = ${HS_TIMEOUT}s
idle_timeout = 1h
max_connections = $((N + M + 1000))
EOF

# start_kstaple [FDLIMIT]: kstaple serve in the background, its own `ulimit -n` if given.
start_kstaple() {
	(
		[ -n "${1:-}" ] && ulimit -n "$1"
		exec "$KS" serve -c "$T/kstaple.conf"
	) >>"$T/kstaple.log" 2>&1 &
	KS_PID=$!
	PIDS+=("$KS_PID")
	wait_listen "$SPORT"
}
stop_kstaple() {
	local rc=0
	kill -TERM "$KS_PID"
	wait "$KS_PID" || rc=$?
	[ "$rc" = 0 ] || die "kstaple serve exited with $rc after SIGTERM"
}
alive() { kill -0 "$KS_PID" 2>/dev/null || die "kstaple serve died (crash?)"; }
curl_ok() {
	curl -sS --max-time 10 --cert-status --cacert "$ROOT" \
		--resolve "localhost:$SPORT:127.0.0.1" "https://localhost:$SPORT/" >/dev/null 2>>"$T/curl.log"
}
held() { ss -Htn state established "( sport = :$SPORT )" | wc -l; }
metric() { # metric NAME [LABEL-SUBSTRING]: its value summed over matching series
	curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics" |
		awk -v n="$1" -v l="${2:-}" '$1 ~ "^"n"({|$)" && index($1, l) { s += $NF } END { print s + 0 }'
}
field() { sed -n "s/.*\\b$1=\\([0-9.]*\\).*/\\1/p" <<<"$2"; }
status_of() { grep -E "^(status|ready|exit) " "$1" | tail -n 1; }
rss_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$KS_PID/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$KS_PID/stat"; }
HZ=$(getconf CLK_TCK)
# cpu_pct SECONDS: kstaple's CPU (user+system) over SECONDS, in % of one core.
cpu_pct() {
	local a b
	a=$(cpu_ticks)
	sleep "$1"
	b=$(cpu_ticks)
	awk -v d=$((b - a)) -v hz="$HZ" -v s="$1" 'BEGIN { printf "%.1f", 100 * d / hz / s }'
}
# wait_for FILE PATTERN SECONDS
wait_for() {
	for _ in $(seq 1 $(($3 * 10))); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

echo "== load: N=$N TLS (status_request) + M=$M slowloris, workers=2, handshake_timeout=${HS_TIMEOUT}s, userspace TLS path"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs, shared)"
start_kstaple
curl_ok || die "kstaple does not staple before the load (see $T/curl.log)"
rss0=$(rss_kib VmRSS)

t0=$(date +%s.%N)
"$HC" -p "$SPORT" -n "$N" -m "$M" -c "$ROOT" -s 16 -P 256 -t 600 -L 1800 >"$T/client.log" 2>&1 &
CL=$!
PIDS+=("$CL")
wait_for "$T/client.log" '^ready ' 620 || die "the client never finished its handshakes"
t1=$(date +%s.%N)
alive
r=$(grep '^ready ' "$T/client.log")
tls_ok=$(field tls_ok "$r") tls_fail=$(field tls_fail "$r") staples=$(field staples "$r")
hs_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
# The slowloris connections open once the handshakes are done.
for _ in $(seq 1 100); do
	s=$(status_of "$T/client.log")
	[ "$(($(field plain_open "$s") + $(field plain_closed "$s") + $(field plain_fail "$s")))" -ge "$M" ] && break
	sleep 0.1
done
held_with_slow=$(held)
ended_hs0=$(metric kstaple_connections_ended_total 'reason="handshake-timeout"')
# kstaple's listeners use TCP_DEFER_ACCEPT (10 s): a connection that sends nothing reaches
# accept() only once the kernel stops deferring it (a SYN-ACK retransmit after ~10-15 s),
# then handshake_timeout runs. Wait for all of them, bounded.
for _ in $(seq 1 $(((20 + HS_TIMEOUT + 15) * 10))); do
	s=$(status_of "$T/client.log")
	[ "$(field plain_open "$s")" = 0 ] && break
	sleep 0.1
done
alive
s=$(status_of "$T/client.log")
plain_closed=$(field plain_closed "$s") plain_open=$(field plain_open "$s")
life_min=$(field plain_life_min "$s") life_max=$(field plain_life_max "$s")
ended_hs=$(metric kstaple_connections_ended_total 'reason="handshake-timeout"')
held_idle=$(held)
gauge=$(metric kstaple_connections)
rss=$(rss_kib VmRSS) hwm=$(rss_kib VmHWM)
cpu_idle=$(cpu_pct "$IDLE_S")
alive
s=$(status_of "$T/client.log")
tls_closed=$(field tls_closed "$s")
curl_ok && after="yes" || after="NO"
load1=$(cut -d' ' -f1-3 /proc/loadavg)
per_conn=$(awk -v a="$rss" -v b="$rss0" -v n="$tls_ok" 'BEGIN { if (n) printf "%.1f", (a - b) / n; else print "-" }')
kill "$CL" && wait "$CL" 2>/dev/null || true
stop_kstaple

echo "== fd limit: ulimit -n $FD_LIMIT for kstaple, $FD_LOAD connections attempted"
: >"$T/kstaple.log"
start_kstaple "$FD_LIMIT"
"$HC" -p "$SPORT" -n "$FD_LOAD" -c "$ROOT" -s 16 -P "$FD_LOAD" -t "$FD_WAIT_S" -L 300 >"$T/client2.log" 2>&1 &
CL=$!
PIDS+=("$CL")
wait_for "$T/kstaple.log" 'descriptor limit: .*accepting pauses' 30 && paused=yes || paused=NO
wait_for "$T/client2.log" '^ready ' $((FD_WAIT_S + 20)) || die "the fd-limit client never reported"
alive
r=$(grep '^ready ' "$T/client2.log")
fd_ok=$(field tls_ok "$r") fd_pending=$(field inflight "$r") fd_fail=$(field tls_fail "$r")
fd_held=$(held)
fd_gauge=$(metric kstaple_connections)
fd_budget=$(metric kstaple_connection_budget)
fd_overflow=$(metric kstaple_accept_overflow_closed_total)
fd_nobackend=$(grep -c 'cannot start a backend connection' "$T/kstaple.log" || true)
fd_closed=$(field tls_closed "$(status_of "$T/client2.log")")
cpu_paused=$(cpu_pct 5)
pause_lines=$(grep -c 'descriptor limit: .*accepting pauses' "$T/kstaple.log" || true)
emfile_lines=$(grep -c 'cannot accept: ' "$T/kstaple.log" || true)
kill "$CL" && wait "$CL" 2>/dev/null || true
resumed=NO
for _ in $(seq 1 100); do	grep -q 'descriptor limit: connections closed.*accepting again' "$T/kstaple.log" &&
		{ resumed=yes; break; }
	sleep 0.1
done
"$HC" -p "$SPORT" -n 50 -c "$ROOT" -t 20 -L 60 >"$T/client3.log" 2>&1 || true
r=$(grep '^ready ' "$T/client3.log" || true)
after_ok=$(field tls_ok "$r")
curl_ok && after2="yes" || after2="NO"
alive
stop_kstaple

printf '\n%-58s %s\n' "measure" "value"
printf '%-58s %s\n' "TLS handshakes ok / failed (asked $N)" "$tls_ok / $tls_fail"
printf '%-58s %s\n' "handshakes with a staple" "$staples"
printf '%-58s %s\n' "time to establish them (s)" "$hs_secs"
printf '%-58s %s\n' "held incl. slowloris (ss, server side)" "$held_with_slow"
printf '%-58s %s\n' "held after handshake timeout (ss / kstaple_connections)" "$held_idle / $gauge"
printf '%-58s %s\n' "TLS connections closed by the server while idle" "$tls_closed"
printf '%-58s %s\n' "slowloris closed / still open (of $M)" "$plain_closed / $plain_open"
printf '%-58s %s\n' "slowloris lifetime min / max (s; defer 10 s + timeout ${HS_TIMEOUT}s)" "$life_min / $life_max"
printf '%-58s %s\n' "ended_total{reason=handshake-timeout} during that" "$((${ended_hs%.*} - ${ended_hs0%.*}))"
printf '%-58s %s\n' "VmRSS before load (KiB)" "$rss0"
printf '%-58s %s\n' "VmRSS / VmHWM at $tls_ok held (KiB)" "$rss / $hwm"
printf '%-58s %s\n' "RSS per connection (KiB, userspace TLS)" "$per_conn"
printf '%-58s %s\n' "kstaple CPU while idle, $IDLE_S s (% of a core)" "$cpu_idle"
printf '%-58s %s\n' "curl --cert-status afterwards" "$after"
printf '%-58s %s\n' "fd limit: handshakes ok / pending / failed (of $FD_LOAD)" "$fd_ok / $fd_pending / $fd_fail"
printf '%-58s %s\n' "fd limit: established (ss, incl. accept queue) / kstaple_connections" "$fd_held / $fd_gauge"
printf '%-58s %s\n' "fd limit: kstaple_connection_budget" "$fd_budget"
printf '%-58s %s\n' "fd limit: closed after handshake, no backend fd (expect 0)" "$fd_closed ($fd_nobackend log lines)"
printf '%-58s %s\n' "fd limit: accept paused (log line; pause episodes, expect 1)" "$paused; $pause_lines"
printf '%-58s %s\n' "fd limit: closed past the budget / EMFILE log lines (expect 0)" "$fd_overflow / $emfile_lines"
printf '%-58s %s\n' "fd limit: kstaple CPU while paused, 5 s (% of a core)" "$cpu_paused"
printf '%-58s %s\n' "fd limit: resumed after the client left (log)" "$resumed"
printf '%-58s %s\n' "fd limit: new handshakes after resuming (of 50)" "${after_ok:-0}"
printf '%-58s %s\n' "fd limit: curl --cert-status afterwards" "$after2"
printf '%-58s %s\n' "load average during the idle measurement" "$load1"
echo "kTLS: not measured here (host kernel without kTLS); needs a kTLS kernel."

#!/bin/bash
# SPDX-License-Identifier: MIT
# Cost of the eBPF ClientHello telemetry.
#  1. ns per packet in the kernel (bpf_prog_test_run_opts with repeat, best of 15) for non-TLS
#     packets and for captured ClientHellos: build/tools/hello_bench.
#  2. TLS handshakes per second through lo against `openssl s_server`, with the classifier
#     attached to lo and detached, alternating, as a ratio (openssl s_time -new).
# usage: bench/hello_bench.sh        QUICK=1 for a short run. Needs root for both parts.
# Env: KS_BUILD (default build). Targets (issue 6): <= 50 ns non-TLS, <= 400 ns per
# ClientHello, < 1% handshake cost.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
B=${KS_BUILD:-$root/build}
secs=5 rounds=3
[ -n "${QUICK:-}" ] && secs=2 rounds=2
export KS_HELLO_FIXTURES=${KS_HELLO_FIXTURES:-$root/tests/fixtures/hellos}

echo "== per-packet cost (kernel, prog_test_run) =="
rc=0
"$B/tools/hello_bench" || rc=$?
[ $rc -eq 77 ] && { echo "skipped: BPF not loadable here"; exit 0; }
[ $rc -eq 0 ] || exit $rc

echo "== handshakes/s through lo, telemetry detached vs attached =="
T=$(mktemp -d /tmp/hello-bench.XXXXXX)
export KSTAPLE_BPF_PIN_DIR=/sys/fs/bpf/kstaple-bench-$$
KS="$B/kstaple"
SP=
finish() {
	[ -n "$SP" ] && kill "$SP" 2>/dev/null
	"$KS" telemetry detach --interface lo >/dev/null 2>&1 || true
	rm -rf "$KSTAPLE_BPF_PIN_DIR" "$T"
}
trap finish EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k.pem" \
	-out "$T/c.pem" -days 1 -subj /CN=bench 2>/dev/null
openssl s_server -accept "$port" -cert "$T/c.pem" -key "$T/k.pem" -quiet -naccept 10000000 \
	>/dev/null 2>&1 &
SP=$!
for _ in $(seq 1 100); do ss -Hltn "sport = :$port" | grep -q . && break; sleep 0.05; done

# rate: handshakes per second for about $secs seconds (wall clock around s_time: its own
# "real seconds" are rounded to whole seconds); sets N to the number of handshakes
rate() {
	local t0 t1
	t0=$(date +%s.%N)
	N=$(openssl s_time -connect "127.0.0.1:$port" -new -time "$secs" 2>/dev/null |
		awk '/connections in [0-9.]+ real seconds/ { print $1 }')
	t1=$(date +%s.%N)
	R=$(awk -v n="$N" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", n / (b - a) }')
}
off=0 on=0 attached=0
for r in $(seq 1 "$rounds"); do
	rate
	a=$R
	"$KS" telemetry attach --interface lo --port "$port" 2>/dev/null
	rate
	b=$R
	attached=$((attached + N))
	"$KS" telemetry detach --interface lo 2>/dev/null
	printf 'round %d: detached %.1f/s, attached %.1f/s\n' "$r" "$a" "$b"
	off=$(awk -v x="$off" -v y="$a" 'BEGIN { print x + y }')
	on=$(awk -v x="$on" -v y="$b" 'BEGIN { print x + y }')
done
"$KS" telemetry attach --interface lo --port "$port" 2>/dev/null
counted=$("$KS" stats --json | python3 -c 'import json,sys; print(sum(p["hellos"] for p in json.load(sys.stdin)["ports"]))')
echo "ClientHellos counted while attached: $counted (handshakes made then: $attached)"
awk -v on="$on" -v off="$off" 'BEGIN { printf "handshakes/s attached / detached = %.4f " \
	"(cost %.2f%%; noise on a shared machine is larger)\n", on / off, (1 - on / off) * 100 }'
[ "$counted" -eq "$attached" ] || { echo "hello count mismatch" >&2; exit 1; }

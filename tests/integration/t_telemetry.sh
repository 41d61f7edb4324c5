#!/bin/bash
# SPDX-License-Identifier: MIT
# Live eBPF telemetry: a network namespace with a veth pair and a plain `openssl s_server`
# inside; `kstaple telemetry attach` on the namespace's interface; N `openssl s_client -status`
# and M without, over IPv4 and IPv6, first with ordinary segments and then with the server
# advertising a tiny MSS so every ClientHello is split over several TCP segments. `kstaple
# stats --json` must show exactly those numbers. Also: the counts survive a re-attach, detach
# removes the clsact qdisc only when attach created it, and a foreign filter is left alone.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root (network namespace, tc, BPF)"
command -v ip >/dev/null && command -v tc >/dev/null || skip "iproute2 missing"

KS=$KSTAPLE

NS=kstel$$
VH=kst$$h
VN=kst$$n
PORT=8443
tel_cleanup() {
	ip netns del "$NS" 2>/dev/null || true
	ip link del "$VH" 2>/dev/null || true
	umount "$T/bpf" 2>/dev/null || true
	cleanup
}
trap tel_cleanup EXIT

ip netns add "$NS" 2>/dev/null || skip "cannot create a network namespace"
ip link add "$VH" type veth peer name "$VN" || skip "cannot create a veth pair"
ip link set "$VN" netns "$NS"
ip addr add 10.77.$(($$ % 200)).1/24 dev "$VH"
ip -6 addr add fd77::$(printf %x $(($$ % 60000))):1/112 dev "$VH" nodad
ip link set "$VH" up
A4=10.77.$(($$ % 200)).2
A6=fd77::$(printf %x $(($$ % 60000))):2
ip netns exec "$NS" ip addr add "$A4/24" dev "$VN"
ip netns exec "$NS" ip -6 addr add "$A6/112" dev "$VN" nodad
ip netns exec "$NS" ip link set "$VN" up
ip netns exec "$NS" ip link set lo up

# A private bpffs: the test's pins never touch /sys/fs/bpf/kstaple, and `ip netns exec`
# (which remounts /sys) still sees them.
mkdir -p "$T/bpf"
mount -t bpf bpf "$T/bpf" || skip "cannot mount a bpf filesystem"
export KSTAPLE_BPF_PIN_DIR=$T/bpf/kstaple
ksn() { ip netns exec "$NS" "$KS" "$@"; }

step "attach to $VN in $NS"
if ! ksn telemetry attach --interface "$VN" --port "$PORT" 2>"$T/attach.err"; then
	cat "$T/attach.err" >&2
	grep -qiE 'operation not permitted|not supported|invalid argument' "$T/attach.err" &&
		skip "cannot load or attach BPF programs here"
	fail "telemetry attach failed"
fi
ip netns exec "$NS" tc qdisc show dev "$VN" | grep -q clsact || fail "no clsact qdisc after attach"
ksn telemetry status | tee "$T/status" | grep -q "$VN.*attached" || fail "status: $(cat "$T/status")"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/key.pem" \
	-out "$T/cert.pem" -days 1 -subj /CN=telemetry 2>/dev/null
for fam in -4 -6; do
	ip netns exec "$NS" openssl s_server -accept "$PORT" "$fam" -cert "$T/cert.pem" \
		-key "$T/key.pem" -www -quiet >"$T/server$fam.log" 2>&1 &
	KS_PIDS+=($!)
done
for _ in $(seq 1 100); do
	[ "$(ip netns exec "$NS" ss -Hltn "sport = :$PORT" | wc -l)" -eq 2 ] && break
	sleep 0.05
done

# hellos ADDR COUNT [s_client options]: COUNT handshakes from the host side
hellos() {
	local addr=$1 n=$2 i
	shift 2
	for i in $(seq 1 "$n"); do
		openssl s_client -connect "$addr" "$@" </dev/null >>"$T/client.log" 2>&1 ||
			fail "s_client $* to $addr failed"
	done
}

# expect FIELD VALUE: from `stats --json` for $PORT
expect() {
	local got
	got=$(ksn stats --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
p = [x for x in d["ports"] if x["port"] == int(sys.argv[1])][0]
v = p
for k in sys.argv[2].split("."):
    v = v[k]
print(v)' "$PORT" "$1")
	[ "$got" = "$2" ] || {
		ksn stats >&2 || true
		fail "stats: $1 is $got, expected $2"
	}
}

N=4 M=3
step "$N hellos with status_request and $M without over IPv4, 2 + 1 over IPv6"
hellos "$A4:$PORT" "$N" -status
hellos "$A4:$PORT" "$M"
hellos "[$A6]:$PORT" 2 -status
hellos "[$A6]:$PORT" 1
expect status_request $((N + 2))
expect no_status_request $((M + 1))
expect hellos $((N + M + 3))
expect unclassified.malformed 0
expect unclassified.short 0
expect unclassified.non_tls 0

step "hellos split over several TCP segments (server advertises MSS 100)"
ip netns exec "$NS" ip route replace "${A4%.*}.0/24" dev "$VN" advmss 100
ip netns exec "$NS" ip -6 route replace "${A6%:*}:0/112" dev "$VN" advmss 100
hellos "$A4:$PORT" 2 -status
hellos "[$A6]:$PORT" 2 -status
hellos "$A4:$PORT" 1
expect status_request $((N + 2 + 4))
expect no_status_request $((M + 1 + 1))

step "a non-TLS client is counted as such"
python3 -c 'import socket,sys; s=socket.create_connection((sys.argv[1], int(sys.argv[2]))); s.sendall(b"GET / HTTP/1.0\r\n\r\n"); s.close()' "$A4" "$PORT"
sleep 0.2
expect unclassified.non_tls 1

step "counts survive a re-attach (agent restart)"
ksn telemetry attach --interface "$VN" --port "$PORT" || fail "re-attach failed"
expect status_request $((N + 6))
ksn stats | grep -q "^$PORT " || fail "stats table has no row for $PORT"

step "detach removes the qdisc it created"
ksn telemetry detach --interface "$VN" || fail "detach failed"
ip netns exec "$NS" tc qdisc show dev "$VN" | grep -q clsact && fail "clsact qdisc left behind"
hellos "$A4:$PORT" 1 -status
expect status_request $((N + 6))

step "a clsact qdisc that was there before, with a foreign filter, stays"
ip netns exec "$NS" tc qdisc add dev "$VN" clsact
# a classic-BPF filter that never matches (no tc modules are needed for it)
ip netns exec "$NS" tc filter add dev "$VN" ingress prio 1 handle 1 bpf bytecode '1,6 0 0 0,'

ksn telemetry attach --interface "$VN" --port "$PORT" || fail "attach failed"
hellos "$A4:$PORT" 1 -status
expect status_request $((N + 7))
ksn telemetry detach || fail "detach (all) failed"
ip netns exec "$NS" tc qdisc show dev "$VN" | grep -q clsact || fail "foreign clsact qdisc removed"
ip netns exec "$NS" tc filter show dev "$VN" ingress | grep -q "bytecode '1,6 0 0 0'" ||
	fail "foreign filter removed"
ip netns exec "$NS" tc filter show dev "$VN" ingress | grep -q "ks_hello" &&
	fail "our filter is still attached"
echo "ok"

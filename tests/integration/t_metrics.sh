#!/bin/bash
# SPDX-License-Identifier: MIT
# Issue 6, acceptance 2, extended to the agent. In a network namespace joined to the host by a
# veth pair: an OCSP responder, a backend, `kstaple serve` with [telemetry] on the namespace's
# veth, metrics_listen and user = nobody (the counters must stay readable after the privilege
# drop), and a plain `openssl s_server` on another port. From the host, N `openssl s_client
# -status` and M without against each. Then:
#   - `kstaple stats --json` shows exactly N and M for each port, and N stapled / M not asked
#     for kstaple's listener and certificate;
#   - `curl /metrics` shows the same numbers, every line valid in the text format 0.0.4, and
#     sane staple age and expiry;
#   - the endpoint answers 404 / 405 / 400, and `stats` without any source exits 66.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh disable=SC1091
. "$here/lib.sh"
# shellcheck source=serve_lib.sh disable=SC1091
. "$here/serve_lib.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root (network namespace, tc, BPF)"
command -v ip >/dev/null && command -v tc >/dev/null || skip "iproute2 missing"
command -v curl >/dev/null || skip "curl missing"

NS=ksmet$$
VH=ksm$$h
VN=ksm$$n
KPORT=8443 # kstaple
OPORT=9443 # plain openssl s_server
MPORT=9100 # /metrics, on the namespace's loopback
N=5 M=3
met_cleanup() {
	ip netns pids "$NS" 2>/dev/null | xargs -r kill 2>/dev/null || true
	sleep 0.2
	ip netns del "$NS" 2>/dev/null || true
	ip link del "$VH" 2>/dev/null || true
	umount "$T/bpf" 2>/dev/null || true
	cleanup
}
trap met_cleanup EXIT

ip netns add "$NS" 2>/dev/null || skip "cannot create a network namespace"
ip link add "$VH" type veth peer name "$VN" || skip "cannot create a veth pair"
ip link set "$VN" netns "$NS"
NET=10.78.$(($$ % 200))
ip addr add "$NET.1/24" dev "$VH"
ip link set "$VH" up
A4=$NET.2
ip netns exec "$NS" ip addr add "$A4/24" dev "$VN"
ip netns exec "$NS" ip link set "$VN" up
ip netns exec "$NS" ip link set lo up

mkdir -p "$T/bpf"
mount -t bpf bpf "$T/bpf" || skip "cannot mount a bpf filesystem"
export KSTAPLE_BPF_PIN_DIR=$T/bpf/kstaple
nsx() { ip netns exec "$NS" "$@"; }

chmod 0755 "$T" # the dropped user must reach state_dir below it
USER_LINES=""
if id nobody >/dev/null 2>&1; then
	USER_LINES="user = nobody\ngroup = $(id -gn nobody)"
fi

step "responder, backend and kstaple serve inside $NS"
I=$P/ca/intermediate
nsx openssl ocsp -index "$I/index.txt" -port "$RPORT" -rsigner "$I/ca.crt" -rkey "$I/ca.key" \
	-CA "$I/ca.crt" -nmin 60 -ignore_err >"$T/responder.log" 2>&1 &
KS_PIDS+=($!)
nsx python3 "$SRC/tests/tools/backend.py" "$BPORT" --name metrics >"$T/backend.log" 2>&1 &
KS_PIDS+=($!)
wait_ns_listen() {
	for _ in $(seq 1 100); do
		nsx ss -Hltn "sport = :$1" | grep -q . && return 0
		sleep 0.05
	done
	fail "nothing listens on $1 in $NS"
}
wait_ns_listen "$RPORT"
wait_ns_listen "$BPORT"
write_conf ecdsa
sed -i -e "s|^listen = .*|listen = *:$KPORT|" \
	-e "s|^\[kstaple\]$|[kstaple]\nmetrics_listen = 127.0.0.1:$MPORT\n$USER_LINES|" \
	"$T/kstaple.conf"
printf '[telemetry]\ninterfaces = %s\nports = %s, %s\n' "$VN" "$KPORT" "$OPORT" >>"$T/kstaple.conf"
# not through nsx: a function in the background is a subshell, and $! would be its pid
ip netns exec "$NS" "$KSTAPLE" serve -c "$T/kstaple.conf" >>"$KS_LOG" 2>&1 &
KS_PID=$!
KS_PIDS+=("$KS_PID")
for _ in $(seq 1 200); do
	nsx ss -Hltn "sport = :$KPORT" | grep -q . && break
	if ! kill -0 "$KS_PID" 2>/dev/null; then
		cat "$KS_LOG" >&2
		grep -qiE 'cannot (load|attach)' "$KS_LOG" && skip "cannot load or attach BPF programs here"
		fail "kstaple serve exited"
	fi
	sleep 0.05
done
wait_ns_listen "$KPORT"
wait_ns_listen "$MPORT"
grep -q "telemetry: counting ClientHellos to ports $KPORT,$OPORT at ingress of $VN" "$KS_LOG" ||
	fail "serve did not report the attachment: $(cat "$KS_LOG")"
nsx tc filter show dev "$VN" ingress | grep -q ks_hello || fail "no tc filter on $VN"
SOCK=$T/state/control.sock
[ -S "$SOCK" ] || fail "no control socket at $SOCK"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/plain.key" \
	-out "$T/plain.crt" -days 1 -subj /CN=plain 2>/dev/null
nsx openssl s_server -accept "$OPORT" -cert "$T/plain.crt" -key "$T/plain.key" -www -quiet \
	>"$T/plain.log" 2>&1 &
KS_PIDS+=($!)
wait_ns_listen "$OPORT"

# hellos PORT COUNT [s_client options]: COUNT handshakes from the host side
hellos() {
	local port=$1 n=$2
	shift 2
	for _ in $(seq 1 "$n"); do
		printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect "$A4:$port" \
			-servername localhost -ign_eof "$@" >>"$T/client.log" 2>&1 ||
			fail "s_client $* to $port failed"
	done
}

step "$N handshakes with status_request and $M without, to kstaple and to s_server"
hellos "$KPORT" "$N" -status
hellos "$KPORT" "$M"
hellos "$OPORT" "$N" -status
hellos "$OPORT" "$M"
grep -c "OCSP Response Status: successful" "$T/client.log" | grep -qx "$N" ||
	fail "kstaple did not staple $N times"

step "kstaple stats --json: the ports and the agent"
"$KSTAPLE" stats --json --socket "$SOCK" >"$T/stats.json" || fail "stats --json failed"
python3 - "$T/stats.json" "$KPORT" "$OPORT" "$N" "$M" <<'EOF' || fail "stats --json: $(cat "$T/stats.json")"
import json, sys
d = json.load(open(sys.argv[1]))
kport, oport, n, m = map(int, sys.argv[2:])
ports = {p["port"]: p for p in d["ports"]}
for port in (kport, oport):
    p = ports[port]
    assert p["status_request"] == n, (port, p)
    assert p["no_status_request"] == m, (port, p)
    assert p["hellos"] == n + m, (port, p)
    assert abs(p["demand_ratio"] - n / (n + m)) < 1e-3, p
assert d["telemetry"] == "ok" and d["agent_error"] is None, d
a = d["agent"]
hs = [h for h in a["handshakes"] if h["listener"] == "web" and h["cert"] == "ecdsa"][0]
assert hs["stapled"] == n, hs
assert hs["not-asked"] == m, hs
assert hs["none-cached"] == 0 and hs["expired"] == 0, hs
agent_ports = {p["port"]: p for p in a["ports"]}
assert agent_ports[kport]["status_request"] == n, "agent reads the maps after the drop"
lst = a["listeners"][0]
assert lst["handshakes"] == n + m and lst["accepted"] == n + m, lst
assert {"path": "userspace", "reason": "ktls-not-enabled", "count": n + m} in lst["sessions"]
c = a["certs"][0]
assert c["successes"] >= 1 and c["staple"]["verdict"] == "good", c
EOF

step "kstaple stats (table) shows both parts"
"$KSTAPLE" stats --socket "$SOCK" >"$T/stats.txt" || fail "stats failed"
grep -qE "^$KPORT +$((N + M)) +$N +$M " "$T/stats.txt" || fail "no port row: $(cat "$T/stats.txt")"
grep -qE "^web +ecdsa +$N +$N +0 +0 +0 +$M " "$T/stats.txt" ||
	fail "no stapling row: $(cat "$T/stats.txt")"

step "GET /metrics: the same numbers, valid text format"
nsx curl -sS --max-time 5 -D "$T/headers" "http://127.0.0.1:$MPORT/metrics" >"$T/metrics" ||
	fail "curl /metrics failed"
grep -qi '^content-type: text/plain; version=0.0.4' "$T/headers" || fail "$(cat "$T/headers")"
python3 - "$T/metrics" <<'EOF' || fail "invalid exposition"
import re, sys
name = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
lval = r'"(?:[^"\\\n]|\\[\\"n])*"'
sample = re.compile(r"^(%s)(\{[a-zA-Z_][a-zA-Z0-9_]*=%s(,[a-zA-Z_][a-zA-Z0-9_]*=%s)*\})? -?[0-9]+(\.[0-9]+)?$" % (name, lval, lval))
typed, fam = set(), None
for line in open(sys.argv[1]).read().splitlines():
    if line.startswith("# HELP "):
        continue
    if line.startswith("# TYPE "):
        _, _, fam, kind = line.split(" ")
        assert fam not in typed, fam
        assert kind in ("counter", "gauge"), line
        assert kind != "counter" or fam.endswith("_total"), fam
        typed.add(fam)
        continue
    mt = sample.match(line)
    assert mt, "bad line: %r" % line
    assert mt.group(1) == fam, line
EOF
metric() { # metric 'NAME{LABELS}' -> value
	awk -v k="$1" 'index($0, k " ") == 1 { print $2 }' "$T/metrics"
}
expect_metric() {
	local got
	got=$(metric "$1")
	[ "$got" = "$2" ] || fail "/metrics: $1 is '$got', expected $2"
}
for port in "$KPORT" "$OPORT"; do
	expect_metric "kstaple_clienthellos_total{port=\"$port\",status_request=\"yes\"}" "$N"
	expect_metric "kstaple_clienthellos_total{port=\"$port\",status_request=\"no\"}" "$M"
done
expect_metric 'kstaple_handshakes_total{listener="web",cert="ecdsa",status_requested="yes",stapled="yes",reason="stapled"}' "$N"
expect_metric 'kstaple_handshakes_total{listener="web",cert="ecdsa",status_requested="no",stapled="no",reason="not-asked"}' "$M"
expect_metric 'kstaple_handshakes_total{listener="web",cert="ecdsa",status_requested="yes",stapled="no",reason="none-cached"}' 0
expect_metric 'kstaple_staple_valid{cert="ecdsa"}' 1
expect_metric 'kstaple_staple_revoked{cert="ecdsa"}' 0
expect_metric 'kstaple_telemetry_available' 1
expect_metric 'kstaple_connections{listener="web"}' 0
expect_metric "kstaple_sessions_total{listener=\"web\",path=\"userspace\",reason=\"ktls-not-enabled\"}" $((N + M))
age=$(metric 'kstaple_staple_age_seconds{cert="ecdsa"}')
left=$(metric 'kstaple_staple_seconds_until_expiry{cert="ecdsa"}')
[ -n "$age" ] && [ "$age" -ge 0 ] && [ "$age" -le 300 ] || fail "staple age '$age'"
# the responder signs for 60 minutes (-nmin 60)
[ -n "$left" ] && [ "$left" -gt 3000 ] && [ "$left" -le 3600 ] || fail "until expiry '$left'"
[ $((age + left)) -ge 3590 ] && [ $((age + left)) -le 3610 ] || fail "age + left = $((age + left))"
ok=$(metric 'kstaple_ocsp_fetches_total{cert="ecdsa",result="success",reason="ok"}')
[ "${ok:-0}" -ge 1 ] || fail "no successful fetch counted"

step "the endpoint refuses what it does not serve"
code() { nsx curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
[ "$(code "http://127.0.0.1:$MPORT/")" = 404 ] || fail "/ is not 404"
[ "$(code -X POST "http://127.0.0.1:$MPORT/metrics")" = 405 ] || fail "POST is not 405"
[ "$(code -I "http://127.0.0.1:$MPORT/metrics")" = 200 ] || fail "HEAD is not 200"
printf 'GARBAGE\r\n\r\n' | nsx timeout 5 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.stdin.buffer.read())
r = s.recv(100)
sys.exit(0 if r.startswith(b"HTTP/1.1 400 ") else 1)' "$MPORT" || fail "garbage is not 400"

step "after the drop: still nobody, no capability kept"
if [ -n "$USER_LINES" ]; then
	pid=$(nsx ss -Hltnp "sport = :$KPORT" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2)
	v=$(awk '$1 == "CapEff:" {print $2}' "/proc/$pid/status")
	[ "$v" = 0000000000000000 ] || fail "CapEff is $v after the drop"
	[ "$(stat -c %U "$SOCK")" = nobody ] || fail "control socket owned by $(stat -c %U "$SOCK")"
fi

step "stop: the control socket goes, the filter stays"
kill -TERM "$KS_PID"
rc=0
wait "$KS_PID" || rc=$?
[ "$rc" = 0 ] || { tail -n 20 "$KS_LOG" >&2; fail "kstaple serve exited with $rc"; }
[ -e "$SOCK" ] && fail "control socket left behind"
nsx tc filter show dev "$VN" ingress | grep -q ks_hello || fail "filter removed at exit"
"$KSTAPLE" stats --json --socket "$SOCK" >"$T/stats2.json" || fail "stats without agent failed"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["agent"] is None and d["agent_error"]; assert d["ports"]' "$T/stats2.json" ||
	fail "stats without agent: $(cat "$T/stats2.json")"
"$KSTAPLE" telemetry detach >/dev/null || fail "detach failed"

step "no maps and no agent: exit 66"
rc=0
KSTAPLE_BPF_PIN_DIR=$T/bpf/none "$KSTAPLE" stats --socket "$SOCK" >/dev/null 2>&1 || rc=$?
[ "$rc" = 66 ] || fail "stats with nothing to show: exit $rc, want 66"
echo ok

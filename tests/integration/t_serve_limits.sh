#!/bin/bash
# SPDX-License-Identifier: MIT
# kstaple serve under pressure: max_connections pauses accepting and resumes when connections
# close; running out of descriptors (EMFILE) pauses accepting without spinning; a silent client
# is dropped at handshake_timeout; SIGTERM drains (in-flight request finishes, new connections
# refused), drain_timeout cuts what is left, a second signal stops at once.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh disable=SC1091
. "$here/lib.sh"
# shellcheck source=serve_lib.sh disable=SC1091
. "$here/serve_lib.sh"

start_ocsp
start_backend limits

# cpu_ticks PID: user + system clock ticks used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

hold() { # hold N [--tls]: background holder; sets HOLD_PID once its connections are up
	python3 "$SRC/tests/tools/hold_conns.py" "$SPORT" "$1" ${2:+--tls "$ROOT"} >"$T/hold.out" 2>&1 &
	HOLD_PID=$!
	KS_PIDS+=("$HOLD_PID")
	for _ in $(seq 1 100); do
		grep -q ready "$T/hold.out" && return 0
		sleep 0.1
	done
	fail "holder never ready: $(cat "$T/hold.out")"
}
unhold() { kill "$HOLD_PID"; wait "$HOLD_PID" 2>/dev/null || true; }

step "max_connections = 2: the third client waits until one closes"
WORKERS=1 write_conf ecdsa
sed -i 's/^alpn = .*/max_connections = 2/' "$T/kstaple.conf"
start_kstaple
hold 2 tls
curl_status -o "$T/third.out" &
THIRD=$!
sleep 1.5
kill -0 "$THIRD" 2>/dev/null || fail "the third connection was served beyond max_connections"
wait_log "listener web: max_connections \(2\) reached, accepting pauses"
unhold
wait "$THIRD" || fail "the third connection failed after the others closed"
grep -q "backend limits: hello" "$T/third.out" || fail "third client got '$(cat "$T/third.out")'"
stop_kstaple

step "EMFILE: accepting pauses without spinning, then resumes"
WORKERS=1 write_conf ecdsa
(ulimit -n 48 && exec "$KSTAPLE" serve -c "$T/kstaple.conf" >>"$KS_LOG" 2>&1) &
KS_PID=$!
KS_PIDS+=("$KS_PID")
wait_listen "$SPORT"
curl_status >/dev/null || fail "curl failed before the descriptor limit"
# Plain TCP connections: with TCP_DEFER_ACCEPT, send a byte so the kernel hands them over.
python3 - "$SPORT" >"$T/hold.out" 2>&1 <<'EOF' &
import socket, sys, time
held = []
for _ in range(60):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.send(b"\x16")
    held.append(s)
print("ready", flush=True)
time.sleep(3600)
EOF
HOLD_PID=$!
KS_PIDS+=("$HOLD_PID")
wait_log "cannot accept: Too many open files; retrying every 100 ms"
t0=$(cpu_ticks "$KS_PID")
sleep 2
t1=$(cpu_ticks "$KS_PID")
[ $((t1 - t0)) -lt 40 ] || fail "paused accept used $((t1 - t0)) ticks in 2 s: a busy loop"
n=$(grep -c "cannot accept: Too many open files" "$KS_LOG")
[ "$n" = 1 ] || fail "the descriptor limit was logged $n times"
unhold
# Held connections are dropped by kstaple at handshake_timeout or when they close: then it
# accepts again.
out=$(curl_status) || fail "no service after the descriptors came back"
[ "$out" = "backend limits: hello" ] || fail "curl got '$out'"
stop_kstaple

step "handshake_timeout: a silent client is dropped"
WORKERS=1 write_conf ecdsa
sed -i 's/^alpn = .*/handshake_timeout = 500ms/' "$T/kstaple.conf"
start_kstaple
start=$(date +%s%N)
out=$(python3 - "$SPORT" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.send(b"\x16")  # a byte of a record header, then silence
s.settimeout(10)
print(repr(s.recv(100)))
EOF
)
ms=$((($(date +%s%N) - start) / 1000000))
[ "$out" = "b''" ] || fail "silent client got '$out'"
[ "$ms" -ge 400 ] && [ "$ms" -lt 3000 ] || fail "silent client dropped after $ms ms (timeout 500ms)"
stop_kstaple

step "SIGTERM drains: the request in flight finishes, new connections are refused"
DRAIN=10s write_conf ecdsa
start_kstaple
curl -sS --max-time 20 --cacert "$ROOT" "https://localhost:$SPORT/slow/20" >"$T/slow.out" 2>&1 &
SLOW=$!
sleep 0.5
kill -TERM "$KS_PID"
sleep 0.3
if curl_status >/dev/null 2>&1; then fail "a new connection was served while draining"; fi
wait "$SLOW" || fail "the request in flight failed during the drain: $(cat "$T/slow.out")"
grep -q "backend limits: done" "$T/slow.out" || fail "request cut by the drain"
wait "$KS_PID" || fail "kstaple serve exited non-zero after draining"

step "drain_timeout cuts a long request; kstaple exits"
DRAIN=1s write_conf ecdsa
start_kstaple
curl -sS --max-time 20 --cacert "$ROOT" "https://localhost:$SPORT/slow/100" >"$T/slow.out" 2>&1 &
SLOW=$!
sleep 0.5
start=$(date +%s%N)
kill -TERM "$KS_PID"
wait "$KS_PID" || fail "kstaple serve exited non-zero after the drain timeout"
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -ge 900 ] && [ "$ms" -lt 4000 ] || fail "exit $ms ms after SIGTERM with drain_timeout 1s"
wait "$SLOW" || true
# The connection is closed mid-body (curl may take that as the end of a close-delimited body).
grep -q "backend limits: done" "$T/slow.out" && fail "the 10 s request completed despite drain_timeout 1s"
wait_log "drain timeout: closing the connections still open"

step "a second SIGTERM stops at once"
DRAIN=30s write_conf ecdsa
start_kstaple
curl -sS --max-time 20 --cacert "$ROOT" "https://localhost:$SPORT/slow/100" >/dev/null 2>&1 &
SLOW=$!
sleep 0.5
start=$(date +%s%N)
kill -TERM "$KS_PID"
sleep 0.2
kill -TERM "$KS_PID"
wait "$KS_PID" || fail "kstaple serve exited non-zero after a second SIGTERM"
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -lt 3000 ] || fail "second SIGTERM: exit after $ms ms"
wait "$SLOW" 2>/dev/null || true
echo "ok"

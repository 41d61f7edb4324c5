#!/bin/bash
# SPDX-License-Identifier: MIT
# kstaple serve under pressure: max_connections pauses accepting and resumes when connections
# close; at the descriptor budget (2 descriptors per connection) accepting pauses once, without
# spinning, clients wait in the backlog and are all served after the release; a descriptor
# limit too low for one connection is refused at start; a silent client is dropped at
# handshake_timeout; SIGTERM drains (in-flight request finishes, new connections
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

step "descriptor budget: clients past it wait in the backlog; none is dropped after its handshake"
# Every client: TLS handshake, "ping I" echoed by the backend through kstaple, then it holds
# the connection until SIGUSR1. Those past the budget must wait in the listen backlog (no
# handshake) and be served after the release: a client whose connection closes is a failure.
cat >"$T/clients.py" <<'PY'
import signal, socket, ssl, sys, threading, time
port, n, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
gap = float(sys.argv[4]) if len(sys.argv) > 4 else 0.02  # seconds between connects
ctx = ssl.create_default_context(cafile=ca)
release, lock, results = threading.Event(), threading.Lock(), {}
def say(line):
    with lock:
        print(line, flush=True)
def client(i):
    try:
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=60),
                            server_hostname="localhost")
        msg, got = b"ping %d\n" % i, b""
        s.sendall(msg)
        while len(got) < len(msg):
            d = s.recv(100)
            if not d:
                raise OSError("closed by the server after %r" % got)
            got += d
        if got != msg:
            raise OSError("got %r" % got)
        say("served %d" % i)
        release.wait()
        s.close()
        results[i] = True
    except Exception as e:  # reported, and counted as a failure
        say("failed %d %s" % (i, e))
        results[i] = False
signal.signal(signal.SIGUSR1, lambda *a: release.set())
threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n)]
for t in threads:
    t.start()
    time.sleep(gap)
while any(t.is_alive() for t in threads):
    time.sleep(0.1)
ok = sum(1 for v in results.values() if v)
say("done ok=%d fail=%d" % (ok, n - ok))
sys.exit(0 if ok == n else 1)
PY
metric() { # metric NAME: its value from /metrics
	$NS curl -sS --max-time 5 "http://127.0.0.1:$MPORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}
wait_new() { # wait_new PATTERN: like wait_log, in the lines logged since budget_run started
	for _ in $(seq 1 100); do
		tail -n +$((log0 + 1)) "$KS_LOG" | grep -qE "$1" && return 0
		sleep 0.1
	done
	fail "kstaple never logged /$1/"
}
# budget_run: the scenario, every process in $NS (empty: this network namespace).
budget_run() {
local budget n served t0 t1 out n_pause n_resume log0
log0=$(wc -l <"$KS_LOG")
WORKERS=2 write_conf ecdsa
MPORT=$(free_port)
sed -i "s|^\[kstaple\]$|[kstaple]\nmetrics_listen = 127.0.0.1:$MPORT|" "$T/kstaple.conf"
(ulimit -n "$LIMIT" && exec $NS "$KSTAPLE" serve -c "$T/kstaple.conf" >>"$KS_LOG" 2>&1) &
KS_PID=$!
KS_PIDS+=("$KS_PID")
for _ in $(seq 1 100); do
	$NS ss -Hltn "sport = :$SPORT" | grep -q . && break
	sleep 0.1
done
budget=$(tail -n +$((log0 + 1)) "$KS_LOG" | sed -n "s/.*descriptor limit $LIMIT: up to \([0-9]*\) client connections at once.*/\1/p")
[ -n "$budget" ] && [ "$budget" -ge 4 ] || fail "no usable budget logged: $(grep 'descriptor limit' "$KS_LOG")"
[ "$(metric kstaple_connection_budget)" = "$budget" ] || fail "kstaple_connection_budget is not $budget"
n=$((budget + 8))
$NS python3 "$T/clients.py" "$SPORT" "$n" "$ROOT" "$GAP" >"$T/clients.out" 2>&1 &
CLIENTS=$!
KS_PIDS+=("$CLIENTS")
# With two workers a one-shot accept may hold the last slot while the clients left wait in
# the other worker's backlog: at least budget - 1 are served.
for _ in $(seq 1 300); do
	[ "$(grep -c '^served' "$T/clients.out")" -ge $((budget - 1)) ] && break
	sleep 0.1
done
wait_new "descriptor limit: $budget connections open, the most RLIMIT_NOFILE $LIMIT allows .*accepting pauses"
sleep 1
served=$(grep -c '^served' "$T/clients.out")
[ "$served" -ge $((budget - 1)) ] && [ "$served" -le "$budget" ] ||
	fail "$served clients served with a budget of $budget: $(cat "$T/clients.out")"
if grep '^failed' "$T/clients.out"; then fail "clients failed while kstaple was at its budget"; fi
t0=$(cpu_ticks "$KS_PID")
sleep 3
t1=$(cpu_ticks "$KS_PID")
[ $((t1 - t0)) -le 3 ] || fail "paused at the budget, kstaple used $((t1 - t0)) ticks in 3 s"
[ "$(grep -c '^served' "$T/clients.out")" = "$served" ] || fail "clients were served past the budget"
[ "$(metric kstaple_accept_paused)" = 1 ] || fail "kstaple_accept_paused is not 1 while paused"
[ "$(metric 'kstaple_connections{listener="web"}')" -le "$budget" ] || fail "kstaple_connections above the budget"
kill -USR1 "$CLIENTS"
wait "$CLIENTS" || fail "not every client was served after the release: $(grep -v '^served' "$T/clients.out")"
grep -q "^done ok=$n fail=0" "$T/clients.out" || fail "clients: $(tail -n 1 "$T/clients.out")"
wait_new "descriptor limit: connections closed, [0-9]+ of $budget in use: accepting again"
out=$($NS curl -sS --max-time 10 --cacert "$ROOT" "https://localhost:$SPORT/") ||
	fail "no service after the release"
[ "$out" = "backend limits: hello" ] || fail "curl got '$out'"
n_pause=$(tail -n +$((log0 + 1)) "$KS_LOG" | grep -c "accepting pauses, new clients wait in the listen backlog")
n_resume=$(tail -n +$((log0 + 1)) "$KS_LOG" | grep -c "descriptor limit: connections closed")
[ "$n_pause" = 1 ] && [ "$n_resume" = 1 ] || fail "pause logged $n_pause times, resume $n_resume times"
[ "$(metric kstaple_accept_pauses_total)" = 1 ] || fail "kstaple_accept_pauses_total is not 1"
[ "$(metric kstaple_accept_paused)" = 0 ] || fail "kstaple_accept_paused is not 0 after the release"
[ "$(metric kstaple_accept_overflow_closed_total)" = 0 ] || fail "connections closed past the budget"
[ "$(metric 'kstaple_connections_ended_total{listener="web",reason="backend-failure"}')" = 0 ] ||
	fail "a client lost its backend"
if tail -n +$((log0 + 1)) "$KS_LOG" | grep -E "cannot start a backend|Too many open files|cannot accept"; then
	fail "kstaple ran out of descriptors despite the budget"
fi
stop_kstaple
}
NS="" GAP=0.02 LIMIT=80 budget_run

step "... and with a multishot accept at first: a listen backlog of 16 in a network namespace"
# The budget (63) exceeds what two backlogs of 16 hold: workers start with a multishot accept
# and must switch to one-shot accepts without losing a connection the kernel accepted.
unshare -n sleep 600 2>/dev/null &
NSPID=$!
KS_PIDS+=("$NSPID")
sleep 0.2
if kill -0 "$NSPID" 2>/dev/null; then
	NS="nsenter -t $NSPID -n"
	$NS ip link set lo up && $NS sysctl -qw net.core.somaxconn=16 || fail "cannot set up the namespace"
	$NS python3 "$SRC/tests/tools/backend.py" "$BPORT" --name limits >>"$T/backend.log" 2>&1 &
	KS_PIDS+=($!)
	sleep 0.5
	# All at once: accepted sockets are in flight while the multishot accept is stopped.
	GAP=0 LIMIT=200 budget_run
	kill "$NSPID"
else
	echo "no network namespace (unshare -n): multishot variant skipped"
fi


step "a descriptor limit too low for one connection: kstaple says so and exits"
WORKERS=1 write_conf ecdsa
rc=0
(ulimit -n 30 && exec "$KSTAPLE" serve -c "$T/kstaple.conf" >>"$KS_LOG" 2>&1) || rc=$?
[ "$rc" != 0 ] || fail "kstaple serve ran with ulimit -n 30"
grep -q "descriptor limit 30 (RLIMIT_NOFILE) leaves no room for a client connection .*raise LimitNOFILE= (ulimit -n) to at least [0-9]" "$KS_LOG" ||
	fail "no clear message for a descriptor limit that is too low: $(tail -n 3 "$KS_LOG")"

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

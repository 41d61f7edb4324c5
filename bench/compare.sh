#!/bin/bash
# SPDX-License-Identifier: MIT
# kstaple serve vs nginx vs HAProxy: server CPU per full TLS handshake, closed-loop throughput,
# open-loop latency, staple share right after a start, and the crypto ceiling (issue 7).
#
#   bench/compare.sh            full run (about 30 minutes on a busy 2-core machine)
#   QUICK=1 bench/compare.sh    short run (under 5 minutes on 2 cores)
#
# The set-up, and why it is fair:
# - Same certificates (scripts/mkpki.sh: ECDSA P-256 and RSA-2048 leaves + intermediate), same
#   OCSP responder (openssl ocsp), same backend, one worker each (nginx worker_processes 1,
#   HAProxy nbthread 1, kstaple workers = 1), TLS 1.2 and 1.3 allowed, library defaults for
#   groups and suites (the client offers OpenSSL's defaults: X25519, AES-256-GCM first).
# - All three proxy to the same tiny backend (a plain-HTTP nginx answering `return 200`,
#   pinned beside the client so it costs the servers nothing). The load is the one the issue
#   asks for: full handshakes with status_request, then close_notify and close, no request.
#   nginx (HTTP: stapling exists only in its http module) opens the backend connection only
#   when a request arrives, so on this load (no request) it opens none. kstaple runs with
#   `backend_connect = data` (KS_BACKEND_CONNECT), what an operator sets for an HTTP backend:
#   the backend connection opens on the client's first bytes, as nginx's does. HAProxy (mode
#   tcp) opens one after every handshake, and so does "kstaple-eager" (2 tickets,
#   backend_connect = handshake, kstaple's default: protocols where the server speaks first
#   need it), reported beside them in full runs.
# - Session tickets as each server sends them: nginx and HAProxy send two in TLS 1.3
#   (OpenSSL's default), so "kstaple" runs with session_tickets = 2; "kstaple-t1" is kstaple's
#   default (one ticket) and "kstaple-t0" kstaple with tickets off, reported beside it.
# - The client offers one suite, AES-128-GCM, and X25519 first (P-256 second: TLS 1.2 needs
#   the curve of an ECDSA certificate listed): every server negotiates the same
#   whatever its preference rules (it is what browsers put first).
# - Every server process is pinned to CPU $SRV_CPU (taskset), the load generator, backend and
#   responder to CPU $CLI_CPU. Server CPU per handshake comes from the CPU clocks of all the
#   server's processes (nginx master + worker) over a fixed number of handshakes.
# - Runs are interleaved (nginx, HAProxy, kstaple, kstaple-t0, then the next repetition, the
#   starting server rotating) because the machine is shared and its speed drifts; tables give
#   medians with min-max, and ratios vs nginx are medians of the paired per-repetition ratios.
#
# Env: QUICK, REPS, HS (handshakes per closed-loop run), CONNS, OPEN_S, OPEN_REPS, SERVERS (of
# "nginx haproxy kstaple kstaple-tN kstaple-eager kstaple-alt"), COMBOS (of "ecdsa-1.3 ecdsa-1.2 rsa-1.3
# rsa-1.2"), KS_TICKETS (kstaple's tickets, default 2), KS_BACKEND_CONNECT (kstaple's
# backend_connect, default data; kstaple-eager always uses handshake), SRV_CPU, CLI_CPU, OUT (results dir),
# KSTAPLE, KS_BUILD, KSTAPLE_ALT (for kstaple-alt), KEEP=1 (keep the work directory),
# SKIP="first open speed" (parts to leave out).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
KS_BUILD=${KS_BUILD:-$root/build}
KSTAPLE=${KSTAPLE:-$KS_BUILD/kstaple}
BENCH=$KS_BUILD/kstaple-bench
for x in "$KSTAPLE" "$BENCH"; do
	[ -x "$x" ] || { echo "compare: $x is not built (make)" >&2; exit 1; }
done
for x in nginx haproxy gnuplot taskset openssl python3 ss; do
	command -v "$x" >/dev/null || [ -x "/usr/sbin/$x" ] ||
		{ echo "compare: $x is missing (make deps)" >&2; exit 1; }
done
export PATH=$PATH:/usr/sbin
export OPENSSL_CONF=/dev/null

if [ -n "${QUICK:-}" ]; then
	REPS=${REPS:-3} HS=${HS:-400} OPEN_S=${OPEN_S:-1} WARM=${WARM:-0.3} FIRST_REPS=1 SPEED_S=1
else
	# Many short repetitions rather than a few long ones: the machine is shared, and a
	# median over 15 pairs resists a neighbour's burst better than one over 5.
	REPS=${REPS:-15} HS=${HS:-500} OPEN_S=${OPEN_S:-6} WARM=${WARM:-0.5} FIRST_REPS=3 SPEED_S=3
	OPEN_REPS=${OPEN_REPS:-5}
fi
CONNS=${CONNS:-8}
if [ -n "${QUICK:-}" ]; then
	SERVERS=${SERVERS:-nginx haproxy kstaple kstaple-t0}
else
	SERVERS=${SERVERS:-nginx haproxy kstaple kstaple-t1 kstaple-t0 kstaple-eager}
fi
COMBOS=${COMBOS:-ecdsa-1.3 ecdsa-1.2 rsa-1.3 rsa-1.2}
KS_TICKETS=${KS_TICKETS:-2}
KS_BACKEND_CONNECT=${KS_BACKEND_CONNECT:-data}
SRV_CPU=${SRV_CPU:-0}
CLI_CPU=${CLI_CPU:-1}
stamp=$(date -u +%Y%m%d-%H%M%S)
OUT=${OUT:-$here/results/compare-$stamp}
mkdir -p "$OUT/cdf" "$OUT/first"
OUT=$(cd "$OUT" && pwd)
W=$(mktemp -d /tmp/kstaple-compare.XXXXXX)
PIDS=()
declare -A SPID PORT
cleanup() {
	local p
	for p in "${PIDS[@]:-}" "${SPID[@]:-}"; do if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; fi; done
	for p in "${PIDS[@]:-}" "${SPID[@]:-}"; do if [ -n "$p" ]; then wait "$p" 2>/dev/null || true; fi; done
	if [ -z "${KEEP:-}" ]; then rm -rf "$W"; else echo "compare: work files in $W"; fi
}
trap cleanup EXIT
log() { printf '%s compare: %s\n' "$(date +%T)" "$*"; }

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Readiness by `ss`, never by connecting (OpenSSL's responder spins on an empty connection).
wait_listen() {
	for _ in $(seq 1 200); do
		ss -Hltn "sport = :$1" | grep -q . && return 0
		sleep 0.05
	done
	echo "compare: nothing listens on port $1" >&2
	return 1
}

# ---- machine, versions, commit ----
{
	echo "date_utc=$(date -u +%FT%TZ)"
	echo "commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(
		git -C "$root" diff --quiet HEAD -- user include bench 2>/dev/null || echo '-dirty')"
	echo "cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
	echo "nproc=$(nproc)"
	echo "kernel=$(uname -r)"
	echo "openssl=$(openssl version | cut -d' ' -f2)"
	echo "nginx=$(nginx -v 2>&1 | sed 's|.*nginx/||')"
	echo "haproxy=$(haproxy -v | sed -n '1s/HAProxy version \([^ ]*\).*/\1/p')"
	echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "reps=$REPS hs=$HS conns=$CONNS open_s=$OPEN_S open_reps=${OPEN_REPS:-$REPS}" \
		"warmup_s=$WARM ks_tickets=$KS_TICKETS ks_backend_connect=$KS_BACKEND_CONNECT"
	echo "quick=${QUICK:-0}"
	echo "servers=$SERVERS"
	echo "combos=$COMBOS"
} >"$OUT/machine.txt"

# ---- PKI, responder, backend ----
RPORT=$(port)
log "test PKI (scripts/mkpki.sh), OCSP responder on port $RPORT, work dir $W"
"$root/scripts/mkpki.sh" --force "$W/fx" "$RPORT" >"$W/mkpki.log" 2>&1 ||
	{ cat "$W/mkpki.log" >&2; exit 1; }
P=$W/fx/pki
I=$P/ca/intermediate
cat "$P/ca/root/ca.crt" "$I/ca.crt" >"$W/trusted.pem"
taskset -c "$CLI_CPU" openssl ocsp -index "$I/index.txt" -port "$RPORT" -rsigner "$I/ca.crt" \
	-rkey "$I/ca.key" -CA "$I/ca.crt" -nmin 120 -ignore_err >"$W/responder.log" 2>&1 &
PIDS+=("$!")
wait_listen "$RPORT"

BPORT=$(port)
mkdir -p "$W/backend"
cat >"$W/backend/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $W/backend/nginx.pid;
error_log $W/backend/error.log warn;
events { worker_connections 8192; }
http {
	access_log off;
	client_body_temp_path $W/backend; proxy_temp_path $W/backend;
	fastcgi_temp_path $W/backend; uwsgi_temp_path $W/backend; scgi_temp_path $W/backend;
	server { listen 127.0.0.1:$BPORT; location / { return 200 "backend\n"; } }
}
EOF
taskset -c "$CLI_CPU" nginx -p "$W/backend" -c "$W/backend/nginx.conf" -e "$W/backend/error.log" &
PIDS+=("$!")
wait_listen "$BPORT"

for s in $SERVERS; do
	PORT[$s,ecdsa]=$(port)
	PORT[$s,rsa]=$(port)
done

# ---- server configurations ----
write_nginx() {
	local d=$W/nginx k
	mkdir -p "$d"
	{
		cat <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 8192; }
http {
	access_log off;
	client_body_temp_path $d; proxy_temp_path $d;
	fastcgi_temp_path $d; uwsgi_temp_path $d; scgi_temp_path $d;
	ssl_protocols TLSv1.2 TLSv1.3;
	ssl_stapling on;
	ssl_stapling_verify on;
	ssl_trusted_certificate $W/trusted.pem;
EOF
		for k in ecdsa rsa; do
			cat <<EOF
	server {
		listen 127.0.0.1:${PORT[nginx,$k]} ssl;
		ssl_certificate $P/leaf/$k/chain.pem;
		ssl_certificate_key $P/leaf/$k/key.pem;
		location / { proxy_pass http://127.0.0.1:$BPORT; }
	}
EOF
		done
		echo "}"
	} >"$d/nginx.conf"
}

write_haproxy() {
	local d=$W/haproxy k
	mkdir -p "$d"
	{
		cat <<EOF
global
	nbthread 1
	maxconn 8000
	ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
	mode tcp
	timeout connect 5s
	timeout client 30s
	timeout server 30s
backend be
	server b1 127.0.0.1:$BPORT
EOF
		for k in ecdsa rsa; do
			# 2.6 has no ocsp-update: the response is fetched beside the certificate
			# (what an operator's cron job does) and loaded at start.
			cat "$P/leaf/$k/chain.pem" "$P/leaf/$k/key.pem" >"$d/$k.pem"
			openssl ocsp -issuer "$I/ca.crt" -cert "$P/leaf/$k/cert.pem" \
				-url "http://127.0.0.1:$RPORT" -respout "$d/$k.pem.ocsp" \
				-CAfile "$W/trusted.pem" >>"$d/ocsp-fetch.log" 2>&1
			cat <<EOF
frontend $k
	bind 127.0.0.1:${PORT[haproxy,$k]} ssl crt $d/$k.pem
	default_backend be
EOF
		done
	} >"$d/haproxy.cfg"
}

write_kstaple() {
	local s=$1 tickets=$2 connect=$3 d=$W/$1 k
	mkdir -p "$d"
	{
		cat <<EOF
[kstaple]
state_dir = $d/state
workers = 1
log_level = warning
[fetch]
startup_wait_ms = 5000
EOF
		for k in ecdsa rsa; do
			cat <<EOF
[cert:$k]
chain = $P/leaf/$k/chain.pem
key = $P/leaf/$k/key.pem
[listener:$k]
listen = 127.0.0.1:${PORT[$s,$k]}
backend = 127.0.0.1:$BPORT
certs = $k
session_tickets = $tickets
backend_connect = $connect
EOF
		done
	} >"$d/kstaple.conf"
}

for s in $SERVERS; do
	case $s in
	nginx) write_nginx ;;
	haproxy) write_haproxy ;;
	# kstaple[-tN][-alt]: N session tickets (default KS_TICKETS); -alt runs $KSTAPLE_ALT, a
	# second build, for A/B measurements of a change.
	kstaple | kstaple-t[0-8] | kstaple-alt | kstaple-t[0-8]-alt)
		t=${s#kstaple-t}
		[ "$t" = "$s" ] && t=$KS_TICKETS
		write_kstaple "$s" "${t%-alt}" "$KS_BACKEND_CONNECT"
		;;
	kstaple-eager) write_kstaple "$s" 2 handshake ;;
	*) echo "compare: unknown server $s" >&2; exit 64 ;;
	esac
done

# Start server $1 fresh (nothing persisted) pinned to SRV_CPU; sets SPID[$1] to its process.
start_server() {
	local s=$1 d=$W/$1
	stop_server "$s"
	case $s in
	nginx)
		taskset -c "$SRV_CPU" nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" &
		;;
	haproxy)
		taskset -c "$SRV_CPU" haproxy -f "$d/haproxy.cfg" -db >"$d/haproxy.log" 2>&1 &
		;;
	*)
		rm -rf "$d/state"
		local bin=$KSTAPLE
		[ "${s%-alt}" = "$s" ] || bin=${KSTAPLE_ALT:?KSTAPLE_ALT: the second kstaple build}
		taskset -c "$SRV_CPU" "$bin" serve -c "$d/kstaple.conf" >>"$d/kstaple.log" 2>&1 &
		;;
	esac
	SPID[$s]=$!
	wait_listen "${PORT[$s,ecdsa]}" && wait_listen "${PORT[$s,rsa]}"
}

stop_server() {
	local p=${SPID[$1]:-}
	[ -n "$p" ] || return 0
	kill "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	SPID[$1]=
}

# Every process of server $1, comma-separated (nginx: master and worker).
server_pids() {
	local p=${SPID[$1]} kids
	kids=$(pgrep -P "$p" | paste -sd, -)
	echo "$p${kids:+,$kids}"
}

# bench SERVER COMBO ARGS...: one kstaple-bench run on the client CPU. The client offers one
# suite, AES-128-GCM (what browsers put first), so that every server negotiates the same one
# whatever its preference rules (nginx: the client's; HAProxy and kstaple: their own).
bench() {
	local s=$1 combo=$2 key tls ciphers
	shift 2
	key=${combo%-*}
	tls=${combo#*-}
	ciphers=TLS_AES_128_GCM_SHA256
	[ "$tls" = 1.2 ] && ciphers=ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256
	taskset -c "$CLI_CPU" "$BENCH" --connect "127.0.0.1:${PORT[$s,$key]}" --tls "$tls" \
		--ciphers "$ciphers" --groups X25519:P-256 --status --quiet "$@"
}

# Rotate the order of the servers by repetition so no server always runs first.
order() {
	local -a a
	read -r -a a <<<"$SERVERS"
	local n=${#a[@]} i
	for ((i = 0; i < n; i++)); do printf '%s ' "${a[$(((i + $1) % n))]}"; done
}

SKIP=${SKIP:-}
skip() { [[ " $SKIP " == *" $1 "* ]]; }
# ---- 1. staple share of the first 100 handshakes after a fresh start ----
skip first && FIRST_REPS=0
log "staple share of the first 100 handshakes after a start ($FIRST_REPS x)"
for ((r = 1; r <= FIRST_REPS; r++)); do
	for s in $(order "$r"); do
		start_server "$s"
		for key in ecdsa rsa; do
			bench "$s" "$key-1.3" --wait 10 -C 1 -N 100 --first 100 --issuer "$I/ca.crt" \
				--first-csv "$OUT/first/$s-$key-$r.csv" \
				--label "$s/$key-1.3/$r" --csv "$OUT/first.csv" || true
		done
	done
done

for s in $SERVERS; do [ -n "${SPID[$s]:-}" ] || start_server "$s"; done

# ---- 2. closed loop: server CPU per handshake and throughput ----
log "closed loop: $REPS x $HS handshakes, $CONNS connections, per server and combination"
for ((r = 1; r <= REPS; r++)); do
	for combo in $COMBOS; do
		for s in $(order "$r"); do
			bench "$s" "$combo" -C "$CONNS" -N "$HS" -w "$WARM" \
				--server-pid "$(server_pids "$s")" --label "$s/$combo/$r" \
				--csv "$OUT/closed.csv" || true
		done
	done
	log "  repetition $r of $REPS done"
done

# ---- 3. open loop at half of nginx's closed-loop rate ----
declare -A RATE
for combo in $COMBOS; do
	RATE[$combo]=$(python3 "$here/compare_report.py" rate "$OUT/closed.csv" "$combo" \
		"${SERVERS%% *}")
done
skip open && OPEN_REPS=0
log "open loop: ${OPEN_REPS:=$REPS} x ${OPEN_S}s at half of ${SERVERS%% *}'s closed-loop rate" \
	"($(for c in $COMBOS; do printf '%s %s/s ' "$c" "${RATE[$c]}"; done))"
for ((r = 1; r <= OPEN_REPS; r++)); do
	for combo in $COMBOS; do
		for s in $(order "$r"); do
			bench "$s" "$combo" --rate "${RATE[$combo]}" -d "$OPEN_S" -w "$WARM" \
				--server-pid "$(server_pids "$s")" --label "$s/$combo/$r" \
				--csv "$OUT/open.csv" --cdf "$OUT/cdf/$s-$combo-$r.csv" || true
		done
	done
done
for s in $SERVERS; do stop_server "$s"; done

# ---- 4. the crypto ceiling: the public-key operations of a handshake, on the server CPU ----
skip speed && SPEED_S=0
log "openssl speed on CPU $SRV_CPU (${SPEED_S}s per operation)"
[ "$SPEED_S" = 0 ] || taskset -c "$SRV_CPU" openssl speed -mr -seconds "$SPEED_S" ecdsap256 rsa2048 ecdhx25519 \
	ecdhp256 >"$OUT/speed.txt" 2>/dev/null || true
echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"

# ---- 5. report and plots ----
python3 "$here/compare_report.py" report "$OUT"
(cd "$OUT" && gnuplot plots.gp)
ln -sfn "$(basename "$OUT")" "$here/results/latest" 2>/dev/null || true
echo
echo "results: $OUT"
for f in "$OUT"/*.png; do echo "  plot: $f"; done
echo "  summary for the README: $OUT/summary.md"

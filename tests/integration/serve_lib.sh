# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Helpers for the `kstaple serve` tests (t_serve*.sh), sourced after lib.sh: an OCSP responder
# on a free port, the tiny backend, a configuration, kstaple serve itself, and clients.
export OPENSSL_CONF=/dev/null
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

use_pki
I=$P/ca/intermediate
ROOT=$P/ca/root/ca.crt
RPORT=$(free_port)
BPORT=$(free_port)
SPORT=$(free_port)
KS_LOG=$T/kstaple.log

# start_ocsp [NMIN [FAKETIME]]: OpenSSL's responder on $RPORT; responses valid NMIN minutes
# (default 60). FAKETIME (e.g. "-55s") shifts its clock, so thisUpdate and nextUpdate move
# with it: "-55s" with NMIN 1 gives responses that expire 5 s from now.
start_ocsp() {
	local nmin=${1:-60} ft=${2:-}
	if [ -n "$ft" ]; then
		# libfaketime directly: the faketime wrapper forks, so $! would not be the responder.
		local lib
		lib=$(find /usr/lib -name libfaketime.so.1 2>/dev/null | head -n 1)
		[ -n "$lib" ] || skip "libfaketime.so.1 not found (apt-get install faketime)"
		LD_PRELOAD=$lib FAKETIME="$ft" openssl ocsp -index "$I/index.txt" -port "$RPORT" \
			-rsigner "$I/ca.crt" -rkey "$I/ca.key" -CA "$I/ca.crt" -nmin "$nmin" \
			-ignore_err >>"$T/responder.log" 2>&1 &
	else
		openssl ocsp -index "$I/index.txt" -port "$RPORT" -rsigner "$I/ca.crt" \
			-rkey "$I/ca.key" -CA "$I/ca.crt" -nmin "$nmin" -ignore_err \
			>>"$T/responder.log" 2>&1 &
	fi
	OCSP_PID=$!
	KS_PIDS+=("$OCSP_PID")
	wait_listen "$RPORT"
}

stop_ocsp() {
	kill "$OCSP_PID" 2>/dev/null || true
	wait "$OCSP_PID" 2>/dev/null || true
	for _ in $(seq 1 50); do
		ss -Hltn "sport = :$RPORT" | grep -q . || return 0
		sleep 0.1
	done
	fail "the responder still listens on $RPORT"
}

start_backend() {
	python3 "$SRC/tests/tools/backend.py" "$BPORT" --name "${1:-test}" >"$T/backend.log" 2>&1 &
	KS_PIDS+=($!)
	wait_listen "$BPORT"
}

# write_conf "CERTS" [extra lines for [fetch]] : one listener serving CERTS (comma-separated
# [cert:NAME] sections, each NAME a leaf of the test PKI, must_staple from $MS_<NAME>).
write_conf() {
	local certs=$1 fetch_extra=${2:-} c
	{
		echo "[kstaple]"
		echo "state_dir = $T/state"
		echo "workers = ${WORKERS:-2}"
		echo "log_level = ${LOG_LEVEL:-info}"
		echo "drain_timeout = ${DRAIN:-10s}"
		echo "[fetch]"
		echo "startup_wait_ms = ${STARTUP_WAIT_MS:-5000}"
		printf '%b\n' "$fetch_extra"
		for c in ${certs//,/ }; do
			echo "[cert:$c]"
			echo "chain = ${CHAIN_DIR:-$P/leaf}/$c/chain.pem"
			echo "key = ${CHAIN_DIR:-$P/leaf}/$c/key.pem"
			echo "responder = http://127.0.0.1:$RPORT"
		done
		echo "[listener:web]"
		echo "listen = 127.0.0.1:$SPORT"
		echo "backend = 127.0.0.1:$BPORT"
		echo "certs = $certs"
		echo "alpn = http/1.1"
	} >"$T/kstaple.conf"
}

start_kstaple() {
	"$KSTAPLE" serve -c "$T/kstaple.conf" >>"$KS_LOG" 2>&1 &
	KS_PID=$!
	KS_PIDS+=("$KS_PID")
	for _ in $(seq 1 200); do
		ss -Hltn "sport = :$SPORT" | grep -q . && return 0
		kill -0 "$KS_PID" 2>/dev/null || { cat "$KS_LOG" >&2; fail "kstaple serve exited"; }
		sleep 0.05
	done
	cat "$KS_LOG" >&2
	fail "kstaple serve does not listen on $SPORT"
}

stop_kstaple() {
	kill -TERM "$KS_PID"
	local rc=0
	wait "$KS_PID" || rc=$?
	[ "$rc" = 0 ] || { tail -n 20 "$KS_LOG" >&2; fail "kstaple serve exited with $rc"; }
}

# curl_status [curl options...]: the body, stapling required (--cert-status).
curl_status() {
	curl -sS --max-time 10 --cert-status --cacert "$ROOT" "$@" "https://localhost:$SPORT/"
}

# s_client OPTIONS...: what openssl s_client prints for one request.
s_client() {
	printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect "127.0.0.1:$SPORT" \
		-servername localhost -CAfile "$ROOT" -ign_eof "$@" 2>&1
}

# wait_log PATTERN [SECONDS]: until kstaple's log has a line matching PATTERN.
wait_log() {
	for _ in $(seq 1 $((${2:-10} * 10))); do
		grep -qE "$1" "$KS_LOG" && return 0
		sleep 0.1
	done
	fail "kstaple never logged /$1/"
}

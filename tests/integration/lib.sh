# SPDX-License-Identifier: MIT
# Helpers sourced by tests/integration/t_*.sh. Every test gets its own scratch directory and
# everything it starts is stopped on exit.
set -euo pipefail

T=$(mktemp -d /tmp/kstaple-it.XXXXXX)
KS_PIDS=()

cleanup() {
	local p
	for p in "${KS_PIDS[@]:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null || true
	done
	for p in "${KS_PIDS[@]:-}"; do
		[ -n "$p" ] && wait "$p" 2>/dev/null || true
	done
	if [ -z "${KS_KEEP:-}" ]; then rm -rf "$T"; else echo "kept $T" >&2; fi
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
# True if FILE is built with AddressSanitizer: such binaries cannot run inside User-Mode Linux
# (ASan's shadow memory lies beyond the address space UML gives a process).
asan_binary() { case "$(ldd "$1" 2>/dev/null)" in *libasan*) return 0 ;; esac; return 1; }
skip() { echo "$*"; exit 77; }
step() { echo "--- $*"; }

# A TCP port nobody listens on (kernel-chosen, then released).
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Wait until something listens on PORT. Never probe OpenSSL's responder with a bare connect:
# OpenSSL 3.0's `openssl ocsp -port` spins on an empty connection (shared/reference).
wait_listen() {
	local port=$1 i
	for i in $(seq 1 100); do
		ss -Hltn "sport = :$port" | grep -q . && return 0
		sleep 0.05
	done
	fail "nothing listens on port $port"
}

# Copy the generated PKI into the test's directory (tests may revoke certificates in it).
use_pki() {
	cp -a "$KS_FIXTURES/pki" "$T/pki"
	P=$T/pki
	# The copy's openssl.cnf files name the shared database: point them at the copy, so that
	# `openssl ca -revoke` in one test never changes another test's PKI.
	sed -i -E "s#^dir = .*/pki/ca/(root|intermediate)\$#dir = $P/ca/\1#" "$P"/ca/*/openssl.cnf
}

# start_responder PORT: OpenSSL's OCSP responder for the intermediate CA of $P.
start_responder() {
	local port=$1
	openssl ocsp -index "$P/ca/intermediate/index.txt" -port "$port" \
		-rsigner "$P/ca/intermediate/ca.crt" -rkey "$P/ca/intermediate/ca.key" \
		-CA "$P/ca/intermediate/ca.crt" -nmin 60 -ignore_err >"$T/responder-$port.log" 2>&1 &
	KS_PIDS+=($!)
	RESPONDER_PID=$!
	wait_listen "$port"
}

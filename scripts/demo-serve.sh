#!/bin/bash
# SPDX-License-Identifier: MIT
# `make demo`, TLS part: a test PKI, OpenSSL's OCSP responder, a tiny backend and
# `kstaple serve`; then `openssl s_client -status` and `curl --cert-status` against it, the
# stapled status printed; everything it started is stopped on exit.
#
#   KSTAPLE=build/kstaple scripts/demo-serve.sh [WORKDIR]
# Without WORKDIR a temporary directory is used and removed at the end (KS_KEEP=1 keeps it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
KSTAPLE=${KSTAPLE:-$here/../build/kstaple}
[ -x "$KSTAPLE" ] || { echo "demo: $KSTAPLE is not built (make)" >&2; exit 1; }
TMPW=
[ $# -ge 1 ] || TMPW=$(mktemp -d /tmp/kstaple-demo.XXXXXX)
W=${1:-$TMPW}
mkdir -p "$W"
W=$(cd "$W" && pwd)
export OPENSSL_CONF=/dev/null
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
	if [ -n "$TMPW" ] && [ -z "${KS_KEEP:-}" ]; then
		rm -rf "$TMPW"
		echo "demo: stopped everything"
	else
		echo "demo: stopped everything; files are in $W"
	fi
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Readiness by `ss`, never by connecting: OpenSSL 3.0's responder spins on an empty connection.
wait_listen() {
	for _ in $(seq 1 100); do
		ss -Hltn "sport = :$1" | grep -q . && return 0
		sleep 0.05
	done
	echo "demo: nothing listens on port $1" >&2
	exit 1
}

RPORT=$(port)
echo "== test PKI (scripts/mkpki.sh), OCSP URL http://127.0.0.1:$RPORT"
"$here/mkpki.sh" --force "$W/fixtures" "$RPORT" >"$W/mkpki.log" 2>&1 ||
	{ cat "$W/mkpki.log" >&2; exit 1; }
P=$W/fixtures/pki
I=$P/ca/intermediate
BPORT=$(port)
SPORT=$(port)

echo "== OCSP responder: openssl ocsp on port $RPORT (the certificates' AIA URL)"
openssl ocsp -index "$I/index.txt" -port "$RPORT" -rsigner "$I/ca.crt" -rkey "$I/ca.key" \
	-CA "$I/ca.crt" -nmin 60 -ignore_err >"$W/responder.log" 2>&1 &
PIDS+=("$!")
wait_listen "$RPORT"

echo "== backend: tests/tools/backend.py on port $BPORT"
python3 "$here/../tests/tools/backend.py" "$BPORT" --name demo >"$W/backend.log" 2>&1 &
PIDS+=("$!")
wait_listen "$BPORT"

cat >"$W/kstaple.conf" <<EOF
[kstaple]
state_dir = $W/state
workers = 2
[fetch]
startup_wait_ms = 5000
[cert:ecdsa]
chain = $P/leaf/ecdsa/chain.pem
key = $P/leaf/ecdsa/key.pem
[cert:rsa]
chain = $P/leaf/rsa/chain.pem
key = $P/leaf/rsa/key.pem
[listener:demo]
listen = 127.0.0.1:$SPORT
backend = 127.0.0.1:$BPORT
certs = ecdsa, rsa
alpn = http/1.1
EOF
echo "== kstaple serve -c $W/kstaple.conf (TLS on port $SPORT)"
"$KSTAPLE" serve -c "$W/kstaple.conf" >"$W/kstaple.log" 2>&1 &
KS=$!
PIDS+=("$KS")
wait_listen "$SPORT"
sed 's/^/   | /' "$W/kstaple.log"

echo
echo "== openssl s_client -status (the very first handshake)"
out=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect "127.0.0.1:$SPORT" \
	-servername localhost -status -CAfile "$P/ca/root/ca.crt" -ign_eof 2>&1)
grep -E "OCSP Response Status|Cert Status|This Update|Next Update|Protocol  :|Verify return code|^backend" \
	<<<"$out" | sed 's/^ */   /' | sort -u

echo
echo "== curl --cert-status https://localhost:$SPORT/"
if body=$(curl -sS --max-time 10 --cert-status --cacert "$P/ca/root/ca.crt" \
	"https://localhost:$SPORT/" 2>&1); then
	echo "   curl verified the stapled OCSP response and got: $body"
else
	echo "   curl failed: $body" >&2
	exit 1
fi
grep -q "OCSP Response Status: successful" <<<"$out" || { echo "demo: no staple" >&2; exit 1; }

echo
echo "== stopping kstaple (SIGTERM: drain)"
kill -TERM "$KS"
wait "$KS" || true
tail -n 2 "$W/kstaple.log" | sed 's/^/   | /'

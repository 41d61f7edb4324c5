#!/bin/bash
# SPDX-License-Identifier: MIT
# Regenerate tests/fixtures/hellos/: ClientHellos captured from the real TLS clients installed
# on this machine, each relayed by scripts/hello-recorder.py to a real `openssl s_server` on
# 127.0.0.1. Writes NAME.bin (the client's first ClientHello records, plus ChangeCipherSpec and
# the second ClientHello after a HelloRetryRequest) and expected.tsv:
#   name  hellos  status_request  no_status_request  status_request_v2  hrr_hellos
# The expectations are what each client is documented to send; the recorder's own parse of
# the bytes must agree or the capture fails. Clients that are not installed are skipped.
#
# usage: scripts/capture-hellos.sh [OUT_DIR]   (default tests/fixtures/hellos)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../tests/fixtures/hellos}
mkdir -p "$out"
out=$(cd "$out" && pwd)
T=$(mktemp -d /tmp/capture-hellos.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_listen() {
	local i
	for i in $(seq 1 100); do
		ss -Hltn "sport = :$1" | grep -q . && return 0
		sleep 0.05
	done
	echo "nothing listens on $1" >&2
	return 1
}

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/key.pem" \
	-out "$T/cert.pem" -days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 \
	2>/dev/null
SRV=$(free_port)
openssl s_server -accept "$SRV" -cert "$T/cert.pem" -key "$T/key.pem" -www -quiet \
	>"$T/server.log" 2>&1 &
PIDS+=($!)
# A server that accepts only P-256, for clients whose first key share is X25519: it answers
# with a HelloRetryRequest.
SRV_HRR=$(free_port)
openssl s_server -accept "$SRV_HRR" -cert "$T/cert.pem" -key "$T/key.pem" -www -quiet \
	-groups P-256 >"$T/server-hrr.log" 2>&1 &
PIDS+=($!)
wait_listen "$SRV"
wait_listen "$SRV_HRR"

: >"$T/expected.tsv"
# capture NAME SERVER_PORT "EXPECTED (hellos sr nosr v2 hrr)" COMMAND... ({PORT} is replaced)
capture() {
	local name=$1 srv=$2 expect=$3 lp rp args=() a got
	shift 3
	lp=$(free_port)
	python3 "$here/hello-recorder.py" "$lp" "$srv" "$out/$name.bin" >"$T/$name.json" 2>&1 &
	rp=$!
	wait_listen "$lp"
	for a in "$@"; do args+=("${a//\{PORT\}/$lp}"); done
	timeout 30 "${args[@]}" </dev/null >"$T/$name.client.log" 2>&1 || true
	if ! wait "$rp"; then
		echo "capture $name: $(cat "$T/$name.json")" >&2
		return 1
	fi
	# hellos, with status_request (5), without, with status_request_v2 (17), after HRR
	got=$(python3 -c '
import json, sys
h = json.load(open(sys.argv[1]))["hellos"]
sr = sum(5 in x for x in h)
print(len(h), sr, len(h) - sr, sum(17 in x for x in h), len(h) - 1)' "$T/$name.json")
	if [ "$got" != "$expect" ]; then
		echo "capture $name: expected '$expect', the recorder saw '$got'" >&2
		return 1
	fi
	printf '%s\t%s\n' "$name" "${got// /$'\t'}" >>"$T/expected.tsv"
	echo "captured $name ($(stat -c %s "$out/$name.bin") bytes): $got"
}

have() { command -v "$1" >/dev/null 2>&1; }

capture openssl-status "$SRV" "1 1 0 0 0" openssl s_client -connect 127.0.0.1:{PORT} -status
capture openssl-nostatus "$SRV" "1 0 1 0 0" openssl s_client -connect 127.0.0.1:{PORT}
capture openssl-tls12-status "$SRV" "1 1 0 0 0" \
	openssl s_client -connect 127.0.0.1:{PORT} -tls1_2 -status
capture openssl-hrr-status "$SRV_HRR" "2 2 0 0 1" \
	openssl s_client -connect 127.0.0.1:{PORT} -groups X25519:P-256 -status
capture openssl-hrr-nostatus "$SRV_HRR" "2 0 2 0 1" \
	openssl s_client -connect 127.0.0.1:{PORT} -groups X25519:P-256
if have curl; then
	capture curl-certstatus "$SRV" "1 1 0 0 0" curl -sk --cert-status https://127.0.0.1:{PORT}/
	capture curl-nostatus "$SRV" "1 0 1 0 0" curl -sk https://127.0.0.1:{PORT}/
fi
if have gnutls-cli; then
	capture gnutls-cli "$SRV" "1 1 0 0 0" gnutls-cli --insecure -p {PORT} 127.0.0.1
fi
if have node; then
	cat >"$T/client.js" <<'JS'
const tls = require('tls');
const s = tls.connect({ host: '127.0.0.1', port: +process.argv[2], rejectUnauthorized: false,
	requestOCSP: process.argv[3] === 'ocsp' }, () => s.end());
s.on('error', () => {});
s.setTimeout(5000, () => s.destroy());
JS
	capture node-ocsp "$SRV" "1 1 0 0 0" node "$T/client.js" {PORT} ocsp
	capture node-noocsp "$SRV" "1 0 1 0 0" node "$T/client.js" {PORT} none
fi
if have javac && have java; then
	cat >"$T/Hello.java" <<'JAVA'
import javax.net.ssl.*;
import java.security.cert.X509Certificate;
public class Hello {
	public static void main(String[] a) throws Exception {
		TrustManager[] all = { new X509TrustManager() {
			public void checkClientTrusted(X509Certificate[] c, String t) {}
			public void checkServerTrusted(X509Certificate[] c, String t) {}
			public X509Certificate[] getAcceptedIssuers() { return new X509Certificate[0]; }
		} };
		SSLContext ctx = SSLContext.getInstance("TLS");
		ctx.init(null, all, null);
		try (SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket("127.0.0.1",
				Integer.parseInt(a[0]))) {
			s.startHandshake();
		} catch (Exception e) { }
	}
}
JAVA
	javac -d "$T" "$T/Hello.java"
	capture java "$SRV" "1 1 0 1 0" java -cp "$T" Hello {PORT}
fi
chromium_bin=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$chromium_bin" ]; then
	# Today's Chromium: ~1.9 KB hello with an X25519MLKEM768 key share.
	capture chromium "$SRV" "1 1 0 0 0" "$chromium_bin" --headless --no-sandbox \
		--disable-gpu --disable-quic --no-first-run --disable-background-networking \
		--disable-component-update --disable-sync --user-data-dir="$T/chromium" \
		--ignore-certificate-errors --dump-dom https://127.0.0.1:{PORT}/
fi
sort "$T/expected.tsv" >"$out/expected.tsv"
echo "wrote $(wc -l <"$out/expected.tsv") hellos to $out"

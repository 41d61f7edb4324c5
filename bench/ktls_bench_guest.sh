#!/bin/bash
# SPDX-License-Identifier: MIT
# The part of bench/ktls_bench.sh that runs inside the kTLS kernel: one group (a TLS version
# and a cipher), REPS repetitions of upload and download through kstaple's kTLS+splice path
# and its userspace path, alternating which goes first. Prints one line per run:
#   RUN ver=V cipher=C path=ktls|user rep=N dir=up|down bytes=B secs=S MBps=R version=..
#       suite=.. ks_ticks=K busy_ticks=U hz=H
# (secs: the transfer, handshake excluded; ks_ticks: kstaple's utime+stime over it;
# busy_ticks: the whole machine's non-idle time over it, client and backend included), the
# raw AEAD speeds ("INFO aead ...") and INFO lines about the kernel.
#
#   bench/ktls_bench_guest.sh VERSION:CIPHER PKI_DIR OCSP_PORT MIB REPS
# Env: KSTAPLE, KS_BUILD, KS_BENCH_AEAD=0 (leave out the raw AEAD speeds: ~3 s).
set -euo pipefail
[ $# = 5 ] || { echo "usage: $0 VERSION:CIPHER PKI_DIR OCSP_PORT MIB REPS" >&2; exit 64; }
group=$1 P=$2 RPORT=$3 MIB=$4 REPS=$5
ver=${group%%:*} cipher=${group#*:}
BULK=$KS_BUILD/bench/bulk
export OPENSSL_CONF=/dev/null

# The client offers exactly one cipher; TLS 1.2 names the ECDSA certificate's suites.
case $ver:$cipher in
1.3:aes128) name=TLS_AES_128_GCM_SHA256 ;;
1.3:aes256) name=TLS_AES_256_GCM_SHA384 ;;
1.3:chacha) name=TLS_CHACHA20_POLY1305_SHA256 ;;
1.2:aes128) name=ECDHE-ECDSA-AES128-GCM-SHA256 ;;
1.2:aes256) name=ECDHE-ECDSA-AES256-GCM-SHA384 ;;
1.2:chacha) name=ECDHE-ECDSA-CHACHA20-POLY1305 ;;
*) echo "ktls_bench: unknown group $group" >&2; exit 64 ;;
esac

T=$(mktemp -d "${TMPDIR:-/tmp}/ktlsbench.XXXXXX")
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# A listener on PORT, from /proc/net/tcp{,6} (state 0A): UML's kernel has no sock_diag for ss.
listening() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v p=":$hex" '$2 ~ p"$" && $4 == "0A" { f = 1 } END { exit !f }' /proc/net/tcp /proc/net/tcp6
}
wait_listen() {
	for _ in $(seq 1 200); do
		listening "$1" && return 0
		sleep 0.05
	done
	echo "ktls_bench: nothing listens on port $1" >&2
	tail -n 20 "$T"/*.log >&2
	exit 1
}

I=$P/ca/intermediate
openssl ocsp -index "$I/index.txt" -port "$RPORT" -rsigner "$I/ca.crt" -rkey "$I/ca.key" \
	-CA "$I/ca.crt" -nmin 60 -ignore_err >"$T/responder.log" 2>&1 &
PIDS+=($!)
wait_listen "$RPORT"
BPORT=$(port)
"$BULK" backend "$BPORT" 2>"$T/backend.log" &
PIDS+=($!)
wait_listen "$BPORT"

declare -A KPID KPORT
# start_kstaple PATH(ktls|user): one instance, one worker, proxying to the bulk backend.
start_kstaple() {
	local path=$1 mode=require
	[ "$path" = user ] && mode=off
	KPORT[$path]=$(port)
	mkdir -p "$T/state-$path"
	cat >"$T/$path.conf" <<EOF
[kstaple]
state_dir = $T/state-$path
workers = 1
log_level = debug
[fetch]
startup_wait_ms = 5000
[cert:ecdsa]
chain = $P/leaf/ecdsa/chain.pem
key = $P/leaf/ecdsa/key.pem
responder = http://127.0.0.1:$RPORT
[listener:bench]
listen = 127.0.0.1:${KPORT[$path]}
backend = 127.0.0.1:$BPORT
certs = ecdsa
ktls = $mode
EOF
	"$KSTAPLE" serve -c "$T/$path.conf" >"$T/$path.log" 2>&1 &
	KPID[$path]=$!
	PIDS+=($!)
	wait_listen "${KPORT[$path]}"
}
start_kstaple ktls
start_kstaple user

bytes=$((MIB * 1048576))
ktls_runs=0
# run PATH DIR REP: one transfer, one RUN line.
run() {
	local path=$1 dir=$2 rep=$3 out
	# The client samples kstaple's CPU time (utime + stime, all threads, exited ones
	# included) and the machine's around the transfer itself: not the handshake, not its
	# own start-up.
	out=$("$BULK" client -p "${KPORT[$path]}" -V "$ver" -C "$name" -d "$dir" -n "$bytes" \
		-A "$P/ca/root/ca.crt" -P "${KPID[$path]}" 2>"$T/client.err") || {
		cat "$T/client.err" >&2
		tail -n 5 "$T/$path.log" "$T/backend.log" >&2
		exit 1
	}
	echo "RUN ver=$ver cipher=$cipher path=$path rep=$rep ${out#RESULT }"
	# The path is what it claims: every kTLS session both ways in the kernel, no kTLS in the other.
	if [ "$path" = ktls ]; then
		ktls_runs=$((ktls_runs + 1))
		local n
		n=$(grep -c "both directions in the kernel (splice proxy)" "$T/ktls.log" || true)
		[ "$n" = "$ktls_runs" ] || {
			echo "ktls_bench: $n kTLS sessions logged after $ktls_runs runs:" >&2
			tail -n 5 "$T/ktls.log" >&2
			exit 1
		}
	elif grep -q "in the kernel" "$T/user.log"; then
		echo "ktls_bench: the ktls = off instance used kTLS: $(grep -m1 'in the kernel' "$T/user.log")" >&2
		exit 1
	fi
}

for rep in $(seq 1 "$REPS"); do
	# Alternate which path goes first: a drift in the machine's speed hits both alike.
	if [ $((rep % 2)) = 1 ]; then order="ktls user"; else order="user ktls"; fi
	for dir in up down; do
		for path in $order; do run "$path" "$dir" "$rep"; done
	done
done

echo "INFO kernel=$(uname -r) openssl=$(openssl version | cut -d' ' -f2) ncpu=$(nproc)"
# Which implementations the kernel's TLS used (UML: generic C; no AES-NI in there).
awk -v g="$group" '/^name/ { n = $3 } /^driver/ && n ~ /^(gcm\(aes\)|rfc7539\(chacha20,poly1305\))$/ {
	printf "INFO group=%s kernel_aead %s=%s\n", g, n, $3 }' /proc/crypto | sort -u
# The raw AEAD speed on each side, 16 KiB records (a full TLS record): the kernel's through
# AF_ALG (algif_aead), OpenSSL's with `openssl speed`. It says how much of the difference is
# only the crypto implementation (UML: generic C in the kernel, AES-NI in userspace).
[ "${KS_BENCH_AEAD:-1}" = 1 ] || exit 0
case $cipher in
aes128) kalg="gcm(aes)" klen=16 oalg=aes-128-gcm ;;
aes256) kalg="gcm(aes)" klen=32 oalg=aes-256-gcm ;;
chacha) kalg="rfc7539(chacha20,poly1305)" klen=32 oalg=chacha20-poly1305 ;;
esac
kmbps=$(python3 - "$kalg" "$klen" <<'PY' 2>"$T/afalg.err" || echo "n/a"
import os, socket, sys, time
alg, klen = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_ALG, socket.SOCK_SEQPACKET, 0)
s.bind(("aead", alg))
s.setsockopt(socket.SOL_ALG, socket.ALG_SET_KEY, os.urandom(klen))
s.setsockopt(socket.SOL_ALG, socket.ALG_SET_AEAD_AUTHSIZE, None, 16)
op, _ = s.accept()
buf, iv, n, t0 = os.urandom(16384), os.urandom(12), 0, time.monotonic()
while time.monotonic() - t0 < 1.0:
    op.sendmsg_afalg([buf], op=socket.ALG_OP_ENCRYPT, iv=iv, assoclen=0)
    op.recv(len(buf) + 16)
    n += len(buf)
print("%.0f" % (n / (time.monotonic() - t0) / 1e6))
PY
)
ombps=$(openssl speed -mr -seconds 1 -bytes 16384 -evp "$oalg" 2>/dev/null |
	awk -F: '/^\+F:/ { printf "%.0f", $4 / 1e6 }')
echo "INFO aead group=$group kernel_alg=$kalg kernel_MBps=${kmbps:-n/a} openssl_alg=$oalg" \
	"openssl_MBps=${ombps:-n/a}"

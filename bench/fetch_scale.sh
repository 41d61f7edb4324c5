#!/bin/bash
# SPDX-License-Identifier: MIT
# Scale benchmark for `kstaple fetch` (issue 3, acceptance 3). Not a test: it prints numbers.
#
# Creates N leaf certificates under one issuer (one `openssl ca` run, one shared key), starts
# OpenSSL's OCSP responder with MULTI child processes, then measures
#   1. `kstaple fetch` over all N certificates (fetch + verify + fsync'd store, one process),
#   2. a serial loop of `openssl ocsp` client requests (fetch + verify + write) over the first
#      SERIAL_N certificates: the same work per certificate except that kstaple also fsyncs
#      each file and its directory (openssl's -respout does not), so the comparison favours
#      openssl slightly,
# and reports staples/second for both and their ratio, with where the time went: loading the
# certificates, the fetch pass, CPU seconds of kstaple and of the responder during it, and the
# machine's load average (the 2-core development VM is shared: read numbers beside it).
#
#   N=1000 MULTI=4 SERIAL_N=200 KSTAPLE=build/kstaple bench/fetch_scale.sh
#   N=10000 bench/fetch_scale.sh
# Optional: MAX_CONCURRENCY, MAX_PER_RESPONDER (kstaple [fetch] keys), RESPONDER_ARGS (more
# `openssl ocsp` responder options, e.g. -resp_no_certs), KEEP=1 keeps the work dir.
#
# OpenSSL's responder closes the connection after every response (HTTP/1.0, no keep-alive), so
# each staple costs a TCP connection; on loopback that is cheap next to the signature work.
# On an ext4 file system without a journal (this VM's root), creating a file scans past the
# inodes deleted in the last minute: a run that follows another one (whose work directory of
# 3N files was just removed) pays for it in `persist`; leave a minute between runs.
set -euo pipefail

N=${N:-1000}
MULTI=${MULTI:-4}
SERIAL_N=${SERIAL_N:-$((N < 200 ? N : 200))}
KSTAPLE=${KSTAPLE:-build/kstaple}
MAX_CONCURRENCY=${MAX_CONCURRENCY:-64}
MAX_PER_RESPONDER=${MAX_PER_RESPONDER:-8}
[ -x "$KSTAPLE" ] || { echo "build kstaple first (make), or set KSTAPLE" >&2; exit 1; }
KSTAPLE=$(cd "$(dirname "$KSTAPLE")" && pwd)/$(basename "$KSTAPLE")

W=$(mktemp -d /tmp/kstaple-bench.XXXXXX)
RESP_PID=
cleanup() {
	if [ -n "$RESP_PID" ]; then
		# The -multi children outlive a SIGTERM to their parent: stop them first.
		pkill -TERM -P "$RESP_PID" 2>/dev/null || true
		kill "$RESP_PID" 2>/dev/null || true
		wait "$RESP_PID" 2>/dev/null || true
	fi
	if [ -n "${KEEP:-}" ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT

now_ms() { date +%s%3N; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# CPU seconds (user + system) used so far by the responder and its -multi children.
resp_cpu() {
	local p sum=0 t
	for p in "$RESP_PID" $(pgrep -P "$RESP_PID"); do
		t=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null) || t=0
		sum=$((sum + ${t:-0}))
	done
	echo "$sum"
}
CLK_TCK=$(getconf CLK_TCK)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

echo "== creating $N certificates under one issuer (responder port $port)"
t0=$(now_ms)
mkdir -p "$W/ca/newcerts" "$W/chains" "$W/state" "$W/serial"
touch "$W/ca/index.txt"
echo 1000 >"$W/ca/serial"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/ca/ca.key" \
	-out "$W/ca/ca.crt" -subj "/CN=kstaple bench CA" -days 30 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/leaf.key" \
	-out "$W/leaf.csr" -subj "/CN=leaf.bench.test" 2>/dev/null
cat >"$W/ca/ca.cnf" <<CNF
[ca]
default_ca = bench
[bench]
dir = $W/ca
database = $W/ca/index.txt
new_certs_dir = $W/ca/newcerts
serial = $W/ca/serial
certificate = $W/ca/ca.crt
private_key = $W/ca/ca.key
default_md = sha256
default_days = 30
policy = any
unique_subject = no
x509_extensions = leaf
[any]
commonName = supplied
[leaf]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = serverAuth
authorityInfoAccess = OCSP;URI:http://127.0.0.1:$port
CNF
# One CSR signed N times: every certificate gets its own serial, hence its own CertID.
left=$N
while [ "$left" -gt 0 ]; do
	k=$((left < 2000 ? left : 2000))
	# shellcheck disable=SC2046
	openssl ca -batch -notext -config "$W/ca/ca.cnf" -out /dev/null \
		-infiles $(yes "$W/leaf.csr" | head -n "$k") >>"$W/ca/ca.log" 2>&1
	left=$((left - k))
done
python3 - "$W" <<'PY'
import os, sys
w = sys.argv[1]
ca = open(os.path.join(w, "ca/ca.crt")).read()
names = sorted(os.listdir(os.path.join(w, "ca/newcerts")))
with open(os.path.join(w, "kstaple.conf"), "w") as conf:
    conf.write("[kstaple]\nstate_dir = %s/state\nlog_level = warning\n\n" % w)
    conf.write("[fetch]\nmax_concurrency = %s\nmax_per_responder = %s\n\n"
               % (os.environ.get("MAX_CONCURRENCY", "64"), os.environ.get("MAX_PER_RESPONDER", "8")))
    with open(os.path.join(w, "certs.list"), "w") as lst:
        for n in names:
            serial = n[:-4]
            leaf = open(os.path.join(w, "ca/newcerts", n)).read()
            chain = os.path.join(w, "chains", serial + ".pem")
            with open(chain, "w") as f:
                f.write(leaf + ca)
            # Relative paths (from the configuration's directory): 10,000 sections take about
            # 0.5 MB (the limit is KS_CONFIG_FILE_MAX, 16 MiB).
            conf.write("[cert:c%s]\nchain = chains/%s.pem\nkey = leaf.key\n\n" % (serial, serial))
            lst.write(os.path.join(w, "ca/newcerts", n) + "\n")
PY
[ "$(wc -l <"$W/certs.list")" = "$N" ] || { echo "expected $N certificates" >&2; exit 1; }
echo "   done in $(($(now_ms) - t0)) ms"

echo "== openssl ocsp responder, -multi $MULTI ${RESPONDER_ARGS:-}"
read -r -a resp_args <<<"${RESPONDER_ARGS:-}"
openssl ocsp -index "$W/ca/index.txt" -port "$port" -rsigner "$W/ca/ca.crt" -rkey "$W/ca/ca.key" \
	-CA "$W/ca/ca.crt" -nmin 60 -multi "$MULTI" "${resp_args[@]}" -ignore_err \
	>"$W/responder.log" 2>&1 &
RESP_PID=$!
for _ in $(seq 1 100); do ss -Hltn "sport = :$port" | grep -q . && break; sleep 0.05; done

echo "== kstaple fetch: $N certificates (max_concurrency $MAX_CONCURRENCY, max_per_responder $MAX_PER_RESPONDER)"
load_before=$(loadavg)
r0=$(resp_cpu)
t0=$(now_ms)
rc=0
TIMEFORMAT='%U %S'
{ time "$KSTAPLE" fetch -c "$W/kstaple.conf" --json >"$W/fetch.json" 2>"$W/fetch.err" || rc=$?; } \
	2>"$W/fetch.time"
k_ms=$(($(now_ms) - t0))
r_ticks=$(($(resp_cpu) - r0))
read -r k_user k_sys <"$W/fetch.time"
stored=$(find "$W/state" -name '*.der' | wc -l)
if [ "$rc" -ge 64 ] || [ ! -s "$W/fetch.json" ]; then
	tail -n 5 "$W/fetch.err" >&2
	echo "kstaple fetch failed (exit $rc)" >&2
	exit 1
fi
read -r ok_lines load_ms pass_ms < <(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(sum(c["result"] == "ok" and c["status"] == "good" for c in d["certificates"]),
      d["load_ms"], d["fetch_ms"])' "$W/fetch.json")
echo "   exit $rc, $stored staples stored, $ok_lines reported ok, $k_ms ms" \
	"(certificates loaded after $load_ms ms; the pass, which starts while loading, took $pass_ms ms)"
if [ "$rc" != 0 ] || [ "$stored" != "$N" ]; then
	tail -n 5 "$W/fetch.err" >&2
	echo "kstaple fetch did not store every staple" >&2
	exit 1
fi

echo "== serial loop: openssl ocsp over the first $SERIAL_N certificates"
t0=$(now_ms)
i=0
while read -r leaf && [ "$i" -lt "$SERIAL_N" ]; do
	openssl ocsp -issuer "$W/ca/ca.crt" -cert "$leaf" -url "http://127.0.0.1:$port" \
		-CAfile "$W/ca/ca.crt" -no_nonce -respout "$W/serial/$i.der" >/dev/null 2>&1 ||
		{ echo "openssl ocsp failed for $leaf" >&2; exit 1; }
	i=$((i + 1))
done <"$W/certs.list"
s_ms=$(($(now_ms) - t0))
echo "   $SERIAL_N responses in $s_ms ms"

python3 - "$N" "$k_ms" "$SERIAL_N" "$s_ms" "$MULTI" "$load_ms" "$pass_ms" "$k_user" "$k_sys" \
	"$r_ticks" "$CLK_TCK" "$load_before" "$(loadavg)" "$MAX_CONCURRENCY" "$MAX_PER_RESPONDER" <<'PY'
import sys
a = sys.argv[1:]
n, k_ms, sn, s_ms, multi, load_ms, pass_ms = (int(x) for x in a[:7])
k_cpu = float(a[7]) + float(a[8])
r_cpu = int(a[9]) / float(a[10])
k_rate = n / (k_ms / 1000.0)
s_rate = sn / (s_ms / 1000.0)
print("== result (N=%d, responder openssl ocsp -multi %d, max_concurrency %s, "
      "max_per_responder %s)" % (n, multi, a[13], a[14]))
print("   load average  : %s before kstaple fetch, %s at the end" % (a[11], a[12]))
print("   kstaple fetch : %6d staples in %7.2f s = %8.1f staples/s (whole command)"
      % (n, k_ms / 1000.0, k_rate))
print("                   certificates loaded at %.2f s; pass (overlapping the load) %.2f s"
      % (load_ms / 1000.0, pass_ms / 1000.0))
print("                   CPU: kstaple %.2f s (%.0f us/staple), responder %.2f s "
      "(%.0f us/staple); %.2f of 2 cores busy"
      % (k_cpu, 1e6 * k_cpu / n, r_cpu, 1e6 * r_cpu / n, (k_cpu + r_cpu) / (k_ms / 1000.0)))
print("   openssl serial: %6d staples in %7.2f s = %8.1f staples/s" % (sn, s_ms / 1000.0, s_rate))
print("   ratio         : %.1fx" % (k_rate / s_rate))
PY

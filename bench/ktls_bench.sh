#!/bin/bash
# SPDX-License-Identifier: MIT
# Bulk throughput and CPU per byte of kstaple serve's proxy: kTLS + io_uring splice (ktls =
# require) against the userspace path (ktls = off), inside a kernel with kTLS (issue 5,
# acceptance 5). A benchmark: it reports numbers and never passes or fails on them.
#
#   bench/ktls_bench.sh          full run: 256 MiB per transfer, 5 repetitions, TLS 1.3 and 1.2
#                                x AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305 (~10 minutes)
#   QUICK=1 bench/ktls_bench.sh  16 MiB, 2 repetitions, AES-128-GCM only, no raw AEAD speeds
#                                (under a minute, waiting for the lock aside)
#
# On a host whose kernel lacks kTLS, every group runs inside scripts/ktls-vm.sh (User-Mode
# Linux 6.1, ONE emulated CPU, kernel crypto in generic C: aes-generic, ghash-generic,
# chacha20-generic, while userspace OpenSSL uses AES-NI/PCLMULQDQ/SSSE3). So the numbers are
# relative, and they lean against kTLS; see the summary's notes. Where the running kernel has
# kTLS the groups run natively.
#
# Per group (one TLS version and cipher): an OCSP responder, the backend (build/bench/bulk
# backend: sinks or sources the bytes, checking each), two kstaple serve instances (workers =
# 1) proxying to it, one with ktls = require and one with ktls = off, and the client
# (build/bench/bulk client: OpenSSL, one version and cipher offered, every byte checked).
# Each repetition runs upload (client -> backend) and download (backend -> client) through
# both instances, the order of the two paths alternating. A run's throughput is the client's
# (handshake excluded); kstaple's CPU is utime + stime of its process (all threads, io_uring's
# workers included: they are threads of kstaple) from /proc/PID/stat before and after the
# client ran. Each group holds $LOCK (flock) while it runs, so benchmarks of others sharing
# the machine do not overlap with it; a group holds it about 2-3 minutes.
#
# Env: QUICK, MIB (per transfer), REPS, GROUPS_SEL (of "1.3:aes128 1.3:aes256 1.3:chacha
# 1.2:aes128 1.2:aes256 1.2:chacha"), OUT (results dir; default bench/results/ktls-DATE),
# KSTAPLE, KS_BUILD, KS_BENCH_LOCK (lock file; empty: no lock), KS_BENCH_AEAD (0: leave out
# the raw AEAD speeds measured after each group).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

KS_BUILD=${KS_BUILD:-$root/build}
KSTAPLE=${KSTAPLE:-$KS_BUILD/kstaple}
BULK=$KS_BUILD/bench/bulk
for x in "$KSTAPLE" "$BULK"; do
	[ -x "$x" ] || { echo "ktls_bench: $x is not built (make)" >&2; exit 1; }
done
case "$(ldd "$KSTAPLE" 2>/dev/null)" in
*libasan*)
	echo "skipped: $KSTAPLE is built with AddressSanitizer (cannot run in User-Mode Linux; benchmark the plain build)"
	exit 0
	;;
esac

if [ -n "${QUICK:-}" ]; then
	MIB=${MIB:-16} REPS=${REPS:-2} GROUPS_SEL=${GROUPS_SEL:-1.3:aes128 1.2:aes128}
	export KS_BENCH_AEAD=${KS_BENCH_AEAD:-0}
else
	MIB=${MIB:-256} REPS=${REPS:-5}
	GROUPS_SEL=${GROUPS_SEL:-1.3:aes128 1.3:aes256 1.3:chacha 1.2:aes128 1.2:aes256 1.2:chacha}
fi
LOCK=${KS_BENCH_LOCK-/tmp/kstaple-bench.lock}
# Already run under `flock $LOCK ...` (make bench wrapped whole)? Then taking it again per
# group would wait for ourselves forever: a holder of the lock's inode in /proc/locks that is
# this shell or one of its ancestors means we have it already.
ancestor_holds_lock() {
	local ino holders p=$$
	ino=$(stat -c %i "$LOCK" 2>/dev/null) || return 1
	# "1: FLOCK  ADVISORY  WRITE PID MAJ:MIN:INODE 0 EOF"; waiters have "->" before FLOCK.
	holders=" $(awk -v i=":$ino\$" '$2 == "FLOCK" && $6 ~ i { printf "%s ", $5 }' /proc/locks) "
	while [ "$p" -gt 1 ]; do
		case $holders in *" $p "*) return 0 ;; esac
		p=$(awk '{ print $4 }' "/proc/$p/stat" 2>/dev/null) || return 1
	done
	return 1
}
if [ -n "$LOCK" ] && ancestor_holds_lock; then
	echo "ktls_bench: $LOCK is held by a parent process: not taking it again per group"
	LOCK=
fi
OUT=${OUT:-$here/results/ktls-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

if "$root/scripts/have-ktls.sh"; then
	where=native
else
	where=vm
fi
W=$(mktemp -d /tmp/kstaple-ktlsbench.XXXXXX)
trap 'rm -rf "$W"' EXIT
# The responder runs inside the VM, on the port the certificates' AIA names.
RPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$root/scripts/mkpki.sh" --force "$W/fx" "$RPORT" >"$W/mkpki.log" 2>&1 ||
	{ cat "$W/mkpki.log" >&2; exit 1; }
{
	echo "date_utc=$(date -u +%FT%TZ)"
	echo "commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
	echo "host_nproc=$(nproc) host_kernel=$(uname -r) load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "where=$where mib=$MIB reps=$REPS groups=$GROUPS_SEL"
} >"$OUT/machine.txt"
echo "ktls_bench: $MIB MiB per transfer, $REPS repetitions, groups: $GROUPS_SEL ($where)"

# run_group GROUP: the guest part under the lock, inside the VM unless the kernel has kTLS.
run_group() {
	local g=$1 rc=0 cmd
	cmd=(bash "$here/ktls_bench_guest.sh" "$g" "$W/fx/pki" "$RPORT" "$MIB" "$REPS")
	if [ $where = vm ]; then
		# IPv6 for `openssl ocsp -port`, which listens on [::]; AF_ALG for the raw AEAD
		# speed; more memory for the pipes.
		cmd=(env KS_VM_KMODS="lib/crc-ccitt net/ipv6/ipv6 crypto/af_alg crypto/algif_aead"
			KS_VM_MEM=768 KS_VM_TIMEOUT=900 "$root/scripts/ktls-vm.sh" -- "${cmd[@]}")
	fi
	[ -n "$LOCK" ] && cmd=(flock "$LOCK" "${cmd[@]}")
	KSTAPLE=$KSTAPLE KS_BUILD=$KS_BUILD "${cmd[@]}" >"$W/group.out" 2>"$W/group.err" || rc=$?
	if [ $rc = 125 ]; then
		echo "skipped: no kTLS kernel can run here: $(grep -m1 'ktls-vm:' "$W/group.err" ||
			echo "exit 125")" | tee "$OUT/summary.md"
		exit 0
	fi
	if [ $rc != 0 ]; then
		echo "ktls_bench: group $g failed (exit $rc):" >&2
		tail -n 20 "$W/group.out" "$W/group.err" >&2
		exit 1
	fi
	if ! grep -aq '^RUN ' "$W/group.out"; then
		echo "ktls_bench: group $g ran nothing:" >&2
		tail -n 20 "$W/group.out" "$W/group.err" >&2
		exit 1
	fi
	grep -a '^RUN \|^INFO ' "$W/group.out" >>"$OUT/runs.txt"
	# One line per run: "TLS 1.3 aes128 up ktls rep 1: 123.4 MB/s, kstaple 5.67 ns/B".
	grep -a '^RUN ' "$W/group.out" | awk '{
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "  TLS %s %s %-4s %-5s rep %s: %7.1f MB/s, kstaple %6.2f ns/B\n", v["ver"],
			v["cipher"], v["dir"], v["path"], v["rep"], v["bytes"] / v["secs"] / 1e6,
			v["ks_ticks"] / v["hz"] * 1e9 / v["bytes"] }'
}

: >"$OUT/runs.txt"
for g in $GROUPS_SEL; do
	echo "--- group $g"
	run_group "$g"
done
python3 "$here/ktls_bench_report.py" "$OUT" | tee "$OUT/summary.md"
echo "ktls_bench: results in $OUT (summary.md, runs.txt, machine.txt)"

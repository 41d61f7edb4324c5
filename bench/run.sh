#!/bin/bash
# SPDX-License-Identifier: MIT
# `make bench`: every benchmark, one after the other (QUICK=1 for short runs). Benchmarks
# report numbers; they never pass or fail on a speed target (that is for people to judge).
# ktls_bench.sh takes /tmp/kstaple-bench.lock per group itself (unless a parent holds it) and
# skips, saying why, where no kTLS kernel can run (scripts/ktls-vm.sh).
set -u
here=$(cd "$(dirname "$0")" && pwd)
export KSTAPLE KS_BUILD QUICK="${QUICK:-}"
mkdir -p "$here/results"
rc=0
took=()
t0=$SECONDS
for b in fetch_scale.sh hello_bench.sh compare.sh load.sh ktls_bench.sh; do
	[ -x "$here/$b" ] || continue
	echo "=================== bench/$b ==================="
	t=$SECONDS
	"$here/$b" || { echo "bench/$b failed (exit $?)"; rc=1; }
	took+=("$(printf '%-16s %4d s' "$b" $((SECONDS - t)))")
done
echo "=================== time taken ==================="
printf '%s\n' "${took[@]}"
printf '%-16s %4d s%s\n' total $((SECONDS - t0)) "${QUICK:+ (QUICK=1)}"
exit $rc

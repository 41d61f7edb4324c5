#!/bin/bash
# SPDX-License-Identifier: MIT
# Every libFuzzer target (tests/fuzz/*_fuzz.c) for a few seconds (FUZZ_SMOKE_SECONDS, default
# 3) from its committed corpus, so that a regression in a parser, or an input that once
# crashed it, shows in `make test`. The long run is `make fuzz FUZZ_SECONDS=600`. The agent's
# modules are compiled once into build/fuzz/obj (about 45 s the first time), so the sanitized
# pass of .ci/run reuses them.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh disable=SC1091
. "$here/lib.sh"
SRC=$(cd "$here/../.." && pwd)
CLANG=${CLANG:-clang}

command -v "$CLANG" >/dev/null || skip "$CLANG is missing: no fuzz targets (apt-get install clang)"
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' >"$T/t.c"
"$CLANG" -fsanitize=fuzzer,address,undefined "$T/t.c" -o "$T/t" 2>"$T/clang.err" ||
	skip "$CLANG cannot link libFuzzer targets: $(head -n 1 "$T/clang.err")"

targets=()
for f in "$SRC"/tests/fuzz/*_fuzz.c; do targets+=("$(basename "$f" _fuzz.c)"); done
[ "${#targets[@]}" -ge 5 ] || fail "only ${#targets[@]} fuzz targets: ${targets[*]}"
FUZZ_OUT=${FUZZ_SMOKE_OUT:-$SRC/build/fuzz} "$SRC/tests/fuzz/run.sh" "${FUZZ_SMOKE_SECONDS:-3}" "${targets[@]}" \
	>"$T/fuzz.out" 2>&1 || {
	cat "$T/fuzz.out"
	fail "a fuzz target failed on its corpus (see above)"
}
grep "number_of_executed_units" "$T/fuzz.out"
for t in "${targets[@]}"; do
	grep -q "fuzz: $t: stat::number_of_executed_units" "$T/fuzz.out" || fail "$t did not run"
done
echo ok

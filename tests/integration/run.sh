#!/bin/bash
# SPDX-License-Identifier: MIT
# Run the integration tests: every tests/integration/t_*.sh (or those named on the command line).
# Each test exits 0 (pass), 77 (skip: prints the reason) or anything else (fail). Output of a
# failing test is shown; a summary line closes the run.
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${KSTAPLE:?set KSTAPLE to the kstaple binary}"
: "${KS_FIXTURES:?set KS_FIXTURES to the fixture directory}"
export KSTAPLE KS_FIXTURES KS_BUILD="${KS_BUILD:-$(dirname "$KSTAPLE")}"

if [ $# -gt 0 ]; then
	tests=()
	for t in "$@"; do tests+=("$here/t_${t#t_}"); done
	tests=("${tests[@]/%.sh.sh/.sh}")
	tests=("${tests[@]/%/}")
else
	tests=("$here"/t_*.sh)
fi

pass=0 fail=0 skip=0 failed=()
for t in "${tests[@]}"; do
	[ -f "$t" ] || t="$t.sh"
	name=$(basename "$t" .sh)
	log=$(mktemp)
	start=$(date +%s)
	timeout --kill-after=10 "${KS_TEST_TIMEOUT:-600}" bash "$t" >"$log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	case $rc in
	0) pass=$((pass + 1)); printf '[PASS] %s (%ss)\n' "$name" "$secs" ;;
	77) skip=$((skip + 1)); printf '[SKIP] %s: %s\n' "$name" "$(tail -n 1 "$log")" ;;
	*) fail=$((fail + 1)); failed+=("$name")
	   printf '[FAIL] %s (exit %s, %ss)\n' "$name" "$rc" "$secs"
	   sed 's/^/    | /' "$log" | tail -n 60 ;;
	esac
	rm -f "$log"
done
echo "integration: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]

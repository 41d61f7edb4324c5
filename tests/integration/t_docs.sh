#!/bin/bash
# SPDX-License-Identifier: MIT
# The documentation keeps up with the code: every configuration key the parser knows is in
# kstaple.conf(5) and in the example file, and every command is in kstaple(8) and --help.
. "$(dirname "$0")/lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)

"$KSTAPLE" check-config --keys >"$T/keys"
[ -s "$T/keys" ] || fail "check-config --keys printed nothing"
missing=0
while IFS=$'\t' read -r section key _rest; do
	grep -q "^\.BR $key \|^\.B $key\b\|^\.BR ${key} " "$top/man/kstaple.conf.5" ||
		{ echo "kstaple.conf(5) lacks [$section] $key"; missing=1; }
	grep -Eq "^#?$key = " "$top/dist/kstaple.conf.example" ||
		{ echo "dist/kstaple.conf.example lacks [$section] $key"; missing=1; }
done <"$T/keys"
[ $missing = 0 ] || fail "undocumented configuration keys"

"$KSTAPLE" --help >"$T/help"
for cmd in $(awk '/^commands:/{f=1; next} f && /^  [a-z]/ {print $1}' "$T/help"); do
	grep -q "^\.B kstaple $cmd\|^\.B $cmd$" "$top/man/kstaple.8" || fail "kstaple(8) lacks $cmd"
	"$KSTAPLE" "$cmd" --help >/dev/null || fail "kstaple $cmd --help fails"
done
echo ok

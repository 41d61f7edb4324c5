#!/bin/bash
# SPDX-License-Identifier: MIT
# Least privilege in kstaple serve: it binds, loads its keys, then runs as [kstaple] user with
# no capabilities and still staples (state_dir stays writable); a private key that others may
# read is refused unless the operator overrides it.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh disable=SC1091
. "$here/lib.sh"
# shellcheck source=serve_lib.sh disable=SC1091
. "$here/serve_lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root to drop privileges"
id nobody >/dev/null 2>&1 || skip "no user 'nobody' on this machine"
group=$(id -gn nobody)
chmod 0755 "$T" # the dropped user must reach state_dir below it

start_ocsp
start_backend privdrop

step "user = nobody: serves with no capabilities, as nobody"
write_conf "ecdsa" "min_delay = 1s"
sed -i "s/^\[kstaple\]$/[kstaple]\nuser = nobody\ngroup = $group/" "$T/kstaple.conf"
start_kstaple
out=$(curl_status) || fail "curl --cert-status failed after the drop"
[ "$out" = "backend privdrop: hello" ] || fail "curl got '$out'"
uid=$(awk '/^Uid:/{print $2, $3, $4, $5}' "/proc/$KS_PID/status")
[ "$uid" = "$(id -u nobody) $(id -u nobody) $(id -u nobody) $(id -u nobody)" ] ||
	fail "uids after the drop: $uid"
for set in CapInh CapPrm CapEff CapAmb; do
	v=$(awk -v s="$set:" '$1 == s {print $2}' "/proc/$KS_PID/status")
	[ "$v" = 0000000000000000 ] || fail "$set is $v after the drop"
done
grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$KS_PID/status" || fail "no_new_privs not set"
# Every worker thread runs as nobody too.
for t in /proc/"$KS_PID"/task/*; do
	tu=$(awk '/^Uid:/{print $3}' "$t/status")
	[ "$tu" = "$(id -u nobody)" ] || fail "thread $(basename "$t") runs as uid $tu"
done
n=$(find "$T/state" -name '*.der' | wc -l)
[ "$n" = 1 ] || fail "no staple persisted by the dropped user ($n files)"
stop_kstaple

step "a private key readable by others is refused, naming the file and the fix"
chmod 0644 "$P/leaf/ecdsa/key.pem"
set +e
"$KSTAPLE" serve -c "$T/kstaple.conf" >"$T/refused.log" 2>&1
rc=$?
set -e
[ "$rc" = 78 ] || { cat "$T/refused.log"; fail "insecure key: exit $rc, want 78"; }
grep -q "$P/leaf/ecdsa/key.pem" "$T/refused.log" || fail "key file not named"
grep -q "chmod 600" "$T/refused.log" || fail "no fix suggested: $(cat "$T/refused.log")"
set +e
"$KSTAPLE" check-config -c "$T/kstaple.conf" >/dev/null 2>&1
rc=$?
set -e
[ "$rc" = 78 ] || fail "check-config accepted the insecure key (exit $rc)"

step "--allow-insecure-key-permissions overrides it for one run"
"$KSTAPLE" check-config --allow-insecure-key-permissions -c "$T/kstaple.conf" >/dev/null ||
	fail "check-config --allow-insecure-key-permissions failed"
KS_LOG=$T/insecure.log
"$KSTAPLE" serve --allow-insecure-key-permissions -c "$T/kstaple.conf" >>"$KS_LOG" 2>&1 &
KS_PID=$!
KS_PIDS+=("$KS_PID")
for _ in $(seq 1 200); do
	ss -Hltn "sport = :$SPORT" | grep -q . && break
	kill -0 "$KS_PID" 2>/dev/null || { cat "$KS_LOG"; fail "serve exited despite the override"; }
	sleep 0.05
done
curl_status >/dev/null || fail "curl failed with the override"
stop_kstaple
echo ok

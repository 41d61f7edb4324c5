#!/bin/bash
# SPDX-License-Identifier: MIT
# Issue 8, crash safety: state_dir on a small tmpfs that fills up while `kstaple serve` keeps
# refreshing two certificates every second. While it is full: clients still get valid,
# fresh staples (served from memory, newer than the files on disk), the state files stay
# intact, and kstaple says so exactly once ("state_dir ... is full: OCSP responses are kept in
# memory only"), however many writes fail. When space returns: said once, files are current
# again. The tmpfs lives in a private mount namespace (unshare -m): root only, else skipped.
# shellcheck disable=SC2119 # curl_status takes optional curl options
if [ -z "${KS_UNSHARED:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "needs root for a private mount namespace with a tmpfs"; exit 77; }
	unshare -m --propagation private true 2>/dev/null ||
		{ echo "unshare -m is not permitted here (container without CAP_SYS_ADMIN?)"; exit 77; }
	KS_UNSHARED=1 exec unshare -m --propagation private bash "$0" "$@"
fi
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh disable=SC1091
. "$here/lib.sh"
# shellcheck source=serve_lib.sh disable=SC1091
. "$here/serve_lib.sh"
command -v gnutls-cli >/dev/null || skip "gnutls-cli is missing (apt-get install gnutls-bin)"

mkdir -p "$T/state"
mount -t tmpfs -o size=64k,mode=0700 kstaple-test "$T/state" || skip "cannot mount a tmpfs"
start_ocsp 1 # responses valid one minute: refreshed every second below
start_backend diskfull
write_conf ecdsa,rsa "min_delay = 1s\nrefresh_fraction = 0.01\njitter = 0\nmin_before_expiry = 0"
start_kstaple
for _ in $(seq 1 50); do
	[ "$(find "$T/state" -name '*.der' | wc -l)" = 2 ] && break
	sleep 0.1
done
[ "$(find "$T/state" -name '*.der' | wc -l)" = 2 ] || fail "no state files"
curl_status >/dev/null || fail "no valid staple before the disk fills"

step "state_dir full"
mark=$(wc -l <"$KS_LOG")
dd if=/dev/zero of="$T/state/filler" bs=1k 2>/dev/null || true # until ENOSPC
[ "$(df --output=avail -k "$T/state" | tail -n 1 | tr -d ' ')" = 0 ] || fail "the tmpfs is not full"
mkdir -p "$T/saved"
cp "$T"/state/*.der "$T/saved/"
sleep 5 # about five refreshes of each certificate, every one failing to persist
since() { tail -n +"$((mark + 1))" "$KS_LOG"; }
full=$(since | grep -c "state_dir $T/state is full: OCSP responses are kept in memory only" || true)
[ "$full" = 1 ] || { since | grep -v stapling >&2; fail "the full state_dir was reported $full times, want once"; }
saves=$(since | grep -c "cannot save the OCSP response" || true)
[ "$saves" = 1 ] || fail "a failed write was logged $saves times, want once (the first)"
fetched=$(since | grep -c "stapling OCSP response (fetched)" || true)
[ "$fetched" -ge 6 ] || fail "only $fetched refreshes while full: not refreshing?"
for f in "$T"/saved/*.der; do
	cmp -s "$f" "$T/state/$(basename "$f")" || fail "a state file changed while the disk was full"
done
[ -z "$(find "$T/state" -name '.*.tmp.*')" ] || fail "temporary files left in the full state_dir"
# Clients get valid staples from memory: newer than anything on disk.
curl_status >/dev/null || fail "no valid staple while the disk is full"
rm -f "$T/staple.der"
timeout 10 gnutls-cli --x509cafile "$ROOT" -p "$SPORT" --save-ocsp "$T/staple.der" localhost \
	</dev/null >"$T/gnutls.out" 2>&1 || { cat "$T/gnutls.out"; fail "gnutls-cli"; }
out=$(openssl ocsp -respin "$T/staple.der" -issuer "$I/ca.crt" -CAfile "$ROOT" -no_nonce \
	-cert "$P/leaf/ecdsa/cert.pem" 2>&1)
if ! grep -q "Response verify OK" <<<"$out" || ! grep -q ": good" <<<"$out"; then
	echo "$out"
	fail "the staple served from memory is not valid"
fi
for f in "$T"/saved/*.der; do
	cmp -s "$f" "$T/staple.der" && fail "the staple served is the one on disk, not the fresh one"
done
echo "    reported once; $fetched refreshes served from memory"

step "space returns"
mark=$(wc -l <"$KS_LOG")
rm -f "$T/state/filler"
for _ in $(seq 1 50); do
	since | grep -q "state_dir $T/state can be written again" && break
	sleep 0.1
done
since | grep -q "state_dir $T/state can be written again" || fail "recovery not reported"
sleep 3
[ "$(since | grep -c "can be written again")" = 1 ] || fail "recovery reported more than once"
for f in "$T"/saved/*.der; do
	cmp -s "$f" "$T/state/$(basename "$f")" && fail "a state file was not rewritten after recovery"
	"$KSTAPLE" verify --cert "$P/leaf/ecdsa/cert.pem" --issuer "$I/ca.crt" \
		--response "$T/state/$(basename "$f")" >/dev/null 2>&1 ||
		"$KSTAPLE" verify --cert "$P/leaf/rsa/cert.pem" --issuer "$I/ca.crt" \
			--response "$T/state/$(basename "$f")" >/dev/null 2>&1 ||
		fail "state file $(basename "$f") does not verify after recovery"
done
grep -q "state_dir full\|kept in memory" <(since) && fail "still reporting a full state_dir"
stop_kstaple
umount "$T/state"
! grep -E "Sanitizer|runtime error:" "$KS_LOG" || fail "sanitizer report in kstaple's log"
echo ok

#!/bin/bash
# SPDX-License-Identifier: MIT
# t_ktls.sh: kernel TLS hand-off of real OpenSSL sessions (tests/tools/ktls_pair), for TLS 1.2
# and 1.3 with AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305: 10 MiB each way byte-exact
# through plain read/write on the kTLS socket, close_notify, a dropped client, KeyUpdate
# (requested and not), the manual TLS 1.3 TX path, refusals, and no leaked fds.
# The running kernel lacks kTLS (this host: no CONFIG_TLS)? Then the test runs itself again
# inside scripts/ktls-vm.sh (User-Mode Linux 6.1 with the tls module); if that kernel cannot
# boot here, the test SKIPs with the reason, it never passes without running.
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib.sh"

pair=$KS_BUILD/tools/ktls_pair
[ -x "$pair" ] || fail "missing $pair (make all)"

if ! why=$("$root/scripts/have-ktls.sh" -v); then
	[ -z "${KS_IN_VM:-}" ] || fail "inside the kTLS VM and still $why"
	if asan_binary "$pair"; then
		skip "AddressSanitizer builds cannot run inside User-Mode Linux (make test runs this test with the plain build)"
	fi
	echo "host: $why; running inside scripts/ktls-vm.sh"
	set +e
	"$root/scripts/ktls-vm.sh" -- bash "$0" 2> >(tee "$T/vm.err" >&2)
	rc=$?
	set -e
	wait
	if [ "$rc" = 125 ]; then
		skip "no kTLS kernel can run here: $(grep -m1 'ktls-vm:' "$T/vm.err" || echo "exit 125")"
	fi
	exit "$rc"
fi
echo "kernel $(uname -r): $why"

run() {
	local t0=$SECONDS
	local out
	out=$("$pair" "$@" 2>"$T/pair.err") || {
		cat "$T/pair.err" >&2
		fail "ktls_pair $*"
	}
	echo "    $out ($((SECONDS - t0)) s)"
	LAST=$out
	LAST_ERR=$(cat "$T/pair.err")
}

# (Criterion cannot run under UML: it maps its arena at an address beyond UML's task size.)
step "what ks_ktls_probe() finds in this kernel"
probe=$("$pair" -p) || fail "probe: $probe"
echo "    $probe"
for c in AES-128-GCM AES-256-GCM ChaCha20-Poly1305; do
	for v in 1.2 1.3; do
		case $probe in *"TLS$v/$c=tx+rx"*) ;; *) fail "kernel refuses TLS $v $c: $probe" ;; esac
	done
done

step "10 MiB each way, byte-exact, both directions in the kernel"
for v in 1.2 1.3; do
	for c in aes128 aes256 chacha; do
		run -v "$v" -c "$c" -s bulk -m 10
		case $LAST in *"dirs=tx+rx"*"received=10485760"*) ;; *) fail "bulk $v $c: $LAST" ;; esac
	done
done

step "TLS 1.3 with OpenSSL's kTLS off and no tickets: kstaple installs TX and RX itself"
for c in aes128 aes256 chacha; do
	run -v 1.3 -c "$c" -s bulk -m 10 -n -t 0
	case $LAST in *"tx_by=kstaple rx_by=kstaple"*) ;; *) fail "manual TX+RX: $LAST" ;; esac
done

step "refusals: TX sequence unknown (tickets sent, OpenSSL kTLS off); TLS 1.2 without OpenSSL"
run -v 1.3 -c aes128 -n -t 2 -e rx
case $LAST in *"record sequence is unknown"*) ;; *) fail "TX_SEQ: $LAST" ;; esac
run -v 1.2 -c aes128 -n -e none
case $LAST in *"OpenSSL did not enable"*) ;; *) fail "TLS 1.2 without OpenSSL: $LAST" ;; esac

step "close_notify mid-stream and a client that drops the connection"
for v in 1.2 1.3; do
	run -v "$v" -c chacha -s close -m 4
	case $LAST in *"received=2097152"*) ;; *) fail "close $v: $LAST" ;; esac
	run -v "$v" -c aes256 -s drop -m 4
done

step "KeyUpdate from the client (update_not_requested, update_requested)"
for s in keyupdate keyupdate-req; do
	for c in aes128 aes256 chacha; do
		run -v 1.3 -c "$c" -s "$s" -m 4
		case $LAST_ERR in
		*"cannot rekey"*) echo "    (closed with the logged reason: this kernel cannot rekey)" ;;
		*) case $LAST in *"received=4194304"*) ;; *) fail "$s $c: $LAST / $LAST_ERR" ;; esac ;;
		esac
	done
done
step "proxy mode: io_uring splice between the kTLS socket and a backend, 10 MiB each way"
for v in 1.2 1.3; do
	for c in aes128 aes256 chacha; do
		run -v "$v" -c "$c" -s splice -m 10
		case $LAST_ERR in
		*"splice done: ok; client->backend 10485760, backend->client 10485760, close_notify yes"*) ;;
		*) fail "splice $v $c: $LAST_ERR" ;;
		esac
	done
done
run -v 1.3 -c chacha -s splice-keyupdate -m 4
case $LAST_ERR in *"cannot rekey"*"client->backend 2097152"*) ;; *) fail "splice KeyUpdate: $LAST_ERR" ;; esac

step "hand-off mode: the kTLS socket passed to examples/handoff_echo, 10 MiB echoed"
sock=$T/handoff.sock
"$KS_BUILD/examples/handoff_echo" "$sock" >"$T/echo.out" 2>"$T/echo.err" &
KS_PIDS+=($!)
for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || fail "handoff_echo did not listen: $(cat "$T/echo.err")"
n=0
for v in 1.2 1.3; do
	for c in aes128 aes256 chacha; do
		run -v "$v" -c "$c" -s handoff -m 10 -H "$sock"
		n=$((n + 1))
	done
done
sleep 0.2
[ "$(grep -c '^handoff: sni=localhost alpn=- tls=0x030[34] cipher=.* peer=127.0.0.1:[0-9]* staple=no$' "$T/echo.out")" = "$n" ] ||
	fail "handoff_echo saw: $(cat "$T/echo.out" "$T/echo.err")"
! grep -q . "$T/echo.err" || ! grep -v 'listening on' "$T/echo.err" | grep -q . ||
	fail "handoff_echo complained: $(cat "$T/echo.err")"
echo "kTLS: all cases passed in kernel $(uname -r)"

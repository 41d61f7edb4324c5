#!/bin/bash
# SPDX-License-Identifier: MIT
# kstaple serve, issue acceptance 5: SIGHUP with a renewed certificate (same key and name, new
# serial): the next handshake presents the new certificate with a staple for the new serial,
# fetched before the swap; a connection in flight during the reload is not dropped. A reload
# with a broken configuration keeps the running one.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh disable=SC1091
. "$here/lib.sh"
# shellcheck source=serve_lib.sh disable=SC1091
. "$here/serve_lib.sh"

serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }

mkdir -p "$T/certs"
cp -a "$P/leaf/ecdsa" "$T/certs/ecdsa"
CHAIN_DIR=$T/certs
export CHAIN_DIR
start_ocsp
start_backend reload
write_conf "ecdsa"
start_kstaple
old=$(serial_of "$T/certs/ecdsa/cert.pem")
out=$(s_client -status)
grep -q "Serial Number: $old" <<<"$out" || fail "staple is not for serial $old"

step "a slow request in flight (3 s)"
curl -sS --max-time 20 --cacert "$ROOT" "https://localhost:$SPORT/slow/30" >"$T/slow.out" 2>&1 &
SLOW=$!
sleep 0.5

step "renew the certificate (same key, new serial) and SIGHUP"
openssl req -new -key "$T/certs/ecdsa/key.pem" -subj "/O=kstaple test/CN=ecdsa.kstaple.test" \
	-out "$T/renew.csr" 2>/dev/null
openssl ca -batch -notext -config "$I/openssl.cnf" -extensions v3_leaf -days 30 \
	-in "$T/renew.csr" -out "$T/renew.pem" >/dev/null 2>&1 || fail "openssl ca failed"
new=$(serial_of "$T/renew.pem")
[ "$new" != "$old" ] || fail "renewal kept the serial"
cat "$T/renew.pem" "$I/ca.crt" >"$T/certs/ecdsa/chain.pem.new"
mv "$T/certs/ecdsa/chain.pem.new" "$T/certs/ecdsa/chain.pem"
# OpenSSL's responder reads index.txt once: restart it so that it knows the new serial.
stop_ocsp
start_ocsp
kill -HUP "$KS_PID"
wait_log "reloaded: configuration 2"

step "the next handshake: new certificate, staple for the new serial"
out=$(s_client -status)
grep -q "OCSP Response Status: successful" <<<"$out" || fail "no staple right after the reload"
grep -q "Cert Status: good" <<<"$out" || fail "staple not good after the reload"
grep -q "Serial Number: $new" <<<"$out" || fail "staple is not for the new serial $new"
presented=$(sed -n '/^Server certificate/,/END CERTIFICATE/p' <<<"$out" |
	openssl x509 -noout -serial | cut -d= -f2)
[ "$presented" = "$new" ] || fail "presented serial $presented, expected $new"
curl_status >/dev/null || fail "curl --cert-status after the reload failed"
# The staple was fetched while the old configuration still served, not after the swap.
fetched=$(grep -n "stapling OCSP response (fetched)" "$KS_LOG" | tail -n 1 | cut -d: -f1)
reloaded=$(grep -n "reloaded: configuration 2" "$KS_LOG" | cut -d: -f1)
[ "$fetched" -lt "$reloaded" ] || fail "the new staple was fetched after the swap"

step "the connection in flight finished"
wait "$SLOW" || fail "the request in flight failed: $(cat "$T/slow.out")"
grep -q "backend reload: done" "$T/slow.out" || fail "the request in flight was cut: $(tail -n 2 "$T/slow.out")"

step "a broken configuration is refused and the running one kept"
echo "bogus line" >>"$T/kstaple.conf"
kill -HUP "$KS_PID"
wait_log "reload failed: still serving the previous configuration"
curl_status >/dev/null || fail "serving stopped after a failed reload"
stop_kstaple
echo "ok"

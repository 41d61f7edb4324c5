#!/bin/bash
# SPDX-License-Identifier: MIT
# kstaple serve, issue acceptance 1 and 2: the very first handshake after start-up gets a staple
# (curl --cert-status, gnutls-cli --ocsp, openssl s_client -status; TLS 1.2 and 1.3; ECDSA and
# RSA) and the backend's bytes; a client that does not ask gets no status; a revoked
# certificate's staple makes curl --cert-status fail. Also half-close both ways and a backend
# that refuses connections.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh disable=SC1091
. "$here/lib.sh"
# shellcheck source=serve_lib.sh disable=SC1091
. "$here/serve_lib.sh"

start_ocsp
start_backend first
write_conf "ecdsa,rsa"
start_kstaple

step "the very first request: curl --cert-status"
out=$(curl_status) || fail "first curl --cert-status failed"
[ "$out" = "backend first: hello" ] || fail "curl got '$out'"

step "openssl s_client -status, TLS 1.2 and 1.3, ECDSA and RSA"
for v in -tls1_2 -tls1_3; do
	for alg in ecdsa rsa; do
		case $alg in
		ecdsa) sig=ECDSA+SHA256 bits="256 bit" ;;
		rsa) sig=rsa_pss_rsae_sha256:RSA+SHA256 bits="2048 bit" ;;
		esac
		out=$(s_client -status "$v" -sigalgs "$sig")
		grep -q "OCSP Response Status: successful" <<<"$out" || fail "$v $alg: no staple"
		grep -q "Cert Status: good" <<<"$out" || fail "$v $alg: staple not good"
		grep -q "Server public key is $bits" <<<"$out" || fail "$v $alg: wrong certificate"
		grep -q "Verify return code: 0 (ok)" <<<"$out" || fail "$v $alg: chain does not verify"
		grep -q "^backend first: hello" <<<"$out" || fail "$v $alg: no backend bytes"
		# The staple is for the certificate that was presented.
		grep -q "Serial Number: $(openssl x509 -in "$P/leaf/$alg/cert.pem" -noout -serial |
			cut -d= -f2)" <<<"$out" || fail "$v $alg: staple for another serial"
	done
done

step "curl --cert-status with TLS 1.2 and RSA only"
out=$(curl_status --tlsv1.2 --tls-max 1.2 --ciphers ECDHE-RSA-AES128-GCM-SHA256) ||
	fail "curl TLS 1.2 RSA failed"
[ "$out" = "backend first: hello" ] || fail "curl got '$out'"

step "gnutls-cli --ocsp (TLS 1.3 and 1.2)"
for prio in NORMAL "NORMAL:-VERS-TLS1.3"; do
	out=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 gnutls-cli --ocsp --priority "$prio" \
		--x509cafile "$ROOT" -p "$SPORT" localhost 2>&1) || fail "gnutls-cli ($prio) failed: $out"
	grep -q "backend first: hello" <<<"$out" || fail "gnutls-cli ($prio): no backend bytes"
done

step "a client that does not ask gets no status"
out=$(s_client -tls1_3)
grep -q "OCSP response: no response sent" <<<"$out" && fail "s_client without -status got OCSP info"
grep -q "OCSP Response Status" <<<"$out" && fail "a staple was sent to a client that did not ask"
grep -q "^backend first: hello" <<<"$out" || fail "no backend bytes without -status"
out=$(s_client -tls1_2 -status)
grep -q "OCSP Response Status: successful" <<<"$out" || fail "asking again: no staple"

step "half-close both ways: the client's EOF reaches the backend, the backend's comes back"
out=$(timeout 15 python3 "$SRC/tests/tools/halfclose_client.py" "$SPORT" "$ROOT") ||
	fail "half-close: the read side did not end cleanly ($out)"
[ "$out" = "$(printf 'ping-%s\n' 1 2 3)" ] || fail "echo through the proxy returned '$out'"
stop_kstaple

step "a revoked certificate's staple makes curl --cert-status fail"
write_conf "revoked"
start_kstaple
out=$(s_client -status)
grep -q "Cert Status: revoked" <<<"$out" || fail "the revoked status was not stapled"
if out=$(curl_status 2>&1); then fail "curl --cert-status accepted a revoked certificate"; fi
grep -qiE "revoked|revocation" <<<"$out" || fail "curl failed, but not for revocation: $out"
out=$(curl -sS --max-time 10 --cacert "$ROOT" "https://localhost:$SPORT/") ||
	fail "curl without --cert-status should connect"
stop_kstaple

step "backend refuses: the client gets a TLS close and kstaple logs it"
write_conf "ecdsa"
kill "${KS_PIDS[1]}" # the backend
wait "${KS_PIDS[1]}" 2>/dev/null || true
start_kstaple
if curl_status >/dev/null 2>&1; then fail "curl succeeded without a backend"; fi
wait_log "backend 127.0.0.1:$BPORT: connect failed: Connection refused"
stop_kstaple
step "SNI picks the certificate (and staple) by name; unknown names get the default"
cat >>"$I/openssl.cnf" <<EOF
[ v3_leaf_other ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:other.test, DNS:*.other.test
authorityInfoAccess = OCSP;URI:http://127.0.0.1:$RPORT
EOF
mkdir -p "$P/leaf/other"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$P/leaf/other/key.pem" 2>/dev/null
openssl req -new -key "$P/leaf/other/key.pem" -subj "/O=kstaple test/CN=other.test" \
	-out "$T/other.csr" 2>/dev/null
openssl ca -batch -notext -config "$I/openssl.cnf" -extensions v3_leaf_other -days 30 \
	-in "$T/other.csr" -out "$P/leaf/other/cert.pem" >/dev/null 2>&1 || fail "openssl ca failed"
cat "$P/leaf/other/cert.pem" "$I/ca.crt" >"$P/leaf/other/chain.pem"
stop_ocsp # it reads index.txt once
start_ocsp
start_backend sni
write_conf "ecdsa,rsa,other"
start_kstaple
for host in other.test www.other.test; do
	out=$(curl -sS --max-time 10 --cert-status --cacert "$ROOT" \
		--resolve "$host:$SPORT:127.0.0.1" "https://$host:$SPORT/") ||
		fail "SNI $host: curl --cert-status failed"
	[ "$out" = "backend sni: hello" ] || fail "SNI $host: got '$out'"
done
sni() {
	printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect "127.0.0.1:$SPORT" \
		-servername "$1" -status -CAfile "$ROOT" -ign_eof 2>&1
}
out=$(sni other.test)
grep -q "subject=O = kstaple test, CN = other.test" <<<"$out" || fail "SNI other.test: wrong certificate"
grep -q "Serial Number: $(openssl x509 -in "$P/leaf/other/cert.pem" -noout -serial | cut -d= -f2)" \
	<<<"$out" || fail "SNI other.test: staple for another certificate"
out=$(sni nobody.example)
grep -q "CN = ecdsa.kstaple.test" <<<"$out" || fail "unknown SNI did not get the default certificate"
grep -q "Cert Status: good" <<<"$out" || fail "unknown SNI: no staple for the default"
stop_kstaple
echo "ok"

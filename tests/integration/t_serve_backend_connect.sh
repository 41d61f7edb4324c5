#!/bin/bash
# SPDX-License-Identifier: MIT
# [listener] backend_connect: "handshake" (the default) opens the backend connection right after
# the TLS handshake, so a backend that speaks first (a banner, as SMTP, IMAP or POP3 send)
# reaches a client that has sent nothing; "data" opens it on the client's first bytes, so a
# client that closes without sending costs no backend connection, and the first bytes still
# arrive (after the banner) once the client sends.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh disable=SC1091
. "$here/lib.sh"
# shellcheck source=serve_lib.sh disable=SC1091
. "$here/serve_lib.sh"

# A backend that speaks first: one line per accepted connection in accepts.log, then a banner,
# then an echo until the client half-closes.
cat >"$T/banner_backend.py" <<'EOF'
import socket, socketserver, sys
class H(socketserver.BaseRequestHandler):
    def handle(self):
        with open(sys.argv[2], "a") as f:
            f.write("accept\n")
        s = self.request
        s.sendall(b"220 banner\r\n")
        while True:
            d = s.recv(65536)
            if not d:
                break
            s.sendall(d)
        s.shutdown(socket.SHUT_WR)
class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
with S(("127.0.0.1", int(sys.argv[1])), H) as srv:
    srv.serve_forever()
EOF
# client.py MODE: "banner": read the banner without sending; "drop": handshake and close;
# "silent": handshake, close_notify, wait for the server's (nothing else may come first); "send": send a line, half-close, print everything that comes back.
cat >"$T/client.py" <<'EOF'
import os, socket, ssl, sys
mode, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                    server_hostname="localhost")
if mode == "banner":
    sys.stdout.write(s.recv(100).decode())
elif mode == "drop":
    s.close()
    print("closed")
elif mode == "silent":
    s.unwrap()  # close_notify, then the server's close_notify (raises if it never comes)
    print("closed")
else:
    s.sendall(b"ping\n")
    socket.socket(fileno=os.dup(s.fileno())).shutdown(socket.SHUT_WR)
    got = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
    sys.stdout.write(got.decode())
EOF
client() { timeout 10 python3 "$T/client.py" "$1" "$SPORT" "$ROOT"; }
accepts() { if [ -f "$T/accepts.log" ]; then wc -l <"$T/accepts.log"; else echo 0; fi; }

start_ocsp
python3 "$T/banner_backend.py" "$BPORT" "$T/accepts.log" >"$T/backend.log" 2>&1 &
KS_PIDS+=($!)
wait_listen "$BPORT"

step "default (handshake): the backend's banner reaches a client that sent nothing"
write_conf "ecdsa"
start_kstaple
out=$(client banner) || fail "banner client failed: $out"
[ "$out" = $'220 banner\r' ] || fail "expected the banner, got '$out'"
n=$(accepts)
[ "$n" = 1 ] || fail "expected 1 backend connection, got $n"
step "default (handshake): a silent client still costs a backend connection"
out=$(client drop) || fail "dropping client failed: $out"
for _ in $(seq 1 50); do [ "$(accepts)" = 2 ] && break; sleep 0.1; done
[ "$(accepts)" = 2 ] || fail "a silent client did not open a backend connection by default"
stop_kstaple

step "backend_connect = data: a silent client gets close_notify and costs no backend connection"
write_conf "ecdsa"
echo "backend_connect = data" >>"$T/kstaple.conf" # the listener is the last section
start_kstaple
before=$(accepts)
for _ in 1 2 3; do
	out=$(client silent) || fail "silent client failed: $out"
	[ "$out" = closed ] || fail "silent client: '$out'"
done
sleep 0.5
[ "$(accepts)" = "$before" ] || fail "backend_connect = data opened a backend connection for a silent client"

step "backend_connect = data: the first bytes open it and arrive, the banner before the echo"
out=$(client send) || fail "sending client failed: $out"
[ "$out" = $'220 banner\r\nping' ] || fail "expected banner and echo, got '$out'"
[ "$(accepts)" = $((before + 1)) ] || fail "expected one backend connection for the sending client"
stop_kstaple

step "backend_connect = data with a backend that refuses: the client gets a TLS close"
kill "${KS_PIDS[1]}"
wait "${KS_PIDS[1]}" 2>/dev/null || true
start_kstaple
out=$(client send 2>&1) || true # a clean close_notify (or a reset) ends it, nothing else
[ -z "$out" ] || [[ "$out" == *Error* ]] || fail "a client got bytes without a backend: '$out'"
wait_log "backend 127.0.0.1:$BPORT: connect failed: Connection refused"
stop_kstaple

step "an unknown backend_connect value is refused"
write_conf "ecdsa"
echo "backend_connect = later" >>"$T/kstaple.conf"
if "$KSTAPLE" serve -c "$T/kstaple.conf" >"$T/bad.log" 2>&1; then fail "backend_connect = later accepted"; fi
grep -q "backend_connect" "$T/bad.log" || fail "the error does not name backend_connect: $(cat "$T/bad.log")"
echo "ok"

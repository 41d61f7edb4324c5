#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""TLS client that half-closes: halfclose_client.py PORT CAFILE

Sends three lines, shuts down its sending side (TCP FIN, no close_notify), then reads until
the server's end of stream. Prints what came back; exits 1 if the read side did not end with
a clean close within 10 s.
"""
import os
import socket
import ssl
import sys

port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)
raw = socket.create_connection(("127.0.0.1", port), timeout=10)
s = ctx.wrap_socket(raw, server_hostname="localhost")
s.sendall(b"ping-1\nping-2\nping-3\n")
# SSLSocket.shutdown() drops the TLS state: half-close a duplicate of the descriptor.
socket.socket(fileno=os.dup(s.fileno())).shutdown(socket.SHUT_WR)
got = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
except (socket.timeout, ssl.SSLError, OSError) as e:
    sys.stdout.write(got.decode())
    print("error: %s" % e, file=sys.stderr)
    sys.exit(1)
sys.stdout.write(got.decode())

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Open N TCP connections to 127.0.0.1:PORT and hold them: hold_conns.py PORT N [--tls CAFILE]

With --tls each completes a TLS handshake first. Prints how many were established and
"ready", then holds them until killed. Connections that cannot be established in 3 s (a
server that stopped accepting) are counted as pending, not as errors.
"""
import socket
import ssl
import sys
import time

port, n = int(sys.argv[1]), int(sys.argv[2])
ctx = None
if "--tls" in sys.argv:
    ctx = ssl.create_default_context(cafile=sys.argv[sys.argv.index("--tls") + 1])
held, pending = [], 0
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    if ctx:
        try:
            s = ctx.wrap_socket(s, server_hostname="localhost")
        except (socket.timeout, OSError):
            pending += 1
    held.append(s)
print("established %d pending %d" % (n - pending, pending), flush=True)
print("ready", flush=True)
while True:
    time.sleep(3600)

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Tiny backend for kstaple serve's tests and demo.

    backend.py PORT [--name NAME]

A request starting with an HTTP method gets "HTTP/1.1 200" and the body
"backend NAME: hello\n" (Connection: close). GET /slow/N streams N lines, one every 100 ms
(a connection in flight during a reload). Anything else is echoed back until the client
half-closes, then the backend half-closes too (tests of half-close both ways).
"""
import socket
import socketserver
import sys
import time

NAME = "kstaple"


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        first = s.recv(65536)
        if not first:
            return
        if first.split(b" ", 1)[0] in (b"GET", b"HEAD", b"POST", b"PUT"):
            while b"\r\n\r\n" not in first:
                more = s.recv(65536)
                if not more:
                    break
                first += more
            self.http(s, first)
            return
        data = first
        while data:
            s.sendall(data)
            data = s.recv(65536)
        s.shutdown(socket.SHUT_WR)

    def http(self, s, req):
        path = req.split(b" ", 2)[1].decode("latin-1")
        if path.startswith("/slow/"):
            n = int(path[len("/slow/"):])
            s.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
            for i in range(n):
                s.sendall(("line %d\n" % i).encode())
                time.sleep(0.1)
            s.sendall(("backend %s: done\n" % NAME).encode())
        else:
            body = ("backend %s: hello\n" % NAME).encode()
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                      b"Connection: close\r\n\r\n%s" % (len(body), body))
        s.shutdown(socket.SHUT_WR)
        # Let the client read everything before the socket goes.
        s.settimeout(2)
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    global NAME
    port = int(sys.argv[1])
    if "--name" in sys.argv:
        NAME = sys.argv[sys.argv.index("--name") + 1]
    with Server(("127.0.0.1", port), Handler) as srv:
        srv.serve_forever()


if __name__ == "__main__":
    main()

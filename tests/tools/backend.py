#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Tiny backend for kstaple serve's tests and demo.

    backend.py PORT [--name NAME]

A request starting with an HTTP method gets "HTTP/1.1 200" and the body
"backend NAME: hello\n" (Connection: close). GET /slow/N streams N lines, one every 100 ms
(a connection in flight during a reload). PUT or POST /echo with a Content-Length answers
with the request body itself and its sha256 in an X-Body-Sha256 header (uploads through
the proxy, checked both ways). Anything else is echoed back until the client half-closes,
then the backend half-closes too (tests of half-close both ways).
"""
import hashlib
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

    def echo(self, s, req):
        head, _, body = req.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        body = bytearray(body)
        while len(body) < length:
            more = s.recv(min(1 << 20, length - len(body)))
            if not more:
                return
            body += more
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                  b"Content-Length: %d\r\nX-Body-Sha256: %s\r\nConnection: close\r\n\r\n"
                  % (len(body), hashlib.sha256(body).hexdigest().encode()))
        s.sendall(body)

    def http(self, s, req):
        method, path = req.split(b" ", 2)[:2]
        path = path.decode("latin-1")
        if path == "/echo" and method in (b"PUT", b"POST"):
            self.echo(s, req)
        elif path.startswith("/slow/"):
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

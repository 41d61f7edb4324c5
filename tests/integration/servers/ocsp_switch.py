#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""An OCSP responder whose behaviour the test switches while kstaple runs (t_faults.sh).

The current mode is the first word of the control file (--ctl). The server re-reads it every
50 ms and on every request; once it has taken a new mode it writes that mode to CTL.ack
(atomically), so a test can wait for the switch to be effective. Modes:

  good         proxy the request to --upstream (OpenSSL's `openssl ocsp` responder)
  revoked      proxy to --revoked-upstream (a responder whose index says "revoked")
  down         nothing listens on the port (the listening socket is closed: refused)
  slow         read the request, answer only after --slow seconds (like good, then)
  500          HTTP 500, text/plain
  html         200, text/html, an HTML page
  big          200, application/ocsp-response, --big bytes (default 10 MiB) with Content-Length
  garbage      200, application/ocsp-response, DER-looking bytes that are not an OCSPResponse
  der:NAME     200, application/ocsp-response, the body of --der-dir/NAME.der

Every response closes its connection, and a connection is answered in the mode current when
it was accepted. Each request is appended to --log as "MODE METHOD" when it has been read (a
slow answer is logged before it comes); the last body served in good
or revoked mode (the last authentic response) is written to --last before it is sent, so the
test knows which bytes kstaple must be stapling once a fault mode has seen a request.
"""
import argparse
import http.client
import os
import random
import select
import socket
import sys
import threading
import time

ARGS = None
LOCK = threading.Lock()
GARBAGE = b"\x30\x82\x01\x00" + bytes([0xFF]) + random.Random(8).randbytes(255)


def atomic_write(path, data):
    tmp = "%s.tmp.%d" % (path, threading.get_ident())
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def read_mode():
    try:
        with open(ARGS.ctl) as f:
            words = f.read().split()
            return words[0] if words else "good"
    except OSError:
        return "good"


def log(line):
    with LOCK, open(ARGS.log, "a") as f:
        f.write(line + "\n")


def read_request(conn):
    """(method, path, headers dict, body) of one HTTP/1.x request, or None."""
    conn.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
        if len(data) > 65536:
            return None
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) < 2:
        return None
    headers = {}
    for h in lines[1:]:
        k, _, v = h.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length") or 0)
    while len(body) < n:
        chunk = conn.recv(n - len(body))
        if not chunk:
            return None
        body += chunk
    return parts[0], parts[1], headers, body


def proxy(upstream, method, path, headers, body):
    """Forward to an `openssl ocsp` responder: (status, content type, body)."""
    host, port = upstream.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        if method == "POST":
            c.request("POST", "/", body,
                      {"Content-Type": headers.get("content-type", "application/ocsp-request")})
        else:
            c.request("GET", path)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type"), r.read()
    finally:
        c.close()


def send(conn, status, ctype, body):
    head = "HTTP/1.1 %d X\r\nContent-Length: %d\r\nConnection: close\r\n" % (status, len(body))
    if ctype:
        head += "Content-Type: %s\r\n" % ctype
    conn.sendall(head.encode() + b"\r\n")
    view = memoryview(body)
    for off in range(0, len(body), 65536):
        conn.sendall(view[off:off + 65536])


def authentic(mode, req):
    method, path, headers, body = req
    status, ctype, data = proxy(ARGS.upstream if mode != "revoked" else ARGS.revoked_upstream,
                                method, path, headers, body)
    if status == 200:
        with LOCK:
            atomic_write(ARGS.last, data)
    return status, ctype, data


def answer(conn, mode, req):
    if mode in ("good", "revoked"):
        return authentic(mode, req)
    if mode == "slow":
        # Long after the client gave up: a real answer, but not one anybody stapled.
        time.sleep(ARGS.slow)
        return proxy(ARGS.upstream, *req)
    if mode == "500":
        return 500, "text/plain", b"internal error\n"
    if mode == "html":
        return 200, "text/html", b"<html><body><h1>Service unavailable</h1></body></html>\n"
    if mode == "big":
        return 200, "application/ocsp-response", b"\x30" * ARGS.big
    if mode == "garbage":
        return 200, "application/ocsp-response", GARBAGE
    if mode.startswith("der:"):
        name = os.path.basename(mode[4:])
        with open(os.path.join(ARGS.der_dir, name + ".der"), "rb") as f:
            return 200, "application/ocsp-response", f.read()
    return 404, "text/plain", b"unknown mode %s\n" % mode.encode()


def handle(conn, mode):
    """One request, answered in the mode current when it was accepted."""
    try:
        req = read_request(conn)
        if req is None:
            return
        log("%s %s" % (mode, req[0]))
        status, ctype, body = answer(conn, mode, req)
        send(conn, status, ctype, body)
    except OSError:
        pass  # the client gave up (timeouts, oversized bodies): expected
    finally:
        conn.close()


def listen(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    return s


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ctl", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--last", required=True)
    p.add_argument("--upstream", required=True, help="HOST:PORT of the good responder")
    p.add_argument("--revoked-upstream", help="HOST:PORT of a responder saying revoked")
    p.add_argument("--der-dir", default=".")
    p.add_argument("--slow", type=float, default=60)
    p.add_argument("--big", type=int, default=10 << 20)
    ARGS = p.parse_args()
    sock, current = None, None
    while True:
        mode = read_mode()
        if mode != current:
            if mode == "down" and sock:
                sock.close()
                sock = None
            elif mode != "down" and not sock:
                sock = listen(ARGS.port)
            current = mode
            atomic_write(ARGS.ctl + ".ack", mode.encode() + b"\n")
        if not sock:
            time.sleep(0.05)
            continue
        ready, _, _ = select.select([sock], [], [], 0.05)
        if ready:
            conn, _ = sock.accept()
            threading.Thread(target=handle, args=(conn, current), daemon=True).start()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        pass

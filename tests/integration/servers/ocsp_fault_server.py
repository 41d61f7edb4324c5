#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A misbehaving OCSP responder for kstaple's HTTP tests.

The behaviour is chosen by the first component of the request path, so one server covers
every case and a test selects a fault through the responder URL:

  /ok/...         200, application/ocsp-response, body = --der FILE (or a fixed stub)
  /der/NAME/...   200, application/ocsp-response, body = --der-dir DIR/NAME.der
  /params/...     200, "Application/OCSP-Response; charset=binary" (must be accepted)
  /500/...        500 with a text body
  /html/...       200, text/html, an HTML page
  /wrongct/...    200, application/octet-stream, the DER body
  /noct/...       200 without any Content-Type
  /oversized/...  200, application/ocsp-response, --big bytes (default 1 MiB)
  /stream/...     200, application/ocsp-response, --big bytes without Content-Length
  /empty/...      200, application/ocsp-response, empty body
  /garbage/...    200, application/ocsp-response, random bytes (HTTP is fine, DER is not)
  /nothttp/...    raw random bytes instead of an HTTP response
  /slow/...       reads the request and never answers
  /delay/...      waits --delay seconds (default 0.1), then answers like /ok
  /redirect/...   302 to /ok/ on the same server (must not be followed)
Any other first component uses --mode.

Every connection and request is appended to --log as "conn N", "GET /path" or
"POST /path ctype=... len=N", so tests can check the method and connection reuse.
The chosen port is written to --port-file once listening.
"""
import argparse
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
LOCK = threading.Lock()
CONNS = 0
STUB = b"\x30\x03\x0a\x01\x00"  # OCSPResponse { responseStatus successful } (no bytes)


def log(line):
    if ARGS.log:
        with LOCK, open(ARGS.log, "a") as f:
            f.write(line + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is observable

    def setup(self):
        global CONNS
        super().setup()
        with LOCK:
            CONNS += 1
            n = CONNS
        log("conn %d" % n)

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, ctype, body):
        self.send_response(status)
        if ctype is not None:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def mode(self):
        parts = self.path.lstrip("/").split("/")
        known = ("ok", "der", "params", "500", "html", "wrongct", "noct", "oversized",
                 "empty", "garbage", "nothttp", "slow", "redirect", "stream", "delay")
        return (parts[0] if parts and parts[0] in known else ARGS.mode), parts

    def der(self):
        try:
            if ARGS.der:
                with open(ARGS.der, "rb") as f:
                    return f.read()
        except OSError:
            pass  # not written yet: the stub
        return STUB

    def handle_any(self):
        mode, parts = self.mode()
        if mode == "ok":
            self.reply(200, "application/ocsp-response", self.der())
        elif mode == "der":
            name = os.path.basename(parts[1]) if len(parts) > 1 else ""
            try:
                with open(os.path.join(ARGS.der_dir or ".", name + ".der"), "rb") as f:
                    body = f.read()
            except OSError:
                self.reply(404, "text/plain", b"no such fixture\n")
                return
            self.reply(200, "application/ocsp-response", body)
        elif mode == "params":
            self.reply(200, "Application/OCSP-Response; charset=binary", self.der())
        elif mode == "500":
            self.reply(500, "text/plain", b"internal error\n")
        elif mode == "html":
            self.reply(200, "text/html", b"<html><body>Service unavailable</body></html>\n")
        elif mode == "wrongct":
            self.reply(200, "application/octet-stream", self.der())
        elif mode == "noct":
            self.reply(200, None, self.der())
        elif mode == "oversized":
            self.reply(200, "application/ocsp-response", b"\x30" * ARGS.big)
        elif mode == "stream":
            self.send_response(200)
            self.send_header("Content-Type", "application/ocsp-response")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                for _ in range(0, ARGS.big, 16384):
                    self.wfile.write(b"\x30" * 16384)
            except OSError:
                pass
        elif mode == "empty":
            self.reply(200, "application/ocsp-response", b"")
        elif mode == "garbage":
            self.reply(200, "application/ocsp-response", os.urandom(300))
        elif mode == "nothttp":
            self.wfile.write(b"\x00\xffgarbage" + os.urandom(64) + b"\r\n\r\n")
            self.close_connection = True
        elif mode == "delay":
            time.sleep(ARGS.delay)
            self.reply(200, "application/ocsp-response", self.der())
        elif mode == "slow":
            time.sleep(3600)
        elif mode == "redirect":
            self.send_response(302)
            self.send_header("Location", "/ok/")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.reply(404, "text/plain", b"unknown mode\n")

    def do_GET(self):
        log("GET %s" % self.path)
        self.handle_any()

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        log("POST %s ctype=%s len=%d" % (self.path, self.headers.get("Content-Type"), n))
        self.handle_any()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # clients abort on purpose (oversized bodies, timeouts): no tracebacks


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--log")
    p.add_argument("--mode", default="ok")
    p.add_argument("--der")
    p.add_argument("--der-dir")
    p.add_argument("--big", type=int, default=1 << 20)
    p.add_argument("--delay", type=float, default=0.1)
    ARGS = p.parse_args()
    srv = Server(("127.0.0.1", ARGS.port), Handler)
    port = srv.server_address[1]
    if ARGS.port_file:
        tmp = ARGS.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, ARGS.port_file)
    else:
        print(port, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())

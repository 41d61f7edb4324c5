#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Record the ClientHello(s) one TLS client sends, for tests/fixtures/hellos.

usage: hello-recorder.py LISTEN_PORT SERVER_PORT OUT_FILE [TIMEOUT]

Accepts one connection on 127.0.0.1:LISTEN_PORT, relays it to a real TLS server on
127.0.0.1:SERVER_PORT (so HelloRetryRequest and everything else happen for real), records the
bytes the client sends, and writes to OUT_FILE exactly the first ClientHello's records (and,
when the server answered with a HelloRetryRequest, the ChangeCipherSpec and second ClientHello
that follow). Prints a JSON line describing what it saw (extension types per hello), which
capture-hellos.sh checks against what the client is known to send. An independent parser from
the C and BPF ones: a third opinion on every fixture.
"""
import json
import select
import socket
import sys
import time


def records(buf, pos):
    """Yield (type, start, payload_start, end) of complete TLS records from pos."""
    while pos + 5 <= len(buf):
        typ, ln = buf[pos], int.from_bytes(buf[pos + 3:pos + 5], "big")
        if pos + 5 + ln > len(buf):
            return
        yield typ, pos, pos + 5, pos + 5 + ln
        pos += 5 + ln


def hello_at(buf, pos):
    """(end offset, hello bytes) of a ClientHello starting with a record at pos, or None."""
    hs = b""
    for typ, _, p, end in records(buf, pos):
        if typ != 22:
            return None
        hs += buf[p:end]
        if len(hs) >= 4:
            need = 4 + int.from_bytes(hs[1:4], "big")
            if hs[0] != 1:
                return None
            if len(hs) >= need:
                return (end if len(hs) == need else None), hs[4:need]
    return None


def ext_types(body):
    p = 2 + 32
    p += 1 + body[p]
    p += 2 + int.from_bytes(body[p:p + 2], "big")
    p += 1 + body[p]
    if p == len(body):
        return []
    end = p + 2 + int.from_bytes(body[p:p + 2], "big")
    p += 2
    types = []
    while p < end:
        t, ln = int.from_bytes(body[p:p + 2], "big"), int.from_bytes(body[p + 2:p + 4], "big")
        types.append(t)
        p += 4 + ln
    return types


def analyse(buf):
    first = hello_at(buf, 0)
    if not first or first[0] is None:
        return None, []
    end, body = first
    hellos = [ext_types(body)]
    pos = end
    recs = list(records(buf, pos))
    if recs and recs[0][0] == 20 and recs[0][3] - recs[0][2] == 1:
        pos = recs[0][3]
    second = hello_at(buf, pos)
    if second and second[0] is not None:
        end = second[0]
        hellos.append(ext_types(second[1]))
    return end, hellos


def main():
    lport, sport, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 15.0
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", lport))
    ls.listen(8)
    ls.settimeout(timeout)
    c, _ = ls.accept()
    s = socket.create_connection(("127.0.0.1", sport))
    buf = b""
    deadline = time.time() + 5
    open_ = {c: s, s: c}
    while open_ and time.time() < deadline:
        r, _, _ = select.select(list(open_), [], [], 0.2)
        for x in r:
            try:
                d = x.recv(65536)
            except OSError:
                d = b""
            if not d:
                open_.clear()
                break
            if x is c and len(buf) < 65536:
                buf += d
            try:
                open_[x].sendall(d)
            except OSError:
                open_.clear()
                break
        end, hellos = analyse(buf)
        # Enough once the server had its chance to send a HelloRetryRequest.
        if end is not None and (len(hellos) == 2 or len(buf) > end):
            break
    c.close()
    s.close()
    end, hellos = analyse(buf)
    if end is None:
        print(json.dumps({"error": "no complete ClientHello", "bytes": len(buf)}))
        sys.exit(1)
    with open(out, "wb") as f:
        f.write(buf[:end])
    print(json.dumps({"file": out, "bytes": end, "hellos": hellos}))


if __name__ == "__main__":
    main()

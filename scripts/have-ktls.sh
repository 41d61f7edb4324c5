#!/bin/sh
# SPDX-License-Identifier: MIT
# have-ktls.sh: exit 0 if the RUNNING kernel accepts the TLS upper-layer protocol on a TCP socket
# (CONFIG_TLS built in or its module loadable), 1 if not; the reason goes to stdout with -v.
# The probe is what kstaple itself does: setsockopt(TCP_ULP, "tls") on a connected loopback
# socket (the kernel refuses the ULP on a socket that is not ESTABLISHED).
exec python3 - "$@" <<'PY'
import socket, sys
verbose = "-v" in sys.argv[1:]
TCP_ULP = 31
try:
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    cli = socket.create_connection(lst.getsockname())
    srv, _ = lst.accept()
    cli.setsockopt(socket.IPPROTO_TCP, TCP_ULP, b"tls")
except OSError as e:
    if verbose:
        print("no kTLS: setsockopt(TCP_ULP, \"tls\"): %s" % e.strerror)
    sys.exit(1)
if verbose:
    print("kTLS available")
sys.exit(0)
PY

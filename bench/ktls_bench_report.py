#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Summary of bench/ktls_bench.sh: DIR/runs.txt (RUN and INFO lines) -> markdown on stdout.

    ktls_bench_report.py DIR

Per TLS version, cipher and direction: throughput (MB/s, 10^6 bytes) and kstaple's CPU per
byte (ns/B; x 1.074 = CPU s per GiB) for the userspace path and the kTLS+splice path, each
as median (min-max) over the repetitions, and kTLS / userspace as the median of the
per-repetition ratios (the two paths of one repetition ran back to back).
"""
import statistics
import sys
from collections import defaultdict

CIPHERS = {"aes128": "AES-128-GCM", "aes256": "AES-256-GCM", "chacha": "ChaCha20-Poly1305"}


def parse(path):
    runs, info, aead = [], [], {}
    with open(path) as f:
        for line in f:
            words = line.split()
            if not words:
                continue
            if words[0] == "RUN":
                r = dict(w.split("=", 1) for w in words[1:])
                b, s, hz = int(r["bytes"]), float(r["secs"]), int(r["hz"])
                r["mbps"] = b / s / 1e6
                r["ns_per_b"] = int(r["ks_ticks"]) / hz * 1e9 / b
                r["all_ns_per_b"] = int(r["busy_ticks"]) / hz * 1e9 / b
                runs.append(r)
            elif words[:2] == ["INFO", "aead"]:
                a = dict(w.split("=", 1) for w in words[2:])
                aead[a["group"]] = a
            elif words[0] == "INFO":
                info.append(" ".join(words[1:]))
    return runs, info, aead


def cell(values, fmt):
    return "%s (%s-%s)" % (fmt % statistics.median(values), fmt % min(values), fmt % max(values))


def ratio(by_rep, key):
    """Median over repetitions of ktls/user for KEY, both runs of a repetition present."""
    rs = [by_rep[r]["ktls"][key] / by_rep[r]["user"][key] for r in by_rep
          if "ktls" in by_rep[r] and "user" in by_rep[r] and by_rep[r]["user"][key] > 0]
    return "%.2f" % statistics.median(rs) if rs else "-"


def table(runs):
    groups = defaultdict(lambda: defaultdict(dict))
    order = []
    for r in runs:
        k = (r["ver"], r["cipher"], r["dir"])
        if k not in groups:
            order.append(k)
        groups[k][r["rep"]][r["path"]] = r
    out = ["| TLS | cipher | direction | MB/s userspace | MB/s kTLS | kTLS/user | "
           "kstaple CPU ns/B userspace | kstaple CPU ns/B kTLS | kTLS/user |",
           "|---|---|---|---|---|---|---|---|---|"]
    for k in order:
        by_rep = groups[k]
        col = {p: [by_rep[r][p] for r in by_rep if p in by_rep[r]] for p in ("user", "ktls")}
        ver, cipher, d = k
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            ver, CIPHERS.get(cipher, cipher),
            "upload (client->backend)" if d == "up" else "download (backend->client)",
            cell([r["mbps"] for r in col["user"]], "%.0f"),
            cell([r["mbps"] for r in col["ktls"]], "%.0f"), ratio(by_rep, "mbps"),
            cell([r["ns_per_b"] for r in col["user"]], "%.2f"),
            cell([r["ns_per_b"] for r in col["ktls"]], "%.2f"), ratio(by_rep, "ns_per_b")))
    return out


def aead_table(aead):
    """The AEAD alone per cipher, median over the groups that measured it. The kernel's goes
    through AF_ALG (a sendmsg and a recv per 16 KiB record, the data copied in and out),
    so it is an upper bound of what kTLS pays for the crypto, not an exact share."""
    acc = defaultdict(lambda: defaultdict(list))
    for g, a in aead.items():
        c = g.split(":", 1)[1]
        for side in ("openssl", "kernel"):
            try:
                acc[c][side].append(float(a[side + "_MBps"]))
            except (KeyError, ValueError):
                pass
    out = ["| cipher | OpenSSL (userspace) | kernel, via AF_ALG |", "|---|---|---|"]
    for c in CIPHERS:
        if c not in acc:
            continue
        cells = []
        for side in ("openssl", "kernel"):
            v = acc[c][side]
            cells.append("%.0f MB/s = %.2f ns/B" % (statistics.median(v), 1e3 / statistics.median(v))
                         if v else "n/a")
        out.append("| %s | %s | %s |" % (CIPHERS[c], cells[0], cells[1]))
    return out


def whole(runs):
    """The whole machine's CPU per byte (client, backend, kstaple, kernel), medians."""
    acc = defaultdict(list)
    for r in runs:
        acc[(r["ver"], r["cipher"], r["dir"], r["path"])].append(r["all_ns_per_b"])
    paths = {}
    for (ver, cipher, d, p), v in acc.items():
        paths.setdefault((ver, cipher, d), {})[p] = statistics.median(v)
    return ["- TLS %s %s %s: %.2f ns/B userspace, %.2f ns/B kTLS" % (
        ver, CIPHERS.get(c, c), d, v.get("user", 0), v.get("ktls", 0))
        for (ver, c, d), v in paths.items()]


def main():
    d = sys.argv[1]
    runs, info, aead = parse(d + "/runs.txt")
    if not runs:
        sys.exit("ktls_bench_report: no runs in %s/runs.txt" % d)
    with open(d + "/machine.txt") as f:
        machine = f.read().split("\n")
    reps = max(int(r["rep"]) for r in runs)
    mib = int(runs[0]["bytes"]) >> 20
    print("# kstaple serve: kTLS + splice vs userspace TLS, bulk transfer\n")
    print("%d MiB per transfer, %d repetitions (paths interleaved), one kstaple worker; "
          "median (min-max). CPU = utime+stime of the kstaple process over the transfer, "
          "all threads; ns/B x 1.074 = CPU seconds per GiB.\n" % (mib, reps))
    print("\n".join(table(runs)))
    if aead:
        print("\nThe AEAD alone in the same kernel, 16 KiB records, 1 s per group, median over "
              "the groups (OpenSSL: `openssl speed -evp`; kernel: AF_ALG, system calls and copies "
              "included, so an upper bound). kstaple's path decrypts every byte of an upload "
              "and encrypts every byte of a download once, on either path:\n")
        print("\n".join(aead_table(aead)))
    print("\nWhole machine CPU per byte (client, backend, kstaple and the kernel; one CPU):\n")
    print("\n".join(whole(runs)))
    print("\nMachine and kernel:\n")
    print("\n".join("- " + m for m in machine if m))
    # "group=G kernel_aead ..." lines say the same for every group: once is enough.
    print("\n".join("- " + i for i in sorted(set(
        i.split(" ", 1)[1] if i.startswith("group=") else i for i in info))))


if __name__ == "__main__":
    main()

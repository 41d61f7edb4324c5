#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Tables, README summary and gnuplot script for bench/compare.sh.

    compare_report.py rate CLOSED_CSV COMBO SERVER   half of SERVER's median closed-loop rate
    compare_report.py report OUTDIR                  tables on stdout, OUTDIR/summary.md,
                                                     OUTDIR/*.dat and OUTDIR/plots.gp

Every figure is a median over the interleaved repetitions with its min-max beside it. Ratios
against the reference server (nginx) are the median of the per-repetition ratios: runs of one
repetition ran back to back, so pairing them cancels most of the machine's drift.
"""
import csv
import glob
import os
import statistics
import sys

NAMES = {"nginx": "nginx", "haproxy": "HAProxy"}


def name_servers(ks_tickets):
    """kstaple[-tN][-alt] -> 'kstaple, N tickets' (kstaple's default is 1)."""
    for n in range(9):
        what = {0: "no tickets", 1: "1 ticket (default)"}.get(n, f"{n} tickets")
        NAMES[f"kstaple-t{n}"] = f"kstaple, {what}"
        NAMES[f"kstaple-t{n}-alt"] = f"kstaple B, {what}"
        NAMES["kstaple-eager"] = "kstaple, 2 tickets, backend at handshake"
        if str(n) == ks_tickets:
            NAMES["kstaple"] = f"kstaple, {what}"
            NAMES["kstaple-alt"] = f"kstaple B, {what}"
COMBO_NAMES = {
    "ecdsa-1.3": "ECDSA P-256, TLS 1.3",
    "ecdsa-1.2": "ECDSA P-256, TLS 1.2",
    "rsa-1.3": "RSA-2048, TLS 1.3",
    "rsa-1.2": "RSA-2048, TLS 1.2",
}
REF = "nginx"


def rows(path):
    """Rows of a kstaple-bench CSV, label "server/combo/rep" split into fields."""
    if not os.path.exists(path):
        return []
    out = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            try:
                r["server"], r["combo"], rep = r["label"].split("/")
                r["rep"] = int(rep)
            except ValueError:
                continue
            out.append(r)
    return out


def num(r, key):
    v = r.get(key, "")
    try:
        return float(v)
    except ValueError:
        return None


def order_of(rs, key):
    seen = []
    for r in rs:
        if r[key] not in seen:
            seen.append(r[key])
    return seen


def values(rs, server, combo, key):
    """{rep: value} of the runs of server on combo that measured something."""
    out = {}
    for r in rs:
        v = num(r, key)
        if r["server"] == server and r["combo"] == combo and v is not None and v > 0:
            out[r["rep"]] = v
    return out


def med(v):
    return statistics.median(v) if v else None


def paired_ratio(a, b):
    """Median over repetitions of a[rep] / b[rep]."""
    q = [a[k] / b[k] for k in a if k in b and b[k] > 0]
    return med(q)


def fmt(v, digits=0):
    if v is None:
        return "-"
    return f"{v:,.{digits}f}".replace(",", " ") if digits == 0 else f"{v:.{digits}f}"


def cell(vals, ref=None, digits=0, lower_better=True):
    """'median [min-max]' and the paired ratio to ref."""
    if not vals:
        return "-"
    v = list(vals.values())
    s = f"{fmt(med(v), digits)} [{fmt(min(v), digits)}-{fmt(max(v), digits)}]"
    if ref is not None and ref is not vals:
        q = paired_ratio(vals, ref)
        if q is not None:
            s += f" **{q:.2f}x**"
    return s


def table(title, rs, key, servers, combos, digits=0, unit=""):
    lines = [f"**{title}**{unit}", ""]
    lines.append("| | " + " | ".join(NAMES.get(s, s) for s in servers) + " |")
    lines.append("|---" * (len(servers) + 1) + "|")
    for c in combos:
        ref = values(rs, REF, c, key)
        cells = [cell(values(rs, s, c, key), ref if s != REF else None, digits) for s in servers]
        lines.append(f"| {COMBO_NAMES.get(c, c)} | " + " | ".join(cells) + " |")
    return lines


def latency_table(rs, servers, combos):
    lines = [
        "**Open-loop latency, ms: p50 / p99 / p99.9** (medians over repetitions; ratio: p99 vs"
        " nginx)",
        "",
    ]
    lines.append("| | rate | " + " | ".join(NAMES.get(s, s) for s in servers) + " |")
    lines.append("|---" * (len(servers) + 2) + "|")
    for c in combos:
        rate = med([num(r, "rate") for r in rs if r["combo"] == c and num(r, "rate")])
        ref99 = values(rs, REF, c, "p99_us")
        cells = []
        for s in servers:
            p = [med(list(values(rs, s, c, k).values())) for k in ("p50_us", "p99_us", "p999_us")]
            if p[0] is None:
                cells.append("-")
                continue
            txt = " / ".join(fmt(x / 1000, 2) if x else "-" for x in p)
            q = paired_ratio(values(rs, s, c, "p99_us"), ref99) if s != REF else None
            if q is not None:
                txt += f" **{q:.2f}x**"
            late = sum(int(num(r, "late") or 0) for r in rs if r["server"] == s and r["combo"] == c)
            if late:
                txt += f" ({late} late)"
            cells.append(txt)
        lines.append(f"| {COMBO_NAMES.get(c, c)} | {fmt(rate)}/s | " + " | ".join(cells) + " |")
    return lines


def first_table(out, servers):
    """Staple share of the first 100 handshakes after each fresh start."""
    lines = [
        "**Stapled (and verified) among the first 100 handshakes after a start** "
        "(TLS 1.3; worst repetition, then median)",
        "",
        "| | " + " | ".join(NAMES.get(s, s) for s in servers) + " |",
        "|---" * (len(servers) + 1) + "|",
    ]
    rs = rows(os.path.join(out, "first.csv"))
    for key in ("ecdsa", "rsa"):
        cells = []
        for s in servers:
            runs = [r for r in rs if r["server"] == s and r["combo"] == key + "-1.3"]
            st = [int(num(r, "stapled") or 0) for r in runs]
            ve = [int(num(r, "verified") or 0) for r in runs]
            ok = [int(num(r, "handshakes") or 0) for r in runs]
            if not runs:
                cells.append("-")
                continue
            cells.append(f"{min(st)}/{min(ok)} ({min(ve)} verified); median {med(st):g}")
        lines.append(f"| {key.upper()} | " + " | ".join(cells) + " |")
    return lines


def speed(out):
    """openssl speed -mr: us per operation for the public-key steps of a handshake."""
    ops = {}
    path = os.path.join(out, "speed.txt")
    if not os.path.exists(path):
        return {}
    for line in open(path):
        f = line.strip().split(":")
        if len(f) < 5:
            continue
        if f[0] == "+F2" and f[2] == "2048":
            ops["rsa2048 sign"] = 1e6 / float(f[3])
        elif f[0] == "+F4" and f[2] == "256":
            ops["ecdsap256 sign"] = 1e6 / float(f[3])
        elif f[0] == "+F5" and f[2] == "253":
            ops["x25519"] = 1e6 / float(f[3])
        elif f[0] == "+F5" and f[2] == "256":
            ops["ecdhp256"] = 1e6 / float(f[3])
    return ops


def speed_table(ops, cpu_rows, servers):
    if not ops:
        return ["(openssl speed gave no numbers)"]
    lines = [
        "**Crypto ceiling** (`openssl speed`, one core): "
        + ", ".join(f"{k} {v:.0f} us" for k, v in ops.items()),
        "",
        "| | public-key us/handshake | ceiling hs/s/core | "
        + " | ".join(f"{NAMES.get(s, s)} CPU / crypto" for s in servers)
        + " |",
        "|---" * (len(servers) + 3) + "|",
    ]
    x = ops.get("x25519")
    for c in ("ecdsa-1.3", "ecdsa-1.2", "rsa-1.3", "rsa-1.2"):
        sign = ops.get("ecdsap256 sign" if c.startswith("ecdsa") else "rsa2048 sign")
        if sign is None or x is None:
            continue
        # A full ECDHE handshake: one signature, one X25519 key generation, one derive.
        crypto = sign + 2 * x
        cells = []
        for s in servers:
            v = med(list(values(cpu_rows, s, c, "server_cpu_us_per_hs").values()))
            cells.append(f"{v / crypto:.1f}x" if v else "-")
        lines.append(
            f"| {COMBO_NAMES[c]} | {crypto:.0f} | {1e6 / crypto:,.0f} | " + " | ".join(cells) + " |"
        )
    lines += [
        "",
        "Public-key work per full handshake: one signature plus two X25519 scalar multiplications"
        " (key generation and derive); speed's ecdhx25519 figure is used for both.",
    ]
    return lines


def machine(out):
    m = {}
    path = os.path.join(out, "machine.txt")
    if os.path.exists(path):
        for line in open(path):
            line = line.rstrip("\n")
            if line.startswith("reps="):
                m["settings"] = line
                for kv in line.split():
                    k, v = kv.split("=", 1)
                    m[k] = v
            elif "=" in line:
                k, v = line.split("=", 1)
                m[k] = v
    return m


def errors(rs):
    bad = {}
    for r in rs:
        n = sum(int(num(r, k) or 0) for k in ("err_connect", "err_handshake", "err_timeout"))
        if n:
            bad[r["label"]] = n
    return bad


def write_dat(out, name, rs, key, servers, combos, scale=1.0):
    """combo, then median min max per server: gnuplot histogram errorbars."""
    with open(os.path.join(out, name), "w") as f:
        f.write("# combo " + " ".join(f"{s}_med {s}_min {s}_max" for s in servers) + "\n")
        for c in combos:
            # Short tick labels: four combinations side by side under 1000 pixels.
            f.write(f'"{c.replace("-", " TLS ").replace("ecdsa", "ECDSA").replace("rsa", "RSA")}"')
            for s in servers:
                v = list(values(rs, s, c, key).values())
                if v:
                    f.write(f" {med(v) * scale:.1f} {min(v) * scale:.1f} {max(v) * scale:.1f}")
                else:
                    f.write(" NaN NaN NaN")
            f.write("\n")


def median_rep(rs, server, combo, key):
    vals = values(rs, server, combo, key)
    if not vals:
        return None
    ranked = sorted(vals, key=lambda k: vals[k])
    return ranked[(len(ranked) - 1) // 2]


def cumulative_first(out, servers):
    """first-<server>.dat: handshake index, cumulative stapled share (ECDSA, repetition 1)."""
    made = []
    for s in servers:
        src = os.path.join(out, "first", f"{s}-ecdsa-1.csv")
        if not os.path.exists(src):
            continue
        n = st = 0
        with open(src, newline="") as f, open(os.path.join(out, f"first-{s}.dat"), "w") as o:
            for r in csv.DictReader(f):
                n += 1
                st += int(r.get("stapled") or 0)
                o.write(f"{int(r['index']) + 1} {st / n:.4f} {r.get('stapled', 0)}\n")
        made.append(s)
    return made


def plots(out, closed, opened, servers, combos):
    gp = [
        "set terminal pngcairo size 1000,600 font 'sans,11'" if has_cairo() else
        "set terminal png size 1000,600",
        "set grid ytics",
        "set key outside right top",
    ]
    ncol = len(servers)
    # Bars: CPU per handshake and closed-loop throughput, min-max as error bars.
    for name, rs, key, title, ylabel in (
        ("cpu", closed, "server_cpu_us_per_hs", "Server CPU per full handshake (lower is better)",
         "us of CPU per handshake"),
        ("throughput", closed, "hs_per_s", "Closed-loop handshakes/s (client-bound on 2 cores)",
         "handshakes/s"),
    ):
        write_dat(out, f"{name}.dat", rs, key, servers, combos)
        gp += [
            f"set output '{name}.png'",
            f"set title '{title}'",
            f"set ylabel '{ylabel}'",
            "set yrange [0:*]",
            "set style data histogram",
            "set style histogram errorbars gap 1 lw 1",
            "set style fill solid 0.8 border -1",
            "set xtics nomirror",
            "unset logscale",
            "plot " + ", ".join(
                f"'{name}.dat' using {2 + 3 * i}:{3 + 3 * i}:{4 + 3 * i}"
                + (":xtic(1)" if i == 0 else "")
                + f" title '{NAMES.get(s, s)}'"
                for i, s in enumerate(servers)
            ),
        ]
    # Latency CDFs: per combination, the repetition with the median p99 of each server.
    for c in combos:
        series = []
        for s in servers:
            rep = median_rep(opened, s, c, "p99_us")
            src = f"cdf/{s}-{c}-{rep}.csv"
            if rep is not None and os.path.exists(os.path.join(out, src)):
                series.append(f"'{src}' using ($1/1000):2 with lines lw 2 title '{NAMES.get(s, s)}'")
        if not series:
            continue
        rate = med([num(r, "rate") for r in opened if r["combo"] == c and num(r, "rate")])
        gp += [
            f"set output 'latency-cdf-{c}.png'",
            f"set title 'Handshake latency CDF, {COMBO_NAMES.get(c, c)}, open loop at "
            f"{rate or 0:.0f}/s'",
            "set style data lines",
            "set datafile separator ','",
            "set logscale x",
            "set xlabel 'latency, ms (log scale)'",
            "set ylabel 'share of handshakes'",
            "set yrange [0:1]",
            "plot " + ", ".join(series),
            "set datafile separator whitespace",
            "unset logscale",
            "unset xlabel",
        ]
    made = cumulative_first(out, servers)
    if made:
        gp += [
            "set output 'staple-first.png'",
            "set title 'Stapled share of the first handshakes after a fresh start (ECDSA, TLS 1.3)'",
            "set xlabel 'handshake number after start'",
            "set ylabel 'cumulative stapled share'",
            "set yrange [0:1.05]",
            "set xrange [1:*]",
            "plot " + ", ".join(
                # Several servers sit on 1.0: dashes and widths keep each line visible.
                f"'first-{s}.dat' using 1:2 with steps lw {2 + 2 * (len(made) - i)} dt {i + 1}"
                f" title '{NAMES.get(s, s)}'"
                for i, s in enumerate(made)
            ),
        ]
    with open(os.path.join(out, "plots.gp"), "w") as f:
        f.write("\n".join(gp) + "\n")
    del ncol


def has_cairo():
    return os.system("gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1") == 0


def report(out):
    closed = rows(os.path.join(out, "closed.csv"))
    opened = rows(os.path.join(out, "open.csv"))
    m = machine(out)
    name_servers(m.get("ks_tickets", "2"))
    servers = m.get("servers", "").split() or order_of(closed, "server")
    combos = m.get("combos", "").split() or order_of(closed, "combo")
    ops = speed(out)
    reps = len(order_of(closed, "rep"))
    head = [
        f"Measured with `bench/compare.sh`{' (QUICK=1)' if m.get('quick') not in ('', '0', None) else ''}"
        f" at commit {m.get('commit', '?')}, {m.get('date_utc', '?')}: {m.get('cpu', '?')},"
        f" {m.get('nproc', '?')} CPUs, Linux {m.get('kernel', '?')}; OpenSSL {m.get('openssl', '?')},"
        f" nginx {m.get('nginx', '?')}, HAProxy {m.get('haproxy', '?')}. Load average"
        f" {m.get('load_before', '?')} before, {m.get('load_after', '?')} after (a shared"
        " machine).",
        "",
        f"Servers on CPU 0, load generator on CPU 1; {reps} interleaved repetitions of"
        f" {m.get('hs', '?')} handshakes ({m.get('conns', '?')} connections) per server and"
        f" combination; open loop {m.get('open_reps', '?')} x {m.get('open_s', '?')} s. Cells: median [min-max], **paired"
        " ratio vs nginx** (median of the per-repetition ratios). nginx and HAProxy send two TLS"
        " 1.3 tickets per handshake. The load sends no request: nginx opens no backend"
        " connection, HAProxy (mode tcp) one per handshake, kstaple "
        + ("none (`backend_connect = data`, the setting for an HTTP backend), or one per"
           " handshake where marked \"backend at handshake\" (`backend_connect = handshake`,"
           " the default)" if m.get("ks_backend_connect") == "data" else
           "one per handshake (`backend_connect = handshake`)")
        + ". The client offers only AES-128-GCM (TLS 1.3:"
        " TLS_AES_128_GCM_SHA256) and X25519 (then P-256), so every server negotiates the same.",
        "",
    ]
    body = []
    body += table("Server CPU per full handshake, us", closed, "server_cpu_us_per_hs", servers,
                  combos)
    body += [""]
    body += table("Closed-loop throughput, handshakes/s", closed, "hs_per_s", servers, combos,
                  unit=" (limited by the client's core: the client spends more per handshake)")
    body += [""]
    body += latency_table(opened, servers, combos)
    body += [""]
    body += first_table(out, servers)
    body += [""]
    body += speed_table(ops, closed, servers)
    bad = errors(closed + opened)
    if bad:
        body += ["", "Failed handshakes: " + ", ".join(f"{k}: {v}" for k, v in bad.items())]
    text = "\n".join(head + body) + "\n"
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(text)
    print(text)
    plots(out, closed, opened, servers, combos)


def main(argv):
    if len(argv) == 5 and argv[1] == "rate":
        v = med(list(values(rows(argv[2]), argv[4], argv[3], "hs_per_s").values()))
        print(max(10, int((v or 100) / 2)))
        return 0
    if len(argv) == 3 and argv[1] == "report":
        report(argv[2])
        return 0
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))

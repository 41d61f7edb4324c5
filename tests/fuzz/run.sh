#!/bin/bash
# SPDX-License-Identifier: MIT
# libFuzzer targets: builds every tests/fuzz/*_fuzz.c into build/fuzz/ and runs each for SECONDS.
#
#   tests/fuzz/run.sh SECONDS [TARGET...]      (make fuzz FUZZ_SECONDS=N)
#
# Each target NAME_fuzz.c links with every user/*.c except main.c, built with
# clang -fsanitize=fuzzer,address,undefined (the modules compiled once, into OUT/obj). Its
# corpus is tests/fuzz/corpus/NAME/ (committed seeds, read only) plus OUT/corpus/NAME/ (where
# libFuzzer writes what it finds, seeded by seed_NAME below). Crashes go to OUT/artifacts/.
# OUT is $FUZZ_OUT, default build/fuzz. Fixtures: $KS_FIXTURES, or
# build/fuzz/fixtures made by scripts/mkfixtures.sh (remade when older than a day).
# Exit status: 0 when every target ran clean, 1 otherwise.
set -euo pipefail

[ $# -ge 1 ] || {
	echo "usage: $0 SECONDS [TARGET...]" >&2
	exit 64
}
secs=$1
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out=${FUZZ_OUT:-build/fuzz}
case $out in /*) ;; *) out=$root/$out ;; esac # absolute from here on
CLANG=${CLANG:-clang}
mkdir -p "$out/corpus" "$out/artifacts"

if [ -z "${KS_FIXTURES:-}" ]; then
	KS_FIXTURES=$out/fixtures
	if [ ! -f "$KS_FIXTURES/ocsp/expected.tsv" ] ||
		[ -n "$(find "$KS_FIXTURES/ocsp/expected.tsv" -mmin +1200)" ]; then
		./scripts/mkfixtures.sh "$KS_FIXTURES" >/dev/null
	fi
fi
export KS_FIXTURES

# seed_NAME DIR: initial inputs for target NAME, written into its working corpus DIR.
seed_ocsp_verify() {
	# The committed seeds (tests/fuzz/corpus/ocsp_verify/) are copies of fixtures made by
	# scripts/mkfixtures.sh; today's fixtures are added on every run.
	cp "$KS_FIXTURES"/ocsp/*.der "$1/"
}

seed_cert_der() {
	# Leaf certificates as DER: today's fixture leaves (every kind mkpki.sh makes) and the
	# responder certificates. The committed seeds (tests/fuzz/corpus/cert_der/) are copies.
	local d=$1 f n
	for f in "$KS_FIXTURES"/pki/leaf/*/cert.pem "$KS_FIXTURES"/pki/responder/*.crt; do
		[ -f "$f" ] || continue
		n=$(basename "$(dirname "$f")")-$(basename "$f" | tr . _)
		openssl x509 -in "$f" -outform DER -out "$d/$n.der" 2>/dev/null || true
	done
}

seed_tlsfeature() {
	# RFC 7633 Features ::= SEQUENCE OF INTEGER, as DER. The committed seeds
	# (tests/fuzz/corpus/tlsfeature/) were written by this function; keep the two in step.
	local d=$1
	printf '\x30\x03\x02\x01\x05' >"$d/status_request.der" # what mkpki.sh's leaves carry
	printf '\x30\x00' >"$d/empty.der"
	printf '\x30\x09\x02\x01\x05\x02\x01\x11\x02\x01\x0a' >"$d/three.der"
	printf '\x30\x03\x02\x01\x11' >"$d/v2_only.der"
	printf '\x30\x04\x02\x02\x01\x05' >"$d/large.der"
	printf '\x30\x03\x02\x01\xfb' >"$d/negative.der"
	printf '\x30\x04\x02\x02\x00\x05' >"$d/padded.der"      # not minimal: refused
	printf '\x30\x03\x02\x01\x05\x00' >"$d/trailing.der"    # refused
	printf '\x30\x81\x03\x02\x01\x05' >"$d/long_length.der" # not DER: refused
	printf '\x30\x05\x02\x01\x05' >"$d/truncated.der"
	printf '\x30\x02\x02\x00' >"$d/empty_integer.der"
	printf '\x31\x03\x02\x01\x05' >"$d/set.der"
}

seed_http_response() {
	# The layout is described in tests/fuzz/http_response_fuzz.c: a 16-byte header (status,
	# flags, Content-Length, body length, max_body, reason buffer length), then the
	# Content-Type value. The committed seeds (tests/fuzz/corpus/http_response/) were written
	# by this function; keep the two in step.
	local d=$1
	hdr() {
		python3 -c 'import struct, sys
sys.stdout.buffer.write(struct.pack(">HBIIIB", *map(int, sys.argv[1:])))' "$@"
	}
	{ hdr 200 5 1500 1500 65536 255; printf 'application/ocsp-response'; } >"$d/ok"
	{ hdr 200 1 0 1500 65536 255; printf 'Application/OCSP-Response; charset=binary'; } >"$d/params"
	{ hdr 200 1 0 900 65536 255; printf '\t application/ocsp-response \t;q=1'; } >"$d/ows"
	{ hdr 200 5 48 48 65536 255; printf 'text/html'; } >"$d/html"
	{ hdr 500 5 15 15 65536 255; printf 'text/plain'; } >"$d/500"
	{ hdr 302 5 0 0 65536 255; printf 'application/ocsp-response'; } >"$d/redirect"
	hdr 200 9 0 1500 65536 255 >"$d/no_ctype"
	{ hdr 200 6 10485760 65536 65536 255; printf 'application/ocsp-response'; } >"$d/big"
	{ hdr 200 1 0 0 65536 255; printf 'application/ocsp-response'; } >"$d/empty"
	{ hdr 200 0 0 700 65536 255; printf 'application/ocsp-response'; } >"$d/cut_short"
	{ hdr 200 5 1500 1500 65536 8; printf 'application/ocsp-responsex'; } >"$d/short_reason"
	# Found by this target: the reason quoted the Content-Type with its escape sequence.
	{ hdr 200 5 1500 1500 65536 255; printf 'application/ocsp-response\x1b[2J'; } >"$d/escape"
}

# BPF skeletons, in case a module includes one (they live in build/).
for b in bpf/*.bpf.c; do
	[ -e "$b" ] || continue
	n=$(basename "$b" .bpf.c)
	make --no-print-directory -s "build/$n.skel.h"
done

pkgs="libssl libcrypto liburing libcurl inih libbpf libcap"
read -r -a pkg_cflags <<<"$(pkg-config --cflags $pkgs 2>/dev/null || true)"
read -r -a pkg_libs <<<"$(pkg-config --libs $pkgs 2>/dev/null ||
	echo -lssl -lcrypto -luring -lcurl -linih -lbpf -lelf -lz -lcap)"
srcs=()
for s in user/*.c; do [ "$s" = user/main.c ] || srcs+=("$s"); done

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for f in tests/fuzz/*_fuzz.c; do targets+=("$(basename "$f" _fuzz.c)"); done
fi

cflags=(-std=gnu11 -g -O1 -fno-sanitize-recover=all -fno-omit-frame-pointer -D_GNU_SOURCE
	-DKS_VERSION='"fuzz"' -Iinclude -Ibuild "${pkg_cflags[@]}")

# The agent's modules are compiled once (instrumented, without libFuzzer's main) and shared by
# every target: rebuilt when the source or any header is newer. Two compilers at a time.
mkdir -p "$out/obj"
objs=()
for s in "${srcs[@]}"; do
	o=$out/obj/$(basename "$s" .c).o
	objs+=("$o")
	if [ -f "$o" ] && [ -z "$(find "$s" include -newer "$o" -name '*.[ch]' -print -quit)" ]; then
		continue
	fi
	while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n || exit 1; done
	"$CLANG" "${cflags[@]}" -fsanitize=fuzzer-no-link,address,undefined -c "$s" -o "$o" &
done
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || exit 1; done

fail=0
for t in "${targets[@]}"; do
	src=tests/fuzz/${t}_fuzz.c
	[ -f "$src" ] || {
		echo "fuzz: no $src" >&2
		exit 64
	}
	echo "fuzz: building $t"
	"$CLANG" "${cflags[@]}" -fsanitize=fuzzer,address,undefined \
		-DKS_FUZZ_FIXTURES="\"$KS_FIXTURES\"" "$src" "${objs[@]}" "${pkg_libs[@]}" -lpthread \
		-o "$out/$t"
	work=$out/corpus/$t
	seeds=tests/fuzz/corpus/$t
	mkdir -p "$work" "$seeds"
	if declare -F "seed_$t" >/dev/null; then "seed_$t" "$work"; fi
	echo "fuzz: running $t for ${secs}s"
	if ! "$out/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$out/artifacts/$t-" "$work" "$seeds" \
		>"$out/$t.log" 2>&1; then
		echo "fuzz: $t FAILED, see $out/$t.log and $out/artifacts/" >&2
		tail -n 40 "$out/$t.log" >&2
		fail=1
	else
		grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$out/$t.log" |
			awk -v t="$t" '{ print "fuzz: " t ": " $0 }' || true
	fi
done
exit $fail

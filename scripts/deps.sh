#!/bin/sh
# SPDX-License-Identifier: MIT
# Install every Debian 12 package kstaple needs to build, test, demo and benchmark.
# Idempotent: only missing packages are installed, and `apt-get update` runs at most once.
set -eu

PKGS="
build-essential pkg-config make gcc clang llvm libclang-rt-14-dev
libssl-dev openssl ca-certificates
liburing-dev libbpf-dev bpftool linux-libc-dev
libcurl4-openssl-dev curl
libinih-dev
libcriterion-dev
libcap-dev
cppcheck clang-tidy clang-format
iproute2 python3 procps faketime xxd util-linux
gnutls-bin
valgrind
libtcmalloc-minimal4
"
# libtcmalloc-minimal4: gperftools' allocator (Debian main, maintained upstream by Google), linked
# into kstaple when present: OpenSSL allocates hundreds of times per handshake and its per-thread
# caches cut the server's CPU per handshake (see bench/compare.sh).
# Packages used by later stages (serving, kTLS VM, benchmarks). Installed too so that a
# fresh machine can run everything the README documents.
PKGS="$PKGS nginx-light haproxy wrk gnuplot-nox busybox-static user-mode-linux tshark"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "deps: all packages present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages:$missing" >&2
	echo "deps: run 'make deps' as root (or install them with apt-get)" >&2
	exit 1
fi

echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer for it.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing

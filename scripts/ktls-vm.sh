#!/bin/bash
# SPDX-License-Identifier: MIT
# ktls-vm.sh: run one command inside a kernel that has kTLS, on a host whose kernel lacks it.
#
#   scripts/ktls-vm.sh [--] COMMAND [ARGS...]
#
# Boots Debian's User-Mode Linux kernel (package user-mode-linux, installed by scripts/deps.sh:
# /usr/bin/linux.uml and its modules under /usr/lib/uml/modules/<version>/) with the host's /
# as its root file system (hostfs, read-only), loads the tls module and the AEAD modules the
# kernel's TLS code asks for (AES-GCM, ChaCha20-Poly1305), mounts proc/sys/dev and a tmpfs,
# brings lo up, runs COMMAND in the current directory and exits with COMMAND's status.
#
# Inside the guest:
#   - the host's files are visible at their usual paths but READ-ONLY, except /tmp: an overlay
#     shows the host's /tmp and keeps writes in guest memory;
#   - $KS_VM_TMP (also $TMPDIR) is a writable tmpfs; nothing written in the guest survives;
#   - $KS_IN_VM=1, so a test can tell it is already inside.
# Environment passed through: PATH, HOME, LANG, TERM, KS_*, KSTAPLE*, V, QUICK and the names
# listed in KS_VM_ENV (space-separated). Everything else is dropped: the guest starts clean.
#
# Knobs: KS_VM_MEM (MiB, default 512), KS_VM_KMODS (extra modules, paths relative to
# <moddir>/kernel without .ko), KS_VM_TIMEOUT (seconds, default 600), KS_VM_VERBOSE=1 (show the
# guest's boot messages).
# Exit status: COMMAND's, or 125 if the VM cannot run here (message on stderr says why), or 124
# on timeout.
set -euo pipefail

die_cannot() {
	echo "ktls-vm: cannot run a kTLS kernel here: $*" >&2
	exit 125
}

[ "${1:-}" = "--" ] && shift
[ $# -ge 1 ] || { echo "usage: $0 [--] COMMAND [ARGS...]" >&2; exit 64; }

UML=${KS_VM_UML:-/usr/bin/linux.uml}
MODROOT=${KS_VM_MODROOT:-/usr/lib/uml/modules}
MEM=${KS_VM_MEM:-512}
TIMEOUT=${KS_VM_TIMEOUT:-600}

[ -x "$UML" ] || die_cannot "$UML missing (install the user-mode-linux package: scripts/deps.sh)"
command -v python3 >/dev/null || die_cannot "python3 missing (scripts/deps.sh installs it)"
KVER=$(ls "$MODROOT" 2>/dev/null | sort -V | tail -1)
[ -n "$KVER" ] && [ -f "$MODROOT/$KVER/kernel/net/tls/tls.ko" ] ||
	die_cannot "no tls.ko under $MODROOT (user-mode-linux package incomplete?)"
KDIR=$MODROOT/$KVER/kernel

# UML backs guest memory with a file in $TMPDIR (or /dev/shm): it must be writable on the host.
SHM=${TMPDIR:-/dev/shm}
[ -d "$SHM" ] && [ -w "$SHM" ] || SHM=/tmp
[ -w "$SHM" ] || die_cannot "no writable directory for UML's memory file (/dev/shm or /tmp)"

# Order matters: insmod does not resolve dependencies (UML has no modprobe). The tls module
# itself needs nothing; the AEADs it requests at setsockopt(TLS_TX/RX) time need these.
BASE_KMODS="net/tls/tls crypto/gf128mul crypto/ghash-generic crypto/ctr crypto/gcm
lib/crypto/libchacha crypto/chacha_generic lib/crypto/libpoly1305 crypto/poly1305_generic
crypto/chacha20poly1305 fs/overlayfs/overlay"

# The init script and its environment file are read by the guest through hostfs: keep them out
# of /dev (the guest mounts its own /dev) and out of the memory-file directory.
WORK=$(mktemp -d "${KS_VM_WORKDIR:-/tmp}/ks-vm.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
NONCE=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')

HERE=$(cd "$(dirname "$0")" && pwd)
# The guest saves and restores only the legacy FPU/SSE register state (see ktls-vm-guest.py):
# code using AVX/AVX-512 registers misbehaves in there (glibc's AVX string functions crash
# static busybox and hang python3 on an AVX-512 host). So glibc and OpenSSL are told to stay
# on SSE: hwcaps masked for glibc; for OpenSSL, OSXSAVE+AVX (CPUID.1:ECX bits 27-28) and
# AVX2, AVX-512 F/DQ/IFMA/BW/VL, VAES, VPCLMULQDQ (CPUID.7:EBX/ECX) masked off.
KSVM_GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX,-AVX2,-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-ERMS,-AVX_Fast_Unaligned_Load
KSVM_OPENSSL_IA32CAP="~0x1800000000000000:~0x00000600C0230020"
export KSVM_GLIBC_TUNABLES KSVM_OPENSSL_IA32CAP
export KSVM_NONCE=$NONCE KSVM_KDIR=$KDIR KSVM_KMODS="$BASE_KMODS ${KS_VM_KMODS:-}"
python3 - "$@" >"$WORK/job.json" <<'PY'
import json, os, re, sys
keep = re.compile(r"^(PATH|HOME|LANG|TERM|V|QUICK|KS_.*|KSTAPLE.*)$")
extra = os.environ.get("KS_VM_ENV", "").split()
env = {k: v for k, v in os.environ.items()
       if (keep.match(k) or k in extra) and not k.startswith("KS_VM_") and k != "KS_IN_VM"}
env["GLIBC_TUNABLES"] = os.environ["KSVM_GLIBC_TUNABLES"]
env["OPENSSL_ia32cap"] = os.environ["KSVM_OPENSSL_IA32CAP"]
kdir = os.environ["KSVM_KDIR"]
json.dump({
    "argv": sys.argv[1:], "cwd": os.getcwd(), "env": env, "tmp": "/run/ks-vm",
    "modules": [os.path.join(kdir, m + ".ko") for m in os.environ["KSVM_KMODS"].split()],
    "begin": "KSVM_BEGIN_" + os.environ["KSVM_NONCE"],
    "rc": "KSVM_RC_" + os.environ["KSVM_NONCE"] + "=",
}, sys.stdout)
PY

out=$WORK/console.log
set +e
TMPDIR=$SHM timeout --kill-after=10 "$TIMEOUT" python3 "$HERE/ktls-vm-guest.py" --exec-uml "$UML" \
	mem="${MEM}M" root=/dev/root rootfstype=hostfs rootflags=/ ro init="$HERE/ktls-vm-guest.py" \
	KSVM_DIR="$WORK" GLIBC_TUNABLES="$KSVM_GLIBC_TUNABLES" con0=fd:0,fd:1 con=null quiet \
	</dev/null >"$out" 2>&1 &
upid=$!
# Stream the command's lines (between the markers) as they come.
tail -n +1 --pid=$upid -f "$out" 2>/dev/null | awk -v b="KSVM_BEGIN_$NONCE" -v r="KSVM_RC_$NONCE=" \
	-v verbose="${KS_VM_VERBOSE:-0}" '
	index($0, r) == 1 { on = 0; next }
	index($0, b) == 1 { on = 1; next }
	on || verbose == 1 { sub(/\r$/, ""); print; fflush() }'
wait $upid
vmrc=$?
set -e
rc=$(grep -ao "KSVM_RC_$NONCE=[0-9]*" "$out" | tail -1 | cut -d= -f2 || true)
if [ -z "$rc" ]; then
	[ "$vmrc" = 124 ] && { echo "ktls-vm: timed out after ${TIMEOUT}s" >&2; exit 124; }
	if ! grep -aq "KSVM_BEGIN_$NONCE" "$out"; then
		echo "ktls-vm: the UML kernel did not reach the command (exit $vmrc); its output:" >&2
		tail -20 "$out" >&2
		exit 125
	fi
	echo "ktls-vm: the guest died before reporting a status (exit $vmrc)" >&2
	exit 70
fi
exit "$rc"

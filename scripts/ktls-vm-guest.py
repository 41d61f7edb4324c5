#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# Helper of scripts/ktls-vm.sh (not meant to be run by hand), in two roles:
#   ktls-vm-guest.py --exec-uml UML ARGS...  (host) exec the UML kernel under a seccomp filter
#   as init= of the guest                    (guest) PID 1: set up, run the job, power off
#
# Python rather than a shell script: it loads modules with finit_module(2) (the host has no kmod
# and UML no modprobe), brings lo up with two ioctls and reads the job as JSON, so no shell
# quoting of the command or its environment is involved.
# The kernel hands the unknown "KSVM_DIR=..." boot parameter to init as an environment variable:
# that directory (on the host, visible read-only through hostfs) holds job.json.
import ctypes
import fcntl
import json
import os
import socket
import struct
import subprocess
import sys

libc = ctypes.CDLL(None, use_errno=True)


def log(msg):
    print("ktls-vm: guest: " + msg, file=sys.stderr, flush=True)


def mount(src, target, fstype, data=None):
    os.makedirs(target, exist_ok=True)
    if libc.mount(src.encode(), target.encode(), fstype.encode(), 0,
                  data.encode() if data else None) != 0:
        log("mount %s on %s: %s" % (fstype, target, os.strerror(ctypes.get_errno())))


def insmod(path):
    # UML has no modprobe and kmod may be absent: finit_module(2) directly (x86-64 nr 313).
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        log("module %s: %s" % (path, e.strerror))
        return
    r = libc.syscall(313, fd, b"", 0)
    err = ctypes.get_errno()
    os.close(fd)
    if r != 0 and err != 17:  # EEXIST: already loaded or built in
        log("insmod %s: %s" % (path, os.strerror(err)))


def writable_tmp():
    # Tests and tools expect a writable /tmp; the host's is visible read-only through hostfs.
    # An overlay keeps the host's files visible (a build or fixture directory may live there)
    # and sends every write to a tmpfs that vanishes with the guest.
    os.makedirs("/run/ks-tmp/upper", exist_ok=True)
    os.makedirs("/run/ks-tmp/work", exist_ok=True)
    opts = "lowerdir=/tmp,upperdir=/run/ks-tmp/upper,workdir=/run/ks-tmp/work"
    if libc.mount(b"overlay", b"/tmp", b"overlay", 0, opts.encode()) != 0:
        err = os.strerror(ctypes.get_errno())
        log("overlay on /tmp: %s; /tmp stays read-only (use $KS_VM_TMP)" % err)


def lo_up():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ifr = struct.pack("16sh14x", b"lo", 0)
    flags = struct.unpack("16sh14x", fcntl.ioctl(s, 0x8913, ifr))[1]  # SIOCGIFFLAGS
    fcntl.ioctl(s, 0x8914, struct.pack("16sh14x", b"lo", flags | 1))  # SIOCSIFFLAGS IFF_UP
    s.close()


def main():
    job = json.load(open(os.path.join(os.environ["KSVM_DIR"], "job.json")))
    mount("proc", "/proc", "proc")
    mount("sys", "/sys", "sysfs")
    mount("dev", "/dev", "devtmpfs")
    mount("tmpfs", "/run", "tmpfs", "mode=0755")
    os.makedirs(job["tmp"], exist_ok=True)
    mount("tmpfs", "/dev/shm", "tmpfs")
    for m in job["modules"]:
        insmod(m)
    writable_tmp()
    try:
        lo_up()
    except OSError as e:
        log("bringing lo up: " + e.strerror)
    env = dict(job["env"])
    env.update(KS_VM_TMP=job["tmp"], TMPDIR=job["tmp"], KS_IN_VM="1")
    print(job["begin"], flush=True)
    try:
        rc = subprocess.run(job["argv"], cwd=job["cwd"], env=env,
                            stdin=subprocess.DEVNULL).returncode
        if rc < 0:
            rc = 128 - rc
    except OSError as e:
        log("cannot run %s: %s" % (job["argv"][0], e.strerror))
        rc = 127
    sys.stdout.flush()
    sys.stderr.flush()
    print("%s%d" % (job["rc"], rc), flush=True)
    os.sync()
    libc.reboot(0x4321FEDC)  # LINUX_REBOOT_CMD_POWER_OFF


def exec_uml(argv):
    # Debian's UML 6.1 saves guest FPU state with PTRACE_SETREGSET(NT_X86_XSTATE) into a buffer
    # sized for AVX-era CPUs; hosts with larger XSAVE areas (AVX-512, AMX) reject the short
    # buffer with EFAULT and the guest dies at its first context switch ("ptrace set fp regs
    # failed, errno = 14"). UML decides at boot: if PTRACE_GETREGSET(NT_X86_XSTATE) fails it
    # uses PTRACE_GETFPREGS/SETFPREGS (the 512-byte FXSAVE area) instead, which every host
    # accepts. So make exactly that call fail (EIO), with a seccomp filter on the UML process.
    # Cost: only the legacy FPU/SSE state is saved and restored for guest processes, and
    # AVX/AVX-512 code misbehaves in the guest; ktls-vm.sh keeps glibc and OpenSSL on SSE there
    # (GLIBC_TUNABLES, OPENSSL_ia32cap; this init gets the former on the kernel command line).
    def ins(code, k, jt=0, jf=0):
        return struct.pack("HBBI", code, jt, jf, k)
    ld, jeq, ret = 0x20, 0x15, 0x06  # BPF_LD|BPF_W|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_RET
    prog = b"".join([
        ins(ld, 4), ins(jeq, 0xC000003E, 0, 8),  # seccomp_data.arch == AUDIT_ARCH_X86_64
        ins(ld, 0), ins(jeq, 101, 0, 6),  # nr == __NR_ptrace
        ins(ld, 16), ins(jeq, 0x4204, 1, 0), ins(jeq, 0x4205, 0, 3),  # GET/SETREGSET
        ins(ld, 32), ins(jeq, 0x202, 0, 1),  # args[2] == NT_X86_XSTATE
        ins(ret, 0x00050000 | 5),  # SECCOMP_RET_ERRNO | EIO
        ins(ret, 0x7FFF0000),  # SECCOMP_RET_ALLOW
    ])
    buf = ctypes.create_string_buffer(prog, len(prog))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(prog) // 8, ctypes.addressof(buf))
    # PR_SET_NO_NEW_PRIVS (38), then PR_SET_SECCOMP (22) SECCOMP_MODE_FILTER (2)
    if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:
        sys.exit("ktls-vm: seccomp filter: " + os.strerror(ctypes.get_errno()))
    os.execv(argv[0], argv)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--exec-uml":
        exec_uml(sys.argv[2:])
    if os.getpid() != 1:
        sys.exit("ktls-vm-guest.py: run by scripts/ktls-vm.sh as the guest's init")
    try:
        main()
    finally:
        # PID 1 must never exit: the kernel would panic and the host would see a crash.
        libc.reboot(0x4321FEDC)

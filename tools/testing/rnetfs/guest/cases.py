#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The parts of the suites' tests that are a few system calls in one process.

  cases.py CASE ARGS...

Each case is a function below (its docstring says what it checks); it exits
0 if it passed. Messages go to stdout prefixed "RNETFS: ", which the suites
send to the console. The bash side makes the checks common to every test
(lib.sh's verify).
"""
import errno
import os
import subprocess
import sys
import time


def msg(text):
    print("RNETFS: " + text, flush=True)


def rnetfs_stat(stats, key):
    with open(stats) as f:
        for line in f:
            name, _, v = line.partition(":")
            if name == key:
                return int(v)
    return 0


def filter_hook(target, ref, stats):
    """basic: the writeback_iter() filter hook (module loaded with
    filter_stride=2): an fsync of 1 MiB uploads the even folios only and
    leaves the 128 odd ones dirty; with rnetfs unloaded, a second fsync on
    the same open file (9p writes back through an open fid) lets the C
    engine write them."""
    data = os.urandom(1 << 20)
    with open(ref, "wb") as f:
        f.write(data)
    up0, f0 = rnetfs_stat(stats, "upload_bytes"), rnetfs_stat(stats, "filtered")
    fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data)
    os.fsync(fd)
    up, f = rnetfs_stat(stats, "upload_bytes") - up0, rnetfs_stat(stats, "filtered") - f0
    msg("filter: fsync uploaded %d bytes, left %d folios dirty" % (up, f))
    with open("/proc/meminfo") as m:
        msg(" ".join(x.strip() for x in m if x.startswith(("Dirty", "Writeback:"))))
    subprocess.run(["rmmod", "rnetfs"], check=True)
    os.fsync(fd)
    os.close(fd)
    return (up, f) == (512 << 10, 128)


def cancelled_iteration(target, ref, fault):
    """faults: every request failing to start cancels the writeback_iter()
    iteration: fsync reports EIO, every folio comes back dirty and unlocked
    (the page cache reads back, without blocking, as written), and once the
    fault is off a second fsync writes it all."""
    data = os.urandom(4 << 20)
    with open(ref, "wb") as f:
        f.write(data)
    fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data)
    with open(fault, "w") as f:
        f.write("request=every:1:eio")
    try:
        os.fsync(fd)
        msg("fsync succeeded with every request failing")
        return False
    except OSError as e:
        msg("fsync under request faults: %s" % e)
        if e.errno != errno.EIO:
            return False
    finally:
        # Off whatever happened: the later tests must not run under it.
        with open(fault, "w") as f:
            f.write("off")
    if os.pread(fd, len(data), 0) != data:
        msg("page cache differs after the cancelled iteration")
        return False
    os.fsync(fd)
    os.close(fd)
    return True


def bad_fault_input(fault, variant="all"):
    """faults: writes to the fault file that must fail with EINVAL and
    leave the spec as it was (with "empty": zero-length and whitespace-only
    writes, which must fail too or change nothing: "off" is how to turn
    faults off); the stats file takes no writes."""
    def spec():
        with open(fault) as f:
            return f.read()
    before = spec()
    bad = [b"", b"\n", b"   \n"] if variant == "empty" else [
        b"upload=every:2:eio " * 20,                      # over-long (> 256 bytes)
        b"seed=" + b"1" * 300,
        b"upload=every:2:eio bogus=1", b"bogus", b"=", b"upload=", b"upload=every",
        b"upload=every:2", b"upload=every:2:", b"upload=every:2:eio:retry:x",
        b"upload=every:2:short:retry", b"request=every:1:short",
        b"upload=nth:0:eio", b"upload=every:-1:eio", b"upload=percent:101:eio",
        b"upload=every:18446744073709551616:eio", b"seed=-1", b"seed=x",
        b"UPLOAD=every:2:eio", b"upload=sometimes:2:eio", b"upload=every:2:EIO",
        b"upload=every:2:eio\0", b"upload=every:2:\xff\xfe", b"\xff",
    ]
    ok = True
    for b in bad:
        fd = os.open(fault, os.O_WRONLY)
        try:
            os.write(fd, b)
            if b:
                msg("bad input accepted: %r" % b[:60])
                ok = False
            elif spec() != before:
                msg("a zero-length write changed the spec")
                ok = False
        except OSError as e:
            if e.errno != errno.EINVAL:
                msg("%r: %s (want EINVAL)" % (b[:60], e))
                ok = False
        finally:
            os.close(fd)
        if spec() != before:
            msg("%r changed the spec to %r" % (b[:60], spec()))
            ok = False
            with open(fault, "w") as f:
                f.write(before.split("#")[0])
            before = spec()
    try:
        with open(os.path.join(os.path.dirname(fault), "stats"), "w") as f:
            f.write("writepages: 0\n")
        msg("the stats file took a write")
        ok = False
    except OSError as e:
        msg("stats write refused: %s" % e)
    return ok


def tail_block(target, ref):
    """fscache: the last, partial block of a file must reach the cache.
    cachefiles writes whole blocks and rounds the last one up over the
    folio's zeroed tail only when the issuer says it may; otherwise it
    leaves the block out and counts it written, and the cache keeps the
    block's old bytes. Here the block is cached whole (A), the file cut
    inside it and rewritten (B), the page cache dropped with the cache
    object still valid (same open file): the re-read must be B."""
    want = b"A" * 8192 + b"B" * 100
    with open(ref, "wb") as f:
        f.write(want)
    fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.pwrite(fd, b"A" * 12288, 0)
    os.fsync(fd)
    os.ftruncate(fd, len(want))
    os.pwrite(fd, b"B" * 100, 8192)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    got = os.pread(fd, 12288, 0)
    os.close(fd)
    if got != want:
        bad = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]), -1) \
            if len(got) == len(want) else -1
        msg("tail block: read back %d bytes, first difference at %d: %r" % (len(got), bad, got[bad:bad + 8]))
        return False
    return True


def until_erofs(small, ref, p):
    """stress: 32 KiB files written one after the other (each also to the
    reference directory once closed) until the export turns read-only: the
    open that fails must fail with EROFS."""
    for i in range(600):
        data = os.urandom(32 << 10)
        try:
            with open("%s/f%03d" % (small, i), "wb") as f:
                f.write(data)
        except OSError as e:
            msg("%s-small-ro: file %d: %s" % (p, i, e))
            return e.errno == errno.EROFS
        with open("%s/f%03d" % (ref, i), "wb") as f:
            f.write(data)
        time.sleep(0.02)
    msg("%s-small-ro: the export never turned read-only" % p)
    return False


def more_then_fsync(fd, what):
    """4 MiB more written to FD, which the server can no longer take, then
    fsync, which must fail, and close. Prints "WHAT: ...", "fsync errno N
    ..." and "close ..." for the suite; returns whether fsync failed."""
    try:
        os.write(fd, os.urandom(4 << 20))
        print(what + ": ok")
    except OSError as e:
        print(what + ":", e)
    try:
        os.fsync(fd)
        print("fsync: ok")
        return False
    except OSError as e:
        print("fsync errno", e.errno, e)
    try:
        os.close(fd)
        print("close: ok")
    except OSError as e:
        print("close errno", e.errno, e)
    return True


def dirty_then_readonly(target, req, name):
    """stress: 8 MiB dirty in an open file, the host asked (request file
    NAME in REQ) to force the export read-only, 4 MiB more written: the
    fsync must fail. Prints "host: ...", "fsync errno N ..." for the suite."""
    fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, os.urandom(8 << 20))
    open(os.path.join(req, name), "w").close()
    done = os.path.join(req, name + ".done")
    for _ in range(300):
        if os.path.exists(done):
            break
        time.sleep(0.1)
    with open(done) as f:
        print("host:", f.read().strip())
    return more_then_fsync(fd, "write after the remount")


def counter_delta(before, after):
    """What moved between two "key=value ..." counter lines."""
    a, b = (dict(kv.split("=", 1) for kv in s.split()) for s in (before, after))
    print(" ".join("%s=%d" % (k, int(b[k] or 0) - int(a.get(k) or 0))
                   for k in b if b[k] and int(b[k] or 0) != int(a.get(k) or 0)) or "nothing")
    return True


def flip_byte(path, off="4097"):
    """afs: change one byte of a reference, so that a check must see it."""
    off = int(off)
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 1]))
    return True


CASES = {f.__name__: f for f in (filter_hook, cancelled_iteration, bad_fault_input, tail_block,
                                 until_erofs, dirty_then_readonly, counter_delta, flip_byte)}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in CASES:
        sys.exit(__doc__ + "\ncases: " + " ".join(CASES))
    sys.exit(0 if CASES[sys.argv[1]](*sys.argv[2:]) else 1)

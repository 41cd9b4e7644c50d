#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Unbuffered, direct and O_SYNC writes for the direct suite (suites/direct.sh).

Each case writes a pattern to a file under test and the same bytes to a
local reference (the host, or a fresh afs mount, compares them after), and
checks which netfs path carried the writes: netfs's own DW counter (every
netfs_unbuffered_write_iter() call, whichever engine issues) or WT
(writethrough) must move, and with rnetfs loaded its unbuffered_writes or
dio_writes counter must move by at least the number of write() calls made,
unbuffered_bytes by at least the bytes, and unbuffered_failed not at all.
Without the module those counters do not exist (they read as 0).

  dio.py write MODE TARGET REF SIZE SEED [--flags F,...] [--rwf dsync]
                [--expect dio|unbuffered|writethrough|none]
      MODE: seq (1 MiB writes from 0), rewrite (1 MiB writes, in random
      order, over a file of SIZE: inside the old file size, where rnetfs
      may pipeline), random (4 KiB writes over a file of SIZE), extend
      (odd-sized writes at and past EOF, leaving holes), aligned (4 KiB
      multiples at 4 KiB offsets, some past EOF), patch (small odd writes
      into the file once its pages are dropped from the cache), unaligned (odd offsets,
      lengths and buffer addresses, some past EOF), append (two O_APPEND
      fds, alternating). F: direct, sync, dsync (open flags).
  dio.py signal TARGET SERVER SIZE SEED [--flags direct]
      One write() of SIZE, interrupted by SIGALRM (no SA_RESTART) after
      80 ms: a short count or EINTR; the server's file (SERVER, its path
      through the run share) is then exactly the returned prefix.
      Prints "REL-CHECK sha256 size" for the host check of that prefix.
  dio.py race TARGET REF SIZE SEED
      O_DIRECT writes racing buffered writes and truncations on one file,
      then a final pattern written with O_DIRECT, truncated to SIZE and
      fsync'ed: the file must be that pattern.
  dio.py perm TARGET REF SIZE SEED ERRNO SPEC [--flags direct] [--rwf dsync]
      rnetfs's fault injector armed with the permanent SPEC around one
      write() of SIZE: it must return a prefix or fail with ERRNO; the
      server holds exactly that prefix (SERVER = REF's twin through the run
      share, given by --server); the rest written after the fault is gone.
      With --rwf dsync (a writethrough): the write must fail with ERRNO
      (reported by the fsync that ends it), then all of it is written
      again with the fault gone.
  dio.py full TARGET REF SERVER SEED
      Server-side ENOSPC on the small export: fill it to ~3 MiB free, then
      one O_DIRECT write of 8 MiB: a prefix or ENOSPC, the server holding
      exactly that prefix.
  dio.py fio IOENGINE RW BS SIZE TARGET SERVER [--numjobs N] [--iodepth N]
                [--timeout S] [--expect dio|writethrough|none] [--flags sync]
      fio direct=1 (or, with --flags sync, buffered O_SYNC: a writethrough,
      async for libaio and io_uring, completing through ki_complete) with
      verify=crc32c (do_verify) through the client, under
      `timeout S` (exit status 2 if it ran out), then fio's verify_only over
      the server's copy (SERVER, through the run share; "-": not now);
      every write issued must have completed without error.
  dio.py fioverify RW BS SIZE WHERE [--numjobs N] [--name JOB]
      fio's verify_only of a fio job's files at WHERE.
"""
import ctypes
import hashlib
import json
import mmap
import os
import random
import signal
import subprocess
import sys
import threading

from guestlib import netfs_stat, rnetfs_loaded, say, set_fault, stat_of

MB = 1 << 20
KEYS = ("unbuffered_writes", "dio_writes", "unbuffered_bytes", "unbuffered_failed",
        "unbuffered_interrupted", "unbuffered_serial", "unbuffered_pipelined",
        "faults_injected", "retried", "writepages", "writethroughs",
        "writethrough_folios", "writethrough_declined", "upload_lost")


def snap():
    """The counters this suite reads: rnetfs's (0 without the module) and
    netfs's Writes line."""
    s = {k: stat_of(k) for k in KEYS}
    for k in ("BW", "WT", "DW"):
        s[k] = netfs_stat("Writes", k)
    return s


def delta(a, b):
    return {k: b[k] - a[k] for k in b}


def show(d):
    return " ".join("%s=%d" % (k, v) for k, v in d.items() if v) or "nothing"


class Check:
    """Failures of one case, each said; ok() at the end."""

    def __init__(self, name):
        self.name = name
        self.bad = []

    def fail(self, why):
        say("%s: %s" % (self.name, why))
        self.bad.append(why)

    def require(self, cond, why):
        if not cond:
            self.fail(why)
        return cond

    def ok(self):
        return not self.bad


def server_is_prefix(chk, server, data, n):
    """The server's file (SERVER) is exactly the first N bytes of DATA: what
    a write that returned N may leave there."""
    got = os.stat(server).st_size
    chk.require(got == n, "the server's file has %d bytes, the write returned %d" % (got, n))
    with open(server, "rb") as f:
        chk.require(f.read(n) == data[:n], "the server's bytes differ from the returned prefix")


def carried(chk, kind, d, writes, nbytes):
    """The request kind KIND (dio, unbuffered, writethrough) carried WRITES
    write() calls of NBYTES in all: netfs's counter for the path, and with
    rnetfs loaded rnetfs's own."""
    loaded = rnetfs_loaded()
    say("%s: %s, %d writes, %d bytes: %s" % (chk.name, "rnetfs" if loaded else "C",
                                           writes, nbytes, show(d)))
    if kind == "none":
        return
    if kind == "writethrough":
        chk.require(d["WT"] >= writes, "netfs WT moved %d < %d writes" % (d["WT"], writes))
        if loaded:
            # Every write() that copied something is one writethrough
            # request, and rnetfs takes each unless out of memory.
            chk.require(d["writethroughs"] >= writes, "rnetfs writethroughs moved %d < %d "
                        "writes: not carried by rnetfs" % (d["writethroughs"], writes))
            chk.require(d["writethrough_folios"] >= nbytes // (1 << 21),
                        "rnetfs writethrough_folios moved only %d" % d["writethrough_folios"])
            chk.require(d["writethrough_declined"] == 0, "rnetfs declined %d writethroughs"
                        % d["writethrough_declined"])
            chk.require(d["upload_lost"] == 0, "rnetfs lost %d uploads" % d["upload_lost"])
        return
    chk.require(d["DW"] >= writes, "netfs DW moved %d < %d writes: not the unbuffered path"
                % (d["DW"], writes))
    if not loaded:
        return
    key = "dio_writes" if kind == "dio" else "unbuffered_writes"
    chk.require(d[key] >= writes, "rnetfs %s moved %d < %d writes: not carried by rnetfs"
                % (key, d[key], writes))
    chk.require(d["unbuffered_bytes"] >= nbytes, "rnetfs unbuffered_bytes moved %d < %d"
                % (d["unbuffered_bytes"], nbytes))
    chk.require(d["unbuffered_failed"] == 0, "rnetfs unbuffered_failed moved by %d"
                % d["unbuffered_failed"])


def oflags(names):
    f = 0
    for n in names:
        f |= {"direct": os.O_DIRECT, "sync": os.O_SYNC, "dsync": os.O_DSYNC, "": 0}[n]
    return f


class Buf:
    """A page-aligned buffer (O_DIRECT needs none on netfs, but aligned
    cases must really be aligned), copied into for each write."""

    def __init__(self, size):
        self.m = mmap.mmap(-1, max(size, 4096) + 8192)
        self.mv = memoryview(self.m)

    def view(self, data, shift=0):
        self.m[shift:shift + len(data)] = data
        return self.mv[shift:shift + len(data)]


def pattern(rng, size):
    """SIZE bytes: a random MiB, stamped with each MiB's offset (cheap to
    make under TCG, and no two MiB alike)."""
    block = bytearray(rng.randbytes(MB))
    out = bytearray()
    off = 0
    while off < size:
        block[0:8] = off.to_bytes(8, "little")
        out += block[:min(MB, size - off)]
        off += MB
    return bytes(out)


def cmd_write(mode, target, ref, size, seed, flags, rwf, expect):
    chk = Check(os.path.basename(target))
    size = int(size)
    rng = random.Random(int(seed))
    of = oflags(flags)
    rwflags = os.RWF_DSYNC if rwf == "dsync" else 0
    buf = Buf(max(size, 4 * MB))
    s0 = snap()
    # patch: write-only, as netfs makes a streaming write only on a file
    # not open for reading.
    acc = os.O_WRONLY if mode == "patch" else os.O_RDWR
    fd = os.open(target, acc | os.O_CREAT | os.O_TRUNC | of, 0o644)
    rfd = os.open(ref, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    stats = {"writes": 0, "bytes": 0}

    def put(off, data, shift=0, f=fd):
        """Write DATA at OFF (None: O_APPEND) to the file and the reference;
        a short count is reported and the rest written."""
        done = 0
        while done < len(data):
            v = buf.view(data[done:], shift)
            if off is None:
                n = os.write(f, v)
            elif rwflags:
                n = os.pwritev(f, [v], off + done, rwflags)
            else:
                n = os.pwrite(f, v, off + done)
            stats["writes"] += 1
            stats["bytes"] += n
            if n < len(data) - done:
                chk.fail("short write: %d of %d at %s" % (n, len(data) - done, off))
                if n <= 0:
                    raise OSError("write returned %d" % n)
            if off is None:
                os.pwrite(rfd, data[done:done + n], os.fstat(rfd).st_size)
            else:
                os.pwrite(rfd, data[done:done + n], off + done)
            done += n

    def prefill():
        for off in range(0, size, MB):
            put(off, rng.randbytes(min(MB, size - off)))

    if mode == "seq":
        for off in range(0, size, MB):
            put(off, rng.randbytes(min(MB, size - off)))
    elif mode == "rewrite":
        prefill()
        d0 = snap()
        offs = list(range(0, size, MB))
        rng.shuffle(offs)
        for off in offs:
            put(off, rng.randbytes(min(MB, size - off)))
        dr = delta(d0, snap())
        say("%s: the rewrite inside the file: %s" % (chk.name, show(dr)))
        if rnetfs_loaded() and expect in ("dio", "unbuffered"):
            # 1 MiB is three 9p subrequests at msize=512000, all inside
            # the old file size: rnetfs pipelines there.
            chk.require(dr["unbuffered_pipelined"] > 0, "no subrequest pipelined inside the file")
    elif mode == "random":
        prefill()
        for _ in range(size // 4096 // 2):
            put(rng.randrange(0, size // 4096) * 4096, rng.randbytes(4096))
    elif mode == "extend":
        d0 = snap()
        off = 0
        while off < size:
            off += rng.choice((0, 0, rng.randrange(1, 70000)))
            n = rng.randrange(1, 300000) | 1
            put(off, rng.randbytes(n))
            off += n
        dr = delta(d0, snap())
        if rnetfs_loaded() and expect in ("dio", "unbuffered"):
            # Every subrequest extends the file: none may go out before
            # the earlier ones completed (a failure would leave a gap).
            chk.require(dr["unbuffered_serial"] > 0, "no subrequest counted serial")
            chk.require(dr["unbuffered_pipelined"] == 0, "%d extending subrequests pipelined"
                        % dr["unbuffered_pipelined"])
    elif mode == "patch":
        # Small odd writes into a file whose pages are not cached, open
        # write-only: netfs makes them streaming writes (folios not
        # uptodate, only the written range dirty), which a writethrough
        # hands over partial and dirty.
        prefill()
        os.fsync(fd)
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3")
        for _ in range(24):
            put(rng.randrange(0, size - 5000), rng.randbytes(rng.randrange(1, 5000)))
    elif mode == "aligned":
        prefill()
        for _ in range(64):
            off = rng.randrange(0, size // 4096 + 64) * 4096
            put(off, rng.randbytes(4096 * rng.randrange(1, 64)))
    elif mode == "unaligned":
        prefill()
        for _ in range(64):
            off = rng.randrange(0, size + 200000)
            put(off, rng.randbytes(rng.randrange(1, 200000)), shift=rng.randrange(1, 4096))
    elif mode == "append":
        # Alternating, not concurrent: netfs holds i_rwsem shared around a
        # direct write, so concurrent appenders on one inode could both
        # see the same EOF with either engine. Each write must land at the
        # EOF the other fd's last write left.
        fd2 = os.open(target, os.O_WRONLY | os.O_APPEND | of)
        fd1 = os.open(target, os.O_WRONLY | os.O_APPEND | of)
        total = 0
        i = 0
        while total < size:
            n = rng.randrange(1, 150000)
            put(None, rng.randbytes(n), f=(fd1, fd2)[i % 2])
            total += n
            i += 1
        os.close(fd1)
        os.close(fd2)
    else:
        sys.exit("unknown mode " + mode)
    os.fsync(fd)
    os.close(fd)
    os.close(rfd)
    carried(chk, expect, delta(s0, snap()), stats["writes"], stats["bytes"])
    return chk.ok()


def libc():
    return ctypes.CDLL(None, use_errno=True)


def cmd_signal(target, server, size, seed, flags):
    """One big write() interrupted by a signal (see the module's doc)."""
    chk = Check(os.path.basename(target))
    size = int(size)
    data = pattern(random.Random(int(seed)), size)
    m = mmap.mmap(-1, size)
    m[:] = data
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    hits = []
    signal.signal(signal.SIGALRM, lambda *_: hits.append(1))
    signal.siginterrupt(signal.SIGALRM, True)
    s0 = snap()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | oflags(flags), 0o644)
    # Through libc: Python's os.write would retry after EINTR (PEP 475).
    c = libc()
    c.write.restype = ctypes.c_ssize_t
    c.write.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t)
    signal.setitimer(signal.ITIMER_REAL, 0.08)
    n = c.write(fd, addr, size)
    err = ctypes.get_errno()
    signal.setitimer(signal.ITIMER_REAL, 0)
    os.fsync(fd)
    os.close(fd)
    d = delta(s0, snap())
    say("%s: write() of %d returned %d%s, %d signal(s): %s" % (
        chk.name, size, n, " (errno %d)" % err if n < 0 else "", len(hits), show(d)))
    if n < 0:
        chk.require(err == 4, "failed with errno %d, not EINTR" % err)
        n = 0
    else:
        chk.require(n < size, "the whole write went through: the signal did not stop it")
    server_is_prefix(chk, server, data, n)
    if rnetfs_loaded():
        chk.require(d["DW"] >= 1, "netfs DW did not move")
        key = "dio_writes" if "direct" in flags else "unbuffered_writes"
        chk.require(d[key] >= 1, "rnetfs %s did not move: not carried" % key)
        if 0 < n < size:
            chk.require(d["unbuffered_interrupted"] >= 1, "unbuffered_interrupted did not move")
    print("REL-CHECK %s %d" % (hashlib.sha256(data[:n]).hexdigest(), n))
    return chk.ok()


def cmd_race(target, ref, size, seed):
    """DIO, buffered writes and truncations at once on one file (9p loose)."""
    chk = Check(os.path.basename(target))
    size = int(size)
    seed = int(seed)
    dfd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o644)
    bfd = os.open(target, os.O_RDWR)
    os.ftruncate(bfd, size)
    errors = []
    s0 = snap()

    def dio():
        rng, buf = random.Random(seed), Buf(256 << 10)
        for _ in range(120):
            try:
                off = rng.randrange(0, size // 4096) * 4096
                os.pwrite(dfd, buf.view(rng.randbytes(4096 * rng.randrange(1, 32))), off)
            except OSError as e:
                errors.append(("dio", e))

    def buffered():
        rng = random.Random(seed + 1)
        for i in range(120):
            try:
                os.pwrite(bfd, rng.randbytes(rng.randrange(1, 70000)), rng.randrange(0, size))
                if i % 16 == 0:
                    os.fsync(bfd)
            except OSError as e:
                errors.append(("buffered", e))

    def truncater():
        rng = random.Random(seed + 2)
        for _ in range(40):
            try:
                os.ftruncate(bfd, rng.randrange(0, size + 100000))
            except OSError as e:
                errors.append(("truncate", e))

    ths = [threading.Thread(target=f) for f in (dio, buffered, truncater)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    d = delta(s0, snap())
    say("%s: the race: %s; errors: %s" % (chk.name, show(d), errors or "none"))
    # No error is expected: none of these operations may fail on a healthy
    # server.
    chk.require(not errors, "%d operations failed" % len(errors))
    if rnetfs_loaded():
        chk.require(d["dio_writes"] >= 120 - len([e for e in errors if e[0] == "dio"]),
                    "rnetfs dio_writes moved %d < 120" % d["dio_writes"])
    # The final, known state: a pattern over all of it, O_DIRECT.
    data = pattern(random.Random(seed + 3), size)
    buf = Buf(MB)
    for off in range(0, size, MB):
        n = os.pwrite(dfd, buf.view(data[off:off + MB]), off)
        chk.require(n == min(MB, size - off), "final write short: %d at %d" % (n, off))
    os.ftruncate(dfd, size)
    os.fsync(dfd)
    os.fsync(bfd)
    os.close(bfd)
    os.close(dfd)
    with open(ref, "wb") as f:
        f.write(data)
    return chk.ok()


def cmd_perm(target, ref, size, seed, want, spec, flags, server, rwf=None):
    """A permanent fault under one write() (see the module's doc)."""
    # pwritev2(RWF_DSYNC) on a buffered fd: a writethrough, whose lost
    # upload netfs reports through the mapping, to the fsync that ends
    # the write (generic_write_sync): the write fails with the errno.
    wthru = rwf == "dsync"
    chk = Check(os.path.basename(target))
    size, want = int(size), int(want)
    data = pattern(random.Random(int(seed)), size)
    m = mmap.mmap(-1, size)
    m[:] = data
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | oflags(flags), 0o644)
    s0 = snap()
    if not set_fault(spec):
        return chk.require(False, "spec refused")
    try:
        if wthru:
            n, err = os.pwritev(fd, [m], 0, os.RWF_DSYNC), 0
        else:
            n, err = os.pwrite(fd, m, 0), 0
    except OSError as e:
        n, err = 0, e.errno
    set_fault("off")
    d = delta(s0, snap())
    say("%s: write() of %d under %s: returned %d, errno %d: %s" % (chk.name, size, spec, n, err,
                                                                    show(d)))
    chk.require(d["faults_injected"] > 0, "no fault injected")
    if wthru:
        chk.require(d["writethroughs"] > 0, "not carried by rnetfs's writethrough")
        chk.require(d["upload_lost"] > 0, "no upload reported lost")
        chk.require(err == want, "errno %d (returned %d), injected %d: a lost upload went "
                    "unreported" % (err, n, want))
        # The data stays in the page cache, clean: all written again
        # below, with the fault gone.
        n = 0
    else:
        chk.require(d["unbuffered_failed"] > 0, "unbuffered_failed did not move")
        if err:
            chk.require(err == want, "errno %d, injected %d" % (err, want))
        else:
            chk.require(n < size, "the whole write succeeded under a permanent fault")
        server_is_prefix(chk, server, data, n)
    # The rest, with the fault gone: the file usable, then complete.
    done = n
    while done < size:
        done += os.pwrite(fd, memoryview(m)[done:], done)
    os.fsync(fd)
    os.close(fd)
    with open(ref, "wb") as f:
        f.write(data)
    return chk.ok()


def cmd_full(target, ref, server, seed):
    """Server-side ENOSPC through one O_DIRECT write (see the module's doc)."""
    chk = Check(os.path.basename(target))
    fill = os.path.join(os.path.dirname(target), "fill")
    st = os.statvfs(os.path.dirname(target))
    room = st.f_bavail * st.f_frsize - 3 * MB
    say("%s: %d bytes free, filling %d" % (chk.name, st.f_bavail * st.f_frsize, room))
    block = b"\xa5" * MB
    with open(fill, "wb") as f:
        while room > 0:
            room -= f.write(block[:min(MB, room)])
    size = 8 * MB
    data = pattern(random.Random(int(seed)), size)
    m = mmap.mmap(-1, size)
    m[:] = data
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o644)
    s0 = snap()
    try:
        n, err = os.pwrite(fd, m, 0), 0
    except OSError as e:
        n, err = 0, e.errno
    d = delta(s0, snap())
    os.close(fd)
    os.unlink(fill)
    say("%s: %s: O_DIRECT write() of %d on a full server returned %d, errno %d: %s" % (
        chk.name, "rnetfs" if rnetfs_loaded() else "C", size, n, err, show(d)))
    if err:
        chk.require(err in (28, 5), "errno %d, not ENOSPC or EIO" % err)
    else:
        chk.require(n < size, "8 MiB fitted in 3 MiB")
    server_is_prefix(chk, server, data, n)
    with open(ref, "wb") as f:
        f.write(data[:n])
    if rnetfs_loaded():
        chk.require(d["dio_writes"] >= 1, "rnetfs dio_writes did not move")
    print("RESULT %d %d" % (n, err))
    return chk.ok()


def bytes_of(s):
    """fio's sizes: 4k, 1M, 4096."""
    mult = {"k": 1 << 10, "m": MB, "g": 1 << 30}.get(s[-1].lower(), 1)
    return int(s.rstrip("kKmMgG")) * mult


def fio_run(args, log, timeout):
    """fio under `timeout` (a stalled load is stopped, rc 124)."""
    r = subprocess.run(["timeout", "-k", "10", str(timeout), "fio", "--output-format=json"] + args,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with open(log, "ab") as f:
        f.write(r.stdout + r.stderr)
    try:
        out = json.loads(r.stdout[r.stdout.find(b"{"):])
    except ValueError:
        out = None
    return r.returncode, out


def fio_common(name, rw, bs, size, nj, where):
    """The job, the same for the write and for verify_only."""
    loc = "--directory=" if nj > 1 else "--filename="
    return ["--name=" + name, "--rw=" + rw, "--bs=" + bs, "--size=%d" % size,
            "--verify=crc32c", "--verify_fatal=1", "--randrepeat=1", "--numjobs=%d" % nj,
            loc + where]


def cmd_fio(ioengine, rw, bs, size, target, server, numjobs="1", iodepth="8", expect="dio",
            timeout="300", osync=False):
    """fio direct writes, verified, then re-verified on the server's copy
    (SERVER "-": later, by fioverify). Exit status 2: fio timed out."""
    chk = Check(os.path.basename(target))
    size, nj = int(size), int(numjobs)
    log = "/tmp/%s.fio.log" % chk.name
    if nj > 1:
        os.makedirs(target, exist_ok=True)
    s0 = snap()
    rc, out = fio_run(fio_common(chk.name, rw, bs, size, nj, target) +
                      ["--ioengine=" + ioengine, "--direct=%d" % (not osync),
                       "--sync=%d" % osync, "--iodepth=" + iodepth, "--do_verify=1"],
                      log, timeout)
    d = delta(s0, snap())
    ios = size // bytes_of(bs) * nj
    if rc == 124 or rc == 137:
        say("%s: fio timed out after %s s" % (chk.name, timeout))
        chk.fail("fio timed out")
        return 2
    chk.require(rc == 0, "fio exited with %d (log %s)" % (rc, log))
    if out:
        total = sum(j["write"]["total_ios"] for j in out["jobs"])
        errs = [j["error"] for j in out["jobs"] if j["error"]]
        say("%s: fio %s %s bs=%s x%d: %d writes completed, errors %s" % (
            chk.name, ioengine, rw, bs, nj, total, errs or "none"))
        chk.require(total == ios, "%d of %d writes completed" % (total, ios))
        chk.require(not errs, "fio job errors %s" % errs)
    else:
        chk.fail("no fio JSON output (log %s)" % log)
    if rc != 0:
        # fio's own error lines (which file, offset, errno), not its JSON.
        with open(log, errors="replace") as f:
            lines = [ln.rstrip() for ln in f if ln.startswith("fio:") or "error" in ln[:40]]
        for ln in lines[:12]:
            say("%s: %s" % (chk.name, ln))
    carried(chk, expect, d, ios, size * nj)
    if server != "-" and not cmd_fioverify(rw, bs, str(size), server, str(nj), chk.name):
        chk.fail("fio's verify of the server's copy failed")
    return chk.ok()


def cmd_fioverify(rw, bs, size, where, numjobs="1", name=None):
    """fio's verify_only of what a cmd_fio job wrote, at WHERE (the
    server's copy: through the run share, or a fresh afs mount)."""
    name = name or os.path.basename(where)
    log = "/tmp/%s.fio.log" % name
    rc, _ = fio_run(fio_common(name, rw, bs, int(size), int(numjobs), where) +
                    ["--ioengine=psync", "--verify_only=1"], log, 300)
    if rc != 0:
        say("%s: fio verify_only of %s failed (%d, log %s)" % (name, where, rc, log))
        with open(log, errors="replace") as f:
            for ln in [ln.rstrip() for ln in f if ln.startswith(("fio:", "verify:"))][:12]:
                say("%s: %s" % (name, ln))
    else:
        say("%s: fio verify_only of %s: every block matches" % (name, where))
    return rc == 0


def opts(argv, names):
    """--key value options out of ARGV."""
    got, rest = {}, []
    it = iter(argv)
    for a in it:
        if a.startswith("--") and a[2:] in names:
            got[a[2:]] = next(it)
        else:
            rest.append(a)
    return got, rest


def main():
    cmd, argv = sys.argv[1], sys.argv[2:]
    o, a = opts(argv, ("flags", "rwf", "expect", "server", "numjobs", "iodepth",
                               "timeout", "name"))
    flags = [f for f in o.get("flags", "").split(",") if f]
    if cmd == "write":
        return cmd_write(*a, flags, o.get("rwf"), o.get("expect", "none"))
    if cmd == "signal":
        return cmd_signal(*a, flags)
    if cmd == "race":
        return cmd_race(*a)
    if cmd == "perm":
        return cmd_perm(*a, flags, o["server"], o.get("rwf"))
    if cmd == "full":
        return cmd_full(*a)
    if cmd == "fio":
        r = cmd_fio(*a, o.get("numjobs", "1"), o.get("iodepth", "8"), o.get("expect", "dio"),
                    o.get("timeout", "300"), "sync" in flags)
        if r == 2:
            sys.exit(2)
        return r
    if cmd == "fioverify":
        return cmd_fioverify(*a, o.get("numjobs", "1"), o.get("name"))
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)

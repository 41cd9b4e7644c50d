#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Write the same pattern to a file under test and to a local reference.

wtool.py MODE TARGET REF SIZE SEED [--fsync] [--osync] [--odirect] [--rwf-dsync] [--mmap]

MODE: seq (1 MiB writes), random (4 KiB writes at random offsets over SIZE),
sparse (64 KiB extents with holes), extend (growing appends of odd sizes),
small (many small unaligned writes), mmap (stores through a shared
mapping, then msync), truncate (writes, then shrinks and extends the file
while it is dirty), truncrace (truncations racing with a thread that
fsyncs in a loop, so with writeback in flight), truncsync (truncations
into the dirty tail while an fsync of it is on its way), files (TARGET and REF are directories: SIZE bytes over
many small files), big (a deterministic pattern with no reference file:
prints "sha256 size", for files larger than the guest's memory).
The reference lives off 9p so that the host can compare the export's bytes
with what the guest meant to write.
"""
import hashlib
import mmap
import os
import random
import sys


# pwritev2() flags of every write (--rwf-dsync: RWF_DSYNC, netfs's
# writethrough on a buffered fd).
RWF = 0


def pwrite_all(fd, data, off):
    """pwrite() until all of DATA is written: a write may legitimately
    return short (memory cgroup pressure does it), which is reported."""
    done = 0
    while done < len(data):
        if RWF:
            n = os.pwritev(fd, [data[done:]], off + done, RWF)
        else:
            n = os.pwrite(fd, data[done:], off + done)
        if n < len(data) - done:
            print("wtool: short write: %d of %d bytes at %#x" % (n, len(data) - done, off + done),
                  file=sys.stderr, flush=True)
        done += n


def main():
    mode, target, ref, size, seed = sys.argv[1:6]
    size = int(size)
    flags = sys.argv[6:]
    rng = random.Random(int(seed))
    if mode == "files":
        return files(target, ref, size, rng, flags)
    if mode == "big":
        return big(target, size, rng, flags)
    oflags = os.O_RDWR | os.O_CREAT
    if "--osync" in flags:
        oflags |= os.O_SYNC
    if "--odirect" in flags:
        oflags |= os.O_DIRECT
    if "--rwf-dsync" in flags:
        global RWF
        RWF = os.RWF_DSYNC
    fd = os.open(target, oflags, 0o644)
    rfd = os.open(ref, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.ftruncate(fd, 0)

    def put(off, data):
        pwrite_all(fd, data, off)
        pwrite_all(rfd, data, off)

    if mode == "seq":
        off = 0
        while off < size:
            n = min(1 << 20, size - off)
            put(off, rng.randbytes(n))
            off += n
    elif mode == "random":
        os.ftruncate(fd, size)
        os.ftruncate(rfd, size)
        for _ in range(size // 4096):
            off = rng.randrange(0, size // 4096) * 4096
            put(off, rng.randbytes(4096))
    elif mode == "sparse":
        for _ in range(max(1, size // (256 << 10))):
            off = rng.randrange(0, size)
            put(off, rng.randbytes(rng.randrange(1, 64 << 10)))
    elif mode == "extend":
        off = 0
        while off < size:
            n = rng.randrange(1, 200000)
            put(off, rng.randbytes(n))
            off += n
    elif mode == "small":
        for _ in range(size // 512):
            off = rng.randrange(0, size)
            put(off, rng.randbytes(rng.randrange(1, 3000)))
    elif mode == "truncate":
        off = 0
        while off < size:
            n = min(rng.randrange(4096, 300000), size - off)
            put(off, rng.randbytes(n))
            off += n
        # Shrink below what is dirty, write past the new EOF, shrink into
        # the middle of a folio, then extend over a hole.
        for cut in (size // 3 + 123, size // 5 + 4097):
            os.ftruncate(fd, cut)
            os.ftruncate(rfd, cut)
            put(cut + rng.randrange(0, 70000), rng.randbytes(rng.randrange(1, 90000)))
        end = os.fstat(rfd).st_size
        os.ftruncate(fd, end + 65537)
        os.ftruncate(rfd, end + 65537)
        put(end + 65537 - 100, rng.randbytes(100))
    elif mode == "truncrace":
        # Truncations racing with writeback in flight: a second thread
        # fsyncs in a loop while this one shrinks, rewrites and extends the
        # file. Errors the syncer saw are reported at the end.
        import threading
        errors = []
        stop = threading.Event()

        def syncer():
            while not stop.is_set():
                try:
                    os.fsync(fd)
                except OSError as e:
                    errors.append(e)

        put(0, rng.randbytes(size))
        th = threading.Thread(target=syncer)
        th.start()
        for _ in range(12):
            cut = rng.randrange(size // 4, size)
            os.ftruncate(fd, cut)
            os.ftruncate(rfd, cut)
            put(rng.randrange(0, cut), rng.randbytes(rng.randrange(1, 300000)))
            end = os.fstat(rfd).st_size
            put(end + rng.randrange(0, 100000), rng.randbytes(rng.randrange(1, 500000)))
        stop.set()
        th.join()
        if errors and "--fsync" in flags:
            try:
                os.fsync(fd)
            finally:
                raise errors[0]
    elif mode == "truncsync":
        # A truncation into the dirty tail of the file while an fsync of
        # that tail is on its way: the race of a setattr overtaking the
        # last upload, aimed at. Each new tail starts past a hole, so that
        # bytes an overtaken upload left past a truncation stay where zeros
        # belong. The sleeps (a fraction of the last fsync's duration) vary
        # when the truncation comes; the bytes depend on the seed alone.
        import threading
        import time
        errors = []

        def fsync_once():
            try:
                os.fsync(fd)
            except OSError as e:
                errors.append(e)

        put(0, rng.randbytes(size))
        os.fsync(fd)
        took = 0.1
        for _ in range(16):
            end = os.fstat(rfd).st_size + rng.randrange(1 << 20, 2 << 20)
            n = rng.randrange(256 << 10, 1 << 20)
            put(end, rng.randbytes(n))
            t0 = time.monotonic()
            th = threading.Thread(target=fsync_once)
            th.start()
            time.sleep(random.uniform(0.2, 1.0) * took)
            cut = end + rng.randrange(0, n)
            os.ftruncate(fd, cut)
            os.ftruncate(rfd, cut)
            th.join()
            took = max(0.01, time.monotonic() - t0)
        if errors and "--fsync" in flags:
            raise errors[0]
    elif mode == "mmap":
        os.ftruncate(fd, size)
        os.ftruncate(rfd, size)
        m = mmap.mmap(fd, size)
        for _ in range(size // 8192):
            off = rng.randrange(0, size - 4096)
            data = rng.randbytes(rng.randrange(1, 4096))
            m[off:off + len(data)] = data
            pwrite_all(rfd, data, off)
        m.flush()
        m.close()
    else:
        sys.exit("unknown mode " + mode)
    if "--fsync" in flags:
        os.fsync(fd)
    os.close(fd)
    os.close(rfd)


def files(tdir, rdir, size, rng, flags):
    """SIZE bytes over many files of 1 byte to 64 KiB."""
    os.makedirs(tdir, exist_ok=True)
    os.makedirs(rdir, exist_ok=True)
    total, i = 0, 0
    while total < size:
        n = rng.randrange(1, 64 << 10)
        data = rng.randbytes(n)
        name = "f%05d" % i
        for d in (tdir, rdir):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        total += n
        i += 1
    if "--fsync" in flags:
        os.sync()


def big(target, size, rng, flags):
    """A 1 MiB random block, stamped with its offset, repeated to SIZE."""
    block = bytearray(rng.randbytes(1 << 20))
    h = hashlib.sha256()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    off = 0
    while off < size:
        block[0:8] = off.to_bytes(8, "little")
        chunk = bytes(block[:min(1 << 20, size - off)])
        pwrite_all(fd, chunk, off)
        h.update(chunk)
        off += len(chunk)
    if "--fsync" in flags:
        os.fsync(fd)
    os.close(fd)
    print(h.hexdigest(), size)


def manifest(d):
    """What the host's RNETFS-CHECKDIR compares: name, size, sha256."""
    h = hashlib.sha256()
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as f:
            data = f.read()
        h.update(b"%s %d %s\n" % (name.encode(), len(data),
                                   hashlib.sha256(data).hexdigest().encode()))
    return h.hexdigest()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "manifest":
        print(manifest(sys.argv[2]))
    else:
        main()

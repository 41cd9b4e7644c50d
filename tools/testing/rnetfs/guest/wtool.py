#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Write the same pattern to a file under test and to a local reference.

wtool.py MODE TARGET REF SIZE SEED [--fsync] [--osync] [--mmap]

MODE: seq (1 MiB writes), random (4 KiB writes at random offsets over SIZE),
sparse (64 KiB extents with holes), extend (growing appends of odd sizes),
small (many small unaligned writes). The reference lives off 9p so that the
host can compare the export's bytes with what the guest meant to write.
"""
import mmap
import os
import random
import sys


def main():
    mode, target, ref, size, seed = sys.argv[1:6]
    size = int(size)
    flags = sys.argv[6:]
    rng = random.Random(int(seed))
    oflags = os.O_RDWR | os.O_CREAT
    if "--osync" in flags:
        oflags |= os.O_SYNC
    fd = os.open(target, oflags, 0o644)
    rfd = os.open(ref, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.ftruncate(fd, 0)

    def put(off, data):
        os.pwrite(fd, data, off)
        os.pwrite(rfd, data, off)

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
    elif mode == "mmap":
        os.ftruncate(fd, size)
        os.ftruncate(rfd, size)
        m = mmap.mmap(fd, size)
        for _ in range(size // 8192):
            off = rng.randrange(0, size - 4096)
            data = rng.randbytes(rng.randrange(1, 4096))
            m[off:off + len(data)] = data
            os.pwrite(rfd, data, off)
        m.flush()
        m.close()
    else:
        sys.exit("unknown mode " + mode)
    if "--fsync" in flags:
        os.fsync(fd)
    os.close(fd)
    os.close(rfd)


main()

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The bench's flush workload: dirty a file through one descriptor, then
time fsync() of that descriptor alone.

flush.py FILE MIB SEED

Writes MIB MiB in 1 MiB write()s through one open descriptor (the caller
has held background writeback off with the vm.dirty_* sysctls), then
fsync()s that same descriptor, timed: 9p writes a writer's dirty pages back
when its file is closed, so the descriptor stays open until the fsync has
returned. Every 4 KiB of the data carries its own offset, so that a page
written to the wrong place does not hash the same.

Prints one line of key=value: bytes, ns (the fsync), sys_ticks and
irq_ticks (the guest's system and irq+softirq CPU during the fsync, from
/proc/stat), hz, dirty_kb and wb_kb (/proc/meminfo Dirty and Writeback just
before the fsync: what the fsync had to write, and whether writeback had
started early), t0/t1 (CLOCK_BOOTTIME ns around the fsync, to cut trace
events and profile samples to it) and sha256 (of what was written).
"""
import hashlib
import os
import random
import struct
import sys
import time

CHUNK = 1 << 20
PAGE = 4096


def cpu_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq ...
    return v[2], v[5] + v[6]


def meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def main():
    path, mib, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    base = bytearray(random.Random(seed).randbytes(CHUNK))
    h = hashlib.sha256()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for i in range(mib):
        off = i * CHUNK
        for p in range(0, CHUNK, PAGE):
            struct.pack_into("<QQ", base, p, off + p, seed)
        done = 0
        view = memoryview(base)
        while done < CHUNK:
            done += os.pwrite(fd, view[done:], off + done)
        h.update(base)
    dirty, wb = meminfo("Dirty"), meminfo("Writeback")
    s0, q0 = cpu_ticks()
    t0 = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    os.fsync(fd)
    t1 = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    s1, q1 = cpu_ticks()
    os.close(fd)
    print("bytes=%d ns=%d sys_ticks=%d irq_ticks=%d hz=%d dirty_kb=%d wb_kb=%d t0=%d t1=%d sha256=%s" % (
        mib * CHUNK, t1 - t0, s1 - s0, q1 - q0, os.sysconf("SC_CLK_TCK"), dirty, wb, t0, t1,
        h.hexdigest()))


main()

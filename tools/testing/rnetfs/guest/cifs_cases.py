#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The cifs suite's checks that are a few system calls in one process.

  cifs_cases.py CASE ARGS...

As guest/cases.py (whose counter_delta and flip_byte the suite uses too):
each case is a function below, its docstring says what it checks, and it
exits 0 if it passed. Messages go to stdout prefixed "RNETFS: "; lines
meant for the suite to parse are printed without the prefix.
"""
import ctypes
import mmap
import os
import subprocess
import sys

from cases import more_then_fsync


def msg(text):
    print("RNETFS: " + text, flush=True)


def kv(line):
    """A counters() line ("key=value ...") as a dict of ints (empty: 0)."""
    return {k: int(v or 0) for k, v in (f.split("=", 1) for f in line.split() if "=" in f)}


def carried(name, before, after, eng):
    """The engine ENG (r: rnetfs, c: the C engine) carried the writeback
    between two counters() lines: with rnetfs its writepages and upload
    counters moved (the uploads' bytes too); with C, netfs's own
    writepages and upload counters (not the unbuffered path)."""
    a, b = kv(before), kv(after)

    def d(k):
        return b.get(k, 0) - a.get(k, 0)
    if eng == "r":
        msg("%s: rnetfs writepages +%d, uploads +%d (%d bytes)"
            % (name, d("writepages"), d("upload_done"), d("upload_bytes")))
        return d("writepages") > 0 and d("upload_done") > 0 and d("upload_bytes") > 0
    msg("%s: C writepages +%d, uploads +%d" % (name, d("WP"), d("UL")))
    return d("WP") > 0 and d("UL") > 0


def rofs_live(target, rofs):
    """rofs: 8 MiB dirty in an open file, the share's ext4 (mounted on
    ROFS) forced read-only, 4 MiB more written: fsync must fail. Prints
    "fsync errno N ..." for the suite."""
    fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, os.urandom(8 << 20))
    dev = subprocess.run(["findmnt", "-no", "SOURCE", rofs], capture_output=True,
                         text=True).stdout.strip()
    with open("/sys/fs/ext4/%s/trigger_fs_error" % os.path.basename(dev), "w") as f:
        f.write("1")
    return more_then_fsync(fd, "write after")


def pattern(size, seed):
    """SIZE bytes, the same for the same SEED (the check rebuilds them)."""
    block = bytes((seed * 131 + i * 7) & 0xff for i in range(4096))
    return (block * (size // 4096 + 1))[:size]


def no_handle_write(target, old_ref, new_ref, size="1048576"):
    """The mmap write that cifs finds no handle for: OLD written and
    fsync'ed through the fd, the file mapped shared, the fd closed (with
    closetimeo=0 cifs closes the handle on the server when the map goes),
    NEW stored through the map, the map gone, then sync(): the writeback
    finds no writable handle (cifs's begin_writeback leaves the upload
    stream unavailable). Then a new open and fsync, whose results are
    printed ("open: ok" or "open errno N ...", then the same for fsync; an
    open that fails is made again), and what the page cache holds.
    OLD_REF and NEW_REF get the two contents, for the suite to compare
    with the share's backing file. Passes if the system calls before the
    last fsync worked; the verdict is the suite's."""
    size = int(size)
    old, new = pattern(size, 1), pattern(size, 2)
    with open(old_ref, "wb") as f:
        f.write(old)
    with open(new_ref, "wb") as f:
        f.write(new)
    fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, old)
    os.fsync(fd)
    # mmap(2) itself: Python's mmap object keeps a dup of the fd, whose
    # close would flush the dirty pages through the handle.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    addr = libc.mmap(None, size, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED, fd, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), "mmap")
    os.close(fd)
    ctypes.memmove(addr, new, size)
    if libc.munmap(addr, size) != 0:
        raise OSError(ctypes.get_errno(), "munmap")
    os.sync()
    # cifs may see the error first: an open that finds the file changed on
    # the server invalidates the page cache, whose flush returns the
    # mapping's error (AS_EIO). Then a second open.
    try:
        fd = os.open(target, os.O_RDWR)
        print("open: ok")
    except OSError as e:
        print("open errno", e.errno, e)
        fd = os.open(target, os.O_RDWR)
    try:
        os.fsync(fd)
        print("fsync: ok")
    except OSError as e:
        print("fsync errno", e.errno, e)
    try:
        got = os.pread(fd, size, 0)
        print("page cache:", "new" if got == new else "old" if got == old else "other")
    finally:
        os.close(fd)
    return True


CASES = {f.__name__: f for f in (carried, rofs_live, no_handle_write)}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in CASES:
        sys.exit(__doc__ + "\ncases: " + " ".join(CASES))
    sys.exit(0 if CASES[sys.argv[1]](*sys.argv[2:]) else 1)

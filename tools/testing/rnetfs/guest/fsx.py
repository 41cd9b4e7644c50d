#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""fsx-style randomized verified stress on one file.

fsx.py FILE REF --seed N [--ops N] [--time S] [--maxlen BYTES] [--no-mmap]
       [--no-fallocate] [--no-fsync] [--quiet]

--time S stops after S seconds if the operations are not all done.

A seeded random sequence of operations on FILE, mirrored into an in-memory
shadow copy: write, mmap-write (mmap + memcpy, msync half of the time),
mmap-read, truncate (down and up), fallocate (plain, PUNCH_HOLE|KEEP_SIZE,
ZERO_RANGE), fsync and read. Every read (pread and through a mapping) is
checked against the shadow; the end does a full read check, an fsync, and
writes the shadow to REF (a local file) for the host's byte check of FILE.
An operation kind the filesystem refuses with EOPNOTSUPP is dropped for the
rest of the run and reported. The seed and the per-kind operation counts
are printed; a mismatch prints the tail of the operation log and the bad
offsets, and exits 1. Any other error exits 2, naming the operation.
"""
import argparse
import ctypes
import errno
import mmap
import os
import random
import sys
import time

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10
PAGE = mmap.PAGESIZE

_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]


def fallocate(fd, mode, off, length):
    if _libc.fallocate(fd, mode, off, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


class Mismatch(Exception):
    pass


class Fsx:
    def __init__(self, path, seed, maxlen, kinds, quiet):
        self.path = path
        self.rng = random.Random(seed)
        self.seed = seed
        self.maxlen = maxlen
        self.kinds = kinds
        self.quiet = quiet
        self.shadow = bytearray()
        self.log = []
        self.counts = {k: 0 for k in kinds}
        self.refused = []
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)

    def note(self, text):
        self.log.append(text)
        if len(self.log) > 4096:
            del self.log[:2048]

    def say(self, text):
        print("fsx[%s] %s" % (self.seed, text), flush=True)

    # Shadow helpers ---------------------------------------------------
    def shadow_write(self, off, data):
        end = off + len(data)
        if end > len(self.shadow):
            self.shadow.extend(bytes(end - len(self.shadow)))
        self.shadow[off:end] = data

    def shadow_truncate(self, size):
        if size < len(self.shadow):
            del self.shadow[size:]
        else:
            self.shadow.extend(bytes(size - len(self.shadow)))

    def check(self, off, got, what):
        want = bytes(self.shadow[off:off + len(got)])
        if len(want) < len(got):
            want += bytes(len(got) - len(want))
        if got == want:
            return
        bad = [i for i in range(len(got)) if got[i] != want[i]]
        self.say("MISMATCH in %s: %d bad bytes, first at 0x%x (file offset 0x%x), last at 0x%x"
                 % (what, len(bad), bad[0], off + bad[0], off + bad[-1]))
        i = bad[0]
        self.say("  got  %s" % got[i:i + 16].hex())
        self.say("  want %s" % want[i:i + 16].hex())
        self.say("op log tail (%d ops done):" % sum(self.counts.values()))
        for line in self.log[-30:]:
            self.say("  " + line)
        raise Mismatch(what)

    # Operations -------------------------------------------------------
    def rand_range(self, maxend=None):
        maxend = maxend or self.maxlen
        off = self.rng.randrange(0, maxend)
        length = self.rng.randrange(1, min(maxend - off, 256 << 10) + 1)
        return off, length

    def op_write(self):
        off, length = self.rand_range()
        data = self.rng.randbytes(length)
        self.note("write 0x%x+0x%x" % (off, length))
        done = 0
        while done < length:
            n = os.pwrite(self.fd, data[done:], off + done)
            if n < length - done:
                self.say("short write: %d of %d bytes at 0x%x" % (n, length - done, off + done))
            done += n
        self.shadow_write(off, data)

    def op_read(self):
        size = len(self.shadow)
        if size == 0:
            got = os.pread(self.fd, 4096, 0)
            self.note("read 0+4096 (empty)")
            self.check(0, got, "read of an empty file")
            return
        off = self.rng.randrange(0, size)
        length = self.rng.randrange(1, min(size - off, 256 << 10) + 1)
        self.note("read 0x%x+0x%x" % (off, length))
        got = os.pread(self.fd, length, off)
        if len(got) != length:
            self.say("short read 0x%x+0x%x: %d bytes (size 0x%x)" % (off, length, len(got), size))
            raise Mismatch("short read")
        self.check(off, got, "read 0x%x+0x%x" % (off, length))

    def _map(self, off, length):
        moff = off - off % PAGE
        return mmap.mmap(self.fd, off + length - moff, offset=moff), off - moff

    def op_mapwrite(self):
        off, length = self.rand_range()
        data = self.rng.randbytes(length)
        sync = self.rng.random() < 0.5
        self.note("mapwrite 0x%x+0x%x%s" % (off, length, " msync" if sync else ""))
        if off + length > len(self.shadow):
            # A store beyond EOF would fault: extend first, as fsx does.
            os.ftruncate(self.fd, off + length)
            self.shadow_truncate(off + length)
        m, d = self._map(off, length)
        m[d:d + length] = data
        if sync:
            m.flush()
        m.close()
        self.shadow_write(off, data)

    def op_mapread(self):
        size = len(self.shadow)
        if size == 0:
            return self.op_read()
        off = self.rng.randrange(0, size)
        length = self.rng.randrange(1, min(size - off, 256 << 10) + 1)
        self.note("mapread 0x%x+0x%x" % (off, length))
        m, d = self._map(off, length)
        got = bytes(m[d:d + length])
        m.close()
        self.check(off, got, "mapread 0x%x+0x%x" % (off, length))

    def op_truncate(self):
        size = len(self.shadow)
        if self.rng.random() < 0.5 and size > 0:
            new = self.rng.randrange(0, size)           # down
        else:
            new = self.rng.randrange(size, self.maxlen + 1)  # up (or same)
        self.note("truncate 0x%x -> 0x%x" % (size, new))
        os.ftruncate(self.fd, new)
        self.shadow_truncate(new)

    def op_fallocate(self):
        off, length = self.rand_range()
        self.note("fallocate 0x%x+0x%x" % (off, length))
        fallocate(self.fd, 0, off, length)
        if off + length > len(self.shadow):
            self.shadow_truncate(off + length)

    def op_punch(self):
        off, length = self.rand_range()
        self.note("punch_hole 0x%x+0x%x" % (off, length))
        fallocate(self.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, length)
        end = min(off + length, len(self.shadow))
        if off < end:
            self.shadow[off:end] = bytes(end - off)

    def op_zero(self):
        off, length = self.rand_range()
        self.note("zero_range 0x%x+0x%x" % (off, length))
        fallocate(self.fd, FALLOC_FL_ZERO_RANGE, off, length)
        self.shadow_write(off, bytes(length))

    def op_fsync(self):
        self.note("fsync")
        os.fsync(self.fd)

    def run(self, nops, seconds=None):
        deadline = time.monotonic() + seconds if seconds else None
        weights = {"write": 30, "mapwrite": 12, "mapread": 8, "truncate": 8,
                   "fallocate": 4, "punch": 4, "zero": 4, "fsync": 6, "read": 24}
        for i in range(nops):
            if deadline and time.monotonic() > deadline:
                self.say("time limit: stopping after %d ops" % i)
                break
            kinds = [k for k in self.kinds if k not in self.refused]
            kind = self.rng.choices(kinds, [weights[k] for k in kinds])[0]
            try:
                getattr(self, "op_" + kind)()
            except OSError as e:
                if e.errno == errno.EOPNOTSUPP and kind in ("fallocate", "punch", "zero"):
                    self.refused.append(kind)
                    self.say("%s refused with EOPNOTSUPP: dropped from this run" % kind)
                    self.log[-1] += " (EOPNOTSUPP)"
                    continue
                self.say("op %d (%s) failed: %s" % (i, self.log[-1] if self.log else kind, e))
                raise
            self.counts[kind] += 1
            if not self.quiet and i and i % 500 == 0:
                self.say("%d ops, size 0x%x" % (i, len(self.shadow)))

    def final(self, ref):
        os.fsync(self.fd)
        st = os.fstat(self.fd)
        if st.st_size != len(self.shadow):
            self.say("size 0x%x, shadow 0x%x" % (st.st_size, len(self.shadow)))
            for line in self.log[-30:]:
                self.say("  " + line)
            raise Mismatch("final size")
        off = 0
        while off < len(self.shadow):
            got = os.pread(self.fd, 1 << 20, off)
            if not got:
                raise Mismatch("final read: EOF at 0x%x" % off)
            self.check(off, got, "final read at 0x%x" % off)
            off += len(got)
        os.close(self.fd)
        with open(ref, "wb") as f:
            f.write(self.shadow)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("ref")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--ops", type=int, default=2000)
    ap.add_argument("--time", type=float)
    ap.add_argument("--maxlen", type=int, default=4 << 20)
    ap.add_argument("--no-mmap", action="store_true")
    ap.add_argument("--no-fallocate", action="store_true")
    ap.add_argument("--no-fsync", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    kinds = ["write", "read", "truncate"]
    if not a.no_mmap:
        kinds += ["mapwrite", "mapread"]
    if not a.no_fallocate:
        kinds += ["fallocate", "punch", "zero"]
    if not a.no_fsync:
        kinds.append("fsync")
    f = Fsx(a.file, a.seed, a.maxlen, kinds, a.quiet)
    f.say("seed %d, %d ops on %s, max length 0x%x" % (a.seed, a.ops, a.file, a.maxlen))
    try:
        f.run(a.ops, a.time)
        f.final(a.ref)
    except Mismatch as e:
        f.say("FAILED: %s (seed %d)" % (e, a.seed))
        return 1
    except OSError as e:
        f.say("FAILED: %s (seed %d)" % (e, a.seed))
        return 2
    f.say("done: size 0x%x, ops %s%s" % (
        len(f.shadow), " ".join("%s=%d" % kv for kv in f.counts.items()),
        ", refused (EOPNOTSUPP): " + ",".join(f.refused) if f.refused else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

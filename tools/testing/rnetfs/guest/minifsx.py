#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A small fsx: random write(), mmap stores, truncates and reads on one file,
each read checked against an in-memory model; fsync now and then.

minifsx.py TARGET REF OPS SEED [MAXLEN]

Ends with an fsync and the model written to REF, for a check of the
server's copy. Exits 1, naming the op, at the first mismatch.
"""
import mmap
import os
import random
import sys


def main():
    target, ref, ops, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    maxlen = int(sys.argv[5]) if len(sys.argv) > 5 else 1 << 20
    rng = random.Random(seed)
    fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    model = bytearray()
    counts = {}

    def check(what, off, length, got):
        want = bytes(model[off:off + length])
        if got != want:
            bad = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]), None)
            sys.exit("minifsx: op %d %s at %d: %d bytes, first difference at %s (model size %d)"
                     % (n, what, off, len(got), bad, len(model)))

    for n in range(ops):
        op = rng.choice(["write", "write", "mapwrite", "mapwrite", "truncate", "read", "mapread", "fsync"])
        counts[op] = counts.get(op, 0) + 1
        size = len(model)
        if op == "write":
            off = rng.randrange(0, maxlen)
            data = rng.randbytes(rng.randrange(1, 65536))
            os.pwrite(fd, data, off)
            if off > size:
                model.extend(bytes(off - size))
            model[off:off + len(data)] = data
        elif op == "mapwrite" and size > 0:
            off = rng.randrange(0, size)
            data = rng.randbytes(rng.randrange(1, min(65536, size - off) + 1))
            with mmap.mmap(fd, size) as m:
                m[off:off + len(data)] = data
                if rng.random() < 0.5:
                    m.flush()
            model[off:off + len(data)] = data
        elif op == "truncate":
            new = rng.randrange(0, maxlen)
            os.ftruncate(fd, new)
            if new < size:
                del model[new:]
            else:
                model.extend(bytes(new - size))
        elif op == "read" and size > 0:
            off = rng.randrange(0, size)
            length = rng.randrange(1, 200000)
            check("read", off, length, os.pread(fd, length, off))
        elif op == "mapread" and size > 0:
            off = rng.randrange(0, size)
            with mmap.mmap(fd, size, prot=mmap.PROT_READ) as m:
                length = rng.randrange(1, 200000)
                check("mapread", off, length, m[off:off + length])
        elif op == "fsync":
            os.fsync(fd)
        if os.fstat(fd).st_size != len(model):
            sys.exit("minifsx: op %d %s: size %d, model %d" % (n, op, os.fstat(fd).st_size, len(model)))
    os.fsync(fd)
    check("final read", 0, len(model) + 1, os.pread(fd, len(model) + 1, 0))
    os.close(fd)
    with open(ref, "wb") as f:
        f.write(model)
    print("minifsx: %d ops %s, final size %d" % (ops, " ".join("%s=%d" % kv for kv in sorted(counts.items())), len(model)))


if __name__ == "__main__":
    main()

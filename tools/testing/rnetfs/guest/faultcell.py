#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""One fault cell: a workload written under an rnetfs fault spec, checked.

The one implementation of what a transient and a permanent fault must do,
used by the faults suite (through the command line below) and by the
matrix driver (matrix.py, as a module):

  transient  every byte reaches the server, through the retryer: faults
             were injected and, for errors and short writes, subrequests
             retried (delay and reorder send late, they do not retry);
  permanent  fsync (msync for mmap) reports the errno; a file fsync'ed
             before the fault is intact; nothing is left locked or under
             writeback; once the fault is gone the same file is written in
             full.

O_SYNC opens on 9p (osync) make netfs's unbuffered writes, and
pwritev2(RWF_DSYNC) on a plain fd (wthru) its writethrough, and O_DIRECT
(dio) its direct writes: rnetfs carries them while loaded, so the injector faults them and a permanent
fault fails the write() itself with the errno (for wthru, the fsync that
ends it reports the lost upload); with the C engine their cells check
the data only.

  faultcell.py transient SPEC WORKLOAD SIZE NAME [--late]
  faultcell.py permanent SPEC ERRNO NAME

--late: the spec sends subrequests late (delay, reorder): some must have
been held, and for reorder some upload completions must have come back out
of order (from the netfs_sreq trace events).
"""
import os
import re
import sys

from guestlib import (MB, MNT, REF, console, rnetfs_loaded, say, set_fault,
                      stat_of, verify, wtool)

TRACE = "/sys/kernel/tracing"
ERRNO = {"eio": 5, "enospc": 28, "edquot": 122, "eagain": 11, "eintr": 4}


class Outcome:
    """What a cell found: counts for the matrix's line, and why it failed."""

    def __init__(self, name):
        self.name = name
        self.ok = True
        self.injected = self.retried = self.verified = 0
        self.notes = []

    def note(self, text):
        self.notes.append(text)

    def failed(self, why):
        self.ok = False
        self.note(why)

    def why(self):
        return ", ".join(self.notes)


def kind_of(spec):
    """The fault kind of an upload spec: "upload=every:3:eagain:retry" -> "eagain"."""
    m = re.search(r"upload=\w+:\d+:(\w+)", spec or "")
    return m.group(1) if m else None


def expects_retry(spec):
    """Errors and short writes are retried; delay and reorder only send late."""
    return kind_of(spec) not in ("delay", "reorder", None)


def size_of(path):
    """Bytes of a reference (0 if the workload died before writing it)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def transient(name, spec, workload, size, seed, fault_seed=None):
    """A transient SPEC (None: a control cell, no fault) under WORKLOAD."""
    out = Outcome(name)
    i0, r0, cf0, wp0, wt0 = (stat_of(k) for k in ("faults_injected", "retried", "cache_failed",
                                                  "writepages", "writethroughs"))
    ud0 = {k: stat_of(k) for k in ("dio_writes", "unbuffered_writes")}
    if spec:
        if fault_seed is not None:
            spec = "%s seed=%d" % (spec, fault_seed)
        if not set_fault(spec):
            out.failed("spec refused")
            return out
    ok, err = wtool(workload, os.path.join(MNT, name), os.path.join(REF, name), size, seed)
    set_fault("off")
    if not ok:
        console(err)
        out.failed("workload failed")
    out.injected = stat_of("faults_injected") - i0
    out.retried = stat_of("retried") - r0
    if stat_of("cache_failed") != cf0:
        out.note("cache_failed=%d" % (stat_of("cache_failed") - cf0))
    if not verify("-c", "-s", name):
        out.failed("verify failed")
    out.verified = size_of(os.path.join(REF, name))
    if workload in ("osync", "dio"):
        if not rnetfs_loaded():
            out.note("%s: the C engine's unbuffered path" % workload)
            return out
        key = "dio_writes" if workload == "dio" else "unbuffered_writes"
        if stat_of(key) == ud0[key]:
            out.failed("rnetfs %s did not move" % key)
        out.note("%s: rnetfs's unbuffered path" % workload)
    elif workload == "wthru":
        if not rnetfs_loaded():
            out.note("RWF_DSYNC: the C engine's writethrough")
            return out
        if stat_of("writethroughs") == wt0:
            out.failed("rnetfs writethroughs did not move")
        out.note("RWF_DSYNC: rnetfs's writethrough")
    elif rnetfs_loaded() and stat_of("writepages") == wp0:
        out.failed("rnetfs writepages did not move")
    if not spec:
        out.note("control: no fault")
        return out
    if out.injected == 0:
        out.failed("no fault injected")
    if expects_retry(spec) and out.retried == 0:
        out.failed("no retry")
    return out


def permanent(name, spec, want, workload, size, seed, acked=MB, after=2 * MB):
    """A permanent SPEC failing WORKLOAD with errno WANT."""
    out = Outcome(name)
    acked_name = name + "-acked"
    ok, err = wtool("seq", os.path.join(MNT, acked_name), os.path.join(REF, acked_name), acked, seed)
    if not ok:
        console(err)
        out.failed("the file before the fault failed")
    i0, r0 = stat_of("faults_injected"), stat_of("retried")
    if not set_fault(spec):
        out.failed("spec refused")
        return out
    ok, err = wtool(workload, os.path.join(MNT, name), os.path.join(REF, name), size, seed + 1)
    set_fault("off")
    out.injected = stat_of("faults_injected") - i0
    out.retried = stat_of("retried") - r0
    sync_write = workload in ("osync", "wthru", "dio")
    if sync_write and not rnetfs_loaded():
        # Not rnetfs's path: the writes must simply be intact.
        out.note("%s: the C engine's path" % workload)
        if not ok:
            console(err)
            out.failed("synchronous writes failed")
        elif not verify("-H", "-c", name):
            out.failed("synchronous file differs")
    elif ok:
        out.failed("the synchronous write succeeded" if sync_write else "fsync succeeded")
    elif "Errno %d]" % want not in err:
        console(err)
        out.failed("wrong error")
    elif workload == "mmap" and "m.flush()" not in err:
        console(err)
        out.failed("msync did not fail")
    else:
        m = re.search(r"Errno %d\].*" % want, err)
        out.note(("msync: " if workload == "mmap" else "") + m.group(0)[:40])
    # Nothing locked or under writeback; the acknowledged file intact.
    if workload not in ("osync", "dio") and not verify("-H", name):
        out.failed("the failed file is left locked or under writeback")
    if not verify("-c", "-s", acked_name):
        out.failed("acked file differs")
    # Usable after: the same file written again in full.
    wp0 = stat_of("writepages")
    ok, err = wtool("seq", os.path.join(MNT, name), os.path.join(REF, name), after, seed + 2)
    if not ok:
        console(err)
        out.failed("the rewrite failed")
    if not verify("-c", "-s", name):
        out.failed("rewritten file differs")
    if rnetfs_loaded() and stat_of("writepages") == wp0:
        out.failed("rnetfs writepages did not move on the rewrite")
    out.verified = size_of(os.path.join(REF, acked_name)) + size_of(os.path.join(REF, name))
    if (not sync_write or rnetfs_loaded()) and out.injected == 0:
        out.failed("no fault injected")
    return out


def out_of_order(trace):
    """Upload completions of one request that came back below one seen
    before them (R=request[subrequest index] in netfs_sreq events)."""
    top, n = {}, 0
    for m in re.finditer(r"R=(\w+)\[(\w+)\] UPLD TERM", trace):
        r, i = m.group(1), int(m.group(2), 16)
        n += i < top.get(r, -1)
        top[r] = max(i, top.get(r, -1))
    return n


def tracing(on):
    def put(path, value):
        with open(os.path.join(TRACE, path), "w") as f:
            f.write(value)
    put("tracing_on", "0")
    if on:
        put("trace", "")
    put("events/netfs/netfs_sreq/enable", "1" if on else "0")
    if on:
        put("tracing_on", "1")


def late(name, spec, workload, size, seed):
    """A transient SPEC that sends subrequests late: held, maybe reordered."""
    h0 = stat_of("held")
    tracing(True)
    try:
        out = transient(name, spec, workload, size, seed)
    finally:
        tracing(False)
    held = stat_of("held") - h0
    out.note("%d subrequests sent late" % held)
    if held == 0:
        out.failed("none held")
    if kind_of(spec) == "reorder":
        with open(os.path.join(TRACE, "trace")) as f:
            ooo = out_of_order(f.read())
        out.note("%d completions out of order" % ooo)
        if ooo == 0:
            out.failed("none out of order")
    return out


def main(argv):
    seed = int.from_bytes(os.urandom(2), "little")
    if argv[:1] == ["transient"] and len(argv) in (5, 6):
        spec, workload, size, name = argv[1:5]
        if argv[5:] == ["--late"]:
            out = late(name, spec, workload, int(size), seed)
        else:
            out = transient(name, spec, workload, int(size), seed)
    elif argv[:1] == ["permanent"] and len(argv) == 4:
        spec, want, name = argv[1:4]
        out = permanent(name, spec, int(want), "seq", 8 * MB, seed, acked=2 * MB, after=8 * MB)
    else:
        sys.exit(__doc__)
    say("%s: %d faults injected, %d subrequests retried%s" %
        (out.name, out.injected, out.retried, ": " + out.why() if out.notes else ""))
    return 0 if out.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The fault matrix: fault kind x workload x stream, with rnetfs loaded.

  kinds      none: control cells without a fault, with rnetfs and with the
             C engine on the same workload and seed
             transient: RNETFS_MATRIX_TRANSIENT (data must all arrive,
             retries counted)
             permanent: RNETFS_MATRIX_PERMANENT (fsync/msync report the errno)
  workloads  RNETFS_MATRIX_WORKLOADS, of seq random sparse mmap osync wthru dio truncrace
  streams    upload (9p cache=loose), cache (9p cache=fscache over
             cachefiles: upload + cache streams)

What a cell checks is faultcell.py's. Faults are injected on the upload
stream (the cache stream's own faults are the fscache suite's). A kind the
loaded module refuses (the debugfs write fails: delay and reorder on a
module that predates them) is reported as skipped, not failed.

Short variant (default): the cells of SHORT below, each kind once per
stream; RNETFS_LONG=1: every cell. Then the truncation race on the slow
server (RNETFS_SLOW_RUNS runs per stream and engine), rnetfs's request gauge
and netfs's object counters back to zero, and on a kernel with kmemleak a
scan that must not name rnetfs or netfs.

Each cell prints a "MATRIX name PASS|FAIL injected= retried= verified=
note" line and its PASS/FAIL line (matrix:name), the totals at the end.
"""
import os
import subprocess
import time

import faultcell
from guestlib import (MB, MNT, REF, RUN, DBG, console, netfs_stat, result, say, set_fault,
                      sh, stat_of, t, verify, wtool)

LONG = os.environ.get("RNETFS_LONG", "0") == "1"
TRANSIENT = os.environ.get("RNETFS_MATRIX_TRANSIENT", "eagain:retry eio:retry eintr:retry short delay reorder").split()
PERMANENT = os.environ.get("RNETFS_MATRIX_PERMANENT", "eio enospc edquot").split()
WORKLOADS = os.environ.get("RNETFS_MATRIX_WORKLOADS", "seq random sparse mmap osync wthru dio truncrace").split()
SLOW_RUNS = int(os.environ.get("RNETFS_SLOW_RUNS", "3"))

SIZE = {"seq": 8 * MB, "random": 4 * MB, "sparse": 16 * MB, "mmap": 4 * MB,
        "osync": 1 * MB, "wthru": 1 * MB, "dio": 1 * MB, "truncrace": 4 * MB}

# The short variant's cells: one workload per (stream, kind), chosen so that
# each stream meets every workload and the two streams put each kind on
# different workloads. Keys are (class, kind): eio is both a transient
# kind (eio:retry) and a permanent one.
SHORT = {
    "upload": {
        ("transient", "eagain:retry"): "wthru", ("transient", "eio:retry"): "dio",
        ("transient", "eintr:retry"): "mmap", ("transient", "short"): "osync",
        ("transient", "delay"): "truncrace", ("transient", "reorder"): "seq",
        ("permanent", "eio"): "wthru", ("permanent", "enospc"): "sparse",
        ("permanent", "edquot"): "mmap",
    },
    "cache": {
        ("transient", "eagain:retry"): "osync", ("transient", "eio:retry"): "truncrace",
        ("transient", "eintr:retry"): "seq", ("transient", "short"): "random",
        ("transient", "delay"): "wthru", ("transient", "reorder"): "mmap",
        ("permanent", "eio"): "osync", ("permanent", "enospc"): "truncrace",
        ("permanent", "edquot"): "seq",
    },
}
# The control cells (no fault, both engines) of the short variant.
SHORT_CONTROL = "truncrace"


def cell_name(stream, cls, kind, workload):
    if cls == "permanent":
        return "m-%s-%s-perm-%s" % (stream, workload, kind)
    base, _, flag = kind.partition(":")
    return "m-%s-%s-%s%s" % (stream, workload, base, "-" + flag if flag else "")


def bytes_of(*names):
    return sum(faultcell.size_of(os.path.join(REF, n)) for n in names)


class Matrix:
    """The cells run so far and their totals."""

    def __init__(self):
        self.cells = self.failed = self.injected = self.retried = self.verified = 0
        self.slow_c_runs = self.slow_c_lost = 0
        self.kinds = [("transient", k) for k in TRANSIENT] + [("permanent", k) for k in PERMANENT]
        self.skipped = []

    def record(self, name, ok, injected, retried, verified, note=""):
        self.cells += 1
        self.failed += not ok
        self.injected += injected
        self.retried += retried
        self.verified += verified
        say("MATRIX %-34s %-4s injected=%-4s retried=%-4s verified=%-9s %s" %
            (name, "PASS" if ok else "FAIL", injected, retried, verified, note))
        return result("matrix:" + name, ok, note)

    def record_outcome(self, out):
        return self.record(out.name, out.ok, out.injected, out.retried, out.verified, out.why())

    def probe_kinds(self):
        """Leave out the kinds the loaded module refuses."""
        for cls, kind in list(self.kinds):
            if set_fault("upload=every:2:" + kind):
                set_fault("off")
            else:
                say("SKIP matrix kind %s: refused by the loaded module (debugfs write failed)" % kind)
                self.skipped.append(kind)
                self.kinds.remove((cls, kind))

    def plan(self, stream):
        """The cells of STREAM, in order: (class, kind, workload)."""
        cells = [("none", "none", w) for w in WORKLOADS if LONG or w == SHORT_CONTROL]
        for cls, kind in self.kinds:
            if LONG:
                cells += [(cls, kind, w) for w in WORKLOADS]
                continue
            w = SHORT[stream].get((cls, kind))
            if w not in WORKLOADS:
                # A kind or a workload list of one's own (the RNETFS_MATRIX_*
                # knobs): the workload the fewest of this stream's cells use.
                used = [c[2] for c in cells]
                w = min(WORKLOADS, key=used.count)
            cells.append((cls, kind, w))
        return cells

    def run_stream(self, stream):
        for cls, kind, w in self.plan(stream):
            say("--- matrix cell %s %s %s" % (stream, kind, w))
            try:
                self.run_cell(stream, cls, kind, w)
            except Exception as e:  # a broken cell fails, the matrix goes on
                set_fault("off")
                self.record("%s-%s-%s" % (stream, kind, w), False, 0, 0, 0,
                            "%s: %s" % (type(e).__name__, e))

    def run_cell(self, stream, cls, kind, w):
        """One cell; its index seeds the workload and the fault."""
        idx = self.cells
        if cls == "none":
            name = "m-%s-%s-none" % (stream, w)
            self.record_outcome(faultcell.transient(name, None, w, SIZE[w], idx + 100))
            self.c_control(stream, w, idx + 100)
        elif cls == "permanent":
            name = cell_name(stream, cls, kind, w)
            self.record_outcome(faultcell.permanent(
                name, "upload=every:2:" + kind, faultcell.ERRNO[kind.partition(":")[0]], w, SIZE[w], idx))
        else:
            name = cell_name(stream, cls, kind, w)
            self.record_outcome(faultcell.transient(
                name, "upload=every:3:" + kind, w, SIZE[w], idx + 100, fault_seed=idx))

    def c_control(self, stream, w, seed):
        """The C engine on a control cell's workload (rnetfs unloaded): its
        retries (Retries ws) and cache write failures (CaWrOps wf)."""
        name = "m-%s-%s-none-C" % (stream, w)
        ok = sh("unload_rnetfs")
        r0, f0 = netfs_stat("Retries", "ws"), netfs_stat("CaWrOps", "wf")
        done, err = wtool(w, os.path.join(MNT, name), os.path.join(REF, name), SIZE[w], seed)
        if not done:
            console(err)
        r1, f1 = netfs_stat("Retries", "ws"), netfs_stat("CaWrOps", "wf")
        ok = verify("-c", "-s", name) and done and ok
        ok = sh("load_rnetfs") and ok
        self.record(name, ok, 0, r1 - r0, bytes_of(name),
                    "control: C engine, no fault, cache write failures %d" % (f1 - f0))

    # The truncation race on the slow server (qemu.sh's "slow" export, whose
    # writes QEMU throttles), aimed at by wtool.py's truncsync (truncations
    # into the dirty tail while an fsync of it is on its way): 9p's setattr
    # flushes with filemap_fdatawrite(), which returns at once once no folio
    # is tagged dirty, then truncates on the server, where it can overtake an
    # upload still on its way. rnetfs starts the last dirty folio's writeback
    # only once every upload is answered: each run must end with the server's
    # bytes equal to what was written. The C engine starts it first and sends
    # its last upload after: its runs are counted and reported, not failed
    # (it loses bytes here).
    def slow_cell(self, stream, engine, i):
        name = "m-slow-%s-truncsync-%d%s" % (stream, i, "-C" if engine == "C" else "")
        r0 = stat_of("retried")
        done, err = wtool("truncsync", os.path.join(MNT, name), os.path.join(REF, name), 2 * MB, 400 + i)
        note = []
        if not done:
            console(err)
            note.append("workload failed")
        # The host checks rnetfs's runs only: the C engine's are reported.
        ok = verify("-h", "../slow", "-c", "-s", *(["-H"] if engine == "C" else []), name) and done
        if engine == "C":
            self.slow_c_runs += 1
            self.slow_c_lost += not ok
            say("MATRIX %-34s %-4s C engine, not counted%s" %
                (name, "ok" if ok else "LOST", ": " + ", ".join(note) if note else ""))
            return
        self.record(name, ok, 0, stat_of("retried") - r0, bytes_of(name),
                    ", ".join(["slow server"] + note))

    def slow_cells(self, stream, cache):
        """The runs of both engines on the slow server, alternating."""
        if not sh("mount_9p", "slow", MNT, cache):
            result("matrix:slow-mount-" + stream, False)
            return
        for i in range(1, SLOW_RUNS + 1):
            self.slow_cell(stream, "rnetfs", i)
            sh("unload_rnetfs") or result("matrix:slow-rmmod", False)
            self.slow_cell(stream, "C", i)
            sh("load_rnetfs") or result("matrix:slow-insmod", False)
        subprocess.run(["umount", MNT])

    def slow_inline(self):
        """Once more with uploads sent by the issuer itself, as the C engine does."""
        if not (sh("unload_rnetfs") and sh("load_rnetfs", "async_upload=0")):
            result("matrix:slow-insmod-inline", False)
        if sh("mount_9p", "slow", MNT, "loose"):
            self.slow_cell("inline", "rnetfs", 1)
            subprocess.run(["umount", MNT])
        else:
            result("matrix:slow-mount-inline", False)
        if not (sh("unload_rnetfs") and sh("load_rnetfs")):
            result("matrix:slow-insmod", False)


def objects_released():
    """Requests and objects all gone: rnetfs's live_requests gauge before and
    after an rmmod/insmod, netfs's Objs counters."""
    os.sync()
    live = stat_of("live_requests")
    say("live_requests before rmmod: %d" % live)
    if live != 0 or not (sh("unload_rnetfs") and sh("load_rnetfs")):
        return False
    live = stat_of("live_requests")
    say("live_requests after rmmod/insmod: %d" % live)
    if live != 0:
        return False
    for _ in range(50):
        rr, sr = netfs_stat("Objs", "rr"), netfs_stat("Objs", "sr")
        if rr == 0 and sr == 0:
            break
        time.sleep(0.2)
    with open("/proc/fs/netfs/stats") as f:
        say("netfs objects: " + "".join(line for line in f if line.startswith("Objs")).strip())
    return rr == 0 and sr == 0


KMEMLEAK = "/sys/kernel/debug/kmemleak"


def kmemleak_clean():
    """Two scans (objects must be 5 s old to be reported), nothing allocated
    by rnetfs or netfs."""
    def scan():
        with open(KMEMLEAK, "w") as f:
            f.write("scan")
    scan()
    time.sleep(6)
    scan()
    with open(KMEMLEAK) as f:
        report = f.read()
    n = report.count("unreferenced object")
    say("kmemleak: %d unreferenced objects reported since the matrix began" % n)
    if "netfs" in report.lower():  # rnetfs or netfs
        console(report)
        return False
    if n:
        console("\n".join(report.splitlines()[:60]))
    return True


def main():
    m = Matrix()
    kmemleak = os.access(KMEMLEAK, os.W_OK)
    if kmemleak:
        with open(KMEMLEAK, "w") as f:
            f.write("clear")
    sh("load_rnetfs") or result("rnetfs-load", False)
    m.probe_kinds()
    say("matrix: %s variant; transient: %s; permanent: %s; skipped: %s" %
        ("full" if LONG else "short", " ".join(TRANSIENT), " ".join(PERMANENT),
         " ".join(m.skipped) or "none"))
    t0 = time.monotonic()
    sh("mount_export", "loose")
    m.run_stream("upload")
    sh("umount_export")
    try:
        with open("/proc/fs/fscache/caches") as f:
            bound = "mycache" in f.read()
    except OSError:
        bound = False
    if not bound:
        sh("t", "matrix-cachefilesd", "start_cachefilesd")
    sh("mount_export", "fscache")
    m.run_stream("cache")
    sh("umount_export")
    say("rnetfs stats:")
    with open(os.path.join(DBG, "stats")) as f:
        console(f.read())
    m.slow_cells("upload", "loose")
    m.slow_cells("cache", "fscache")
    m.slow_inline()
    say("MATRIX slow server: the C engine lost bytes in %d of %d truncation races" %
        (m.slow_c_lost, m.slow_c_runs))
    say("MATRIX total: %d cells (%d failed), %d faults injected, %d retries, %d bytes verified, %d s" %
        (m.cells, m.failed, m.injected, m.retried, m.verified, time.monotonic() - t0))
    t("matrix-objects-released", objects_released)
    if kmemleak:
        t("matrix-kmemleak-clean", kmemleak_clean)
    sh("unload_rnetfs")


if __name__ == "__main__":
    main()

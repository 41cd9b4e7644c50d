#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The kernel's own allocation fault injection, aimed at the writeback task.

  failnth.py LABEL NMAX [--baseline]

For N = 1..NMAX, on the 9p export (mounted cache=loose at /mnt/9p): a file
of a few hundred KiB (many folios, a partial last one) is written buffered;
then, in this same task, /proc/thread-self/fail-nth is armed with N, so
that the N-th slab or page allocation of the task fails (failslab,
fail_page_alloc; Documentation/fault-injection/fault-injection.rst), and
the file is fsync'ed: the writeback runs in this task (rnetfs's issuer, or
the C engine's), and so do 9p's RPCs where the engine sends them inline.
The result is recorded, fail-nth disarmed, and a second fsync must succeed;
then lib.sh's verify: the bytes on the host, nothing locked or under
writeback, the page cache and the server's copy as written.

Every N must either succeed or report an error, never hang (a hang panics
the guest: hung_task_panic) and never lose data once the second fsync
returned. The test fails if no N made the first fsync fail: an injection
that never fires tests nothing. --baseline (the C engine): the same run,
but lost data is counted and reported, not failed, and the host does not
check those files.

Allocations that may sleep are left out by default (ignore-gfp-wait): it is
turned off here, so that GFP_KERNEL and GFP_NOFS allocations fail too, and
fail_page_alloc's min-order is lowered to 0 (single pages); highmem/user
allocations stay exempt (ignore-gfp-highmem), so that the interpreter's own
page faults do not fail. verbose is 0: a forced failure would otherwise
print a stack trace, which the console check takes for a splat.
"""
import os
import sys

from guestlib import MNT, REF, RUN, console, netfs_stat, rnetfs_loaded, say, stat_of, verify

DEBUGFS = "/sys/kernel/debug"
FAIL_NTH = "/proc/thread-self/fail-nth"
# The knobs set for the run, restored after it: (file, value).
KNOBS = [
    ("failslab/ignore-gfp-wait", "N"), ("failslab/verbose", "0"),
    ("fail_page_alloc/ignore-gfp-wait", "N"), ("fail_page_alloc/verbose", "0"),
    ("fail_page_alloc/min-order", "0"),
]
SIZE = (320 << 10) + 123


def put(path, value):
    with open(path, "w") as f:
        f.write(value)


def get(path):
    with open(path) as f:
        return f.read().strip()


def counters():
    """Upload failures as the engines count them (rnetfs's, netfs's uf)."""
    return {"upload_failed": stat_of("upload_failed"), "upload_lost": stat_of("upload_lost"),
            "uf": netfs_stat("UpldOps", "uf")}


def write_all(fd, data):
    done = 0
    while done < len(data):
        done += os.write(fd, data[done:])


def one(label, n, baseline):
    """One N; returns (error or None, fired, lost, checks_ok)."""
    name = "fnth-%s-%03d" % (label, n)
    data = os.urandom(SIZE)
    with open(os.path.join(REF, name), "wb") as f:
        f.write(data)
    fd = os.open(os.path.join(MNT, name), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    write_all(fd, data)
    c0 = counters()
    # Opened before arming: only the fsync's own allocations count.
    fnth = os.open(FAIL_NTH, os.O_RDWR)
    err = None
    os.write(fnth, b"%d" % n)
    try:
        os.fsync(fd)
    except OSError as e:
        err = e
    left = int(os.pread(fnth, 32, 0))
    os.write(fnth, b"0")
    os.close(fnth)
    fired = left == 0
    c1 = counters()
    ok = True
    second = "ok"
    try:
        os.fsync(fd)
    except OSError as e:
        second = "errno %d" % e.errno
        ok = False
    os.close(fd)
    try:
        with open(os.path.join(RUN, "export", name), "rb") as f:
            lost = f.read() != data
    except OSError:
        lost = True
    moved = " ".join("%s+%d" % (k, c1[k] - c0[k]) for k in c1 if c1[k] != c0[k])
    console("RNETFS: failnth %s N=%d: fault %s, fsync %s, second fsync %s%s%s" % (
        label, n, "fired" if fired else "not reached",
        "ok" if err is None else "errno %d (%s)" % (err.errno, os.strerror(err.errno)),
        second, ", server copy differs" if lost else "", ", " + moved if moved else ""))
    # The host's byte check, nothing locked or under writeback, the page
    # cache as written; the server's copy is LOST above.
    if not verify(*(["-H"] if baseline else []), "-c", name):
        ok = False
    return err, fired, lost, ok


def main(argv):
    if len(argv) not in (2, 3) or argv[2:] not in ([], ["--baseline"]):
        sys.exit(__doc__)
    label, nmax, baseline = argv[0], int(argv[1]), argv[2:] == ["--baseline"]
    if not all(os.path.exists(os.path.join(DEBUGFS, k)) for k, _ in KNOBS) or not os.path.exists(FAIL_NTH):
        say("failnth: this kernel has no failslab/fail_page_alloc/fail-nth (CONFIG_FAULT_INJECTION*)")
        return 1
    saved = [(k, get(os.path.join(DEBUGFS, k))) for k, _ in KNOBS]
    for k, v in KNOBS:
        put(os.path.join(DEBUGFS, k), v)
    errors, fired, lost, bad = {}, 0, [], []
    try:
        for n in range(1, nmax + 1):
            err, hit, gone, ok = one(label, n, baseline)
            if err is not None:
                errors[n] = err.errno
            fired += hit
            if gone:
                lost.append(n)
            if not ok:
                bad.append(n)
    finally:
        for k, v in saved:
            put(os.path.join(DEBUGFS, k), v)
    kinds = sorted(set(errors.values()))
    say("failnth %s (%s): %d N, %d faults fired, %d made fsync fail (%s), lost data at N=%s, "
        "failed checks at N=%s" % (
            label, "rnetfs" if rnetfs_loaded() else "C engine", nmax, fired, len(errors),
            ", ".join(os.strerror(e) for e in kinds) or "none",
            ",".join(map(str, lost)) or "none", ",".join(map(str, bad)) or "none"))
    if not errors:
        say("failnth %s: no injected fault made fsync fail: the injection tested nothing" % label)
        return 1
    if lost and not baseline:
        return 1
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

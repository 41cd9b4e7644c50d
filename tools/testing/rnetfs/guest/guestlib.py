# SPDX-License-Identifier: GPL-2.0
"""The Python side of guest/lib.sh, for the suite drivers written in Python.

Results (PASS/FAIL lines), byte-check lines, mounts, module loading, fault
setting and the verify chain stay lib.sh's: `sh` runs them there, so that
each has one implementation and a Python driver's results reach the host
(results.py) by the same path as a bash suite's: the console, and the run
share for failures and checks. What is only read (counters) is read here.
"""
import os
import subprocess

GUEST = os.path.dirname(os.path.abspath(__file__))
RUN = "/mnt/run"
MNT = "/mnt/9p"
REF = "/var/tmp/ref"
DBG = "/sys/kernel/debug/rnetfs"
MB = 1 << 20


def sh(func, *args, stdout=None):
    """Run lib.sh's FUNC with ARGS; True if it succeeded."""
    cmd = ["bash", "-c", '. ./lib.sh && "$@"', "lib.sh", func] + [str(a) for a in args]
    return subprocess.run(cmd, cwd=GUEST, stdout=stdout).returncode == 0


def say(msg):
    sh("say", msg)


def result(name, ok, why=""):
    """One PASS/FAIL line (lib.sh's pass/fail); returns OK."""
    if ok:
        sh("pass", name)
    else:
        sh("fail", name, why)
    return ok


def t(name, fn, *args):
    """lib.sh's t for a Python test function: announce, run, report."""
    say("--- " + name)
    try:
        ok = bool(fn(*args))
    except Exception as e:  # a broken test fails, it does not stop the suite
        say("%s: %s: %s" % (name, type(e).__name__, e))
        ok = False
    return result(name, ok)


def verify(*args):
    """lib.sh's verify (see there): True if every check passed."""
    return sh("verify", *args)


def set_fault(spec):
    """lib.sh's set_fault: False if the module refused SPEC."""
    return sh("set_fault", spec)


def rnetfs_loaded():
    with open("/proc/modules") as f:
        return any(line.startswith("rnetfs ") for line in f)


def stat_of(key):
    """A counter of rnetfs's debugfs stats (0 without the module)."""
    try:
        with open(os.path.join(DBG, "stats")) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k == key:
                    return int(v)
    except OSError:
        pass
    return 0


def stats_kv(path, prefix, key):
    """A "key=value" counter of a stats file, on the line starting PREFIX."""
    with open(path) as f:
        for line in f:
            if line.startswith(prefix):
                for field in line.split():
                    k, eq, v = field.partition("=")
                    if eq and k == key:
                        return int(v)
    return 0


def netfs_stat(prefix, key):
    return stats_kv("/proc/fs/netfs/stats", prefix, key)


def console(text):
    """Raw text to the console (a log, an error output), as `cat >/dev/console`."""
    with open("/dev/console", "w") as f:
        f.write(text if text.endswith("\n") or not text else text + "\n")


# Workloads by name: wtool.py's mode and flags. osync: 4 KiB random writes
# on an O_SYNC fd, which 9p makes unbuffered; wthru: the same through
# pwritev2(RWF_DSYNC) on a plain fd, netfs's writethrough; dio: on an
# O_DIRECT fd (netfs needs no alignment), netfs's direct writes.
WORKLOADS = {
    "seq": ("seq", []), "random": ("random", []), "sparse": ("sparse", []),
    "mmap": ("mmap", []), "osync": ("random", ["--osync"]),
    "wthru": ("random", ["--rwf-dsync"]), "dio": ("random", ["--odirect"]),
    "truncate": ("truncate", []),
    "truncrace": ("truncrace", []), "truncsync": ("truncsync", []),
}


def wtool(workload, target, ref, size, seed):
    """Write WORKLOAD through wtool.py, fsync'ed; returns (ok, stderr)."""
    mode, flags = WORKLOADS[workload]
    r = subprocess.run(["python3", os.path.join(GUEST, "wtool.py"), mode, target, ref,
                        str(size), str(seed), "--fsync"] + flags,
                       cwd=GUEST, stderr=subprocess.PIPE)
    return r.returncode == 0, r.stderr.decode("utf-8", "replace")

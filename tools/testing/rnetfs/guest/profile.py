#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Kernel samples per function, from `perf script -F comm,tid,time,ip`.

profile.py KALLSYMS T0_NS T1_NS PERIOD_NS < perf-script-output

KALLSYMS is a copy of /proc/kallsyms taken while the engine under test was
loaded (module addresses change with every insmod), with kptr_restrict=0.
Only samples between T0 and T1 (CLOCK_BOOTTIME ns, the clock perf was told
to use) count. Prints a header "# samples=N window_ns=N period_ns=N
ncpu=N" (samples * period against window * ncpu: how many were lost) and
one "COUNT<TAB>SYMBOL<TAB>MODULE" line per function, most samples first;
user-space samples are "[user]", the profiler's own are "[perf]", those of
a server running in the guest (OpenAFS, Samba) "[server]" (module "-").
The symbols stay mangled: the host demangles them (bench.py,
profile_groups.py).
"""
import bisect
import collections
import os
import re
import sys

ksyms, t0, t1, period = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
addrs, names = [], []
for line in open(ksyms):
    p = line.split()
    if len(p) < 3 or p[1] not in "tTwW":
        continue
    a = int(p[0], 16)
    if a == 0:
        continue
    addrs.append(a)
    names.append((p[2], p[3].strip("[]") if len(p) > 3 else "vmlinux"))
order = sorted(range(len(addrs)), key=addrs.__getitem__)
addrs = [addrs[i] for i in order]
names = [names[i] for i in order]

# The servers the bench runs in the guest (afs's OpenAFS, cifs's Samba):
# their CPU, user and kernel, is not the client's writeback.
SERVERS = ("fileserver", "volserver", "vlserver", "ptserver", "bosserver", "smbd")
pat = re.compile(r"^\s*(.*?)\s+(\d+)\s+(\d+)\.(\d+):\s+([0-9a-f]+)")
counts = collections.Counter()
n = 0
for line in sys.stdin:
    m = pat.match(line)
    if not m:
        continue
    t = int(m.group(3)) * 1000000000 + int(m.group(4).ljust(9, "0")[:9])
    if t < t0 or t > t1:
        continue
    n += 1
    comm, ip = m.group(1), int(m.group(5), 16)
    if comm in ("perf", "perf-exec"):
        counts[("[perf]", "-")] += 1
    elif comm in SERVERS:
        counts[("[server]", "-")] += 1
    elif ip < 0xffff800000000000:
        counts[("[user]", "-")] += 1
    else:
        i = bisect.bisect_right(addrs, ip) - 1
        counts[names[i] if i >= 0 else ("[unknown]", "-")] += 1
print("# samples=%d window_ns=%d period_ns=%d ncpu=%d" % (n, t1 - t0, period, os.cpu_count()))
for (sym, mod), c in counts.most_common():
    print("%d\t%s\t%s" % (c, sym, mod))

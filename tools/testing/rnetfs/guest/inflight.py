#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Subrequests in flight over time, from netfs_sreq trace events.

inflight.py [T0_NS T1_NS] < /sys/kernel/tracing/trace

Both engines emit netfs_sreq "SUBMT" when a subrequest is handed to the
filesystem or the cache, and "TERM" when it is terminated: between the two
it is in flight. Per stream (UPLD: uploads to the server, WRIT: writes to
the cache) prints the most in flight at once and the time-weighted mean
over the window T0-T1 (the trace clock must then be "boot", and T0/T1 are
CLOCK_BOOTTIME ns; without them, the span of the events):
"up_if_max=N up_if_mean=X ca_if_max=N ca_if_mean=X sreq_n=N".
"""
import re
import sys

pat = re.compile(r"\s(\d+\.\d+): netfs_sreq: R=([0-9a-f]+)\[([0-9a-f]+)\] (\S+) (\S+)")
events = []
for line in sys.stdin:
    m = pat.search(line)
    if not m:
        continue
    what = m.group(5)
    if what not in ("SUBMT", "TERM"):
        continue
    events.append((float(m.group(1)), m.group(4), (m.group(2), m.group(3)), what))

if len(sys.argv) >= 3:
    w0, w1 = int(sys.argv[1]) / 1e9, int(sys.argv[2]) / 1e9
elif events:
    w0, w1 = events[0][0], events[-1][0]
else:
    w0 = w1 = 0.0

out = []
n_submit = 0
for src, tag in (("UPLD", "up"), ("WRIT", "ca")):
    live = set()
    cur = peak = 0
    area = 0.0
    last = w0
    for t, s, key, what in events:
        if s != src:
            continue
        tc = min(max(t, w0), w1)
        area += cur * (tc - last)
        last = tc
        if what == "SUBMT":
            live.add(key)
            n_submit += 1
        elif key in live:
            live.discard(key)
        else:
            continue
        cur = len(live)
        if w0 <= t <= w1:
            peak = max(peak, cur)
    area += cur * (w1 - last)
    mean = area / (w1 - w0) if w1 > w0 else 0.0
    out.append("%s_if_max=%d %s_if_mean=%.2f" % (tag, peak, tag, mean))
print(" ".join(out) + " sreq_n=%d" % n_submit)

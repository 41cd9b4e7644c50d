#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""How long folios stayed under writeback, from netfs_folio trace events.

Reads /sys/kernel/tracing/trace on stdin; pairs each folio's "store*"
event (writeback starts) with its next "clear*"/"end*" event (writeback
ends) and prints "hold_n=N hold_p50_us=X hold_p99_us=Y".
"""
import re
import sys

start = {}
holds = []
pat = re.compile(r"\s(\d+\.\d+): netfs_folio: i=([0-9a-f]+) ix=([0-9a-f]+)(?:-[0-9a-f]+)? (\S+)")
for line in sys.stdin:
    m = pat.search(line)
    if not m:
        continue
    t, ino, ix, what = float(m.group(1)), m.group(2), m.group(3), m.group(4)
    key = (ino, ix)
    if what.startswith("store"):
        start[key] = t
    elif what.startswith(("clear", "end")) and key in start:
        holds.append(t - start.pop(key))
holds.sort()


def pct(p):
    if not holds:
        return 0
    return int(holds[min(len(holds) - 1, int(len(holds) * p))] * 1e6)


print("hold_n=%d hold_p50_us=%d hold_p99_us=%d" % (len(holds), pct(0.5), pct(0.99)))

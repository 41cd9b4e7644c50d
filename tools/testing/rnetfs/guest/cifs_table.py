#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The cifs suite's subrequests per workload, rnetfs next to C.

cifs_table.py TABLE  (the suite's results/cifs-subrequests.txt: one line per
test, "NAME ENGINE key=delta ...")

Per workload: upload subrequests (rnetfs: upload_done; C: netfs's UL),
their mean size where the engine counts bytes (rnetfs's upload_bytes; C
counts none), cache subrequests (rnetfs: cache_done; C: CaWrOps ws) and
retried subrequests (rnetfs: retried; C: Retries ws). netfs's counters
also count the 9p run share's few unbuffered writes (logs, check lines),
a handful per test. A test that rmmods rnetfs under load is not counted.
"""
import sys


def main():
    rows = {}
    for line in open(sys.argv[1]):
        f = line.split()
        if len(f) < 2:
            continue
        name, eng = f[0], f[1]
        kv = dict(x.split("=", 1) for x in f[2:] if "=" in x)
        kv = {k: int(v) for k, v in kv.items()}
        wl = name[2:] if name[1] == "-" else name
        rows.setdefault(wl, {})[eng] = kv

    def cell(eng, kv):
        if kv is None:
            return ["-"] * 4
        if eng == "rnetfs":
            up, ub = kv.get("upload_done", 0), kv.get("upload_bytes", 0)
            if up < 0:
                return ["(rmmod)"] * 4
            mean = "%d KiB" % (ub / up / 1024) if up else "-"
            return [str(up), mean, str(kv.get("cache_done", 0)), str(kv.get("retried", 0))]
        return [str(kv.get("UL", 0)), "n/a", str(kv.get("ws", 0)), str(kv.get("wrs", 0))]

    hdr = ["workload", "rnetfs up", "mean", "cache", "retried", "C up", "mean", "cache", "retried"]
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for wl, engs in rows.items():
        print("| " + " | ".join([wl] + cell("rnetfs", engs.get("rnetfs")) + cell("C", engs.get("C"))) + " |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the guest's RNETFS-BENCH lines into the rnetfs-vs-C report.

bench.py CONSOLE_LOG OUT_DIR HOST_LIMIT_MIBS -> OUT_DIR/report.txt (also
printed) and OUT_DIR/bench.png when matplotlib is available.

Per workload and cache mode: throughput (MiB/s) and system CPU seconds per
MiB of each engine, as median [min-max] over the rounds, the rnetfs/C
ratios of the medians with the spread of the per-round ratios, upload and
cache subrequests with their mean size, and the p50/p99 of how long a folio
stayed under writeback (from the traced run).
"""
import collections
import re
import statistics
import sys

log, out, host_limit = sys.argv[1], sys.argv[2], sys.argv[3]
runs = collections.defaultdict(list)
traced = {}
for line in open(log, "rb").read().decode("utf-8", "replace").splitlines():
    m = re.search(r"RNETFS-BENCH (.*)", line)
    if not m:
        continue
    kv = dict(x.split("=", 1) for x in m.group(1).split())
    key = (kv["cache"], kv["wl"], kv["engine"])
    mib = int(kv["bytes"]) / (1 << 20)
    r = {
        "mibs": mib / (int(kv["ns"]) / 1e9),
        "cpu": int(kv["sys_ticks"]) / int(kv["hz"]) / max(mib, 1e-9),
        "up": int(kv["up"]),
        "ca": int(kv["ca"]),
        "up_bytes": int(kv["up_bytes"]) if kv["engine"].startswith("rnetfs") else int(kv["bytes"]),
        "mib": mib,
        "p50": int(kv.get("hold_p50_us", 0)),
        "p99": int(kv.get("hold_p99_us", 0)),
        "round": kv["round"],
    }
    if kv["round"] == "traced":
        traced[key] = r
    else:
        runs[key].append(r)


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt(xs, f="%.1f"):
    if not xs:
        return "-"
    return (f + " [" + f + "-" + f + "]") % (med(xs), min(xs), max(xs))


lines = []
lines.append("rnetfs vs in-tree C netfs writeback, same guest boot, engines alternating per round")
lines.append("host limit (same volume written on the host into the export): %s MiB/s" % host_limit)
ceil = collections.defaultdict(list)
for (cache, wl, eng), xs in runs.items():
    if cache == "tmpfs":
        ceil[wl] += [x["mibs"] for x in xs]
if ceil:
    lines.append("guest limit (same jobs on a guest tmpfs, no writeback), MiB/s: " + ", ".join(
        "%s %s" % (wl, fmt(ceil[wl])) for wl in ("seq", "rand", "files", "mix") if wl in ceil))
lines.append("")
hdr = "%-8s %-6s | %-24s %-24s %-22s | %-22s %-22s %-22s | %-17s %-17s | %-19s %-19s" % (
    "cache", "wl", "C MiB/s", "rnetfs MiB/s", "ratio med [min-max]",
    "C cpu s/MiB", "rnetfs cpu s/MiB", "cpu ratio", "C up n/mean KiB", "rn up n/mean KiB",
    "C hold p50/p99 ms", "rn hold p50/p99 ms")
lines.append(hdr)
lines.append("-" * len(hdr))
plot = []
for cache in ("loose", "fscache", "afs", "cifs"):
    for wl in ("seq", "rand", "files", "mix"):
        c, r = runs.get((cache, wl, "c"), []), runs.get((cache, wl, "rnetfs"), [])
        if not c or not r:
            continue
        by_round_c = {x["round"]: x for x in c}
        pairs = [(by_round_c[x["round"]], x) for x in r if x["round"] in by_round_c]
        tr = [b["mibs"] / a["mibs"] for a, b in pairs]
        cr = [b["cpu"] / a["cpu"] for a, b in pairs if a["cpu"] > 0]

        def sreqs(xs):
            n = med([x["up"] for x in xs])
            size = med([x["up_bytes"] / x["up"] / 1024 for x in xs if x["up"]])
            return "%d/%.0f" % (n, size) if n else "0/-"

        def hold(k):
            t = traced.get((cache, wl, k))
            return "%.1f/%.1f" % (t["p50"] / 1e3, t["p99"] / 1e3) if t else "-"

        lines.append("%-8s %-6s | %-24s %-24s %-22s | %-22s %-22s %-22s | %-17s %-17s | %-19s %-19s" % (
            cache, wl, fmt([x["mibs"] for x in c]), fmt([x["mibs"] for x in r]),
            fmt(tr, "%.2f"), fmt([x["cpu"] for x in c], "%.4f"),
            fmt([x["cpu"] for x in r], "%.4f"), fmt(cr, "%.2f"), sreqs(c), sreqs(r),
            hold("c"), hold("rnetfs")))
        plot.append((cache + "/" + wl, [x["mibs"] for x in c], [x["mibs"] for x in r]))
lines.append("")
lines.append("ratio = rnetfs / C of the same round; cpu = guest system time per MiB written;")
lines.append("cache subrequests per run (C/rnetfs, median): " + ", ".join(
    "%s/%s %d/%d" % (k[0], k[1], med([x["ca"] for x in runs[(k[0], k[1], "c")]]),
                     med([x["ca"] for x in runs.get((k[0], k[1], "rnetfs"), [])] or [0]))
    for k in sorted(runs) if k[2] == "c" and k[0] == "fscache"))
others = sorted({k[2] for k in runs} - {"c", "rnetfs", "none"})
for eng in others:
    lines.append("")
    lines.append("%s vs C (same rounds):" % eng)
    for cache in ("loose", "fscache", "afs", "cifs"):
        for wl in ("seq", "rand", "files", "mix"):
            c, o = runs.get((cache, wl, "c"), []), runs.get((cache, wl, eng), [])
            if not c or not o:
                continue
            by_round_c = {x["round"]: x for x in c}
            tr = [x["mibs"] / by_round_c[x["round"]]["mibs"] for x in o if x["round"] in by_round_c]
            lines.append("  %-8s %-6s MiB/s %-24s ratio %s" % (
                cache, wl, fmt([x["mibs"] for x in o]), fmt(tr, "%.2f")))
text = "\n".join(lines)
open(out + "/report.txt", "w").write(text + "\n")
print(text)

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("(no matplotlib: no plot)")
    sys.exit(0)
fig, ax = plt.subplots(figsize=(10, 4.5))
xs = range(len(plot))
w = 0.38
for i, (name, c, r) in enumerate(plot):
    ax.bar(i - w / 2, med(c), w, color="#888", yerr=[[med(c) - min(c)], [max(c) - med(c)]],
           label="C engine" if i == 0 else None)
    ax.bar(i + w / 2, med(r), w, color="#c44", yerr=[[med(r) - min(r)], [max(r) - med(r)]],
           label="rnetfs" if i == 0 else None)
ax.set_xticks(list(xs))
ax.set_xticklabels([p[0] for p in plot], rotation=20)
ax.set_ylabel("MiB/s (median, min-max)")
ax.set_title("netfs buffered writeback (9p loose/fscache, afs, cifs): rnetfs vs C, same boot (host limit %s MiB/s)" % host_limit, fontsize=9)
ax.legend()
fig.tight_layout()
fig.savefig(out + "/bench.png", dpi=100)

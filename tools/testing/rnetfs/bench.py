#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the guest's RNETFS-BENCH lines into the rnetfs-vs-C report.

bench.py CONSOLE_LOG OUT_DIR HOST_LIMIT_MIBS -> OUT_DIR/report.txt (also
printed), OUT_DIR/results.json and OUT_DIR/bench.png when matplotlib is
available.
bench.py --compare OUT_DIR LABEL=DIR... -> OUT_DIR/compare.txt (also
printed): the results.json of several runs (one per kernel) side by side.

Per workload, cache mode and 9p msize: throughput (MiB/s) and system CPU
seconds per MiB of each engine, as median [min-max] over the rounds, the
rnetfs/C ratios of the medians with the spread of the per-round ratios,
upload and cache subrequests with their mean size, and the p50/p99 of how
long a folio stayed under writeback (from the traced run). For the flush
workload (the fsync of data dirtied beforehand; MiB/s and CPU are those of
the fsync alone) also the subrequests in flight during the fsync. With a
profiled run (RNETFS_BENCH_PROFILE=1), the kernel CPU per MiB of each engine
per function group (profile_groups.py) and the functions that cost most.
"""
import collections
import json
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import profile_groups  # noqa: E402

CACHES = ("none", "loose", "fscache", "afs", "cifs")
WLS = ("seq", "rand", "files", "mix", "flush", "dseq", "drand", "dext", "sseq", "srand")


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt(xs, f="%.1f"):
    if not xs:
        return "-"
    return (f + " [" + f + "-" + f + "]") % (med(xs), min(xs), max(xs))


def label(cache, ms):
    return cache if ms == "-" else "%s/%s" % (cache, ms)


def parse(log):
    runs = collections.defaultdict(list)
    special = {}   # (cache, msize, wl, engine, "traced"|"profiled") -> run
    msizes = []
    for line in open(log, "rb").read().decode("utf-8", "replace").splitlines():
        m = re.search(r"RNETFS-BENCH (.*)", line)
        if not m:
            continue
        try:
            kv = dict(x.split("=", 1) for x in m.group(1).split())
            ms = kv.get("msize", "-")
            key = (kv["cache"], ms, kv["wl"], kv["engine"])
            mib = int(kv["bytes"]) / (1 << 20)
            hz = int(kv["hz"])
            r = {
                "mibs": mib / (int(kv["ns"]) / 1e9),
                "cpu": int(kv["sys_ticks"]) / hz / max(mib, 1e-9),
                "irq": int(kv.get("irq_ticks", 0)) / hz / max(mib, 1e-9),
                "sys_s": int(kv["sys_ticks"]) / hz,
                "up": int(kv["up"]),
                "ca": int(kv["ca"]),
                "up_bytes": int(kv["up_bytes"]) if kv["engine"].startswith("rnetfs") else int(kv["bytes"]),
                "mib": mib,
                "p50": int(kv.get("hold_p50_us", 0)),
                "p99": int(kv.get("hold_p99_us", 0)),
                "dirty_mib": int(kv.get("dirty_kb", 0)) / 1024,
                "round": kv["round"],
                "prun": kv.get("prun", "1"),
            }
            for k in ("up_if_max", "up_if_mean", "ca_if_max", "ca_if_mean"):
                if k in kv:
                    r[k] = float(kv[k])
        except (KeyError, ValueError):
            print("bench.py: cannot read: %s" % line.strip(), file=sys.stderr)
            continue
        if ms not in msizes and ms != "-":
            msizes.append(ms)
        if kv["round"] == "traced":
            special[key + ("traced",)] = r
        elif kv["round"] == "profiled":
            special.setdefault(key + ("profiled",), []).append(r)
        else:
            runs[key].append(r)
    return runs, special, msizes


def rows_of(runs, msizes):
    """(cache, msize, wl) in report order, where both C and rnetfs ran."""
    out = []
    for cache in CACHES:
        for ms in (msizes + ["-"]):
            for wl in WLS:
                if runs.get((cache, ms, wl, "c")) and runs.get((cache, ms, wl, "rnetfs")):
                    out.append((cache, ms, wl))
    return out


def load_profile(run_dir, cache, ms, wl, eng, prun):
    """({(mangled symbol, module): samples}, header dict) of one profiled
    run; None if there is none."""
    p = os.path.join(run_dir, "results", "profile", "%s-%s-%s-%s-p%s.txt" % (cache, ms, wl, eng, prun))
    if not os.path.exists(p):
        return None
    head, counts = {}, collections.Counter()
    for line in open(p):
        if line.startswith("#"):
            head = dict(x.split("=", 1) for x in line[1:].split())
            continue
        parts = line.rstrip("\n").split("\t")
        if len(parts) >= 2:
            counts[(parts[1], parts[2] if len(parts) > 2 else "-")] += int(parts[0])
    return counts, head


def profile_section(run_dir, runs, special, rows, engines=("c", "rnetfs")):
    """The profile table lines and {row: {engine: {group: ms/MiB}}}."""
    lines, data = [], {}
    loaded = {}
    syms = set()
    for (cache, ms, wl) in rows:
        for eng in engines:
            # The profiled runs of an engine, added up.
            counts, tot = collections.Counter(), collections.Counter()
            for run in special.get((cache, ms, wl, eng, "profiled"), []):
                pr = load_profile(run_dir, cache, ms, wl, eng, run["prun"])
                if not pr:
                    continue
                counts.update(pr[0])
                head = pr[1]
                tot["runs"] += 1
                tot["mib"] += run["mib"]
                tot["sys_s"] += run["sys_s"]
                tot["irq_s"] += run["irq"] * run["mib"]
                tot["samples"] += int(head.get("samples", 0))
                tot["possible"] += int(head.get("window_ns", 0)) * int(head.get("ncpu", 2)) / int(
                    head.get("period_ns", 1000000))
                tot["period"] = int(head.get("period_ns", 1000000))
            if tot["runs"]:
                loaded[(cache, ms, wl, eng)] = (counts, tot)
                syms |= {s for s, _ in counts}
    if not loaded:
        return lines, data
    names = profile_groups.demangle(syms)
    lines.append("")
    lines.append("profile: kernel CPU per MiB by function group, ms/MiB (perf cpu-clock on every vCPU, "
                 "one sample per %s ms of CPU; the window is the fsync for flush, the whole run otherwise; "
                 "groups: profile_groups.py)" % "/".join(sorted({"%g" % (t["period"] / 1e6) for _, t in loaded.values()})))
    hdr = "%-15s %-6s %-20s | %10s %10s %8s" % ("cache", "wl", "group", "C", "rnetfs", "rn/C")
    lines.append(hdr)
    lines.append("-" * len(hdr))
    tops = []
    for (cache, ms, wl) in rows:
        per = {}
        for eng in engines:
            if (cache, ms, wl, eng) not in loaded:
                continue
            counts, tot = loaded[(cache, ms, wl, eng)]
            period = tot["period"]
            g = collections.Counter()
            funcs = collections.Counter()
            for (sym, mod), n in counts.items():
                name = names.get(sym, sym)
                grp = profile_groups.group(name, mod)
                g[grp] += n
                if grp not in profile_groups.EXCLUDED:
                    funcs[(profile_groups.owner(profile_groups.simplify(name)), grp)] += n
            scale = period / 1e6 / max(tot["mib"], 1e-9)
            per[eng] = {k: v * scale for k, v in g.items()}
            per[eng]["_total"] = sum(v for k, v in per[eng].items() if k not in profile_groups.EXCLUDED)
            per[eng]["_sys"] = tot["sys_s"] * 1e3 / max(tot["mib"], 1e-9)
            per[eng]["_irq"] = tot["irq_s"] * 1e3 / max(tot["mib"], 1e-9)
            per[eng]["_samples"] = tot["samples"]
            per[eng]["_cover"] = tot["samples"] / max(tot["possible"], 1)
            per[eng]["_runs"] = tot["runs"]
            tops.append((cache, ms, wl, eng, [(f, grp, n * scale) for (f, grp), n in funcs.most_common(12)]))
        if len(per) < len(engines):
            continue
        data[label(cache, ms) + " " + wl] = per
        first = True
        for grp in profile_groups.ORDER + ["_total", "_sys", "_irq"] + list(profile_groups.EXCLUDED) + ["_samples", "_cover"]:
            c, r = per["c"].get(grp, 0.0), per["rnetfs"].get(grp, 0.0)
            if grp == "_irq" and c == 0 and r == 0:
                continue
            name = {"_total": "= kernel total", "_sys": "(measured system)",
                    "_irq": "(measured irq+soft)", "_samples": "[samples]",
                    "_cover": "[samples/possible]"}.get(grp, grp)
            if grp in profile_groups.EXCLUDED:
                name = "(%s)" % grp
            if grp == "_samples":
                vals = "%10d %10d %8s" % (c, r, "")
            else:
                vals = "%10.2f %10.2f %8s" % (c, r, "%.2f" % (r / c) if c > 0 else "-")
            lines.append("%-15s %-6s %-20s | %s" % (
                label(cache, ms) if first else "", wl if first else "", name, vals))
            first = False
        lines.append("")
    lines.append("most expensive functions (ms/MiB, group):")
    for cache, ms, wl, eng, top in tops:
        lines.append("  %s %s %s:" % (label(cache, ms), wl, eng))
        for f, grp, v in top:
            lines.append("    %7.2f  %-16s %s" % (v, grp, f[:110]))
    lines.append("(the groups in parentheses are not in the total; \"measured\" is the system (and "
                 "irq) time of /proc/stat in the profiled runs themselves; samples/possible: the samples "
                 "against the window times the vCPUs, idle included; under TCG a sample that falls "
                 "while interrupts are off is taken where they are turned back on: \"locks\" holds "
                 "the irq-off spinlock sections)")
    return lines, data


def report(log, out, host_limit):
    run_dir = os.path.dirname(os.path.abspath(log))
    runs, special, msizes = parse(log)
    lines = []
    lines.append("rnetfs vs in-tree C netfs writeback, same guest boot, engines alternating per round")
    lines.append("host limit (same volume written on the host into the export): %s MiB/s" % host_limit)
    ceil = collections.defaultdict(list)
    for (cache, ms, wl, eng), xs in runs.items():
        if cache == "tmpfs":
            ceil[wl] += [x["mibs"] for x in xs]
    if ceil:
        lines.append("guest limit (same jobs on a guest tmpfs, no writeback), MiB/s: " + ", ".join(
            "%s %s" % (wl, fmt(ceil[wl])) for wl in WLS if wl in ceil))
    lines.append("")
    hdr = "%-15s %-6s | %-24s %-24s %-22s | %-22s %-22s %-22s | %-17s %-17s | %-19s %-19s" % (
        "cache", "wl", "C MiB/s", "rnetfs MiB/s", "ratio med [min-max]",
        "C cpu s/MiB", "rnetfs cpu s/MiB", "cpu ratio", "C up n/mean KiB", "rn up n/mean KiB",
        "C hold p50/p99 ms", "rn hold p50/p99 ms")
    lines.append(hdr)
    lines.append("-" * len(hdr))
    plot = []
    results = {"rows": {}, "profile": {}}
    rows = rows_of(runs, msizes)
    for (cache, ms, wl) in rows:
        c, r = runs[(cache, ms, wl, "c")], runs[(cache, ms, wl, "rnetfs")]
        by_round_c = {x["round"]: x for x in c}
        pairs = [(by_round_c[x["round"]], x) for x in r if x["round"] in by_round_c]
        tr = [b["mibs"] / a["mibs"] for a, b in pairs]
        cr = [b["cpu"] / a["cpu"] for a, b in pairs if a["cpu"] > 0]

        def sreqs(xs):
            n = med([x["up"] for x in xs])
            size = med([x["up_bytes"] / x["up"] / 1024 for x in xs if x["up"]])
            return "%d/%.0f" % (n, size) if n else "0/-"

        def hold(k):
            t = special.get((cache, ms, wl, k, "traced"))
            return "%.1f/%.1f" % (t["p50"] / 1e3, t["p99"] / 1e3) if t else "-"

        lines.append("%-15s %-6s | %-24s %-24s %-22s | %-22s %-22s %-22s | %-17s %-17s | %-19s %-19s" % (
            label(cache, ms), wl, fmt([x["mibs"] for x in c]), fmt([x["mibs"] for x in r]),
            fmt(tr, "%.2f"), fmt([x["cpu"] for x in c], "%.4f"),
            fmt([x["cpu"] for x in r], "%.4f"), fmt(cr, "%.2f"), sreqs(c), sreqs(r),
            hold("c"), hold("rnetfs")))
        plot.append((label(cache, ms) + "/" + wl, [x["mibs"] for x in c], [x["mibs"] for x in r]))
        results["rows"][label(cache, ms) + " " + wl] = {
            "cache": cache, "msize": ms, "wl": wl,
            "c_mibs": [x["mibs"] for x in c], "rn_mibs": [x["mibs"] for x in r],
            "c_cpu": [x["cpu"] for x in c], "rn_cpu": [x["cpu"] for x in r],
            "ratio": tr, "cpu_ratio": cr,
        }
    lines.append("")
    lines.append("ratio = rnetfs / C of the same round; cpu = guest system time per MiB written "
                 "(flush: during the fsync);")
    lines.append("cache subrequests per run (C/rnetfs, median): " + ", ".join(
        "%s/%s %d/%d" % (label(k[0], k[1]), k[2], med([x["ca"] for x in runs[k]]),
                         med([x["ca"] for x in runs.get((k[0], k[1], k[2], "rnetfs"), [])] or [0]))
        for k in sorted(runs) if k[3] == "c" and k[0] == "fscache"))

    flush = [x for x in rows if x[2] == "flush"]
    if flush:
        lines.append("")
        lines.append("flush: %s MiB dirtied through one descriptor, then its fsync() timed; during the fsync, "
                     "subrequests in flight (max/time-weighted mean, median over the rounds; up = to the "
                     "server, ca = to the cache), irq+softirq CPU, and what was dirty before it" %
                     "/".join(sorted({"%.0f" % med([x["mib"] for x in runs[k + ("c",)]]) for k in flush})))
        hdr = "%-15s | %-13s %-13s | %-13s %-13s | %-19s %-19s | %-9s %-9s" % (
            "cache", "C up if", "rn up if", "C ca if", "rn ca if", "C irq s/MiB", "rn irq s/MiB",
            "C dirty", "rn dirty")
        lines.append(hdr)
        lines.append("-" * len(hdr))
        for k in flush:
            c, r = runs[k + ("c",)], runs[k + ("rnetfs",)]

            def inf(xs, s):
                if not any(s + "_if_max" in x for x in xs):
                    return "-"
                return "%.0f/%.2f" % (med([x.get(s + "_if_max", 0) for x in xs]),
                                      med([x.get(s + "_if_mean", 0) for x in xs]))

            lines.append("%-15s | %-13s %-13s | %-13s %-13s | %-19s %-19s | %-9s %-9s" % (
                label(k[0], k[1]), inf(c, "up"), inf(r, "up"), inf(c, "ca"), inf(r, "ca"),
                fmt([x["irq"] for x in c], "%.4f"), fmt([x["irq"] for x in r], "%.4f"),
                "%.0f MiB" % med([x["dirty_mib"] for x in c]), "%.0f MiB" % med([x["dirty_mib"] for x in r])))
            results["rows"][label(k[0], k[1]) + " flush"]["inflight"] = {
                "c": inf(c, "up"), "rnetfs": inf(r, "up")}

    others = sorted({k[3] for k in runs} - {"c", "rnetfs", "none"})
    for eng in others:
        lines.append("")
        lines.append("%s vs C (same rounds):" % eng)
        for cache in CACHES:
            for ms in msizes + ["-"]:
                for wl in WLS:
                    c, o = runs.get((cache, ms, wl, "c"), []), runs.get((cache, ms, wl, eng), [])
                    if not c or not o:
                        continue
                    by_round_c = {x["round"]: x for x in c}
                    tr = [x["mibs"] / by_round_c[x["round"]]["mibs"] for x in o if x["round"] in by_round_c]
                    lines.append("  %-15s %-6s MiB/s %-24s ratio %s" % (
                        label(cache, ms), wl, fmt([x["mibs"] for x in o]), fmt(tr, "%.2f")))

    plines, pdata = profile_section(run_dir, runs, special, rows)
    lines += plines
    results["profile"] = pdata
    text = "\n".join(lines)
    open(os.path.join(out, "report.txt"), "w").write(text + "\n")
    json.dump(results, open(os.path.join(out, "results.json"), "w"), indent=1)
    print(text)
    make_plot(out, plot, host_limit)


def make_plot(out, plot, host_limit):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(no matplotlib: no plot)")
        return
    if not plot:
        return
    fig, ax = plt.subplots(figsize=(max(10, 0.8 * len(plot)), 4.5))
    w = 0.38
    for i, (name, c, r) in enumerate(plot):
        ax.bar(i - w / 2, med(c), w, color="#888", yerr=[[med(c) - min(c)], [max(c) - med(c)]],
               label="C engine" if i == 0 else None)
        ax.bar(i + w / 2, med(r), w, color="#c44", yerr=[[med(r) - min(r)], [max(r) - med(r)]],
               label="rnetfs" if i == 0 else None)
    ax.set_xticks(list(range(len(plot))))
    ax.set_xticklabels([p[0] for p in plot], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("MiB/s (median, min-max)")
    ax.set_title("netfs buffered writeback (9p loose/fscache per msize, afs, cifs): rnetfs vs C, "
                 "same boot (host limit %s MiB/s)" % host_limit, fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "bench.png"), dpi=100)


def compare(out, pairs):
    """Several runs' results.json (one per kernel, LABEL=DIR) side by side."""
    labels, res = [], {}
    for p in pairs:
        lab, d = p.split("=", 1)
        f = os.path.join(d, "results.json")
        if not os.path.exists(f):
            print("bench.py: no %s (that run failed?)" % f, file=sys.stderr)
            continue
        labels.append(lab)
        res[lab] = json.load(open(f))
    lines = ["rnetfs vs C per kernel (%s), each kernel one boot, engines alternating per round" %
             " -> ".join(labels), ""]
    keys = []
    for lab in labels:
        keys += [k for k in res[lab]["rows"] if k not in keys]
    hdr = "%-22s | " % "cache wl" + " | ".join(
        "%-30s" % ("%s: speed x, cpu x" % lab) for lab in labels) + \
        " | %-28s | %-28s" % ("rnetfs cpu s/MiB " + "->".join(labels), "C cpu s/MiB " + "->".join(labels))
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for k in keys:
        cols, rn, c = [], [], []
        for lab in labels:
            row = res[lab]["rows"].get(k)
            if not row:
                cols.append("%-30s" % "-")
                rn.append(float("nan"))
                c.append(float("nan"))
                continue
            cols.append("%-30s" % ("%s %.2fx" % (fmt(row["ratio"], "%.2f"), med(row["cpu_ratio"]))))
            rn.append(med(row["rn_cpu"]))
            c.append(med(row["c_cpu"]))

        def chain(xs):
            s = " -> ".join("%.4f" % x for x in xs)
            if len(xs) > 1 and xs[0] > 0:
                s += " (%+.0f%%)" % ((xs[-1] / xs[0] - 1) * 100)
            return s

        lines.append("%-22s | " % k + " | ".join(cols) + " | %-28s | %-28s" % (chain(rn), chain(c)))
    lines.append("")
    lines.append("speed x = rnetfs/C MiB/s of the same round, median [min-max]; cpu x = rnetfs/C system "
                 "CPU per MiB (median of the rounds' ratios); the C engine is the same code in every "
                 "kernel, so its column is the noise between the boots")
    pkeys = [k for k in keys if all(k in res[lab].get("profile", {}) for lab in labels)]
    if pkeys:
        lines.append("")
        lines.append("profile per kernel, kernel CPU ms/MiB by group (rnetfs | C):")
        for k in pkeys:
            lines.append("  %s" % k)
            for grp in profile_groups.ORDER + ["_total"]:
                vals = [res[lab]["profile"][k] for lab in labels]
                lines.append("    %-17s rnetfs %-26s C %s" % (
                    "= kernel total" if grp == "_total" else grp,
                    " -> ".join("%.2f" % v["rnetfs"].get(grp, 0) for v in vals),
                    " -> ".join("%.2f" % v["c"].get(grp, 0) for v in vals)))
    text = "\n".join(lines)
    open(os.path.join(out, "compare.txt"), "w").write(text + "\n")
    print(text)


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        compare(sys.argv[2], sys.argv[3:])
    else:
        report(sys.argv[1], sys.argv[2], sys.argv[3])

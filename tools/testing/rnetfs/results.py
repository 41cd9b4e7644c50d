#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn a guest console log into per-test results.

results.py CONSOLE_LOG EXPORT_DIR  -> prints "PASS name" / "FAIL name why"
lines and exits 1 if anything failed. Counts RNETFS-RESULT lines, KUnit
cases (KTAP "ok"/"not ok" lines of rnetfs suites) and RNETFS-CHECK byte
checks done here, on the host side of the 9p export.
"""
import collections
import hashlib
import os
import re
import sys



# The directory manifest is computed by the guest's own tool, so that both
# sides agree by construction.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "guest"))
from wtool import manifest  # noqa: E402

log, export = sys.argv[1], sys.argv[2]
results = []
text = open(log, "rb").read().decode("utf-8", "replace")
# Failures the guest also wrote to the run share (guest/lib.sh fail()):
# those whose console line was cut by a kernel message are still counted.
failed_file = os.path.join(os.path.dirname(os.path.abspath(log)), "results", "failed.txt")
shared_failures = []
if os.path.exists(failed_file):
    for entry in open(failed_file, "rb").read().decode("utf-8", "replace").splitlines():
        if entry.strip():
            name, _, why = entry.strip().partition(" ")
            shared_failures.append((name, why))
CHECK_RE = re.compile(r"RNETFS-CHECK (\S+) ([0-9a-f]{64}) (\d+)")
CHECKDIR_RE = re.compile(r"RNETFS-CHECKDIR (\S+) ([0-9a-f]{64})")


def check(line, note=""):
    """Run the byte check LINE asks for, if it is one; returns its key."""
    m = CHECKDIR_RE.search(line)
    if m:
        rel, want = m.group(1), m.group(2)
        name = "host-bytes:" + rel + "/"
        try:
            got = manifest(os.path.join(export, rel))
            results.append(("PASS", name, "") if got == want
                           else ("FAIL", name, "directory content differs" + note))
        except OSError as e:
            results.append(("FAIL", name, str(e) + note))
        return m.group(0)
    m = CHECK_RE.search(line)
    if m:
        rel, want, size = m.group(1), m.group(2), int(m.group(3))
        path = os.path.join(export, rel)
        name = "host-bytes:" + rel
        try:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            got_size = os.path.getsize(path)
            if got_size != size:
                results.append(("FAIL", name, f"size {got_size} != {size}" + note))
            elif h.hexdigest() != want:
                results.append(("FAIL", name, "content differs" + note))
            else:
                results.append(("PASS", name, ""))
        except OSError as e:
            results.append(("FAIL", name, str(e) + note))
        return m.group(0)
    return None


console_checks = collections.Counter()
for line in text.splitlines():
    m = re.search(r"RNETFS-RESULT (PASS|FAIL) (\S+)(.*)", line)
    if m:
        results.append((m.group(1), m.group(2), m.group(3).strip()))
        continue
    m = re.search(r"RNETFS-KTAP\s+(not ok|ok) \d+ (\S+)(.*)", line)
    if m:
        name = "kunit:" + m.group(2)
        skip = "# SKIP" in m.group(3)
        if not skip:
            results.append(("PASS" if m.group(1) == "ok" else "FAIL", name, ""))
        continue
    key = check(line)
    if key:
        console_checks[key] += 1
# The guest also writes its check lines to the run share (guest/lib.sh):
# a check whose console line a kernel message cut is still made.
checks_file = os.path.join(os.path.dirname(os.path.abspath(log)), "results", "checks.txt")
if os.path.exists(checks_file):
    for entry in open(checks_file, "rb").read().decode("utf-8", "replace").splitlines():
        m = CHECKDIR_RE.search(entry) or CHECK_RE.search(entry)
        if not m:
            continue
        if console_checks[m.group(0)] > 0:
            console_checks[m.group(0)] -= 1
        else:
            check(entry, " (console line lost)")
seen = {name for status, name, _ in results if status == "FAIL"}
for name, why in shared_failures:
    if name not in seen:
        seen.add(name)
        results.append(("FAIL", name, (why + " " if why else "") + "(console line lost)"))
failed = 0
for status, name, why in results:
    print(f"{status} {name} {why}".rstrip())
    failed += status == "FAIL"
sys.exit(1 if failed else 0)

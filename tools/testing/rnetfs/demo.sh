#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The main job, from a fresh machine: install, build the kernel and rnetfs,
# boot under QEMU, load rnetfs, write a file through 9p, and show rnetfs's
# counters, the netfs trace of the writeback and the host-side byte check.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

OUT=${RNETFS_OUT:-$CACHE/runs/demo-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
prepare_guest_run "$OUT"
KBUILD=$KB ROOTFS_IMG=$IMG bash "$T/qemu.sh" "$RUN" demo 600
sed -n '/RNETFS-SECTION/,/RNETFS-SECTION end/p' "$RUN/console.log" |
	sed 's/^RNETFS-SECTION \(.*\)/\n== \1 ==/' | grep -v '^== end ==$'
echo
echo "== results =="
python3 "$T/results.py" "$RUN/console.log" "$RUN/export"
rc=$?
bash "$T/check-log.sh" "$RUN/console.log" && echo "PASS console-clean" || { echo "FAIL console-clean"; rc=1; }
echo "console log: $RUN/console.log"
exit $rc

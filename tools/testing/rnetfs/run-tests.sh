#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The rnetfs test suite, from a fresh machine: install, build, host tests,
# then the guest suites under QEMU. Ends with "N passed, N failed".
#
#   run-tests.sh [suite ...]     default: host kunit basic engine fscache faults
#                                afs cifs direct stress matrix (short variants)
#   RNETFS_CONFIG=debug run-tests.sh ...   on the debug kernel (lockdep, KASAN,
#                                          kmemleak, DEBUG_VM, fault injection)
#   RNETFS_KBUILD=DIR run-tests.sh ...     on a kernel built before (DIR holds
#                                          arch/x86/boot/bzImage and
#                                          fs/rnetfs/rnetfs.ko): no build, no lints
#   RNETFS_LONG=1 run-tests.sh matrix ...  the long variants (the full fault
#                                          matrix, longer stress)
#   RNETFS_MATRIX_TRANSIENT=, _PERMANENT=, _WORKLOADS="..."
#                                          the matrix's fault kinds, workloads
set -uo pipefail
. "$(dirname "$0")/lib.sh"

SUITES=${*:-host kunit basic engine fscache faults afs cifs direct stress matrix}
OUT=${RNETFS_OUT:-$CACHE/runs/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
# Runs hold the export's files (a guest-RAM-sized one among them): keep the
# last three.
find "$CACHE/runs" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' 2>/dev/null |
	sort -n | head -n -3 | cut -d' ' -f2- | grep -vx "$OUT" | xargs -r rm -rf
PASS=0 FAIL=0
record() { # status name [why]
	echo "$1 $2 ${3:-}"
	if [ "$1" = PASS ]; then PASS=$((PASS + 1)); else FAIL=$((FAIL + 1)); fi
}
finish() {
	echo "results in $OUT"
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" = 0 ]
	exit
}

t0=$(date +%s)
bash "$T/setup.sh" || { record FAIL setup; finish; }
if [[ " $SUITES " == *" host "* ]]; then
	if [ -x "$T/host/run-host-tests.sh" ]; then
		log "host tests"
		if "$T/host/run-host-tests.sh" >"$OUT/host.log" 2>&1; then
			record PASS host-tests
		else
			record FAIL host-tests "see $OUT/host.log"; tail -30 "$OUT/host.log"
		fi
		line=$(tail -1 "$OUT/host.log")
		echo "host: $line"
	fi
	# The scripts' own logic: the Debian mirror read from apt's sources.
	while read -r status name why; do
		case $status in PASS|FAIL) record "$status" "$name" "$why" ;; esac
	done < <(bash "$T/mirror-test.sh" 2>&1)
	SUITES=${SUITES/host/}
fi
[ -n "${SUITES// /}" ] || finish

if [ -n "${RNETFS_KBUILD:-}" ]; then
	# A kernel built before (bzImage + fs/rnetfs/rnetfs.ko), e.g. a copy kept
	# while the shared build tree changes: no build, no lints.
	KB=$RNETFS_KBUILD
else
	KB=$(bash "$T/kernel.sh" "${RNETFS_CONFIG:-test}") || { record FAIL kernel-build; finish; }
	while read -r status name why; do
		record "$status" "$name" "$why"
	done < <(bash "$T/lint.sh" "$KB")
fi
IMG=$(bash "$T/rootfs.sh") || { record FAIL rootfs; finish; }
log "setup+build took $(( $(date +%s) - t0 )) s"

RUN=$OUT/guest
rm -rf "$RUN" && mkdir -p "$RUN"
cp -r "$T/guest" "$RUN/guest"
cp "$KB/fs/rnetfs/rnetfs.ko" "$RUN/" || { record FAIL rnetfs.ko-missing; finish; }
# The guest's environment: sourced by guest/main.sh.
{
	echo "RNETFS_LONG=${RNETFS_LONG:-0}"
	for v in RNETFS_MATRIX_TRANSIENT RNETFS_MATRIX_PERMANENT RNETFS_MATRIX_WORKLOADS RNETFS_SLOW_RUNS; do
		[ -n "${!v:-}" ] && echo "$v=$(printf %q "${!v}")"
	done
} >"$RUN/env"
# Every suite runs in one boot: about 35 min on a quiet 2-core machine
# under TCG, cifs's 20 of them.
KBUILD=$KB ROOTFS_IMG=$IMG bash "$T/qemu.sh" "$RUN" "$SUITES" "${RNETFS_TIMEOUT:-4200}"
while read -r status name why; do
	record "$status" "$name" "$why"
done < <(python3 "$T/results.py" "$RUN/console.log" "$RUN/export")
if bash "$T/check-log.sh" "$RUN/console.log" >"$OUT/splat.txt" 2>&1; then
	record PASS console-clean
else
	record FAIL console-clean "see $OUT/splat.txt"; cat "$OUT/splat.txt" | head -60
fi
for s in $SUITES; do
	grep -q "RNETFS: --- \|RNETFS-KTAP" "$RUN/console.log" || { record FAIL "suite-$s-ran"; }
done
log "total $(( $(date +%s) - t0 )) s"
finish

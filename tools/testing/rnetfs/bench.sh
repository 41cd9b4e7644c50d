#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Benchmark rnetfs against the in-tree C engine in one guest boot: fio
# workloads over 9p (cache=loose and cache=fscache), alternating engines
# every round. Writes report.txt and bench.png into the run directory and
# prints the report.
#
#   bench.sh                      full sizes, 3 rounds
#   RNETFS_BENCH_ROUNDS=5 RNETFS_BENCH_SCALE=4 bench.sh   (sizes / 4)
#   RNETFS_BENCH_CACHES=loose RNETFS_BENCH_WORKLOADS="seq mix" bench.sh
#   RNETFS_BENCH_CACHES="loose fscache afs cifs" bench.sh
#                         (also kAFS and cifs, each against a server in the guest)
#   RNETFS_BENCH_ENGINES="c rnetfs rnetfs+async_upload=0" bench.sh
#                         (also rnetfs with module parameters)
#   RNETFS_BENCH_CEILING=0 bench.sh   without the guest-tmpfs limit runs
#   RNETFS_BENCH_WORKLOADS=flush RNETFS_BENCH_MSIZES="default 512000" bench.sh
#                         (only the fsync of dirty data, at 9p's default msize
#                         and at msize=512000)
#   RNETFS_BENCH_CACHES="none loose" RNETFS_BENCH_WORKLOADS="dseq drand dext sseq srand" bench.sh
#                         the writes that bypass the page cache: O_DIRECT
#                         (1 MiB inside the file, 4 KiB random, 1 MiB
#                         extending) and O_SYNC (1 MiB, 4 KiB random), on
#                         9p's default cache=none mount and on cache=loose
#   RNETFS_BENCH_PROFILE=1 bench.sh   also profile each engine (perf in the
#                         guest): kernel CPU per MiB per function group
#                         (RNETFS_BENCH_PROFILE_RUNS=N: N profiled runs each,
#                         their samples added up)
#   RNETFS_BENCH_KBUILDS="before=/root/kb-old after=/root/kb-7" bench.sh
#                         the same bench on each kernel in turn, then a
#                         before/after table (compare.txt)
set -uo pipefail
. "$(dirname "$0")/lib.sh"

OUT=${RNETFS_OUT:-$CACHE/runs/bench-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"

# matplotlib for the plot, in a venv of its own.
VENV=$CACHE/venv-bench
if [ ! -x "$VENV/bin/python3" ] || ! "$VENV/bin/python3" -c 'import matplotlib' 2>/dev/null; then
	log "installing matplotlib into $VENV"
	python3 -m venv "$VENV" && "$VENV/bin/pip" install -q matplotlib ||
		log "no matplotlib: the report will have no plot"
fi
PY=$VENV/bin/python3
[ -x "$PY" ] || PY=python3

MSIZES=${RNETFS_BENCH_MSIZES:-default 512000}
PROFILE=${RNETFS_BENCH_PROFILE:-0}
n_ms=$(echo $MSIZES | wc -w)
# The guest's time: an hour and a half per msize, half again with the
# profiled runs.
TIMEOUT=${RNETFS_TIMEOUT:-$((5400 * n_ms * (PROFILE == 1 ? 3 : 2) / 2))}

# bench_one DIR: the bench on the kernel of $RNETFS_KBUILD (or the test
# build), its report in DIR.
bench_one() {
	local out=$1 rc=0 host_limit
	mkdir -p "$out"
	prepare_guest_run "$out"
	log "bench on $KB"
	cat >"$RUN/bench.conf" <<CONF
ROUNDS=${RNETFS_BENCH_ROUNDS:-3}
SCALE=${RNETFS_BENCH_SCALE:-1}
CACHES="${RNETFS_BENCH_CACHES:-loose fscache}"
WORKLOADS="${RNETFS_BENCH_WORKLOADS:-seq rand files mix flush}"
ENGINES="${RNETFS_BENCH_ENGINES:-c rnetfs}"
MSIZES="$MSIZES"
CEILING=${RNETFS_BENCH_CEILING:-1}
PROFILE=$PROFILE
PROFILE_RUNS=${RNETFS_BENCH_PROFILE_RUNS:-1}
CONF
	RNETFS_GUEST_MEM=${RNETFS_GUEST_MEM:-2G} KBUILD=$KB ROOTFS_IMG=$IMG \
		bash "$T/qemu.sh" "$RUN" bench "$TIMEOUT"

	# The limit: the sequential volume written on the host straight into the
	# export directory (same page cache, no 9p, no guest).
	host_limit=$(python3 - "$RUN/export" "${RNETFS_BENCH_SCALE:-1}" <<'PY'
import os, sys, time
d, scale = sys.argv[1], int(sys.argv[2])
size = (1024 // scale) << 20
buf = os.urandom(1 << 20)
p = os.path.join(d, "host-limit")
t = time.monotonic()
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for _ in range(size >> 20):
    os.write(fd, buf)
os.fsync(fd)
os.close(fd)
print("%.1f" % ((size >> 20) / (time.monotonic() - t)))
os.unlink(p)
PY
)
	"$PY" "$T/bench.py" "$RUN/console.log" "$out" "$host_limit" || rc=1
	bash "$T/check-log.sh" "$RUN/console.log" || { echo "console not clean: see $RUN/console.log"; rc=1; }
	grep -q "RNETFS-RESULT FAIL" "$RUN/console.log" && { grep "RNETFS-RESULT FAIL" "$RUN/console.log"; rc=1; }
	[ -s "$RUN/results/failed.txt" ] && { echo "failed in the guest:"; cat "$RUN/results/failed.txt"; rc=1; }
	grep -q "RNETFS-RESULT PASS bench-done" "$RUN/console.log" || { echo "the bench did not finish: see $RUN/console.log"; rc=1; }
	echo "report: $out/report.txt  plot: $out/bench.png  console: $RUN/console.log"
	return $rc
}

rc=0
if [ -n "${RNETFS_BENCH_KBUILDS:-}" ]; then
	# Before/after: the same bench on each kernel in turn (LABEL=DIR, DIR
	# holding arch/x86/boot/bzImage and fs/rnetfs/rnetfs.ko), then the
	# runs side by side.
	pairs=()
	for p in $RNETFS_BENCH_KBUILDS; do
		case $p in *=*) ;; *) die "RNETFS_BENCH_KBUILDS: $p is not LABEL=DIR" ;; esac
		d=${p#*=}
		[ -f "$d/arch/x86/boot/bzImage" ] && [ -f "$d/fs/rnetfs/rnetfs.ko" ] ||
			die "RNETFS_BENCH_KBUILDS: no arch/x86/boot/bzImage and fs/rnetfs/rnetfs.ko in $d"
	done
	for p in $RNETFS_BENCH_KBUILDS; do
		lab=${p%%=*}
		RNETFS_KBUILD=${p#*=} bench_one "$OUT/$lab" || rc=1
		pairs+=("$lab=$OUT/$lab")
	done
	"$PY" "$T/bench.py" --compare "$OUT" "${pairs[@]}" || rc=1
	echo "before/after: $OUT/compare.txt"
else
	bench_one "$OUT" || rc=1
fi
exit $rc

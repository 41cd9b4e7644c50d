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
set -uo pipefail
. "$(dirname "$0")/lib.sh"

OUT=${RNETFS_OUT:-$CACHE/runs/bench-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
prepare_guest_run "$OUT"

# matplotlib for the plot, in a venv of its own.
VENV=$CACHE/venv-bench
if [ ! -x "$VENV/bin/python3" ] || ! "$VENV/bin/python3" -c 'import matplotlib' 2>/dev/null; then
	log "installing matplotlib into $VENV"
	python3 -m venv "$VENV" && "$VENV/bin/pip" install -q matplotlib ||
		log "no matplotlib: the report will have no plot"
fi
PY=$VENV/bin/python3
[ -x "$PY" ] || PY=python3

cat >"$RUN/bench.conf" <<CONF
ROUNDS=${RNETFS_BENCH_ROUNDS:-3}
SCALE=${RNETFS_BENCH_SCALE:-1}
CACHES="${RNETFS_BENCH_CACHES:-loose fscache}"
WORKLOADS="${RNETFS_BENCH_WORKLOADS:-seq rand files mix}"
ENGINES="${RNETFS_BENCH_ENGINES:-c rnetfs}"
CEILING=${RNETFS_BENCH_CEILING:-1}
CONF
RNETFS_GUEST_MEM=${RNETFS_GUEST_MEM:-2G} KBUILD=$KB ROOTFS_IMG=$IMG \
	bash "$T/qemu.sh" "$RUN" bench "${RNETFS_TIMEOUT:-5400}"

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
"$PY" "$T/bench.py" "$RUN/console.log" "$OUT" "$host_limit"
rc=$?
bash "$T/check-log.sh" "$RUN/console.log" || { echo "console not clean: see $RUN/console.log"; rc=1; }
grep -q "RNETFS-RESULT FAIL" "$RUN/console.log" && { grep "RNETFS-RESULT FAIL" "$RUN/console.log"; rc=1; }
echo "report: $OUT/report.txt  plot: $OUT/bench.png  console: $RUN/console.log"
exit $rc

# SPDX-License-Identifier: GPL-2.0
# Benchmark: the same fio workloads on the C engine and on rnetfs, in this
# one boot, alternating the order every round. Prints one RNETFS-BENCH line
# per run; bench.py on the host turns them into the report and the plot.
#
# Knobs in /mnt/run/bench.conf: ROUNDS, SCALE (1 = the full sizes), CACHES
# (9p modes loose and fscache; afs: kAFS on an OpenAFS volume in the guest;
# cifs: the SMB3 client, cache=strict, on a Samba share in the guest),
# WORKLOADS, ENGINES (c, rnetfs, and rnetfs with module parameters, e.g.
# rnetfs+async_upload=0+max_inflight=2), CEILING (1: also on a guest tmpfs).
. ./lib.sh
ROUNDS=3 SCALE=1 CACHES="loose fscache" WORKLOADS="seq rand files mix" ENGINES="c rnetfs"
[ -f $RUN/bench.conf ] && . $RUN/bench.conf
T=/sys/kernel/tracing

sys_ticks() { awk '/^cpu / { print $4 }' /proc/stat; }
hz() { getconf CLK_TCK; }

up_count() { if rnetfs_loaded; then stat_of upload_prepared; else netfs_stat UpldOps UL; fi; }
ca_count() { if rnetfs_loaded; then stat_of cache_prepared; else netfs_stat CaWrOps WR; fi; }

# The fio job of a workload: seq, rand, files, mix.
job() {
	local wl=$1 dir=$2 s=$3
	case $wl in
	seq) echo "--name=seq --rw=write --bs=1M --size=$((1024 / s))M --end_fsync=1" ;;
	rand) echo "--name=rand --rw=randwrite --bs=4k --size=$((512 / s))M --end_fsync=1 --file_service_type=random" ;;
	files) echo "--name=files --rw=write --bs=64k --filesize=64k --nrfiles=$((2000 / s)) --size=$((125 / s))M --openfiles=64 --create_on_open=1 --end_fsync=1" ;;
	mix) echo "--name=mix --rw=randwrite --bs=64k --size=$((128 / s))M --numjobs=4 --end_fsync=1" ;;
	esac
}

# run ENGINE CACHE WORKLOAD ROUND [trace]
run() {
	local eng=$1 cache=$2 wl=$3 round=$4 traced=${5:-} dir=$BASE/bench
	rm -rf $dir; mkdir -p $dir; sync; echo 3 >/proc/sys/vm/drop_caches
	local u0 c0 t0 s0 u1 c1 t1 s1 ub0 ub1 out
	u0=$(up_count); c0=$(ca_count); ub0=$(stat_of upload_bytes)
	if [ -n "$traced" ]; then
		echo 0 >$T/tracing_on; echo >$T/trace
		echo 1 >$T/events/netfs/netfs_folio/enable
		echo 1 >$T/tracing_on
	fi
	s0=$(sys_ticks); t0=$(date +%s%N)
	# shellcheck disable=SC2046
	out=$(fio --directory=$dir --ioengine=psync --group_reporting --output-format=terse \
		$(job $wl $dir $SCALE) 2>&1) || { say "fio failed: $out"; return 1; }
	sync
	t1=$(date +%s%N); s1=$(sys_ticks)
	u1=$(up_count); c1=$(ca_count); ub1=$(stat_of upload_bytes)
	local bytes
	bytes=$(du -sb $dir | cut -f1)
	local hold=""
	if [ -n "$traced" ]; then
		echo 0 >$T/tracing_on
		hold=$(python3 ./holdtime.py <$T/trace)
		echo 0 >$T/events/netfs/netfs_folio/enable
	fi
	echo "RNETFS-BENCH engine=$eng cache=$cache wl=$wl round=$round bytes=$bytes ns=$((t1 - t0)) sys_ticks=$((s1 - s0)) hz=$(hz) up=$((u1 - u0)) ca=$((c1 - c0)) up_bytes=$(( ${ub1:-0} - ${ub0:-0} )) $hold" >/dev/console
	rm -rf $dir
}

engine() { # c | rnetfs[+param=value...]
	unload_rnetfs
	case $1 in
	rnetfs*) load_rnetfs $(echo "${1#rnetfs}" | tr '+' ' ') ;;
	esac
}

# The engines in a different order every round: ENGINES rotated by ROUND.
order_of() {
	local -a e=($ENGINES)
	local n=${#e[@]} i
	for i in $(seq 0 $((n - 1))); do echo -n "${e[$(((i + $1) % n))]} "; done
}

# The guest's own limit: the same jobs on a tmpfs, no writeback at all (the
# cost of the copies and of fio under TCG), once per round.
if [ "${CEILING:-1}" = 1 ]; then
	BASE=/tmp/bench-ceiling
	mkdir -p $BASE && mount -t tmpfs -o size=90% tmpfs $BASE
	engine c
	for round in $(seq 1 $ROUNDS); do
		for wl in $WORKLOADS; do
			run none tmpfs $wl $round || fail bench-tmpfs-$wl-$round
		done
	done
	umount $BASE
fi

for cache in $CACHES; do
	BASE=$MNT
	case $cache in
	fscache) start_cachefilesd || { fail bench-cachefilesd; continue; } ;;
	afs)
		# The vice partition shares the root disk with the cache of the
		# fscache runs: give it the room, and measure afs without a cache.
		stop_cachefilesd && rm -rf /var/cache/fscache/*
		. ./afs.sh
		BASE=/afs/bench
		{ start_afs_server && afs_volume bench && afs_mount bench $BASE; } ||
			{ fail bench-afs-setup; continue; }
		;;
	cifs)
		stop_cachefilesd && rm -rf /var/cache/fscache/*
		. ./samba.sh
		BASE=/mnt/cifs
		{ setup_samba && start_smbd && cifs_mount t $BASE cache=strict; } ||
			{ fail bench-cifs-setup; continue; }
		;;
	esac
	case $cache in afs|cifs) ;; *) mount_export $cache ;; esac
	for round in $(seq 1 $ROUNDS); do
		for eng in $(order_of $((round - 1))); do
			engine $eng
			for wl in $WORKLOADS; do
				run $eng $cache $wl $round || fail bench-$eng-$cache-$wl-$round
			done
		done
	done
	for eng in $ENGINES; do
		engine $eng
		for wl in $WORKLOADS; do
			run $eng $cache $wl traced 1 || fail bench-$eng-$cache-$wl-traced
		done
	done
	case $cache in
	afs) umount $BASE ;;
	cifs) umount $BASE; stop_smbd ;;
	*) umount_export ;;
	esac
done
unload_rnetfs
pass bench-done

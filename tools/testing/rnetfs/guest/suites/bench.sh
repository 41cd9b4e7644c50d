# SPDX-License-Identifier: GPL-2.0
# Benchmark: the same fio workloads on the C engine and on rnetfs, in this
# one boot, alternating the order every round. Prints one RNETFS-BENCH line
# per run; bench.py on the host turns them into the report and the plot.
#
# Knobs in /mnt/run/bench.conf: ROUNDS, SCALE (1 = the full sizes), CACHES
# (9p modes loose and fscache; afs: kAFS on an OpenAFS volume in the guest;
# cifs: the SMB3 client, cache=strict, on a Samba share in the guest),
# WORKLOADS (fio: seq rand files mix; flush: dirty N MiB through one
# descriptor with background writeback held off, then time its fsync()),
# ENGINES (c, rnetfs, and rnetfs with module parameters, e.g.
# rnetfs+async_upload=0+max_inflight=2), MSIZES (the 9p msizes, each mounted
# in turn: "default" is 9p's own, a number is msize=NUMBER; afs and cifs
# ignore it), CEILING (1: also on a guest tmpfs), PROFILE (1: PROFILE_RUNS
# more runs per engine and workload under perf, whose kernel samples go to
# $RUN/results/profile/ for bench.py to group by function).
. ./lib.sh
ROUNDS=3 SCALE=1 CACHES="loose fscache" WORKLOADS="seq rand files mix" ENGINES="c rnetfs"
MSIZES=512000 CEILING=1 PROFILE=0 PROFILE_RUNS=1
[ -f $RUN/bench.conf ] && . $RUN/bench.conf
T=/sys/kernel/tracing
# Trace timestamps on CLOCK_BOOTTIME, the clock of flush.py's fsync window
# and of perf's samples; a buffer that holds a traced run's folio events.
old_clock=$(sed 's/.*\[\(.*\)\].*/\1/' $T/trace_clock)
old_buf=$(sed 's/.*expanded: \([0-9]*\).*/\1/' $T/buffer_size_kb)
echo boot >$T/trace_clock
echo 16384 >$T/buffer_size_kb
# perf: every kernel address readable, samples of every CPU, and no
# throttling (under TCG the sample interrupt is slow; the kernel would lower
# perf_event_max_sample_rate when it takes more than its share of CPU).
if [ "$PROFILE" = 1 ]; then
	echo 0 >/proc/sys/kernel/kptr_restrict
	echo -1 >/proc/sys/kernel/perf_event_paranoid
	echo 0 >/proc/sys/kernel/perf_cpu_time_max_percent
	echo 100000 >/proc/sys/kernel/perf_event_max_sample_rate
	command -v perf >/dev/null || { fail bench-profile "no perf in the guest"; PROFILE=0; }
fi
# perf's cpu-clock period: a sample per ms of CPU, or per tick where
# hrtimers have only the tick's resolution (the test kernel has no
# CONFIG_HIGH_RES_TIMERS: 4 ms at HZ=250): a shorter period would be
# counted as if sampled but be sampled once per tick all the same.
PERIOD=$(awk '/resolution:/ { print $2; exit }' /proc/timer_list 2>/dev/null)
[ "${PERIOD:-0}" -gt 1000000 ] 2>/dev/null || PERIOD=1000000

sys_ticks() { awk '/^cpu / { print $4 }' /proc/stat; }
hz() { getconf CLK_TCK; }

up_count() { if rnetfs_loaded; then stat_of upload_prepared; else netfs_stat UpldOps UL; fi; }
ca_count() { if rnetfs_loaded; then stat_of cache_prepared; else netfs_stat CaWrOps WR; fi; }

# The fio job of a workload: seq, rand, files, mix; and the writes that
# bypass the page cache, each on a file laid out beforehand (untimed,
# prelayout) except dext: dseq 1 MiB and drand 4 KiB O_DIRECT writes inside
# the file's size, dext 1 MiB O_DIRECT writes extending a new file, sseq
# and srand 1 MiB and 4 KiB O_SYNC writes (unbuffered on 9p, writethrough on
# afs and cifs).
job() {
	local wl=$1 dir=$2 s=$3
	case $wl in
	dseq) echo "--name=dseq --rw=write --bs=1M --size=$((256 / s))M --direct=1 --overwrite=1" ;;
	drand) echo "--name=drand --rw=randwrite --bs=4k --size=$((32 / s))M --direct=1 --overwrite=1" ;;
	dext) echo "--name=dext --rw=write --bs=1M --size=$((256 / s))M --direct=1" ;;
	sseq) echo "--name=sseq --rw=write --bs=1M --size=$((256 / s))M --sync=1 --overwrite=1" ;;
	srand) echo "--name=srand --rw=randwrite --bs=4k --size=$((32 / s))M --sync=1 --overwrite=1" ;;
	seq) echo "--name=seq --rw=write --bs=1M --size=$((1024 / s))M --end_fsync=1" ;;
	rand) echo "--name=rand --rw=randwrite --bs=4k --size=$((512 / s))M --end_fsync=1 --file_service_type=random" ;;
	files) echo "--name=files --rw=write --bs=64k --filesize=64k --nrfiles=$((2000 / s)) --size=$((125 / s))M --openfiles=64 --create_on_open=1 --end_fsync=1" ;;
	mix) echo "--name=mix --rw=randwrite --bs=64k --size=$((128 / s))M --numjobs=4 --end_fsync=1" ;;
	esac
}

boottime_ns() { awk '{ printf "%.0f", $1 * 1e9 }' /proc/uptime; }

# trace_on EVENT...: a fresh trace of those netfs events; trace_off: stop.
trace_on() {
	local e
	echo 0 >$T/tracing_on; echo >$T/trace
	for e; do echo 1 >$T/events/netfs/$e/enable; done
	echo 1 >$T/tracing_on
}
trace_off() {
	echo 0 >$T/tracing_on
	echo 0 >$T/events/netfs/enable
}

# The profiler: perf samples every CPU on cpu-clock, flat (no call
# chains), timestamps on CLOCK_BOOTTIME, so that only the samples of the
# measured window count (prof_stop).
prof_start() {
	rm -f /tmp/perf.data
	perf record -e cpu-clock -c $PERIOD -a -k boottime -o /tmp/perf.data \
		>/tmp/perf.log 2>&1 &
	PERF_PID=$!
	sleep 2
	kill -0 $PERF_PID 2>/dev/null || { say "perf record failed: $(cat /tmp/perf.log)"; PERF_PID=; return 1; }
}
# prof_stop TAG T0_NS T1_NS: stop perf, write the samples of T0-T1 per
# kernel function to $RUN/results/profile/TAG.txt. The symbols come from
# /proc/kallsyms now, while the engine's module is still loaded.
prof_stop() {
	[ -n "${PERF_PID:-}" ] || return 1
	kill -INT $PERF_PID; wait $PERF_PID; PERF_PID=
	mkdir -p $RUN/results/profile
	cp /proc/kallsyms /tmp/kallsyms
	perf script -i /tmp/perf.data -F comm,tid,time,ip --ns 2>/tmp/perf-script.log |
		python3 ./profile.py /tmp/kallsyms "$2" "$3" $PERIOD >/tmp/profile.txt &&
		cp /tmp/profile.txt "$RUN/results/profile/$1.txt" ||
		{ say "perf script failed: $(tail -3 /tmp/perf-script.log)"; return 1; }
	say "profile $1: $(head -1 /tmp/profile.txt), max sample rate $(cat /proc/sys/kernel/perf_event_max_sample_rate)"
	rm -f /tmp/perf.data /tmp/kallsyms
}

# run ENGINE CACHE MSIZE WORKLOAD ROUND [traced|profiled]
# (profiled: ROUND is the number of the profiled run)
run() {
	[ "$4" = flush ] && { run_flush "$@"; return; }
	local eng=$1 cache=$2 ms=$3 wl=$4 round=$5 mode=${6:-} dir=$BASE/bench
	rm -rf $dir; mkdir -p $dir; sync; echo 3 >/proc/sys/vm/drop_caches
	local u0 c0 t0 s0 u1 c1 t1 s1 ub0 ub1 out b0 b1
	case $wl in
	dseq|drand|sseq|srand)
		# shellcheck disable=SC2046
		fio --directory=$dir --ioengine=psync --create_only=1 --output=/dev/null \
			$(job $wl $dir $SCALE) || { say "fio layout failed"; return 1; }
		sync; echo 3 >/proc/sys/vm/drop_caches ;;
	esac
	u0=$(up_count); c0=$(ca_count); ub0=$(stat_of upload_bytes)
	[ "$mode" = traced ] && trace_on netfs_folio
	if [ "$mode" = profiled ]; then prof_start || return 1; fi
	b0=$(boottime_ns)
	s0=$(sys_ticks); t0=$(date +%s%N)
	# shellcheck disable=SC2046
	out=$(fio --directory=$dir --ioengine=psync --group_reporting --output-format=terse \
		$(job $wl $dir $SCALE) 2>&1) || { say "fio failed: $out"; return 1; }
	sync
	t1=$(date +%s%N); s1=$(sys_ticks)
	b1=$(boottime_ns)
	u1=$(up_count); c1=$(ca_count); ub1=$(stat_of upload_bytes)
	local bytes
	bytes=$(du -sb $dir | cut -f1)
	local hold=""
	if [ "$mode" = traced ]; then
		trace_off
		hold=$(python3 ./holdtime.py <$T/trace)
	fi
	if [ "$mode" = profiled ]; then prof_stop "$cache-$ms-$wl-$eng-p$round" $b0 $b1 || return 1; fi
	echo "RNETFS-BENCH engine=$eng cache=$cache msize=$ms wl=$wl round=${mode:-$round} prun=$round bytes=$bytes ns=$((t1 - t0)) sys_ticks=$((s1 - s0)) hz=$(hz) up=$((u1 - u0)) ca=$((c1 - c0)) up_bytes=$(( ${ub1:-0} - ${ub0:-0} )) $hold" >/dev/console
	rm -rf $dir
}

# Background writeback held off for a flush run: no flusher wake-ups, no
# expiry, thresholds above what is dirtied (80 % and 70 % of the guest's
# memory). dirty_hold saves the settings, dirty_restore puts them back
# (a *_bytes of 0 means the *_ratio was in force).
VM=/proc/sys/vm
dirty_hold() {
	local k mem
	for k in dirty_bytes dirty_ratio dirty_background_bytes dirty_background_ratio \
		dirty_expire_centisecs dirty_writeback_centisecs; do
		eval "saved_$k=$(cat $VM/$k)"
	done
	mem=$(($(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) * 1024))
	echo $((mem / 10 * 8)) >$VM/dirty_bytes
	echo $((mem / 10 * 7)) >$VM/dirty_background_bytes
	echo 360000 >$VM/dirty_expire_centisecs
	echo 0 >$VM/dirty_writeback_centisecs
}
dirty_restore() {
	# shellcheck disable=SC2154
	{
		if [ "$saved_dirty_bytes" != 0 ]; then echo $saved_dirty_bytes >$VM/dirty_bytes
		else echo $saved_dirty_ratio >$VM/dirty_ratio; fi
		if [ "$saved_dirty_background_bytes" != 0 ]; then
			echo $saved_dirty_background_bytes >$VM/dirty_background_bytes
		else echo $saved_dirty_background_ratio >$VM/dirty_background_ratio; fi
		echo $saved_dirty_expire_centisecs >$VM/dirty_expire_centisecs
		echo $saved_dirty_writeback_centisecs >$VM/dirty_writeback_centisecs
	}
}

# run_flush ENGINE CACHE MSIZE flush ROUND [traced|profiled]: 512 MiB /
# SCALE dirtied through one descriptor, its fsync() timed (flush.py); the
# subrequests in flight during it from netfs_sreq events (every run; the
# traced run adds netfs_folio for the hold times). Then the bytes: read
# back through the mount after drop_caches and, on 9p, the server's copy
# through the run share; either differing fails the run.
run_flush() {
	local eng=$1 cache=$2 ms=$3 wl=$4 round=$5 mode=${6:-} dir=$BASE/bench
	local mib=$((512 / SCALE)) u0 c0 ub0 u1 c1 ub1 out kv got rc=0 hold="" infl
	rm -rf $dir; mkdir -p $dir; sync; echo 3 >/proc/sys/vm/drop_caches
	u0=$(up_count); c0=$(ca_count); ub0=$(stat_of upload_bytes)
	if [ "$mode" = traced ]; then trace_on netfs_sreq netfs_folio
	elif [ "$mode" != profiled ]; then trace_on netfs_sreq; fi
	dirty_hold
	if [ "$mode" = profiled ]; then prof_start || { dirty_restore; return 1; }; fi
	out=$(python3 ./flush.py $dir/flush $mib $((RANDOM + 1)) 2>&1) || rc=1
	trace_off
	dirty_restore
	kv=$(echo "$out" | tail -1)
	[ $rc = 0 ] && case $kv in bytes=*) ;; *) rc=1 ;; esac
	[ $rc = 0 ] || { say "flush.py failed: $out"; [ -n "${PERF_PID:-}" ] && { kill -INT $PERF_PID; wait $PERF_PID; PERF_PID=; }; return 1; }
	u1=$(up_count); c1=$(ca_count); ub1=$(stat_of upload_bytes)
	local $kv	# bytes ns sys_ticks irq_ticks hz dirty_kb wb_kb t0 t1 sha256
	if [ "$mode" = profiled ]; then prof_stop "$cache-$ms-$wl-$eng-p$round" $t0 $t1 || return 1; fi
	if [ "$mode" != profiled ]; then
		infl=$(python3 ./inflight.py $t0 $t1 <$T/trace)
		[ "$mode" = traced ] && hold=$(python3 ./holdtime.py <$T/trace)
	fi
	# Writeback that started before the fsync would not be measured.
	[ $((dirty_kb + wb_kb)) -ge $((mib * 1024 * 9 / 10)) ] ||
		{ say "flush: only $dirty_kb kB dirty (+$wb_kb kB under writeback) of $mib MiB before the fsync"; rc=1; }
	sync; echo 3 >/proc/sys/vm/drop_caches
	got=$(sha256sum <$dir/flush | cut -d' ' -f1)
	[ "$got" = "$sha256" ] || { say "flush: $cache/$ms $eng: read back $got, wrote $sha256"; rc=1; }
	case $cache in
	loose|fscache|mmap|none)
		got=$(sha256sum <$RUN/export/bench/flush | cut -d' ' -f1)
		[ "$got" = "$sha256" ] || { say "flush: $cache/$ms $eng: the server has $got, wrote $sha256"; rc=1; } ;;
	esac
	echo "RNETFS-BENCH engine=$eng cache=$cache msize=$ms wl=$wl round=${mode:-$round} prun=$round bytes=$bytes ns=$ns sys_ticks=$sys_ticks irq_ticks=$irq_ticks hz=$hz dirty_kb=$dirty_kb up=$((u1 - u0)) ca=$((c1 - c0)) up_bytes=$(( ${ub1:-0} - ${ub0:-0} )) ${infl:-} $hold" >/dev/console
	rm -rf $dir
	return $rc
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
			# fsync on a tmpfs does nothing: no limit for flush.
			[ $wl = flush ] && continue
			run none tmpfs - $wl $round || fail bench-tmpfs-$wl-$round
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
	case $cache in afs|cifs) msizes=- ;; *) msizes=$MSIZES ;; esac
	for ms in $msizes; do
		if [ $ms != - ]; then
			# The export at this msize ("default": 9p's own).
			opts=trans=virtio,version=9p2000.L,cache=$cache
			[ $ms = default ] || opts=$opts,msize=$ms
			mkdir -p $MNT
			mount -t 9p -o $opts export $MNT || { fail bench-mount-$cache-$ms; continue; }
			say "bench: $cache at msize $ms: $(awk -v m=$MNT '$2 == m { print $4 }' /proc/mounts)"
		fi
		for round in $(seq 1 $ROUNDS); do
			for eng in $(order_of $((round - 1))); do
				engine $eng
				for wl in $WORKLOADS; do
					run $eng $cache $ms $wl $round || fail bench-$eng-$cache-$ms-$wl-$round
				done
			done
		done
		for eng in $ENGINES; do
			engine $eng
			for wl in $WORKLOADS; do
				run $eng $cache $ms $wl 1 traced || fail bench-$eng-$cache-$ms-$wl-traced
			done
		done
		if [ "$PROFILE" = 1 ]; then
			for i in $(seq 1 $PROFILE_RUNS); do
				for eng in $(order_of $((i - 1))); do
					engine $eng
					for wl in $WORKLOADS; do
						run $eng $cache $ms $wl $i profiled || fail bench-$eng-$cache-$ms-$wl-profiled-$i
					done
				done
			done
		fi
		[ $ms = - ] || umount_export
	done
	case $cache in
	afs) umount $BASE ;;
	cifs) umount $BASE; stop_smbd ;;
	esac
done
unload_rnetfs
echo "$old_clock" >$T/trace_clock
echo "$old_buf" >$T/buffer_size_kb
pass bench-done

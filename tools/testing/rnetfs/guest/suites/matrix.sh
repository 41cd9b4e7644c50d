# SPDX-License-Identifier: GPL-2.0
# The fault matrix: fault kind x workload x streams, with rnetfs loaded.
#
#   kinds      none: control cells without a fault, with rnetfs and with
#              the C engine
#              transient: $TRANSIENT (data must all arrive, retries counted)
#              permanent: $PERMANENT (fsync/msync report the errno)
#   workloads  seq random sparse mmap osync truncrace
#   streams    upload (9p cache=loose), cache (9p cache=fscache over
#              cachefiles: upload + cache streams)
#
# Faults are injected on the upload stream (the cache stream's own faults
# are the fscache suite's). A kind the loaded module refuses (the debugfs
# write fails: delay and reorder on a module that predates them) is
# reported as skipped, not failed. O_SYNC writes go through netfs's C
# writethrough path, not rnetfs: its cells check the data only and say how
# many faults the injector saw.
#
# Short variant (default): each kind once per stream on a rotating workload.
# RNETFS_LONG=1: every cell. Then: rnetfs's request gauge and netfs's object
# counters back to zero, and on a kernel with kmemleak a scan that must not
# name rnetfs or netfs.
. ./lib.sh
FAULT=$DBG/fault
LONG=${RNETFS_LONG:-0}
TRANSIENT=${RNETFS_MATRIX_TRANSIENT:-"eagain:retry eio:retry eintr:retry short delay reorder"}
PERMANENT=${RNETFS_MATRIX_PERMANENT:-"eio enospc edquot"}
WORKLOADS=${RNETFS_MATRIX_WORKLOADS:-"seq random sparse mmap osync truncrace"}
KB=$((1 << 10)) MB=$((1 << 20))
CELLS=0 CELLS_FAILED=0 SKIPPED="" TOT_INJ=0 TOT_RETRY=0 TOT_BYTES=0

set_fault() { echo "$1" >$FAULT 2>/dev/null; }

# Kinds the loaded module accepts.
supported() {
	set_fault "upload=every:2:$1" || return 1
	set_fault off
}

errno_of() {
	case $1 in eio) echo 5 ;; enospc) echo 28 ;; edquot) echo 122 ;; eagain) echo 11 ;; eintr) echo 4 ;; esac
}

wsize() {
	case $1 in
	seq) echo $((8 * MB)) ;; random) echo $((4 * MB)) ;; sparse) echo $((16 * MB)) ;;
	mmap) echo $((4 * MB)) ;; osync) echo $((1 * MB)) ;; truncrace) echo $((4 * MB)) ;;
	esac
}

# run_workload WORKLOAD NAME ERRFILE [SEED]: through wtool.py, fsync'ed
# (O_SYNC's writes are 4 KiB random ones).
run_workload() {
	local w=$1 name=$2 err=$3 seed=${4:-$((CELLS + 100))} size mode flags=--fsync
	size=$(wsize $w)
	mode=$w
	[ $w = osync ] && { mode=random; flags="--fsync --osync"; }
	python3 ./wtool.py $mode $MNT/$name $REF/$name $size $seed $flags 2>$err
}

# The server's copy as seen now through the run share (cache=none), which
# the host's byte check will also compare after the run.
server_same() {
	cmp -s $RUN/export/$1 $2 && return 0
	say "$1: the server's copy differs: size $(stat -c %s $RUN/export/$1), written $(stat -c %s $2)"
	return 1
}

# Bytes of the files checked on the host in a cell.
bytes_of() { local n=0 f; for f; do n=$((n + $(stat -c %s $f))); done; echo $n; }

record() { # cell result injected retried bytes [note]
	CELLS=$((CELLS + 1))
	[ $2 = PASS ] || CELLS_FAILED=$((CELLS_FAILED + 1))
	TOT_INJ=$((TOT_INJ + $3)) TOT_RETRY=$((TOT_RETRY + $4)) TOT_BYTES=$((TOT_BYTES + $5))
	say "MATRIX $(printf '%-34s %-4s injected=%-4s retried=%-4s verified=%-9s %s' $1 $2 $3 $4 $5 "${6:-}")"
	if [ $2 = PASS ]; then pass matrix:$1; else fail matrix:$1 "${6:-}"; fi
	[ $2 = PASS ]
}

# A transient kind: every byte must reach the server, faults must have been
# injected and (for the errors and short writes) retried.
cell_transient() {
	local kind=$1 w=$2 s=$3 name i0 i1 r0 r1 rc=0 note=""
	name=m-$s-$w-${kind%%:*}
	[ "${kind#*:}" = retry ] && [ "$kind" != retry ] && name=$name-retry
	local cf0 cf1
	i0=$(stat_of faults_injected); r0=$(stat_of retried); cf0=$(stat_of cache_failed)
	if [ $kind = none ]; then
		set_fault off
	else
		set_fault "upload=every:3:$kind seed=$CELLS" || { record $name FAIL 0 0 0 "spec refused"; return 1; }
	fi
	run_workload $w $name /tmp/$name.err || { cat /tmp/$name.err >/dev/console; rc=1; }
	set_fault off
	i1=$(stat_of faults_injected); r1=$(stat_of retried); cf1=$(stat_of cache_failed)
	[ $((cf1 - cf0)) = 0 ] || note="cache_failed=$((cf1 - cf0))"
	expect_same $name $REF/$name
	no_writeback_left || rc=1
	readable $MNT/$name || rc=1
	cmp $MNT/$name $REF/$name || rc=1
	server_same $name $REF/$name || { note="server differs"; rc=1; }
	if [ $w = osync ]; then
		note="O_SYNC: C writethrough path"
	elif [ $kind = none ]; then
		note="control: no fault${note:+, $note}"
	else
		[ $((i1 - i0)) -gt 0 ] || { note="${note:+$note, }no fault injected"; rc=1; }
		case $kind in
		delay|reorder) ;;
		*) [ $((r1 - r0)) -gt 0 ] || { note="${note:+$note, }no retry"; rc=1; } ;;
		esac
	fi
	record $name $([ $rc = 0 ] && echo PASS || echo FAIL) $((i1 - i0)) $((r1 - r0)) \
		$(bytes_of $REF/$name) "$note"
}

# A permanent kind: fsync (msync for mmap) reports the errno, the file
# fsync'ed before the fault is intact, nothing stays locked or under
# writeback, and the filesystem writes again once the fault is gone.
cell_permanent() {
	local kind=$1 w=$2 s=$3 name want i0 i1 r0 r1 rc=0 note="" ok=0
	name=m-$s-$w-perm-$kind
	want=$(errno_of $kind)
	python3 ./wtool.py seq $MNT/$name-acked $REF/$name-acked $MB $CELLS --fsync || rc=1
	i0=$(stat_of faults_injected); r0=$(stat_of retried)
	set_fault "upload=every:2:$kind" || { record $name FAIL 0 0 0 "spec refused"; return 1; }
	run_workload $w $name /tmp/$name.err && ok=1
	set_fault off
	i1=$(stat_of faults_injected); r1=$(stat_of retried)
	if [ $w = osync ]; then
		# Not rnetfs's path: the writes must simply be intact.
		note="O_SYNC: C writethrough path"
		if [ $ok = 1 ]; then cmp $MNT/$name $REF/$name || rc=1; else cat /tmp/$name.err >/dev/console; rc=1; fi
	elif [ $ok = 1 ]; then
		note="fsync succeeded"; rc=1
	elif ! grep -q "Errno $want\]" /tmp/$name.err; then
		note="wrong error"; cat /tmp/$name.err >/dev/console; rc=1
	elif [ $w = mmap ] && ! grep -q "m.flush()" /tmp/$name.err; then
		note="msync did not fail"; cat /tmp/$name.err >/dev/console; rc=1
	else
		note="$(grep -o "Errno $want\].*" /tmp/$name.err | head -1 | cut -c1-40)"
		[ $w = mmap ] && note="msync: $note"
	fi
	no_writeback_left || rc=1
	readable $MNT/$name || rc=1
	cmp $MNT/$name-acked $REF/$name-acked || rc=1
	expect_same $name-acked $REF/$name-acked
	# Usable after: the same file written again in full.
	python3 ./wtool.py seq $MNT/$name $REF/$name-after $((2 * MB)) 5 --fsync || rc=1
	cp $REF/$name-after $REF/$name
	expect_same $name $REF/$name
	no_writeback_left || rc=1
	server_same $name-acked $REF/$name-acked || { note="$note, acked file differs on the server"; rc=1; }
	server_same $name $REF/$name || { note="$note, rewritten file differs on the server"; rc=1; }
	if [ $w != osync ] && [ $((i1 - i0)) = 0 ]; then note="$note no fault injected"; rc=1; fi
	record $name $([ $rc = 0 ] && echo PASS || echo FAIL) $((i1 - i0)) $((r1 - r0)) \
		$(bytes_of $REF/$name-acked $REF/$name) "$note"
}

# The C engine on a control cell's workload (rnetfs unloaded): its retries
# (Retries ws) and cache write failures (CaWrOps wf) from netfs's stats.
cell_c_control() {
	local w=$1 s=$2 name rc=0 r0 r1 f0 f1
	name=m-$s-$w-none-C
	unload_rnetfs || return 1
	r0=$(netfs_stat Retries ws); f0=$(netfs_stat CaWrOps wf)
	run_workload $w $name /tmp/$name.err $3 || { cat /tmp/$name.err >/dev/console; rc=1; }
	r1=$(netfs_stat Retries ws); f1=$(netfs_stat CaWrOps wf)
	expect_same $name $REF/$name
	no_writeback_left || rc=1
	readable $MNT/$name || rc=1
	cmp $MNT/$name $REF/$name || rc=1
	server_same $name $REF/$name || rc=1
	load_rnetfs || rc=1
	record $name $([ $rc = 0 ] && echo PASS || echo FAIL) 0 $((r1 - r0)) \
		$(bytes_of $REF/$name) "control: C engine, no fault, cache write failures $((f1 - f0))"
}

# cells STREAM: the cells of one stream, all or the short rotation.
cells() {
	local s=$1 k=0 kind w n=0
	local wl=($WORKLOADS)
	for kind in none $TRANSIENT $PERMANENT; do
		[ $kind = none ] || k=$((k + 1))
		case " $SKIPPED " in *" ${kind%%:*} "*) continue ;; esac
		for w in $WORKLOADS; do
			if [ $kind = none ]; then
				# Control cells, no fault: the short variant runs
				# the truncation race only.
				[ "$LONG" = 1 ] || [ $w = truncrace ] || continue
			elif [ "$LONG" != 1 ]; then
				# One workload per kind and stream, rotating over both.
				local off=0 pick
				[ $s = cache ] && off=3
				pick=${wl[$(( (k + off) % ${#wl[@]} ))]}
				[ $w = $pick ] || continue
			fi
			say "--- matrix cell $s $kind $w"
			if [ $kind = none ]; then
				# Both engines on the same workload and seed.
				local seed=$((CELLS + 100))
				cell_transient none $w $s
				cell_c_control $w $s $seed
			elif [[ " $PERMANENT " == *" $kind "* ]] && ! [[ " $TRANSIENT " == *" $kind "* ]]; then
				cell_permanent $kind $w $s
			else
				cell_transient $kind $w $s
			fi
		done
	done
}

# The truncation race on the slow server (qemu.sh's "slow" export, whose
# writes QEMU throttles), aimed at by wtool.py's truncsync (truncations into
# the dirty tail while an fsync of it is on its way): 9p's setattr flushes
# with filemap_fdatawrite(), which returns at once once no folio is tagged
# dirty, then truncates on the server, where it can overtake an upload
# still on its way. rnetfs
# starts the last dirty folio's writeback only once every upload is
# answered: each run must end with the server's bytes equal to what was
# written. The C engine starts it first and sends its last upload after:
# its runs are counted and reported, not failed (it loses bytes here).
SLOW_RUNS=${RNETFS_SLOW_RUNS:-3}
SLOW_C_BAD=0 SLOW_C_RUNS=0

# slow_cell STREAM ENGINE I
slow_cell() {
	local s=$1 eng=$2 i=$3 name rc=0 note="" r0 r1
	name=m-slow-$s-truncsync-$i
	[ $eng = C ] && name=$name-C
	r0=$(stat_of retried)
	python3 ./wtool.py truncsync $MNT/$name $REF/$name $((2 * MB)) $((400 + i)) --fsync \
		2>/tmp/$name.err || { cat /tmp/$name.err >/dev/console; rc=1; note="workload failed"; }
	no_writeback_left || rc=1
	readable $MNT/$name || rc=1
	cmp $MNT/$name $REF/$name || { rc=1; note="${note:+$note, }page cache differs"; }
	if ! cmp -s $RUN/slow/$name $REF/$name; then
		say "$name: the server's copy differs: size $(stat -c %s $RUN/slow/$name), written $(stat -c %s $REF/$name), first difference $(cmp $RUN/slow/$name $REF/$name 2>&1 | head -1)"
		rc=1; note="${note:+$note, }server differs"
	fi
	if [ $eng = C ]; then
		SLOW_C_RUNS=$((SLOW_C_RUNS + 1))
		[ $rc = 0 ] || SLOW_C_BAD=$((SLOW_C_BAD + 1))
		say "MATRIX $(printf '%-34s %-4s' $name $([ $rc = 0 ] && echo ok || echo LOST)) C engine, not counted${note:+: $note}"
		return 0
	fi
	r1=$(stat_of retried)
	expect_same ../slow/$name $REF/$name
	record $name $([ $rc = 0 ] && echo PASS || echo FAIL) 0 $((r1 - r0)) \
		$(bytes_of $REF/$name) "slow server${note:+, $note}"
}

# slow_cells STREAM CACHE-MODE: the runs of both engines, alternating.
slow_cells() {
	local s=$1 i
	mount_9p slow $MNT $2 || {
		fail matrix:slow-mount-$s; return
	}
	for i in $(seq 1 $SLOW_RUNS); do
		slow_cell $s rnetfs $i
		unload_rnetfs || fail matrix:slow-rmmod
		slow_cell $s C $i
		load_rnetfs || fail matrix:slow-insmod
	done
	umount $MNT
}

# Requests and objects all gone: rnetfs's live_requests gauge before and
# after an rmmod/insmod, netfs's Objs counters.
objects_released() {
	local live rr sr i
	sync
	live=$(stat_of live_requests)
	say "live_requests before rmmod: $live"
	[ "$live" = 0 ] || return 1
	unload_rnetfs && load_rnetfs || return 1
	live=$(stat_of live_requests)
	say "live_requests after rmmod/insmod: $live"
	[ "$live" = 0 ] || return 1
	for i in $(seq 1 50); do
		rr=$(netfs_stat "Objs" rr) sr=$(netfs_stat "Objs" sr)
		[ "$rr" = 0 ] && [ "$sr" = 0 ] && break
		sleep 0.2
	done
	say "netfs objects: $(grep '^Objs' /proc/fs/netfs/stats)"
	[ "$rr" = 0 ] && [ "$sr" = 0 ]
}

# kmemleak: two scans (objects must be 5 s old to be reported), nothing
# allocated by rnetfs or netfs.
kmemleak_clean() {
	local k=/sys/kernel/debug/kmemleak n
	echo scan >$k; sleep 6; echo scan >$k
	cat $k >/tmp/kmemleak.txt
	n=$(grep -c "^unreferenced object" /tmp/kmemleak.txt)
	say "kmemleak: $n unreferenced objects reported since the matrix began"
	if grep -qiE "rnetfs|netfs" /tmp/kmemleak.txt; then
		cat /tmp/kmemleak.txt >/dev/console
		return 1
	fi
	[ "$n" = 0 ] || head -60 /tmp/kmemleak.txt >/dev/console
	return 0
}

[ -w /sys/kernel/debug/kmemleak ] && echo clear >/sys/kernel/debug/kmemleak
load_rnetfs || fail rnetfs-load
for kind in $TRANSIENT $PERMANENT; do
	if ! supported $kind; then
		say "SKIP matrix kind ${kind%%:*}: refused by the loaded module (debugfs write failed)"
		SKIPPED="$SKIPPED ${kind%%:*}"
	fi
done
say "matrix: $([ "$LONG" = 1 ] && echo full || echo short) variant; transient: $TRANSIENT; permanent: $PERMANENT; skipped:${SKIPPED:- none}"
t0=$(date +%s)
mount_export loose
cells upload
umount_export
grep -q mycache /proc/fs/fscache/caches 2>/dev/null || t matrix-cachefilesd start_cachefilesd
mount_export fscache
cells cache
umount_export
say "rnetfs stats:"; cat $DBG/stats >/dev/console
slow_cells upload loose
slow_cells cache fscache
# Once more with uploads sent by the issuer itself, as the C engine does.
unload_rnetfs && load_rnetfs async_upload=0 || fail matrix:slow-insmod-inline
if mount_9p slow $MNT loose; then
	slow_cell inline rnetfs 1
	umount $MNT
else
	fail matrix:slow-mount-inline
fi
unload_rnetfs && load_rnetfs || fail matrix:slow-insmod
say "MATRIX slow server: the C engine lost bytes in $SLOW_C_BAD of $SLOW_C_RUNS truncation races"
say "MATRIX total: $CELLS cells ($CELLS_FAILED failed), $TOT_INJ faults injected, $TOT_RETRY retries, $TOT_BYTES bytes verified, $(( $(date +%s) - t0 )) s"
t matrix-objects-released objects_released
[ -w /sys/kernel/debug/kmemleak ] && t matrix-kmemleak-clean kmemleak_clean
unload_rnetfs

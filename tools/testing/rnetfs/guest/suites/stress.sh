# SPDX-License-Identifier: GPL-2.0
# Stress and server-side faults, with rnetfs and with the C engine:
#  - fsx.py processes at once while rnetfs is rmmod/insmod-ed underneath
#    (takeover and hand-back under load), every file checked on the host;
#  - stress-ng's file and mmap stressors on the 9p export;
#  - writeback driven by reclaim: a memory cgroup limit far below the dirty
#    data written in it;
#  - the server turning read-only mid-run: the small tmpfs export remounted
#    read-only by the host, and an ext4 export forced read-only (emergency
#    remount on error) under open writers: fsync must fail with the errno the
#    C engine reports, fsync'ed data stays intact, nothing stays under
#    writeback.
# RNETFS_LONG=1: longer runs.
. ./lib.sh
set -u

LONG=${RNETFS_LONG:-0}
if [ "$LONG" = 1 ]; then FSX_TIME=600; SNG_TIME=120; else FSX_TIME=60; SNG_TIME=20; fi
NFSX=4

# fsx.py on NFSX files at once; with rnetfs (p=r), rnetfs is cycled under
# them. A cycle is an rmmod then an insmod; rmmod waits for rnetfs's requests
# in flight (netfs_unregister_write_engine) and fails only while the module
# is busy (EBUSY/EAGAIN: counted, not an error); insmod must not fail.
fsx_takeover() {
	local p=$1 i pids="" rc=0 ok=0 rmfail=0 insfail=0 t0
	if [ $p = r ]; then load_rnetfs || return 1; else unload_rnetfs; fi
	t0=$(date +%s)
	for i in $(seq 1 $NFSX); do
		python3 ./fsx.py "$MNT/$p-fsx$i" "$REF/$p-fsx$i" --seed $((1000 * i + 7)) \
			--ops 1000000 --time $FSX_TIME --quiet >/dev/console 2>&1 &
		pids="$pids $!"
	done
	if [ $p = r ]; then
		sleep 2
		while kill -0 $pids 2>/dev/null; do
			if rmmod rnetfs 2>/tmp/rmmod.err; then
				sleep 0.5
				if insmod $KO 2>/tmp/insmod.err; then
					ok=$((ok + 1))
				else
					insfail=$((insfail + 1)); cat /tmp/insmod.err >/dev/console
					sleep 0.5; insmod $KO
				fi
			else
				rmfail=$((rmfail + 1)); cat /tmp/rmmod.err >/dev/console
			fi
			sleep 1
		done
	fi
	for i in $pids; do wait "$i" || rc=1; done
	say "$p-fsx: $NFSX fsx.py for $(( $(date +%s) - t0 )) s; rmmod/insmod cycles under load: $ok done, $rmfail rmmod failures (busy), $insfail insmod failures"
	local files=()
	for i in $(seq 1 $NFSX); do
		[ -f "$REF/$p-fsx$i" ] && files+=("$p-fsx$i")
	done
	verify -c "${files[@]}" || rc=1
	[ $rc = 0 ] || return 1
	[ $p = c ] && return 0
	# A cycle takes a few seconds under this load: a minute gives many.
	[ $ok -ge 3 ] || { say "$p-fsx: only $ok cycles"; return 1; }
	[ $insfail = 0 ]
}

# stress-ng's file and mmap stressors in the export, with data verification.
# Not the msync, sync-file and fallocate stressors: they ftruncate a file
# after unlinking it, which QEMU's 9p server refuses (ENOENT) with either
# engine; and 9p has no fallocate.
stressng() {
	local p=$1
	local dir=$MNT/$p-sng rc
	mkdir -p $dir
	stress-ng --temp-path $dir --timeout ${SNG_TIME}s --verify --metrics-brief \
		--hdd 2 --hdd-bytes 16M \
		--mmap 1 --mmap-bytes 8M --mmap-file \
		--seek 1 --seek-size 16M \
		--filename 1 \
		>/tmp/$p-sng.log 2>&1
	rc=$?
	cat /tmp/$p-sng.log >/dev/console
	say "$p-stress-ng: exit $rc"
	rm -rf $dir
	verify || return 1
	[ $rc = 0 ]
}

# A process in a memory cgroup capped at 64 MiB writes 256 MiB without
# fsync: its dirty page cache can only be reclaimed after writeback, which
# reclaim has to get going. The cgroup must have hit its limit, nobody may
# be OOM-killed, and the bytes must all arrive.
pressure() {
	local p=$1 cg=/sys/fs/cgroup/rnetfs-$1 out rc
	[ -f /sys/fs/cgroup/cgroup.controllers ] || mount -t cgroup2 none /sys/fs/cgroup || return 1
	echo +memory >/sys/fs/cgroup/cgroup.subtree_control || return 1
	mkdir -p $cg
	echo $((64 << 20)) >$cg/memory.max || return 1
	echo 0 >$cg/memory.swap.max 2>/dev/null
	out=$(sh -c "echo \$\$ >$cg/cgroup.procs && exec python3 ./wtool.py big $MNT/$p-pressure - $((256 << 20)) 17 --fsync" 2>/tmp/$p-pressure.err)
	rc=$?
	cat /tmp/$p-pressure.err >/dev/console
	say "$p-pressure: wtool exit $rc: $out; $(grep -c 'short write' /tmp/$p-pressure.err) short write(2)s (completed by another call)"
	say "$p-pressure: memory.events: $(tr '\n' ' ' <$cg/memory.events)"
	say "$p-pressure: memory.peak $(cat $cg/memory.peak 2>/dev/null) $(grep -E '^(pgscan|pgsteal|file_writeback|file_dirty) ' $cg/memory.stat | tr '\n' ' ')"
	local max oom
	max=$(awk '$1 == "max" { print $2 }' $cg/memory.events)
	oom=$(awk '$1 == "oom_kill" { print $2 }' $cg/memory.events)
	rmdir $cg
	[ $rc = 0 ] || return 1
	set -- $out
	expect_host "$p-pressure" "$1" "$2"
	verify || return 1
	[ "${max:-0}" -gt 0 ] || { say "$p-pressure: the cgroup never hit memory.max"; return 1; }
	[ "${oom:-0}" = 0 ]
}

request_host() { # request, then wait for the host's acknowledgement; prints it
	local i
	rm -f $RUN/requests/$1.done
	touch $RUN/requests/$1
	for i in $(seq 1 300); do
		[ -f $RUN/requests/$1.done ] && { cat $RUN/requests/$1.done; return 0; }
		sleep 0.1
	done
	echo timeout
	return 1
}

# The small tmpfs remounted read-only by the host while a writer creates
# files. tmpfs refuses that while QEMU holds a file open for writing, i.e.
# while the guest has a file open for writing or its writeback in flight,
# so the remount lands between two files: the next open fails with EROFS,
# every file closed before it is intact, nothing stays under writeback.
small_ro() {
	local p=$1 res n
	mkdir -p $SMALL
	mount_9p small $SMALL loose || return 1
	python3 ./wtool.py seq $SMALL/$p-ro-acked $REF/$p-ro-acked $((2 << 20)) 21 --fsync || { umount $SMALL; return 1; }
	mkdir -p $SMALL/$p-ro $REF/$p-ro
	python3 ./cases.py until_erofs $SMALL/$p-ro $REF/$p-ro $p >/dev/console 2>&1 &
	local w=$!
	sleep 3
	res=$(request_host small-ro)
	say "$p-small-ro: host remount read-only: $res"
	wait $w; local rc=$?
	n=$(ls $REF/$p-ro | wc -l)
	say "$p-small-ro: $n files written before the remount"
	# The host checks the small export as it was once read-write again
	# (small-after).
	verify -m $SMALL -h ../small-after -c $p-ro-acked $p-ro || rc=1
	python3 ./wtool.py seq $SMALL/$p-ro-acked $REF/$p-ro-x 4096 1 --fsync 2>/tmp/$p-ro.err &&
		{ say "$p-small-ro: rewrote a file on a read-only export"; rc=1; }
	grep "Errno 30\]" /tmp/$p-ro.err >/dev/console || { cat /tmp/$p-ro.err >/dev/console; rc=1; }
	umount $SMALL || rc=1
	say "$p-small-ro: host remount read-write: $(request_host small-rw)"
	[ "$res" = ok ] && [ $rc = 0 ]
}

# An ext4 export (rofs/$p) forced read-only by the host while a file is
# open for writing with 8 MiB dirty, 4 MiB more written after: fsync must fail, with the same errno
# for both engines (the C engine runs first and records it), the file
# fsync'ed before stays intact, nothing stays locked or under writeback.
rofs() {
	local p=$1 rc=0 e
	mkdir -p /mnt/rofs
	mountpoint -q /mnt/rofs ||
		mount_9p rofs /mnt/rofs loose || return 1
	# The reference at the same relative path as the file (for verify).
	mkdir -p $REF/rofs/$p
	python3 ./wtool.py seq /mnt/rofs/$p/acked $REF/rofs/$p/acked $((2 << 20)) 31 --fsync || return 1
	python3 ./cases.py dirty_then_readonly /mnt/rofs/$p/live $RUN/requests rofs-ro-$p >/tmp/$p-rofs.out 2>&1
	[ $? = 0 ] || rc=1
	sed "s/^/RNETFS: $p-rofs: /" /tmp/$p-rofs.out >/dev/console
	grep -q "^host: ok" /tmp/$p-rofs.out || rc=1
	e=$(awk '$1 == "fsync" && $2 == "errno" { print $3 }' /tmp/$p-rofs.out)
	[ -n "$e" ] || rc=1
	case $e in 30|5) ;; *) say "$p-rofs: fsync errno $e, want EROFS (30) or EIO (5)"; rc=1 ;; esac
	if [ $p = c ]; then
		echo "$e" >/tmp/rofs-c-errno
	elif [ -f /tmp/rofs-c-errno ]; then
		[ "$e" = "$(cat /tmp/rofs-c-errno)" ] ||
			{ say "$p-rofs: fsync errno $e, the C engine's $(cat /tmp/rofs-c-errno)"; rc=1; }
	fi
	# The failed file readable, the fsync'ed one intact (the host checks
	# the export as it was after the run: rofs-after).
	verify -m /mnt/rofs -H $p/live || rc=1
	REF=$REF/rofs verify -m /mnt/rofs -h ../rofs-after -c $p/acked || rc=1
	# Still usable: a new write fails cleanly, without blocking.
	timeout 60 python3 ./wtool.py seq /mnt/rofs/$p/new $REF/$p-rofs-new 4096 1 --fsync 2>/dev/null &&
		{ say "$p-rofs: wrote to a read-only export"; rc=1; }
	return $rc
}

mount_export loose
unload_rnetfs
t c-stress-fsx fsx_takeover c 0
t c-stress-ng stressng c
t c-stress-pressure pressure c
t c-stress-rofs rofs c
t r-stress-fsx-takeover fsx_takeover r 1
t r-stress-ng stressng r
t r-stress-pressure pressure r
t r-stress-rofs rofs r
t r-stress-small-ro small_ro r
say "rnetfs stats:"; cat $DBG/stats >/dev/console
unload_rnetfs
umount /mnt/rofs 2>/dev/null
umount_export

# SPDX-License-Identifier: GPL-2.0
# kAFS against an OpenAFS server in the same guest (guest/afs.sh): the
# engine's workloads with rnetfs and with the C engine, each file verified
# against the server's view through a fresh mount (unmounted and remounted,
# so nothing is served from the page cache); then a volume quota (fsync
# must report it, earlier data intact, nothing left under writeback); then
# both streams with fscache (cachefilesd), the cold re-read served from the
# cache, and finally every file read from the server with the cache gone.
. ./lib.sh
. ./afs.sh
set -u
MNT=/mnt/afs
# References of its own: the engine suite's r-files/ and c-files/ would
# otherwise add files to this suite's directories.
REF=$REF/afs
rm -rf $REF && mkdir -p $REF
SEQ=${AFS_SEQ_MB:-32}
# One seed per workload, the same for rnetfs and the C engine, so that their
# subrequest counts can be compared (the base seed is printed).
SEED=${AFS_SEED:-$RANDOM}
say "afs: seed $SEED"
# seed_for, counters, delta and at: guest/lib.sh.

# Write through kAFS, fsync, nothing left under writeback or locked; with
# rnetfs loaded its writepages counter must move; then the server's bytes,
# read through a fresh mount, must be the reference's.
afs_write_verify() {
	local vol=$1 mode=$2 size=$3 name=$4 before after
	before=$(stat_of writepages)
	python3 ./wtool.py "$mode" "$MNT/$name" "$REF/$name" "$size" "$(seed_for "$name")" --fsync || return 1
	# The server's copy is compared below, through a fresh mount.
	verify -H "$name" || return 1
	if rnetfs_loaded; then
		after=$(stat_of writepages)
		say "$name: rnetfs writepages $before -> $after"
		[ "${after:-0}" -gt "${before:-0}" ] || return 1
	fi
	server_same "$vol" "$name"
}

# The server's view of FILE (or directory) against the reference.
server_same() {
	local vol=$1 name=$2
	afs_remount "$vol" $MNT || return 1
	if [ -d "$REF/$name" ]; then
		[ "$(python3 ./wtool.py manifest "$MNT/$name")" = "$(python3 ./wtool.py manifest "$REF/$name")" ] ||
			{ say "$name: directory differs on the server"; return 1; }
	else
		cmp "$MNT/$name" "$REF/$name" >/dev/console || { say "$name: differs on the server"; return 1; }
	fi
	say "$name: the server's copy matches the reference"
}

files_verify() {
	local vol=$1 name=$2
	python3 ./wtool.py files "$MNT/$name" "$REF/$name" $((2 << 20)) "$(seed_for "$name")" --fsync || return 1
	verify -H "$name" || return 1
	server_same "$vol" "$name"
}

concurrent() {
	local vol=$1 p=$2 pids="" pid rc=0 i
	python3 ./wtool.py seq "$MNT/$p-cc1" "$REF/$p-cc1" $((8 << 20)) 1 --fsync & pids="$pids $!"
	python3 ./wtool.py random "$MNT/$p-cc2" "$REF/$p-cc2" $((4 << 20)) 2 --fsync & pids="$pids $!"
	python3 ./wtool.py mmap "$MNT/$p-cc3" "$REF/$p-cc3" $((4 << 20)) 3 --fsync & pids="$pids $!"
	python3 ./wtool.py extend "$MNT/$p-cc4" "$REF/$p-cc4" $((8 << 20)) 4 --fsync & pids="$pids $!"
	for pid in $pids; do wait "$pid" || rc=1; done
	verify -H $p-cc1 $p-cc2 $p-cc3 $p-cc4 || return 1
	for i in 1 2 3 4; do server_same "$vol" "$p-cc$i" || rc=1; done
	return $rc
}

# The check itself must be able to fail: a reference one byte off is seen.
verify_can_fail() {
	local vol=$1 name=$2
	python3 ./wtool.py seq "$MNT/$name" "$REF/$name" $((64 << 10)) 5 --fsync || return 1
	python3 ./cases.py flip_byte "$REF/$name" 4097 || return 1
	if server_same "$vol" "$name" 2>/dev/null; then say "a changed reference went unnoticed"; return 1; fi
	rm -f "$MNT/$name" "$REF/$name"
}

# A small fsx: write(), mmap stores, truncates, reads checked against a
# model, fsyncs; then the server's copy against the model.
fsx_verify() {
	local vol=$1 name=$2
	python3 ./minifsx.py "$MNT/$name" "$REF/$name" 800 "$(seed_for "$name")" >/dev/console || return 1
	verify -H "$name" || return 1
	server_same "$vol" "$name"
}

# Free the room on /vicepa and in the reference (the root image).
cleanup() { rm -rf "${@/#/$MNT/}" "${@/#/$REF/}"; }

# Transient upload failures: before re-preparing, rnetfs's retryer calls
# afs's retry_request where netfs does (afs picks another key there for a
# key error), and every byte arrives.
retry_request_verify() {
	local vol=$1 name=$2 before after rc
	before=$(stat_of retry_requests)
	# afs sends a file in few large uploads: fail the first one.
	set_fault "upload=nth:1:eagain:retry" || return 1
	afs_write_verify "$vol" seq $((4 << 20)) "$name"
	rc=$?
	set_fault off
	after=$(stat_of retry_requests)
	say "$name: afs retry_request called $((${after:-0} - ${before:-0})) times"
	[ $rc = 0 ] && [ "${after:-0}" -gt "${before:-0}" ]
}

workloads() {
	local p=$1 vol=t.$1
	afs_mount $vol $MNT || { fail $p-afs-mount; return; }
	[ $p = c ] && t afs-verify-can-fail verify_can_fail $vol check
	at $p-afs-seq-${SEQ}m afs_write_verify $vol seq $((SEQ << 20)) $p-seq
	at $p-afs-random-4k-8m afs_write_verify $vol random $((8 << 20)) $p-random
	at $p-afs-sparse-16m afs_write_verify $vol sparse $((16 << 20)) $p-sparse
	at $p-afs-extend-8m afs_write_verify $vol extend $((8 << 20)) $p-extend
	at $p-afs-truncate-dirty afs_write_verify $vol truncate $((8 << 20)) $p-truncate
	at $p-afs-mmap-msync-8m afs_write_verify $vol mmap $((8 << 20)) $p-mmap
	at $p-afs-small-files files_verify $vol $p-files
	at $p-afs-concurrent concurrent $vol $p
	at $p-afs-minifsx fsx_verify $vol $p-fsx
	[ $p = r ] && at r-afs-retry-request retry_request_verify $vol $p-retry
	cleanup $p-retry $p-fsx $p-seq $p-random $p-sparse $p-extend $p-truncate $p-mmap $p-files $p-cc1 $p-cc2 $p-cc3 $p-cc4
	umount $MNT
}

# A volume with an 8 MiB quota: 2 MiB fsync'ed, then 16 MiB must fail in
# write() or fsync() with EDQUOT or ENOSPC (the errno is kept to compare the
# engines); nothing stays under writeback or locked, the acknowledged file
# is intact on the server, and the volume is usable once room is made.
quota() {
	local p=$1 vol=q.$1 d=/mnt/afs-q err=/tmp/$1-quota.err e
	afs_mount $vol $d || return 1
	python3 ./wtool.py seq $d/acked $REF/$p-q-acked $((2 << 20)) 7 --fsync || { umount $d; return 1; }
	if python3 ./wtool.py seq $d/over $REF/$p-q-over $((16 << 20)) 8 --fsync 2>$err; then
		say "$p: 16 MiB fitted in an 8 MiB quota"; umount $d; return 1
	fi
	e=$(grep -oE "Errno [0-9]+" $err | head -1)
	grep -E "os\.(fsync|pwrite)|Error" $err >/dev/console
	say "$p: over quota: $e"
	echo "$e" >/tmp/quota-errno-$p
	case "$e" in "Errno 122"|"Errno 28") ;; *) cat $err >/dev/console; umount $d; return 1;; esac
	verify -m $d -H over || { umount $d; return 1; }
	rm -f $d/over
	python3 ./wtool.py random $d/after $REF/$p-q-after $((1 << 20)) 9 --fsync || { umount $d; return 1; }
	verify -m $d -H after || { umount $d; return 1; }
	afs_remount $vol $d || return 1
	cmp $d/acked $REF/$p-q-acked && cmp $d/after $REF/$p-q-after || { umount $d; return 1; }
	umount $d
}

same_quota_errno() {
	say "quota errno: rnetfs $(cat /tmp/quota-errno-r), C $(cat /tmp/quota-errno-c)"
	[ -s /tmp/quota-errno-r ] && cmp -s /tmp/quota-errno-r /tmp/quota-errno-c
}

# fscache: the write reaches the cache (cachefiles writes move; rnetfs's
# cache subrequests too when loaded), and after a remount the file is read
# back, at least in part, from the cache and matches.
cached_verify() {
	local vol=$1 mode=$2 size=$3 name=$4 wr0 wr1 cw0 cw1 rd0 rd1 before after pass
	wr0=$(fscache_io wr); cw0=$(stat_of cache_done); before=$(stat_of writepages)
	python3 ./wtool.py "$mode" "$MNT/$name" "$REF/$name" "$size" "$(seed_for "$name")" --fsync || return 1
	verify -H "$name" || return 1
	wr1=$(fscache_io wr); cw1=$(stat_of cache_done); after=$(stat_of writepages)
	say "$name: cachefiles writes $wr0 -> $wr1, rnetfs cache subrequests done $cw0 -> $cw1, writepages $before -> $after"
	if rnetfs_loaded; then
		[ "${after:-0}" -gt "${before:-0}" ] || return 1
		[ "${cw1:-0}" -gt "${cw0:-0}" ] || { say "$name: rnetfs wrote nothing to the cache"; return 1; }
	fi
	[ "$wr1" -gt "$wr0" ] || { say "$name: nothing written to the cache"; return 1; }
	for pass in 1 2; do
		afs_remount $vol $MNT || return 1
		rd0=$(fscache_io rd)
		cmp "$MNT/$name" "$REF/$name" >/dev/console || return 1
		rd1=$(fscache_io rd)
		say "$name: cold read $pass: cachefiles reads $rd0 -> $rd1"
		[ "$rd1" -gt "$rd0" ] && break
	done
	[ "$rd1" -gt "$rd0" ] || { say "$name: re-read not served from the cache"; return 1; }
}

fscache_workloads() {
	local p=$1 vol=fc.$1
	afs_mount $vol $MNT || { fail $p-afs-fscache-mount; return; }
	at $p-afs-fscache-seq-16m cached_verify $vol seq $((16 << 20)) $p-fc-seq
	at $p-afs-fscache-random-4m cached_verify $vol random $((4 << 20)) $p-fc-random
	at $p-afs-fscache-mmap-4m cached_verify $vol mmap $((4 << 20)) $p-fc-mmap
	umount $MNT
}

# With the cache withdrawn (cachefilesd gone), every file of the fscache
# phase read from the server.
fscache_server_view() {
	local p n rc=0 rd0 rd1
	stop_cachefilesd || return 1
	rd0=$(fscache_io rd)
	for p in r c; do
		afs_mount fc.$p $MNT || return 1
		for n in $p-fc-seq $p-fc-random $p-fc-mmap; do
			cmp "$MNT/$n" "$REF/$n" >/dev/console || { say "$n differs on the server"; rc=1; }
		done
		umount $MNT
	done
	rd1=$(fscache_io rd)
	[ "$rd0" = "$rd1" ] || { say "cachefiles reads moved ($rd0 -> $rd1) with the cache withdrawn"; rc=1; }
	return $rc
}

ta=$(date +%s)
# A cache left by an earlier suite would serve the "server" re-reads.
stop_cachefilesd
say "--- afs-server"
if start_afs_server; then
	pass afs-server
else
	fail afs-server
	exit 0
fi
tv=$(date +%s)
for v in t.r t.c fc.r fc.c; do afs_volume $v || fail afs-volume-$v; done
afs_volume q.r 8192 || fail afs-volume-q.r
afs_volume q.c 8192 || fail afs-volume-q.c
say "afs: volumes created in $(($(date +%s) - tv)) s"

load_rnetfs || fail rnetfs-load
workloads r
at r-afs-quota quota r
say "rnetfs stats:"; cat $DBG/stats >/dev/console
unload_rnetfs
workloads c
at c-afs-quota quota c
t afs-quota-same-errno same_quota_errno
cat /proc/fs/netfs/stats >/dev/console

t afs-cachefilesd-start start_cachefilesd
load_rnetfs || fail rnetfs-load
fscache_workloads r
say "rnetfs stats:"; cat $DBG/stats >/dev/console
unload_rnetfs
fscache_workloads c
t afs-fscache-server-view fscache_server_view
cat /proc/fs/netfs/stats /proc/fs/fscache/stats >/dev/console
say "afs suite took $(($(date +%s) - ta)) s"

# SPDX-License-Identifier: GPL-2.0
# Both streams for real: 9p with cache=fscache over cachefiles (cachefilesd
# in the guest, its cache on the ext4 root). Each workload is checked on the
# host side of the export; then, with the page cache dropped, the file is
# read back and must be served (at least in part) from the cache and match.
. ./lib.sh
set -u

# write_verify through the cache, then a cold re-read from the cache.
cached_verify() {
	local mode=$1 size=$2 name=$3 cw0 cw1 rd0 rd1 wr0 wr1
	cw0=$(stat_of cache_done)
	wr0=$(fscache_io wr)
	write_verify "$mode" "$size" "$name" || return 1
	cw1=$(stat_of cache_done)
	wr1=$(fscache_io wr)
	say "$name: cachefiles writes $wr0 -> $wr1, rnetfs cache subrequests done $cw0 -> $cw1"
	[ "$wr1" -gt "$wr0" ] || { say "$name: nothing written to the cache"; return 1; }
	if rnetfs_loaded; then
		[ "${cw1:-0}" -gt "${cw0:-0}" ] || { say "$name: rnetfs wrote nothing to the cache"; return 1; }
	fi
	# 9p keys the cache object on the server's file version, which the
	# writes just changed: the first cold read may find the object stale
	# and refill it through copy-to-cache writeback (the cache stream
	# alone); the second must be served from the cache.
	local pass
	for pass in 1 2; do
		sync
		echo 3 >/proc/sys/vm/drop_caches
		rd0=$(fscache_io rd)
		cmp "$MNT/$name" "$REF/$name" || return 1
		rd1=$(fscache_io rd)
		say "$name: cold read $pass: cachefiles reads $rd0 -> $rd1"
	done
	[ "$rd1" -gt "$rd0" ] || { say "$name: re-read not served from the cache"; return 1; }
}

# A failing cache must not fail the upload: every byte still reaches the
# server, the failures are counted, and nothing stays under writeback.
cache_fault() {
	local spec=$1 name=$2 f0 f1 r0 r1
	f0=$(stat_of cache_failed); r0=$(stat_of retried)
	set_fault "$spec" || return 1
	write_verify seq $((8 << 20)) $name
	local rc=$?
	set_fault off
	f1=$(stat_of cache_failed); r1=$(stat_of retried)
	say "$name: cache failures $f0 -> $f1, retried $r0 -> $r1"
	[ $rc = 0 ] && [ "$f1" -gt "$f0" ]
}

# The last, partial block of a file must reach the cache. cachefiles writes
# whole blocks and rounds the last one up over the folio's zeroed tail only
# when the issuer says it may; otherwise it leaves the block out and counts
# it written, and the cache keeps the block's old bytes. Here the block is
# cached whole (A), the file cut inside it and rewritten (B), the page
# cache dropped with the cache object still valid (same open file): the
# re-read must be served from the cache, and be B.
tail_block() {
	local name=$1 rd0 rd1
	rd0=$(fscache_io rd)
	python3 ./cases.py tail_block $MNT/$name $REF/$name >/dev/console || return 1
	rd1=$(fscache_io rd)
	verify $name || return 1
	say "$name: cachefiles reads $rd0 -> $rd1"
	[ "$rd1" -gt "$rd0" ] || { say "$name: re-read not served from the cache"; return 1; }
}

workloads() {
	local p=$1
	t $p-fscache-seq-32m cached_verify seq $((32 << 20)) $p-fc-seq
	t $p-fscache-random-8m cached_verify random $((8 << 20)) $p-fc-random
	t $p-fscache-extend-8m cached_verify extend $((8 << 20)) $p-fc-extend
	t $p-fscache-mmap-4m cached_verify mmap $((4 << 20)) $p-fc-mmap
	t $p-fscache-tail-block tail_block $p-fc-tail
}

t cachefilesd-start start_cachefilesd
mount_export fscache
load_rnetfs || fail rnetfs-load
workloads r
t r-fscache-cache-eio cache_fault "cache=every:2:eio" r-fc-cache-eio
t r-fscache-cache-eagain cache_fault "cache=every:3:eagain:retry" r-fc-cache-eagain
say "rnetfs stats:"; cat $DBG/stats >/dev/console
unload_rnetfs
workloads c
cat /proc/fs/netfs/stats /proc/fs/fscache/stats >/dev/console
umount_export

# SPDX-License-Identifier: GPL-2.0
# The engine's workloads through 9p (cache=loose), each verified byte for
# byte on the host side of the export, with rnetfs loaded and then with
# the built-in C engine as the baseline; then server-side ENOSPC.
. ./lib.sh
set -u

# Many small files, checked as one directory manifest.
files_verify() {
	local name=$1
	python3 ./wtool.py files "$MNT/$name" "$REF/$name" $((4 << 20)) $RANDOM --fsync || return 1
	verify "$name"
}

# Several writers at once, each on its own file and workload.
concurrent() {
	local p=$1 pids="" pid rc=0
	python3 ./wtool.py seq "$MNT/$p-cc1" "$REF/$p-cc1" $((24 << 20)) 1 --fsync & pids="$pids $!"
	python3 ./wtool.py random "$MNT/$p-cc2" "$REF/$p-cc2" $((8 << 20)) 2 --fsync & pids="$pids $!"
	python3 ./wtool.py mmap "$MNT/$p-cc3" "$REF/$p-cc3" $((4 << 20)) 3 --fsync & pids="$pids $!"
	python3 ./wtool.py extend "$MNT/$p-cc4" "$REF/$p-cc4" $((8 << 20)) 4 --fsync & pids="$pids $!"
	for pid in $pids; do wait "$pid" || rc=1; done
	verify -c $p-cc1 $p-cc2 $p-cc3 $p-cc4 || return 1
	return $rc
}

# A file a quarter larger than the guest's memory: writeback runs under
# memory pressure, from reclaim and the flusher, not only from fsync.
bigger_than_ram() {
	local name=$1 mem out
	mem=$(awk '/^MemTotal:/ { print $2 * 1024 }' /proc/meminfo)
	out=$(python3 ./wtool.py big "$MNT/$name" - $((mem / 4 * 5)) $RANDOM --fsync) || return 1
	set -- $out
	say "$name: $2 bytes"
	expect_host "$name" "$1" "$2"
	# No reference to compare with, and too big to read back: the
	# writeback check only.
	verify
}

workloads() {
	local p=$1
	t $p-seq-64m write_verify seq $((64 << 20)) $p-seq
	t $p-random-4k-16m write_verify random $((16 << 20)) $p-random
	t $p-sparse-64m write_verify sparse $((64 << 20)) $p-sparse
	t $p-extend-16m write_verify extend $((16 << 20)) $p-extend
	t $p-truncate-dirty write_verify truncate $((8 << 20)) $p-truncate
	t $p-mmap-msync-8m write_verify mmap $((8 << 20)) $p-mmap
	# O_SYNC writes go through netfs's writethrough path, which is still
	# the C engine's: only data integrity is checked here.
	t $p-osync-2m write_verify random $((2 << 20)) $p-osync --no-count --osync
	t $p-small-files files_verify $p-files
	t $p-concurrent concurrent $p
	t $p-bigger-than-ram bigger_than_ram $p-big
}

# The host side is a 48 MiB tmpfs: an fsync'ed file stays intact, a write
# that cannot fit fails loudly (write or fsync sees ENOSPC or EIO), nothing
# stays locked or under writeback, and the filesystem remains usable.
server_full() {
	local p=$1
	local err=/tmp/$p-full.err
	mkdir -p $SMALL
	mount_9p small $SMALL loose || return 1
	python3 ./wtool.py seq $SMALL/$p-acked $REF/$p-acked $((4 << 20)) 7 --fsync || return 1
	if python3 ./wtool.py seq $SMALL/$p-over $REF/$p-over $((64 << 20)) 8 --fsync 2>$err; then
		say "$p: 64 MiB fitted in a 48 MiB export"; umount $SMALL; return 1
	fi
	grep -E "Errno (28|5)\]" $err >/dev/console || { cat $err >/dev/console; umount $SMALL; return 1; }
	# The host checks the small export once the run is over (small-after).
	verify -m $SMALL -H $p-over || { umount $SMALL; return 1; }
	verify -m $SMALL -h ../small-after -c $p-acked || { umount $SMALL; return 1; }
	rm -f $SMALL/$p-over
	python3 ./wtool.py random $SMALL/$p-after $REF/$p-after $((1 << 20)) 9 --fsync || { umount $SMALL; return 1; }
	verify -m $SMALL -h ../small-after -c $p-after || { umount $SMALL; return 1; }
	umount $SMALL
}

mount_export loose
load_rnetfs || fail rnetfs-load
workloads r
t r-server-full server_full r
say "rnetfs stats:"; cat $DBG/stats >/dev/console
# 9p answers inside its send: the senders and the issuers collected, not
# only the collector's work item.
sender_collected() {
	local s i
	s=$(stat_of collected_by_sender) i=$(stat_of collected_by_issuer)
	say "collected by senders $s, by issuers $i"
	[ "${s:-0}" -gt 0 ] && [ "${i:-0}" -gt 0 ]
}
t r-sender-collected sender_collected
unload_rnetfs
# Uploads sent by the issuer itself (async_upload=0), as the C engine does.
load_rnetfs async_upload=0 || fail rnetfs-load-inline
t s-seq-32m write_verify seq $((32 << 20)) s-seq
t s-random-4k-8m write_verify random $((8 << 20)) s-random
t s-truncate-dirty write_verify truncate $((8 << 20)) s-truncate
t s-mmap-msync-4m write_verify mmap $((4 << 20)) s-mmap
t s-concurrent concurrent s
unload_rnetfs
# Every completion collected by the collector's work item and every folio
# queued at once, as before senders collected and folios were batched.
load_rnetfs sender_collects=0 folio_batch=1 || fail rnetfs-load-unbatched
t u-seq-32m write_verify seq $((32 << 20)) u-seq
t u-random-4k-8m write_verify random $((8 << 20)) u-random
t u-concurrent concurrent u
t u-no-sender-collected eval '! sender_collected'
unload_rnetfs
workloads c
t c-server-full server_full c
umount_export

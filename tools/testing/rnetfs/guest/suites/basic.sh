# SPDX-License-Identifier: GPL-2.0
# Foundation tests: takeover plumbing and byte-exact writes through 9p,
# with rnetfs loaded and with the built-in C engine.
. ./lib.sh
set -u

insmod_rmmod_cycles() {
	local i
	for i in 1 2 3 4 5; do
		insmod $KO || return 1
		[ -r $DBG/stats ] || { say "no $DBG/stats"; return 1; }
		rmmod rnetfs || return 1
	done
	dmesg | grep -q "writeback engine rnetfs registered" || return 1
	dmesg | grep -q "writeback engine rnetfs unregistered" || return 1
}

rmmod_under_load() {
	local i
	load_rnetfs || return 1
	(
		for i in $(seq 1 12); do
			python3 ./wtool.py seq "$MNT/busy$i" "$REF/busy$i" $((4 << 20)) $i --fsync || exit 1
		done
	) &
	local w=$!
	sleep 2
	rmmod rnetfs || { wait $w; return 1; }
	insmod $KO || { wait $w; return 1; }
	sleep 1
	rmmod rnetfs || { wait $w; return 1; }
	wait $w || return 1
	verify -c $(seq -f busy%g 1 12)
}

# The writeback_iter() filter (WritebackIter::next_filtered): with
# filter_stride=2 only even folios go out on fsync, the odd ones stay dirty
# and unlocked, nothing stays under writeback; with rnetfs unloaded, a
# second fsync on the same open file (9p writes back through an open fid)
# lets the C engine write them.
filter_hook() {
	unload_rnetfs && insmod $KO filter_stride=2 || return 1
	python3 ./cases.py filter_hook $MNT/filtered $REF/filtered $DBG/stats >/dev/console || return 1
	verify -c filtered
}

mount_export loose
t filter-hook filter_hook
t insmod-rmmod-cycles insmod_rmmod_cycles
load_rnetfs
t rnetfs-seq-64m write_verify seq $((64 << 20)) seq64
t rnetfs-random-16m write_verify random $((16 << 20)) rand16
t rnetfs-mmap-8m write_verify mmap $((8 << 20)) mmap8
t rmmod-under-load rmmod_under_load
unload_rnetfs
t c-seq-64m write_verify seq $((64 << 20)) cseq64
t c-random-16m write_verify random $((16 << 20)) crand16
umount_export

# SPDX-License-Identifier: GPL-2.0
# Guest-side test helpers. Sourced.

RUN=/mnt/run
MNT=/mnt/9p
KO=$RUN/rnetfs.ko
DBG=/sys/kernel/debug/rnetfs
REF=/var/tmp/ref
SMALL=/mnt/small
mkdir -p $REF

say() { echo "RNETFS: $*" >/dev/console; }
pass() { echo "RNETFS-RESULT PASS $1" >/dev/console; }
# A failure is also written to the run share: a kernel message can cut a
# console line, and a lost FAIL line must not read as a pass.
fail() {
	echo "RNETFS-RESULT FAIL $1 ${2:-}" >/dev/console
	echo "$1 ${2:-}" >>$RUN/results/failed.txt
}

# The 9p export under test, with the page cache, so buffered writeback
# (netfs_writepages) is used.
mount_export() {
	mkdir -p $MNT
	mount_9p export $MNT ${1:-loose}
}
# mount_9p TAG DIR CACHE: one of qemu.sh's exports.
mount_9p() {
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=$3 $1 $2
}
umount_export() { umount $MNT; }

# Ask the host to compare FILE (relative to the export) against the
# expected content whose sha256 and size are given.
expect_host() {
	check_line "RNETFS-CHECK $1 $2 $3"
}
# A check line goes to the console and to the run share, where a kernel
# message cannot cut it (results.py makes the checks the console lost).
check_line() {
	echo "$1" >/dev/console
	echo "$1" >>$RUN/results/checks.txt
}
# Check a guest-side reference file against the 9p copy, from the host.
expect_same() {
	local rel=$1 ref=$2
	expect_host "$rel" "$(sha256sum <"$ref" | cut -d' ' -f1)" "$(stat -c %s "$ref")"
}

rnetfs_loaded() { grep -q '^rnetfs ' /proc/modules; }
load_rnetfs() { rnetfs_loaded || insmod $KO "$@"; }
unload_rnetfs() { ! rnetfs_loaded || rmmod rnetfs; }
stat_of() { awk -v k="$1" '$1 == k":" { print $2 }' $DBG/stats 2>/dev/null; }

# Nothing may stay under writeback once everything was synced: the
# system-wide count must drain to zero (the local root's own writeback is
# transient), and rnetfs must own no request and no folio any more.
no_writeback_left() {
	local wb i
	for i in $(seq 1 50); do
		sync
		wb=$(awk '/^Writeback:/ { print $2 }' /proc/meminfo)
		[ "$wb" = 0 ] && break
		sleep 0.2
	done
	[ "$wb" = 0 ] || { say "Writeback: $wb kB stuck after sync"; return 1; }
	if rnetfs_loaded; then
		local live
		live=$(stat_of live_requests)
		[ "${live:-0}" = 0 ] || { say "rnetfs live requests: $live"; return 1; }
	fi
}

# Every folio of FILE must be unlocked: reading it all back must not block.
readable() {
	timeout 60 cat "$1" >/dev/null || { say "$1: read back failed or blocked"; return 1; }
}

# Write a file through 9p, fsync it, and let the host compare its bytes.
# With rnetfs loaded, its writepages counter must have moved.
write_verify() {
	local mode=$1 size=$2 name=$3; shift 3
	local before after count=1
	[ "${1:-}" = --no-count ] && { count=0; shift; }
	before=$(stat_of writepages)
	python3 ./wtool.py "$mode" "$MNT/$name" "$REF/$name" "$size" "$RANDOM" --fsync "$@" || return 1
	expect_same "$name" "$REF/$name"
	no_writeback_left || return 1
	readable "$MNT/$name" || return 1
	if [ $count = 1 ] && rnetfs_loaded; then
		after=$(stat_of writepages)
		say "$name: rnetfs writepages $before -> $after"
		[ "${after:-0}" -gt "${before:-0}" ] || return 1
	fi
}

# A counter of /proc/fs/netfs/stats: netfs_stat LINE-PREFIX KEY
# A "key=value" counter of a stats file: stats_kv FILE LINE-PREFIX KEY
stats_kv() {
	awk -v l="$2" -v k="$3" '$0 ~ "^"l { for (i = 1; i <= NF; i++) if ($i ~ "^"k"=") { sub(k"=", "", $i); print $i } }' "$1"
}
netfs_stat() { stats_kv /proc/fs/netfs/stats "$1" "$2"; }

start_cachefilesd() {
	local i
	mkdir -p /var/cache/fscache
	# In the foreground, so that its complaints reach the console; without
	# culling (-N): the tests' data fits, and the culler of Debian's 0.10.10
	# was seen to abort mid-run.
	setsid cachefilesd -n -s -N </dev/null >/dev/console 2>&1 &
	for i in $(seq 1 50); do
		grep -q mycache /proc/fs/fscache/caches 2>/dev/null && break
		sleep 0.2
	done
	sleep 1
	cat /proc/fs/fscache/caches >/dev/console
	grep -q mycache /proc/fs/fscache/caches
}

stop_cachefilesd() {
	local pid i
	pid=$(pidof cachefilesd) || return 0
	kill $pid
	for i in $(seq 1 100); do
		kill -0 $pid 2>/dev/null || break
		sleep 0.2
	done
	! kill -0 $pid 2>/dev/null
}

# Cache I/O counted by cachefiles itself, whichever engine drove it:
# fscache_io rd|wr
fscache_io() { stats_kv /proc/fs/fscache/stats "IO " "$1"; }

# Run a test function: name, then the function and its arguments.
t() {
	local name=$1; shift
	say "--- $name"
	if "$@"; then pass "$name"; else fail "$name"; fi
}

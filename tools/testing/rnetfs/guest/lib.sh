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
	local wb=0 i
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

# verify [-m DIR] [-h REL | -H] [-c] [-s] NAME...
# The checks every test makes once its writes are synced. For each NAME (a
# file or directory written under DIR, its reference at $REF/NAME):
#   - the host compares the export's bytes with the reference after the run
#     (expect_same, or a manifest for a directory), REL being where it finds
#     NAME relative to the export (default: the export itself); -H: no host
#     check, for a mount the host compares later (after a remount, say);
#   - no folio is left locked: NAME reads back, without blocking;
#   - -c: the page cache holds what was written (cmp with the reference);
#   - -s: so does the server's copy, seen now through the run share.
# Then, once, and also with no NAME: nothing is left under writeback and
# rnetfs holds no request. Every check runs; each failure is said.
verify() {
	local dir=$MNT rel=. host=1 cache=0 server=0 rc=0 opt n hp OPTIND=1
	while getopts m:h:Hcs opt; do
		case $opt in
		m) dir=$OPTARG ;; h) rel=$OPTARG ;; H) host=0 ;; c) cache=1 ;; s) server=1 ;;
		*) return 2 ;;
		esac
	done
	shift $((OPTIND - 1))
	if [ $host = 1 ]; then
		for n; do
			hp=$n
			[ "$rel" = . ] || hp=$rel/$n
			if [ -d "$REF/$n" ]; then
				check_line "RNETFS-CHECKDIR $hp $(python3 ./wtool.py manifest "$REF/$n")"
			else
				expect_same "$hp" "$REF/$n"
			fi
		done
	fi
	no_writeback_left || rc=1
	for n; do
		[ -d "$REF/$n" ] && continue
		# cmp reads it all back too: it proves the folios unlocked.
		if [ $cache = 1 ]; then
			timeout 60 cmp "$dir/$n" "$REF/$n" >/dev/console 2>&1 ||
				{ say "$n: the page cache differs from what was written, or blocked"; rc=1; }
		else
			readable "$dir/$n" || rc=1
		fi
		if [ $server = 1 ] && ! cmp -s "$RUN/export/$rel/$n" "$REF/$n"; then
			say "$n: the server's copy differs: size $(stat -c %s "$RUN/export/$rel/$n" 2>&1), written $(stat -c %s "$REF/$n"), $(cmp "$RUN/export/$rel/$n" "$REF/$n" 2>&1 | head -1)"
			rc=1
		fi
	done
	return $rc
}

# Write a file through 9p, fsync it, and verify it. With rnetfs loaded, its
# writepages counter must have moved (--no-count: a path rnetfs does not
# take, O_SYNC's writethrough). Further arguments go to wtool.py.
write_verify() {
	local mode=$1 size=$2 name=$3; shift 3
	local before after count=1
	[ "${1:-}" = --no-count ] && { count=0; shift; }
	before=$(stat_of writepages)
	python3 ./wtool.py "$mode" "$MNT/$name" "$REF/$name" "$size" "$RANDOM" --fsync "$@" || return 1
	verify "$name" || return 1
	if [ $count = 1 ] && rnetfs_loaded; then
		after=$(stat_of writepages)
		say "$name: rnetfs writepages $before -> $after"
		[ "${after:-0}" -gt "${before:-0}" ] || return 1
	fi
}

# set_fault SPEC: arm (or, with "off", disarm) rnetfs's fault injector
# through its debugfs file; fails if the module refuses SPEC. The faults
# and matrix suites, and the Python drivers (guestlib.py calls it), all
# set faults here.
set_fault() {
	echo "$1" >$DBG/fault 2>/dev/null || { say "fault refused: $1"; return 1; }
	[ "$1" = off ] || say "fault: $(cat $DBG/fault)"
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

# ---- per-test subrequest counts (the afs and cifs suites) ----

engine_name() { rnetfs_loaded && echo rnetfs || echo C; }
# One seed per workload, the same for rnetfs and the C engine (the names
# differ in their r-/c- prefix only), so that their subrequest counts can
# be compared: from the suite's base $SEED (which it prints).
seed_for() { echo $(( (SEED + $(echo "${1#?-}" | cksum | cut -d' ' -f1)) % 1000003 )); }

# Subrequest counters on one "key=value ..." line: rnetfs's (empty without
# the module; COUNTER_KEYS), netfs's and cachefiles'.
COUNTER_KEYS="writepages upload_prepared upload_done upload_failed upload_bytes cache_prepared cache_done cache_failed cache_bytes retry_rounds retried"
counters() {
	local k
	for k in $COUNTER_KEYS; do echo -n "${k}=$(stat_of $k) "; done
	echo -n "WP=$(netfs_stat Writes WP) UL=$(netfs_stat UpldOps UL) us=$(netfs_stat UpldOps us) uf=$(netfs_stat UpldOps uf) "
	echo -n "WR=$(netfs_stat CaWrOps WR) ws=$(netfs_stat CaWrOps ws) wq=$(netfs_stat Retries wq) wrs=$(netfs_stat Retries ws) "
	echo "cachefiles_wr=$(fscache_io wr) cachefiles_rd=$(fscache_io rd)"
}
# The difference of two counters() lines, only what moved.
delta() { python3 ./cases.py counter_delta "$1" "$2"; }
# t with the subrequest counts printed, and kept as "NAME ENGINE DELTA" in
# the file $AT_TABLE if the suite set it: at NAME FUNCTION ARGS...
at() {
	local name=$1 c0 c1 t0 d; shift
	c0=$(counters); t0=$(date +%s)
	t "$name" "$@"
	c1=$(counters)
	d=$(delta "$c0" "$c1")
	say "$name: $(engine_name), $(($(date +%s) - t0)) s, subrequests: $d"
	[ -z "${AT_TABLE:-}" ] || echo "$name $(engine_name) $d" >>"$AT_TABLE"
}

# No task may stay in uninterruptible sleep (D): one seen in every look
# over about 5 s is reported (its stack too) and fails.
no_d_state() {
	local i p d=" " left
	for p in /proc/[0-9]*; do
		[ "$(awk '{ print $3 }' $p/stat 2>/dev/null)" = D ] && d="$d${p#/proc/} "
	done
	for i in 1 2 3 4 5; do
		[ "$d" = " " ] && return 0
		sleep 1
		left=" "
		for p in $d; do
			[ "$(awk '{ print $3 }' /proc/$p/stat 2>/dev/null)" = D ] && left="$left$p "
		done
		d=$left
	done
	[ "$d" = " " ] && return 0
	for p in $d; do
		say "task $p ($(cat /proc/$p/comm 2>/dev/null)) stays in D state:"
		cat /proc/$p/stack >/dev/console 2>&1
	done
	return 1
}

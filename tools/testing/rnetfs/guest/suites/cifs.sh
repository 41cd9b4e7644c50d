# SPDX-License-Identifier: GPL-2.0
# cifs (the SMB3 client) against a Samba server in the same guest
# (guest/samba.sh), writing back through netfs_writepages: the engine's
# workloads with rnetfs and with the C engine, in cache=strict and
# cache=loose, with wsize=64 KiB so that a folio spans several subrequests.
# Every file is compared byte for byte with the share's backing directory
# once the client has unmounted, and again through a fresh mount. rnetfs
# must have carried the writeback (its upload counters moved). Then both
# streams with fsc and cachefilesd; Samba granting few credits, with a trace
# check that no upload exceeded the limit cifs prepared it with; smbd
# killed under a large write and an mmap write (reconnect, retry); a full
# share and a share turned read-only (fsync's errno, the same for both
# engines); odd and bad mount options (refused, or working, never hanging);
# the writeback that finds no writable handle (the upload stream left
# unavailable: rnetfs must not lose the bytes silently, the C engine's
# outcome is recorded); a file larger than the guest's memory, on a share
# backed by the 9p export; the cold re-read from the cache after a remount.
# CIFS_SEQ_MB, CIFS_SEED: the sequential size and the base seed;
# CIFS_MODES, CIFS_PHASES: a part of the run only (for development; the
# phases separated by spaces or commas, so that a kernel parameter
# CIFS_PHASES=a,b, which reaches the guest's environment, can name them:
# RNETFS_APPEND=CIFS_PHASES=options,nohandle run-tests.sh cifs).
# The short variant (the default) runs cache=loose with the seq, random,
# mmap and concurrent workloads only; RNETFS_LONG=1 runs all of them there
# too.
. ./lib.sh
. ./samba.sh
set -u
MNT=/mnt/cifs
REF=$REF/cifs
rm -rf $REF && mkdir -p $REF
SEQ=${CIFS_SEQ_MB:-16}
SEED=${CIFS_SEED:-$RANDOM}
WSIZE=65536
TR=/sys/kernel/tracing
TABLE=$RUN/results/cifs-subrequests.txt
: >$TABLE
rm -f $RUN/results/cifs-kill.txt
say "cifs: seed $SEED"
# lib.sh's at (t with the subrequest counts: counters, delta) keeps each
# test's counts in $TABLE, for cifs_table.py.
AT_TABLE=$TABLE

# The mount under test: cifs_remount re-mounts it with the same options.
OPTS=""
mnt() { OPTS=$1; cifs_mount t $MNT "$OPTS"; }
cifs_remount() {
	sync
	umount $MNT || { say "cifs: umount $MNT failed"; return 1; }
	echo 3 >/proc/sys/vm/drop_caches
	cifs_mount t $MNT "$OPTS"
}

# rnetfs carried the writeback of what was just written: its writepages and
# upload counters moved, and all it prepared was answered; with the C
# engine, netfs's own upload counter moved (not the unbuffered path).
# carried NAME BEFORE(counters) AFTER(counters) [r|c]
carried() {
	python3 ./cifs_cases.py carried "$1" "$2" "$3" "${4:-$(rnetfs_loaded && echo r || echo c)}"
}

# The server's view of NAME (file or directory) against the reference:
# the backing directory once the client has unmounted, then a fresh mount.
server_same() {
	local name=$1
	sync
	umount $MNT || { say "cifs: umount $MNT failed"; return 1; }
	same_as_ref "$SMB_DIR/$name" "$REF/$name" || { say "$name: differs in the share's backing directory"; cifs_mount t $MNT "$OPTS"; return 1; }
	echo 3 >/proc/sys/vm/drop_caches
	cifs_mount t $MNT "$OPTS" || return 1
	same_as_ref "$MNT/$name" "$REF/$name" || { say "$name: differs through a fresh mount"; return 1; }
	say "$name: the backing directory and a fresh mount match the reference"
}
same_as_ref() {
	if [ -d "$2" ]; then
		[ "$(python3 ./wtool.py manifest "$1")" = "$(python3 ./wtool.py manifest "$2")" ]
	else
		cmp "$1" "$2" >/dev/console
	fi
}

# Write through cifs, fsync; nothing left under writeback or locked; the
# engine carried it; the server's bytes are the reference's.
cifs_write_verify() {
	local mode=$1 size=$2 name=$3 c0 c1
	c0=$(counters)
	python3 ./wtool.py "$mode" "$MNT/$name" "$REF/$name" "$size" "$(seed_for "$name")" --fsync || return 1
	no_writeback_left || return 1
	readable "$MNT/$name" || return 1
	c1=$(counters)
	carried "$name" "$c0" "$c1" >/dev/console || return 1
	server_same "$name"
}

files_verify() {
	local name=$1 c0 c1
	c0=$(counters)
	python3 ./wtool.py files "$MNT/$name" "$REF/$name" $((2 << 20)) "$(seed_for "$name")" --fsync || return 1
	no_writeback_left || return 1
	c1=$(counters)
	carried "$name" "$c0" "$c1" >/dev/console || return 1
	server_same "$name"
}

concurrent() {
	local p=$1 pids="" pid rc=0 i c0 c1
	c0=$(counters)
	python3 ./wtool.py seq "$MNT/$p-cc1" "$REF/$p-cc1" $((8 << 20)) 1 --fsync & pids="$pids $!"
	python3 ./wtool.py random "$MNT/$p-cc2" "$REF/$p-cc2" $((4 << 20)) 2 --fsync & pids="$pids $!"
	python3 ./wtool.py mmap "$MNT/$p-cc3" "$REF/$p-cc3" $((4 << 20)) 3 --fsync & pids="$pids $!"
	python3 ./wtool.py extend "$MNT/$p-cc4" "$REF/$p-cc4" $((8 << 20)) 4 --fsync & pids="$pids $!"
	for pid in $pids; do wait "$pid" || rc=1; done
	no_writeback_left || return 1
	c1=$(counters)
	carried "$p-concurrent" "$c0" "$c1" >/dev/console || rc=1
	for i in 1 2 3 4; do server_same "$p-cc$i" || rc=1; done
	return $rc
}

# The check itself must be able to fail: a reference one byte off is seen.
verify_can_fail() {
	local name=$1
	python3 ./wtool.py seq "$MNT/$name" "$REF/$name" $((64 << 10)) 5 --fsync || return 1
	python3 ./cases.py flip_byte "$REF/$name" 4097 || return 1
	if server_same "$name" 2>/dev/null; then say "a changed reference went unnoticed"; return 1; fi
	rm -f "$MNT/$name" "$REF/$name"
}

# And the "rnetfs carried it" check must be able to fail: counters that
# did not move are refused, for either engine.
carried_can_fail() {
	local c0="writepages=5 upload_done=3 upload_bytes=100 WP=1 UL=1"
	local c1="writepages=6 upload_done=4 upload_bytes=200 WP=2 UL=2"
	carried can-fail "$c0" "$c1" r >/dev/null && carried can-fail "$c0" "$c1" c >/dev/null ||
		{ say "carried() refused counters that moved"; return 1; }
	if carried can-fail "$c0" "$c0" r >/dev/null || carried can-fail "$c0" "$c0" c >/dev/null; then
		say "carried() accepted counters that did not move"; return 1
	fi
	# C's counters moving is not rnetfs carrying the writeback.
	! carried can-fail "$c0" "writepages=5 upload_done=3 upload_bytes=100 WP=2 UL=2" r >/dev/null
}

fsx_verify() {
	local name=$1
	python3 ./minifsx.py "$MNT/$name" "$REF/$name" 600 "$(seed_for "$name")" >/dev/console || return 1
	no_writeback_left || return 1
	server_same "$name"
}

# fsx.py processes on the mount; with rnetfs (p=r*), rnetfs is removed and
# inserted again under them (writeback handed to C and taken back). A
# failed rmmod (busy) is counted, not an error; insmod must not fail.
fsx_takeover() {
	local p=$1 i pids="" rc=0 ok=0 rmfail=0 insfail=0 t0 n=2 secs=${CIFS_FSX_TIME:-30}
	t0=$(date +%s)
	for i in $(seq 1 $n); do
		python3 ./fsx.py "$MNT/$p-fsx$i" "$REF/$p-fsx$i" --seed $(($(seed_for $p-fsx) + i)) \
			--ops 1000000 --time $secs --maxlen $((2 << 20)) --quiet >/dev/console 2>&1 &
		pids="$pids $!"
	done
	if [ "${p#r}" != "$p" ]; then
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
		load_rnetfs
	fi
	for i in $pids; do wait "$i" || rc=1; done
	say "$p-fsx: $n fsx.py for $(($(date +%s) - t0)) s; rmmod/insmod cycles: $ok done, $rmfail rmmod failures (busy), $insfail insmod failures"
	no_writeback_left || rc=1
	for i in $(seq 1 $n); do
		[ -f "$REF/$p-fsx$i" ] || { say "$p-fsx$i: no reference (fsx failed)"; rc=1; continue; }
		readable "$MNT/$p-fsx$i" || rc=1
		server_same "$p-fsx$i" || rc=1
	done
	[ $rc = 0 ] || return 1
	[ "${p#r}" = "$p" ] && return 0
	[ $ok -ge 2 ] || { say "$p-fsx: only $ok cycles"; return 1; }
	[ $insfail = 0 ]
}

cleanup() { local n; for n in "$@"; do rm -rf "${MNT:?}/$n" "${REF:?}/$n"; done; }

# Writes that bypass the page cache (guest/dio.py): cache=none makes every
# write unbuffered, O_DIRECT is direct in any mode. dio.py checks that
# netfs's unbuffered path carried them, and rnetfs when loaded; the share's
# backing directory and a fresh mount must hold the reference's bytes.
# The small wsize makes every write several subrequests, each with its own
# credits.
dio_verify() {
	local mode=$1 size=$2 name=$3; shift 3
	python3 ./dio.py write "$mode" "$MNT/$name" "$REF/$name" "$size" "$(seed_for "$name")" "$@" ||
		return 1
	server_same "$name"
}
direct_writes() {
	local p=$1
	mnt "cache=none,wsize=$WSIZE" || { fail $p-cifs-none-mount; return; }
	at $p-none-seq dio_verify seq $((4 << 20)) $p-none-seq --expect unbuffered
	at $p-none-rewrite dio_verify rewrite $((4 << 20)) $p-none-rewrite --expect unbuffered
	at $p-none-random dio_verify random $((1 << 20)) $p-none-random --expect unbuffered
	at $p-none-extend dio_verify extend $((2 << 20)) $p-none-extend --expect unbuffered
	at $p-none-append dio_verify append $((1 << 20)) $p-none-append --expect unbuffered
	cleanup $p-none-seq $p-none-rewrite $p-none-random $p-none-extend $p-none-append
	umount $MNT
	mnt "cache=strict,wsize=$WSIZE" || { fail $p-cifs-strict-mount; return; }
	at $p-direct-aligned dio_verify aligned $((2 << 20)) $p-direct-aligned --flags direct --expect dio
	at $p-direct-unaligned dio_verify unaligned $((2 << 20)) $p-direct-unaligned --flags direct --expect dio
	at $p-direct-rewrite dio_verify rewrite $((4 << 20)) $p-direct-rewrite --flags direct --expect dio
	# O_SYNC and RWF_DSYNC on a buffered mount: writethrough.
	at $p-wthru-osync dio_verify random $((1 << 20)) $p-wthru-osync --flags sync --expect writethrough
	at $p-wthru-rwf-dsync dio_verify seq $((2 << 20)) $p-wthru-rwf --rwf dsync --expect writethrough
	cleanup $p-direct-aligned $p-direct-unaligned $p-direct-rewrite $p-wthru-osync $p-wthru-rwf
	umount $MNT
	t $p-direct-no-d-state no_d_state
}

LONG=${RNETFS_LONG:-0}
# workloads PREFIX CACHE-MODE
workloads() {
	local p=$1-$2 all=1
	[ $2 = loose ] && [ "$LONG" != 1 ] && all=0
	mnt "cache=$2,wsize=$WSIZE" || { fail $p-cifs-mount; return; }
	say "cifs: $(grep " $MNT " /proc/mounts)"
	[ $p = c-strict ] && t cifs-verify-can-fail verify_can_fail check
	at $p-seq-${SEQ}m cifs_write_verify seq $((SEQ << 20)) $p-seq
	at $p-random-4k-4m cifs_write_verify random $((4 << 20)) $p-random
	if [ $all = 1 ]; then
		at $p-sparse-16m cifs_write_verify sparse $((16 << 20)) $p-sparse
		at $p-extend-8m cifs_write_verify extend $((8 << 20)) $p-extend
		at $p-truncate-dirty cifs_write_verify truncate $((8 << 20)) $p-truncate
	fi
	at $p-mmap-msync-4m cifs_write_verify mmap $((4 << 20)) $p-mmap
	[ $all = 1 ] && at $p-small-files files_verify $p-files
	at $p-concurrent concurrent $p
	if [ $all = 1 ]; then
		at $p-minifsx fsx_verify $p-mfsx
		at $p-fsx-takeover fsx_takeover $p
	fi
	cleanup $p-seq $p-random $p-sparse $p-extend $p-truncate $p-mmap $p-files $p-mfsx \
		$p-cc1 $p-cc2 $p-cc3 $p-cc4 $p-fsx1 $p-fsx2
	umount $MNT
}

# fsc: the write reaches the cache (cachefiles writes move; rnetfs's cache
# subrequests too when loaded) as well as the server.
cached_verify() {
	local mode=$1 size=$2 name=$3 c0 c1 wr0 wr1 cw0 cw1
	wr0=$(fscache_io wr); cw0=$(stat_of cache_done)
	cifs_write_verify "$mode" "$size" "$name" || return 1
	wr1=$(fscache_io wr); cw1=$(stat_of cache_done)
	say "$name: cachefiles writes $wr0 -> $wr1, rnetfs cache subrequests done $cw0 -> $cw1"
	if rnetfs_loaded; then
		[ "${cw1:-0}" -gt "${cw0:-0}" ] || { say "$name: rnetfs wrote nothing to the cache"; return 1; }
	fi
	[ "${wr1:-0}" -gt "${wr0:-0}" ] || { say "$name: nothing written to the cache"; return 1; }
}

# The cold re-read: written (both streams) and fsync'ed, then unmounted,
# the page cache dropped, mounted again and read back: cachefiles must
# have served reads (its rd counter moved) and the bytes must be the
# reference's, as must the share's backing file. Two things of cifs's
# would otherwise make that first cold read miss, with either engine:
#  - the object written by the mount that created the file is not found
#    by the next mount at all (no check in the cachefiles_coherency trace:
#    it is looked up under another key, cifs's key being the server's
#    inode number and creation time as that mount had them): the file is
#    created empty and the mount made again before it is written;
#  - the object's coherency data are the inode's mtime and ctime as the
#    last writer closed it, which are the client's own, not the times the
#    server gave the file when the writeback reached it ("BAD aux" then):
#    once the writer closed, the times are refreshed from the server
#    (actimeo=1, closetimeo=1: 2 s later) and the file opened for writing
#    and closed again, which stores them in the object.
# Then the first cold read must be served from what the engine wrote to
# the cache. COLD_PLAIN=1 does neither: the first cold read then refills
# the object from the server (copy-to-cache, the cache stream alone) and
# the second must be served from that. Which pass was served is printed;
# the coherency events are kept in results/cifs-trace-NAME.txt.
file_times() { say "$1: $2: $(stat -c 'birth %W mtime %.9Y ctime %.9Z ino %i size %s' "$MNT/$1")"; }
cold_reread() {
	local name=$1 pass rd0 rd1 wr0 wr1 hit="" last=1 f=$RUN/results/cifs-trace-$1.txt
	wr0=$(fscache_io wr)
	if [ "${COLD_PLAIN:-0}" != 1 ]; then
		: >"$MNT/$name"
		file_times "$name" created
		cifs_remount || return 1
		file_times "$name" remounted
	fi
	python3 ./wtool.py seq "$MNT/$name" "$REF/$name" $((8 << 20)) "$(seed_for "$name")" --fsync || return 1
	no_writeback_left || return 1
	file_times "$name" written
	wr1=$(fscache_io wr)
	[ "${wr1:-0}" -gt "${wr0:-0}" ] || { say "$name: nothing written to the cache"; return 1; }
	if [ "${COLD_PLAIN:-0}" = 1 ]; then
		last=2
	else
		sleep 2
		stat -c "$name: mtime %y ctime %z from the server" "$MNT/$name" | sed 's/^/RNETFS: /' >/dev/console
		(exec 3<>"$MNT/$name") || return 1
	fi
	: >$f
	echo 1 >$TR/tracing_on
	echo 1 >$TR/events/cachefiles/cachefiles_coherency/enable
	for pass in $(seq 1 $last); do
		echo >$TR/trace
		cifs_remount || return 1
		file_times "$name" "remounted for pass $pass"
		rd0=$(fscache_io rd)
		cmp "$MNT/$name" "$REF/$name" >/dev/console || { say "$name: cold read $pass differs"; return 1; }
		rd1=$(fscache_io rd)
		grep cachefiles_coherency $TR/trace >>$f
		say "$name: cold read $pass: cachefiles reads $rd0 -> $rd1; $(grep -E '^(IO|Acquire|Invals)' /proc/fs/fscache/stats | tr -s ' \n' ' ')"
		say "$name: cold read $pass: coherency: $(grep cachefiles_coherency $TR/trace | grep -oE '(BAD|OK|SET) [a-z]*' | sort | uniq -c | tr -s ' \n' ' ')"
		[ "${rd1:-0}" -gt "${rd0:-0}" ] && { hit=$pass; break; }
	done
	echo 0 >$TR/events/cachefiles/cachefiles_coherency/enable
	[ -n "$hit" ] || { say "$name: the re-read was not served from the cache"; return 1; }
	say "$name: cold read $hit served from the cache"
	cmp $SMB_DIR/$name $REF/$name >/dev/console || { say "$name: the backing file differs"; return 1; }
}

fscache_workloads() {
	local p=$1
	mnt "cache=strict,wsize=$WSIZE,fsc" || { fail $p-cifs-fscache-mount; return; }
	at $p-fscache-seq-16m cached_verify seq $((16 << 20)) $p-fc-seq
	at $p-fscache-random-4m cached_verify random $((4 << 20)) $p-fc-random
	at $p-fscache-mmap-4m cached_verify mmap $((4 << 20)) $p-fc-mmap
	at $p-fscache-extend-8m cached_verify extend $((8 << 20)) $p-fc-extend
	at $p-fscache-cold-reread cold_reread $p-fc-cold
	COLD_PLAIN=1 at $p-fscache-cold-reread-plain cold_reread $p-fc-cold2
	cleanup $p-fc-seq $p-fc-random $p-fc-mmap $p-fc-extend $p-fc-cold $p-fc-cold2
	umount $MNT
}

# ---- credits, reconnects ----

trace_start() {
	echo 0 >$TR/tracing_on
	echo 16384 >$TR/buffer_size_kb
	echo >$TR/trace
	echo 1 >$TR/events/netfs/netfs_sreq/enable
	echo 1 >$TR/events/cifs/smb3_rw_credits/enable
	echo 1 >$TR/events/cifs/smb3_reconnect/enable 2>/dev/null
	echo 1 >$TR/tracing_on
}
# trace_stop FILE: keep the trace on the run share.
trace_stop() {
	echo 0 >$TR/tracing_on
	cat $TR/trace >"$1"
	echo 0 >$TR/events/netfs/netfs_sreq/enable
	echo 0 >$TR/events/cifs/smb3_rw_credits/enable
	echo 0 >$TR/events/cifs/smb3_reconnect/enable 2>/dev/null
	echo >$TR/trace
}

# Samba capped at CREDITS: a 1 MiB wsize needs 16 credits a subrequest,
# cifs keeps 8 back, so every upload is cut to what the credits left allow.
# The trace must show that each upload subrequest was prepared (cifs took
# credits for it) before every submission and never exceeded the limit
# those credits gave, and that the credits did limit some.
CREDITS=${CIFS_CREDITS:-16}
credits() {
	local p=$1 name=$1-credits f=$RUN/results/cifs-trace-$1-credits.txt
	trace_start
	python3 ./wtool.py seq "$MNT/$name" "$REF/$name" $((16 << 20)) "$(seed_for "$name")" --fsync ||
		{ trace_stop $f; return 1; }
	python3 ./wtool.py random "$MNT/$name-r" "$REF/$name-r" $((4 << 20)) "$(seed_for "$name-r")" --fsync ||
		{ trace_stop $f; return 1; }
	trace_stop $f
	no_writeback_left || return 1
	python3 ./cifs_credits.py --wsize $((1 << 20)) --max-credits $CREDITS --need-limited $f >/dev/console || return 1
	server_same "$name" && server_same "$name-r"
}

# The session's smbd: the child of the listening smbd that is not one of
# those in BEFORE (the smbd children before the mount).
new_child() {
	local before=" $1 " c
	for c in $(smbd_children); do
		case "$before" in *" $c "*) ;; *) echo "$c"; return 0 ;; esac
	done
	return 1
}
up_count() { if rnetfs_loaded; then stat_of upload_prepared; else netfs_stat UpldOps UL; fi; }
reconnects() { awk '/session .* share reconnects/ { s += $1 } END { print s + 0 }' /proc/fs/cifs/Stats; }

# Kill the smbd serving the mount while a large write (or an mmap write)
# is being written back: cifs reconnects, the failed subrequests are
# retried (re-prepared: fresh credits, the handle reopened). On a hard
# mount (WANT=all) the writer must succeed and every byte arrive; on a soft
# one (cifs's default, WANT=reported) cifs may give up and fail the write,
# but never silently: if fsync succeeded, every byte is there. Nothing is
# left locked or under writeback either way; the trace passes
# cifs_credits.py (every submission freshly prepared, within its limit).
# kill_serving NAME MODE SIZE WANT [MAX_CREDITS]
kill_serving() {
	local name=$1 mode=$2 size=$3 want=$4 maxc=${5:-0} f=$RUN/results/cifs-trace-$1.txt
	local before pid w rc=0 i r0 r1 c0 c1 u0 wrc lost=no e credrc c_defect=no
	umount $MNT 2>/dev/null
	before=$(smbd_children | tr '\n' ' ')
	cifs_mount t $MNT "$OPTS" || return 1
	# The server side of a session: the new smbd child (a short-lived
	# one can come and go: it must be the one smbstatus lists).
	for i in $(seq 1 50); do
		pid=$(new_child "$before") && smbstatus -p 2>/dev/null | awk '{ print $1 }' | grep -qx "$pid" && break
		pid=""
		sleep 0.2
	done
	[ -n "$pid" ] || { say "$name: no smbd child for the mount"; smbstatus -p >/dev/console 2>&1; return 1; }
	r0=$(reconnects); c0=$(counters)
	trace_start
	python3 ./wtool.py "$mode" "$MNT/$name" "$REF/$name" "$size" "$(seed_for "$name")" --fsync 2>/tmp/$name.err &
	w=$!
	# Once the writeback of this file is under way: a few uploads sent
	# (the root's own writeback would fool /proc/meminfo's Writeback).
	u0=$(up_count)
	for i in $(seq 1 1200); do
		[ $(($(up_count) - u0)) -ge 4 ] && break
		kill -0 $w 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 $w 2>/dev/null; then
		kill -9 "$pid" && say "$name: killed smbd $pid after $(($(up_count) - u0)) uploads, Writeback $(awk '/^Writeback:/ { print $2 }' /proc/meminfo) kB"
	else
		say "$name: the write ended before smbd could be killed"; rc=1
	fi
	wait $w
	wrc=$?
	trace_stop $f
	e=$(grep -oE "Errno [0-9]+" /tmp/$name.err | head -1)
	[ $wrc = 0 ] || { say "$name: the writer failed: ${e:-exit $wrc}"; cat /tmp/$name.err >/dev/console; }
	r1=$(reconnects); c1=$(counters)
	say "$name: cifs reconnects $r0 -> $r1; $(delta "$c0" "$c1")"
	[ "$r1" -gt "$r0" ] || { say "$name: cifs did not reconnect"; rc=1; }
	no_writeback_left || rc=1
	readable "$MNT/$name" || rc=1
	python3 ./cifs_credits.py --wsize $(wsize_of) --max-credits $maxc $f >/tmp/$name.credits
	credrc=$?
	cat /tmp/$name.credits >/dev/console
	# The C engine's issuer can send more than its credits allow while
	# its retryer re-prepares (they race on the stream's limits); cifs
	# refuses it and the bytes are lost. Recorded as netfs's defect for
	# the C run only: rnetfs must pass as it is.
	if [ $credrc != 0 ] && ! rnetfs_loaded && grep -q VIOLATION /tmp/$name.credits; then
		c_defect=yes
	fi
	[ $credrc = 0 ] || [ $c_defect = yes ] || rc=1
	server_same "$name" || lost=yes
	say "$name: $(engine_name), $OPTS: writer ${e:-ok}, bytes lost: $lost"
	echo "$name $(engine_name) writer=${e:-ok} lost=$lost" >>$RUN/results/cifs-kill.txt
	if [ $want = all ]; then
		if [ $c_defect = yes ] && { [ $wrc != 0 ] || [ $lost = yes ]; }; then
			say "$name: C engine defect, recorded: a submission beyond its credits while the retryer re-prepared (cifs_credits VIOLATION), cifs refused it; writer ${e:-ok}, bytes lost: $lost"
		else
			[ $wrc = 0 ] && [ $lost = no ] || rc=1
		fi
	else
		[ $wrc != 0 ] || [ $lost = no ] || { say "$name: bytes lost, and the writer was told nothing"; rc=1; }
	fi
	return $rc
}
wsize_of() { grep " $MNT cifs " /proc/mounts | grep -o 'wsize=[0-9]*' | cut -d= -f2; }

# ---- server faults ----

# The small share (a tmpfs): 2 MiB fsync'ed, then more than fits must fail
# in write() or fsync() (the errno is kept to compare the engines); nothing
# stays under writeback or locked, the acknowledged file is intact in the
# backing directory, and the share is usable once room is made.
full_share() {
	local p=$1 d=/mnt/cifs-small err=/tmp/$1-full.err e rc=0
	rm -rf ${SMB_SMALL:?}/*
	cifs_mount small $d "cache=strict,wsize=$WSIZE" || return 1
	python3 ./wtool.py seq $d/acked $REF/$p-full-acked $((2 << 20)) 7 --fsync || { umount $d; return 1; }
	if python3 ./wtool.py seq $d/over $REF/$p-full-over $((48 << 20)) 8 --fsync 2>$err; then
		say "$p: 48 MiB fitted in a $SMB_SMALL_SIZE share"; umount $d; return 1
	fi
	e=$(grep -oE "Errno [0-9]+" $err | head -1)
	grep -E "os\.(fsync|pwrite)|Error" $err >/dev/console
	say "$p-full: $e ($(grep -oE 'in [a-z_]+|os\.[a-z]+' $err | tail -1))"
	echo "$e" >/tmp/full-errno-$p
	case "$e" in "Errno 28"|"Errno 5"|"Errno 122") ;; *) cat $err >/dev/console; rc=1 ;; esac
	no_writeback_left || rc=1
	timeout 60 cat $d/over >/dev/null || { say "$p-full: reading the failed file back blocked or failed"; rc=1; }
	rm -f $d/over || rc=1
	python3 ./wtool.py random $d/after $REF/$p-full-after $((1 << 20)) 9 --fsync || rc=1
	no_writeback_left || rc=1
	umount $d || rc=1
	cmp $SMB_SMALL/acked $REF/$p-full-acked >/dev/console || { say "$p-full: the fsync'ed file changed"; rc=1; }
	cmp $SMB_SMALL/after $REF/$p-full-after >/dev/console || { say "$p-full: the file written after differs"; rc=1; }
	return $rc
}

# The rofs share (ext4, errors=remount-ro) forced read-only while a file is
# open for writing with 8 MiB dirty, 4 MiB more written after: fsync must
# fail, with the errno the other engine got; the fsync'ed file stays intact;
# nothing stays locked or under writeback; the mount still answers.
rofs_share() {
	local p=$1 d=/mnt/cifs-rofs e rc=0
	smb_rofs_fresh || return 1
	cifs_mount rofs $d "cache=strict,wsize=$WSIZE" || return 1
	python3 ./wtool.py seq $d/acked $REF/$p-rofs-acked $((2 << 20)) 31 --fsync || { umount $d; return 1; }
	python3 ./cifs_cases.py rofs_live $d/live $SMB_ROFS >/tmp/$p-rofs.out 2>&1 || rc=1
	sed "s/^/RNETFS: $p-rofs: /" /tmp/$p-rofs.out >/dev/console
	! touch $SMB_ROFS/.probe 2>/dev/null || { say "$p-rofs: the share's ext4 did not turn read-only"; rc=1; }
	e=$(awk '$1 == "fsync" && $2 == "errno" { print $3 }' /tmp/$p-rofs.out)
	echo "$e" >/tmp/rofs-errno-$p
	[ -n "$e" ] || rc=1
	no_writeback_left || rc=1
	timeout 60 cat $d/live >/dev/null || { say "$p-rofs: reading the file back blocked or failed"; rc=1; }
	cmp $d/acked $REF/$p-rofs-acked >/dev/console || rc=1
	timeout 60 python3 ./wtool.py seq $d/new $REF/$p-rofs-new 4096 1 --fsync 2>/dev/null &&
		{ say "$p-rofs: wrote to a read-only share"; rc=1; }
	umount $d || rc=1
	cmp $SMB_ROFS/acked $REF/$p-rofs-acked >/dev/console || { say "$p-rofs: the fsync'ed file changed"; rc=1; }
	return $rc
}

# ---- a file larger than the guest's memory ----

# MemTotal and an eighth more, written through cifs (the default wsize) to
# [big], on the 9p export: writeback runs under memory pressure, from
# reclaim and the flusher, not only from fsync. No reference copy (it would
# not fit either): the writer's sha256 is checked by the host on the
# export (host-bytes:cifs-big/P-big) once the run is over, and here the
# backing file's size once the client unmounted; the last 64 MiB are read
# back through cifs first (no folio left locked).
bigger_than_ram() {
	local p=$1 d=/mnt/cifs-big name=$1-big size out c0 c1 v0 rc=0
	size=$(awk '/^MemTotal:/ { print int($2 / 1024 * 9 / 8) }' /proc/meminfo)
	smb_big_mount || return 1
	rm -f $SMB_BIG/$name
	cifs_mount big $d "cache=strict" || { umount $SMB_BIG_MNT; return 1; }
	c0=$(counters)
	# The writer has failed with EFAULT under rnetfs (2 of 5 runs, never
	# with C): netfs_perform_write() fails a copy from the
	# user's buffer that comes back empty, where generic_perform_write()
	# faults it in again; a page migrated under memory pressure may do
	# that. What reclaim and compaction did is shown, to tell.
	v0=$(awk '/^(compact_stall|compact_success|compact_fail|pgmigrate_success|pgmigrate_fail|allocstall_normal|oom_kill) / { printf "%s=%s ", $1, $2 }' /proc/vmstat)
	out=$(python3 ./wtool.py big $d/$name - $((size << 20)) "$(seed_for "$name")" --fsync) || rc=1
	say "$name: $size MiB written (guest memory $(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo) MiB): ${out:-the writer failed}"
	say "$name: vmstat before: $v0"
	say "$name: vmstat after:  $(awk '/^(compact_stall|compact_success|compact_fail|pgmigrate_success|pgmigrate_fail|allocstall_normal|oom_kill) / { printf "%s=%s ", $1, $2 }' /proc/vmstat)"
	no_writeback_left || rc=1
	timeout 120 dd if=$d/$name of=/dev/null bs=1M skip=$((size - 64)) status=none ||
		{ say "$name: reading the tail back failed or blocked"; rc=1; }
	c1=$(counters)
	carried "$name" "$c0" "$c1" >/dev/console || rc=1
	umount $d || rc=1
	# shellcheck disable=SC2086
	[ -n "$out" ] && expect_host "${SMB_BIG#$SMB_BIG_MNT/}/$name" $out
	say "$name: the backing file has $(stat -c %s $SMB_BIG/$name 2>&1) bytes"
	[ -n "$out" ] && [ "$(stat -c %s $SMB_BIG/$name)" = "${out#* }" ] || rc=1
	umount $SMB_BIG_MNT || rc=1
	return $rc
}

# ---- mount options cifs refuses, or makes odd ----

# bad_mount P LABEL SHARE OPTIONS: mounting //127.0.0.1/SHARE with exactly
# OPTIONS must end within 120 s: refused, with nothing left mounted, or
# mounted, and then a 4 MiB write, fsync and umount must end within 120 s
# too; if the write and fsync succeeded, the share's backing file must
# hold what was written (an error from them is cifs's business, a hang or
# a silent loss is not). Either way no task stays in D state. The outcome
# is printed and kept in results/cifs-mount-options.txt.
MOUNT_OPTS_TXT=$RUN/results/cifs-mount-options.txt
bad_mount() {
	local p=$1 label=$2 share=$3 opts=$4 d=/mnt/cifs-opt name=$1-opt-$2 rc=0 mrc wrc=- urc=- what c0 c1
	mkdir -p $d
	c0=$(counters)
	timeout 120 mount -t cifs "//127.0.0.1/$share" $d -o "$opts" </dev/null >/tmp/$name.err 2>&1
	mrc=$?
	if [ $mrc = 124 ]; then
		what="mount hung (120 s)"; rc=1
	elif [ $mrc != 0 ]; then
		what="refused ($(grep -m1 "error" /tmp/$name.err | cut -c1-100))"
		mountpoint -q $d && { what="$what, yet mounted"; rc=1; umount $d; }
	else
		say "$name: $(grep " $d cifs " /proc/mounts)"
		timeout 120 python3 ./wtool.py seq $d/$name $REF/$name $((4 << 20)) "$(seed_for "$name")" --fsync 2>/tmp/$name.err
		wrc=$?
		timeout 120 umount $d
		urc=$?
		c1=$(counters)
		what="mounted; write+fsync $([ $wrc = 0 ] && echo ok || echo "failed ($wrc: $(grep -oE "Errno [0-9]+.*" /tmp/$name.err | head -1))")"
		[ $urc = 0 ] || { what="$what; umount failed ($urc)"; rc=1; }
		[ $wrc = 124 ] && { what="$what (hung)"; rc=1; }
		if [ $wrc = 0 ]; then
			if cmp $SMB_DIR/$name $REF/$name >/dev/console 2>&1; then
				what="$what; bytes ok; $(delta "$c0" "$c1")"
			else
				what="$what; the backing file differs"; rc=1
			fi
		fi
	fi
	mountpoint -q $d && umount -l $d
	no_d_state || { what="$what; a task stays in D state"; rc=1; }
	rm -f "${SMB_DIR:?}/$name" "${REF:?}/$name"
	say "$name: $(engine_name), $opts: $what"
	echo "$name $(engine_name) $what" >>$MOUNT_OPTS_TXT
	return $rc
}
mount_options() {
	local p=$1 base="username=$SMB_USER,password=$SMB_PASS,nosharesock"
	t $p-mount-wsize-0 bad_mount $p wsize-0 t "$base,vers=3.1.1,wsize=0"
	t $p-mount-wsize-1 bad_mount $p wsize-1 t "$base,vers=3.1.1,wsize=1"
	t $p-mount-wsize-4095 bad_mount $p wsize-4095 t "$base,vers=3.1.1,wsize=4095"
	# Larger than Samba's 8 MiB SMB2 maximum (negotiated down), and than
	# a u32.
	t $p-mount-wsize-16m bad_mount $p wsize-16m t "$base,vers=3.1.1,wsize=16777216"
	t $p-mount-wsize-4g bad_mount $p wsize-4g t "$base,vers=3.1.1,wsize=4294967296"
	t $p-mount-rsize-1 bad_mount $p rsize-1 t "$base,vers=3.1.1,rsize=1"
	t $p-mount-vers-bogus bad_mount $p vers-bogus t "$base,vers=9.9"
	# SMB1, which the server refuses (server min protocol = SMB3).
	t $p-mount-vers-1.0 bad_mount $p vers-1.0 t "$base,vers=1.0"
	t $p-mount-no-share bad_mount $p no-share nosuchshare "$base,vers=3.1.1"
	t $p-mount-bad-password bad_mount $p bad-password t "username=$SMB_USER,password=wrong-$SMB_PASS,vers=3.1.1,nosharesock"
	t $p-mount-cache-bogus bad_mount $p cache-bogus t "$base,vers=3.1.1,cache=bogus"
	t $p-mount-odd-timeouts bad_mount $p odd-timeouts t "$base,vers=3.1.1,actimeo=0,closetimeo=0,echo_interval=1,soft,retrans=0"
}

# ---- no writable handle: the upload stream unavailable ----

# With closetimeo=0 (no deferred close), a file written and fsync'ed, mapped
# shared, its fd closed, new bytes stored through the map and the map
# removed: cifs has closed its handle on the server, so the writeback of
# sync() finds none: cifs's begin_writeback says "No writable handle" and
# leaves the upload stream unavailable. The C engine then ends those
# folios as written (netfs_write_folio's !upload->avail && !cache->avail);
# rnetfs must either get the bytes to the server after all (redirtied,
# written by the fsync of a new open) or report the loss: a new open, or
# its fsync, fails (cifs's open revalidates the page cache, whose flush
# returns the mapping's AS_EIO; the fsync sees its wb_err). Silently losing
# them is a failure for rnetfs and is recorded (not failed) for C. The path
# must have been taken: the kernel log has cifs's line (and rnetfs counted
# it). (The mmap goes through ctypes: Python's mmap keeps a dup of the fd,
# whose close would write the pages back through the handle.) Outcomes in
# results/cifs-nohandle.txt.
NOHANDLE_TXT=$RUN/results/cifs-nohandle.txt
no_handle() {
	local p=$1 d=/mnt/cifs-nh name=$1-nohandle rc=0 n0 n1 u0 u1 op fs pc srv verdict
	cifs_mount t $d "cache=strict,closetimeo=0" || return 1
	n0=$(dmesg | grep -c "No writable handle")
	u0=$(stat_of upload_unavailable)
	python3 ./cifs_cases.py no_handle_write $d/$name $REF/$name.old $REF/$name.new >/tmp/$name.out 2>&1 || rc=1
	sed "s/^/RNETFS: $name: /" /tmp/$name.out >/dev/console
	n1=$(dmesg | grep -c "No writable handle")
	u1=$(stat_of upload_unavailable)
	dmesg | grep "No writable handle" | tail -n $((n1 - n0)) | sed "s/^/RNETFS: $name: kernel: /" >/dev/console
	no_writeback_left || rc=1
	readable $d/$name || rc=1
	umount $d || rc=1
	if cmp -s $SMB_DIR/$name $REF/$name.new; then srv=new
	elif cmp -s $SMB_DIR/$name $REF/$name.old; then srv=old
	else
		srv=other
		say "$name: the share's file: $(stat -c '%s bytes' $SMB_DIR/$name 2>&1); against the old bytes: $(cmp $SMB_DIR/$name $REF/$name.old 2>&1 | head -1); against the new: $(cmp $SMB_DIR/$name $REF/$name.new 2>&1 | head -1)"
	fi
	op=$(awk '$1 == "open:" { print "ok" } $1 == "open" && $2 == "errno" { print "errno-" $3 }' /tmp/$name.out)
	fs=$(awk '$1 == "fsync:" { print "ok" } $1 == "fsync" && $2 == "errno" { print "errno-" $3 }' /tmp/$name.out)
	pc=$(awk '$1 == "page" && $2 == "cache:" { print $3 }' /tmp/$name.out)
	case "$srv/${op:-none}/${fs:-none}" in
	new/*) verdict="written: the share has the bytes stored through the map" ;;
	old/errno*/*) verdict="lost, reported: the new open failed ($op), then its fsync: $fs" ;;
	old/ok/errno*) verdict="lost, reported: the fsync of a new open failed ($fs)" ;;
	old/ok/ok) verdict="lost silently: the share has the old bytes, and open and fsync said nothing" ;;
	*) verdict="the share's file is neither the old nor the new bytes (open: ${op:-none}, fsync: ${fs:-none})" ;;
	esac
	say "$name: $(engine_name): 'No writable handle' $((n1 - n0)) times; rnetfs upload_unavailable ${u0:--} -> ${u1:--}; $verdict; the page cache holds the ${pc:-?} bytes"
	echo "$name $(engine_name) handle-missing=$((n1 - n0)) open=${op:-none} fsync=${fs:-none} share=$srv page-cache=${pc:-?}: $verdict" >>$NOHANDLE_TXT
	[ $((n1 - n0)) -gt 0 ] || { say "$name: not provoked: cifs found a writable handle"; rc=1; }
	[ $srv != other ] || rc=1
	if rnetfs_loaded; then
		[ "${u1:-0}" -gt "${u0:-0}" ] || { say "$name: rnetfs did not count the unavailable upload stream"; rc=1; }
		[ "$srv/${op:-none}/${fs:-none}" != old/ok/ok ] || rc=1
	fi
	rm -f "${SMB_DIR:?}/$name" "$REF/$name".*
	return $rc
}

same_errno() {
	local what=$1
	say "$what errno: rnetfs '$(cat /tmp/$what-errno-r 2>/dev/null)', C '$(cat /tmp/$what-errno-c 2>/dev/null)'"
	[ -s /tmp/$what-errno-r ] && cmp -s /tmp/$what-errno-r /tmp/$what-errno-c
}

# ---- the run ----
ta=$(date +%s)
stop_cachefilesd
say "--- cifs-server"
if setup_samba && start_smbd; then
	pass cifs-server
else
	fail cifs-server "smbd did not start (see $SMB_LOG)"
	exit 0
fi

PHASES=" ${CIFS_PHASES:-workloads direct faults options nohandle bigfile fscache reconnect credits} "
PHASES=${PHASES//,/ }
phase() { [[ "$PHASES" == *" $1 "* ]]; }
t cifs-carried-can-fail carried_can_fail
phase workloads &&
for mode in ${CIFS_MODES:-strict loose}; do
	load_rnetfs || fail rnetfs-load
	workloads r $mode
	say "rnetfs stats:"; cat $DBG/stats >/dev/console
	unload_rnetfs
	workloads c $mode
done
cat /proc/fs/netfs/stats >/dev/console

if phase direct; then
	load_rnetfs || fail rnetfs-load
	direct_writes r
	say "rnetfs stats:"; cat $DBG/stats >/dev/console
	unload_rnetfs
	direct_writes c
fi

# Server faults (before the fscache and credit phases change the server).
if phase faults; then
load_rnetfs || fail rnetfs-load
at r-full-share full_share r
at r-rofs-share rofs_share r
unload_rnetfs
at c-full-share full_share c
at c-rofs-share rofs_share c
t cifs-full-same-errno same_errno full
t cifs-rofs-same-errno same_errno rofs
fi

# Odd mount options, then the missing writable handle, each with rnetfs and
# with the C engine.
: >$MOUNT_OPTS_TXT
: >$NOHANDLE_TXT
for p in r c; do
	if [ $p = r ]; then load_rnetfs || fail rnetfs-load; else unload_rnetfs; fi
	phase options && mount_options $p
	phase nohandle && at $p-no-writable-handle no_handle $p
	phase bigfile && at $p-bigger-than-ram bigger_than_ram $p
done
unload_rnetfs
if phase options; then say "cifs mount options:"; cat $MOUNT_OPTS_TXT >/dev/console; fi
if phase nohandle; then say "cifs without a writable handle:"; cat $NOHANDLE_TXT >/dev/console; fi

if phase fscache && t cifs-cachefilesd-start start_cachefilesd; then
	load_rnetfs || fail rnetfs-load
	fscache_workloads r
	say "rnetfs stats:"; cat $DBG/stats >/dev/console
	unload_rnetfs
	fscache_workloads c
	cat /proc/fs/fscache/stats >/dev/console
	stop_cachefilesd
fi

# Reconnects, with the default credits: on a hard mount, then on a soft
# one (cifs's default).
phase reconnect &&
for p in r c; do
	if [ $p = r ]; then load_rnetfs || fail rnetfs-load; else unload_rnetfs; fi
	OPTS="cache=strict,wsize=$WSIZE,hard"
	at $p-kill-smbd-seq kill_serving $p-kill-seq seq $((48 << 20)) all
	at $p-kill-smbd-mmap kill_serving $p-kill-mmap mmap $((16 << 20)) all
	OPTS="cache=strict,wsize=$WSIZE"
	at $p-kill-smbd-soft kill_serving $p-kill-soft seq $((48 << 20)) reported
	cleanup $p-kill-seq $p-kill-mmap $p-kill-soft
	umount $MNT
done

# Few credits: Samba restarted with smb2 max credits = $CREDITS.
if phase credits && t cifs-server-few-credits start_smbd $CREDITS; then
	for p in r c; do
		if [ $p = r ]; then load_rnetfs || fail rnetfs-load; else unload_rnetfs; fi
		OPTS="cache=strict,wsize=$((1 << 20))"
		if cifs_mount t $MNT "$OPTS"; then
			say "cifs: $(grep " $MNT " /proc/mounts)"
			at $p-credits credits $p
			# A reconnect with few credits: retries re-prepared, split
			# to what the fresh credits allow.
			OPTS="$OPTS,hard"
			at $p-credits-kill-smbd kill_serving $p-credits-kill seq $((32 << 20)) all $CREDITS
			cleanup $p-credits $p-credits-r $p-credits-kill
			umount $MNT
		else
			fail $p-credits-mount
		fi
	done
fi
unload_rnetfs
stop_smbd
say "cifs subrequests per workload (engine, counter deltas):"
cat $TABLE >/dev/console
python3 ./cifs_table.py $TABLE >/dev/console
[ -f $RUN/results/cifs-kill.txt ] && { say "cifs reconnects (smbd killed):"; cat $RUN/results/cifs-kill.txt >/dev/console; }
say "cifs suite took $(($(date +%s) - ta)) s"

# SPDX-License-Identifier: GPL-2.0
# Fault injection through /sys/kernel/debug/rnetfs/fault (short CI variant):
# transient errors and short writes are retried until every byte is on the
# host; a permanent error reaches fsync, loses nothing acknowledged and
# leaves nothing locked or under writeback; bad input is refused.
. ./lib.sh
FAULT=$DBG/fault

set_fault() { echo "$1" >$FAULT && say "fault: $(cat $FAULT)"; }

# Transient faults: the data must all arrive, through the retryer.
transient() {
	local spec=$1 mode=$2 size=$3 name=$4 r0 r1 i0 i1
	r0=$(stat_of retried); i0=$(stat_of faults_injected)
	set_fault "$spec" || return 1
	write_verify "$mode" "$size" "$name"
	local rc=$?
	set_fault off
	r1=$(stat_of retried); i1=$(stat_of faults_injected)
	say "$name: $((i1 - i0)) faults injected, $((r1 - r0)) subrequests retried"
	[ $rc = 0 ] && [ $((i1 - i0)) -gt 0 ] && [ $((r1 - r0)) -gt 0 ]
}

# Late sends: subrequests delayed, or held until a later one of their
# stream completed (completions out of order). Nothing is retried; every
# byte must arrive all the same.
late() {
	local spec=$1 mode=$2 size=$3 name=$4 h0 h1 tr=/sys/kernel/tracing ooo=1
	h0=$(stat_of held)
	echo 0 >$tr/tracing_on; echo >$tr/trace
	echo 1 >$tr/events/netfs/netfs_sreq/enable; echo 1 >$tr/tracing_on
	set_fault "$spec" || return 1
	write_verify "$mode" "$size" "$name"
	local rc=$?
	set_fault off
	echo 0 >$tr/tracing_on; echo 0 >$tr/events/netfs/netfs_sreq/enable
	h1=$(stat_of held)
	# Upload completions of one request that came back below one seen
	# before them.
	if [[ $spec == *reorder* ]]; then
		ooo=$(python3 -c '
import re, sys
top, n = {}, 0
for m in re.finditer(r"R=(\w+)\[(\w+)\] UPLD TERM", sys.stdin.read()):
    r, i = m.group(1), int(m.group(2), 16)
    n += i < top.get(r, -1)
    top[r] = max(i, top.get(r, -1))
print(n)' <$tr/trace)
	fi
	say "$name: $((h1 - h0)) subrequests sent late, $ooo completions out of order"
	[ $rc = 0 ] && [ $((h1 - h0)) -gt 0 ] && [ "$ooo" -gt 0 ]
}

# Faults from load time (module parameters), for boot-time use: every
# third upload fails with EAGAIN and is retried.
load_time() {
	local r0 r1 rc
	unload_rnetfs
	insmod $KO fault_every=3 fault_errno=11 fault_retry=1 || return 1
	say "fault at load: $(cat $FAULT)"
	r0=$(stat_of retried)
	write_verify seq $((8 << 20)) f-load-time
	rc=$?
	r1=$(stat_of retried)
	say "f-load-time: $((r1 - r0)) subrequests retried"
	set_fault off
	[ $rc = 0 ] && [ $((r1 - r0)) -gt 0 ]
}

# A permanent upload error: fsync reports it, an fsync'ed file stays
# intact, nothing stays locked or under writeback, and once the fault is
# gone the same file can be written in full.
permanent() {
	local spec=$1 want=$2 name=$3 err=/tmp/$3.err
	python3 ./wtool.py seq $MNT/$name-acked $REF/$name-acked $((2 << 20)) 3 --fsync || return 1
	set_fault "$spec" || return 1
	if python3 ./wtool.py seq $MNT/$name $REF/$name $((8 << 20)) 4 --fsync 2>$err; then
		set_fault off; say "$name: fsync succeeded under $spec"; return 1
	fi
	set_fault off
	grep "Errno $want\]" $err >/dev/console || { cat $err >/dev/console; return 1; }
	no_writeback_left || return 1
	readable $MNT/$name || return 1
	expect_same $name-acked $REF/$name-acked
	write_verify seq $((8 << 20)) $name
}

# writepages fails to start a request: the writeback_iter() iteration is
# cancelled, so every folio comes back dirty and unlocked (C's netfs leaks a
# locked folio there), fsync reports the error, and a later fsync writes it
# all. (ENOMEM would not reach fsync: do_writepages() retries it forever
# under WB_SYNC_ALL, which is what request_enomem relies on.)
cancelled_iteration() {
	python3 - $MNT/f-cancel $REF/f-cancel $FAULT <<'PY' >/dev/console || return 1
import errno, os, sys
target, ref, fault = sys.argv[1:4]
data = os.urandom(4 << 20)
open(ref, "wb").write(data)
fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, data)
open(fault, "w").write("request=every:1:eio")
try:
    os.fsync(fd)
    print("RNETFS: fsync succeeded with every request failing")
    sys.exit(1)
except OSError as e:
    print("RNETFS: fsync under request faults: %s" % e)
    if e.errno != errno.EIO:
        sys.exit(1)
# Every folio must be unlocked: reading it all back must not block.
if os.pread(fd, len(data), 0) != data:
    print("RNETFS: page cache differs after the cancelled iteration")
    sys.exit(1)
open(fault, "w").write("off")
os.fsync(fd)
os.close(fd)
PY
	no_writeback_left || return 1
	expect_same f-cancel $REF/f-cancel
}

# ENOMEM starting one request: do_writepages() calls again, which only
# works if the cancelled iteration left every folio dirty.
request_enomem() {
	local i0 i1
	i0=$(stat_of faults_injected)
	set_fault "request=nth:1:enomem" || return 1
	write_verify seq $((4 << 20)) f-req-enomem
	local rc=$?
	set_fault off
	i1=$(stat_of faults_injected)
	[ $rc = 0 ] && [ $((i1 - i0)) = 1 ]
}

bad_input() {
	local before after
	set_fault "upload=every:5:eio" || return 1
	before=$(cat $FAULT)
	for bad in "garbage" "upload=every:0:eio" "cache=percent:200:eio" "upload=every:2:enoent" \
		"upload=every:2:delay delay_ms=0" "request=nth:1:reorder" "upload=every:2:reorder:retry"; do
		if echo "$bad" >$FAULT 2>/dev/null; then say "accepted: $bad"; set_fault off; return 1; fi
	done
	after=$(cat $FAULT)
	set_fault off
	[ "$before" = "$after" ] || { say "spec changed: $before -> $after"; return 1; }
	unload_rnetfs
	for p in max_inflight=0 max_inflight=9 max_retries=101 "fault_every=2 fault_errno=2" \
		"fault_every=1 fault_errno=0 fault_retry=1" fault_every=x async_upload=maybe; do
		# shellcheck disable=SC2086
		if insmod $KO $p 2>/dev/null; then say "insmod $p accepted"; rmmod rnetfs; return 1; fi
	done
	load_rnetfs
}

# More bad input at the module boundary: each write to the fault file must
# fail with EINVAL and leave the spec as it was; the stats file takes no
# writes; bad module parameters fail insmod and leave the C engine in place.
# With "empty": zero-length and whitespace-only writes, which must fail too
# ("off" is how to turn faults off).
bad_input_boundary() {
	local rc=0 p
	set_fault "upload=every:7:eagain:retry seed=9" || return 1
	python3 - $FAULT $1 <<'PY' >/dev/console || rc=1
import errno, os, sys
fault = sys.argv[1]
def spec():
    return open(fault).read()
before = spec()
bad = [b"", b"\n", b"   \n"] if sys.argv[2:] == ["empty"] else [
    b"upload=every:2:eio " * 20,                      # over-long (> 256 bytes)
    b"seed=" + b"1" * 300,
    b"upload=every:2:eio bogus=1", b"bogus", b"=", b"upload=", b"upload=every",
    b"upload=every:2", b"upload=every:2:", b"upload=every:2:eio:retry:x",
    b"upload=every:2:short:retry", b"request=every:1:short",
    b"upload=nth:0:eio", b"upload=every:-1:eio", b"upload=percent:101:eio",
    b"upload=every:18446744073709551616:eio", b"seed=-1", b"seed=x",
    b"UPLOAD=every:2:eio", b"upload=sometimes:2:eio", b"upload=every:2:EIO",
    b"upload=every:2:eio\0", b"upload=every:2:\xff\xfe", b"\xff",
]
rc = 0
for b in bad:
    fd = os.open(fault, os.O_WRONLY)
    try:
        n = os.write(fd, b)
        if b:
            print("RNETFS: bad input accepted: %r" % b[:60])
            rc = 1
        elif spec() != before:
            print("RNETFS: a zero-length write changed the spec")
            rc = 1
    except OSError as e:
        if e.errno != errno.EINVAL:
            print("RNETFS: %r: %s (want EINVAL)" % (b[:60], e))
            rc = 1
    finally:
        os.close(fd)
    if spec() != before:
        print("RNETFS: %r changed the spec to %r" % (b[:60], spec()))
        rc = 1
        open(fault, "w").write(before.split("#")[0])
        before = spec()
try:
    with open(os.path.join(os.path.dirname(fault), "stats"), "w") as f:
        f.write("writepages: 0\n")
    print("RNETFS: the stats file took a write")
    rc = 1
except OSError as e:
    print("RNETFS: stats write refused: %s" % e)
sys.exit(rc)
PY
	set_fault off
	[ "${1:-}" = empty ] && return $rc
	unload_rnetfs
	for p in max_inflight=abc max_inflight=-1 max_inflight=4294967296 max_retries=-1 \
		max_retries=x filter_stride=-1 filter_stride=1x; do
		if insmod $KO $p 2>/dev/null; then say "insmod $p accepted"; rmmod rnetfs; rc=1; fi
		rnetfs_loaded && { say "rnetfs loaded after insmod $p"; rc=1; }
	done
	# The boot-time fault= parameter, where the module has it.
	if modinfo -p $KO 2>/dev/null | grep -q "^fault:"; then
		for p in fault=garbage fault=upload=every:0:eio; do
			if insmod $KO "$p" 2>/dev/null; then say "insmod $p accepted"; rmmod rnetfs; rc=1; fi
		done
		if insmod $KO "fault=upload=every:5:eio"; then
			grep -q "upload=every:5:eio" $FAULT || { say "fault= not applied: $(cat $FAULT)"; rc=1; }
			rmmod rnetfs
		else
			say "insmod fault=upload=every:5:eio refused"; rc=1
		fi
	else
		say "SKIP fault= module parameter: not in this module"
	fi
	load_rnetfs
	return $rc
}

mount_export loose
load_rnetfs || fail rnetfs-load
t fault-eagain-every3-seq transient "upload=every:3:eagain:retry" seq $((16 << 20)) f-eagain-seq
t fault-eio-retry-random transient "upload=every:4:eio:retry seed=3" random $((4 << 20)) f-eio-random
t fault-eintr-retry-mmap transient "upload=percent:30:eintr:retry seed=5" mmap $((4 << 20)) f-eintr-mmap
t fault-short-every2-seq transient "upload=every:2:short" seq $((16 << 20)) f-short-seq
t fault-short-sparse transient "upload=percent:50:short seed=11" sparse $((16 << 20)) f-short-sparse
t fault-truncate-short transient "upload=every:2:short" truncate $((8 << 20)) f-short-trunc
t fault-delay-seq late "upload=every:2:delay delay_ms=30" seq $((8 << 20)) f-delay-seq
t fault-reorder-random late "upload=every:3:reorder seed=7" random $((4 << 20)) f-reorder-random
t fault-reorder-sparse late "upload=percent:40:reorder seed=9" sparse $((16 << 20)) f-reorder-sparse
t fault-load-time-param load_time
t fault-permanent-eio permanent "upload=nth:3:eio" 5 f-perm-eio
t fault-permanent-enospc permanent "upload=every:2:enospc" 28 f-perm-enospc
t fault-permanent-edquot permanent "upload=nth:1:edquot" 122 f-perm-edquot
t fault-cancelled-iteration cancelled_iteration
t fault-request-enomem request_enomem
t fault-bad-input bad_input
t fault-bad-input-boundary bad_input_boundary
t fault-bad-input-empty bad_input_boundary empty
say "rnetfs stats:"; cat $DBG/stats >/dev/console
unload_rnetfs
umount_export

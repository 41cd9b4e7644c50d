# SPDX-License-Identifier: GPL-2.0
# Fault injection (short CI variant). Through rnetfs's own injector
# (/sys/kernel/debug/rnetfs/fault, lib.sh's set_fault): transient errors and
# short writes are retried until every byte is on the host; late sends lose
# nothing; a permanent error reaches fsync, loses nothing acknowledged and
# leaves nothing locked or under writeback (faultcell.py, shared with the
# matrix); bad input is refused. Through the kernel's own allocation fault
# injection (failnth.py): an allocation failing in the writeback task is
# reported or retried, never hangs and never loses data.
. ./lib.sh
set -u
FAULT=$DBG/fault

# cell transient|permanent ...: one fault cell (faultcell.py says what each
# checks).
cell() { python3 ./faultcell.py "$@"; }

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

# writepages fails to start a request: the writeback_iter() iteration is
# cancelled, so every folio comes back dirty and unlocked (C's netfs leaks a
# locked folio there), fsync reports the error, and a later fsync writes it
# all. (ENOMEM would not reach fsync: do_writepages() retries it forever
# under WB_SYNC_ALL, which is what request_enomem relies on.)
cancelled_iteration() {
	python3 ./cases.py cancelled_iteration $MNT/f-cancel $REF/f-cancel $FAULT >/dev/console || return 1
	verify f-cancel
}

# ENOMEM starting one request: do_writepages() calls again, which only
# works if the cancelled iteration left every folio dirty.
request_enomem() {
	local i0 i1 rc
	i0=$(stat_of faults_injected)
	set_fault "request=nth:1:enomem" || return 1
	write_verify seq $((4 << 20)) f-req-enomem
	rc=$?
	set_fault off
	i1=$(stat_of faults_injected)
	[ $rc = 0 ] && [ $((i1 - i0)) = 1 ]
}

bad_input() {
	local before after bad p
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
	local rc=0 p variant=${1:-all}
	set_fault "upload=every:7:eagain:retry seed=9" || return 1
	python3 ./cases.py bad_fault_input $FAULT $variant >/dev/console || rc=1
	set_fault off
	[ $variant = empty ] && return $rc
	unload_rnetfs
	for p in max_inflight=abc max_inflight=-1 max_inflight=4294967296 max_retries=-1 \
		max_retries=x filter_stride=-1 filter_stride=1x folio_batch=0 folio_batch=17; do
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

# The kernel's allocation fault injection (failnth.py): fail-nth = 1..N in
# the task that fsyncs, with rnetfs (uploads sent by its workers, then by
# the issuer itself: async_upload=0) and with the C engine as the baseline,
# whose count is printed next to rnetfs's.
FAILNTH_MAX=40
[ "${RNETFS_LONG:-0}" = 1 ] && FAILNTH_MAX=150
failnth() {
	local label=$1 rc; shift
	case $label in
	rnetfs) unload_rnetfs && load_rnetfs || return 1 ;;
	rnetfs-inline) unload_rnetfs && load_rnetfs async_upload=0 || return 1 ;;
	c) unload_rnetfs || return 1 ;;
	esac
	python3 ./failnth.py $label $FAILNTH_MAX "$@"
	rc=$?
	unload_rnetfs && load_rnetfs || rc=1
	return $rc
}

mount_export loose
load_rnetfs || fail rnetfs-load
t fault-eagain-every3-seq cell transient "upload=every:3:eagain:retry" seq $((16 << 20)) f-eagain-seq
t fault-eio-retry-random cell transient "upload=every:4:eio:retry seed=3" random $((4 << 20)) f-eio-random
t fault-eintr-retry-mmap cell transient "upload=percent:30:eintr:retry seed=5" mmap $((4 << 20)) f-eintr-mmap
t fault-short-every2-seq cell transient "upload=every:2:short" seq $((16 << 20)) f-short-seq
t fault-short-sparse cell transient "upload=percent:50:short seed=11" sparse $((16 << 20)) f-short-sparse
t fault-truncate-short cell transient "upload=every:2:short" truncate $((8 << 20)) f-short-trunc
t fault-delay-seq cell transient "upload=every:2:delay delay_ms=30" seq $((8 << 20)) f-delay-seq --late
t fault-reorder-random cell transient "upload=every:3:reorder seed=7" random $((4 << 20)) f-reorder-random --late
t fault-reorder-sparse cell transient "upload=percent:40:reorder seed=9" sparse $((16 << 20)) f-reorder-sparse --late
t fault-load-time-param load_time
t fault-permanent-eio cell permanent "upload=nth:3:eio" 5 f-perm-eio
t fault-permanent-enospc cell permanent "upload=every:2:enospc" 28 f-perm-enospc
t fault-permanent-edquot cell permanent "upload=nth:1:edquot" 122 f-perm-edquot
t fault-cancelled-iteration cancelled_iteration
t fault-request-enomem request_enomem
t fault-bad-input bad_input
t fault-bad-input-boundary bad_input_boundary
t fault-bad-input-empty bad_input_boundary empty
t fault-failnth-rnetfs failnth rnetfs
t fault-failnth-rnetfs-inline failnth rnetfs-inline
t fault-failnth-c failnth c --baseline
say "rnetfs stats:"; cat $DBG/stats >/dev/console
unload_rnetfs
umount_export

# SPDX-License-Identifier: GPL-2.0
# The main job's guest part: rnetfs takes over writeback, a file is written
# through 9p with both the counters and the netfs trace events showing it.
. ./lib.sh
set -u
# With a cache bound, 9p's cache=fscache gives the request both streams.
if start_cachefilesd; then mount_export fscache; else mount_export loose; fi
insmod $KO || fail demo-insmod
T=/sys/kernel/tracing
echo 0 >$T/tracing_on
echo 4096 >$T/buffer_size_kb
for e in netfs_write netfs_sreq netfs_folio netfs_rreq netfs_failure; do
	echo 1 >$T/events/netfs/$e/enable
done
echo 1 >$T/tracing_on
python3 ./wtool.py seq $MNT/demo $REF/demo $((16 << 20)) 42 --fsync && pass demo-write || fail demo-write
echo 0 >$T/tracing_on
verify demo && pass demo-no-writeback-left || fail demo-no-writeback-left
echo "RNETFS-SECTION rnetfs stats (/sys/kernel/debug/rnetfs/stats)" >/dev/console
cat $DBG/stats >/dev/console
echo "RNETFS-SECTION netfs stats (/proc/fs/netfs/stats)" >/dev/console
cat /proc/fs/netfs/stats >/dev/console
echo "RNETFS-SECTION trace (netfs events of the writeback by rnetfs, from its start)" >/dev/console
# Reads of the scripts themselves (DOWN/UR) are not part of the story; runs
# of folio events of one kind are folded into one line so that subrequests
# of both streams and folio completions show interleaved.
grep -v '^#' $T/trace | awk '/netfs_write:/ { on = 1 } on' | grep -v ' DOWN \| UR ' |
	awk '
	function flush() { if (n > 1) printf "%s   ... %d folios %s up to ix=%s\n", pad, n - 1, kind, last; n = 0 }
	/netfs_folio:/ {
		k = $NF; split($0, a, "ix="); split(a[2], b, "-")
		if (n > 0 && k == kind) { n++; last = b[1]; next }
		flush(); print; kind = k; n = 1; pad = substr($0, 1, index($0, "netfs_folio") - 1); next
	}
	{ flush(); print }
	END { flush() }' | head -120 >/dev/console
echo "RNETFS-SECTION trace summary" >/dev/console
grep -v '^#' $T/trace | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^netfs_[a-z]+:$/) print $i }' | sort | uniq -c >/dev/console
# Writes that bypass the page cache, carried by rnetfs too: an O_DIRECT
# write and an O_SYNC one (which 9p makes unbuffered), their requests in
# the trace (netfs_write: the request's kind; its subrequests; the
# collection, done by rnetfs) and in rnetfs's counters.
echo 0 >$T/tracing_on; echo >$T/trace; echo 1 >$T/tracing_on
head -c $((3 << 20)) /dev/urandom >$REF/demo-direct
dd if=$REF/demo-direct of=$MNT/demo-direct bs=3M oflag=direct 2>/dev/null &&
	dd if=$REF/demo-direct of=$MNT/demo-sync bs=1M count=1 oflag=sync 2>/dev/null &&
	pass demo-direct-write || fail demo-direct-write
echo 0 >$T/tracing_on
expect_same demo-direct $REF/demo-direct
head -c $((1 << 20)) $REF/demo-direct >$REF/demo-sync
expect_same demo-sync $REF/demo-sync
echo "RNETFS-SECTION trace of an O_DIRECT and an O_SYNC write (rnetfs)" >/dev/console
grep -v '^#' $T/trace | grep -v ' DOWN \| UR ' | grep 'netfs_' | head -40 >/dev/console
echo "RNETFS-SECTION rnetfs counters of writes that bypass the page cache" >/dev/console
grep -E '^(unbuffered|dio)_' $DBG/stats >/dev/console
# A writethrough: pwritev2(RWF_DSYNC) of 2 MiB on a plain fd (netfs's
# WRITETHRU request, its folios handed to rnetfs as the copy passes them).
echo 0 >$T/tracing_on; echo >$T/trace; echo 1 >$T/tracing_on
head -c $((2 << 20)) /dev/urandom >$REF/demo-wthru
python3 -c '
import os, sys
src, dst = sys.argv[1:3]
data = open(src, "rb").read()
fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
assert os.pwritev(fd, [data], 0, os.RWF_DSYNC) == len(data)
os.close(fd)' $REF/demo-wthru $MNT/demo-wthru && pass demo-writethrough || fail demo-writethrough
echo 0 >$T/tracing_on
expect_same demo-wthru $REF/demo-wthru
echo "RNETFS-SECTION trace of a writethrough (RWF_DSYNC) write (rnetfs)" >/dev/console
grep -v '^#' $T/trace | grep -v ' DOWN \| UR ' | grep 'netfs_' | head -30 >/dev/console
echo "RNETFS-SECTION rnetfs counters of writethrough" >/dev/console
grep -E '^writethrough' $DBG/stats >/dev/console
echo "RNETFS-SECTION end" >/dev/console
rmmod rnetfs
umount_export

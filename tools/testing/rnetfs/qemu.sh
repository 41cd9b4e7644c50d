#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot the built kernel under QEMU and run one guest suite.
#
#   qemu.sh RUNDIR SUITE [TIMEOUT_S]
#
# RUNDIR (created by the caller) is shared with the guest as tag "run" and
# must hold guest/ (the scripts) and rnetfs.ko; RUNDIR/export is shared as
# tag "export": the directory the tests write to through 9p, checked byte
# for byte from the host afterwards. The console goes to RUNDIR/console.log.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

RUN=$1 SUITE=$2 TIMEOUT=${3:-1500}
KBUILD=${KBUILD:-$CACHE/build/current-test}
IMG=${ROOTFS_IMG:?}
MEM=${RNETFS_GUEST_MEM:-1G}
mkdir -p "$RUN/export" "$RUN/results"
echo "$SUITE" >"$RUN/suite"

accel="-accel tcg -cpu max"
if [ "${RNETFS_KVM:-0}" = 1 ] && [ -w /dev/kvm ]; then
	accel="-accel kvm -cpu host"
fi

# The "small" export is a size-limited tmpfs, for server-side ENOSPC; it is
# mounted in a private mount namespace around QEMU and copied out after.
# The "rofs" export holds two small ext4s on loop devices (errors=remount-ro), for
# a server that turns read-only under open writers, which tmpfs refuses
# (EBUSY). A watcher acts on requests the guest makes by creating files in
# RUNDIR/requests, and acknowledges each by creating <request>.done:
#   small-ro   remount the small tmpfs read-only (retried while busy, 20 s;
#              the ack says "ok" or "busy")
#   small-rw   remount it read-write
#   rofs-ro-r, rofs-ro-c
#              force the ext4 of rofs/r or rofs/c read-only (trigger_fs_error),
#              even with files open for writing: one each for two engines
SMALL=${RNETFS_SMALL_EXPORT_SIZE:-48m}
# The "slow" export is a server whose writes QEMU throttles (reads, setattr
# and the rest are not): a TWRITE stays at the server long enough for a
# TSETATTR sent after it to overtake it, so the races between writeback and
# truncation that a fast server hides happen there.
SLOW_BPS=${RNETFS_SLOW_EXPORT_BPS:-8388608}
mkdir -p "$RUN/slow" "$RUN/small" "$RUN/small-after" "$RUN/rofs" "$RUN/rofs-after" "$RUN/requests"

log "booting guest (suite $SUITE, timeout ${TIMEOUT}s)"
set +e
# shellcheck disable=SC2086
RUN="$RUN" SMALL="$SMALL" timeout --foreground -k 10 "$TIMEOUT" \
unshare -m --propagation private bash -c '
	mount -t tmpfs -o size="$SMALL" rnetfs-small "$RUN/small" ||
		echo "qemu.sh: no tmpfs for the small export" >&2
	for sub in r c; do
		img=$(mktemp /tmp/rnetfs-rofs.XXXXXX)
		mkdir -p "$RUN/rofs/$sub"
		truncate -s 32M "$img" && mkfs.ext4 -q -F "$img" &&
			mount -o loop,errors=remount-ro "$img" "$RUN/rofs/$sub" ||
			echo "qemu.sh: no ext4 for the rofs/$sub export" >&2
		rm -f "$img"
	done
	ack() { echo "$2" >"$RUN/requests/$1.done.tmp"; mv "$RUN/requests/$1.done.tmp" "$RUN/requests/$1.done"; }
	while kill -0 $$ && sleep 0.2; do
		for r in "$RUN"/requests/*; do
			case ${r##*/} in
			small-ro)
				res=busy
				for _ in $(seq 1 200); do
					mount -o remount,ro "$RUN/small" 2>/dev/null && { res=ok; break; }
					sleep 0.1
				done
				rm -f "$r"; ack small-ro $res ;;
			small-rw)
				mount -o remount,rw "$RUN/small" && res=ok || res=failed
				rm -f "$r"; ack small-rw $res ;;
			rofs-ro-r|rofs-ro-c)
				dev=$(findmnt -no SOURCE "$RUN/rofs/${r##*-}")
				echo 1 >"/sys/fs/ext4/${dev##*/}/trigger_fs_error" && res=ok || res=failed
				rm -f "$r"; ack "${r##*/}" $res ;;
			esac
		done
	done >/dev/null 2>&1 &
	watcher=$!
	"$@" &
	pid=$!
	trap "kill \$pid \$watcher" TERM
	wait $pid
	rc=$?
	wait $pid
	kill $watcher
	cp -a "$RUN/small/." "$RUN/small-after/"
	cp -a "$RUN/rofs/." "$RUN/rofs-after/"
	rm -rf "$RUN"/rofs-after/*/lost+found
	umount "$RUN/rofs/r" "$RUN/rofs/c" 2>/dev/null
	exit $rc' qemu \
	qemu-system-x86_64 $accel -m "$MEM" -smp 2 \
	-nographic -no-reboot -nodefaults -serial stdio \
	-kernel "$KBUILD/arch/x86/boot/bzImage" \
	-append "console=ttyS0 root=/dev/vda rw rootfstype=ext4 init=/sbin/rnetfs-init panic=-1 oops=panic hung_task_timeout_secs=60 net.ifnames=0 ${RNETFS_APPEND:-}" \
	-drive file="$IMG",format=raw,if=virtio,snapshot=on \
	-virtfs local,path="$RUN",mount_tag=run,security_model=none,id=run \
	-virtfs local,path="$RUN/export",mount_tag=export,security_model=none,id=export \
	-virtfs local,path="$RUN/small",mount_tag=small,security_model=none,id=small \
	-fsdev local,path="$RUN/slow",security_model=none,id=slow,throttling.bps-write="$SLOW_BPS" \
	-device virtio-9p-pci,fsdev=slow,mount_tag=slow \
	-virtfs local,path="$RUN/rofs",mount_tag=rofs,security_model=none,id=rofs,multidevs=remap \
	${RNETFS_QEMU_EXTRA:-} >"$RUN/console.log" 2>&1 </dev/null
rc=$?
set -e
[ $rc = 124 ] && echo "RNETFS-TIMEOUT after ${TIMEOUT}s" >>"$RUN/console.log"
log "guest exited ($rc)"
exit 0

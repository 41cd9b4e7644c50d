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
SMALL=${RNETFS_SMALL_EXPORT_SIZE:-48m}
mkdir -p "$RUN/small" "$RUN/small-after"

log "booting guest (suite $SUITE, timeout ${TIMEOUT}s)"
set +e
# shellcheck disable=SC2086
RUN="$RUN" SMALL="$SMALL" timeout --foreground -k 10 "$TIMEOUT" \
unshare -m --propagation private bash -c '
	mount -t tmpfs -o size="$SMALL" rnetfs-small "$RUN/small" ||
		echo "qemu.sh: no tmpfs for the small export" >&2
	"$@" &
	pid=$!
	trap "kill \$pid" TERM
	wait $pid
	rc=$?
	wait $pid
	cp -a "$RUN/small/." "$RUN/small-after/"
	exit $rc' qemu \
	qemu-system-x86_64 $accel -m "$MEM" -smp 2 \
	-nographic -no-reboot -nodefaults -serial stdio \
	-kernel "$KBUILD/arch/x86/boot/bzImage" \
	-append "console=ttyS0 root=/dev/vda rw rootfstype=ext4 init=/sbin/rnetfs-init panic=-1 oops=panic hung_task_timeout_secs=60 net.ifnames=0 ${RNETFS_APPEND:-}" \
	-drive file="$IMG",format=raw,if=virtio,snapshot=on \
	-virtfs local,path="$RUN",mount_tag=run,security_model=none,id=run \
	-virtfs local,path="$RUN/export",mount_tag=export,security_model=none,id=export \
	-virtfs local,path="$RUN/small",mount_tag=small,security_model=none,id=small \
	${RNETFS_QEMU_EXTRA:-} >"$RUN/console.log" 2>&1 </dev/null
rc=$?
set -e
[ $rc = 124 ] && echo "RNETFS-TIMEOUT after ${TIMEOUT}s" >>"$RUN/console.log"
log "guest exited ($rc)"
exit 0

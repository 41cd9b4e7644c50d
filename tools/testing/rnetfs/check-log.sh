#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Fail (exit 1) if a guest console log shows a kernel splat or a timeout.
LOGF=$1
pat='Oops|BUG:|WARNING:|general protection|Kernel panic|possible recursive locking|possible circular locking|inconsistent lock state|KASAN:|kmemleak: .* new suspected|blocked for more than|RNETFS-TIMEOUT|Call Trace:'
if grep -Ea "$pat" "$LOGF" >/dev/null; then
	echo "splat in $LOGF:" >&2
	grep -Ea -m 20 -B2 -A20 "$pat" "$LOGF" >&2
	exit 1
fi
# rnetfs-init's last line can be lost to the reboot that follows it at once
# (the serial console is not flushed): the guest's "suite done" counts too.
grep -Eq "rnetfs-init: done|RNETFS: suite done" "$LOGF" ||
	{ echo "guest did not finish ($LOGF)" >&2; tail -30 "$LOGF" >&2; exit 1; }
exit 0

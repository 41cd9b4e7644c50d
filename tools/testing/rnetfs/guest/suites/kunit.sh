# SPDX-License-Identifier: GPL-2.0
# rnetfs's KUnit suites run at insmod; the KTAP report goes to the kernel
# log, where the host parses it case by case.
. ./lib.sh
set -u
unload_rnetfs
insmod $KO || fail kunit-insmod
for d in /sys/kernel/debug/kunit/rnetfs*; do
	[ -d "$d" ] || continue
	say "kunit results $(basename $d)"
	sed 's/^/RNETFS-KTAP /' "$d/results" >/dev/console
done
rmmod rnetfs

# SPDX-License-Identifier: GPL-2.0
# rnetfs's KUnit suites run at insmod; the KTAP report goes to the kernel
# log, where the host parses it case by case. The kernel crate's doc
# examples (CONFIG_RUST_KERNEL_DOCTESTS) ran at boot as the built-in
# rust_doctests_kernel suite: those of the abstractions rnetfs adds or
# extends are reported case by case, and the suite as a whole must pass.
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

doc=/sys/kernel/debug/kunit/rust_doctests_kernel/results
if [ -f $doc ]; then
	case_re='^\s*(not )?ok [0-9]+ rust_doctest_kernel_'
	grep -E "${case_re}(netfs|writeback|folio|workqueue)_" $doc |
		sed 's/^/RNETFS-KTAP /' >/dev/console
	total=$(grep -cE "$case_re" $doc)
	bad=$(grep -E "$case_re" $doc | grep -cE '^\s*not ok')
	say "kernel doc examples: $total run, $bad failed"
	if [ "$total" -gt 0 ] && [ "$bad" = 0 ]; then
		pass kunit-kernel-doctests
	else
		grep -E '^\s*not ok' $doc | head -20 >/dev/console
		fail kunit-kernel-doctests "$bad of $total failed"
	fi
else
	fail kunit-kernel-doctests "no rust_doctests_kernel suite (CONFIG_RUST_KERNEL_DOCTESTS?)"
fi

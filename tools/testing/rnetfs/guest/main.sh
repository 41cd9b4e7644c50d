#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Entry point of the guest: runs the suite named in /mnt/run/suite.
cd /mnt/run/guest || exit 1
. ./lib.sh
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
suite=$(cat $RUN/suite)
# Settings from the host (run-tests.sh writes them): RNETFS_LONG.
if [ -f $RUN/env ]; then set -a; . $RUN/env; set +a; fi
say "suite $suite on $(uname -r)"
echo 1 >/proc/sys/kernel/hung_task_panic 2>/dev/null
for s in $suite; do
	if [ -f "suites/$s.sh" ]; then
		t0=$(date +%s)
		# A suite that stops before its end (set -u on an unset variable
		# exits with 127) must not read as one whose later tests passed.
		bash "suites/$s.sh"
		rc=$?
		[ $rc = 0 ] || fail "suite-$s-exit" "exited with $rc"
		say "suite $s took $(( $(date +%s) - t0 )) s"
		# Suites are independent (each can run alone): what one left on
		# the guest's 2 GiB root (references, the cache) must not fill
		# it for the next one, whose server may keep its files there.
		stop_cachefilesd
		rm -rf "${REF:?}"/* /var/cache/fscache/*
		say "root after $s: $(df -h --output=used,avail / | tail -1)"
	else
		fail "suite-$s" "no such suite"
	fi
done
say "suite done"

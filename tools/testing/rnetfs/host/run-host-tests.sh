#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host tests of the rnetfs engine core (fs/rnetfs/engine): unit and
# property tests, then clippy. Ends with "N passed, N failed".
#
#   RNETFS_SEED=<seed> RNETFS_CASES=<cases per property test> run-host-tests.sh

set -u
cd "$(dirname "$0")" || exit 1

passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

cargo test --release 2>&1 | tee "$log"
test_rc=${PIPESTATUS[0]}
while read -r p f; do
	passed=$((passed + p))
	failed=$((failed + f))
done < <(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$log")
# A build failure yields no result line: count it as a failure.
if [ "$test_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
	failed=$((failed + 1))
fi

if cargo clippy --version >/dev/null 2>&1; then
	if cargo clippy --all-targets -- -D warnings; then
		echo "PASS clippy"
		passed=$((passed + 1))
	else
		echo "FAIL clippy"
		failed=$((failed + 1))
	fi
else
	echo "NOTE: cargo clippy not installed, skipping the lint check"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

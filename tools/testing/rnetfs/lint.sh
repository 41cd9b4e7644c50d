#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Kernel-style checks of rnetfs's own files, on the built test tree:
#   rustfmt    the kernel's rustfmt check (.rustfmt.toml of the tree)
#   clippy     the module rebuilt with CLIPPY=1, no warning allowed
#              (the kernel crate's files are checked by kernel.sh, which
#              builds with CLIPPY=1 and fails on a warning in them)
#   checkpatch the patch series and the C helpers
#   compile-fail  each misuse in compile-fail/ is rejected by rustc with
#              the error its "expect:" line names
# Prints "PASS name" / "FAIL name why" lines.
#
#   lint.sh BUILD_DIR
set -uo pipefail
. "$(dirname "$0")/lib.sh"

OUT=$1
TREE=${KDIR:-$CACHE/tree-$KVER_DEB}
cd "$TOP" || exit 1
mapfile -t RS < <(git ls-files -co --exclude-standard 'rust/*.rs' 'fs/*.rs')

if rustfmt --check --edition 2021 --config-path "$TREE/.rustfmt.toml" "${RS[@]}" >"$OUT/.rnetfs-rustfmt.log" 2>&1; then
	echo "PASS lint-rustfmt"
else
	echo "FAIL lint-rustfmt see $OUT/.rnetfs-rustfmt.log"
	head -40 "$OUT/.rnetfs-rustfmt.log" >&2
fi

touch "$TREE/fs/rnetfs/rnetfs.rs"
if make -s -C "$TREE" O="$OUT" LLVM="$LLVM_SUFFIX" CLIPPY=1 -j"$(nproc)" modules \
	>"$OUT/.rnetfs-clippy.log" 2>&1 && ! grep -q '^warning\|^error' "$OUT/.rnetfs-clippy.log"; then
	echo "PASS lint-clippy"
else
	echo "FAIL lint-clippy see $OUT/.rnetfs-clippy.log"
	head -60 "$OUT/.rnetfs-clippy.log" >&2
fi

# The bit helpers take "volatile unsigned long *" because the bitops they
# wrap do (as rust/helpers/bitops.c does).
cp=("$TREE/scripts/checkpatch.pl" --no-tree --quiet --show-types --ignore FILE_PATH_CHANGES,VOLATILE)
bad=0
for p in patches/*.patch; do
	# On stdin: given a relative path inside a git work tree, checkpatch
	# mistakes the patch for a file to check.
	"${cp[@]}" - <"$p" >"$OUT/.rnetfs-checkpatch.log" 2>&1 || { bad=1; cat "$OUT/.rnetfs-checkpatch.log" >&2; }
done
for f in rust/helpers/*.c; do
	"${cp[@]}" -f "$TOP/$f" >"$OUT/.rnetfs-checkpatch.log" 2>&1 || { bad=1; cat "$OUT/.rnetfs-checkpatch.log" >&2; }
done
if [ $bad = 0 ]; then echo "PASS lint-checkpatch"; else echo "FAIL lint-checkpatch"; fi

# Each misuse is built as its own out-of-tree module against the tree: it
# must fail, with the expected error, and nothing else may be wrong.
cf=$OUT/.rnetfs-compile-fail
rm -rf "$cf" && mkdir -p "$cf"
objs=""
for f in "$T"/compile-fail/*.rs; do
	n=cf_$(basename "$f" .rs)
	{
		sed 's,^//!,//,' "$f"
		cat <<-EOF
		module! {
		    type: CompileFail,
		    name: "$n",
		    authors: ["rnetfs developers"],
		    description: "must not compile",
		    license: "GPL",
		}
		struct CompileFail;
		impl kernel::Module for CompileFail {
		    fn init(_module: &'static ThisModule) -> Result<Self> {
		        Ok(CompileFail)
		    }
		}
		EOF
	} >"$cf/$n.rs"
	grep -q '^use kernel::prelude::\*;' "$cf/$n.rs" || sed -i '3i use kernel::prelude::*;' "$cf/$n.rs"
	objs="$objs $n.o"
done
echo "obj-m :=$objs" >"$cf/Kbuild"
make -k -C "$TREE" O="$OUT" LLVM="$LLVM_SUFFIX" M="$cf" modules >"$cf/build.log" 2>&1
bad=0
for f in "$T"/compile-fail/*.rs; do
	n=cf_$(basename "$f" .rs)
	want=$(sed -n 's,^// expect: \(E[0-9]*\).*,\1,p' "$f")
	if [ -e "$cf/$n.ko" ]; then
		echo "compile-fail: $n compiled" >&2; bad=1
	elif ! awk -v n="$n.rs" '/^error/ {e=$0} index($0, n) && e {print e; e=""}' "$cf/build.log" |
		grep -q "error\[$want\]"; then
		echo "compile-fail: $n did not fail with $want" >&2; bad=1
	fi
done
if [ $bad = 0 ]; then echo "PASS lint-compile-fail"; else echo "FAIL lint-compile-fail see $cf/build.log"; fi

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Fetch, overlay, configure and build the kernel rnetfs runs on.
#
#   kernel.sh [test|debug]     build bzImage + modules for that config
#
# The pristine Debian source is unpacked once per package version under
# $CACHE/src. The working tree ($CACHE/tree-<ver>) is that source plus the
# repo's patches (patches/*.patch, applied in order) and overlay files
# (rust/, fs/, include/ ...). Patches that were applied before are reversed
# first, and overlay files are copied only when their content changed, so
# make rebuilds exactly what changed. Build directories are keyed by the
# source version and the config fragments.
#
# KDIR=/path/to/your/linux uses your own tree instead (it must accept the
# patches); nothing is downloaded then.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

CONFIG=${1:-test}
if [ "$CONFIG" = fetch ]; then FETCH_ONLY=1; CONFIG=test; fi
FRAGS=("$T/configs/base.config")
[ "$CONFIG" = debug ] && FRAGS+=("$T/configs/debug.config")
[ "$CONFIG" = test ] || [ "$CONFIG" = debug ] || die "unknown config '$CONFIG' (test|debug)"

fetch_source() {
	local ver=$KVER_DEB src=$CACHE/src/$KVER_PKG-$KVER_DEB
	if [ -e "$src/.unpacked" ]; then echo "$src/linux"; return; fi
	mkdir -p "$CACHE/src" && cd "$CACHE/src"
	local deb=${KVER_PKG}_${ver/:/%3a}_all.deb
	if [ ! -e "$deb" ]; then
		log "downloading $KVER_PKG=$ver"
		if ! apt-get download "$KVER_PKG=$ver" >&2; then
			local avail
			avail=$(apt-cache madison "$KVER_PKG" | awk '{print $3}' | tr '\n' ' ')
			die "$KVER_PKG version $ver is not available (found: ${avail:-none}); set RNETFS_KERNEL_VERSION=<version> to use another"
		fi
	fi
	rm -rf "$src" && mkdir -p "$src"
	log "unpacking $deb"
	dpkg-deb -x "$deb" "$src/deb"
	mkdir -p "$src/linux"
	tar -C "$src/linux" --strip-components=1 -xf "$src"/deb/usr/src/$KVER_PKG.tar.xz
	rm -rf "$src/deb"
	touch "$src/.unpacked"
	echo "$src/linux"
}

# Copy $1 to $2 only if the content differs, keeping mtimes stable.
sync_file() {
	cmp -s "$1" "$2" 2>/dev/null && return 0
	mkdir -p "$(dirname "$2")"
	cp "$1" "$2"
}

apply_overlay() {
	local tree=$1 state=$1/.rnetfs
	mkdir -p "$state"
	# The patch series is applied as a whole: if it changed since the last
	# run, reverse the old one (newest first) and apply the new one.
	local p want
	want=$(cat "$TOP"/patches/*.patch | sha256sum | cut -c1-16)
	if [ "$(cat "$state/patches.sum" 2>/dev/null)" != "$want" ]; then
		for p in $(ls -r "$state/patches"/*.patch 2>/dev/null); do
			log "reverting $(basename "$p")"
			patch -s -R -p1 -d "$tree" <"$p" || die "cannot revert $p"
		done
		rm -rf "$state/patches" "$state/patches.sum"
		mkdir -p "$state/patches"
		for p in "$TOP"/patches/*.patch; do
			log "applying $(basename "$p")"
			patch -s -p1 -N -d "$tree" <"$p" || die "cannot apply $p"
			cp "$p" "$state/patches/"
		done
		echo "$want" >"$state/patches.sum"
	fi
	# Overlay: new files only (modified upstream files go through patches).
	local f list=$state/overlay.list new=$state/overlay.new
	(cd "$TOP" && git ls-files -co --exclude-standard rust fs include 2>/dev/null ||
		find rust fs include -type f) | sort >"$new"
	while read -r f; do
		[ -f "$TOP/$f" ] && sync_file "$TOP/$f" "$tree/$f"
	done <"$new"
	if [ -f "$list" ]; then
		comm -23 "$list" "$new" | while read -r f; do rm -f "$tree/$f"; done
	fi
	mv "$new" "$list"
}

configure() {
	local tree=$1 out=$2
	mkdir -p "$out"
	local want
	want=$(cat "${FRAGS[@]}" | sha256sum | cut -c1-16)
	if [ "$(cat "$out/.rnetfs-frags" 2>/dev/null)" = "$want" ] && [ -f "$out/.config" ]; then
		return
	fi
	log "configuring $CONFIG ($out)"
	make -s -C "$tree" O="$out" LLVM=$LLVM_SUFFIX tinyconfig >/dev/null
	(cd "$out" && "$tree"/scripts/kconfig/merge_config.sh -m -O "$out" .config "${FRAGS[@]}" >/dev/null)
	make -s -C "$tree" O="$out" LLVM=$LLVM_SUFFIX olddefconfig >/dev/null
	local line missing=0
	while read -r line; do
		case "$line" in CONFIG_*=*) ;; *) continue;; esac
		grep -qx "$line" "$out/.config" || { echo "config: $line did not survive" >&2; missing=1; }
	done < <(cat "${FRAGS[@]}")
	[ $missing = 0 ] || die "config fragment not satisfied"
	echo "$want" >"$out/.rnetfs-frags"
}

if [ -n "${KDIR:-}" ]; then
	TREE=$KDIR
	OUT=${KBUILD_OUT:-$CACHE/build/kdir-$CONFIG}
else
	TREE=$CACHE/tree-$KVER_DEB
	if [ ! -e "$TREE/.rnetfs-base" ]; then
		SRC=$(fetch_source)
		log "creating working tree $TREE"
		rm -rf "$TREE" && cp -a "$SRC" "$TREE" && touch "$TREE/.rnetfs-base"
	fi
	[ -z "${FETCH_ONLY:-}" ] || exit 0
	FRAGKEY=$(cat "${FRAGS[@]}" | sha256sum | cut -c1-12)
	OUT=$CACHE/build/$KVER_DEB-$CONFIG-$FRAGKEY
fi
apply_overlay "$TREE"
configure "$TREE" "$OUT"
log "building $CONFIG kernel in $OUT"
start=$(date +%s)
# Clippy runs on every Rust file the build compiles (CLIPPY=1 from the
# first build on, so toggling it never forces a rebuild); a warning in one
# of rnetfs's own files fails the build.
blog=$OUT/.rnetfs-build.log
set -o pipefail
make -s -C "$TREE" O="$OUT" LLVM=$LLVM_SUFFIX CLIPPY=1 -j"$(nproc)" bzImage modules 2>&1 |
	tee "$blog" >&2 || die "kernel build failed"
log "build done in $(( $(date +%s) - start )) s"
if grep -A3 '^warning\|^error' "$blog" | grep -q -- '--> .*\(fs/rnetfs/\|rust/kernel/\(folio\|writeback\|netfs\)\)'; then
	die "warnings in rnetfs's files, see $blog"
fi
ln -sfn "$OUT" "$CACHE/build/current-$CONFIG"
echo "$OUT"

# SPDX-License-Identifier: GPL-2.0
# Shared settings for the rnetfs scripts. Sourced, not run.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
T=$TOP/tools/testing/rnetfs
CACHE=${RNETFS_CACHE:-$HOME/.cache/rnetfs}

KVER_PKG=${RNETFS_KERNEL_PKG:-linux-source-7.3}
KVER_DEB=${RNETFS_KERNEL_VERSION:-7.3.4-1~bpo13+1}
BINDGEN_VERSION=0.72.1

export PATH=$HOME/.cargo/bin:$PATH
export LIBCLANG_PATH=/usr/lib/llvm-19/lib
LLVM_SUFFIX=-19

log() { echo "[rnetfs $(date +%T)] $*" >&2; }
die() { echo "[rnetfs] error: $*" >&2; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "must run as root (apt, debootstrap)"; }

# Build what a guest run needs (setup, kernel, rootfs) and lay out OUT/guest
# with the guest scripts and rnetfs.ko. Sets KB, IMG and RUN.
prepare_guest_run() {
	bash "$T/setup.sh" || die "setup failed"
	KB=${RNETFS_KBUILD:-$(bash "$T/kernel.sh" test)} || die "kernel build failed"
	IMG=$(bash "$T/rootfs.sh") || die "rootfs failed"
	RUN=$1/guest
	rm -rf "$RUN" && mkdir -p "$RUN"
	cp -r "$T/guest" "$RUN/guest"
	cp "$KB/fs/rnetfs/rnetfs.ko" "$RUN/" || die "no rnetfs.ko in $KB"
}

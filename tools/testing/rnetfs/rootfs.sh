#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build (once) the guest root filesystem: a Debian bookworm minbase
# debootstrap with the test tools, turned into an ext4 image. Cached under
# $CACHE/rootfs-<key>, keyed by the package list and the guest init.
# Prints the image path.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_root

PKGS=fio,stress-ng,samba,cifs-utils,procps,kmod,util-linux,coreutils,attr,acl,xfsprogs,e2fsprogs,iproute2,cachefilesd,keyutils,python3-minimal
# kAFS against an OpenAFS server in the guest (guest/afs.sh); Depends only,
# as debootstrap installs no Recommends (openafs-client recommends
# openafs-modules-dkms, not wanted: the client is the kernel's kAFS).
PKGS=$PKGS,openafs-fileserver,openafs-dbserver,openafs-client,openafs-krb5,kafs-client
# perf, for the bench's kernel profile (RNETFS_BENCH_PROFILE=1, guest/suites/bench.sh).
PKGS=$PKGS,linux-perf
KEY=$( (echo "$PKGS"; cat "$T/guest/rnetfs-init" "$0") | sha256sum | cut -c1-12)
DIR=$CACHE/rootfs-$KEY
IMG=$DIR/root.img
if [ -f "$IMG" ]; then echo "$IMG"; exit 0; fi

rm -rf "$DIR" && mkdir -p "$DIR"
MIRROR=$(debian_mirror)
log "debootstrap bookworm into $DIR/root from $MIRROR"
debootstrap --variant=minbase --include="$PKGS" bookworm "$DIR/root" \
	"$MIRROR" >"$DIR/debootstrap.log" 2>&1 ||
	{ tail -20 "$DIR/debootstrap.log"; die "debootstrap failed"; }
install -m 755 "$T/guest/rnetfs-init" "$DIR/root/sbin/rnetfs-init"
echo rnetfs-guest >"$DIR/root/etc/hostname"
mkdir -p "$DIR/root/mnt/run" "$DIR/root/mnt/9p" "$DIR/root/var/cache/fscache"
rm -rf "$DIR/root/var/cache/apt/archives"/*.deb "$DIR/root/var/lib/apt/lists"/*
log "making ext4 image"
mke2fs -q -t ext4 -L rnetfs-root -d "$DIR/root" "$IMG.tmp" 2G >&2
mv "$IMG.tmp" "$IMG"
rm -rf "$DIR/root"
echo "$IMG"

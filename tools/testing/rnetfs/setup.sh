#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install everything rnetfs needs on a fresh Debian 12 machine, from the
# package registries only. Idempotent: a second run checks and returns.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_root

APT_SOURCES=/etc/apt/sources.list.d/rnetfs.sources
APT_PREFS=/etc/apt/preferences.d/rnetfs
HOST_PKGS=(clang-19 lld-19 llvm-19 libclang-19-dev flex bison bc libelf-dev
	   libssl-dev cpio kmod busybox-static debootstrap e2fsprogs make
	   python3 rsync xz-utils)

add_sources() {
	# The backports come from the mirror the base system already uses.
	local mirror want
	mirror=$(debian_mirror)
	want=$(cat <<EOS
Types: deb
URIs: $mirror
Suites: bookworm-backports trixie-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
)
	# trixie is only ever used for the arch-independent kernel source,
	# fetched with apt-get download: never let it upgrade the base system.
	local prefs
	prefs=$(cat <<'EOS'
Package: *
Pin: release n=trixie-backports
Pin-Priority: 1

Package: *
Pin: release n=bookworm-backports
Pin-Priority: 100
EOS
)
	local changed=0
	if [ "$(cat $APT_SOURCES 2>/dev/null)" != "$want" ]; then
		echo "$want" >$APT_SOURCES; changed=1
	fi
	if [ "$(cat $APT_PREFS 2>/dev/null)" != "$prefs" ]; then
		echo "$prefs" >$APT_PREFS; changed=1
	fi
	if [ $changed = 1 ] || [ ! -e "$CACHE/.apt-updated" ]; then
		log "apt-get update"
		apt-get update -qq
		touch "$CACHE/.apt-updated"
	fi
}

install_host_pkgs() {
	local missing=()
	for p in "${HOST_PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	local qv
	qv=$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null || true)
	case "$qv" in 1:10.*) ;; *) missing+=(qemu-system-x86);; esac
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing: ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			-t bookworm-backports "${missing[@]}" >/dev/null
	fi
}

install_rust_tools() {
	local c
	for c in rust-src clippy rustfmt; do
		rustup component list --installed 2>/dev/null | grep -q "^$c" ||
			rustup component add "$c"
	done
	if ! command -v bindgen >/dev/null || ! bindgen --version | grep -q '0\.7[1-9]'; then
		log "cargo install bindgen-cli"
		cargo install --locked bindgen-cli@"$BINDGEN_VERSION"
	fi
}

mkdir -p "$CACHE"
add_sources
install_host_pkgs
install_rust_tools
log "host setup done (clang $(clang-19 --version | head -1 | awk '{print $4}'), $(bindgen --version), $(qemu-system-x86_64 --version | head -1))"

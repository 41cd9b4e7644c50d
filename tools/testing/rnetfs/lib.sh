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

# The Debian mirror this machine's apt already uses for its base release,
# so that setup.sh's backports entry and the guest's debootstrap go where
# apt goes (a local mirror or proxy, where the machine has one) rather
# than to a hard-coded address. $1 is apt's etc directory (default
# /etc/apt), $2 the release (default: the host's); mirror-test.sh passes
# fixtures. Reads sources.list and sources.list.d/*.list (one-line
# format) and sources.list.d/*.sources (deb822) in apt's order. An entry counts if it is a binary (deb) source
# with component main; the first whose suites name the host's release
# (bookworm) wins, else the first naming one of its -updates/-backports
# suites (never -security: that archive has no backports); third-party
# archives use suites of their own and are skipped. rnetfs.sources is
# setup.sh's own output and would answer for itself. URIs debootstrap
# cannot fetch from (cdrom:, mirror+..., tor+...) are skipped.
# Prints deb.debian.org only when nothing matches.
debian_mirror() {
	local etc=${1:-/etc/apt} codename=${2:-} f files=()
	[ -f "$etc/sources.list" ] && files+=("$etc/sources.list")
	for f in "$etc"/sources.list.d/*; do
		case $f in
		*/rnetfs.sources) ;;
		*.list|*.sources) [ -f "$f" ] && files+=("$f");;
		esac
	done
	[ -n "$codename" ] ||
		codename=$(. /etc/os-release 2>/dev/null; echo "${VERSION_CODENAME:-}")
	[ ${#files[@]} -gt 0 ] && awk -v cn="${codename:-bookworm}" '
		function has(list, word,   n, a, i) {
			n = split(list, a, /[ \t]+/)
			for (i = 1; i <= n; i++) if (a[i] == word) return 1
			return 0
		}
		function rank(suites,   n, a, i, r) {
			r = 0
			n = split(suites, a, /[ \t]+/)
			for (i = 1; i <= n; i++) {
				sub(/\/+$/, "", a[i])
				if (a[i] == cn) return 1
				if (a[i] == cn "-updates" || a[i] == cn "-backports") r = 2
			}
			return r
		}
		function consider(types, uris, suites, comps,   r, n, u, i) {
			if (!has(types, "deb") || !has(comps, "main")) return
			if (!(r = rank(suites)) || (best && r >= best)) return
			n = split(uris, u, /[ \t]+/)
			for (i = 1; i <= n; i++) {
				if (u[i] !~ /^(https?|ftp|file):/) continue
				sub(/\/+$/, "", u[i]); best = r; uri = u[i]; return
			}
		}
		function stanza(   e) {
			# apt takes any of its boolean spellings for false.
			e = tolower(f["enabled"]); gsub(/[ \t]/, "", e)
			if (e !~ /^(no|false|off|without|disable|0)$/)
				consider(f["types"], f["uris"], f["suites"], f["components"])
			split("", f); key = ""
		}
		FNR == 1 && NR > 1 && deb822 { stanza() }
		FNR == 1 { deb822 = FILENAME ~ /\.sources$/; key = "" }
		deb822 && /^#/ { next }
		deb822 && /^[ \t]*$/ { stanza(); next }
		deb822 && /^[ \t]/ { if (key != "") f[key] = f[key] " " $0; next }
		deb822 {
			i = index($0, ":"); if (!i) next
			key = tolower(substr($0, 1, i - 1)); f[key] = substr($0, i + 1)
			next
		}
		{
			sub(/#.*/, ""); gsub(/\[[^]]*\]/, " ")
			if (NF < 4 || $1 != "deb") next
			comps = ""; for (i = 4; i <= NF; i++) comps = comps " " $i
			consider("deb", $2, $3, comps)
		}
		END { if (deb822) stanza(); if (uri != "") print uri; else exit 1 }
	' "${files[@]}" && return
	log "no Debian mirror in $etc/sources.list{,.d}, using deb.debian.org"
	echo http://deb.debian.org/debian
}

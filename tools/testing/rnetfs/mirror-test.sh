#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host test of lib.sh's debian_mirror: which mirror setup.sh and rootfs.sh
# take from apt's sources, on fixture apt directories of both formats
# (deb822 .sources and one-line .list) and on this machine's own /etc/apt.
# Prints PASS/FAIL per case, then "N passed, N failed". Needs no root.
set -u
. "$(dirname "$0")/lib.sh"

passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# check NAME WANT [fallback]: debian_mirror on the fixture $tmp/NAME
# (release bookworm; $dir instead, if set) prints WANT, and says on stderr
# that it fell back exactly when the third argument is given.
check() {
	local name=$1 want=$2 fallback=${3:-} got err why=
	got=$(debian_mirror "${dir:-$tmp/$name}" bookworm 2>"$tmp/$name.err")
	err=$(cat "$tmp/$name.err")
	if [ "$got" != "$want" ]; then
		why="got '$got', want '$want'"
	elif [ -n "$fallback" ] && ! grep -q 'using deb.debian.org' <<<"$err"; then
		why="fell back without saying so"
	elif [ -z "$fallback" ] && [ -n "$err" ]; then
		why="unexpected stderr"
	fi
	if [ -z "$why" ]; then
		echo "PASS mirror:$name"
		passed=$((passed + 1))
	else
		echo "FAIL mirror:$name ($why; stderr: $err)"
		failed=$((failed + 1))
	fi
}

# fixture NAME FILE: FILE's content (stdin) under $tmp/NAME/FILE.
fixture() {
	mkdir -p "$(dirname "$tmp/$1/$2")"
	cat >"$tmp/$1/$2"
}

# deb822 as Debian 12's installer writes it, security archive first, a
# comment inside the stanza (one that looks like a field), a multi-line
# Signed-By, lower-case field names, and a disabled stanza ahead of the
# real one.
fixture deb822 sources.list.d/debian.sources <<'EOF'
Types: deb
URIs: http://mirror.example.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://disabled.example.org/debian
Suites: bookworm
Components: main
Enabled: no

types: deb deb-src
# http://snapshot.debian.org/archive/debian/20250520T000000Z
uris: http://mirror.example.org/debian/
#URIs: http://commented.example.org/debian
suites: bookworm bookworm-updates
components: main contrib
signed-by:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGPL0BUBEADmW5NlOr3vq9MCxKgAbSnQdC1lMw0VlOL1eDYD0bhmM0qz
 -----END PGP PUBLIC KEY BLOCK-----
EOF
check deb822 http://mirror.example.org/debian

# One-line format: commented and deb-src lines, an options block with
# spaces, a trailing comment, the security line first.
fixture oneline sources.list <<'EOF'
# deb http://commented.example.org/debian bookworm main
deb http://security.example.org/debian-security bookworm-security main
deb-src http://src.example.org/debian bookworm main
deb [ arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg ] http://ftp.example.net/debian/ bookworm main non-free-firmware # the mirror
EOF
check oneline http://ftp.example.net/debian

# sources.list comes before sources.list.d, and within it apt's order
# (alphabetical, .list and .sources mixed); other extensions are not read.
fixture order sources.list <<'EOF'
deb http://first.example.org/debian bookworm main
EOF
fixture order sources.list.d/a.sources <<'EOF'
Types: deb
URIs: http://second.example.org/debian
Suites: bookworm
Components: main
EOF
fixture order2 sources.list.d/a.sources <<'EOF'
Types: deb
URIs: http://second.example.org/debian
Suites: bookworm
Components: main
EOF
fixture order2 sources.list.d/0.list.disabled <<'EOF'
deb http://disabled.example.org/debian bookworm main
EOF
fixture order2 sources.list.d/0.list <<'EOF'
deb http://zero.example.org/debian bookworm main
EOF
# Each file's last stanza ends with the file, blank line or not.
fixture files sources.list.d/a.sources <<'EOF'
Types: deb
URIs: http://a.example.org/debian
Suites: bookworm
Components: main
EOF
fixture files sources.list.d/b.sources <<'EOF'
Types: deb
URIs: http://b.example.org/debian
Suites: bookworm
Components: main
EOF
check order http://first.example.org/debian
check order2 http://zero.example.org/debian
check files http://a.example.org/debian

# The release itself wins over an earlier -backports/-updates entry;
# with only those, the first of them is taken (a folded field too).
fixture rank sources.list.d/0-bpo.list <<'EOF'
deb http://bpo.example.org/debian bookworm-backports main
EOF
fixture rank sources.list.d/debian.sources <<'EOF'
Types: deb
URIs: http://release.example.org/debian
Suites: bookworm
Components: main
EOF
check rank http://release.example.org/debian
fixture updates sources.list.d/debian.sources <<'EOF'
Types: deb
URIs:
 http://updates.example.org/debian
Suites: bookworm-updates
Components: main
EOF
check updates http://updates.example.org/debian

# URIs debootstrap cannot use are skipped for the next one.
fixture scheme sources.list.d/debian.sources <<'EOF'
Types: deb
URIs: mirror+file:/etc/apt/mirrors/debian.list cdrom:[Debian 12]/ https://tls.example.org/debian
Suites: bookworm
Components: main
EOF
check scheme https://tls.example.org/debian

# Nothing usable: third-party archives (own suite names), deb-src only,
# contrib only, setup.sh's own rnetfs.sources, no apt directory at all.
fixture none sources.list.d/nodesource.sources <<'EOF'
Types: deb
URIs: https://deb.nodesource.com/node_20.x
Suites: nodistro
Components: main

Types: deb-src
URIs: http://src.example.org/debian
Suites: bookworm
Components: main
EOF
fixture none sources.list.d/src.list <<'EOF'
deb-src http://src.example.org/debian bookworm main
deb http://contrib.example.org/debian bookworm contrib
EOF
fixture none sources.list.d/rnetfs.sources <<'EOF'
Types: deb
URIs: http://self.example.org/debian
Suites: bookworm-backports trixie-backports
Components: main
EOF
check none http://deb.debian.org/debian fallback
check missing http://deb.debian.org/debian fallback

# This machine: the mirror of its own Debian entry, found (not fallen back
# to), whatever it is.
src=/etc/apt/sources.list.d/debian.sources
want=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' "$src" 2>/dev/null |
	grep -v security | head -1)
want=${want%/}
if [ -n "$want" ]; then
	dir=/etc/apt check etc-apt "$want"
else
	echo "NOTE: no /etc/apt/sources.list.d/debian.sources here, host case skipped"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

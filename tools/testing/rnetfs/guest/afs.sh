# SPDX-License-Identifier: GPL-2.0
# A one-host OpenAFS cell in the guest, for kAFS. Sourced, after lib.sh.
#
# Created from nothing at each boot (the root image is a snapshot): the
# server's address is 127.1.0.1 on dummy0 (OpenAFS ignores 127.0.x.x and
# loopback devices), an unauthenticated cell (bosserver -noauth, a dummy
# key for -localauth), volumes whose root ACL grants system:anyuser all
# rights (kAFS has no token, so it is anonymous). Nothing leaves the VM.

AFS_CELL=rnetfs.test
AFS_ADDR=127.1.0.1
AFS_HOST=rnetfs-guest
AFS_LIB=/usr/lib/openafs
AFS_SRVDIR=/etc/openafs/server
AFS_LOGDIR=/var/log/openafs
AFS_TIMEOUT=${AFS_TIMEOUT:-600}
AUTH=-localauth

# The server logs, on the console: after a failure.
afs_logs() {
	local f
	for f in $AFS_LOGDIR/* /var/lib/openafs/logs/*; do
		[ -f "$f" ] || continue
		say "=== $f (last 80 lines)"
		# Their single-DES "WARNING:" banner is not a kernel splat
		# (check-log.sh looks for "WARNING:").
		tail -n 80 "$f" | sed 's/WARNING:/warning:/' >/dev/console
	done
	bos status $AFS_ADDR -long $AUTH >/dev/console 2>&1
}

afs_net() {
	ip link set lo up
	# CONFIG_DUMMY=y creates dummy0 at boot.
	ip link show dummy0 >/dev/null 2>&1 || ip link add dummy0 type dummy || return 1
	ip link set dummy0 up || return 1
	ip addr replace $AFS_ADDR/32 dev dummy0 || return 1
	sysctl -qw net.ipv4.conf.all.route_localnet=1 net.ipv4.conf.dummy0.route_localnet=1 || return 1
	hostname $AFS_HOST
	printf '127.0.0.1 localhost\n%s %s afsserver\n' $AFS_ADDR $AFS_HOST >/etc/hosts
}

afs_config() {
	mkdir -p $AFS_SRVDIR /var/lib/openafs/local /var/lib/openafs/db $AFS_LOGDIR /vicepa /etc/kafs/client.d
	local d
	for d in $AFS_SRVDIR /etc/openafs; do
		echo $AFS_CELL >$d/ThisCell
		printf '>%s #rnetfs test cell\n%s #%s\n' $AFS_CELL $AFS_ADDR $AFS_HOST >$d/CellServDB
	done
	echo $AFS_ADDR >/var/lib/openafs/local/NetInfo
	touch /vicepa/AlwaysAttach
	# A DES key only so that -localauth can sign; nothing checks it.
	rm -f $AFS_SRVDIR/KeyFile $AFS_SRVDIR/KeyFileExt
	asetkey add 1 0123456789abcdef || return 1
	# kAFS asks for the cell's VL servers through the dns_resolver upcall
	# (request-key runs kafs-dns): define the cell statically for it.
	cat >/etc/kafs/client.d/rnetfs.conf <<EOC
[cells]
	$AFS_CELL = {
		description = "rnetfs test cell"
		use_dns = no
		servers = {
			$AFS_HOST = {
				address = $AFS_ADDR
			}
		}
	}
EOC
}

# poll SECONDS COMMAND...: run COMMAND every second until it succeeds.
poll() {
	local limit=$1 t0; shift
	t0=$(date +%s)
	until "$@" >/dev/null 2>&1; do
		[ $(($(date +%s) - t0)) -lt "$limit" ] || return 1
		sleep 1
	done
}
fs_registered() { vos listaddrs -noresolve $AUTH 2>/dev/null | grep -qx "$AFS_ADDR"; }

# Start bosserver and the database servers, wait until Ubik has elected and
# the VLDB answers, then start the fileserver, which registers its address
# in the VLDB at startup (and only every five minutes after a failure: so
# not before the VLDB is up). Prints the time each step took.
start_afs_server() {
	local t0 t1 t2 i
	t0=$(date +%s)
	# Up already: an earlier suite of this boot (afs, then direct) started
	# it; a second bosserver would not start.
	if pgrep -x bosserver >/dev/null && vos listvldb $AUTH >/dev/null 2>&1 && fs_registered; then
		say "afs: the server an earlier suite started is up: reused"
		return 0
	fi
	afs_net || { say "afs: network setup failed"; return 1; }
	afs_config || { say "afs: configuration failed"; return 1; }
	bosserver -noauth || { afs_logs; return 1; }
	poll 60 bos listhosts $AFS_ADDR $AUTH || { say "afs: bosserver not answering"; afs_logs; return 1; }
	bos create $AFS_ADDR ptserver simple $AFS_LIB/ptserver $AUTH &&
	bos create $AFS_ADDR vlserver simple $AFS_LIB/vlserver $AUTH || { afs_logs; return 1; }
	t1=$(date +%s)
	say "afs: bosserver, ptserver, vlserver started in $((t1 - t0)) s, waiting for Ubik"
	if ! poll "$AFS_TIMEOUT" vos listvldb $AUTH; then
		say "afs: the VLDB did not answer within $AFS_TIMEOUT s"
		udebug $AFS_ADDR 7003 >/dev/console 2>&1
		afs_logs
		return 1
	fi
	t2=$(date +%s)
	say "afs: Ubik (VLDB) ready after $((t2 - t1)) s"
	bos create $AFS_ADDR fs fs -cmd $AFS_LIB/fileserver $AFS_LIB/volserver $AFS_LIB/salvager $AUTH ||
		{ afs_logs; return 1; }
	for i in 1 2 3; do
		poll 120 fs_registered && break
		say "afs: fileserver not registered after 120 s, restarting it"
		bos restart $AFS_ADDR fs $AUTH
	done
	fs_registered || { say "afs: fileserver never registered"; afs_logs; return 1; }
	# The volserver starts a few seconds after the fileserver.
	poll 120 vos listpart $AFS_ADDR $AUTH || { say "afs: no volserver"; afs_logs; return 1; }
	say "afs: fileserver registered and volserver up after $(($(date +%s) - t2)) s"
	echo "add $AFS_CELL $AFS_ADDR" >/proc/fs/afs/cells || { say "afs: cannot add the cell to kAFS"; return 1; }
	say "afs: cell $AFS_CELL up in $(($(date +%s) - t0)) s"
}

# afs_volume NAME [QUOTA_KB]: a volume on /vicepa (no quota by default)
# whose root directory grants system:anyuser all rights.
afs_volume() {
	local vol=$1 quota=${2:-0} dump=/tmp/afs-$1.dump t0
	t0=$(date +%s)
	vos create $AFS_ADDR a $vol -maxquota "$quota" $AUTH >/dev/console 2>&1 || { afs_logs; return 1; }
	vos dump -id $vol -file $dump $AUTH 2>/dev/console || { afs_logs; return 1; }
	python3 ./afsacl.py $dump >/dev/console || return 1
	vos restore $AFS_ADDR a $vol -file $dump -overwrite full $AUTH >/dev/null 2>/dev/console ||
		{ afs_logs; return 1; }
	rm -f $dump
	say "afs: volume $vol (quota $quota KiB) in $(($(date +%s) - t0)) s"
}

# afs_mount VOLUME DIR: the read-write volume through kAFS.
afs_mount() {
	mkdir -p "$2"
	mount -t afs "%$AFS_CELL:$1" "$2" || { say "afs: mount of $1 failed"; return 1; }
}

# Unmount and mount again: the inodes and their page cache go with the
# superblock, so what is read next comes from the server (or the cache).
afs_remount() {
	local vol=$1 dir=$2
	sync
	umount "$dir" || { say "afs: umount $dir failed"; return 1; }
	echo 3 >/proc/sys/vm/drop_caches
	afs_mount "$vol" "$dir"
}

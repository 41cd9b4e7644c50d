# SPDX-License-Identifier: GPL-2.0
# A Samba server in the guest, for the SMB3 client (cifs). Sourced, after
# lib.sh.
#
# Created from nothing at each boot (the root image is a snapshot): smbd
# listens on 127.0.0.1:445 only (interfaces = lo, bind interfaces only), so
# nothing leaves the VM; one user, created here with smbpasswd; shares on
# guest directories that the tests read directly, as the server's view of
# the bytes:
#   [t]      $SMB_DIR, on the guest's ext4 root
#   [small]  $SMB_SMALL, a tmpfs of $SMB_SMALL_SIZE (server-side ENOSPC)
#   [rofs]   $SMB_ROFS, an ext4 on a loop device, errors=remount-ro (a
#            share turned read-only under open writers)
#   [big]    $SMB_BIG, a directory of the 9p export (qemu.sh's "export",
#            on the host's disk) mounted on $SMB_BIG_MNT without a page
#            cache (cache=none): room for a file larger than the guest's
#            memory, which the 2 GiB root cannot hold (smb_big_mount)
# Its logs go to the run share ($RUN/samba), next to the console log.

SMB_USER=rnetfs
SMB_PASS=rnetfs-test-pw
SMB_DIR=/srv/smb
SMB_SMALL=/srv/smb-small
SMB_SMALL_SIZE=${SMB_SMALL_SIZE:-24m}
SMB_ROFS=/srv/smb-rofs
SMB_BIG_MNT=/srv/smb-big
SMB_BIG=$SMB_BIG_MNT/cifs-big
SMB_CONF=/etc/samba/smb.conf
SMB_LOG=$RUN/samba
SMB_MNT_OPTS="username=$SMB_USER,password=$SMB_PASS,vers=3.1.1,nosharesock"

# smb_conf MAX_CREDITS: the configuration, with SMB2 credits capped at
# MAX_CREDITS (Samba's default is 8192).
smb_conf() {
	mkdir -p /etc/samba $SMB_LOG
	cat >$SMB_CONF <<EOC
[global]
	server role = standalone server
	interfaces = lo
	bind interfaces only = yes
	smb ports = 445
	disable netbios = yes
	server min protocol = SMB3
	map to guest = never
	passdb backend = tdbsam
	security = user
	load printers = no
	printing = bsd
	printcap name = /dev/null
	disable spoolss = yes
	log file = $SMB_LOG/log.%m
	max log size = 0
	log level = ${SMB_LOG_LEVEL:-1}
	smb2 max credits = $1
	# The tests compare the backing directory after the client is gone:
	# a FLUSH from the client must reach the disk's page cache at least.
	strict sync = yes

[t]
	path = $SMB_DIR
	read only = no
	force user = $SMB_USER

[small]
	path = $SMB_SMALL
	read only = no
	force user = $SMB_USER

[rofs]
	path = $SMB_ROFS
	read only = no
	force user = $SMB_USER

[big]
	path = $SMB_BIG
	read only = no
	force user = $SMB_USER
EOC
}

smb_logs() {
	local f
	for f in $SMB_LOG/*; do
		[ -f "$f" ] || continue
		say "=== $f (last 40 lines)"
		tail -n 40 "$f" >/dev/console
	done
}

# The parent smbd (the one that listens), from its pid file.
smbd_pid() {
	local p
	p=$(cat /run/samba/smbd.pid 2>/dev/null) || return 1
	kill -0 "$p" 2>/dev/null && echo "$p"
}

smb_listening() { (exec 3<>/dev/tcp/127.0.0.1/445) 2>/dev/null; }

# start_smbd [MAX_CREDITS]: (re)write the configuration and start smbd;
# fails, with the logs on the console, if it does not listen within 60 s.
start_smbd() {
	local i
	stop_smbd
	smb_conf "${1:-8192}"
	testparm -s $SMB_CONF >$SMB_LOG/testparm.txt 2>&1 ||
		{ say "samba: testparm refused the configuration"; cat $SMB_LOG/testparm.txt >/dev/console; return 1; }
	smbd -D -s $SMB_CONF || { say "samba: smbd -D failed"; smb_logs; return 1; }
	for i in $(seq 1 120); do
		smb_listening && break
		sleep 0.5
	done
	smb_listening || { say "samba: smbd not listening on 127.0.0.1:445 after 60 s"; smb_logs; return 1; }
	say "samba: smbd $(smbd_pid) listening, smb2 max credits ${1:-8192}"
}

stop_smbd() {
	local p i
	p=$(smbd_pid) || return 0
	kill "$p"
	for i in $(seq 1 100); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	! kill -0 "$p" 2>/dev/null
}

# Everything but the server itself: network, user, share directories.
setup_samba() {
	ip link set lo up || return 1
	mkdir -p /run/samba /var/lib/samba/private /var/cache/samba /var/log/samba $SMB_DIR $SMB_SMALL $SMB_ROFS
	id $SMB_USER >/dev/null 2>&1 || useradd -M -d /nonexistent -s /usr/sbin/nologin $SMB_USER || return 1
	smb_conf 8192
	printf '%s\n%s\n' "$SMB_PASS" "$SMB_PASS" | smbpasswd -c $SMB_CONF -a -s $SMB_USER >/dev/console 2>&1 ||
		{ say "samba: smbpasswd -a failed"; return 1; }
	mountpoint -q $SMB_SMALL || mount -t tmpfs -o size=$SMB_SMALL_SIZE smb-small $SMB_SMALL || return 1
	chown $SMB_USER $SMB_DIR $SMB_SMALL
}

# A fresh, small ext4 for [rofs] (errors=remount-ro, so that an error
# forced through sysfs turns it read-only even with files open for writing).
smb_rofs_fresh() {
	local img=/var/tmp/smb-rofs.img
	umount -l $SMB_ROFS 2>/dev/null
	rm -f $img
	truncate -s 32M $img && mkfs.ext4 -q -F $img && mount -o loop,errors=remount-ro $img $SMB_ROFS || return 1
	chown $SMB_USER $SMB_ROFS
}
# [big]'s directory, on the 9p export (umount $SMB_BIG_MNT when done).
smb_big_mount() {
	mkdir -p $SMB_BIG_MNT
	mountpoint -q $SMB_BIG_MNT || mount_9p export $SMB_BIG_MNT none ||
		{ say "samba: no 9p export for [big]"; return 1; }
	mkdir -p $SMB_BIG && chown $SMB_USER $SMB_BIG
}
smb_rofs_readonly() {
	local dev
	dev=$(findmnt -no SOURCE $SMB_ROFS) || return 1
	echo 1 >/sys/fs/ext4/${dev##*/}/trigger_fs_error
}

# cifs_mount SHARE DIR [OPTIONS]: mount //127.0.0.1/SHARE on DIR with the
# test user, SMB 3.1.1 and its own TCP connection (so that its smbd child is
# its own), plus OPTIONS.
cifs_mount() {
	mkdir -p "$2"
	mount -t cifs "//127.0.0.1/$1" "$2" -o "$SMB_MNT_OPTS${3:+,$3}" ||
		{ say "cifs: mount of //127.0.0.1/$1 on $2 (${3:-}) failed"; dmesg | tail -5 >/dev/console; return 1; }
}

# The smbd children serving sessions (the parent's children, less the
# helpers smbd starts for itself: notifyd, cleanupd).
smbd_children() {
	local parent p
	parent=$(smbd_pid) || return 1
	for p in $(pgrep -P "$parent"); do
		case "$(cat /proc/$p/comm 2>/dev/null)" in
		smbd-notifyd|smbd-cleanupd|smbd-scavenger) ;;
		*) echo "$p" ;;
		esac
	done
}

// SPDX-License-Identifier: GPL-2.0

#include <linux/netfs.h>

__rust_helper struct netfs_inode *rust_helper_netfs_inode(struct inode *inode)
{
	return netfs_inode(inode);
}

__rust_helper struct netfs_folio *rust_helper_netfs_folio_info(struct folio *folio)
{
	return netfs_folio_info(folio);
}

__rust_helper struct netfs_group *rust_helper_netfs_folio_group(struct folio *folio)
{
	return netfs_folio_group(folio);
}

/* Atomic bit operations on netfs request and subrequest flags. */
__rust_helper bool rust_helper_test_bit(long nr, const volatile unsigned long *addr)
{
	return test_bit(nr, addr);
}

__rust_helper bool rust_helper_test_and_set_bit(long nr, volatile unsigned long *addr)
{
	return test_and_set_bit(nr, addr);
}

__rust_helper void rust_helper_clear_bit_unlock(long nr, volatile unsigned long *addr)
{
	clear_bit_unlock(nr, addr);
}

__rust_helper void rust_helper_wake_up(struct wait_queue_head *wq)
{
	wake_up(wq);
}

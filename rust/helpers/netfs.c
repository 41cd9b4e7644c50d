// SPDX-License-Identifier: GPL-2.0

#include <linux/netfs.h>
#include <linux/poison.h>

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

/*
 * Point a subrequest of an unbuffered or direct write at its part of the
 * caller's buffer: @len bytes from @offset, as netfs's own loop does.
 */
__rust_helper void rust_helper_netfs_sreq_slice_buffer(struct netfs_io_subrequest *subreq,
							size_t offset, size_t len)
{
	subreq->io_iter = subreq->rreq->buffer.iter;
	iov_iter_advance(&subreq->io_iter, offset);
	iov_iter_truncate(&subreq->io_iter, len);
}

/* How much of @max_len bytes of the buffer from @offset fits @max_segs. */
__rust_helper size_t rust_helper_netfs_buffer_fit(struct netfs_io_request *wreq,
						  size_t offset, size_t max_len,
						  size_t max_segs)
{
	struct iov_iter iter = wreq->buffer.iter;

	iov_iter_advance(&iter, offset);
	return netfs_limit_iter(&iter, 0, max_len, max_segs);
}

__rust_helper unsigned long long rust_helper_netfs_read_remote_i_size(const struct inode *inode)
{
	return netfs_read_remote_i_size(inode);
}

/*
 * What netfs_write_collection() does for an async writethrough once the
 * request is done: advance ->ki_pos by what was written and complete the
 * kiocb with the error or that count, then poison ->iocb, which
 * netfs_end_writethrough() may still test.
 */
__rust_helper void rust_helper_netfs_complete_iocb(struct netfs_io_request *wreq)
{
	size_t written = min(wreq->transferred, wreq->len);

	if (!wreq->iocb)
		return;
	wreq->iocb->ki_pos += written;
	if (wreq->iocb->ki_complete)
		wreq->iocb->ki_complete(wreq->iocb,
					wreq->error ? wreq->error : written);
	wreq->iocb = VFS_PTR_POISON;
}

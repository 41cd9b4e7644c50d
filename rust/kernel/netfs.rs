// SPDX-License-Identifier: GPL-2.0

//! The netfs library, seen from a buffered writeback engine.
//!
//! C header: [`include/linux/netfs.h`](srctree/include/linux/netfs.h)
//!
//! netfs is built in, and its writeback requests and subrequests are shared
//! with the filesystem (9p, afs, ...) and the cache (cachefiles), which fill
//! in and complete them from any context. The types here hand out only
//! shared references to them and do every field access through accessors,
//! so that an engine written against them needs no `unsafe` code.

use crate::{
    bindings,
    folio::{LockedFolio, WritebackFolio},
    writeback::AddressSpace,
};

pub mod engine;
pub mod request;
pub mod trace;

/// What netfs keeps in a dirty folio's private pointer, as writeback needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FolioPrivate {
    /// An ordinary dirty folio.
    Plain,
    /// Data read from the server that only needs writing to the cache.
    CopyToCache,
    /// A streaming write: only `offset..offset + len` is valid (the folio is
    /// not up to date) and may be written.
    Streaming {
        /// Start of the dirty bytes within the folio.
        offset: u32,
        /// Number of dirty bytes.
        len: u32,
    },
    /// The folio belongs to a write group (ceph-style ordering).
    Grouped,
}

/// Returns what netfs recorded about a locked dirty folio.
pub fn folio_private(folio: &LockedFolio<'_>) -> FolioPrivate {
    let raw = folio.folio().as_raw();
    // SAFETY: The folio is valid and locked by us, so its private data is
    // stable.
    let finfo = unsafe { bindings::netfs_folio_info(raw) };
    if !finfo.is_null() {
        // SAFETY: `finfo` is the folio's valid streaming-write record.
        let (offset, len) = unsafe { ((*finfo).dirty_offset, (*finfo).dirty_len) };
        return FolioPrivate::Streaming { offset, len };
    }
    // SAFETY: As above.
    let group = unsafe { bindings::netfs_folio_group(raw) };
    if group.is_null() {
        FolioPrivate::Plain
    } else if group as usize == bindings::NETFS_FOLIO_COPY_TO_CACHE {
        // A sentinel pointer value, not a group.
        FolioPrivate::CopyToCache
    } else {
        FolioPrivate::Grouped
    }
}

/// Ends writeback on a folio the way netfs does: detaches the streaming
/// record (raising the zero point) or the copy-to-cache mark, then ends the
/// writeback. Never locks the folio.
pub fn folio_written_back(folio: WritebackFolio) {
    let raw = folio.into_raw();
    // SAFETY: `raw` is under writeback started by us, and ending it is handed
    // to netfs here, exactly once.
    unsafe { bindings::netfs_folio_written_back(raw) };
}

/// The netfs writeback lock of an inode, held (`NETFS_ICTX_WB_LOCK`).
///
/// It serialises this engine's writeback with netfs's own writethrough and
/// single-object writeback on the same inode.
///
/// # Invariants
///
/// The lock of `ictx` is held and owned by this value; the inode outlives it
/// (it is either borrowed for `'a`, or kept by a request of the inode, which
/// eviction waits for).
pub struct WbLock {
    ictx: *mut bindings::netfs_inode,
}

// SAFETY: The lock is a bit lock with a wait queue, released from any task.
unsafe impl Send for WbLock {}

// SAFETY: No shared-reference method.
unsafe impl Sync for WbLock {}

impl WbLock {
    /// Takes the writeback lock of the mapping's inode. With `nowait`, returns
    /// `None` instead of waiting if another writeback holds it.
    ///
    /// The lock must be handed to a request of the inode with
    /// [`request::WriteRequest::adopt_wb_lock`] or dropped before `mapping`.
    pub fn begin(mapping: &AddressSpace, nowait: bool) -> Option<WbLockGuard<'_>> {
        // SAFETY: The host inode of a netfs mapping embeds a `netfs_inode`.
        let ictx = unsafe { bindings::netfs_inode(mapping.host()) };
        // SAFETY: `ictx` is valid while `mapping` is borrowed.
        if unsafe { bindings::netfs_wb_begin(ictx, nowait) } {
            // INVARIANT: Just taken; the borrow of `mapping` keeps the inode.
            Some(WbLockGuard {
                lock: WbLock { ictx },
                _mapping: mapping,
            })
        } else {
            None
        }
    }
}

impl Drop for WbLock {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we hold the lock and the inode is alive.
        unsafe { bindings::netfs_wb_end(self.ictx) };
    }
}

/// A [`WbLock`] tied to the borrow of the mapping it was taken on.
pub struct WbLockGuard<'a> {
    lock: WbLock,
    _mapping: &'a AddressSpace,
}

impl WbLockGuard<'_> {
    pub(crate) fn into_lock(self) -> WbLock {
        self.lock
    }
}

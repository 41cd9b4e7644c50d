// SPDX-License-Identifier: GPL-2.0

//! Address spaces and writeback of their dirty folios.
//!
//! C headers: [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/writeback.h`](srctree/include/linux/writeback.h)
//!
//! [`WritebackIter`] wraps `writeback_iter()` and fixes the three problems
//! netfs's "New writeback implementation" names in it: the iteration can be
//! cancelled on a temporary error ([`WritebackIter::cancel`] redirties every
//! remaining folio), folios can be filtered ([`WritebackIter::next_filtered`]
//! redirties the rejected ones and goes on), and a folio that cannot be
//! handled yet is unlocked and relocked later ([`LockedFolio::relock_later`])
//! rather than held locked while the caller waits. Whatever happens, the
//! iteration is driven to its end: no folio is ever left locked.

use crate::{
    bindings,
    error::{to_result, Error, Result},
    ffi::c_int,
    folio::{Folio, LockedFolio},
    types::Opaque,
};
use core::ptr;

/// The page cache of an inode.
///
/// # Invariants
///
/// The wrapped `struct address_space` is valid, and so is its host inode, for
/// as long as a reference to this type exists.
#[repr(transparent)]
pub struct AddressSpace(Opaque<bindings::address_space>);

// SAFETY: The methods use the thread-safe page cache API.
unsafe impl Sync for AddressSpace {}

// SAFETY: An address space is not tied to a thread.
unsafe impl Send for AddressSpace {}

impl AddressSpace {
    /// Creates a reference from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must be a valid address space whose host inode stays alive for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::address_space) -> &'a Self {
        // SAFETY: `repr(transparent)`; validity by the caller.
        unsafe { &*ptr.cast() }
    }

    /// Returns the raw pointer.
    pub fn as_raw(&self) -> *mut bindings::address_space {
        self.0.get()
    }

    /// Returns the host inode.
    pub fn host(&self) -> *mut bindings::inode {
        // SAFETY: The mapping is valid by the type invariant.
        unsafe { (*self.as_raw()).host }
    }

    /// Returns the file size.
    pub fn i_size(&self) -> i64 {
        // SAFETY: The host inode is valid by the type invariant.
        unsafe { bindings::i_size_read(self.host()) }
    }

    /// Returns the number of pages in the page cache, as last seen: an upper
    /// bound on the folios writeback may find dirty now, to size queues by.
    pub fn nr_pages(&self) -> usize {
        // SAFETY: The mapping is valid by the type invariant. `nrpages` is
        // updated under the page cache lock; a racing read is a plain
        // `READ_ONCE()` of a word, as `mapping_empty()` and friends do.
        unsafe { core::ptr::read_volatile(&raw const (*self.as_raw()).nrpages) }
    }

    /// A page outside `first..=last` (page indices) that is tagged dirty,
    /// if any: the first one after `last`, else the first one before
    /// `first`.
    ///
    /// A folio handed out by `writeback_iter()` keeps its dirty tag until its
    /// writeback starts, and `filemap_fdatawrite()` returns at once, without
    /// waiting for writeback in progress, when no page is tagged dirty. So
    /// for the last tagged folio, starting writeback is what lets a flush of
    /// the whole file (9p's setattr) go on while earlier writes are still on
    /// their way to the server.
    pub fn dirty_outside(&self, first: usize, last: usize) -> Option<usize> {
        const DIRTY: bindings::xa_mark_t = bindings::PAGECACHE_TAG_DIRTY;
        // SAFETY: The mapping is valid by the type invariant; only the
        // address of its page cache array is taken.
        let xa = unsafe { &raw mut (*self.as_raw()).i_pages };
        let found = |from: usize, to: usize| {
            let mut index = from;
            // SAFETY: `xa` is valid (see above). `xa_find()` takes the RCU
            // read lock itself and only looks at marks; the entry it returns
            // is compared with null, never dereferenced.
            let e = unsafe { bindings::xa_find(xa, &mut index, to, DIRTY) };
            (!e.is_null()).then_some(index)
        };
        if last < usize::MAX {
            if let Some(i) = found(last + 1, usize::MAX) {
                return Some(i);
            }
        }
        if first > 0 {
            return found(0, first - 1);
        }
        None
    }

    /// Records a writeback error, for `fsync()` and `close()` to report.
    pub fn set_error(&self, err: Error) {
        // SAFETY: The mapping is valid by the type invariant.
        unsafe { bindings::mapping_set_error(self.as_raw(), err.to_errno()) };
    }
}

/// A scope in which the current task's allocations do not recurse into
/// filesystems (`memalloc_nofs_save()`), whatever flags they pass.
///
/// Writeback holds folio and writeback locks and may be called from
/// reclaim's flushers; an allocation that reclaimed through this
/// filesystem again could wait for itself. Scopes nest; drop them in the
/// reverse order of creation.
///
/// # Examples
///
/// ```
/// use kernel::writeback::NoFsScope;
///
/// let nofs = NoFsScope::active;
/// assert!(!nofs());
/// {
///     let _outer = NoFsScope::enter();
///     assert!(nofs());
///     {
///         let _inner = NoFsScope::enter();
///         assert!(nofs());
///     }
///     // The inner scope restored what the outer one set.
///     assert!(nofs());
///     // Allocations here may still reclaim, only not through a filesystem.
///     let v = KVec::<u8>::with_capacity(4096, GFP_KERNEL)?;
///     assert!(v.capacity() >= 4096);
/// }
/// assert!(!nofs());
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `flags` is what `memalloc_nofs_save()` returned on this task.
pub struct NoFsScope {
    flags: crate::ffi::c_uint,
    // Restored by the task that saved it.
    _not_send: core::marker::PhantomData<*mut ()>,
}

impl NoFsScope {
    /// Returns whether the current task is inside such a scope.
    pub fn active() -> bool {
        // SAFETY: `current` is valid for the task that runs this; only its
        // flags are read, which other tasks do not write.
        let flags = unsafe { (*bindings::get_current()).flags };
        flags & bindings::PF_MEMALLOC_NOFS != 0
    }

    /// Enters the scope.
    pub fn enter() -> Self {
        // SAFETY: Always callable from task context.
        let flags = unsafe { bindings::memalloc_nofs_save() };
        // INVARIANT: Saved just now on this task.
        Self {
            flags,
            _not_send: core::marker::PhantomData,
        }
    }
}

impl Drop for NoFsScope {
    fn drop(&mut self) {
        // SAFETY: `flags` was saved on this task (type invariant).
        unsafe { bindings::memalloc_nofs_restore(self.flags) };
    }
}

/// Whether writeback must write everything ([`SyncMode::All`], data
/// integrity: fsync) or may skip what is busy ([`SyncMode::None`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SyncMode {
    /// `WB_SYNC_NONE`: background writeback; conflicts may be skipped.
    None,
    /// `WB_SYNC_ALL`: data integrity writeback.
    All,
}

/// Parameters of one writeback pass.
///
/// # Invariants
///
/// The wrapped `struct writeback_control` is valid for the lifetime of the
/// reference. It is only ever used from the task doing the writeback.
#[repr(transparent)]
pub struct WritebackControl(Opaque<bindings::writeback_control>);

impl WritebackControl {
    /// Creates a reference from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid, and only used by the current task, for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::writeback_control) -> &'a Self {
        // SAFETY: `repr(transparent)`; validity by the caller.
        unsafe { &*ptr.cast() }
    }

    /// Returns the raw pointer.
    pub fn as_raw(&self) -> *mut bindings::writeback_control {
        self.0.get()
    }

    /// Returns the sync mode.
    pub fn sync_mode(&self) -> SyncMode {
        // SAFETY: `wbc` is valid by the type invariant.
        let mode = unsafe { (*self.as_raw()).sync_mode };
        if mode == bindings::writeback_sync_modes_WB_SYNC_ALL {
            SyncMode::All
        } else {
            SyncMode::None
        }
    }
}

/// An iteration over the dirty folios of a mapping, as `writeback_iter()`
/// does it, that can be cancelled and filtered and never leaves a folio locked.
///
/// # Invariants
///
/// `folio` is null or the last folio `writeback_iter()` returned, which the
/// caller no longer holds locked; `done` is set once `writeback_iter()`
/// returned null, after which it must not be called again.
pub struct WritebackIter<'a> {
    mapping: &'a AddressSpace,
    wbc: &'a WritebackControl,
    folio: *mut bindings::folio,
    error: c_int,
    done: bool,
}

impl<'a> WritebackIter<'a> {
    /// Starts an iteration over the dirty folios of `mapping` in the range
    /// and mode `wbc` asks for.
    pub fn new(mapping: &'a AddressSpace, wbc: &'a WritebackControl) -> Self {
        // INVARIANT: No folio was returned yet.
        Self {
            mapping,
            wbc,
            folio: ptr::null_mut(),
            error: 0,
            done: false,
        }
    }

    fn advance(&mut self) -> Option<&'a Folio> {
        if self.done {
            return None;
        }
        // SAFETY: The mapping and wbc are valid for `'a`; by the type invariant
        // `folio` is null or the previous folio, no longer locked by the caller
        // (the borrow of the returned `LockedFolio` ended before this call).
        let folio = unsafe {
            bindings::writeback_iter(
                self.mapping.as_raw(),
                self.wbc.as_raw(),
                self.folio,
                &mut self.error,
            )
        };
        // INVARIANT: `folio` is now the last folio returned.
        self.folio = folio;
        if folio.is_null() {
            self.done = true;
            return None;
        }
        // SAFETY: `writeback_iter()` returns a folio it holds a reference to
        // (in `wbc->fbatch`) until the next call.
        Some(unsafe { Folio::from_raw(folio) })
    }

    /// Returns the next dirty folio, locked and cleared for I/O.
    ///
    /// The folio may outlive the next call: while it is locked it cannot be
    /// removed from the page cache, whose reference keeps it alive, and once
    /// under writeback the writeback flag does the same.
    pub fn next_folio(&mut self) -> Option<LockedFolio<'a>> {
        let folio = self.advance()?;
        // SAFETY: `writeback_iter()` returns the folio locked by this task;
        // the returned value takes over unlocking it.
        Some(unsafe { LockedFolio::from_locked(folio) })
    }

    /// Returns the next dirty folio that `keep` accepts; the rejected ones
    /// are redirtied and unlocked, to be written by a later pass.
    pub fn next_filtered(
        &mut self,
        mut keep: impl FnMut(&Folio) -> bool,
    ) -> Option<LockedFolio<'a>> {
        loop {
            let folio = self.advance()?;
            // SAFETY: As in `next`.
            let locked = unsafe { LockedFolio::from_locked(folio) };
            if keep(folio) {
                return Some(locked);
            }
            locked.redirty(self.wbc);
        }
    }

    /// Cancels the iteration after a temporary error: every folio not yet
    /// returned is redirtied and unlocked, and the iteration ends with `err`.
    pub fn cancel(&mut self, err: Error) {
        let wbc = self.wbc;
        while let Some(folio) = self.next_folio() {
            folio.redirty(wbc);
        }
        if self.error == 0 {
            self.error = err.to_errno();
        }
    }

    /// Ends the iteration, cancelling whatever was not taken, and returns its
    /// error, if any.
    pub fn finish(mut self) -> Result {
        if !self.done {
            self.cancel(crate::error::code::EAGAIN);
        }
        to_result(self.error)
    }
}

impl Drop for WritebackIter<'_> {
    fn drop(&mut self) {
        // Never leave `writeback_iter()` half way: the remaining folios are
        // redirtied so that a later pass writes them.
        let wbc = self.wbc;
        while let Some(folio) = self.next_folio() {
            folio.redirty(wbc);
        }
    }
}

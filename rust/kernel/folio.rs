// SPDX-License-Identifier: GPL-2.0

//! Page-cache folios, as seen by writeback.
//!
//! C header: [`include/linux/pagemap.h`](srctree/include/linux/pagemap.h)
//!
//! Writeback moves a folio through three states, each a type here: a shared
//! reference ([`Folio`]), locked by the caller ([`LockedFolio`]), and under
//! writeback started by the caller ([`WritebackFolio`]). A locked folio must be
//! unlocked, redirtied or moved to writeback before the next folio is taken;
//! a folio under writeback must have its writeback ended exactly once. The
//! types make both rules hold by construction.

use crate::{
    bindings,
    sync::aref::{ARef, AlwaysRefCounted},
    types::Opaque,
    writeback::{
        AddressSpace,
        WritebackControl, //
    },
};
use core::{marker::PhantomData, ptr::NonNull};

/// A folio: a physically, virtually and logically contiguous block of memory
/// in the page cache.
///
/// # Invariants
///
/// The wrapped `struct folio` is valid and its refcount is nonzero for as long
/// as a shared reference to this type exists.
#[repr(transparent)]
pub struct Folio(Opaque<bindings::folio>);

// SAFETY: A folio may be referenced, locked and written back from any thread;
// the folio API is thread-safe.
unsafe impl Send for Folio {}

// SAFETY: All the methods taking `&self` use the thread-safe folio API.
unsafe impl Sync for Folio {}

// SAFETY: The type invariants guarantee that `Folio` is always refcounted.
unsafe impl AlwaysRefCounted for Folio {
    fn inc_ref(&self) {
        // SAFETY: The existence of a shared reference means the refcount is nonzero.
        unsafe { bindings::folio_get(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller gives up a reference it owns; `Folio` is
        // `repr(transparent)` over `struct folio`.
        unsafe { bindings::folio_put(obj.cast().as_ptr()) };
    }
}

impl Folio {
    /// Creates a reference to a folio from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid folio whose refcount stays nonzero for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::folio) -> &'a Self {
        // SAFETY: `Folio` is `repr(transparent)` over `struct folio`, and the
        // caller guarantees validity for `'a`.
        unsafe { &*ptr.cast() }
    }

    /// Returns the raw `struct folio` pointer.
    pub fn as_raw(&self) -> *mut bindings::folio {
        self.0.get()
    }

    /// Returns the byte position of the folio in its file.
    pub fn pos(&self) -> i64 {
        // SAFETY: The folio is valid by the type invariant.
        unsafe { bindings::folio_pos(self.as_raw()) }
    }

    /// Returns the size of the folio in bytes.
    pub fn size(&self) -> usize {
        // SAFETY: The folio is valid by the type invariant.
        unsafe { bindings::folio_size(self.as_raw()) }
    }

    /// Returns whether the folio's contents are up to date with the file.
    pub fn test_uptodate(&self) -> bool {
        // SAFETY: The folio is valid by the type invariant.
        unsafe { bindings::folio_test_uptodate(self.as_raw()) }
    }

    /// Returns whether the folio still belongs to `mapping` (truncation
    /// detaches it).
    pub fn belongs_to(&self, mapping: &AddressSpace) -> bool {
        // SAFETY: The folio is valid; the mapping is only compared.
        let m = unsafe { bindings::folio_mapping(self.as_raw()) };
        m == mapping.as_raw()
    }

    /// Locks the folio, sleeping until it can be.
    pub fn lock(&self) -> LockedFolio<'_> {
        // SAFETY: The folio is valid by the type invariant.
        unsafe { bindings::folio_lock(self.as_raw()) };
        // INVARIANT: The folio was just locked by us.
        LockedFolio {
            folio: self,
            _not_send: PhantomData,
        }
    }
}

/// A folio locked by the current task.
///
/// Dropping it unlocks the folio.
///
/// # Invariants
///
/// `folio` is locked by the current task, and that lock is owned by this
/// value. The folio stays valid while it is locked: it is either in a
/// mapping's page cache, which cannot drop it while it is locked, or
/// referenced by whoever lent `'a`.
pub struct LockedFolio<'a> {
    folio: &'a Folio,
    // A folio lock is released by the task that took it.
    _not_send: PhantomData<*mut ()>,
}

impl<'a> LockedFolio<'a> {
    /// Takes ownership of the lock on a folio locked by the caller.
    ///
    /// # Safety
    ///
    /// The current task holds the lock of `folio` and hands its release over
    /// to the returned value.
    pub(crate) unsafe fn from_locked(folio: &'a Folio) -> Self {
        // INVARIANT: By the safety requirements.
        Self {
            folio,
            _not_send: PhantomData,
        }
    }

    /// Returns the locked folio.
    ///
    /// The reference is tied to the lock, not to `'a`: once the lock is
    /// given up the folio may be truncated and freed, e.g. during
    /// [`LockedFolio::relock_later`]'s wait.
    ///
    /// ```ignore,compile_fail
    /// fn misuse(locked: LockedFolio<'_>) -> i64 {
    ///     let folio = locked.folio();
    ///     drop(locked); // Unlocked: truncation may free the folio now.
    ///     folio.pos() // error[E0505]: cannot move out of `locked` while borrowed
    /// }
    /// ```
    pub fn folio(&self) -> &Folio {
        self.folio
    }

    /// Zeroes the bytes `start..end` of the folio.
    ///
    /// Only a locked folio may be modified this way; out-of-range values are
    /// clamped to the folio.
    pub fn zero_segment(&self, start: usize, end: usize) {
        let size = self.folio.size();
        let (start, end) = (start.min(size), end.min(size));
        if start < end {
            // SAFETY: The folio is valid and locked by us; the range is
            // within the folio.
            unsafe { bindings::folio_zero_segment(self.folio.as_raw(), start, end) };
        }
    }

    /// Unlocks the folio so that the caller can wait (for example for room
    /// in its queues) without holding a folio lock, then relocks it.
    ///
    /// Returns `None` if the folio was truncated meanwhile: it is then no
    /// longer the caller's to write.
    pub fn relock_later(self, mapping: &AddressSpace, wait: impl FnOnce()) -> Option<Self> {
        // Unlocked, the folio is kept only by the reference of whoever handed
        // it out (`writeback_iter()`'s batch), which this value does not
        // own: truncation may remove it from the page cache and free it
        // meanwhile. Hold a reference of our own across the wait.
        let held: ARef<Folio> = self.folio.into();
        let folio = self.folio;
        drop(self);
        wait();
        // SAFETY: `held` keeps the folio valid.
        unsafe { bindings::folio_lock(held.as_raw()) };
        if held.belongs_to(mapping) {
            // INVARIANT: Locked by us just now. Locked and in `mapping`, the
            // folio stays in the page cache, whose reference keeps it
            // alive, for as long as the lock is held: `held` may go.
            Some(Self {
                folio,
                _not_send: PhantomData,
            })
        } else {
            // Truncated meanwhile: no longer the caller's to write.
            // SAFETY: Locked by us just now.
            unsafe { bindings::folio_unlock(held.as_raw()) };
            None
        }
    }

    /// Clears the folio's dirty flag for a writeback this task starts on it
    /// (as `writeback_iter()` does for the folios it hands out): a write
    /// into the folio from now on dirties it again. Returns whether it was
    /// dirty.
    pub fn clear_dirty_for_io(&mut self) -> bool {
        // SAFETY: The folio is valid and locked by us, as the function
        // requires.
        unsafe { bindings::folio_clear_dirty_for_io(self.folio.as_raw()) }
    }

    /// Redirties a folio that writeback will not handle now, and unlocks it.
    pub fn redirty(self, wbc: &WritebackControl) {
        // SAFETY: The folio is valid and locked by us, `wbc` is valid.
        unsafe { bindings::folio_redirty_for_writepage(wbc.as_raw(), self.folio.as_raw()) };
        // `self` is dropped here, which unlocks the folio.
    }

    /// Marks the folio as under writeback and unlocks it.
    ///
    /// The returned value owns ending that writeback. Nothing else may free
    /// or truncate the folio until then, so it needs no reference of its own.
    pub fn start_writeback(self) -> WritebackFolio {
        let raw = self.folio.as_raw();
        // SAFETY: The folio is valid and locked by us, as starting writeback
        // requires.
        unsafe { bindings::__folio_start_writeback(raw, false) };
        drop(self);
        // INVARIANT: Writeback was just started by us on a valid folio.
        WritebackFolio {
            // SAFETY: `raw` comes from a reference, so it is not null.
            folio: unsafe { NonNull::new_unchecked(raw) },
        }
    }
}

impl Drop for LockedFolio<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we own the folio's lock.
        unsafe { bindings::folio_unlock(self.folio.as_raw()) };
    }
}

/// A folio under writeback whose end is owned by this value.
///
/// Dropping it without [`WritebackFolio::end_writeback`] still ends the
/// writeback, so a folio can never be left under writeback by an early return.
///
/// # Invariants
///
/// `folio` is under writeback started through [`LockedFolio::start_writeback`]
/// and not yet ended. The writeback flag keeps it allocated and in its
/// mapping: truncation and reclaim wait for writeback to end.
pub struct WritebackFolio {
    folio: NonNull<bindings::folio>,
}

// SAFETY: Writeback may be ended from any thread, typically by a completion
// on a workqueue.
unsafe impl Send for WritebackFolio {}

// SAFETY: The shared methods only read the folio.
unsafe impl Sync for WritebackFolio {}

impl WritebackFolio {
    /// Returns the folio.
    pub fn folio(&self) -> &Folio {
        // SAFETY: The folio stays valid while under writeback (type invariant).
        unsafe { Folio::from_raw(self.folio.as_ptr()) }
    }

    /// Returns the raw pointer, for handing over to a C function that ends
    /// the writeback itself.
    ///
    /// The caller takes over the obligation to end writeback.
    pub fn into_raw(self) -> *mut bindings::folio {
        let raw = self.folio.as_ptr();
        core::mem::forget(self);
        raw
    }
}

impl Drop for WritebackFolio {
    fn drop(&mut self) {
        // SAFETY: By the type invariant writeback was started by us and not
        // yet ended; this ends it exactly once.
        unsafe { bindings::folio_end_writeback(self.folio.as_ptr()) };
    }
}

// SPDX-License-Identifier: GPL-2.0

//! netfs write requests and their subrequests, as an engine drives them.
//!
//! A request is created by netfs for the engine (`netfs_engine_create_write_req()`)
//! and shared with the filesystem, which reads and writes some of its fields
//! (`netfs_priv`, the streams' limits, `wsize`) from its own callbacks. A
//! subrequest goes through three owners:
//!
//! 1. The engine prepares it ([`Subrequest::alloc`], then [`Subrequest::prepare`]
//!    runs the filesystem's `prepare_write`, which sets the stream's limits).
//! 2. [`Subrequest::issue`] hands it, with a reference, to the filesystem or
//!    the cache; they may change `len`, `transferred` and the iterator.
//! 3. The filesystem gives it back through `netfs_write_subrequest_terminated()`,
//!    which netfs routes to the engine with that reference
//!    ([`super::engine::WriteEngine::subreq_terminated`]).
//!
//! Fields the filesystem may change are only read by the engine after step 3.

use super::WbLock;
use super::WbLockGuard;
use crate::ffi::{c_long, c_ulong};
use crate::{
    bindings,
    error::{code::*, Result},
    sync::aref::{ARef, AlwaysRefCounted},
    types::Opaque,
    writeback::AddressSpace,
};
use core::ptr::NonNull;

/// The two streams of a write request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Stream 0: upload to the server.
    Upload,
    /// Stream 1: write to the local cache.
    Cache,
}

impl Stream {
    /// Returns the stream's index in `io_streams[]`.
    pub fn index(self) -> usize {
        match self {
            Stream::Upload => 0,
            Stream::Cache => 1,
        }
    }

    /// Returns the stream with index `i` (0 or anything else for the cache).
    pub fn from_index(i: usize) -> Self {
        if i == 0 {
            Stream::Upload
        } else {
            Stream::Cache
        }
    }
}

/// The size limits a filesystem or cache sets for the next subrequest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Maximum length in bytes.
    pub max_len: u64,
    /// Maximum number of segments (0: unlimited).
    pub max_segs: u32,
}

/// A netfs writeback request owned by a registered engine.
///
/// # Invariants
///
/// The wrapped request is valid and its refcount nonzero while a reference
/// exists; it was created by `netfs_engine_create_write_req()`, so it is
/// flagged `NETFS_RREQ_EXT_ENGINE` and its `engine_priv` belongs to the
/// registered engine.
#[repr(transparent)]
pub struct WriteRequest(Opaque<bindings::netfs_io_request>);

// SAFETY: Requests are designed to be used from the issuer, completions and
// workqueues at once; every access below is either to fields the engine owns
// or through netfs's thread-safe API.
unsafe impl Send for WriteRequest {}

// SAFETY: As above.
unsafe impl Sync for WriteRequest {}

// SAFETY: The type invariants guarantee the request is refcounted.
unsafe impl AlwaysRefCounted for WriteRequest {
    fn inc_ref(&self) {
        // SAFETY: A shared reference implies a nonzero refcount.
        unsafe {
            bindings::netfs_get_request(
                self.as_raw(),
                bindings::netfs_rreq_ref_trace_netfs_rreq_trace_get_for_outstanding,
            )
        };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller gives up a reference it owns. The last put frees
        // the request from a workqueue, never here.
        unsafe {
            bindings::netfs_put_request(
                obj.cast().as_ptr(),
                bindings::netfs_rreq_ref_trace_netfs_rreq_trace_put_return,
            )
        };
    }
}

impl WriteRequest {
    /// Creates a reference from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must be a valid engine-owned request, referenced for `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::netfs_io_request) -> &'a Self {
        // SAFETY: `repr(transparent)`; validity by the caller.
        unsafe { &*ptr.cast() }
    }

    /// Returns the raw pointer.
    pub fn as_raw(&self) -> *mut bindings::netfs_io_request {
        self.0.get()
    }

    /// Creates a writeback request for `mapping`, starting at `start`, with
    /// both streams set up as netfs sets them up for itself.
    ///
    /// Only [`super::engine::Registration`] may create requests, because the
    /// engine's data must be attached before any completion can arrive.
    pub(super) fn create(mapping: &AddressSpace, start: i64) -> Result<ARef<Self>> {
        // SAFETY: `mapping` is valid by its type invariant.
        let raw = unsafe { bindings::netfs_engine_create_write_req(mapping.as_raw(), start) };
        if raw.is_null() {
            return Err(ENOMEM);
        }
        let raw = crate::error::from_err_ptr(raw)?;
        // A new request has two references: the caller's and the one the
        // `IN_PROGRESS` flag holds. Keep one; [`WriteRequest::complete`]
        // clears the flag without a put.
        // SAFETY: We own both references of a new request.
        unsafe {
            bindings::netfs_put_request(
                raw,
                bindings::netfs_rreq_ref_trace_netfs_rreq_trace_put_return,
            )
        };
        // SAFETY: We still own one reference.
        // INVARIANT: Created by `netfs_engine_create_write_req()`.
        Ok(unsafe { ARef::from_raw(NonNull::new_unchecked(raw.cast())) })
    }

    /// Stores the engine's data pointer; see [`super::engine`].
    pub(super) fn set_engine_priv(&self, p: *mut crate::ffi::c_void) {
        // SAFETY: `engine_priv` is the engine's field; nothing else reads it
        // before the request is published to a filesystem.
        unsafe { (*self.as_raw()).engine_priv = p };
    }

    /// Returns the engine's data pointer.
    pub(super) fn engine_priv(&self) -> *mut crate::ffi::c_void {
        // SAFETY: Written once before publication, read-only afterwards.
        unsafe { (*self.as_raw()).engine_priv }
    }

    /// Returns the debug ID shown in traces (`R=`).
    pub fn debug_id(&self) -> u32 {
        // SAFETY: Constant after creation.
        unsafe { (*self.as_raw()).debug_id }
    }

    /// Returns the mapping being written back.
    pub fn mapping(&self) -> &AddressSpace {
        // SAFETY: A request keeps its inode (and so its mapping) alive:
        // inode eviction waits for the inode's outstanding requests.
        unsafe { AddressSpace::from_raw((*self.as_raw()).mapping) }
    }

    /// Takes over a writeback lock taken on this request's mapping; it is
    /// released when the returned value is dropped.
    pub fn adopt_wb_lock(this: &ARef<Self>, guard: WbLockGuard<'_>) -> HeldWbLock {
        // INVARIANT: The request keeps the inode alive for as long as the
        // `HeldWbLock` holds a reference to it.
        HeldWbLock {
            lock: guard.into_lock(),
            _req: this.clone(),
        }
    }

    fn test_flag(&self, bit: u32) -> bool {
        // SAFETY: `flags` is an atomic bitmap of a valid request.
        unsafe { bindings::test_bit(bit as c_long, &raw const (*self.as_raw()).flags) }
    }

    fn set_flag(&self, bit: u32) -> bool {
        // SAFETY: As above; returns the old value.
        unsafe { bindings::test_and_set_bit(bit as c_long, &raw mut (*self.as_raw()).flags) }
    }

    /// Calls the filesystem's `begin_writeback` the first time data for the
    /// server is seen (it picks credentials and sets `wsize` and the upload
    /// stream's availability). The op is optional.
    pub fn begin_writeback(&self) {
        if self.set_flag(bindings::NETFS_RREQ_UPLOAD_TO_SERVER) {
            return;
        }
        // SAFETY: `netfs_ops` is constant and valid for the request's life.
        let op = unsafe { (*(*self.as_raw()).netfs_ops).begin_writeback };
        if let Some(op) = op {
            // SAFETY: The request is valid; the op expects a writeback request.
            unsafe { op(self.as_raw()) };
        }
    }

    /// Returns whether `stream` can take data.
    pub fn stream_avail(&self, stream: Stream) -> bool {
        // SAFETY: Set by request creation and `begin_writeback`, both of which
        // ran on this task before this is asked.
        unsafe { (*self.as_raw()).io_streams[stream.index()].avail }
    }

    /// Returns whether any data was sent to the server.
    pub fn uploading(&self) -> bool {
        self.test_flag(bindings::NETFS_RREQ_UPLOAD_TO_SERVER)
    }

    /// Returns the request's snapshot of the file size.
    pub fn i_size(&self) -> u64 {
        // SAFETY: Written only by the issuer (see `note_i_size`); a racing
        // reader sees one value or the other, both sizes the file had.
        unsafe { (*self.as_raw()).i_size }
    }

    /// Updates the request's snapshot of the file size, `i_size`, for a
    /// folio ending at `folio_end`, as netfs's issuer does: when the folio
    /// reaches past the snapshot. The cache keys its rounding up of the
    /// last block on it.
    pub fn note_i_size(&self, folio_end: u64, i_size: u64) {
        // SAFETY: `i_size` is only written by the issuer, which is us.
        unsafe {
            let p = &raw mut (*self.as_raw()).i_size;
            if folio_end > *p {
                *p = i_size;
            }
        }
    }

    /// Tells the cache its copy is invalid (the cache stream failed).
    pub fn invalidate_cache(&self) {
        // SAFETY: `netfs_ops` is constant and valid.
        let op = unsafe { (*(*self.as_raw()).netfs_ops).invalidate_cache };
        if let Some(op) = op {
            // SAFETY: The request is valid.
            unsafe { op(self.as_raw()) };
        }
    }

    /// Marks the request complete (`NETFS_RREQ_IN_PROGRESS` cleared) and
    /// wakes anyone waiting on it.
    pub fn complete(&self) {
        // SAFETY: The flag is an atomic bit of a valid request; `waitq` is
        // initialised by request creation.
        unsafe {
            bindings::clear_bit_unlock(
                bindings::NETFS_RREQ_IN_PROGRESS as c_long,
                &raw mut (*self.as_raw()).flags,
            );
            bindings::wake_up(&raw mut (*self.as_raw()).waitq);
        }
    }
}

/// A writeback lock held on behalf of a request.
///
/// # Invariants
///
/// `_req` keeps the inode of `lock` alive.
pub struct HeldWbLock {
    // Field order: the lock is released before the request reference goes.
    lock: WbLock,
    _req: ARef<WriteRequest>,
}

impl HeldWbLock {
    /// Releases the lock.
    pub fn release(self) {
        let _ = &self.lock;
    }
}

/// A netfs write subrequest of an engine-owned request.
///
/// # Invariants
///
/// The wrapped subrequest is valid with a nonzero refcount while a reference
/// exists, and belongs to a [`WriteRequest`].
#[repr(transparent)]
pub struct Subrequest(Opaque<bindings::netfs_io_subrequest>);

// SAFETY: See [`WriteRequest`]; subrequests are completed from any context.
unsafe impl Send for Subrequest {}

// SAFETY: As above.
unsafe impl Sync for Subrequest {}

// SAFETY: The type invariants guarantee the subrequest is refcounted.
unsafe impl AlwaysRefCounted for Subrequest {
    fn inc_ref(&self) {
        // SAFETY: A shared reference implies a nonzero refcount.
        unsafe {
            bindings::netfs_get_subrequest(
                self.as_raw(),
                bindings::netfs_sreq_ref_trace_netfs_sreq_trace_get_submit,
            )
        };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller gives up a reference it owns. The last put frees
        // the subrequest and puts its request reference; neither sleeps.
        unsafe {
            bindings::netfs_put_subrequest(
                obj.cast().as_ptr(),
                bindings::netfs_sreq_ref_trace_netfs_sreq_trace_put_done,
            )
        };
    }
}

// Subrequests are compared by identity: the engine finds its bookkeeping
// entry for a subrequest that a filesystem gives back.
impl PartialEq for Subrequest {
    fn eq(&self, other: &Self) -> bool {
        core::ptr::eq(self, other)
    }
}

/// Why a subrequest could not be issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssueError {
    /// The filesystem's `prepare_write` refused it.
    PrepareFailed,
}

impl Subrequest {
    /// Takes over the reference that comes with a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must be a valid subrequest of an engine-owned request, and the
    /// caller must own one of its references, which moves to the result.
    pub unsafe fn from_raw_owned(ptr: *mut bindings::netfs_io_subrequest) -> ARef<Self> {
        // SAFETY: By the safety requirements.
        unsafe { ARef::from_raw(NonNull::new_unchecked(ptr.cast())) }
    }

    /// Returns the raw pointer.
    pub fn as_raw(&self) -> *mut bindings::netfs_io_subrequest {
        self.0.get()
    }

    /// Allocates a subrequest of `req` for `stream`, starting at `start`.
    ///
    /// Writeback allocations come from a mempool and do not fail.
    pub fn alloc(req: &WriteRequest, stream: Stream, start: u64) -> Result<ARef<Self>> {
        // SAFETY: `req` is valid.
        let raw = unsafe { bindings::netfs_alloc_subrequest(req.as_raw()) };
        if raw.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: A new subrequest is ours; set it up before anyone sees it.
        unsafe {
            (*raw).source = match stream {
                Stream::Upload => bindings::netfs_io_source_NETFS_UPLOAD_TO_SERVER,
                Stream::Cache => bindings::netfs_io_source_NETFS_WRITE_TO_CACHE,
            };
            (*raw).stream_nr = stream.index() as u8;
            (*raw).start = start;
            (*raw).len = 0;
            // A new subrequest has two references, one for the stream and one
            // for the filesystem; the second is taken again by `issue`.
            bindings::netfs_put_subrequest(
                raw,
                bindings::netfs_sreq_ref_trace_netfs_sreq_trace_put_clear,
            );
        }
        // SAFETY: We own the remaining reference.
        Ok(unsafe { Self::from_raw_owned(raw) })
    }

    fn stream(&self) -> *mut bindings::netfs_io_stream {
        // SAFETY: A subrequest's request outlives it; `stream_nr` is 0 or 1.
        unsafe {
            let rreq = (*self.as_raw()).rreq;
            &raw mut (*rreq).io_streams[usize::from((*self.as_raw()).stream_nr & 1)]
        }
    }

    /// Returns the request.
    pub fn request(&self) -> &WriteRequest {
        // SAFETY: The subrequest holds a reference to its request.
        unsafe { WriteRequest::from_raw((*self.as_raw()).rreq) }
    }

    /// Returns the stream.
    pub fn stream_id(&self) -> Stream {
        // SAFETY: Constant after allocation.
        Stream::from_index(usize::from(unsafe { (*self.as_raw()).stream_nr }))
    }

    /// Runs the stream's `prepare_write` (the filesystem's or the cache's) and
    /// returns the limits it set for this subrequest.
    ///
    /// `wsize` is the upload default when the filesystem has no
    /// `prepare_write`, as netfs does.
    pub fn prepare(&self) -> Limits {
        let stream = self.stream();
        // SAFETY: The issuer owns the stream's submission-side fields; the
        // request and its ops are valid.
        unsafe {
            let rreq = (*self.as_raw()).rreq;
            if (*stream).stream_nr == 0 {
                (*stream).sreq_max_len = (*rreq).wsize as usize;
            } else {
                (*stream).sreq_max_len = usize::MAX;
            }
            (*stream).sreq_max_segs = 0;
            if let Some(op) = (*stream).prepare_write {
                op(self.as_raw());
            }
            bindings::set_bit(
                bindings::NETFS_SREQ_IN_PROGRESS as c_ulong,
                &raw mut (*self.as_raw()).flags,
            );
            Limits {
                max_len: ((*stream).sreq_max_len as u64).max(1),
                max_segs: (*stream).sreq_max_segs,
            }
        }
    }

    /// Issues `[start, start + len)` to the filesystem or cache, with an
    /// iterator over the page cache. The folios in the range must be under
    /// writeback owned by the caller, or locked by it, until the subrequest
    /// terminates: the iterator reads them where they are.
    ///
    /// Completion comes back through the engine's `subreq_terminated`,
    /// possibly before this returns (9p writes synchronously).
    pub fn issue(&self, len: u64) -> core::result::Result<(), IssueError> {
        let raw = self.as_raw();
        // SAFETY: Until issued, the subrequest is the engine's alone.
        unsafe {
            if bindings::test_bit(
                bindings::NETFS_SREQ_FAILED as c_long,
                &raw const (*raw).flags,
            ) {
                return Err(IssueError::PrepareFailed);
            }
            (*raw).len = len as usize;
            (*raw).transferred = 0;
            let mapping = (*(*raw).rreq).mapping;
            bindings::iov_iter_xarray(
                &raw mut (*raw).io_iter,
                bindings::ITER_SOURCE,
                &raw mut (*mapping).i_pages,
                (*raw).start as i64,
                len as usize,
            );
        }
        super::trace::sreq(self, super::trace::SreqTrace::Submit);
        // The reference handed to the filesystem comes back with the call to
        // `subreq_terminated`.
        core::mem::forget(ARef::from(self));
        // SAFETY: The stream's `issue_write` is set for an available stream;
        // the subrequest is fully set up and referenced for the callee.
        unsafe {
            let issue = (*self.stream()).issue_write;
            match issue {
                Some(issue) => issue(raw),
                None => {
                    bindings::netfs_write_subrequest_terminated(raw.cast(), EIO.to_errno() as isize)
                }
            }
        }
        Ok(())
    }

    /// Tells the stream's `issue_write` that it may extend this subrequest
    /// by up to `bytes` past its end: the rest of the last folio, zeroed
    /// past the end of the file. cachefiles writes whole blocks and rounds
    /// the last one up only if told so; otherwise it leaves the partial
    /// block out and reports a short write.
    pub fn set_extendable_to(&self, bytes: u64) {
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        // SAFETY: The stream's submission-side fields belong to whoever
        // issues on it: the issuer, or the retryer while the issuer is
        // paused, which is the caller.
        unsafe { (*self.stream()).submit_extendable_to = bytes };
    }

    /// Sets the length of a subrequest that will not be issued but given
    /// back at once with [`Self::terminate`], so that the byte count it
    /// reports is taken in full.
    pub fn set_len(&self, len: u64) {
        // SAFETY: Until issued, the subrequest is the engine's alone.
        unsafe { (*self.as_raw()).len = len as usize };
    }

    /// Gives the subrequest back with `result` (bytes or -errno) as its
    /// filesystem would: through `netfs_write_subrequest_terminated()`, so
    /// the completion reaches the engine's `subreq_terminated` like any
    /// other. For a subrequest its owner could not send.
    pub fn terminate(this: ARef<Self>, result: isize) {
        let raw = ARef::into_raw(this).as_ptr();
        // SAFETY: The reference taken out of `this` is the one the
        // completion path consumes, as with a filesystem's.
        unsafe { bindings::netfs_write_subrequest_terminated(raw.cast(), result) }
    }

    /// Returns the subrequest's index within its request, shown in traces.
    pub fn debug_index(&self) -> u32 {
        // SAFETY: Constant after allocation.
        u32::from(unsafe { (*self.as_raw()).debug_index })
    }

    /// Returns the start position.
    pub fn start(&self) -> u64 {
        // SAFETY: Read after termination or by the owner before issue.
        unsafe { (*self.as_raw()).start }
    }

    /// Returns the length.
    pub fn len(&self) -> u64 {
        // SAFETY: As above.
        unsafe { (*self.as_raw()).len as u64 }
    }

    /// Returns whether the subrequest covers no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns the number of bytes transferred so far.
    pub fn transferred(&self) -> u64 {
        // SAFETY: As above.
        unsafe { (*self.as_raw()).transferred as u64 }
    }

    /// Returns whether the filesystem asked for a retry.
    pub fn test_need_retry(&self) -> bool {
        // SAFETY: Atomic bit of a valid subrequest.
        unsafe {
            bindings::test_bit(
                bindings::NETFS_SREQ_NEED_RETRY as c_long,
                &raw const (*self.as_raw()).flags,
            )
        }
    }

    /// Asks for a retry, as a filesystem does for a transient error before it
    /// terminates the subrequest.
    pub fn set_need_retry(&self) {
        // SAFETY: Atomic bit of a valid subrequest.
        unsafe {
            bindings::set_bit(
                bindings::NETFS_SREQ_NEED_RETRY as c_ulong,
                &raw mut (*self.as_raw()).flags,
            )
        }
    }

    /// Records the outcome the filesystem reported, as netfs does: the
    /// transferred count or the error, and clears `IN_PROGRESS`.
    pub fn record_termination(&self, result: isize) {
        let raw = self.as_raw();
        // SAFETY: Called from the termination path, when the filesystem has
        // given the subrequest back.
        unsafe {
            if result < 0 {
                (*raw).error = result as i16;
                if !bindings::test_bit(
                    bindings::NETFS_SREQ_NEED_RETRY as c_long,
                    &raw const (*raw).flags,
                ) {
                    bindings::set_bit(
                        bindings::NETFS_SREQ_FAILED as c_ulong,
                        &raw mut (*raw).flags,
                    );
                }
            } else {
                let left = (*raw).len.saturating_sub((*raw).transferred);
                (*raw).error = 0;
                (*raw).transferred += (result as usize).min(left);
            }
            bindings::clear_bit_unlock(
                bindings::NETFS_SREQ_IN_PROGRESS as c_long,
                &raw mut (*raw).flags,
            );
        }
    }
}

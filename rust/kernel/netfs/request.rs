// SPDX-License-Identifier: GPL-2.0

//! netfs write requests and their subrequests, as an engine drives them.
//!
//! A request is created by netfs for the engine (`netfs_engine_create_write_req()`)
//! and shared with the filesystem, which reads and writes some of its fields
//! (`netfs_priv`, the streams' limits, `wsize`) from its own callbacks. The
//! fields used to submit subrequests belong to the request's one
//! [`Submission`]. A subrequest goes through four states, each an owned type
//! consumed by the next step (see [`Subrequest`]):
//!
//! 1. [`NewSubrequest::alloc`] allocates it;
//! 2. [`Submission::prepare`] runs the stream's `prepare_write`, which sets
//!    the stream's limits for it: a [`PreparedSubrequest`];
//! 3. [`PreparedSubrequest::issue`] (or [`Submission::issue_to_cache`])
//!    hands it, with a reference, to the filesystem or the cache, which may
//!    change `len`, `transferred` and the iterator;
//! 4. the filesystem gives it back through `netfs_write_subrequest_terminated()`,
//!    which netfs routes to the engine with that reference as a
//!    [`TerminatedSubrequest`] ([`super::engine::WriteEngine::subreq_terminated`]).
//!
//! Fields the filesystem may change are only read by the engine after step 4.

use super::WbLock;
use super::WbLockGuard;
use crate::ffi::{c_long, c_ulong};
use crate::{
    bindings,
    error::{code::*, Result},
    sync::{
        aref::{ARef, AlwaysRefCounted},
        atomic::{Acquire, Atomic, Full, Relaxed},
    },
    types::Opaque,
    writeback::AddressSpace,
};
use core::ptr::NonNull;

/// The two streams of a write request.
///
/// # Examples
///
/// ```
/// use kernel::netfs::request::Stream;
///
/// for s in [Stream::Upload, Stream::Cache] {
///     assert_eq!(Stream::from_index(s.index()), s);
/// }
/// // netfs's `io_streams[0]` uploads, `io_streams[1]` caches.
/// assert_eq!(Stream::Upload.index(), 0);
/// assert_eq!(Stream::Cache.index(), 1);
/// ```
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

/// What a request writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteKind {
    /// Dirty folios of the page cache (`NETFS_WRITEBACK`).
    Writeback,
    /// The caller's buffer, without the page cache (`NETFS_UNBUFFERED_WRITE`).
    Unbuffered,
    /// The caller's buffer, `O_DIRECT` (`NETFS_DIO_WRITE`).
    Direct,
    /// Folios of the page cache as a synchronous write copies into them
    /// (`NETFS_WRITETHROUGH`).
    Writethrough,
}

impl WriteKind {
    /// Whether the request writes the caller's buffer rather than folios.
    pub fn writes_buffer(self) -> bool {
        matches!(self, Self::Unbuffered | Self::Direct)
    }
}

/// What an engine request's `engine_priv` points to: the engine's data,
/// and the guard of an adopted write's buffer.
///
/// A subrequest is issued over the caller's buffer only while the guard is
/// open and is counted until it terminates; the engine's
/// `unbuffered_write` closes the guard when it returns and then waits for
/// the count to drain, so no filesystem reads the buffer after netfs got
/// it back, whatever the engine does with its subrequests.
///
/// # Invariants
///
/// `data` is the engine's `RequestData` as `into_foreign` made it, or null.
/// `outstanding` counts the subrequests of an adopted request issued or
/// given back and not yet terminated.
pub(super) struct EnginePriv {
    pub(super) data: *mut crate::ffi::c_void,
    outstanding: Atomic<i64>,
    open: Atomic<bool>,
}

impl EnginePriv {
    /// A new guard, open for an adopted request.
    pub(super) fn new(open: bool) -> Self {
        Self {
            data: core::ptr::null_mut(),
            outstanding: Atomic::new(0),
            open: Atomic::new(open),
        }
    }

    /// Counts a subrequest that will terminate.
    fn count_in(&self) {
        self.outstanding.fetch_add(1, Full);
    }

    /// Counts a subrequest that will read the buffer, if it may.
    fn open_in(&self) -> bool {
        // Full barriers on both sides: either `close` sees this count, or
        // this sees the guard closed.
        self.outstanding.fetch_add(1, Full);
        if self.open.load(Relaxed) {
            return true;
        }
        self.outstanding.fetch_sub(1, Full);
        false
    }

    /// A counted subrequest terminated.
    pub(super) fn count_out(&self) {
        self.outstanding.fetch_sub(1, Full);
    }

    /// Closes the guard and waits until no filesystem holds a subrequest
    /// over the buffer. An engine that returned with subrequests in flight
    /// is waited for here, polling: rnetfs returns with none.
    pub(super) fn close(&self) {
        self.open.xchg(false, Full);
        while self.outstanding.load(Acquire) > 0 {
            crate::time::delay::fsleep(crate::time::Delta::from_millis(1));
        }
    }
}

/// A netfs write request owned by a registered engine.
///
/// # Invariants
///
/// The wrapped request is valid and its refcount nonzero while a reference
/// exists; it was created by `netfs_engine_create_write_req()` or adopted
/// by the engine at its creation (`netfs_engine_adopt()`), so it is
/// flagged `NETFS_RREQ_EXT_ENGINE` and its `engine_priv` belongs to the
/// registered engine: a [`EnginePriv`] from the moment a filesystem can
/// see the request. An adopted request is either a writethrough, whose
/// data is in page cache folios like writeback's, or an unbuffered or
/// direct write whose buffer (`buffer.iter`, the caller's memory) is valid
/// and unchanged while the engine's `unbuffered_write` runs, and no longer
/// (a kernel caller's bvec or kvec array may live on its stack); its
/// [`EnginePriv`] guards the reads of it.
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
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::netfs_io_request) -> &'a Self {
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

    /// Returns the request's [`EnginePriv`], once attached.
    pub(super) fn guard(&self) -> Option<&EnginePriv> {
        let p = self.engine_priv().cast::<EnginePriv>();
        // SAFETY: Set once, from a `KBox<EnginePriv>`, and freed only when
        // the request is freed, which the reference `self` prevents.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// Counts a subrequest of an adopted write that will terminate.
    fn count_in(&self) {
        if self.buffer_span().is_some() {
            if let Some(g) = self.guard() {
                g.count_in();
            }
        }
    }

    /// Returns what the request writes.
    pub fn kind(&self) -> WriteKind {
        // SAFETY: Set at creation, constant afterwards.
        match unsafe { (*self.as_raw()).origin } {
            bindings::netfs_io_origin_NETFS_DIO_WRITE => WriteKind::Direct,
            bindings::netfs_io_origin_NETFS_UNBUFFERED_WRITE => WriteKind::Unbuffered,
            bindings::netfs_io_origin_NETFS_WRITETHROUGH => WriteKind::Writethrough,
            _ => WriteKind::Writeback,
        }
    }

    /// File position and length of the caller's buffer, for an unbuffered
    /// or direct write.
    fn buffer_span(&self) -> Option<(u64, u64)> {
        if !self.kind().writes_buffer() {
            return None;
        }
        // SAFETY: Set before the request was adopted, constant afterwards.
        unsafe { Some(((*self.as_raw()).start, (*self.as_raw()).len)) }
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
            _lock: guard.into_lock(),
            _req: this.clone(),
        }
    }

    fn set_flag(&self, bit: u32) -> bool {
        // SAFETY: `flags` is an atomic bitmap of a valid request; returns
        // the old value.
        unsafe { bindings::test_and_set_bit(bit as c_long, &raw mut (*self.as_raw()).flags) }
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
    _lock: WbLock,
    _req: ARef<WriteRequest>,
}

/// Ownership of a request's submission side.
///
/// netfs keeps per-stream fields that only whoever is submitting may use:
/// `sreq_max_len` and `sreq_max_segs`, which a `prepare_write` sets for the
/// subrequest it prepares, and `submit_extendable_to`, which the cache's
/// `issue_write` reads. netfs's C engine lets its issuer and its retryer
/// use them at once. Here there is one [`Submission`] per request, created
/// with it, and every operation that touches those fields, or the
/// request's `i_size` snapshot and `begin_writeback`, takes it by `&mut`:
/// an engine that keeps it under one lock has its issuer and retryer
/// excluded by construction.
///
/// # Invariants
///
/// At most one `Submission` exists per request, and `req` is that request.
pub struct Submission {
    req: ARef<WriteRequest>,
}

impl Submission {
    /// # Safety
    ///
    /// No other `Submission` of `req` may exist, ever.
    pub(super) unsafe fn new(req: ARef<WriteRequest>) -> Self {
        // INVARIANT: By the safety requirements.
        Self { req }
    }

    /// Returns the request.
    pub fn request(&self) -> &ARef<WriteRequest> {
        &self.req
    }

    fn stream(&mut self, stream: Stream) -> *mut bindings::netfs_io_stream {
        // SAFETY: The request is valid; `index()` is 0 or 1.
        unsafe { &raw mut (*self.req.as_raw()).io_streams[stream.index()] }
    }

    /// Calls the filesystem's `begin_writeback` the first time data for the
    /// server is seen (it picks credentials and sets `wsize` and the upload
    /// stream's availability). The op is optional.
    /// A writethrough has its file's credentials and `wsize` from its
    /// creation, as netfs gives them: the op is not called for it (9p's
    /// would replace the request's fid reference without dropping it).
    pub fn begin_writeback(&mut self) {
        if self.req.set_flag(bindings::NETFS_RREQ_UPLOAD_TO_SERVER)
            || self.req.kind() == WriteKind::Writethrough
        {
            return;
        }
        // SAFETY: `netfs_ops` is constant and valid for the request's life.
        let op = unsafe { (*(*self.req.as_raw()).netfs_ops).begin_writeback };
        if let Some(op) = op {
            // SAFETY: The request is valid; the op expects a writeback
            // request, and the submission side is ours (`&mut self`).
            unsafe { op(self.req.as_raw()) };
        }
    }

    /// Returns how many of the `max_len` bytes of the caller's buffer from
    /// file position `start` fit in `max_segs` segments (0: no limit), for
    /// an unbuffered or direct write; `max_len` for any other.
    pub fn buffer_fit(&mut self, start: u64, max_len: u64, max_segs: u32) -> u64 {
        let Some((rstart, rlen)) = self.req.buffer_span() else {
            return max_len;
        };
        if max_segs == 0 || start < rstart || start - rstart > rlen {
            return max_len;
        }
        let off = start - rstart;
        let max_len = max_len.min(rlen - off);
        // SAFETY: The buffer is valid and constant for the request's life
        // (type invariant of `WriteRequest`) and `off` lies within it; the
        // helper slices a copy of its iterator.
        let n = unsafe {
            bindings::netfs_buffer_fit(
                self.req.as_raw(),
                off as usize,
                max_len as usize,
                max_segs as usize,
            )
        };
        (n as u64).clamp(1, max_len.max(1))
    }

    /// Returns whether `stream` can take data.
    pub fn stream_avail(&mut self, stream: Stream) -> bool {
        let s = self.stream(stream);
        // SAFETY: Written by request creation and by the filesystem's
        // `begin_writeback` and `retry_request`, which only run under the
        // submission side we own.
        unsafe { (*s).avail }
    }

    /// Returns the request's snapshot of the file size.
    pub fn i_size(&self) -> u64 {
        // SAFETY: Written only through `note_i_size`, which needs `&mut self`.
        unsafe { (*self.req.as_raw()).i_size }
    }

    /// Updates the request's snapshot of the file size, `i_size`, for a
    /// folio ending at `folio_end`, as netfs's issuer does: when the folio
    /// reaches past the snapshot. The cache keys its rounding up of the
    /// last block on it.
    pub fn note_i_size(&mut self, folio_end: u64, i_size: u64) {
        // SAFETY: `i_size` is only written by the owner of the submission
        // side, which is us; netfs reads it from the cache's `issue_write`,
        // which also runs under it.
        unsafe {
            let p = &raw mut (*self.req.as_raw()).i_size;
            if folio_end > *p {
                *p = i_size;
            }
        }
    }

    /// Runs the filesystem's `retry_request` before subrequests of the
    /// upload stream are prepared again, where netfs does
    /// (`netfs_retry_write_stream()`): afs picks another key there. `failed`
    /// is the first subrequest to send again, given back by its filesystem;
    /// like netfs, it is first on the stream's list during the call (afs
    /// reads its error there). Returns whether the filesystem has the op,
    /// or the stream's error if the filesystem gave the stream up.
    pub fn retry_request(
        &mut self,
        stream: Stream,
        failed: &Subrequest,
    ) -> core::result::Result<bool, i32> {
        if stream != Stream::Upload
            || failed.stream_id() != stream
            || !core::ptr::eq(failed.request(), &*self.req)
        {
            return Ok(false);
        }
        let s = self.stream(stream);
        // SAFETY: `netfs_ops` is constant; the stream's fields belong to the
        // submission side, which is ours. An engine's subrequests are on no
        // list (netfs lists its own only), so the stream's list is empty
        // and `failed`'s link free: the two are linked for the call and
        // both reset after it. `failed` was given back, so its fields are
        // stable.
        unsafe {
            let Some(op) = (*(*self.req.as_raw()).netfs_ops).retry_request else {
                return Ok(false);
            };
            let head = &raw mut (*s).subrequests;
            let link = &raw mut (*failed.as_raw()).rreq_link;
            bindings::list_add_tail(link, head);
            op(self.req.as_raw(), s);
            bindings::INIT_LIST_HEAD(link);
            bindings::INIT_LIST_HEAD(head);
            if (*s).failed {
                // netfs keeps the negative errno in a 16-bit field.
                let e = i32::from((*s).error as i16);
                return Err(if e == 0 { EIO.to_errno() } else { -e.abs() });
            }
        }
        Ok(true)
    }

    /// Runs the stream's `prepare_write` (the filesystem's or the cache's)
    /// for `sreq`, which it sizes, and returns it with the limits it set.
    ///
    /// Hands `sreq` back if it belongs to another request. `wsize` is the
    /// upload default when the filesystem has no `prepare_write`, as in
    /// netfs.
    pub fn prepare(
        &mut self,
        sreq: NewSubrequest,
    ) -> core::result::Result<PreparedSubrequest, NewSubrequest> {
        let raw = sreq.0.as_raw();
        // SAFETY: A subrequest holds a reference to its request.
        if !core::ptr::eq(unsafe { (*raw).rreq }, self.req.as_raw()) {
            return Err(sreq);
        }
        let s = self.stream(sreq.0.stream_id());
        // SAFETY: The submission side is ours (`&mut self`), the subrequest
        // is not yet visible to anyone else (`NewSubrequest`), the request
        // and its ops are valid.
        let limits = unsafe {
            let rreq = self.req.as_raw();
            (*s).sreq_max_len = if (*s).stream_nr == 0 {
                (*rreq).wsize as usize
            } else {
                usize::MAX
            };
            (*s).sreq_max_segs = 0;
            if let Some(op) = (*s).prepare_write {
                op(raw);
            }
            bindings::set_bit(
                bindings::NETFS_SREQ_IN_PROGRESS as c_ulong,
                &raw mut (*raw).flags,
            );
            Limits {
                max_len: ((*s).sreq_max_len as u64).max(1),
                max_segs: (*s).sreq_max_segs,
            }
        };
        super::trace::sreq(&sreq.0, super::trace::SreqTrace::Prepare);
        Ok(PreparedSubrequest {
            sreq: sreq.0,
            limits,
        })
    }

    /// Issues a cache subrequest as [`PreparedSubrequest::issue`] does, after
    /// telling the cache's `issue_write` that it may extend the write by up
    /// to `extendable` bytes past its end (the rest of the last folio,
    /// zeroed past the end of the file). cachefiles writes whole blocks and
    /// rounds the last one up only if told so; otherwise it leaves the
    /// partial block out and reports a short write.
    pub fn issue_to_cache(
        &mut self,
        sreq: PreparedSubrequest,
        len: u64,
        extendable: u64,
    ) -> core::result::Result<(), IssueError> {
        if sreq.sreq.stream_id() != Stream::Cache {
            sreq.give_back(len, EIO.to_errno() as isize);
            return Err(IssueError::WrongStream);
        }
        let s = self.stream(Stream::Cache);
        // SAFETY: The submission side is ours, and so it stays until the
        // cache's `issue_write` (called synchronously below) has read it.
        unsafe { (*s).submit_extendable_to = u32::try_from(extendable).unwrap_or(u32::MAX) };
        sreq.issue_raw(len)
    }
}

/// A netfs write subrequest of an engine-owned request, as a counted
/// handle: its identity, and what stays constant while a filesystem owns
/// it.
///
/// The steps of its life are owned types, each consumed by the next:
///
/// | state | type | owner | may |
/// |---|---|---|---|
/// | allocated | [`NewSubrequest`] | the engine | [`Submission::prepare`] |
/// | prepared | [`PreparedSubrequest`] | the engine | issue it, or give it back unsent |
/// | issued | (none: an [`ARef<Subrequest>`] handle) | the filesystem or cache | nothing but read constants |
/// | terminated | [`TerminatedSubrequest`] | the engine, in `subreq_terminated` | record the outcome |
///
/// so that a subrequest is prepared before it is issued, issued at most
/// once, and its outcome recorded only once it is given back.
///
/// # Invariants
///
/// The wrapped subrequest is valid with a nonzero refcount while a reference
/// exists, and belongs to a [`WriteRequest`].
#[repr(transparent)]
pub struct Subrequest(Opaque<bindings::netfs_io_subrequest>);

// SAFETY: See [`WriteRequest`]; subrequests are completed from any context,
// and the shared methods only read fields constant after allocation.
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
    /// A cache subrequest was issued without the submission side, or an
    /// upload with it ([`Submission::issue_to_cache`]).
    WrongStream,
    /// The range lies outside the caller's buffer of an unbuffered or
    /// direct write.
    OutOfBuffer,
}

impl Subrequest {
    /// Returns the raw pointer.
    pub fn as_raw(&self) -> *mut bindings::netfs_io_subrequest {
        self.0.get()
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

    /// Returns the start position.
    pub fn start(&self) -> u64 {
        // SAFETY: Constant after allocation: a retry allocates a new
        // subrequest rather than moving this one.
        unsafe { (*self.as_raw()).start }
    }
}

/// A subrequest just allocated, not yet seen by anyone but its owner.
///
/// # Invariants
///
/// The subrequest has not been prepared or issued, and the only other
/// reference to it is the request's stream's (none of which netfs reads
/// for an engine-owned request).
pub struct NewSubrequest(ARef<Subrequest>);

impl NewSubrequest {
    /// Allocates a subrequest of `req` for `stream`, starting at `start`.
    ///
    /// Writeback allocations come from netfs's mempool, which waits rather
    /// than fail; an error is still handed back, never retried here.
    pub fn alloc(req: &WriteRequest, stream: Stream, start: u64) -> Result<Self> {
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
            // for the filesystem; the second is taken again at issue.
            bindings::netfs_put_subrequest(
                raw,
                bindings::netfs_sreq_ref_trace_netfs_sreq_trace_put_clear,
            );
        }
        // SAFETY: We own the remaining reference.
        // INVARIANT: Neither prepared nor issued.
        Ok(Self(unsafe {
            ARef::from_raw(NonNull::new_unchecked(raw.cast()))
        }))
    }

    /// Returns a counted handle, for the engine's bookkeeping.
    pub fn handle(&self) -> ARef<Subrequest> {
        self.0.clone()
    }
}

/// A subrequest prepared by its stream's `prepare_write`, owned by the
/// engine until it is issued or given back.
///
/// # Invariants
///
/// `sreq` was prepared (`NETFS_SREQ_IN_PROGRESS` set) and not yet issued or
/// given back; nobody but the owner of this value writes to it.
pub struct PreparedSubrequest {
    sreq: ARef<Subrequest>,
    limits: Limits,
}

impl PreparedSubrequest {
    /// Returns the limits its `prepare_write` set.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Returns the subrequest.
    pub fn subrequest(&self) -> &Subrequest {
        &self.sreq
    }

    /// Returns a counted handle, for the engine's bookkeeping.
    pub fn handle(&self) -> ARef<Subrequest> {
        self.sreq.clone()
    }

    /// Issues an upload of `[start, start + len)` to the filesystem, with an
    /// iterator over the page cache. The folios in the range must be under
    /// writeback owned by the caller, or locked by it, until the subrequest
    /// terminates: the iterator reads them where they are.
    ///
    /// Needs no [`Submission`]: a filesystem's upload `issue_write` reads
    /// only its subrequest, which `prepare_write` set up (9p, afs and cifs
    /// in 7.3). May run on any task, e.g. an engine's worker.
    ///
    /// Completion comes back through the engine's `subreq_terminated`,
    /// possibly before this returns (9p writes synchronously).
    ///
    /// On an error the subrequest has been given back with `-EIO`, as a
    /// filesystem would: it never stays unanswered.
    pub fn issue(self, len: u64) -> core::result::Result<(), IssueError> {
        if self.sreq.stream_id() != Stream::Upload {
            self.give_back(len, EIO.to_errno() as isize);
            return Err(IssueError::WrongStream);
        }
        self.issue_raw(len)
    }

    fn issue_raw(self, len: u64) -> core::result::Result<(), IssueError> {
        let raw = self.sreq.as_raw();
        // SAFETY: Prepared and not issued: the subrequest is ours alone.
        unsafe {
            if bindings::test_bit(
                bindings::NETFS_SREQ_FAILED as c_long,
                &raw const (*raw).flags,
            ) {
                // Given back unsent, so that its reference and bookkeeping
                // go the one way every subrequest's go.
                super::trace::sreq(&self.sreq, super::trace::SreqTrace::PrepFailed);
                // The filesystem's error (cifs: a stale handle, a killed
                // wait for credits), as netfs reports it.
                let e = i32::from((*raw).error);
                let e = if e < 0 { e } else { EIO.to_errno() };
                self.give_back(len, e as isize);
                return Err(IssueError::PrepareFailed);
            }
            (*raw).len = len as usize;
            (*raw).transferred = 0;
            match self.sreq.request().buffer_span() {
                None => {
                    let mapping = (*(*raw).rreq).mapping;
                    bindings::iov_iter_xarray(
                        &raw mut (*raw).io_iter,
                        bindings::ITER_SOURCE,
                        &raw mut (*mapping).i_pages,
                        (*raw).start as i64,
                        len as usize,
                    );
                }
                Some((rstart, rlen)) => {
                    let start = (*raw).start;
                    let off = start.wrapping_sub(rstart);
                    let open = self.sreq.request().guard().is_some_and(|g| g.open_in());
                    if !open || start < rstart || off > rlen || len > rlen - off {
                        if open {
                            if let Some(g) = self.sreq.request().guard() {
                                g.count_out();
                            }
                        }
                        self.give_back(len, EIO.to_errno() as isize);
                        return Err(IssueError::OutOfBuffer);
                    }
                    // The caller's memory at the subrequest's own file
                    // position: `[off, off + len)` of the buffer, checked
                    // above to lie within it. The guard is open and counts
                    // this subrequest until it terminates, so the buffer
                    // stays valid for as long as the filesystem has it
                    // (type invariant of `WriteRequest`, `EnginePriv`).
                    bindings::netfs_sreq_slice_buffer(raw, off as usize, len as usize);
                }
            }
        }
        super::trace::sreq(&self.sreq, super::trace::SreqTrace::Submit);
        // The reference handed to the filesystem comes back with the call to
        // `subreq_terminated`.
        let raw = ARef::into_raw(self.sreq)
            .as_ptr()
            .cast::<bindings::netfs_io_subrequest>();
        // SAFETY: The stream's `issue_write` is set for an available stream;
        // the subrequest is fully set up and referenced for the callee.
        unsafe {
            let rreq = (*raw).rreq;
            let stream = &raw mut (*rreq).io_streams[usize::from((*raw).stream_nr & 1)];
            match (*stream).issue_write {
                Some(issue) => issue(raw),
                None => {
                    // Counted as issued already (the buffer path).
                    bindings::netfs_write_subrequest_terminated(raw.cast(), EIO.to_errno() as isize)
                }
            }
        }
        Ok(())
    }

    /// Gives the subrequest back unsent, covering `len` bytes, with
    /// `result` (bytes or -errno) as its filesystem would: through
    /// `netfs_write_subrequest_terminated()`, so that the completion reaches
    /// the engine's `subreq_terminated` like any other. For an injected
    /// fault, or nothing left to send.
    pub fn give_back(self, len: u64, result: isize) {
        // Every subrequest of an adopted write that terminates is counted.
        self.sreq.request().count_in();
        let raw = ARef::into_raw(self.sreq)
            .as_ptr()
            .cast::<bindings::netfs_io_subrequest>();
        // SAFETY: Not issued: ours alone. The reference taken out of `sreq`
        // is the one the completion path consumes, as with a filesystem's.
        unsafe {
            (*raw).len = len as usize;
            bindings::netfs_write_subrequest_terminated(raw.cast(), result)
        }
    }

    /// Asks for a retry, as a filesystem does for a transient error before
    /// it gives the subrequest back.
    pub fn set_need_retry(&self) {
        // SAFETY: Atomic bit of a valid subrequest.
        unsafe {
            bindings::set_bit(
                bindings::NETFS_SREQ_NEED_RETRY as c_ulong,
                &raw mut (*self.sreq.as_raw()).flags,
            )
        }
    }
}

/// A subrequest its filesystem or cache gave back, with the reference it
/// was given at issue: the argument of the engine's `subreq_terminated`.
///
/// # Invariants
///
/// The filesystem has finished with the subrequest: the engine owns all of
/// its fields again.
pub struct TerminatedSubrequest(ARef<Subrequest>);

/// What a filesystem reported for a subrequest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Bytes written by this attempt, or the negative errno.
    pub result: isize,
    /// The filesystem asked for a retry (a transient error).
    pub need_retry: bool,
}

impl TerminatedSubrequest {
    /// # Safety
    ///
    /// `ptr` must be a subrequest of an engine-owned request that its
    /// filesystem or cache has given back, and the caller must own the
    /// reference it was issued with, which moves to the result.
    pub(super) unsafe fn from_raw(ptr: *mut bindings::netfs_io_subrequest) -> Self {
        // SAFETY: By the safety requirements.
        // INVARIANT: Given back.
        Self(unsafe { ARef::from_raw(NonNull::new_unchecked(ptr.cast())) })
    }

    /// Returns the subrequest.
    pub fn subrequest(&self) -> &Subrequest {
        &self.0
    }

    /// Records the outcome the filesystem reported, as netfs does (the
    /// transferred count or the error, `-EAGAIN` meaning a retry;
    /// `IN_PROGRESS` cleared) and returns it with the issue reference, as a
    /// handle.
    pub fn record(self, result: isize) -> (ARef<Subrequest>, Outcome) {
        let raw = self.0.as_raw();
        // SAFETY: Given back: the fields are ours (type invariant).
        let need_retry = unsafe {
            if result == EAGAIN.to_errno() as isize {
                bindings::set_bit(
                    bindings::NETFS_SREQ_NEED_RETRY as c_ulong,
                    &raw mut (*raw).flags,
                );
            }
            let need_retry = bindings::test_bit(
                bindings::NETFS_SREQ_NEED_RETRY as c_long,
                &raw const (*raw).flags,
            );
            if result < 0 {
                (*raw).error = result as i16;
                if !need_retry {
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
            need_retry
        };
        super::trace::sreq(&self.0, super::trace::SreqTrace::Terminated);
        (self.0, Outcome { result, need_retry })
    }
}

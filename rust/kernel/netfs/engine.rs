// SPDX-License-Identifier: GPL-2.0

//! Registration of a write engine with netfs.
//!
//! While a [`Registration`] exists, `netfs_writepages()` calls the engine's
//! [`WriteEngine::writepages`] for every netfs filesystem, unbuffered and
//! direct writes go to [`WriteEngine::unbuffered_write`], and completions
//! of the requests the engine created or adopted come to
//! [`WriteEngine::subreq_terminated`]. Dropping the registration hands
//! writeback back to netfs's built-in engine: it returns once no call is
//! inside the engine and every request it created has been freed.

use super::request::{EnginePriv, Submission, TerminatedSubrequest, WriteKind, WriteRequest};
use crate::{
    alloc::KBox,
    bindings,
    error::{to_result, Error, Result},
    ffi::c_int,
    folio::LockedFolio,
    netfs::WbLock,
    prelude::*,
    str::CStr,
    sync::aref::ARef,
    types::{ForeignOwnable, Opaque},
    writeback::{AddressSpace, WritebackControl},
};
use core::{marker::PhantomData, ptr::NonNull};

/// A buffered writeback engine.
pub trait WriteEngine: Send + Sync + Sized + 'static {
    /// Name shown in the log.
    const NAME: &'static CStr;

    /// The engine's data attached to each of its requests. netfs drops it
    /// when it frees the request, after every subrequest is gone.
    type RequestData: ForeignOwnable + Send + Sync;

    /// Writes back the dirty folios of `mapping` that `wbc` asks for.
    fn writepages(
        reg: &Registration<Self>,
        mapping: &AddressSpace,
        wbc: &WritebackControl,
    ) -> Result;

    /// Writes an unbuffered or direct write's buffer to the server, on the
    /// writer's task (or netfs's worker for an async kiocb), and returns
    /// once it is done: what was written is then reported to the caller
    /// by netfs, which does everything the VFS sees around this call.
    fn unbuffered_write(
        reg: &Registration<Self>,
        write: UnbufferedWrite<Self>,
    ) -> UnbufferedOutcome;

    /// A synchronous write (`O_SYNC`, `O_DSYNC`, `RWF_DSYNC`) on a buffered
    /// file began: the engine takes it by attaching its data
    /// ([`Writethrough::attach`]), or leaves it to netfs's built-in engine
    /// by dropping `write`.
    fn writethrough_begin(reg: &Registration<Self>, write: Writethrough<Self>);

    /// The writer copied into `folio` (locked, returned unlocked) and is
    /// done with it: send it, as writeback would. Folios come in ascending
    /// order, on the writer's task, which holds the writeback lock.
    fn writethrough_folio(
        reg: &Registration<Self>,
        data: <Self::RequestData as ForeignOwnable>::Borrowed<'_>,
        wbc: &WritebackControl,
        folio: LockedFolio<'_>,
    ) -> Result;

    /// The writer has handed over every folio: what is left is the
    /// engine's collection, which ends with dropping `end`.
    fn writethrough_end(
        reg: &Registration<Self>,
        data: <Self::RequestData as ForeignOwnable>::Borrowed<'_>,
        end: WritethroughEnd,
    );

    /// A filesystem or cache finished with a subrequest of one of the
    /// engine's requests: `result` is the byte count or a negative errno.
    /// May be called from any context, including interrupts.
    fn subreq_terminated(
        reg: &Registration<Self>,
        data: <Self::RequestData as ForeignOwnable>::Borrowed<'_>,
        sreq: TerminatedSubrequest,
        result: isize,
    );
}

/// A registered engine.
///
/// # Invariants
///
/// `raw` is registered with netfs, with function pointers for `E`, from
/// creation until drop; netfs only calls them while registered or while one
/// of the engine's requests is alive, and drop waits for both to end.
#[pin_data(PinnedDrop)]
pub struct Registration<E: WriteEngine> {
    #[pin]
    raw: Opaque<bindings::netfs_write_engine>,
    #[pin]
    engine: E,
}

// SAFETY: The raw struct is only read by netfs; `E` is `Send`.
unsafe impl<E: WriteEngine> Send for Registration<E> {}

// SAFETY: The raw struct is only read by netfs; `E` is `Sync`.
unsafe impl<E: WriteEngine> Sync for Registration<E> {}

impl<E: WriteEngine> Registration<E> {
    /// Registers `engine` with netfs. Fails with `EBUSY` if another engine is
    /// registered.
    pub fn new(engine: impl PinInit<E, Error>) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            engine <- engine,
            raw <- Opaque::try_ffi_init(|slot: *mut bindings::netfs_write_engine| {
                // SAFETY: `slot` is valid for writes and pinned; it is fully
                // initialised before netfs can see it.
                unsafe {
                    slot.write(bindings::netfs_write_engine {
                        name: E::NAME.as_char_ptr(),
                        writepages: Some(writepages_callback::<E>),
                        subreq_terminated: Some(terminated_callback::<E>),
                        free_request: Some(free_request_callback::<E>),
                        unbuffered_write: Some(unbuffered_callback::<E>),
                        writethrough_begin: Some(wthru_begin_callback::<E>),
                        writethrough_folio: Some(wthru_folio_callback::<E>),
                        writethrough_end: Some(wthru_end_callback::<E>),
                    });
                    to_result(bindings::netfs_register_write_engine(slot))
                }
            }),
        }? Error)
    }

    /// Returns the engine.
    pub fn engine(&self) -> &E {
        &self.engine
    }

    /// Creates a writeback request for `mapping` at `start`, carrying `data`,
    /// and returns its submission side, which holds it.
    pub fn create_request(
        &self,
        mapping: &AddressSpace,
        start: i64,
        data: E::RequestData,
    ) -> Result<Submission> {
        let mut p = KBox::new(EnginePriv::new(false), GFP_KERNEL)?;
        let req = WriteRequest::create(mapping, start)?;
        // The request is not yet visible to any filesystem; its data is
        // released by `free_request_callback` when netfs frees it.
        p.data = data.into_foreign();
        req.set_engine_priv(KBox::into_raw(p).cast());
        // SAFETY: The request was just created: this is its only
        // submission side.
        Ok(unsafe { Submission::new(req) })
    }

    /// # Safety
    ///
    /// `raw` must be the `raw` field of a live `Registration<E>`.
    unsafe fn from_raw<'a>(raw: *const bindings::netfs_write_engine) -> &'a Self {
        // SAFETY: By the safety requirements, `raw` is a field of `Self`.
        unsafe {
            &*crate::container_of!(
                raw.cast_mut()
                    .cast::<Opaque<bindings::netfs_write_engine>>(),
                Self,
                raw
            )
        }
    }
}

#[pinned_drop]
impl<E: WriteEngine> PinnedDrop for Registration<E> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: Registered since creation (type invariant); this returns
        // once netfs no longer calls into `E`.
        unsafe { bindings::netfs_unregister_write_engine(self.raw.get()) };
    }
}

/// # Safety
///
/// Called by netfs with a registered engine and valid mapping and wbc.
unsafe extern "C" fn writepages_callback<E: WriteEngine>(
    engine: *const bindings::netfs_write_engine,
    mapping: *mut bindings::address_space,
    wbc: *mut bindings::writeback_control,
) -> c_int {
    // SAFETY: netfs passes the engine it called, a field of a live
    // `Registration<E>` (SRCU keeps it registered during the call), and
    // mapping and wbc valid for the call.
    let (reg, mapping, wbc) = unsafe {
        (
            Registration::<E>::from_raw(engine),
            AddressSpace::from_raw(mapping),
            WritebackControl::from_raw(wbc),
        )
    };
    match E::writepages(reg, mapping, wbc) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// An unbuffered or direct write netfs handed to the engine: `len()` bytes
/// of the caller's buffer to file position `start()`.
///
/// The request's data must be attached ([`UnbufferedWrite::attach`])
/// before anything is sent, since completions borrow it: the submission
/// side comes only with it.
///
/// # Invariants
///
/// `req` was adopted by the engine and nothing has been attached to it or
/// submitted for it yet.
pub struct UnbufferedWrite<E: WriteEngine> {
    req: ARef<WriteRequest>,
    _engine: PhantomData<E>,
}

impl<E: WriteEngine> UnbufferedWrite<E> {
    /// File position of the first byte (after `O_APPEND` was applied).
    pub fn start(&self) -> u64 {
        // SAFETY: Set before adoption, constant afterwards.
        unsafe { (*self.req.as_raw()).start }
    }

    /// Bytes to write.
    pub fn len(&self) -> u64 {
        // SAFETY: Set before adoption, constant afterwards.
        unsafe { (*self.req.as_raw()).len }
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Unbuffered or direct.
    pub fn kind(&self) -> WriteKind {
        self.req.kind()
    }

    /// Whether the write completes through `ki_complete` (an async kiocb):
    /// its issuer then runs on a netfs worker, where signals do not apply.
    pub fn is_async(&self) -> bool {
        // SAFETY: Set before the request was dispatched, constant until
        // netfs completes it after this call.
        unsafe { !(*self.req.as_raw()).iocb.is_null() }
    }

    /// The mapping of the file written.
    pub fn mapping(&self) -> &AddressSpace {
        self.req.mapping()
    }

    /// The file's size as both the page cache and the server have it, as
    /// far as the client knows: the smaller of `i_size` and netfs's
    /// `remote_i_size` (dirty folios may have grown the former only).
    pub fn old_size(&self) -> u64 {
        let mapping = self.req.mapping();
        // SAFETY: The request keeps its inode alive; the helper reads the
        // netfs inode's remote size as netfs does.
        let remote = unsafe { bindings::netfs_read_remote_i_size((*mapping.as_raw()).host) };
        (mapping.i_size().max(0) as u64).min(remote)
    }

    /// Attaches the engine's data to the request and returns its
    /// submission side. Subrequests may be issued over the caller's buffer
    /// until `unbuffered_write` returns, and are waited for then.
    pub fn attach(self, data: E::RequestData) -> Result<Submission> {
        let mut p = KBox::new(EnginePriv::new(true), GFP_KERNEL)?;
        // Nothing was sent yet (type invariant), so no completion can read
        // the data before it is set; it is released by
        // `free_request_callback` when netfs frees the request.
        p.data = data.into_foreign();
        self.req.set_engine_priv(KBox::into_raw(p).cast());
        // SAFETY: An adopted request is never passed to `create_request`,
        // netfs calls `unbuffered_write` once per request, and this value
        // is consumed: this is its only submission side.
        Ok(unsafe { Submission::new(self.req) })
    }
}

/// What an unbuffered or direct write came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnbufferedOutcome {
    /// Bytes written from the start, before the first byte that was not.
    pub transferred: u64,
    /// The error that ended it (negative errno), or 0.
    pub error: i32,
    /// What the synchronous caller gets when nothing was transferred and
    /// `error` is 0 (e.g. `-ERESTARTSYS` for a signal), else 0.
    pub ret: i32,
}

/// # Safety
///
/// Called by netfs, once, for a request it adopted for the engine, which
/// it holds referenced during the call.
unsafe extern "C" fn unbuffered_callback<E: WriteEngine>(
    engine: *const bindings::netfs_write_engine,
    wreq: *mut bindings::netfs_io_request,
) -> c_int {
    // SAFETY: As for `writepages_callback`; the request is referenced by
    // netfs for the call, and the handle takes a reference of its own.
    let (reg, req) = unsafe {
        (
            Registration::<E>::from_raw(engine),
            ARef::from(WriteRequest::from_raw(wreq)),
        )
    };
    // INVARIANT: Just adopted; nothing attached or sent.
    let write = UnbufferedWrite {
        req: req.clone(),
        _engine: PhantomData,
    };
    let len = write.len();
    let out = E::unbuffered_write(reg, write);
    // netfs takes the buffer back: nothing may read it any more.
    if let Some(g) = req.guard() {
        g.close();
    }
    drop(req);
    // SAFETY: The engine has returned: netfs reads these next, and nothing
    // else writes them for an adopted request.
    unsafe {
        (*wreq).transferred = out.transferred.min(len) as usize;
        (*wreq).error = out.error.clamp(-4095, 0) as isize;
    }
    out.ret.clamp(-4095, 0)
}

/// A writethrough netfs began and offers to the engine: the writer copies
/// into the page cache and hands each folio over when it is done with it
/// ([`WriteEngine::writethrough_folio`]), from `start()` on.
///
/// # Invariants
///
/// `req` is a `NETFS_WRITETHROUGH` request netfs has just created and not
/// yet adopted: nothing is attached to it or issued for it, netfs holds
/// its inode's writeback lock for it, and its `NETFS_RREQ_IN_PROGRESS`
/// flag holds one of its references.
pub struct Writethrough<E: WriteEngine> {
    req: ARef<WriteRequest>,
    _engine: PhantomData<E>,
}

impl<E: WriteEngine> Writethrough<E> {
    /// File position of the first byte written.
    pub fn start(&self) -> u64 {
        // SAFETY: Set at creation, constant afterwards.
        unsafe { (*self.req.as_raw()).start }
    }

    /// The mapping of the file written.
    pub fn mapping(&self) -> &AddressSpace {
        self.req.mapping()
    }

    /// Attaches the engine's data and takes the request: returns its
    /// submission side. What ends the request comes with
    /// [`WriteEngine::writethrough_end`], once netfs has handed every
    /// folio over (and set the kiocb of an async write).
    pub fn attach(self, data: E::RequestData) -> Result<Submission> {
        let mut p = KBox::new(EnginePriv::new(false), GFP_KERNEL)?;
        // Nothing was sent yet (type invariant); released by
        // `free_request_callback` when netfs frees the request.
        p.data = data.into_foreign();
        self.req.set_engine_priv(KBox::into_raw(p).cast());
        // SAFETY: A writethrough is offered once, and this value is
        // consumed: this is its only submission side.
        Ok(unsafe { Submission::new(self.req) })
    }
}

/// The end of an adopted writethrough, handed to the engine once netfs has
/// issued everything: dropping it does what netfs's collector does once
/// everything is collected.
///
/// It sets `->transferred` and `->error` from
/// [`WritethroughEnd::set_transferred`] and [`WritethroughEnd::set_error`], ends
/// the writeback lock, completes an async kiocb (`ki_pos`, `ki_complete`
/// with netfs's value), clears `NETFS_RREQ_IN_PROGRESS`, which the writer
/// waits on, and drops that flag's reference.
///
/// # Invariants
///
/// `req` is an adopted writethrough with `NETFS_RREQ_IN_PROGRESS` set, and
/// this value owns the reference that flag holds; netfs has returned from
/// the request's last `writethrough_folio` and set its `iocb`; `lock` is
/// the writeback lock netfs took for it.
pub struct WritethroughEnd {
    lock: Option<WbLock>,
    req: ARef<WriteRequest>,
    transferred: u64,
    error: i32,
}

impl WritethroughEnd {
    /// Records how many bytes from the request's start reached the server
    /// before the first that did not.
    pub fn set_transferred(&mut self, n: u64) {
        self.transferred = n;
    }

    /// Records the error (a negative errno) an async kiocb completes with
    /// in place of the count. netfs leaves it 0: its async writethrough
    /// reports success when an upload was lost, which only a later
    /// `fsync` sees. A synchronous writer is told by the `fsync` that ends
    /// its write either way.
    pub fn set_error(&mut self, error: i32) {
        self.error = error.clamp(-4095, 0);
    }

    /// The request.
    pub fn request(&self) -> &WriteRequest {
        &self.req
    }
}

impl Drop for WritethroughEnd {
    fn drop(&mut self) {
        let raw = self.req.as_raw();
        // SAFETY: netfs reads `transferred` only once IN_PROGRESS is clear,
        // and the engine is the request's only collector.
        unsafe {
            (*raw).transferred = self.transferred as usize;
            (*raw).error = self.error as isize;
        }
        // The writeback lock goes first, as the writer's next step after
        // an `O_SYNC` write is an fsync, which takes it.
        drop(self.lock.take());
        // SAFETY: `iocb`, if set, is the writer's async kiocb, completed
        // exactly once, here, before the request is marked done.
        unsafe { bindings::netfs_complete_iocb(raw) };
        self.req.complete();
        // The flag's reference goes with `req`.
    }
}

/// # Safety
///
/// Called by netfs once per new writethrough request, before adoption,
/// with the request referenced.
unsafe extern "C" fn wthru_begin_callback<E: WriteEngine>(
    engine: *const bindings::netfs_write_engine,
    wreq: *mut bindings::netfs_io_request,
) -> c_int {
    // SAFETY: As for `writepages_callback`; the handle takes a reference.
    let (reg, req) = unsafe {
        (
            Registration::<E>::from_raw(engine),
            ARef::from(WriteRequest::from_raw(wreq)),
        )
    };
    // INVARIANT: netfs calls this from `netfs_begin_writethrough()`, right
    // after creating the request and taking the writeback lock.
    E::writethrough_begin(
        reg,
        Writethrough {
            req: req.clone(),
            _engine: PhantomData,
        },
    );
    if req.guard().is_some() {
        0
    } else {
        ENOMEM.to_errno()
    }
}

/// Borrows the engine's data of an adopted request.
///
/// # Safety
///
/// `req` must be an engine request whose data was attached, referenced for
/// `'a`.
unsafe fn data_of<'a, E: WriteEngine>(
    req: &'a WriteRequest,
) -> Option<<E::RequestData as ForeignOwnable>::Borrowed<'a>> {
    let p = req.guard()?.data;
    // SAFETY: Set from an `E::RequestData` by the engine's attach, released
    // only when the request is freed, which the reference prevents.
    Some(unsafe { <E::RequestData as ForeignOwnable>::borrow(p) })
}

/// # Safety
///
/// Called by netfs for an adopted writethrough, with `folio` locked and
/// referenced and the request referenced for the call.
unsafe extern "C" fn wthru_folio_callback<E: WriteEngine>(
    engine: *const bindings::netfs_write_engine,
    wreq: *mut bindings::netfs_io_request,
    wbc: *mut bindings::writeback_control,
    folio: *mut bindings::folio,
) -> c_int {
    // SAFETY: As for `writepages_callback`; netfs holds the request, the
    // wbc and a reference on the folio for the call.
    let (reg, req, wbc, folio) = unsafe {
        (
            Registration::<E>::from_raw(engine),
            WriteRequest::from_raw(wreq),
            WritebackControl::from_raw(wbc),
            crate::folio::Folio::from_raw(folio),
        )
    };
    // SAFETY: netfs hands the folio over locked; the callee unlocks it
    // (dropping the value), as `netfs_write_folio()` does.
    let folio = unsafe { LockedFolio::from_locked(folio) };
    // SAFETY: Adopted, so attached (`wthru_begin_callback`).
    let Some(data) = (unsafe { data_of::<E>(req) }) else {
        return EINVAL.to_errno();
    };
    match E::writethrough_folio(reg, data, wbc, folio) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by netfs once per adopted writethrough, after the last folio,
/// with the request referenced.
unsafe extern "C" fn wthru_end_callback<E: WriteEngine>(
    engine: *const bindings::netfs_write_engine,
    wreq: *mut bindings::netfs_io_request,
) {
    // SAFETY: As for `wthru_folio_callback`.
    let (reg, req) = unsafe {
        (
            Registration::<E>::from_raw(engine),
            WriteRequest::from_raw(wreq),
        )
    };
    // SAFETY: The inode is a netfs inode, kept alive by the request.
    let ictx = unsafe { bindings::netfs_inode((*req.mapping().as_raw()).host) };
    // SAFETY: netfs calls this once per adopted writethrough, whose
    // IN_PROGRESS flag still holds its reference (nothing else clears it
    // for an adopted request); that reference passes to the end.
    let in_progress = unsafe { ARef::from_raw(NonNull::from(req)) };
    // INVARIANT: netfs took the writeback lock in
    // `netfs_begin_writethrough()` and leaves it to the engine's
    // collection for an adopted request; every folio is handed over and
    // `iocb` set before this call.
    let end = WritethroughEnd {
        lock: Some(WbLock { ictx }),
        req: in_progress,
        transferred: 0,
        error: 0,
    };
    // SAFETY: Adopted, so attached.
    match unsafe { data_of::<E>(req) } {
        Some(data) => E::writethrough_end(reg, data, end),
        // Cannot happen; the writer is woken at once rather than never.
        None => drop(end),
    }
}

/// # Safety
///
/// Called by netfs for a subrequest of an engine request, with a reference.
unsafe extern "C" fn terminated_callback<E: WriteEngine>(
    engine: *const bindings::netfs_write_engine,
    sreq: *mut bindings::netfs_io_subrequest,
    result: isize,
) {
    // SAFETY: The engine stays registered-or-draining while its requests
    // live; the filesystem hands back the reference it was given at issue.
    let (reg, sreq) = unsafe {
        (
            Registration::<E>::from_raw(engine),
            TerminatedSubrequest::from_raw(sreq),
        )
    };
    let Some(guard) = sreq.subrequest().request().guard() else {
        // Cannot happen: a subrequest exists only once its request's data
        // is attached. Its reference goes, nothing else is done.
        drop(sreq);
        return;
    };
    if sreq.subrequest().request().kind().writes_buffer() {
        // The filesystem is done with the caller's buffer.
        guard.count_out();
    }
    let priv_ = guard.data;
    // SAFETY: `data` was set by `create_request` or
    // `UnbufferedWrite::attach` from an `E::RequestData` before any
    // subrequest existed, and is only released when the request is freed, which
    // `sreq`'s reference on the request prevents during this call.
    let data = unsafe { <E::RequestData as ForeignOwnable>::borrow(priv_) };
    E::subreq_terminated(reg, data, sreq, result);
}

/// # Safety
///
/// Called by netfs once, when an engine request is freed.
unsafe extern "C" fn free_request_callback<E: WriteEngine>(
    _engine: *const bindings::netfs_write_engine,
    rreq: *mut bindings::netfs_io_request,
) {
    // SAFETY: The request is being freed: nothing else uses it.
    let req = unsafe { WriteRequest::from_raw(rreq) };
    let p = req.engine_priv().cast::<EnginePriv>();
    if !p.is_null() {
        // SAFETY: Set from `KBox::into_raw` by `create_request` or
        // `UnbufferedWrite::attach`, released exactly once, here.
        let p = unsafe { KBox::from_raw(p) };
        if !p.data.is_null() {
            // SAFETY: Set from `E::RequestData::into_foreign` with it,
            // released exactly once, here.
            drop(unsafe { <E::RequestData as ForeignOwnable>::from_foreign(p.data) });
        }
    }
}

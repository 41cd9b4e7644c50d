// SPDX-License-Identifier: GPL-2.0

//! Registration of a buffered writeback engine with netfs.
//!
//! While a [`Registration`] exists, `netfs_writepages()` calls the engine's
//! [`WriteEngine::writepages`] for every netfs filesystem, and completions
//! of the requests the engine created come to
//! [`WriteEngine::subreq_terminated`]. Dropping the registration hands
//! writeback back to netfs's built-in engine: it returns once no call is
//! inside the engine and every request it created has been freed.

use super::request::{Submission, TerminatedSubrequest, WriteRequest};
use crate::{
    bindings,
    error::{to_result, Error, Result},
    ffi::c_int,
    prelude::*,
    str::CStr,
    types::{ForeignOwnable, Opaque},
    writeback::{AddressSpace, WritebackControl},
};

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
        let req = WriteRequest::create(mapping, start)?;
        // The request is not yet visible to any filesystem; its data is
        // released by `free_request_callback` when netfs frees it.
        req.set_engine_priv(data.into_foreign());
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
    let priv_ = sreq.subrequest().request().engine_priv();
    // SAFETY: `engine_priv` was set by `create_request` from an
    // `E::RequestData` and is only released when the request is freed, which
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
    let priv_ = req.engine_priv();
    if !priv_.is_null() {
        // SAFETY: Set from `E::RequestData::into_foreign` by `create_request`,
        // released exactly once, here.
        drop(unsafe { <E::RequestData as ForeignOwnable>::from_foreign(priv_) });
    }
}

// SPDX-License-Identifier: GPL-2.0

//! netfs tracepoints, emitted by a Rust engine exactly as by the C engine.
//!
//! C header: [`include/trace/events/netfs.h`](srctree/include/trace/events/netfs.h)
//!
//! An ftrace user sees the same `netfs:netfs_write`, `netfs_sreq`,
//! `netfs_folio`, `netfs_rreq` and `netfs_failure` events, with the same
//! fields, whichever engine wrote the data back.

use super::request::{Subrequest, WriteRequest};
use crate::{bindings, folio::Folio};

mod raw {
    use crate::bindings::*;

    crate::declare_trace! {
        /// # Safety
        /// `wreq` must be a valid request.
        pub(super) unsafe fn netfs_write(wreq: *const netfs_io_request, what: netfs_write_trace);
        /// # Safety
        /// `rreq` must be a valid request.
        pub(super) unsafe fn netfs_rreq(rreq: *mut netfs_io_request, what: netfs_rreq_trace);
        /// # Safety
        /// `sreq` must be a valid subrequest.
        pub(super) unsafe fn netfs_sreq(sreq: *mut netfs_io_subrequest, what: netfs_sreq_trace);
        /// # Safety
        /// `folio` must be a valid folio.
        pub(super) unsafe fn netfs_folio(folio: *mut folio, why: netfs_folio_trace);
        /// # Safety
        /// `rreq` must be valid and `sreq` null or valid.
        pub(super) unsafe fn netfs_failure(
            rreq: *mut netfs_io_request,
            sreq: *mut netfs_io_subrequest,
            error: crate::ffi::c_int,
            what: netfs_failure,
        );
    }
}

/// `netfs_write` events an engine emits.
#[derive(Clone, Copy, Debug)]
pub enum WriteTrace {
    /// A writeback request starts.
    Writeback,
}

/// `netfs_rreq` events an engine emits.
#[derive(Clone, Copy, Debug)]
pub enum RreqTrace {
    /// The collector runs.
    Collect,
    /// The request's writeback is complete.
    WriteDone,
    /// Issue pauses (throttling or retry).
    SetPause,
    /// Issue resumes.
    Unpause,
}

/// `netfs_sreq` events an engine emits.
#[derive(Clone, Copy, Debug)]
pub enum SreqTrace {
    /// Prepared (limits set by the filesystem).
    Prepare,
    /// Handed to the filesystem or cache.
    Submit,
    /// Given back.
    Terminated,
    /// Issued again after a failure.
    Retry,
    /// Preparation failed.
    PrepFailed,
}

/// `netfs_folio` events an engine emits.
#[derive(Clone, Copy, Debug)]
pub enum FolioTrace {
    /// Stored to the server.
    Store,
    /// Stored to the server and the cache.
    StorePlus,
    /// Copied to the cache only.
    StoreCopy,
    /// Nothing to write (beyond EOF, or no stream available).
    CancelStore,
    /// Writeback ended.
    Clear,
}

/// Emits `netfs_write`.
#[inline(never)]
pub fn write(wreq: &WriteRequest, what: WriteTrace) {
    let what = match what {
        WriteTrace::Writeback => bindings::netfs_write_trace_netfs_write_trace_writeback,
    };
    // SAFETY: `wreq` is valid.
    unsafe { raw::netfs_write(wreq.as_raw(), what) };
}

/// Emits `netfs_rreq`.
#[inline(never)]
pub fn rreq(wreq: &WriteRequest, what: RreqTrace) {
    let what = match what {
        RreqTrace::Collect => bindings::netfs_rreq_trace_netfs_rreq_trace_collect,
        RreqTrace::WriteDone => bindings::netfs_rreq_trace_netfs_rreq_trace_write_done,
        RreqTrace::SetPause => bindings::netfs_rreq_trace_netfs_rreq_trace_set_pause,
        RreqTrace::Unpause => bindings::netfs_rreq_trace_netfs_rreq_trace_unpause,
    };
    // SAFETY: `wreq` is valid.
    unsafe { raw::netfs_rreq(wreq.as_raw(), what) };
}

/// Emits `netfs_sreq`.
#[inline(never)]
pub fn sreq(sreq: &Subrequest, what: SreqTrace) {
    let what = match what {
        SreqTrace::Prepare => bindings::netfs_sreq_trace_netfs_sreq_trace_prepare,
        SreqTrace::Submit => bindings::netfs_sreq_trace_netfs_sreq_trace_submit,
        SreqTrace::Terminated => bindings::netfs_sreq_trace_netfs_sreq_trace_terminated,
        SreqTrace::Retry => bindings::netfs_sreq_trace_netfs_sreq_trace_retry,
        SreqTrace::PrepFailed => bindings::netfs_sreq_trace_netfs_sreq_trace_prep_failed,
    };
    // SAFETY: `sreq` is valid.
    unsafe { raw::netfs_sreq(sreq.as_raw(), what) };
}

/// Emits `netfs_folio`.
#[inline(never)]
pub fn folio(folio: &Folio, what: FolioTrace) {
    let what = match what {
        FolioTrace::Store => bindings::netfs_folio_trace_netfs_folio_trace_store,
        FolioTrace::StorePlus => bindings::netfs_folio_trace_netfs_folio_trace_store_plus,
        FolioTrace::StoreCopy => bindings::netfs_folio_trace_netfs_folio_trace_store_copy,
        FolioTrace::CancelStore => bindings::netfs_folio_trace_netfs_folio_trace_cancel_store,
        FolioTrace::Clear => bindings::netfs_folio_trace_netfs_folio_trace_clear,
    };
    // SAFETY: `folio` is valid.
    unsafe { raw::netfs_folio(folio.as_raw(), what) };
}

/// Emits `netfs_failure` for a failed write subrequest.
#[inline(never)]
pub fn failure(sreq: &Subrequest, error: i32) {
    // SAFETY: Both are valid.
    unsafe {
        raw::netfs_failure(
            sreq.request().as_raw(),
            sreq.as_raw(),
            error,
            bindings::netfs_failure_netfs_fail_write,
        )
    };
}

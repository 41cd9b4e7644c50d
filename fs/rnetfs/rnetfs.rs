// SPDX-License-Identifier: GPL-2.0

//! rnetfs: netfs writeback in Rust.
//!
//! Loading the module makes every netfs filesystem (9p, afs, cifs) write
//! back through it, and write through it what bypasses the page cache
//! (unbuffered and direct writes, [`direct`]) and writes through it
//! synchronous writes to the page cache ([`writethrough`]); unloading
//! hands all of them back to
//! netfs's built-in engine, after the requests in flight have been
//! collected.
//!
//! The engine follows netfs's design, one file per part as fs/netfs has
//! them: an issuer ([`issue`]) that builds an upload stream and a cache
//! stream of subrequests from the dirty folios and sends them
//! ([`submit`]); completions ([`complete`]) that queue a collector
//! ([`collect`]) on the engine's workqueue; a retryer ([`retry`]) run by
//! the collector. Their logic that does not touch the kernel (spans,
//! tiling, collection bookkeeping, retry planning) is in [`engine`], tested
//! on the host. [`request`] is a request's state and its locks; [`stats`]
//! and [`debugfs`] what the engine shows; [`fault`] its fault injector.

use kernel::{
    folio::LockedFolio,
    netfs::{
        engine::{
            Registration, UnbufferedOutcome, UnbufferedWrite, WriteEngine, Writethrough,
            WritethroughEnd,
        },
        request::TerminatedSubrequest,
    },
    prelude::*,
    sync::{Arc, ArcBorrow},
    workqueue::{OwnedQueue, WqFlags},
    writeback::{AddressSpace, WritebackControl},
};

mod collect;
mod complete;
mod debugfs;
mod direct;
mod engine;
mod fault;
mod issue;
mod request;
mod retry;
mod stats;
mod submit;
#[cfg(CONFIG_RNETFS_KUNIT_TEST)]
mod tests;
mod writethrough;

use request::RequestState;

module! {
    type: RnetfsModule,
    name: "rnetfs",
    authors: ["rnetfs developers"],
    description: "Rust netfs write engine: writeback, unbuffered and direct writes",
    license: "GPL",
    params: {
        max_inflight: u32 {
            default: 8,
            description: "Subrequests per stream in flight or awaiting collection (1-8)",
        },
        max_retries: u32 {
            default: 5,
            description: "Retries of a subrequest that makes no progress before it fails",
        },
        adaptive_window: bool {
            default: true,
            description: "Adapt the uploads in flight to the server, between 1 and max_inflight, from their answer times (false: always max_inflight)",
        },
        async_upload: bool {
            default: true,
            description: "Send uploads from workers, so that several are on the wire while the issuer goes on (false: from the issuer, one at a time for a synchronous filesystem such as 9p)",
        },
        sender_collects: bool {
            default: true,
            description: "A subrequest answered inside its send (9p) is collected by its sender, with no collector woken (false: always by the collector's work item)",
        },
        folio_batch: u32 {
            default: 16,
            description: "Folios the issuer queues for the collector at once (1-16; 1: each at once)",
        },
        fault_every: u32 {
            default: 0,
            description: "Fault injection from load time: fail every n-th upload subrequest (0: off; see also debugfs rnetfs/fault)",
        },
        fault_errno: u32 {
            default: 5,
            description: "Error of fault_every: 5 (EIO), 11 (EAGAIN), 28 (ENOSPC), 122 (EDQUOT), 4 (EINTR) or 12 (ENOMEM); 0: a short write",
        },
        fault_retry: bool {
            default: false,
            description: "The fault_every error is transient: the filesystem asks for a retry",
        },
        filter_stride: u32 {
            default: 0,
            description: "Test hook: write back only folios whose index is a multiple of this (0: all); the others stay dirty",
        },
    },
}

/// The engine's work queues: unbound, and `WQ_MEM_RECLAIM` because
/// writeback's collection and uploads must progress under memory pressure.
const ENGINE_WQ: WqFlags = WqFlags::UNBOUND.with(WqFlags::MEM_RECLAIM);

/// The engine.
///
/// Field order is drop order: the upload workers are drained before their
/// hand-offs go, the collectors before the fault injector.
pub(crate) struct Rnetfs {
    /// Upload workers: see [`submit`]. Drained first on unload.
    pub(crate) issue_wq: OwnedQueue,
    /// The upload workers' hand-offs.
    pub(crate) upload_slots: KVec<Arc<submit::UploadSlot>>,
    /// The collectors.
    pub(crate) wq: OwnedQueue,
    /// Whether uploads go to `issue_wq`.
    pub(crate) async_upload: bool,
    pub(crate) max_inflight: usize,
    /// Whether the upload window adapts (see `engine::window`).
    pub(crate) adaptive_window: bool,
    /// Whether senders collect what was answered inside their send (see
    /// `collect::after_send`).
    pub(crate) sender_collects: bool,
    /// Folios queued for the collector at once (see `issue::FolioBatch`).
    pub(crate) folio_batch: usize,
    pub(crate) max_retries: u32,
    /// Folio filter of the writeback iteration, for tests: see
    /// [`issue::next_folio`].
    pub(crate) filter_stride: u64,
    /// debugfs: the counters and the fault injector's file.
    _debugfs: debugfs::Debugfs,
    /// The fault injector (off unless set in debugfs or at load).
    pub(crate) fault: fault::SharedInjector,
}

impl WriteEngine for Rnetfs {
    const NAME: &'static CStr = c"rnetfs";
    type RequestData = Arc<RequestState>;

    fn writepages(
        reg: &Registration<Self>,
        mapping: &AddressSpace,
        wbc: &WritebackControl,
    ) -> Result {
        issue::writepages(reg, mapping, wbc)
    }

    fn unbuffered_write(
        reg: &Registration<Self>,
        write: UnbufferedWrite<Self>,
    ) -> UnbufferedOutcome {
        direct::write(reg, write)
    }

    fn writethrough_begin(reg: &Registration<Self>, write: Writethrough<Self>) {
        writethrough::begin(reg, write)
    }

    fn writethrough_folio(
        reg: &Registration<Self>,
        data: ArcBorrow<'_, RequestState>,
        wbc: &WritebackControl,
        folio: LockedFolio<'_>,
    ) -> Result {
        writethrough::folio(reg, data, wbc, folio)
    }

    fn writethrough_end(
        reg: &Registration<Self>,
        data: ArcBorrow<'_, RequestState>,
        end: WritethroughEnd,
    ) {
        writethrough::end(reg, data, end)
    }

    fn subreq_terminated(
        reg: &Registration<Self>,
        data: ArcBorrow<'_, RequestState>,
        sreq: TerminatedSubrequest,
        result: isize,
    ) {
        let state = Arc::from(data);
        // A write of the caller's buffer is collected on the writer's task,
        // which `terminated` wakes (see `direct`).
        if complete::terminated(&state, sreq, result) && !state.writes_buffer() {
            state.wake_collector(reg.engine().wq.queue());
        }
    }
}

/// The injector the `fault_*` parameters ask for, checked as a debugfs
/// write would be.
fn load_time_fault() -> Result<engine::fault::Injector> {
    let every = module_parameters::fault_every.value();
    let errno = module_parameters::fault_errno.value();
    let retry = module_parameters::fault_retry.value();
    engine::fault::Injector::upload_every(every, errno, retry).map_err(|_| {
        pr_err!("rnetfs: bad fault parameters: fault_every={every} fault_errno={errno} fault_retry={retry}\n");
        EINVAL
    })
}

#[pin_data]
struct RnetfsModule {
    #[pin]
    reg: Registration<Rnetfs>,
}

impl kernel::InPlaceModule for RnetfsModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        let max_inflight = module_parameters::max_inflight.value();
        let max_retries = module_parameters::max_retries.value();
        let folio_batch = module_parameters::folio_batch.value();
        let checked = if max_inflight == 0
            || max_inflight as usize > request::NS
            || max_retries > 100
            || folio_batch == 0
            || folio_batch as usize > issue::BATCH
        {
            pr_err!(
                "rnetfs: max_inflight must be 1-{}, max_retries 0-100, folio_batch 1-{}\n",
                request::NS,
                issue::BATCH
            );
            Err(EINVAL)
        } else {
            Ok(())
        };
        let fault = checked.and_then(|()| fault::new_shared(load_time_fault()?));
        try_pin_init!(Self {
            reg <- Registration::new(try_init!(Rnetfs {
                issue_wq: OwnedQueue::new(c"rnetfs_issue", ENGINE_WQ, 0)?,
                upload_slots: submit::UploadSlot::new_pool()?,
                wq: OwnedQueue::new(c"rnetfs", ENGINE_WQ, 0)?,
                async_upload: module_parameters::async_upload.value(),
                max_inflight: max_inflight as usize,
                adaptive_window: module_parameters::adaptive_window.value(),
                sender_collects: module_parameters::sender_collects.value(),
                folio_batch: folio_batch as usize,
                max_retries,
                filter_stride: u64::from(module_parameters::filter_stride.value()),
                _debugfs: debugfs::Debugfs::new(fault.as_ref().map_err(|e| *e)?)?,
                fault: fault?,
            }? Error)),
        }? Error)
    }
}

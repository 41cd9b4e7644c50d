// SPDX-License-Identifier: GPL-2.0

//! The engine's state for one writeback request.
//!
//! The issuer (in `writepages`), completions (any context, even interrupts)
//! and the collector (a work item) share one [`WriteState`] under an
//! IRQ-safe spinlock. Nothing that may sleep or take long runs under it:
//! subrequests are prepared and issued, and folios' writeback is ended,
//! outside it.
//!
//! # Locks
//!
//! | lock | class | protects | taken by |
//! |---|---|---|---|
//! | `submit` | `RequestState::submit` (mutex) | the request's submission side ([`Submission`]): `prepare_write`, the cache's `issue_write`, `i_size` | the issuer around each prepare and cache issue; the retryer for a whole pass |
//! | `scratch` | `RequestState::scratch` (mutex) | the collector's buffers | the collector, or a sender collecting after its send, for one collection (never across a retry) |
//! | `inner` | `RequestState::inner` (spinlock, IRQs off) | [`Inner`] | everyone, briefly |
//!
//! Order: `submit` → `inner` and `scratch` → `inner`; `submit` and `scratch`
//! are never held together, and nothing is taken under `inner`. The fault
//! injector's mutex ([`crate::fault`]) is taken under none of them. Waits
//! (the issuer's throttle, the retryer's wait for quiescence) sleep on
//! `answered` or `room` with `inner` released, and with `submit` not held.
//! Completions wake `answered` (the waits for uploads to be answered and
//! the retryer's wait for quiescence), the collector wakes `room` (the
//! issuer's waits for room): a completion does not wake an issuer that
//! waits for a collection it has not had yet.
//!
//! The issuer and the retryer are excluded by `submit`: the retryer sets
//! `paused`, waits until the stream's issued subrequests are answered, then
//! prepares and sends under `submit`, which the issuer takes for every
//! prepare; so a `prepare_write` of one never overlaps one of the other.

use crate::engine::{spans::StreamsAvail, state::WriteState, stream::PerStream, window::Window};
use crate::issue::Parked;
use crate::stats::STATS;
use crate::Rnetfs;
use kernel::{
    alloc::KVec,
    folio::WritebackFolio,
    netfs::{
        engine::WritethroughEnd,
        folio_written_back,
        request::{HeldWbLock, Submission, Subrequest, WriteKind, WriteRequest},
    },
    new_condvar, new_mutex, new_spinlock_irq,
    prelude::*,
    sync::{aref::ARef, Arc, CondVar, Mutex, SpinLockIrq},
    time::{Instant, Monotonic},
    workqueue::{self, impl_has_work, new_work, Work},
};

/// Capacity of each stream's subrequest queue.
pub(crate) const NS: usize = 8;
/// Capacity of the queue of folios under writeback per request: room for
/// [`NS`] full 9p subrequests (511976 bytes) of 4 KiB folios, so that the
/// in-flight window, not the folio queue, bounds a sequential flush.
pub(crate) const NF: usize = 1024;
/// The smallest folio queue: one full 9p subrequest of 4 KiB folios. A
/// request gets a queue of the file's cached pages within [`NF_MIN`, `NF`],
/// rather than setting up 1024 slots for every small file.
pub(crate) const NF_MIN: usize = 128;

// One full 9p subrequest (msize 512000 less its header) of 4 KiB folios
// fits in the smallest queue.
const _: () = assert!(NF_MIN * 4096 >= 511976);

/// Heap slots for the folio queue: [`NF`] entries must not be built on the
/// stack of `writepages`.
pub(crate) struct FolioSlots(KVec<Option<(WritebackFolio, u64)>>);

impl FolioSlots {
    fn new(n: usize) -> Result<Self> {
        let mut v = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            v.push(None, GFP_KERNEL)?;
        }
        Ok(Self(v))
    }
}

impl AsRef<[Option<(WritebackFolio, u64)>]> for FolioSlots {
    fn as_ref(&self) -> &[Option<(WritebackFolio, u64)>] {
        &self.0
    }
}

impl AsMut<[Option<(WritebackFolio, u64)>]> for FolioSlots {
    fn as_mut(&mut self) -> &mut [Option<(WritebackFolio, u64)>] {
        &mut self.0
    }
}

/// The collection state, as the core engine defines it.
pub(crate) type State = WriteState<ARef<Subrequest>, WritebackFolio, NS, FolioSlots>;

/// What the lock protects.
pub(crate) struct Inner {
    /// The core state machine.
    pub(crate) ws: State,
    /// The netfs request, until collection is complete.
    pub(crate) req: Option<ARef<WriteRequest>>,
    /// The inode's writeback lock, held until collection is complete.
    pub(crate) wb_lock: Option<HeldWbLock>,
    /// A writethrough's end (its writeback lock, the writer's wait and
    /// kiocb), until collection is complete.
    pub(crate) wt_end: Option<WritethroughEnd>,
    /// The retryer asks the issuer to stop producing subrequests.
    pub(crate) paused: bool,
    /// The collector found subrequests to send again and has not collected
    /// since: the retryer numbers them by their place in the queues, so
    /// nobody else collects (see [`crate::collect::after_send`]).
    pub(crate) retrying: bool,
    /// The streams' `avail` as netfs last set them: by request creation,
    /// `begin_writeback` (recorded by the issuer) and the filesystem's
    /// `retry_request` (recorded by the retryer). The issuer reads it once
    /// per folio.
    pub(crate) avail: StreamsAvail,
    /// A stream failed: the first error of each.
    pub(crate) failed: PerStream<Option<i32>>,
    /// Subrequests given back by the filesystem or cache, per stream.
    pub(crate) completions: PerStream<u64>,
}

/// Work the collector takes out of the lock to do outside it.
pub(crate) struct Scratch {
    pub(crate) folios: KVec<WritebackFolio>,
    pub(crate) sreqs: KVec<ARef<Subrequest>>,
    pub(crate) failed: PerStream<Option<i32>>,
}

/// Where the state of a request of `kind` from `start` begins. A
/// writethrough starts at the writer's position, inside its first folio,
/// which the page cache aligns to its size (at most 1 GiB, a PUD): the
/// state begins where any first folio may, and the gap up to the first
/// one is like any gap between dirty folios.
pub(crate) fn base_of(kind: WriteKind, start: u64) -> u64 {
    if kind == WriteKind::Writethrough {
        start & !((1 << 30) - 1)
    } else {
        start
    }
}

/// One writeback request's engine state.
#[pin_data]
pub(crate) struct RequestState {
    #[pin]
    pub(crate) inner: SpinLockIrq<Inner>,
    /// Woken on every completion (and by the retryer): for the waits until
    /// uploads are answered and the retryer's wait for quiescence.
    #[pin]
    pub(crate) answered: CondVar,
    /// Woken by a collection that freed room or moved on, and by the
    /// retryer's unpause: for the issuer's throttle and folio-room waits.
    #[pin]
    pub(crate) room: CondVar,
    /// The request's submission side, once the request exists.
    #[pin]
    pub(crate) submit: Mutex<Option<Submission>>,
    /// A writethrough's issuer between the folios netfs hands over.
    #[pin]
    pub(crate) wthru: Mutex<Option<Parked>>,
    #[pin]
    pub(crate) scratch: Mutex<Scratch>,
    #[pin]
    pub(crate) work: Work<RequestState>,
    /// What the request writes: folios, or the caller's buffer.
    pub(crate) kind: WriteKind,
    /// File position the request starts at.
    pub(crate) start: u64,
    /// In-flight bound per stream.
    pub(crate) max_inflight: usize,
    /// When the request began: the upload window's clock counts from here.
    pub(crate) born: Instant<Monotonic>,
    /// The engine's fault injector.
    pub(crate) fault: crate::fault::SharedInjector,
    /// A success met inside its send is collected by the sender.
    pub(crate) sender_collects: bool,
}

impl_has_work! {
    impl HasWork<Self> for RequestState { self.work }
}

impl RequestState {
    /// Allocates the state for a request of `kind` starting at `start`,
    /// set up as `eng` is, with a folio queue for `nf` folios (clamped to [`NF_MIN`, `NF`]; none
    /// for a write of the caller's buffer).
    ///
    /// Not inlined: the state is built on the stack before it moves to the
    /// heap, and that frame must not stay on the stack of `writepages`.
    /// Called under `writepages`'s [`kernel::writeback::NoFsScope`], so the
    /// `GFP_KERNEL` allocations cannot recurse into a filesystem.
    #[inline(never)]
    pub(crate) fn new(kind: WriteKind, start: u64, nf: usize, eng: &Rnetfs) -> Result<Arc<Self>> {
        let max_inflight = eng.max_inflight.clamp(1, NS);
        let nf = match kind {
            WriteKind::Writeback => nf.clamp(NF_MIN, NF),
            // Sized before the writer has copied anything (a new file has
            // no pages yet): the whole queue, so that a large write never
            // waits for room while its first uploads are out.
            WriteKind::Writethrough => NF,
            WriteKind::Unbuffered | WriteKind::Direct => 0,
        };
        let mut ws = WriteState::with_folio_slots(
            base_of(kind, start),
            eng.max_retries,
            FolioSlots::new(nf)?,
        );
        ws.set_window(Window::new(max_inflight, eng.adaptive_window));
        let folios = KVec::with_capacity(nf, GFP_KERNEL)?;
        let sreqs = KVec::with_capacity(2 * NS, GFP_KERNEL)?;
        Arc::pin_init(
            try_pin_init!(Self {
                inner <- new_spinlock_irq!(Inner {
                    ws,
                    req: None,
                    wb_lock: None,
                    wt_end: None,
                    paused: false,
                    retrying: false,
                    avail: StreamsAvail { upload: false, cache: false },
                    failed: PerStream::default(),
                    completions: PerStream::default(),
                }, "RequestState::inner"),
                answered <- new_condvar!("RequestState::answered"),
                room <- new_condvar!("RequestState::room"),
                submit <- new_mutex!(None, "RequestState::submit"),
                wthru <- new_mutex!(None, "RequestState::wthru"),
                scratch <- new_mutex!(Scratch {
                    folios,
                    sreqs,
                    failed: PerStream::default(),
                }, "RequestState::scratch"),
                work <- new_work!("RequestState::work"),
                kind,
                start,
                max_inflight,
                born: Instant::now(),
                fault: eng.fault.clone(),
                sender_collects: eng.sender_collects,
            }? Error),
            GFP_KERNEL,
        )
    }

    /// Queues the collector on the engine's workqueue.
    pub(crate) fn wake_collector(self: &Arc<Self>, wq: &workqueue::Queue) {
        // Already queued is fine: one run collects everything.
        let _ = wq.enqueue(self.clone());
    }

    /// Whether the request writes the caller's buffer rather than folios:
    /// its losses go to the caller, not to the mapping, and it may extend
    /// the file.
    pub(crate) fn writes_buffer(&self) -> bool {
        self.kind.writes_buffer()
    }

    /// Nanoseconds since the request began, for the upload window.
    pub(crate) fn now_ns(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_nanos()).unwrap_or(0)
    }

    /// Ends writeback on a folio nobody will write (beyond EOF, no stream).
    pub(crate) fn end_unwritten(folio: WritebackFolio) {
        STATS.folios_cleaned.inc();
        folio_written_back(folio);
    }
}

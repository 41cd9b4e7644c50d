// SPDX-License-Identifier: GPL-2.0

//! The issuer: pumps dirty folios out of `writeback_iter()` and builds the
//! upload and cache streams from them as it goes.
//!
//! What to do with each folio, and in which order, is the engine's
//! [`Feeder`] (host-tested); this file walks the folios, waits with a folio
//! unlocked when the feeder says so, and is the feeder's [`IssuerSide`]:
//! the request, the folio and the collection state. Subrequests are
//! prepared and sent by [`crate::submit`] while earlier ones are still in
//! flight. The issuer throttles on the per-stream in-flight bound and on
//! the folio queue's capacity with no folio locked, with one exception: the
//! file's last dirty folio is held locked over its own upload, for at most
//! [`SETTLE_MAX_MS`] (see [`Feeder::write_folio`]).

use crate::engine::{
    fault::{Fault, SITE_REQUEST},
    feed::{Fed, FeedFolio, Feeder, FolioKind, IssuerSide, Report, Wait},
    spans::StreamsAvail,
    stream::Stream,
    tile::{Limits, StreamSink},
};
use crate::request::{Inner, RequestState};
use crate::stats::STATS;
use crate::submit::{Building, Sink, Workers};
use crate::Rnetfs;
use kernel::{
    folio::{LockedFolio, WritebackFolio},
    netfs::{
        self,
        engine::Registration,
        request::{Stream as NetfsStream, WriteRequest},
        trace::{self, FolioTrace, WriteTrace},
        FolioPrivate, WbLock, WbLockGuard,
    },
    page::PAGE_SHIFT,
    prelude::*,
    sync::{Arc, CondVar, CondVarTimeoutResult},
    time::msecs_to_jiffies,
    workqueue::Queue,
    writeback::{AddressSpace, NoFsScope, SyncMode, WritebackControl, WritebackIter},
};

/// Longest wait with the file's last dirty folio locked, for the answers of
/// its own and earlier uploads. The server normally answers within
/// milliseconds; past this (a server that stopped answering) the folio's
/// writeback starts anyway, leaving that one folio to the truncation window
/// the C engine always leaves open, rather than hold a folio lock for ever.
/// Below the hung-task detector's 120 s.
pub(crate) const SETTLE_MAX_MS: u32 = 60_000;

/// The kernel's side of the issuer of one request.
struct Side<'q> {
    sink: Sink<'q>,
    /// Where uploads go when they are not sent inline.
    workers: Option<Workers<'q>>,
    /// The collector's queue.
    collector: &'q Queue,
    mapping: &'q AddressSpace,
    /// What is kept from one folio to the next.
    st: IssueState,
}

/// The issuer's position and hints, kept between folios: on the stack for
/// writeback, in the request for a writethrough, whose folios come one
/// call at a time.
pub(crate) struct IssueState {
    /// Folio queue room left the last time it was looked at: only the
    /// collector frees room, so there is at least this much minus what was
    /// pushed since, and the lock is taken again only when it runs out.
    room_hint: usize,
    /// End of the last folio written, not yet published to the collector
    /// with `set_issued_to`: published with the folio batch (see
    /// [`FolioBatch`]) and before any wait, so that the collector is never
    /// held up.
    unpublished: u64,
    /// The upload stream takes part in the request.
    upload_active: bool,
    /// The streams that may be planned on. netfs sets a stream's `avail`
    /// when the request is created (cache) and in `begin_writeback`
    /// (upload), and a filesystem's `retry_request` may change it: kept
    /// here, with the retryer's changes picked up from [`Inner::avail`]
    /// whenever the folio batch is queued, instead of taking the submission side's mutex for
    /// every folio. C reads it without a lock, as late.
    avail: StreamsAvail,
    /// The request's file size snapshot (`wreq->i_size`) as last noted:
    /// only a folio reaching past it changes the request.
    noted_i_size: u64,
    /// A page index known to be tagged dirty, past the folios seen so far:
    /// until the walk reaches it, no folio is the file's last dirty one,
    /// and the page cache's tags need not be searched again.
    dirty_ahead: usize,
    /// No page at or past this index was tagged dirty when last looked:
    /// the search [`DIRTY_STRIDE`] pages ahead is not repeated below it.
    /// A page dirtied there since only makes a folio look last when it is
    /// not, which costs a wait, not correctness.
    clean_from: usize,
    /// A writethrough: the writer waits for the request itself, and its
    /// folios are not dirty.
    writethrough: bool,
    /// Folios under writeback not yet in the request's queue.
    batch: FolioBatch,
}

/// Folios the issuer queues for the collector at once: under 9p's 4 KiB
/// folios the request's IRQ-safe lock, taken per folio, cost more than the
/// rest of the issuer's bookkeeping (the C engine takes no lock per folio).
pub(crate) const BATCH: usize = 16;

/// Folios put under writeback but not yet in the request's folio queue,
/// with their data ends. They are queued, with the issuer's position,
/// before the issuer sends a subrequest (which may cover them, so its
/// answer finds them queued), before it publishes its position and before
/// any wait, so nothing collectable is ever held back from the collector.
struct FolioBatch {
    folios: [Option<(WritebackFolio, u64)>; BATCH],
    n: usize,
    /// Queued when this many are batched (`folio_batch`, 1 to [`BATCH`]).
    max: usize,
    /// Position of the last folio added.
    pos: u64,
}

impl FolioBatch {
    fn new(max: usize) -> Self {
        Self {
            folios: [const { None }; BATCH],
            n: 0,
            max: max.clamp(1, BATCH),
            pos: 0,
        }
    }

    /// Adds folio `f` at `pos`, its data ending at `data_end`; gives it
    /// back if the batch is full.
    fn push(&mut self, f: WritebackFolio, pos: u64, data_end: u64) -> Result<(), WritebackFolio> {
        let Some(slot) = self.folios.get_mut(self.n) else {
            return Err(f);
        };
        *slot = Some((f, data_end));
        self.n += 1;
        self.pos = pos;
        Ok(())
    }

    /// Queues the batch in `g`'s folio queue, in order, with the issuer's
    /// position. What the queue refuses (it cannot: room is checked before
    /// every folio) stays in the batch for [`Self::end_refused`].
    fn publish(&mut self, g: &mut Inner) {
        if self.n == 0 {
            return;
        }
        g.ws.set_issued_to(self.pos);
        let n = self.n;
        self.n = 0;
        for slot in self.folios.iter_mut().take(n) {
            if let Some((f, end)) = slot.take() {
                if let Err(f) = g.ws.push_folio(f, end) {
                    *slot = Some((f, end));
                }
            }
        }
    }

    /// Ends the writeback of folios the queue refused; true if there were.
    fn end_refused(&mut self) -> bool {
        let mut refused = false;
        for slot in &mut self.folios {
            if let Some((f, _)) = slot.take() {
                refused = true;
                RequestState::end_unwritten(f);
            }
        }
        if refused {
            // Room was checked and only the issuer pushes.
            pr_err!("rnetfs: folio queue full\n");
        }
        refused
    }
}

impl IssueState {
    /// The issuer's state for a request from `start`, queueing folios in
    /// batches of `batch`.
    fn new(start: u64, cache: bool, noted_i_size: u64, writethrough: bool, batch: usize) -> Self {
        Self {
            room_hint: 0,
            unpublished: start,
            upload_active: false,
            avail: StreamsAvail {
                upload: false,
                cache,
            },
            noted_i_size,
            dirty_ahead: 0,
            clean_from: usize::MAX,
            writethrough,
            batch: FolioBatch::new(batch),
        }
    }

    /// Queues the batched folios and publishes the issuer's position, in
    /// `g`; picks up the streams the retryer may have changed.
    fn publish(&mut self, g: &mut Inner) {
        self.batch.publish(g);
        g.ws.set_issued_to(self.unpublished);
        // Only a stream that takes part may be planned on.
        self.avail = StreamsAvail {
            upload: g.avail.upload && self.upload_active,
            cache: g.avail.cache,
        };
    }
}

/// How far ahead of a folio the issuer looks for a dirty page first: one
/// search of the page cache's tags then covers this many pages of a file
/// dirty throughout, rather than one search per folio.
const DIRTY_STRIDE: usize = 256;

impl Side<'_> {
    /// Whether the folio of pages `first..=last` is the file's last dirty
    /// one: no other page is tagged dirty. None while a dirty page further
    /// on is known; else first a search [`DIRTY_STRIDE`] pages ahead, which
    /// on a file dirty throughout answers for the folios up to what it
    /// finds; near the end of the dirty data, an exact search per folio.
    fn is_last_dirty(&mut self, first: usize, last: usize) -> bool {
        if self.st.dirty_ahead > last {
            return false;
        }
        let far = last.saturating_add(DIRTY_STRIDE);
        if far < self.st.clean_from {
            match self.mapping.dirty_outside(0, far - 1) {
                Some(i) => {
                    self.st.dirty_ahead = i;
                    return false;
                }
                None => self.st.clean_from = far,
            }
        }
        match self.mapping.dirty_outside(first, last) {
            Some(i) => {
                if i > last {
                    self.st.dirty_ahead = i;
                }
                false
            }
            None => true,
        }
    }

    /// Queues the batched folios and publishes the issuer's position.
    /// Returns false if the queue refused a folio (it cannot).
    fn publish(&mut self) -> bool {
        self.st.publish(&mut self.sink.state.inner.lock());
        !self.st.batch.end_refused()
    }

    /// Queues the batched folios, if any, before a subrequest goes out.
    fn publish_batch(&mut self) {
        if self.st.batch.n > 0 {
            self.publish();
        }
    }

    /// Publishes the issuer's position and waits until every upload is
    /// answered, retries included; for at most `bound_ms` if given (a
    /// signal also ends a bounded wait).
    fn wait_uploads(&mut self, bound_ms: Option<u32>) {
        let _ = self.publish();
        let st = &self.sink.state;
        let mut left = bound_ms.map(msecs_to_jiffies);
        let mut g = st.inner.lock();
        while g.ws.unanswered(Stream::Upload) > 0 {
            STATS.upload_waits.inc();
            let Some(j) = left else {
                st.answered.wait(&mut g);
                continue;
            };
            match st.answered.wait_interruptible_timeout(&mut g, j) {
                CondVarTimeoutResult::Woken { jiffies } if jiffies > 0 => left = Some(jiffies),
                _ => {
                    STATS.settle_cut.inc();
                    return;
                }
            }
        }
    }
}

impl StreamSink<Building> for Side<'_> {
    fn prepare(&mut self, stream: Stream, start: u64) -> Option<(Building, Limits)> {
        // It may wait for room.
        self.publish_batch();
        self.sink.prepare(stream, start)
    }

    fn issue(&mut self, stream: Stream, sreq: Building, start: u64, len: u64, nr_segs: u32) {
        // Its answer must find the folios it covers queued.
        self.publish_batch();
        self.sink.issue(stream, sreq, start, len, nr_segs)
    }
}

impl<'a> IssuerSide<Building, LockedFolio<'a>> for Side<'_> {
    fn begin_upload(&mut self) -> StreamsAvail {
        if !self.st.upload_active {
            let avail = self
                .sink
                .with_submission(|sub| {
                    sub.begin_writeback();
                    sub.stream_avail(NetfsStream::Upload)
                })
                .unwrap_or(false);
            if avail {
                let mut g = self.sink.state.inner.lock();
                g.ws.activate(Stream::Upload);
                g.avail.upload = true;
                self.st.upload_active = true;
                self.st.avail.upload = true;
            }
        }
        let avail = self.st.avail;
        if !avail.upload {
            // The filesystem found no way to the server (cifs with no
            // writable handle, afs with no key): the C engine then ends the
            // folio as written, and the bytes are gone without a word.
            // They are lost here too, but reported.
            STATS.upload_unavailable.inc();
            self.mapping.set_error(EIO);
        }
        avail
    }

    fn avail(&mut self) -> StreamsAvail {
        self.st.avail
    }

    fn unanswered_uploads(&mut self) -> usize {
        self.sink.state.inner.lock().ws.unanswered(Stream::Upload)
    }

    fn folio_room(&mut self) -> usize {
        if self.st.room_hint == 0 {
            let room = {
                let mut g = self.sink.state.inner.lock();
                self.st.publish(&mut g);
                g.ws.folio_room()
            };
            self.st.batch.end_refused();
            self.st.room_hint = room;
        }
        self.st.room_hint
    }

    fn kick_collector(&mut self) {
        self.publish_batch();
        self.sink.state.wake_collector(self.collector);
    }

    fn zero(&mut self, folio: &mut LockedFolio<'a>, from: u64, to: u64) {
        folio.zero_segment(from as usize, to as usize);
    }

    fn note_i_size(&mut self, folio_end: u64, i_size: u64) {
        if folio_end > self.st.noted_i_size {
            self.sink
                .with_submission(|sub| sub.note_i_size(folio_end, i_size));
            self.st.noted_i_size = i_size;
        }
    }

    fn report(&mut self, folio: &LockedFolio<'a>, what: Report) {
        let f = folio.folio();
        let t = match what {
            Report::Store => FolioTrace::Store,
            Report::StorePlus => FolioTrace::StorePlus,
            Report::StoreCopy => FolioTrace::StoreCopy,
            Report::CancelStore => FolioTrace::CancelStore,
            Report::NotUptodate => {
                pr_warn!(
                    "rnetfs: dirty folio not uptodate at {:#x}, not written\n",
                    f.pos()
                );
                STATS.not_uptodate.inc();
                self.mapping.set_error(EIO);
                return;
            }
        };
        trace::folio(f, t);
    }

    fn send_inline(&mut self, on: bool) {
        self.sink.workers = if on { None } else { self.workers };
    }

    fn wait_answered(&mut self) {
        self.wait_uploads(Some(SETTLE_MAX_MS));
    }

    fn start_writeback(
        &mut self,
        folio: LockedFolio<'a>,
        pos: u64,
        data_end: u64,
    ) -> Result<(), ()> {
        let wb = folio.start_writeback();
        if self.st.batch.n >= self.st.batch.max {
            // A folio the queue refused (it cannot) had its writeback
            // ended; its bytes still go out.
            let _ = self.publish();
        }
        if let Err(wb) = self.st.batch.push(wb, pos, data_end) {
            // Cannot happen: published when full.
            RequestState::end_unwritten(wb);
            return Err(());
        }
        if self.st.writethrough && !self.publish() {
            // Its folios come one call at a time: none is kept back. This
            // one was refused (it cannot be) and its writeback ended
            // before its bytes were planned.
            return Err(());
        }
        self.st.room_hint = self.st.room_hint.saturating_sub(1);
        STATS.folios.inc();
        Ok(())
    }

    fn end_unwritten(&mut self, folio: LockedFolio<'a>) {
        RequestState::end_unwritten(folio.start_writeback());
    }
}

/// The issuing side of one request.
struct Issuer<'q> {
    feeder: Feeder<Building>,
    side: Side<'q>,
}

impl Issuer<'_> {
    /// Writes one folio, after waiting with it unlocked as often as the
    /// feeder asks.
    fn write_folio(&mut self, wbc: &WritebackControl, mut folio: LockedFolio<'_>) -> Result {
        loop {
            let f = folio.folio();
            let pos = f.pos() as u64;
            let size = f.size() as u64;
            // A writethrough's writer waits for every upload before it
            // returns: no folio of it needs holding over its own.
            let last = !self.side.st.writethrough
                && self.side.is_last_dirty(
                    (pos >> PAGE_SHIFT) as usize,
                    ((pos + size - 1) >> PAGE_SHIFT) as usize,
                );
            if let Some(w) = self.feeder.wait_needed(&mut self.side, last) {
                // A folio the queue refused (it cannot) had its writeback
                // ended; its bytes still go out.
                let _ = self.side.publish();
                let (ready, on): (fn(&Inner) -> bool, _) = match w {
                    Wait::Answered => {
                        STATS.last_drains.inc();
                        (
                            |g| g.ws.unanswered(Stream::Upload) == 0,
                            &self.side.sink.state.answered,
                        )
                    }
                    Wait::FolioRoom => {
                        // Throttle on the folio queue with the folio unlocked:
                        // the design's third writeback_iter() problem.
                        STATS.relocked.inc();
                        (|g| g.ws.folio_room() > 0, &self.side.sink.state.room)
                    }
                };
                let Some(f) = wait_unlocked(
                    folio,
                    self.side.mapping,
                    &self.side.sink.state,
                    self.side.st.unpublished,
                    ready,
                    on,
                ) else {
                    return Ok(());
                };
                folio = f;
                self.side.st.room_hint = 0;
                continue;
            }
            // Read with the folio locked, after any wait: a folio that was
            // only to be copied to the cache may have been written to while
            // it was unlocked.
            let kind = match netfs::folio_private(&folio) {
                FolioPrivate::Plain => FolioKind::Plain,
                FolioPrivate::CopyToCache => FolioKind::CopyToCache,
                FolioPrivate::Streaming { offset, len } => FolioKind::Streaming {
                    offset: u64::from(offset),
                    len: u64::from(len),
                },
                FolioPrivate::Grouped => FolioKind::Grouped,
            };
            let ff = FeedFolio {
                pos,
                size,
                kind,
                uptodate: folio.folio().test_uptodate(),
                i_size: self.side.mapping.i_size().max(0) as u64,
                last,
                writethrough: self.side.st.writethrough,
            };
            return match self.feeder.write_folio(&mut self.side, folio, &ff) {
                Fed::Written => {
                    if last {
                        STATS.last_locked.inc();
                    }
                    self.side.st.unpublished = pos + size;
                    Ok(())
                }
                Fed::Skipped | Fed::NotUptodate => Ok(()),
                Fed::Redirty(folio) => {
                    // Left for its own group's writeback (netfs's writeback
                    // requests have none).
                    STATS.grouped.inc();
                    folio.redirty(wbc);
                    Ok(())
                }
                Fed::QueueFull => Err(EIO),
            };
        }
    }

    /// Flushes both streams and lets the collector finish the request.
    fn end_issue(&mut self) {
        self.side.publish();
        // Writeback waits below for what is sent now: from a worker it
        // would only add a hop. A writethrough's writer may be async.
        let inline = !self.side.st.writethrough;
        if inline {
            self.side.send_inline(true);
        }
        self.feeder.flush_end(&mut self.side);
        if inline {
            self.side.send_inline(false);
        }
        self.side.sink.state.inner.lock().ws.all_queued();
        if self.side.st.writethrough {
            // The last completion may have raced ahead of `all_queued`. A
            // writethrough's writer waits for the whole request, or
            // returns -EIOCBQUEUED.
            self.side.kick_collector();
            return;
        }
        // Filesystems count on the server having every upload once
        // writepages returns: 9p's setattr flushes with filemap_fdatawrite()
        // alone and then truncates on the server, which an upload still on
        // its way would undo (a synchronous issue_write made that true in
        // the C engine). Uploads overlap while the issuer works; here they
        // are waited for, retries included.
        if self.side.workers.is_some() {
            self.side.wait_uploads(None);
        }
        // The last completion may have raced ahead of `all_queued`.
        crate::collect::after_issue(&self.side.sink.state, self.side.collector);
    }
}

/// The issuer of a writethrough between two of its folios, kept in its
/// request's state: netfs hands the folios over one call at a time.
pub(crate) struct Parked {
    feeder: Feeder<Building>,
    st: IssueState,
}

impl Parked {
    /// The issuer of a writethrough from `start`.
    pub(crate) fn new(start: u64, cache: bool, noted_i_size: u64) -> Self {
        Self {
            feeder: Feeder::new(),
            st: IssueState::new(start, cache, noted_i_size, true, 1),
        }
    }

    /// Runs `f` with the issuer, bound to the engine and the request again.
    fn with<R>(
        &mut self,
        eng: &Rnetfs,
        state: &Arc<RequestState>,
        mapping: &AddressSpace,
        f: impl FnOnce(&mut Issuer<'_>) -> R,
    ) -> R {
        let workers = eng.async_upload.then(|| Workers {
            queue: eng.issue_wq.queue(),
            slots: &eng.upload_slots,
        });
        let mut issuer = Issuer {
            feeder: core::mem::replace(&mut self.feeder, Feeder::new()),
            side: Side {
                sink: Sink {
                    state: state.clone(),
                    workers,
                },
                workers,
                collector: eng.wq.queue(),
                mapping,
                st: core::mem::replace(&mut self.st, IssueState::new(0, false, 0, true, 1)),
            },
        };
        let r = f(&mut issuer);
        self.feeder = issuer.feeder;
        self.st = issuer.side.st;
        r
    }

    /// Writes one folio the writer has finished copying into.
    pub(crate) fn write_folio(
        &mut self,
        eng: &Rnetfs,
        state: &Arc<RequestState>,
        mapping: &AddressSpace,
        wbc: &WritebackControl,
        folio: LockedFolio<'_>,
    ) -> Result {
        self.with(eng, state, mapping, |i| i.write_folio(wbc, folio))
    }

    /// Flushes both streams and lets the collector finish the request.
    pub(crate) fn end(mut self, eng: &Rnetfs, state: &Arc<RequestState>, mapping: &AddressSpace) {
        self.with(eng, state, mapping, |i| i.end_issue());
    }
}

/// Waits with `folio` unlocked until `ready` holds of the request's state,
/// woken by `on`, then relocks it; `None` if it was truncated meanwhile.
/// The issuer's position is published first, so that the collector is
/// never held up.
fn wait_unlocked<'a>(
    folio: LockedFolio<'a>,
    mapping: &AddressSpace,
    state: &RequestState,
    issued_to: u64,
    ready: impl Fn(&Inner) -> bool,
    on: &CondVar,
) -> Option<LockedFolio<'a>> {
    folio.relock_later(mapping, || {
        let mut g = state.inner.lock();
        g.ws.set_issued_to(issued_to);
        while !ready(&g) {
            on.wait(&mut g);
        }
    })
}

/// The next folio to write back.
///
/// With `filter_stride` > 1 only folios whose page index is a multiple of
/// it are taken; [`WritebackIter::next_filtered`] redirties and unlocks the
/// others, as a filesystem ordering writes by snapshot (ceph) would. It is
/// a test hook for that API: the skipped folios stay dirty for a later pass.
pub(crate) fn next_folio<'a>(
    iter: &mut WritebackIter<'a>,
    filter_stride: u64,
) -> Option<LockedFolio<'a>> {
    if filter_stride <= 1 {
        return iter.next_folio();
    }
    iter.next_filtered(|f| {
        let keep = (f.pos() as u64 >> PAGE_SHIFT).checked_rem(filter_stride) == Some(0);
        if !keep {
            STATS.filtered.inc();
        }
        keep
    })
}

/// Gives writeback up before a request exists: `first` and every folio not
/// yet taken come back dirty and unlocked, and the iteration ends with `e`.
fn abandon(
    first: LockedFolio<'_>,
    mut iter: WritebackIter<'_>,
    wbc: &WritebackControl,
    lock: WbLockGuard<'_>,
    e: Error,
) -> Result {
    first.redirty(wbc);
    iter.cancel(e);
    drop(lock);
    iter.finish()
}

/// `netfs_writepages()` of the engine.
pub(crate) fn writepages(
    reg: &Registration<Rnetfs>,
    mapping: &AddressSpace,
    wbc: &WritebackControl,
) -> Result {
    // Folio and writeback locks are held from here on, and flushers call
    // this under memory pressure: no allocation may reclaim through a
    // filesystem.
    let _nofs = NoFsScope::enter();
    STATS.writepages.inc();
    let Some(lock) = WbLock::begin(mapping, wbc.sync_mode() == SyncMode::None) else {
        STATS.wb_lock_skip.inc();
        return Ok(());
    };
    let mut iter = WritebackIter::new(mapping, wbc);
    let eng = reg.engine();
    let Some(first) = next_folio(&mut iter, eng.filter_stride) else {
        drop(lock);
        return iter.finish();
    };

    let start = first.folio().pos();
    // An injected failure here exercises the cancellation of the
    // iteration: every folio not yet written must come back dirty and
    // unlocked.
    if let Some(Fault::Fail { errno, .. }) = eng.fault.decide(SITE_REQUEST) {
        return abandon(first, iter, wbc, lock, Error::from_errno(-errno));
    }
    let state = match RequestState::new(
        kernel::netfs::request::WriteKind::Writeback,
        start as u64,
        mapping.nr_pages(),
        eng,
    ) {
        Ok(s) => s,
        Err(e) => return abandon(first, iter, wbc, lock, e),
    };
    let mut sub = match reg.create_request(mapping, start, state.clone()) {
        Ok(r) => r,
        Err(e) => return abandon(first, iter, wbc, lock, e),
    };
    let req = sub.request().clone();
    let cache = sub.stream_avail(NetfsStream::Cache);
    let noted_i_size = sub.i_size();
    *state.submit.lock() = Some(sub);
    {
        let mut g = state.inner.lock();
        g.req = Some(req.clone());
        // Collection ends the writeback lock, like netfs: it also covers the
        // file size and cache state updates made at completion.
        g.wb_lock = Some(WriteRequest::adopt_wb_lock(&req, lock));
        if cache {
            g.ws.activate(Stream::Cache);
            g.avail.cache = true;
        }
    }
    STATS.live_requests.inc();
    STATS.requests.inc();
    trace::write(&req, WriteTrace::Writeback);
    drop(req);
    let workers = eng.async_upload.then(|| Workers {
        queue: eng.issue_wq.queue(),
        slots: &eng.upload_slots,
    });
    let mut issuer = Issuer {
        feeder: Feeder::new(),
        side: Side {
            sink: Sink { state, workers },
            workers,
            collector: eng.wq.queue(),
            mapping,
            st: IssueState::new(start as u64, cache, noted_i_size, false, eng.folio_batch),
        },
    };
    let mut next = Some(first);
    while let Some(folio) = next.take() {
        if let Err(e) = issuer.write_folio(wbc, folio) {
            iter.cancel(e);
            break;
        }
        next = next_folio(&mut iter, eng.filter_stride);
    }
    issuer.end_issue();
    iter.finish()
}

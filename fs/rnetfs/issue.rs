// SPDX-License-Identifier: GPL-2.0

//! The issuer: pumps dirty folios out of `writeback_iter()` and builds the
//! upload and cache streams from them as it goes.
//!
//! Each folio is planned in file positions only ([`plan_folio`]), put under
//! writeback and queued for the collector, then its spans are fed to the two
//! streams' tilers, which prepare and issue subrequests while earlier ones
//! are still in flight. The issuer throttles on the per-stream in-flight
//! bound and on the folio queue's capacity, never with a folio locked.

use crate::engine::{
    fault::{Fault, SITE_REQUEST},
    spans::{plan_folio, FolioInfo, FolioPlan, StreamsAvail},
    tile::{Limits, StreamSink, Tiler},
};
use crate::fault;
use crate::request::{Inner, RequestState, NF_MIN};
use crate::stats::STATS;
use crate::{collect, Rnetfs};
use kernel::{
    folio::LockedFolio,
    netfs::{
        self,
        engine::Registration,
        request::{Stream, Subrequest, WriteRequest},
        trace::{self, FolioTrace, SreqTrace, WriteTrace},
        FolioPrivate, WbLock,
    },
    prelude::*,
    sync::{aref::ARef, Arc},
    workqueue::Queue,
    writeback::{AddressSpace, SyncMode, WritebackControl, WritebackIter},
};

/// The issuing side of one request.
struct Issuer<'q> {
    /// Apart from the tilers, so that they can be fed with it.
    sink: Sink<'q>,
    tilers: [Tiler<ARef<Subrequest>>; 2],
    /// Whether any upload went to the workers: writepages then waits for
    /// their answers before it returns.
    async_used: bool,
    /// Folio queue room left the last time it was looked at: only the
    /// collector frees room, so there is at least this much minus what was
    /// pushed since, and the lock is taken again only when it runs out.
    room_hint: usize,
    /// End of the last folio written, not yet published to the collector
    /// with `set_issued_to`: the next folio's push publishes its start,
    /// which is further, so the lock is taken once per folio, not twice.
    /// Published before any wait, so that the collector is never held up.
    unpublished: u64,
}

/// The tilers' view of the request: allocates, prepares and issues.
struct Sink<'q> {
    state: Arc<RequestState>,
    req: ARef<WriteRequest>,
    /// Where uploads are sent from, if not from the issuer.
    workers: Option<&'q Queue>,
    /// The collector's queue.
    collector: &'q Queue,
}

impl Sink<'_> {
    /// Waits until `stream` may have another subrequest: below the in-flight
    /// bound, room in its queue, and no retry in progress. No folio is locked
    /// by the issuer here.
    fn throttle(&self, stream: usize) {
        let st = &self.state;
        let mut g = st.inner.lock();
        loop {
            let used = crate::request::NS - g.ws.stream_room(stream);
            if !g.paused && used < st.max_inflight && g.ws.stream_room(stream) > 0 {
                return;
            }
            STATS.throttled.inc();
            st.progress.wait(&mut g);
        }
    }
}

impl StreamSink<ARef<Subrequest>> for Sink<'_> {
    fn prepare(&mut self, stream: usize, start: u64) -> (ARef<Subrequest>, Limits) {
        self.throttle(stream);
        let sreq = loop {
            // Writeback subrequests come from a mempool that waits rather than
            // fail; loop for the theoretical case anyway.
            match Subrequest::alloc(&self.req, Stream::from_index(stream), start) {
                Ok(s) => break s,
                Err(_) => kernel::time::delay::fsleep(kernel::time::Delta::from_millis(1)),
            }
        };
        let lim = sreq.prepare();
        trace::sreq(&sreq, SreqTrace::Prepare);
        if stream == 0 {
            STATS.upload_prepared.inc();
        } else {
            STATS.cache_prepared.inc();
        }
        let mut handle = Some(sreq.clone());
        while let Some(h) = handle.take() {
            let mut g = self.state.inner.lock();
            if let Err(h) = g.ws.add_sreq(stream, h, start) {
                // Room was checked by `throttle` and only the issuer adds.
                handle = Some(h);
                self.state.progress.wait(&mut g);
            }
        }
        (
            sreq,
            Limits {
                max_len: lim.max_len,
                max_segs: lim.max_segs,
            },
        )
    }

    fn issue(
        &mut self,
        stream: usize,
        sreq: ARef<Subrequest>,
        _start: u64,
        len: u64,
        _nr_segs: u32,
    ) {
        self.state.inner.lock().ws.set_sreq_len(stream, &sreq, len);
        if stream == 0 {
            STATS.upload_bytes.add(len);
        } else {
            STATS.cache_bytes.add(len);
        }
        // The cache is asynchronous already: only uploads go to workers.
        let workers = if stream == 0 { self.workers } else { None };
        if collect::issue_or_inject(&self.state, sreq, stream, len, workers) {
            // Given back without netfs, which wakes the collector for any
            // other completion; the issuer may wait for it next.
            self.state.wake_collector(self.collector);
        }
    }
}

impl Issuer<'_> {
    /// Room left in the folio queue, issuing what is being built if there
    /// is none: the folios queued so far may all belong to subrequests
    /// still being built, and nothing would ever free room.
    fn room(&mut self) -> usize {
        if self.room_hint == 0 {
            let mut g = self.sink.state.inner.lock();
            g.ws.set_issued_to(self.unpublished);
            self.room_hint = g.ws.folio_room();
        }
        if self.room_hint == 0 {
            self.tilers[0].flush(&mut self.sink);
            self.tilers[1].flush(&mut self.sink);
            self.room_hint = self.sink.state.inner.lock().ws.folio_room();
        }
        self.room_hint
    }

    /// Sends what the upload tiler is building, from here, and waits until
    /// every upload is answered, retries included.
    ///
    /// Called with the file's last dirty folio locked and still tagged
    /// dirty, before its writeback starts: see [`Issuer::write_folio`].
    fn settle_uploads(&mut self) {
        let workers = self.sink.workers.take();
        self.tilers[0].flush(&mut self.sink);
        self.sink.workers = workers;
        self.wait_answered();
    }

    /// Publishes the issuer's position and waits until every upload is
    /// answered, retries included.
    fn wait_answered(&self) {
        let st = &self.sink.state;
        let mut g = st.inner.lock();
        g.ws.set_issued_to(self.unpublished);
        while g.ws.unanswered(0) > 0 {
            STATS.upload_waits.inc();
            st.progress.wait(&mut g);
        }
    }

    /// Ends a folio that has nothing to write, settling the uploads first
    /// if it is the file's last dirty one.
    fn skip_folio(&mut self, folio: LockedFolio<'_>, last: bool) {
        if last {
            self.settle_uploads();
        }
        RequestState::end_unwritten(folio.start_writeback());
    }

    /// Writes one folio.
    ///
    /// Starting writeback on the file's last dirty folio clears the file's
    /// last dirty tag: from then on a flush of the whole file returns at
    /// once, and 9p's setattr goes on to truncate on the server. An upload
    /// still on its way then could land after the truncation and regrow the
    /// file with stale bytes (and 9p's completion could write back a stale
    /// `i_size`). So the last dirty folio's writeback starts only once every
    /// upload, its own included, has been answered: earlier ones are waited
    /// for with the folio unlocked but still tagged; its own bytes go out
    /// with it locked, which keeps them stable and truncation out. Until
    /// then a flush finds the tag, enters writepages and waits for this
    /// request on the writeback lock. The C engine starts writeback first
    /// and leaves that window open.
    fn write_folio(&mut self, mapping: &AddressSpace, mut folio: LockedFolio<'_>) -> Result {
        loop {
            let f = folio.folio();
            let pos = f.pos() as u64;
            let size = f.size() as u64;
            let last = !mapping.dirty_outside(
                (pos >> kernel::page::PAGE_SHIFT) as usize,
                ((pos + size - 1) >> kernel::page::PAGE_SHIFT) as usize,
            );
            let ready: Option<fn(&Inner) -> bool> =
                if last && self.sink.state.inner.lock().ws.unanswered(0) > 0 {
                    STATS.last_drains.inc();
                    Some(|g| g.ws.unanswered(0) == 0)
                } else if self.room() == 0 {
                    // Throttle on the folio queue with the folio unlocked: the
                    // seed's third writeback_iter() problem.
                    STATS.relocked.inc();
                    Some(|g| g.ws.folio_room() > 0)
                } else {
                    None
                };
            if let Some(ready) = ready {
                let Some(f) =
                    wait_unlocked(folio, mapping, &self.sink.state, self.unpublished, ready)
                else {
                    return Ok(());
                };
                folio = f;
                self.room_hint = 0;
                continue;
            }
            let private = netfs::folio_private(&folio);
            if private != FolioPrivate::CopyToCache {
                self.sink.req.begin_writeback();
            }
            let dirty = match private {
                FolioPrivate::Streaming { offset, len } => {
                    Some((u64::from(offset), u64::from(len)))
                }
                _ => None,
            };
            let i_size = mapping.i_size().max(0) as u64;
            let info = FolioInfo {
                pos,
                size,
                dirty,
                copy_to_cache: private == FolioPrivate::CopyToCache,
                i_size,
            };
            let avail = StreamsAvail {
                upload: self.sink.req.stream_avail(Stream::Upload),
                cache: self.sink.req.stream_avail(Stream::Cache),
            };
            // A dirty folio that is neither up to date nor a streaming write
            // would upload bytes nobody wrote or read: refuse, loudly.
            if dirty.is_none() && private != FolioPrivate::CopyToCache && !f.test_uptodate() {
                pr_warn!("rnetfs: dirty folio not uptodate at {pos:#x}, not written\n");
                STATS.not_uptodate.inc();
                mapping.set_error(EIO);
                self.skip_folio(folio, last);
                return Ok(());
            }
            let plan = plan_folio(&info, avail);
            let FolioPlan::Write {
                upload,
                cache,
                flush_upload,
                flush_cache,
                zero_from,
                data_end,
                flush_after,
                to_eof,
            } = plan
            else {
                trace::folio(f, FolioTrace::CancelStore);
                self.skip_folio(folio, last);
                return Ok(());
            };
            if upload.is_none() && cache.is_none() {
                trace::folio(f, FolioTrace::CancelStore);
                self.skip_folio(folio, last);
                return Ok(());
            }
            if let Some(z) = zero_from {
                folio.zero_segment(z as usize, size as usize);
            }
            self.sink.req.note_i_size(pos + size, i_size);
            trace::folio(
                f,
                match (upload.is_some(), cache.is_some()) {
                    (true, true) => FolioTrace::StorePlus,
                    (true, false) => FolioTrace::Store,
                    _ => FolioTrace::StoreCopy,
                },
            );
            if flush_upload {
                self.tilers[0].flush(&mut self.sink);
            }
            if last {
                if let Some(s) = upload {
                    self.tilers[0].add(&mut self.sink, s.pos, s.len, to_eof);
                }
                STATS.last_locked.inc();
                self.settle_uploads();
            }
            let wb = folio.start_writeback();
            {
                let mut g = self.sink.state.inner.lock();
                g.ws.set_issued_to(pos);
                if let Err(wb) = g.ws.push_folio(wb, data_end) {
                    // Unreachable: room was checked and only we push.
                    drop(g);
                    pr_err!("rnetfs: folio queue full\n");
                    RequestState::end_unwritten(wb);
                    return Err(EIO);
                }
            }
            self.room_hint = self.room_hint.saturating_sub(1);
            STATS.folios.inc();
            if flush_cache {
                self.tilers[1].flush(&mut self.sink);
            }
            if !last {
                if let Some(s) = upload {
                    self.tilers[0].add(&mut self.sink, s.pos, s.len, to_eof);
                }
            }
            if let Some(s) = cache {
                self.tilers[1].add(&mut self.sink, s.pos, s.len, to_eof);
            }
            if flush_after {
                self.tilers[0].flush(&mut self.sink);
                self.tilers[1].flush(&mut self.sink);
            }
            self.unpublished = pos + size;
            return Ok(());
        }
    }

    /// Flushes both streams and lets the collector finish the request.
    fn end_issue(mut self, wq: &kernel::workqueue::Queue) {
        self.sink
            .state
            .inner
            .lock()
            .ws
            .set_issued_to(self.unpublished);
        self.tilers[0].flush(&mut self.sink);
        self.tilers[1].flush(&mut self.sink);
        self.sink.state.inner.lock().ws.all_queued();
        // The last completion may have raced ahead of `all_queued`.
        self.sink.state.wake_collector(wq);
        // Filesystems count on the server having every upload once
        // writepages returns: 9p's setattr flushes with filemap_fdatawrite()
        // alone and then truncates on the server, which an upload still on
        // its way would undo (a synchronous issue_write made that true in
        // the C engine). Uploads overlap while the issuer works; here they
        // are waited for, retries included.
        if self.async_used {
            self.wait_answered();
        }
    }
}

/// Waits with `folio` unlocked until `ready` holds of the request's state,
/// then relocks it; `None` if it was truncated meanwhile. The issuer's
/// position is published first, so that the collector is never held up.
fn wait_unlocked<'a>(
    folio: LockedFolio<'a>,
    mapping: &AddressSpace,
    state: &RequestState,
    issued_to: u64,
    ready: impl Fn(&Inner) -> bool,
) -> Option<LockedFolio<'a>> {
    folio.relock_later(mapping, || {
        let mut g = state.inner.lock();
        g.ws.set_issued_to(issued_to);
        while !ready(&g) {
            state.progress.wait(&mut g);
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
        let keep =
            (f.pos() as u64 >> kernel::page::PAGE_SHIFT).checked_rem(filter_stride) == Some(0);
        if !keep {
            STATS.filtered.inc();
        }
        keep
    })
}

/// `netfs_writepages()` of the engine.
pub(crate) fn writepages(
    reg: &Registration<Rnetfs>,
    mapping: &AddressSpace,
    wbc: &WritebackControl,
) -> Result {
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
    if let Some(Fault::Fail { errno, .. }) = fault::decide(&eng.debugfs.fault, SITE_REQUEST) {
        first.redirty(wbc);
        iter.cancel(Error::from_errno(-errno));
        drop(lock);
        return iter.finish();
    }
    let state = match RequestState::new(
        start as u64,
        mapping.nr_pages(),
        eng.max_inflight,
        eng.max_attempts,
        eng.debugfs.fault.clone(),
    ) {
        Ok(s) => s,
        Err(e) => {
            first.redirty(wbc);
            iter.cancel(e);
            drop(lock);
            return iter.finish();
        }
    };
    let req = match reg.create_request(mapping, start, state.clone()) {
        Ok(r) => r,
        Err(e) => {
            first.redirty(wbc);
            iter.cancel(e);
            drop(lock);
            return iter.finish();
        }
    };
    {
        let mut g = state.inner.lock();
        g.req = Some(req.clone());
        // Collection ends the writeback lock, like netfs: it also covers the
        // file size and cache state updates made at completion.
        g.wb_lock = Some(WriteRequest::adopt_wb_lock(&req, lock));
        if req.stream_avail(Stream::Cache) {
            g.ws.activate(1);
        }
    }
    STATS.live_requests.inc();
    STATS.requests.inc();
    trace::write(&req, WriteTrace::Writeback);
    let mut issuer = Issuer {
        sink: Sink {
            state,
            req,
            workers: eng.async_upload.then(|| eng.issue_wq.queue()),
            collector: eng.wq.queue(),
        },
        tilers: [Tiler::new(0), Tiler::new(1)],
        async_used: eng.async_upload,
        room_hint: 0,
        unpublished: start as u64,
    };
    let mut upload_active = false;
    let mut next = Some(first);
    while let Some(folio) = next.take() {
        if !upload_active && netfs::folio_private(&folio) != FolioPrivate::CopyToCache {
            issuer.sink.req.begin_writeback();
            if issuer.sink.req.stream_avail(Stream::Upload) {
                issuer.sink.state.inner.lock().ws.activate(0);
            }
            upload_active = true;
        }
        if let Err(e) = issuer.write_folio(mapping, folio) {
            iter.cancel(e);
            break;
        }
        next = next_folio(&mut iter, eng.filter_stride);
    }
    issuer.end_issue(eng.wq.queue());
    iter.finish()
}

const _: () = assert!(NF_MIN * 4096 >= 511976);

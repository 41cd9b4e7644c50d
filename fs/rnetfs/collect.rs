// SPDX-License-Identifier: GPL-2.0

//! The collector.
//!
//! Completions only record their outcome and queue the collector
//! ([`crate::complete`]). The collector, on the engine's workqueue, advances
//! each stream past what has completed, ends writeback on every folio all
//! streams are done with (not at the end of the request), reports failures
//! to the mapping so that fsync sees them, and runs the retryer
//! ([`crate::retry`]) for a stream that has subrequests to send again.
//!
//! A success that comes back inside its own send (9p answers within its
//! `issue_write`) wakes no collector: its sender collects once the send
//! returns ([`after_send`]), on the upload worker or the issuer, so a
//! folio's writeback ends there as soon as its answer is in. A failure
//! always wakes the collector, the only one to run the retryer.

use crate::engine::{state::CollectSink, stream::Stream};
use crate::request::{RequestState, Scratch};
use crate::retry::retry;
use crate::stats::STATS;
use kernel::{
    folio::WritebackFolio,
    netfs::{
        self,
        request::Subrequest,
        trace::{self, FolioTrace, RreqTrace},
    },
    prelude::*,
    sync::{aref::ARef, Arc},
    workqueue::{Queue, WorkItem},
};

impl WorkItem for RequestState {
    type Pointer = Arc<RequestState>;

    fn run(this: Arc<RequestState>) {
        collect(this);
    }
}

impl CollectSink<ARef<Subrequest>, WritebackFolio> for Scratch {
    fn release_sreq(&mut self, _stream: Stream, s: ARef<Subrequest>) {
        // Capacity covers both streams' queues; dropping here (under the
        // spinlock) would also be safe, only slower.
        let _ = self.sreqs.push_within_capacity(s);
    }

    fn end_folio(&mut self, f: WritebackFolio) {
        if let Err(e) = self.folios.push_within_capacity(f) {
            netfs::folio_written_back(e.0);
        }
    }

    fn stream_failed(&mut self, stream: Stream, error: i32) {
        self.failed.get_mut(stream).get_or_insert(error);
    }
}

/// Who collects.
#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    /// The collector: the work item, or a writer of its own buffer; it runs
    /// the retryer for what it finds to send again.
    Collector,
    /// A sender whose subrequest succeeded inside its send; it leaves
    /// anything to retry to the collector, which its failure woke.
    Sender,
}

/// Collects what has completed: one pass under the `scratch` lock, its work
/// done outside the state's spinlock. Returns what the pass found, or
/// `None` for a sender while the retryer is at work.
fn collect_once(state: &RequestState, by: By) -> Option<crate::engine::state::Collected> {
    let mut scratch = state.scratch.lock();
    let (res, req) = {
        let mut g = state.inner.lock();
        if by == By::Sender && g.retrying {
            return None;
        }
        let res = g.ws.collect(&mut *scratch);
        if by == By::Collector {
            g.retrying = Stream::ALL.iter().any(|s| *res.need_retry.get(*s));
        }
        for (s, e) in scratch.failed.iter() {
            if let Some(e) = e {
                g.failed.get_mut(s).get_or_insert(*e);
            }
        }
        (res, g.req.clone())
    };
    if let Some(req) = &req {
        trace::rreq(req, RreqTrace::Collect);
        // A failed upload is never silently dropped: fsync and close see it.
        // A write of the caller's buffer reports to the caller instead.
        if let Some(e) = scratch.failed.upload.take() {
            if !state.writes_buffer() {
                req.mapping().set_error(Error::from_errno(e));
                STATS.upload_lost.inc();
            }
        }
        scratch.failed.cache = None;
    }
    for f in scratch.folios.drain_all() {
        trace::folio(f.folio(), FolioTrace::Clear);
        netfs::folio_written_back(f);
        STATS.folios_cleaned.inc();
    }
    scratch.sreqs.clear();
    Some(res)
}

/// The collector work item. The retryer runs outside the `scratch` lock:
/// it waits and may send synchronous RPCs.
pub(crate) fn collect(state: Arc<RequestState>) {
    loop {
        let Some(res) = collect_once(&state, By::Collector) else {
            return;
        };
        if res.progress {
            state.room.notify_all();
        }
        let mut retried = false;
        for s in Stream::ALL {
            if *res.need_retry.get(s) {
                retry(&state, s);
                retried = true;
            }
        }
        if res.done {
            finish(&state);
            return;
        }
        if !retried && !res.progress {
            return;
        }
    }
}

/// The send of the subrequest of `stream` at `start` has returned. If it
/// succeeded meanwhile, where the collector would have been woken, collect
/// here: 9p answers inside its `issue_write`, so for an upload sent from a
/// worker its folios end on that worker as soon as the answer is in, with
/// no work item and no wake-up of another CPU per upload. What is to be
/// sent again is left to the collector its failure woke, and nothing is
/// collected while the retryer works.
pub(crate) fn after_send(state: &Arc<RequestState>, stream: Stream, start: u64) {
    if !state.inner.lock().ws.sent(stream, start) {
        return;
    }
    if collect_here(state) {
        STATS.collected_by_sender.inc();
    }
}

/// The issuer of a writeback has queued everything and waited for its
/// uploads: the request's last collection, which a completion may have
/// left to it, is done here rather than by a collector woken for it. If
/// anything is still out (the cache's writes, an async filesystem's
/// uploads), its completion wakes the collector as usual.
pub(crate) fn after_issue(state: &Arc<RequestState>, wq: &Queue) {
    if !state.sender_collects {
        state.wake_collector(wq);
        return;
    }
    if collect_here(state) {
        STATS.collected_by_issuer.inc();
    }
}

/// Collects as a sender: see [`after_send`]. Returns whether it collected
/// anything.
fn collect_here(state: &Arc<RequestState>) -> bool {
    let mut collected = false;
    while let Some(res) = collect_once(state, By::Sender) {
        collected |= res.progress;
        if res.progress {
            state.room.notify_all();
        }
        if res.done {
            finish(state);
            return true;
        }
        if !res.progress {
            break;
        }
    }
    collected
}

/// Everything is collected: release the writeback lock and the request.
fn finish(state: &Arc<RequestState>) {
    let transferred = crate::writethrough::transferred(state);
    let (req, lock, wt_end, cache_failed, upload_failed) = {
        let mut g = state.inner.lock();
        (
            g.req.take(),
            g.wb_lock.take(),
            g.wt_end.take(),
            g.failed.cache.is_some(),
            g.failed.upload,
        )
    };
    // The submission side holds a reference to the request too.
    drop(state.submit.lock().take());
    if let Some(req) = req {
        if cache_failed {
            req.invalidate_cache();
        }
        drop(lock);
        // netfs completes a write of the caller's buffer itself once the
        // engine returns it (`crate::direct`), which waits for this; a
        // writethrough's end does what netfs's collector does for it.
        if let Some(mut end) = wt_end {
            end.set_transferred(transferred);
            // An async writer learns of a lost upload too (netfs's
            // completes with the count).
            if let Some(e) = upload_failed {
                end.set_error(e);
            }
            drop(end);
        } else if !state.writes_buffer() {
            req.complete();
        }
        trace::rreq(&req, RreqTrace::WriteDone);
        STATS.live_requests.dec();
    }
    state.room.notify_all();
}

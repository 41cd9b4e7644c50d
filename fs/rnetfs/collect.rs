// SPDX-License-Identifier: GPL-2.0

//! The collector and the retryer.
//!
//! Completions only record their outcome and queue the collector. The
//! collector, on the engine's workqueue, advances each stream past what has
//! completed, ends writeback on every folio all streams are done with (not
//! at the end of the request), reports failures to the mapping so that
//! fsync sees them, and hands failed subrequests to the retryer, which
//! pauses the issuer, waits for the stream to quiesce and reissues the
//! unwritten rest under the filesystem's current limits.

use crate::dispatch::{self, Hold};
use crate::engine::{fault::Fault, state::CollectSink};
use crate::request::{RequestState, Scratch};
use crate::stats::STATS;
use kernel::{
    folio::WritebackFolio,
    netfs::{
        self,
        request::{Stream, Subrequest},
        trace::{self, FolioTrace, RreqTrace, SreqTrace},
    },
    page::PAGE_SIZE,
    prelude::*,
    sync::{aref::ARef, Arc},
    time::{delay::fsleep, Delta},
    workqueue::Queue,
};

/// A filesystem or cache gave a subrequest back with `result` (bytes or
/// -errno). Any context. Returns whether the collector must run.
pub(crate) fn terminated(state: &Arc<RequestState>, sreq: ARef<Subrequest>, result: isize) -> bool {
    sreq.record_termination(result);
    trace::sreq(&sreq, SreqTrace::Terminated);
    let stream = sreq.stream_id();
    // As netfs counts: every termination is "done", failures also "failed".
    match stream {
        Stream::Upload => STATS.upload_done.inc(),
        Stream::Cache => STATS.cache_done.inc(),
    }
    if result < 0 {
        trace::failure(&sreq, result as i32);
        match stream {
            Stream::Upload => STATS.upload_failed.inc(),
            Stream::Cache => STATS.cache_failed.inc(),
        }
    }
    let need_retry = sreq.test_need_retry();
    let wake = {
        let mut g = state.inner.lock();
        if let Some(c) = g.completions.get_mut(stream.index()) {
            *c += 1;
        }
        g.ws.terminated(stream.index(), &sreq, result as i64, need_retry)
    };
    // The filesystem's reference goes here; the stream keeps its own.
    drop(sreq);
    state.progress.notify_all();
    wake
}

impl CollectSink<ARef<Subrequest>, WritebackFolio> for Scratch {
    fn release_sreq(&mut self, _stream: usize, s: ARef<Subrequest>) {
        // Capacity covers both streams' queues; dropping here (under the
        // spinlock) would also be safe, only slower.
        let _ = self.sreqs.push_within_capacity(s);
    }

    fn end_folio(&mut self, f: WritebackFolio) {
        if let Err(e) = self.folios.push_within_capacity(f) {
            netfs::folio_written_back(e.0);
        }
    }

    fn stream_failed(&mut self, stream: usize, error: i32) {
        if let Some(slot) = self.failed.get_mut(stream) {
            slot.get_or_insert(error);
        }
    }
}

/// Hands `sreq` (`len` bytes) to the filesystem or the cache, from a worker
/// of `workers` if given, unless the fault injector decides otherwise: then
/// it fails as a filesystem would fail it, only its first half goes out so
/// that it comes back short, or it goes out late.
///
/// Returns true if the subrequest was given back here, not through netfs
/// (an injected failure, nothing left to send) and the collector must be
/// woken by the caller: nothing else will wake it for this completion.
#[must_use]
pub(crate) fn issue_or_inject(
    state: &Arc<RequestState>,
    sreq: ARef<Subrequest>,
    stream: usize,
    len: u64,
    workers: Option<&Queue>,
) -> bool {
    let (len, hold) = match crate::fault::decide(&state.fault, stream) {
        None => (len, Hold::None),
        Some(Fault::Short) if len > 1 => (len / 2, Hold::None),
        Some(Fault::Short) => (len, Hold::None),
        Some(Fault::Delay { ms }) => (len, Hold::Delay(ms)),
        Some(Fault::Reorder) => (len, Hold::Reorder),
        Some(Fault::Fail { errno, retry }) => {
            if retry {
                sreq.set_need_retry();
            }
            return terminated(state, sreq, -(errno as isize));
        }
    };
    let sreq = match workers {
        Some(q) => match dispatch::queue(q, state, sreq, stream, len, hold) {
            Ok(()) => return false,
            Err(sreq) => sreq,
        },
        None => sreq,
    };
    // Sent from here: a delay is served here too; waiting here for a later
    // completion could wait for ever, so a reordering is not.
    if let Hold::Delay(ms) = hold {
        fsleep(Delta::from_millis(i64::from(ms)));
    }
    match send(sreq.clone(), stream, len) {
        Some(result) => terminated(state, sreq, result),
        None => false,
    }
}

/// Sends `sreq` with `len` bytes, cut at the file's current size; returns
/// the result to give it back with if it was not sent.
///
/// The file may have been truncated since the subrequest was planned: 9p
/// truncates on the server before the page cache, which waits for the
/// folios under writeback. Bytes past the new end must not go out, or the
/// server's file grows back with stale data. An upload cut short comes back
/// short and the retryer asks again for the rest, which is then wholly past
/// the end: nothing to write, it is done.
pub(crate) fn send(sreq: ARef<Subrequest>, stream: usize, len: u64) -> Option<isize> {
    let mut len = len;
    if stream == 0 {
        let eof = sreq.request().mapping().i_size().max(0) as u64;
        let start = sreq.start();
        if start >= eof {
            STATS.past_eof.inc();
            sreq.set_len(len);
            return Some(len as isize);
        }
        if start + len > eof {
            STATS.past_eof.inc();
            len = eof - start;
        }
    } else {
        // At the end of the file the cache may round its last block up over
        // the folio's zeroed tail, as netfs's issuer lets it; else it leaves
        // the partial block out, and a retry would not write it either.
        let end = sreq.start() + len;
        let tail = end % PAGE_SIZE as u64;
        let room = if tail != 0 && end == sreq.request().i_size() {
            PAGE_SIZE as u64 - tail
        } else {
            0
        };
        sreq.set_extendable_to(room);
    }
    if sreq.issue(len).is_err() {
        trace::sreq(&sreq, SreqTrace::PrepFailed);
        return Some(EIO.to_errno() as isize);
    }
    None
}

/// The collector work item.
pub(crate) fn collect(state: Arc<RequestState>) {
    let mut scratch = state.scratch.lock();
    loop {
        let res = {
            let mut g = state.inner.lock();
            let res = g.ws.collect(&mut *scratch);
            for (i, f) in scratch.failed.iter().enumerate() {
                if let (Some(e), Some(slot)) = (f, g.failed.get_mut(i)) {
                    slot.get_or_insert(*e);
                }
            }
            res
        };
        let req = state.inner.lock().req.clone();
        if let Some(req) = &req {
            trace::rreq(req, RreqTrace::Collect);
            // A failed upload is never silently dropped: fsync and close see it.
            if let Some(e) = scratch.failed[0].take() {
                req.mapping().set_error(Error::from_errno(e));
                STATS.upload_lost.inc();
            }
            scratch.failed[1] = None;
        }
        for f in scratch.folios.drain_all() {
            trace::folio(f.folio(), FolioTrace::Clear);
            netfs::folio_written_back(f);
            STATS.folios_cleaned.inc();
        }
        scratch.sreqs.clear();
        state.progress.notify_all();

        let mut retried = false;
        for s in 0..2 {
            if res.need_retry[s] {
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

/// Reissues what failed on stream `s`: pause the issuer, wait for the
/// stream's in-flight subrequests, then send each unwritten rest again,
/// split to the filesystem's current limits.
fn retry(state: &Arc<RequestState>, s: usize) {
    let Some(req) = state.inner.lock().req.clone() else {
        return;
    };
    trace::rreq(&req, RreqTrace::SetPause);
    {
        let mut g = state.inner.lock();
        g.paused = true;
        while g.ws.in_flight(s) > 0 {
            state.progress.wait(&mut g);
        }
    }
    STATS.retry_rounds.inc();
    loop {
        let piece = state.inner.lock().ws.retry_next(s);
        let Some(piece) = piece else { break };
        let sreq = match Subrequest::alloc(&req, Stream::from_index(s), piece.start) {
            Ok(x) => x,
            Err(_) => break,
        };
        let lim = sreq.prepare();
        trace::sreq(&sreq, SreqTrace::Retry);
        let len = (piece.end - piece.start).min(lim.max_len);
        let restarted = state
            .inner
            .lock()
            .ws
            .restart_sreq(s, piece.index, sreq.clone(), len);
        if restarted.is_err() {
            continue;
        }
        STATS.retried.inc();
        // The collector is running: it looks again after the retry. Sent
        // from here, in order, while the issuer is paused.
        let _ = issue_or_inject(state, sreq, s, len, None);
    }
    state.inner.lock().paused = false;
    trace::rreq(&req, RreqTrace::Unpause);
    state.progress.notify_all();
}

/// Everything is collected: release the writeback lock and the request.
fn finish(state: &Arc<RequestState>) {
    let (req, lock, cache_failed) = {
        let mut g = state.inner.lock();
        (g.req.take(), g.wb_lock.take(), g.failed[1].is_some())
    };
    if let Some(req) = req {
        if cache_failed {
            req.invalidate_cache();
        }
        drop(lock);
        req.complete();
        trace::rreq(&req, RreqTrace::WriteDone);
        STATS.live_requests.dec();
    }
}

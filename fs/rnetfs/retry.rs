// SPDX-License-Identifier: GPL-2.0

//! The retryer.
//!
//! Run by the collector for a stream that has subrequests to send again: it
//! pauses the issuer, waits until the stream's issued subrequests are all
//! answered, lets the filesystem renegotiate (`retry_request`), then, under
//! the request's submission side, prepares each unwritten rest again and
//! sends the first piece the filesystem's current limits allow. A rest
//! longer than that comes back short and is asked for again by the next
//! round, so a subrequest is split to the new limits. Every path out of a
//! round is bounded: a piece that cannot be sent fails with an error, which
//! is reported like any other.

use crate::complete::netfs_stream;
use crate::engine::{spans::StreamsAvail, stream::Stream};
use crate::request::RequestState;
use crate::stats::STATS;
use crate::submit::{submit, warn_once};
use kernel::{
    netfs::{
        request::{NewSubrequest, Stream as NetfsStream},
        trace::{self, RreqTrace, SreqTrace},
    },
    prelude::*,
    sync::Arc,
};

/// Reissues what failed on stream `s`.
pub(crate) fn retry(state: &Arc<RequestState>, s: Stream) {
    let Some(req) = state.inner.lock().req.clone() else {
        return;
    };
    trace::rreq(&req, RreqTrace::SetPause);
    {
        let mut g = state.inner.lock();
        g.paused = true;
        while g.ws.in_flight(s) > 0 {
            state.answered.wait(&mut g);
        }
    }
    STATS.retry_rounds.inc();
    {
        let mut guard = state.submit.lock();
        match (*guard).as_mut() {
            None => fail_all(state, s, EIO.to_errno()),
            Some(sub) => {
                // The first piece to send again: its subrequest's error is
                // what the filesystem looks at.
                let first = {
                    let mut g = state.inner.lock();
                    g.ws.retry_next(s)
                        .and_then(|p| g.ws.handle(s, p.index).cloned())
                };
                let asked = match &first {
                    Some(f) => sub.retry_request(netfs_stream(s), f),
                    None => Ok(false),
                };
                drop(first);
                if asked.is_ok() {
                    // The filesystem may have changed what is available.
                    let avail = StreamsAvail {
                        upload: sub.stream_avail(NetfsStream::Upload),
                        cache: sub.stream_avail(NetfsStream::Cache),
                    };
                    state.inner.lock().avail = avail;
                }
                match asked {
                    Ok(true) => STATS.retry_requests.inc(),
                    Ok(false) => {}
                    Err(e) => {
                        STATS.retry_requests.inc();
                        STATS.retry_refused.inc();
                        fail_all(state, s, e);
                    }
                }
                loop {
                    let piece = state.inner.lock().ws.retry_next(s);
                    let Some(piece) = piece else { break };
                    // From netfs's mempool: it waits rather than fail.
                    let Ok(new) = NewSubrequest::alloc(&req, netfs_stream(s), piece.start) else {
                        // Writeback's come from netfs's reserve; a write of
                        // the caller's buffer may fail, and is told.
                        if !state.writes_buffer() {
                            warn_once("retry: subrequest allocation failed");
                        }
                        state
                            .inner
                            .lock()
                            .ws
                            .fail_retry(s, piece.index, ENOMEM.to_errno());
                        continue;
                    };
                    let handle = new.handle();
                    let Ok(sreq) = sub.prepare(new) else {
                        warn_once("retry: subrequest of another request");
                        state
                            .inner
                            .lock()
                            .ws
                            .fail_retry(s, piece.index, EIO.to_errno());
                        continue;
                    };
                    trace::sreq(sreq.subrequest(), SreqTrace::Retry);
                    let lim = sreq.limits();
                    let mut len = (piece.end - piece.start).min(lim.max_len);
                    if lim.max_segs != 0 {
                        // A caller's buffer is cut to the segments too, as
                        // the issuer cuts it (folios are whole segments).
                        len = sub.buffer_fit(piece.start, len, lim.max_segs);
                    }
                    let restarted = state
                        .inner
                        .lock()
                        .ws
                        .restart_sreq(s, piece.index, handle, len);
                    match restarted {
                        // The old handle goes outside the spinlock.
                        Ok(old) => drop(old),
                        Err(h) => {
                            // retry_next just handed out this entry, and only
                            // the collector, which is us, changes it.
                            drop(h);
                            warn_once("retry: entry refused its restart");
                            state
                                .inner
                                .lock()
                                .ws
                                .fail_retry(s, piece.index, EIO.to_errno());
                            sreq.give_back(0, EIO.to_errno() as isize);
                            continue;
                        }
                    }
                    STATS.retried.inc();
                    // Sent from here, in order, while the issuer is paused.
                    submit(state, sreq, s, len, None, Some(sub), None);
                }
            }
        }
    }
    state.inner.lock().paused = false;
    trace::rreq(&req, RreqTrace::Unpause);
    // Unpaused, and pieces that could not be sent have failed.
    state.room.notify_all();
    state.answered.notify_all();
}

/// Fails every subrequest of `s` waiting to be sent again with `errno`.
fn fail_all(state: &RequestState, s: Stream, errno: i32) {
    let mut g = state.inner.lock();
    while let Some(piece) = g.ws.retry_next(s) {
        g.ws.fail_retry(s, piece.index, errno);
    }
}

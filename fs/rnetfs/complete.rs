// SPDX-License-Identifier: GPL-2.0

//! Termination: a filesystem or cache gives a subrequest back.
//!
//! Any context, interrupts included: the outcome is recorded in the
//! request's state and the collector is queued; nothing else is done here.

use crate::engine::stream::Stream;
use crate::request::RequestState;
use crate::stats::STATS;
use kernel::{
    netfs::{request::TerminatedSubrequest, trace},
    prelude::*,
    sync::Arc,
};

/// The engine's stream of a subrequest.
pub(crate) fn stream_of(s: kernel::netfs::request::Stream) -> Stream {
    match s {
        kernel::netfs::request::Stream::Upload => Stream::Upload,
        kernel::netfs::request::Stream::Cache => Stream::Cache,
    }
}

/// netfs's stream of an engine stream.
pub(crate) fn netfs_stream(s: Stream) -> kernel::netfs::request::Stream {
    match s {
        Stream::Upload => kernel::netfs::request::Stream::Upload,
        Stream::Cache => kernel::netfs::request::Stream::Cache,
    }
}

/// `sreq` came back with `result` (bytes or -errno). Returns whether the
/// collector must run.
pub(crate) fn terminated(
    state: &Arc<RequestState>,
    sreq: TerminatedSubrequest,
    result: isize,
) -> bool {
    let (sreq, outcome) = sreq.record(result);
    let stream = stream_of(sreq.stream_id());
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
    // An allocation that failed in the filesystem's send path (9p's RPC
    // buffers, under memory pressure or failslab) says nothing about the
    // data: it is sent again, from the retryer, within the retry bound.
    // netfs fails the subrequest and the bytes are lost (reported).
    let need_retry = outcome.need_retry || result == ENOMEM.to_errno() as isize;
    if need_retry && !outcome.need_retry {
        STATS.enomem_retried.inc();
    }
    let now = (stream == Stream::Upload).then(|| state.now_ns());
    let wake = {
        let mut g = state.inner.lock();
        *g.completions.get_mut(stream) += 1;
        g.ws.terminated_at(stream, &sreq, result as i64, need_retry, now)
    };
    // The filesystem's reference goes here; the stream keeps its own.
    drop(sreq);
    state.answered.notify_all();
    wake
}

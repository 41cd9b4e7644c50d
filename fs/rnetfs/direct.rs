// SPDX-License-Identifier: GPL-2.0

//! Unbuffered and direct writes: the caller's buffer, written at its file
//! positions.
//!
//! netfs hands the engine the request of a write that bypasses the page
//! cache (9p's `cache=none`, `O_SYNC` opens on 9p, cifs `cache=none`,
//! `O_DIRECT` everywhere) once it has done what the VFS sees, and does the
//! rest (`i_size`, invalidation, `ki_pos`, `ki_complete`) once the engine
//! returns. In between this is writeback's machinery with a buffer instead
//! of folios: the upload tiler cuts `[start, start + len)` to the
//! filesystem's limits, [`crate::submit`] sends the pieces from the issue
//! workers under the upload window, the collector retires them in file
//! order and runs the retryer, bounded as for writeback. The collector runs
//! on the writer's task, which waits for the write anyway (netfs's loop
//! collects there too): completions only record their outcome and wake it,
//! so no work item runs per piece.
//!
//! What the caller is told is the contiguous prefix written before the
//! first byte that was not. netfs's C loop sends one subrequest at a time
//! so that a failure cannot leave data beyond a gap. Here subrequests that
//! end inside the file's size as it was when the write began go out
//! together, within the window: a failure among them leaves, past the
//! prefix reported, bytes overwritten inside the file, which a failed
//! write may do, but never a file extended over a hole. A subrequest that
//! extends the file goes out only once all before it are written, and
//! nothing goes out after a failure. A synchronous write stops between
//! subrequests on a signal, as netfs's does.

use crate::collect::collect;
use crate::engine::{
    spans::StreamsAvail, state::Before, stream::Stream, tile::Limits, tile::StreamSink, tile::Tiler,
};
use crate::request::{Inner, RequestState, NS};
use crate::stats::STATS;
use crate::submit::{warn_once, Building, Sink, Workers};
use crate::Rnetfs;
use kernel::{
    netfs::{
        engine::{Registration, UnbufferedOutcome, UnbufferedWrite},
        request::WriteKind,
    },
    prelude::*,
    sync::Arc,
};

/// Runs the collector on the writer's task until `done` holds, waiting for
/// completions in between.
fn collect_until(state: &Arc<RequestState>, mut done: impl FnMut(&Inner) -> bool) {
    let mut idle = 0u32;
    loop {
        collect(state.clone());
        let mut g = state.inner.lock();
        if done(&g) {
            return;
        }
        let n = g.ws.in_flight(Stream::Upload);
        if n == 0 {
            // Nothing at the filesystem: the pass above had something to do
            // (a retry sent and already answered); another pass sees it.
            idle += 1;
            if idle > 1000 {
                // Never seen: rather than wait for ever, what is left to
                // send fails, so that the next passes retire it and the
                // write ends with what was written before it.
                while let Some(piece) = g.ws.retry_next(Stream::Upload) {
                    g.ws.fail_retry(Stream::Upload, piece.index, EIO.to_errno());
                }
                drop(g);
                warn_once("direct: a write waited with nothing in flight");
                idle = 0;
            }
            continue;
        }
        idle = 0;
        while g.ws.in_flight(Stream::Upload) == n {
            state.answered.wait(&mut g);
        }
    }
}

/// Whether a subrequest of the write failed for good: nothing more goes out.
fn lost(g: &Inner) -> bool {
    g.failed.upload.is_some() || g.ws.before(Stream::Upload, u64::MAX) == Before::Lost
}

/// The tiler's sink for a write of the caller's buffer: the writeback sink
/// with the rules above.
struct BufferSink<'q> {
    sink: Sink<'q>,
    /// The file's size when the write began.
    eof: u64,
    /// Signals stop the write (a synchronous caller).
    interruptible: bool,
    /// Where the write starts: a signal stops it only after its first
    /// subrequest, as netfs's loop checks after each one.
    first: u64,
    /// Where it ends.
    end: u64,
    /// A signal stopped it.
    interrupted: bool,
    /// The length limit of the last piece prepared.
    last_max: u64,
}

impl StreamSink<Building> for BufferSink<'_> {
    fn prepare(&mut self, stream: Stream, start: u64) -> Option<(Building, Limits)> {
        if self.interruptible && start > self.first && kernel::current!().signal_pending() {
            self.interrupted = true;
            return None;
        }
        // Room under the window, collected here; or a loss.
        collect_until(&self.sink.state, |g| {
            let room = g.ws.stream_room(stream);
            lost(g) || (room > 0 && NS - room < g.ws.window().limit())
        });
        // A piece that will extend the file waits before it is prepared, so
        // that it holds no credits (cifs) while it waits.
        let may_extend = start >= self.eof
            || start.saturating_add(self.last_max.min(self.end.saturating_sub(start))) > self.eof;
        if may_extend {
            collect_until(&self.sink.state, |g| {
                lost(g) || g.ws.before(stream, start) != Before::Pending
            });
        }
        if lost(&self.sink.state.inner.lock()) {
            return None;
        }
        let (b, mut limits) = self.sink.prepare(stream, start)?;
        self.last_max = limits.max_len;
        if limits.max_segs != 0 {
            // The buffer's segments are not folios: fit the length to them.
            let max = if limits.max_len == 0 {
                u64::MAX
            } else {
                limits.max_len
            };
            limits.max_len = self
                .sink
                .with_submission(|sub| sub.buffer_fit(start, max, limits.max_segs))
                .unwrap_or(limits.max_len);
            limits.max_segs = 0;
        }
        Some((b, limits))
    }

    fn issue(&mut self, stream: Stream, b: Building, start: u64, len: u64, nr_segs: u32) {
        let state = self.sink.state.clone();
        if start.saturating_add(len) > self.eof {
            // Extends the file: only once everything before it is written.
            collect_until(&state, |g| {
                lost(g) || g.ws.before(stream, start) != Before::Pending
            });
            if lost(&state.inner.lock()) {
                self.sink.abandon(stream, b);
                return;
            }
            STATS.unbuffered_serial.inc();
        } else if state.inner.lock().ws.in_flight(stream) > 0 {
            STATS.unbuffered_pipelined.inc();
        }
        // A worker lets the next piece go out while this one is on the
        // wire; with no next piece that may go out meanwhile (this is the
        // last, or it extends the file) the hop would only add latency.
        let end = start.saturating_add(len);
        let workers = self.sink.workers;
        if end > self.eof || end >= self.end {
            self.sink.workers = None;
        }
        self.sink.issue(stream, b, start, len, nr_segs);
        self.sink.workers = workers;
    }
}

/// The outcome of a write that could not be set up: nothing was sent.
fn nothing_written(e: Error) -> UnbufferedOutcome {
    STATS.unbuffered_failed.inc();
    UnbufferedOutcome {
        transferred: 0,
        error: e.to_errno(),
        ret: e.to_errno(),
    }
}

/// Writes `write`'s buffer; returns what netfs reports to the caller.
pub(crate) fn write(
    reg: &Registration<Rnetfs>,
    write: UnbufferedWrite<Rnetfs>,
) -> UnbufferedOutcome {
    let eng = reg.engine();
    match write.kind() {
        WriteKind::Direct => STATS.dio_writes.inc(),
        _ => STATS.unbuffered_writes.inc(),
    }
    let (start, len) = (write.start(), write.len());
    if write.is_empty() {
        return UnbufferedOutcome {
            transferred: 0,
            error: 0,
            ret: 0,
        };
    }
    let eof = write.old_size();
    let interruptible = !write.is_async();
    let state = match RequestState::new(write.kind(), start, 0, eng) {
        Ok(s) => s,
        Err(e) => return nothing_written(e),
    };
    let sub = match write.attach(state.clone()) {
        Ok(sub) => sub,
        Err(e) => return nothing_written(e),
    };
    {
        let mut g = state.inner.lock();
        g.req = Some(sub.request().clone());
        g.ws.activate(Stream::Upload);
        g.ws.set_issued_to(start);
        // netfs made the upload stream available; there is no cache stream.
        g.avail = StreamsAvail {
            upload: true,
            cache: false,
        };
    }
    *state.submit.lock() = Some(sub);
    STATS.requests.inc();
    STATS.live_requests.inc();

    let workers = eng.async_upload.then(|| Workers {
        queue: eng.issue_wq.queue(),
        slots: &eng.upload_slots,
    });
    let mut sink = BufferSink {
        sink: Sink {
            state: state.clone(),
            workers,
        },
        eof,
        interruptible,
        first: start,
        end: start + len,
        interrupted: false,
        last_max: 0,
    };
    let mut tiler = Tiler::new(Stream::Upload);
    let dropped = tiler.add(&mut sink, start, len, true);
    let issued_end = start + (len - dropped.min(len));
    {
        let mut g = state.inner.lock();
        g.ws.set_issued_to(issued_end);
        g.ws.all_queued();
    }
    // Collects what is left; the last collection finishes the request.
    collect_until(&state, |g| g.req.is_none());
    let (lost_from, error) = {
        let g = state.inner.lock();
        (g.ws.lost_from(Stream::Upload), g.failed.upload)
    };
    let written_to = lost_from.unwrap_or(issued_end).min(issued_end);
    let transferred = written_to.saturating_sub(start);
    STATS.unbuffered_bytes.add(transferred);
    let error = error.unwrap_or(0);
    if error != 0 {
        STATS.unbuffered_failed.inc();
    }
    let ret = if sink.interrupted {
        STATS.unbuffered_interrupted.inc();
        if transferred > 0 {
            EINTR.to_errno()
        } else {
            ERESTARTSYS.to_errno()
        }
    } else {
        error
    };
    UnbufferedOutcome {
        transferred,
        error,
        ret,
    }
}

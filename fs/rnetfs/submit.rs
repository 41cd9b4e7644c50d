// SPDX-License-Identifier: GPL-2.0

//! Submission: subrequests are allocated, prepared, registered and sent.
//!
//! The tilers ask for a subrequest when a span starts one ([`Sink`]'s
//! `prepare`) and hand it back once it is full or its data has ended
//! (`issue`). Uploads then go to the engine's issue workers: 9p's
//! `issue_write` sends its RPC and waits for the reply, so from the issuer
//! one upload would be on the wire at a time, with the issuer idle. On a
//! worker, up to the in-flight bound of uploads are on the wire while the
//! issuer goes on pumping folios; the workers take them in the order they
//! were queued, which is ascending file order. Filesystems that are
//! asynchronous already (afs queues its own work) only gain a hop. The
//! cache is asynchronous already: its subrequests are sent from here.
//!
//! The fault injector decides here, for every subrequest sent: it may fail
//! it as a filesystem would, send only its first half so that it comes
//! back short, or send it late.

use crate::complete::netfs_stream;
use crate::engine::{
    fault::Fault,
    stream::Stream,
    tile::{Limits, StreamSink},
};
use crate::request::RequestState;
use crate::stats::STATS;
use kernel::{
    alloc::KVec,
    netfs::request::{NewSubrequest, PreparedSubrequest, Submission, Subrequest, WriteRequest},
    new_spinlock,
    page::PAGE_SIZE,
    prelude::*,
    sync::{
        aref::ARef,
        atomic::{Atomic, Relaxed},
        Arc, CondVarTimeoutResult, SpinLock,
    },
    time::{delay::fsleep, msecs_to_jiffies, Delta},
    workqueue::{impl_has_work, new_work, Queue, Work, WorkItem},
};

/// A subrequest the tiler is building: owned, and its bookkeeping handle.
pub(crate) struct Building {
    sreq: PreparedSubrequest,
    handle: ARef<Subrequest>,
}

/// The tilers' view of the request: allocates, prepares and issues.
pub(crate) struct Sink<'q> {
    pub(crate) state: Arc<RequestState>,
    /// Where uploads are sent from, if not from the issuer.
    pub(crate) workers: Option<Workers<'q>>,
}

/// Warns once, with a backtrace, of a path that should not be reachable:
/// the caller then fails what it was doing, rather than wait for ever.
pub(crate) fn warn_once(what: &str) {
    static WARNED: Atomic<i32> = Atomic::new(0);
    pr_err!("rnetfs: {what}\n");
    if WARNED.xchg(1, Relaxed) == 0 {
        kernel::warn_on!(true);
    }
}

impl Sink<'_> {
    /// Runs `f` with the request's submission side.
    pub(crate) fn with_submission<R>(&self, f: impl FnOnce(&mut Submission) -> R) -> Option<R> {
        (*self.state.submit.lock()).as_mut().map(f)
    }

    /// Waits until `stream` may have another subrequest: below the in-flight
    /// bound, room in its queue, and no retry in progress. No folio is locked
    /// by the issuer here. Returns the request, or `Err` at once for a
    /// stream that does not take part in the request (it will never have
    /// room) and `Ok(None)` once the request is gone.
    fn throttle(&self, stream: Stream) -> Result<Option<ARef<WriteRequest>>, ()> {
        let st = &self.state;
        let mut g = st.inner.lock();
        loop {
            if !g.ws.is_active(stream) {
                return Err(());
            }
            let room = g.ws.stream_room(stream);
            let used = crate::request::NS - room;
            let bound = match stream {
                Stream::Upload => g.ws.window().limit(),
                Stream::Cache => st.max_inflight,
            };
            // A write of the caller's buffer is throttled by its writer,
            // which collects while it waits (`crate::direct`): nobody else
            // would wake it here.
            if (!g.paused && used < bound && room > 0) || (st.writes_buffer() && room > 0) {
                return Ok(g.req.clone());
            }
            STATS.throttled.inc();
            st.room.wait(&mut g);
        }
    }

    /// A subrequest of `stream` could not be set up: its bytes will not be
    /// written. The loss is reported, as netfs reports a failed stream: to
    /// the mapping for the server (fsync sees it), by invalidating the
    /// cache for the cache.
    fn setup_failed(&self, stream: Stream, what: &str, error: Error) {
        // A write of the caller's buffer allocates without netfs's reserve:
        // it may fail, and its writer is told, as netfs tells it.
        let error = if self.state.writes_buffer() {
            error
        } else {
            EIO
        };
        if error != ENOMEM {
            warn_once(what);
        }
        STATS.setup_failed.inc();
        let mut g = self.state.inner.lock();
        g.failed.get_mut(stream).get_or_insert(error.to_errno());
        if stream == Stream::Upload && !self.state.writes_buffer() {
            if let Some(req) = g.req.clone() {
                drop(g);
                req.mapping().set_error(EIO);
            }
        }
    }
}

impl Sink<'_> {
    /// Gives back unsent a subrequest the tiler has finished building but
    /// that must not go out (an earlier one of a write of the caller's
    /// buffer failed): it covers nothing, so nothing is collected for it.
    pub(crate) fn abandon(&mut self, stream: Stream, b: Building) {
        self.state
            .inner
            .lock()
            .ws
            .set_sreq_len(stream, &b.handle, 0);
        drop(b.handle);
        b.sreq.give_back(0, 0);
    }
}

impl StreamSink<Building> for Sink<'_> {
    fn prepare(&mut self, stream: Stream, start: u64) -> Option<(Building, Limits)> {
        let Ok(req) = self.throttle(stream) else {
            self.setup_failed(stream, "a span planned on a stream not in the request", EIO);
            return None;
        };
        let req = req?;
        // From netfs's mempool: it waits rather than fail for writeback.
        let Ok(new) = NewSubrequest::alloc(&req, netfs_stream(stream), start) else {
            self.setup_failed(stream, "subrequest allocation failed", ENOMEM);
            return None;
        };
        let handle = new.handle();
        let sreq = match self.with_submission(|sub| sub.prepare(new)) {
            Some(Ok(p)) => p,
            _ => {
                self.setup_failed(stream, "subrequest of another request", EIO);
                return None;
            }
        };
        match stream {
            Stream::Upload => STATS.upload_prepared.inc(),
            Stream::Cache => STATS.cache_prepared.inc(),
        }
        let lim = sreq.limits();
        let registered = self
            .state
            .inner
            .lock()
            .ws
            .add_sreq(stream, handle.clone(), start);
        if let Err(h) = registered {
            drop(h);
            // Room was checked by `throttle` and only the issuer adds.
            sreq.give_back(0, EIO.to_errno() as isize);
            self.setup_failed(stream, "subrequest refused by the stream", EIO);
            return None;
        }
        Some((
            Building { sreq, handle },
            Limits {
                max_len: lim.max_len,
                max_segs: lim.max_segs,
            },
        ))
    }

    fn issue(&mut self, stream: Stream, b: Building, _start: u64, len: u64, _nr_segs: u32) {
        let now = (stream == Stream::Upload).then(|| self.state.now_ns());
        // A write of the caller's buffer is collected by its writer.
        let mark = self.state.sender_collects && !self.state.writes_buffer();
        let (window, marked) = {
            let mut g = self.state.inner.lock();
            g.ws.set_sreq_len_at(stream, &b.handle, len, now);
            (
                g.ws.window().limit(),
                mark && g.ws.sending(stream, &b.handle),
            )
        };
        let sending = marked.then(|| Sending {
            state: self.state.clone(),
            stream,
            start: b.sreq.subrequest().start(),
        });
        if stream == Stream::Upload {
            STATS.window_sum.add(window as u64);
        }
        drop(b.handle);
        match stream {
            Stream::Upload => STATS.upload_bytes.add(len),
            Stream::Cache => STATS.cache_bytes.add(len),
        }
        let workers = if stream == Stream::Upload {
            self.workers
        } else {
            None
        };
        submit(&self.state, b.sreq, stream, len, workers, None, sending);
    }
}

/// A subrequest whose sender has not yet returned from sending it; see
/// [`crate::engine::state::WriteState::sending`]. Dropped once the send
/// has returned, whatever became of it: a success met meanwhile is
/// collected then, by the sender ([`crate::collect::after_send`]).
pub(crate) struct Sending {
    state: Arc<RequestState>,
    stream: Stream,
    start: u64,
}

impl Drop for Sending {
    fn drop(&mut self) {
        crate::collect::after_send(&self.state, self.stream, self.start);
    }
}

/// How late a subrequest goes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hold {
    /// At once.
    None,
    /// After that many milliseconds.
    Delay(u32),
    /// Once a later subrequest of its stream has completed: its completion
    /// comes back out of order.
    Reorder,
}

/// Sends `sreq` (`len` bytes of `stream`), from a worker of `workers` if
/// given, unless the fault injector decides otherwise. `sub` is the
/// submission side if the caller holds it (the retryer); the cache's
/// subrequests need it, and take it here otherwise.
///
/// Every outcome goes back through netfs's termination path, so the
/// collector is woken as for any completion, or, for a success met while
/// `sending` is held, left to the sender once `sending` is dropped, after
/// the send.
pub(crate) fn submit(
    state: &Arc<RequestState>,
    sreq: PreparedSubrequest,
    stream: Stream,
    len: u64,
    workers: Option<Workers<'_>>,
    sub: Option<&mut Submission>,
    sending: Option<Sending>,
) {
    let (len, hold) = match state.fault.decide(stream) {
        None => (len, Hold::None),
        Some(Fault::Short) if len > 1 => (len / 2, Hold::None),
        Some(Fault::Short) => (len, Hold::None),
        Some(Fault::Delay { ms }) => (len, Hold::Delay(ms)),
        Some(Fault::Reorder) => (len, Hold::Reorder),
        Some(Fault::Fail { errno, retry }) => {
            if retry {
                sreq.set_need_retry();
            }
            sreq.give_back(len, -(errno as isize));
            drop(sending);
            return;
        }
    };
    if stream == Stream::Cache {
        if let Hold::Delay(ms) = hold {
            fsleep(Delta::from_millis(i64::from(ms)));
        }
        match sub {
            Some(sub) => send_to_cache(sub, sreq, len),
            None => match (*state.submit.lock()).as_mut() {
                Some(sub) => send_to_cache(sub, sreq, len),
                None => sreq.give_back(len, EIO.to_errno() as isize),
            },
        }
        // Collecting takes `submit` at the end: not held any more.
        drop(sending);
        return;
    }
    let (sreq, sending) = match workers {
        Some(w) => match queue(w, state, sreq, len, hold, sending) {
            Ok(()) => return,
            Err(back) => back,
        },
        None => (sreq, sending),
    };
    // Sent from here: a delay is served here too; waiting here for a later
    // completion could wait for ever, so a reordering is not.
    if let Hold::Delay(ms) = hold {
        fsleep(Delta::from_millis(i64::from(ms)));
    }
    send_upload(state, sreq, len);
    drop(sending);
}

/// Sends an upload of `len` bytes, cut at the file's current size unless
/// it writes the caller's buffer, which extends the file.
///
/// The file may have been truncated since the subrequest was planned: 9p
/// truncates on the server before the page cache, which waits for the
/// folios under writeback. Bytes past the new end must not go out, or the
/// server's file grows back with stale data. An upload cut short comes back
/// short and the retryer asks again for the rest, which is then wholly past
/// the end: nothing to write, it is done.
fn send_upload(state: &RequestState, sreq: PreparedSubrequest, len: u64) {
    if state.writes_buffer() {
        // An error has given the subrequest back already.
        let _ = sreq.issue(len);
        return;
    }
    let eof = sreq.subrequest().request().mapping().i_size().max(0) as u64;
    let start = sreq.subrequest().start();
    if start >= eof {
        STATS.past_eof.inc();
        sreq.give_back(len, len as isize);
        return;
    }
    let len = if start + len > eof {
        STATS.past_eof.inc();
        eof - start
    } else {
        len
    };
    // An error has given the subrequest back already.
    let _ = sreq.issue(len);
}

/// Sends a cache write of `len` bytes. At the end of the file the cache
/// may round its last block up over the folio's zeroed tail, as netfs's
/// issuer lets it; else it leaves the partial block out, and a retry would
/// not write it either.
fn send_to_cache(sub: &mut Submission, sreq: PreparedSubrequest, len: u64) {
    let end = sreq.subrequest().start() + len;
    let tail = end % PAGE_SIZE as u64;
    let room = if tail != 0 && end == sub.i_size() {
        PAGE_SIZE as u64 - tail
    } else {
        0
    };
    // An error has given the subrequest back already.
    let _ = sub.issue_to_cache(sreq, len, room);
}

/// Longest wait of [`Hold::Reorder`], for a subrequest no other follows.
const REORDER_MAX_MS: u32 = 1000;

/// Worker hand-offs of the engine: enough for every request's uploads in
/// flight at once on a few files. Past that an upload is sent from the
/// issuer, as with `async_upload=0`.
pub(crate) const UPLOAD_SLOTS: usize = 64;

/// An upload on its way to a worker.
struct Job {
    state: Arc<RequestState>,
    sreq: PreparedSubrequest,
    len: u64,
    hold: Hold,
    /// Upload completions when it was queued, for [`Hold::Reorder`].
    seen: u64,
    sending: Option<Sending>,
}

/// A reusable hand-off of an upload to the engine's issue workers, with its
/// work item embedded: the engine allocates them once, at load, so that
/// sending an upload allocates nothing.
///
/// # Invariants
///
/// `busy` is set from the moment a job is put in until the worker has sent
/// it; the work item is queued only while `busy` is set.
#[pin_data]
pub(crate) struct UploadSlot {
    busy: Atomic<i32>,
    #[pin]
    job: SpinLock<Option<Job>>,
    #[pin]
    work: Work<UploadSlot>,
}

impl_has_work! {
    impl HasWork<Self> for UploadSlot { self.work }
}

impl UploadSlot {
    /// Allocates the engine's slots.
    pub(crate) fn new_pool() -> Result<KVec<Arc<UploadSlot>>> {
        let mut v = KVec::with_capacity(UPLOAD_SLOTS, GFP_KERNEL)?;
        for _ in 0..UPLOAD_SLOTS {
            v.push(
                Arc::pin_init(
                    pin_init!(UploadSlot {
                        busy: Atomic::new(0),
                        job <- new_spinlock!(None, "UploadSlot::job"),
                        work <- new_work!("UploadSlot::work"),
                    }),
                    GFP_KERNEL,
                )?,
                GFP_KERNEL,
            )?;
        }
        Ok(v)
    }
}

impl WorkItem for UploadSlot {
    type Pointer = Arc<UploadSlot>;

    fn run(this: Arc<UploadSlot>) {
        let job = this.job.lock().take();
        if let Some(job) = job {
            match job.hold {
                Hold::None => {}
                Hold::Delay(ms) => fsleep(Delta::from_millis(i64::from(ms))),
                Hold::Reorder => wait_for_later(&job.state, job.seen),
            }
            send_upload(&job.state, job.sreq, job.len);
            // A synchronous filesystem answered inside the send: collected
            // here, on this worker, rather than by a collector woken on
            // another CPU. The request's state goes after it.
            drop(job.sending);
        }
        this.busy.store(0, Relaxed);
    }
}

/// The engine's issue workers and their hand-offs.
#[derive(Clone, Copy)]
pub(crate) struct Workers<'q> {
    pub(crate) queue: &'q Queue,
    pub(crate) slots: &'q [Arc<UploadSlot>],
}

/// Waits until an upload completion beyond the `seen` first ones, or
/// [`REORDER_MAX_MS`].
fn wait_for_later(state: &RequestState, seen: u64) {
    let mut left = msecs_to_jiffies(REORDER_MAX_MS);
    let mut g = state.inner.lock();
    while g.completions.upload <= seen {
        match state.answered.wait_interruptible_timeout(&mut g, left) {
            CondVarTimeoutResult::Woken { jiffies } | CondVarTimeoutResult::Signal { jiffies } => {
                left = jiffies
            }
            CondVarTimeoutResult::Timeout => return,
        }
        if left == 0 {
            return;
        }
    }
}

/// Sends `sreq` (`len` bytes) from a worker, after `hold`. Gives it back if
/// every hand-off is busy: the caller sends it itself.
fn queue(
    w: Workers<'_>,
    state: &Arc<RequestState>,
    sreq: PreparedSubrequest,
    len: u64,
    hold: Hold,
    sending: Option<Sending>,
) -> Result<(), (PreparedSubrequest, Option<Sending>)> {
    let Some(slot) = w
        .slots
        .iter()
        .find(|s| s.busy.load(Relaxed) == 0 && s.busy.cmpxchg(0, 1, Relaxed).is_ok())
    else {
        STATS.slots_busy.inc();
        return Err((sreq, sending));
    };
    // Only a reordering looks at it.
    let seen = if hold == Hold::Reorder {
        state.inner.lock().completions.upload
    } else {
        0
    };
    *slot.job.lock() = Some(Job {
        state: state.clone(),
        sreq,
        len,
        hold,
        seen,
        sending,
    });
    STATS.issued_async.inc();
    if hold != Hold::None {
        STATS.held.inc();
    }
    // INVARIANT: `busy` is set; the slot was idle, so not queued.
    let _ = w.queue.enqueue(slot.clone());
    Ok(())
}

// SPDX-License-Identifier: GPL-2.0

//! Sending subrequests from the engine's issue workers.
//!
//! 9p's `issue_write` sends its RPC and waits for the reply. Called from the
//! issuer, that puts one upload on the wire at a time and stops the issuer
//! from preparing the next one meanwhile. Handed to a worker instead, up to
//! the in-flight bound of uploads are on the wire while the issuer goes on
//! pumping folios; the workers take them in the order they were queued,
//! which is ascending file order. Filesystems that are asynchronous already
//! (afs queues its own work) only gain a hop.
//!
//! The same workers send late what the fault injector holds back.

use crate::collect;
use crate::request::RequestState;
use crate::stats::STATS;
use kernel::{
    netfs::request::Subrequest,
    prelude::*,
    sync::{aref::ARef, Arc, CondVarTimeoutResult},
    time::{delay::fsleep, msecs_to_jiffies, Delta},
    workqueue::{impl_has_work, new_work, Queue, Work, WorkItem},
};

/// How late a subrequest goes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hold {
    /// At once.
    None,
    /// After that many milliseconds.
    Delay(u32),
    /// Once a later subrequest of its stream has completed: its completion
    /// comes back out of order.
    Reorder,
}

/// Longest wait of [`Hold::Reorder`], for a subrequest no other follows.
const REORDER_MAX_MS: u32 = 1000;

/// One subrequest on its way to a worker.
#[pin_data]
pub(crate) struct IssueWork {
    state: Arc<RequestState>,
    sreq: ARef<Subrequest>,
    stream: usize,
    len: u64,
    hold: Hold,
    /// Completions on the stream when it was queued, for [`Hold::Reorder`].
    seen: u64,
    #[pin]
    work: Work<IssueWork>,
}

impl_has_work! {
    impl HasWork<Self> for IssueWork { self.work }
}

impl WorkItem for IssueWork {
    type Pointer = Arc<IssueWork>;

    fn run(this: Arc<IssueWork>) {
        match this.hold {
            Hold::None => {}
            Hold::Delay(ms) => fsleep(Delta::from_millis(i64::from(ms))),
            Hold::Reorder => wait_for_later(&this.state, this.stream, this.seen),
        }
        let (sreq, stream, len) = (this.sreq.clone(), this.stream, this.len);
        drop(this);
        if let Some(result) = collect::send(sreq.clone(), stream, len) {
            // Through netfs, so that the collector is woken as for any
            // completion: a worker has no engine to wake it with.
            Subrequest::terminate(sreq, result);
        }
    }
}

/// Waits until a completion on `stream` beyond the `seen` first ones, or
/// [`REORDER_MAX_MS`].
fn wait_for_later(state: &RequestState, stream: usize, seen: u64) {
    let mut left = msecs_to_jiffies(REORDER_MAX_MS);
    let mut g = state.inner.lock();
    while g.completions.get(stream).is_some_and(|c| *c <= seen) {
        match state.progress.wait_interruptible_timeout(&mut g, left) {
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

/// Sends `sreq` (`len` bytes) from a worker of `q`, after `hold`. Gives it
/// back if the work item cannot be allocated: the caller sends it itself.
pub(crate) fn queue(
    q: &Queue,
    state: &Arc<RequestState>,
    sreq: ARef<Subrequest>,
    stream: usize,
    len: u64,
    hold: Hold,
) -> Result<(), ARef<Subrequest>> {
    let seen = state
        .inner
        .lock()
        .completions
        .get(stream)
        .copied()
        .unwrap_or(0);
    let ours = sreq.clone();
    let work = match Arc::pin_init(
        pin_init!(IssueWork {
            state: state.clone(),
            sreq: ours,
            stream,
            len,
            hold,
            seen,
            work <- new_work!("IssueWork::work"),
        }),
        GFP_NOWAIT,
    ) {
        Ok(w) => w,
        Err(_) => return Err(sreq),
    };
    STATS.issued_async.inc();
    if hold != Hold::None {
        STATS.held.inc();
    }
    // A fresh work item cannot be queued already.
    let _ = q.enqueue(work);
    Ok(())
}

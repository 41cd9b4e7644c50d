// SPDX-License-Identifier: GPL-2.0

//! Counters comparable to the write lines of /proc/fs/netfs/stats, shown in
//! debugfs as /sys/kernel/debug/rnetfs/stats (see [`crate::debugfs`]).

use core::fmt;
use kernel::sync::atomic::{Atomic, Relaxed};

/// An event counter (or, with [`Counter::dec`], a gauge).
pub(crate) struct Counter(Atomic<i64>);

impl Counter {
    const fn new() -> Self {
        Self(Atomic::new(0))
    }

    /// Counts one event.
    pub(crate) fn inc(&self) {
        self.0.fetch_add(1, Relaxed);
    }

    /// Counts `n` events.
    pub(crate) fn add(&self, n: u64) {
        self.0
            .fetch_add(i64::try_from(n).unwrap_or(i64::MAX), Relaxed);
    }

    /// Undoes one [`Counter::inc`] of a gauge.
    pub(crate) fn dec(&self) {
        self.0.fetch_add(-1, Relaxed);
    }

    fn get(&self) -> i64 {
        self.0.load(Relaxed)
    }
}

macro_rules! stats {
    ($($name:ident: $doc:literal,)*) => {
        /// The engine's counters.
        pub(crate) struct Stats {
            $(#[doc = $doc] pub(crate) $name: Counter,)*
        }

        /// The counters; global because netfs calls the engine through
        /// static callbacks.
        pub(crate) static STATS: Stats = Stats { $($name: Counter::new(),)* };

        impl fmt::Debug for StatsView {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                $(writeln!(f, "{}: {}", stringify!($name), STATS.$name.get())?;)*
                Ok(())
            }
        }
    };
}

stats! {
    writepages: "Calls of writepages (WP).",
    wb_lock_skip: "Background writebacks skipped: the inode was being written back.",
    requests: "Requests created.",
    live_requests: "Requests not yet completely collected.",
    folios: "Folios put under writeback for writing.",
    folios_cleaned: "Folios whose writeback ended.",
    not_uptodate: "Dirty folios refused: not up to date and not a streaming write.",
    relocked: "Folios unlocked to wait for queue room, then relocked.",
    filtered: "Folios left dirty by the filter_stride test hook.",
    throttled: "Waits of the issuer for the in-flight bound.",
    window_sum: "Sum of the upload window at each upload sent (mean: over upload_prepared).",
    upload_prepared: "Upload subrequests prepared (UL).",
    upload_done: "Upload subrequests terminated (us).",
    upload_failed: "Upload subrequests that reported an error (uf).",
    upload_bytes: "Bytes issued to the server.",
    upload_lost: "Upload failures reported to the mapping.",
    cache_prepared: "Cache subrequests prepared (WR).",
    cache_done: "Cache subrequests terminated (ws).",
    cache_failed: "Cache subrequests that reported an error (wf).",
    cache_bytes: "Bytes issued to the cache.",
    retry_rounds: "Retry rounds (wq).",
    retried: "Subrequests reissued (ws).",
    faults_injected: "Subrequests failed, shortened or held back by the fault injector.",
    issued_async: "Subrequests sent from an issue worker.",
    collected_by_sender: "Collections run by a sender whose subrequest was answered inside its send (9p), with no collector woken.",
    collected_by_issuer: "Last collections of a writeback request run by its issuer, with no collector woken.",
    upload_waits: "Waits for uploads still unanswered (end of writepages, last dirty folio).",
    last_drains: "Waits, with the last dirty folio unlocked, for earlier uploads.",
    last_locked: "Last dirty folios uploaded before their writeback started.",
    past_eof: "Uploads cut or dropped at send time: the file was truncated meanwhile.",
    held: "Subrequests the fault injector sent late (delayed or reordered).",
    setup_failed: "Subrequests that could not be set up (allocation, bookkeeping): their bytes were reported lost to the mapping.",
    grouped: "Folios of another write group, left dirty for their group's writeback.",
    slots_busy: "Uploads sent from the issuer: every worker hand-off was busy.",
    settle_cut: "Waits with the last dirty folio locked cut at their bound.",
    upload_unavailable: "Folios for the server written while the filesystem left the upload stream unavailable: reported to the mapping.",
    enomem_retried: "Subrequests that failed with ENOMEM in the filesystem, sent again.",
    retry_requests: "Calls of the filesystem's retry_request before a retry round (afs, cifs).",
    retry_refused: "Retries the filesystem's retry_request gave up: the stream failed.",
    unbuffered_writes: "Unbuffered write requests carried (9p cache=none, O_SYNC opens; cifs cache=none).",
    dio_writes: "Direct (O_DIRECT) write requests carried.",
    writethroughs: "Writethrough requests carried (O_SYNC/O_DSYNC on afs and cifs, RWF_DSYNC/RWF_SYNC).",
    writethrough_folios: "Folios netfs handed over to writethrough requests.",
    writethrough_declined: "Writethrough requests left to netfs's engine: no memory for their state.",
    unbuffered_bytes: "Bytes reported written by unbuffered and direct writes.",
    unbuffered_failed: "Unbuffered and direct writes that ended with an error.",
    unbuffered_interrupted: "Synchronous unbuffered and direct writes stopped by a signal between subrequests.",
    unbuffered_serial: "Unbuffered or direct subrequests that extend the file, sent once all before them were written.",
    unbuffered_pipelined: "Unbuffered or direct subrequests sent inside the old file size while others of the request were in flight.",
}

/// What the debugfs `stats` file prints: every counter, `name: value`.
pub(crate) struct StatsView;

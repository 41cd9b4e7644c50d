// SPDX-License-Identifier: GPL-2.0

//! Counters, in the spirit of /proc/fs/netfs/stats, shown in debugfs as
//! /sys/kernel/debug/rnetfs/stats.

use core::fmt;
use kernel::{
    debugfs::{Dir, File},
    prelude::*,
    sync::atomic::{Atomic, Relaxed},
};

/// A monotonic event counter.
pub(crate) struct Counter(Atomic<u64>);

impl Counter {
    const fn new() -> Self {
        Self(Atomic::new(0))
    }

    /// Counts one event.
    pub(crate) fn inc(&self) {
        self.add(1);
    }

    /// Counts `n` events.
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// The engine's counters.
pub(crate) struct Stats {
    /// Calls of writepages.
    pub(crate) writepages: Counter,
}

/// The counters; global because netfs calls the engine through statics.
pub(crate) static STATS: Stats = Stats {
    writepages: Counter::new(),
};

/// What the debugfs file prints.
struct StatsView;

impl fmt::Debug for StatsView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &STATS;
        writeln!(f, "writepages: {}", s.writepages.get())
    }
}

/// The debugfs directory and file, removed on drop.
pub(crate) struct StatsFile {
    _file: Pin<KBox<File<StatsView>>>,
    _dir: Dir,
}

impl StatsFile {
    /// Creates /sys/kernel/debug/rnetfs/stats.
    pub(crate) fn new() -> Result<Self> {
        let dir = Dir::new(c"rnetfs");
        let file = KBox::pin_init(dir.read_only_file(c"stats", StatsView), GFP_KERNEL)?;
        Ok(Self {
            _file: file,
            _dir: dir,
        })
    }
}

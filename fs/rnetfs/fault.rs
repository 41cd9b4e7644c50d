// SPDX-License-Identifier: GPL-2.0

//! The fault injector's kernel side, shared by the engine, its requests and
//! the debugfs file (see [`crate::debugfs`]).
//!
//! Requests share the injector, so "the n-th subrequest" counts across
//! requests, in issue order. While it is off, which is always outside
//! tests, a subrequest costs one relaxed load here: the mutex is taken only
//! while a fault is armed.

use crate::engine::fault::{Fault, Injector, Site};
use crate::stats::STATS;
use core::fmt;
use kernel::{
    new_mutex,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc, Mutex,
    },
};

/// The engine's injector.
#[pin_data]
pub(crate) struct FaultInjector {
    /// Whether the injector is on: a fault may be decided. Written under
    /// `inj`'s lock, read without it.
    armed: Atomic<i32>,
    #[pin]
    inj: Mutex<Injector>,
}

/// The injector shared by the engine, its requests and the debugfs file.
pub(crate) type SharedInjector = Arc<FaultInjector>;

/// Shares `inj`.
pub(crate) fn new_shared(inj: Injector) -> Result<SharedInjector> {
    Arc::pin_init(
        pin_init!(FaultInjector {
            armed: Atomic::new(i32::from(inj.is_on())),
            inj <- new_mutex!(inj),
        }),
        GFP_KERNEL,
    )
}

impl FaultInjector {
    /// Decides the fate of the next subrequest of a stream, or of the next
    /// request (`site`).
    pub(crate) fn decide(&self, site: impl Into<Site>) -> Option<Fault> {
        if self.armed.load(Relaxed) == 0 {
            return None;
        }
        let f = self.inj.lock().decide(site);
        if f.is_some() {
            STATS.faults_injected.inc();
        }
        f
    }

    /// Replaces the injector.
    pub(crate) fn set(&self, inj: Injector) {
        let mut g = self.inj.lock();
        self.armed.store(i32::from(inj.is_on()), Relaxed);
        *g = inj;
    }

    /// Writes the spec and what it has done.
    pub(crate) fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inj.lock().describe(f)
    }
}

// SPDX-License-Identifier: GPL-2.0

//! The fault injector's kernel side: `/sys/kernel/debug/rnetfs/fault`.
//!
//! Writing a spec (see [`crate::engine::fault`]) replaces the injector;
//! reading prints the spec and what it has done. A bad spec is refused
//! with `EINVAL` and changes nothing. Requests share the injector, so "the
//! n-th subrequest" counts across requests, in issue order.

use crate::engine::fault::{Fault, Injector};
use crate::stats::STATS;
use core::fmt;
use kernel::{
    debugfs::{Dir, File, Reader},
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
    uaccess::UserSliceReader,
};

/// The injector shared by the engine, its requests and the debugfs file.
pub(crate) type SharedInjector = Arc<Mutex<Injector>>;

/// Shares `inj`.
pub(crate) fn new_shared(inj: Injector) -> Result<SharedInjector> {
    Arc::pin_init(new_mutex!(inj), GFP_KERNEL)
}

/// Decides the fate of the next subrequest of `stream`.
pub(crate) fn decide(inj: &SharedInjector, stream: usize) -> Option<Fault> {
    let f = inj.lock().decide(stream);
    if f.is_some() {
        STATS.faults_injected.inc();
    }
    f
}

/// What the debugfs file reads and writes.
pub(crate) struct FaultFile(SharedInjector);

impl fmt::Debug for FaultFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.lock().describe(f)
    }
}

impl Reader for FaultFile {
    fn read_from_slice(&self, reader: &mut UserSliceReader) -> Result {
        let mut buf = [0u8; 256];
        let n = reader.len();
        let dst = buf.get_mut(..n).ok_or(EINVAL)?;
        reader.read_slice(dst)?;
        let spec = core::str::from_utf8(dst).map_err(|_| EINVAL)?;
        let inj = Injector::parse(spec.trim()).map_err(|_| EINVAL)?;
        *self.0.lock() = inj;
        Ok(())
    }
}

/// Creates `fault` in `dir`.
pub(crate) fn create_file(dir: &Dir, inj: &SharedInjector) -> Result<Pin<KBox<File<FaultFile>>>> {
    KBox::pin_init(
        dir.read_write_file(c"fault", FaultFile(inj.clone())),
        GFP_KERNEL,
    )
}

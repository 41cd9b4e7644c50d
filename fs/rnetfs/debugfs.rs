// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/rnetfs/`: `stats`, the counters of [`crate::stats`],
//! and `fault`, the fault injector.
//!
//! Writing a spec to `fault` (see [`crate::engine::fault`]) replaces the
//! injector; reading it prints the spec and what it has done. A bad spec is
//! refused with `EINVAL` and changes nothing.

use crate::engine::fault::Injector;
use crate::fault::SharedInjector;
use crate::stats::StatsView;
use core::fmt;
use kernel::{
    debugfs::{Dir, File, Reader},
    prelude::*,
    uaccess::UserSliceReader,
};

/// What the `fault` file reads and writes.
struct FaultFile(SharedInjector);

impl fmt::Debug for FaultFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.describe(f)
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
        self.0.set(inj);
        Ok(())
    }
}

/// The debugfs directory and its files, removed on drop.
pub(crate) struct Debugfs {
    _stats: Pin<KBox<File<StatsView>>>,
    _fault: Pin<KBox<File<FaultFile>>>,
    _dir: Dir,
}

impl Debugfs {
    /// Creates `rnetfs/{stats,fault}`, `fault` controlling `inj`.
    pub(crate) fn new(inj: &SharedInjector) -> Result<Self> {
        let dir = Dir::new(c"rnetfs");
        let stats = KBox::pin_init(dir.read_only_file(c"stats", StatsView), GFP_KERNEL)?;
        let fault = KBox::pin_init(
            dir.read_write_file(c"fault", FaultFile(inj.clone())),
            GFP_KERNEL,
        )?;
        Ok(Self {
            _stats: stats,
            _fault: fault,
            _dir: dir,
        })
    }
}

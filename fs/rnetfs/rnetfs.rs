// SPDX-License-Identifier: GPL-2.0

//! rnetfs: netfs buffered writeback in Rust.
//!
//! Loading the module makes every netfs filesystem write back through it;
//! unloading hands writeback back to netfs's built-in engine.

use kernel::{
    netfs::engine::{Registration, WriteEngine},
    prelude::*,
    sync::aref::ARef,
    sync::Arc,
    writeback::{AddressSpace, WritebackControl},
    netfs::request::Subrequest,
};

mod stats;

module! {
    type: RnetfsModule,
    name: "rnetfs",
    authors: ["rnetfs developers"],
    description: "Rust netfs buffered writeback engine",
    license: "GPL",
}

/// The engine.
struct Rnetfs {
    stats: stats::StatsFile,
}

/// Per-request state (filled in by the engine).
struct RequestState;

impl WriteEngine for Rnetfs {
    const NAME: &'static CStr = c"rnetfs";
    type RequestData = Arc<RequestState>;

    fn writepages(reg: &Registration<Self>, mapping: &AddressSpace, wbc: &WritebackControl) -> Result {
        stats::STATS.writepages.inc();
        let _ = reg;
        kernel::netfs::builtin_writepages(mapping, wbc)
    }

    fn subreq_terminated(
        _reg: &Registration<Self>,
        _data: kernel::sync::ArcBorrow<'_, RequestState>,
        _sreq: ARef<Subrequest>,
        _result: isize,
    ) {
    }
}

#[pin_data]
struct RnetfsModule {
    #[pin]
    reg: Registration<Rnetfs>,
}

impl kernel::InPlaceModule for RnetfsModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            reg <- Registration::new(try_init!(Rnetfs {
                stats: stats::StatsFile::new()?,
            }? Error)),
        }? Error)
    }
}

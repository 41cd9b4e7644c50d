// SPDX-License-Identifier: GPL-2.0

//! The kernel-independent core of the rnetfs writeback engine.
//!
//! Nothing here knows about folios, subrequests or locks: the glue maps its
//! objects to handles and positions, so the same code runs in the kernel
//! and in the host test suite (`tools/testing/rnetfs/host`).

pub(crate) mod fault;
pub(crate) mod feed;
pub(crate) mod ring;
pub(crate) mod spans;
pub(crate) mod state;
pub(crate) mod stream;
pub(crate) mod tile;
pub(crate) mod window;

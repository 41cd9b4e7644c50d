// SPDX-License-Identifier: GPL-2.0

//! Host build of the rnetfs engine core, for its tests.
//!
//! The crate is `no_std` so that the engine cannot reach for `std` or
//! `alloc` unnoticed; only the tests link `std`.

#![no_std]

#[cfg(test)]
extern crate std;

// The lints check the kernel's rules for the engine: no panics, no
// unchecked arithmetic, no unsafe, documented items.
#[path = "../../../../../fs/rnetfs/engine/mod.rs"]
#[cfg_attr(not(test), allow(dead_code))]
#[deny(unsafe_code)]
#[warn(
    missing_docs,
    clippy::missing_docs_in_private_items,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented,
    clippy::float_arithmetic,
    clippy::as_conversions,
    unreachable_pub
)]
mod engine;

#[cfg(test)]
mod tests;

// SPDX-License-Identifier: GPL-2.0

//! Tests of the engine core: unit tests per module, then property tests
//! of the whole engine driven by a simulated glue ([`sim`]).

mod fault;
mod feed;
mod prop;
mod ring;
mod rng;
mod sim;
mod spans;
mod state;
mod tile;
mod window;

// SPDX-License-Identifier: GPL-2.0
// expect: E0505
//! A folio borrowed from its lock must not outlive the lock: once unlocked,
//! truncation may free it.

use kernel::{folio::LockedFolio, prelude::*};

pub fn misuse(locked: LockedFolio<'_>) -> i64 {
    let folio = locked.folio();
    drop(locked);
    folio.pos()
}

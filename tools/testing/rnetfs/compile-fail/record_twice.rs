// SPDX-License-Identifier: GPL-2.0
// expect: E0382
//! A subrequest's outcome is recorded once, when it is given back.

use kernel::netfs::request::TerminatedSubrequest;

pub fn misuse(t: TerminatedSubrequest) {
    let _ = t.record(4096);
    let _ = t.record(4096);
}

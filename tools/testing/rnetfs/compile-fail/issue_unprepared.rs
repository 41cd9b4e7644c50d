// SPDX-License-Identifier: GPL-2.0
// expect: E0599
//! A subrequest is prepared by its stream's prepare_write before it is issued.

use kernel::netfs::request::NewSubrequest;

pub fn misuse(sreq: NewSubrequest) {
    let _ = sreq.issue(4096);
}

// SPDX-License-Identifier: GPL-2.0
// expect: E0382
//! A prepared subrequest is issued at most once.

use kernel::netfs::request::PreparedSubrequest;

pub fn misuse(sreq: PreparedSubrequest) {
    let _ = sreq.issue(4096);
    let _ = sreq.issue(4096);
}

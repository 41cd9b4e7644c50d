// SPDX-License-Identifier: GPL-2.0
// expect: E0596
//! prepare_write runs only under the request's submission side, held
//! exclusively: a shared one cannot prepare (the issuer and the retryer
//! cannot race on the stream's limits).

use kernel::netfs::request::{NewSubrequest, Submission};

pub fn misuse(sub: &Submission, sreq: NewSubrequest) {
    let _ = sub.prepare(sreq);
}

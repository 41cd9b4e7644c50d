// SPDX-License-Identifier: GPL-2.0

//! Unit tests of `engine::spans`.

use crate::engine::spans::{plan_folio, FolioInfo, FolioPlan, Span, StreamsAvail};

const BOTH: StreamsAvail = StreamsAvail {
    upload: true,
    cache: true,
};

fn folio(pos: u64, size: u64, i_size: u64) -> FolioInfo {
    FolioInfo::whole(pos, size, i_size)
}

fn sp(pos: u64, len: u64) -> Option<Span> {
    Some(Span { pos, len })
}

#[test]
fn plan_beyond_eof() {
    assert_eq!(
        plan_folio(&folio(8192, 4096, 8192), BOTH),
        FolioPlan::BeyondEof
    );
    assert_eq!(
        plan_folio(&folio(8192, 4096, 0), BOTH),
        FolioPlan::BeyondEof
    );
    // The dirty part of a streaming folio starts beyond EOF.
    let mut f = folio(0, 4096, 100);
    f.dirty = Some((100, 50));
    assert_eq!(plan_folio(&f, BOTH), FolioPlan::BeyondEof);
}

#[test]
fn plan_whole_folio_inside_eof() {
    let p = plan_folio(&folio(4096, 8192, 1 << 20), BOTH);
    assert_eq!(
        p,
        FolioPlan::Write {
            upload: sp(4096, 8192),
            cache: sp(4096, 8192),
            flush_upload: false,
            flush_cache: false,
            zero_from: None,
            data_end: 12288,
            flush_after: false,
            to_eof: false,
        }
    );
}

#[test]
fn plan_folio_ending_at_eof_is_to_eof_without_zeroing() {
    let p = plan_folio(&folio(4096, 4096, 8192), BOTH);
    let FolioPlan::Write {
        zero_from,
        to_eof,
        flush_after,
        data_end,
        ..
    } = p
    else {
        panic!("{p:?}");
    };
    assert_eq!(
        (zero_from, to_eof, flush_after, data_end),
        (None, true, false, 8192)
    );
}

#[test]
fn plan_eof_mid_folio_zeroes_the_tail() {
    let p = plan_folio(&folio(4096, 16384, 4096 + 5000), BOTH);
    assert_eq!(
        p,
        FolioPlan::Write {
            upload: sp(4096, 5000),
            cache: sp(4096, 5000),
            flush_upload: false,
            flush_cache: false,
            zero_from: Some(5000),
            data_end: 9096,
            flush_after: true,
            to_eof: true,
        }
    );
    // One byte short of the folio end still zeroes that byte.
    let p = plan_folio(&folio(0, 4096, 4095), BOTH);
    assert!(
        matches!(
            p,
            FolioPlan::Write {
                zero_from: Some(4095),
                ..
            }
        ),
        "{p:?}"
    );
}

#[test]
fn plan_streaming_write_is_upload_only() {
    let mut f = folio(4096, 4096, 1 << 20);
    f.dirty = Some((100, 200));
    assert_eq!(
        plan_folio(&f, BOTH),
        FolioPlan::Write {
            upload: sp(4196, 200),
            cache: None,
            flush_upload: true,
            flush_cache: true,
            zero_from: None,
            data_end: 4396,
            flush_after: true,
            to_eof: false,
        }
    );
    // Dirty from offset 0 to the end: nothing to flush in stream 0.
    f.dirty = Some((0, 4096));
    let p = plan_folio(&f, BOTH);
    assert!(
        matches!(
            p,
            FolioPlan::Write {
                flush_upload: false,
                flush_after: false,
                ..
            }
        ),
        "{p:?}"
    );
}

#[test]
fn plan_streaming_write_across_eof_is_clamped_not_zeroed() {
    let mut f = folio(0, 4096, 1000);
    f.dirty = Some((500, 3000));
    assert_eq!(
        plan_folio(&f, BOTH),
        FolioPlan::Write {
            upload: sp(500, 500),
            cache: None,
            flush_upload: true,
            flush_cache: true,
            zero_from: None,
            data_end: 1000,
            flush_after: true,
            to_eof: true,
        }
    );
}

#[test]
fn plan_copy_to_cache_skips_upload() {
    let mut f = folio(0, 4096, 1 << 20);
    f.copy_to_cache = true;
    let p = plan_folio(&f, BOTH);
    assert!(
        matches!(
            p,
            FolioPlan::Write {
                upload: None,
                cache: Some(_),
                flush_upload: true,
                ..
            }
        ),
        "{p:?}"
    );
    let no_cache = StreamsAvail {
        upload: true,
        cache: false,
    };
    let p = plan_folio(&f, no_cache);
    assert!(
        matches!(
            p,
            FolioPlan::Write {
                upload: None,
                cache: None,
                ..
            }
        ),
        "{p:?}"
    );
}

#[test]
fn plan_respects_missing_streams() {
    let f = folio(0, 4096, 1 << 20);
    let cache_only = StreamsAvail {
        upload: false,
        cache: true,
    };
    let p = plan_folio(&f, cache_only);
    assert!(
        matches!(
            p,
            FolioPlan::Write {
                upload: None,
                cache: Some(_),
                ..
            }
        ),
        "{p:?}"
    );
    let none = StreamsAvail {
        upload: false,
        cache: false,
    };
    let p = plan_folio(&f, none);
    assert!(
        matches!(
            p,
            FolioPlan::Write {
                upload: None,
                cache: None,
                ..
            }
        ),
        "{p:?}"
    );
}

#[test]
fn plan_survives_absurd_input() {
    // Dirty length overflowing the folio is clamped to it.
    let mut f = folio(0, 4096, 1 << 20);
    f.dirty = Some((10, u64::MAX));
    let p = plan_folio(&f, BOTH);
    assert!(
        matches!(p, FolioPlan::Write { upload, .. } if upload == sp(10, 4086)),
        "{p:?}"
    );
    // An empty dirty range sends nothing.
    f.dirty = Some((10, 0));
    let p = plan_folio(&f, BOTH);
    assert!(
        matches!(
            p,
            FolioPlan::Write {
                upload: None,
                cache: None,
                ..
            }
        ),
        "{p:?}"
    );
    // Offset beyond the folio.
    f.dirty = Some((5000, 10));
    let p = plan_folio(&f, BOTH);
    assert!(
        matches!(
            p,
            FolioPlan::Write {
                upload: None,
                cache: None,
                ..
            }
        ),
        "{p:?}"
    );
    // Positions at the top of the range.
    let f = folio(u64::MAX - 4095, 4096, u64::MAX);
    let p = plan_folio(&f, BOTH);
    let FolioPlan::Write {
        upload,
        data_end,
        zero_from,
        ..
    } = p
    else {
        panic!("{p:?}");
    };
    assert_eq!(
        (upload, data_end, zero_from),
        (sp(u64::MAX - 4095, 4095), u64::MAX, Some(4095))
    );
    let f = folio(u64::MAX, u64::MAX, u64::MAX);
    assert_eq!(plan_folio(&f, BOTH), FolioPlan::BeyondEof);
}

// SPDX-License-Identifier: GPL-2.0

//! Tests of `engine::feed`: the order in which the issuer acts on a folio,
//! and the hangs the simulator finds in a glue that activates the upload
//! stream the old way.

use std::{vec, vec::Vec};

use super::sim::{Case, FedAs, Opts, Sim, SimFolio, PAGE};
use crate::engine::{
    feed::{Fed, FeedFolio, Feeder, FolioKind, IssuerSide, Report, Wait},
    spans::StreamsAvail,
    state::{CollectSink, WriteState},
    stream::Stream,
    tile::{Limits, StreamSink},
};

/// What the feeder asked of the glue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ev {
    BeginUpload,
    Avail,
    Zero(u64, u64),
    NoteISize(u64),
    Report(Report),
    Prepare(Stream, u64),
    Issue(Stream, u64, u64),
    Inline(bool),
    WaitAnswered,
    KickCollector,
    StartWriteback(u64, u64),
    EndUnwritten,
}

/// A glue that records every call and answers at once.
struct Rec {
    ev: Vec<Ev>,
    avail: StreamsAvail,
    room: usize,
    unanswered: usize,
    next: u32,
}

impl Rec {
    fn new() -> Self {
        Rec {
            ev: Vec::new(),
            avail: StreamsAvail {
                upload: true,
                cache: true,
            },
            room: 8,
            unanswered: 0,
            next: 0,
        }
    }
}

impl StreamSink<u32> for Rec {
    fn prepare(&mut self, stream: Stream, start: u64) -> Option<(u32, Limits)> {
        self.ev.push(Ev::Prepare(stream, start));
        self.next += 1;
        Some((
            self.next,
            Limits {
                max_len: 0,
                max_segs: 0,
            },
        ))
    }

    fn issue(&mut self, stream: Stream, _sreq: u32, start: u64, len: u64, _nr_segs: u32) {
        self.ev.push(Ev::Issue(stream, start, len));
    }
}

impl IssuerSide<u32, u32> for Rec {
    fn begin_upload(&mut self) -> StreamsAvail {
        self.ev.push(Ev::BeginUpload);
        self.avail
    }
    fn avail(&mut self) -> StreamsAvail {
        self.ev.push(Ev::Avail);
        self.avail
    }
    fn unanswered_uploads(&mut self) -> usize {
        self.unanswered
    }
    fn folio_room(&mut self) -> usize {
        self.room
    }
    fn kick_collector(&mut self) {
        self.ev.push(Ev::KickCollector);
    }
    fn zero(&mut self, _folio: &mut u32, from: u64, to: u64) {
        self.ev.push(Ev::Zero(from, to));
    }
    fn note_i_size(&mut self, folio_end: u64, _i_size: u64) {
        self.ev.push(Ev::NoteISize(folio_end));
    }
    fn report(&mut self, _folio: &u32, what: Report) {
        self.ev.push(Ev::Report(what));
    }
    fn send_inline(&mut self, on: bool) {
        self.ev.push(Ev::Inline(on));
    }
    fn wait_answered(&mut self) {
        self.ev.push(Ev::WaitAnswered);
    }
    fn start_writeback(&mut self, _folio: u32, pos: u64, data_end: u64) -> Result<(), ()> {
        self.ev.push(Ev::StartWriteback(pos, data_end));
        Ok(())
    }
    fn end_unwritten(&mut self, _folio: u32) {
        self.ev.push(Ev::EndUnwritten);
    }
}

fn folio(pos: u64, kind: FolioKind, i_size: u64, last: bool) -> FeedFolio {
    FeedFolio {
        pos,
        size: PAGE,
        kind,
        uptodate: true,
        i_size,
        last,
        writethrough: false,
    }
}

#[test]
fn feed_plain_folio_order() {
    let mut side = Rec::new();
    let mut fe = Feeder::new();
    let f = folio(0, FolioKind::Plain, 1 << 20, false);
    assert_eq!(fe.write_folio(&mut side, 7, &f), Fed::Written);
    // Writeback starts and the folio is queued before any subrequest over
    // it is prepared; both are still being built.
    assert_eq!(
        side.ev,
        [
            Ev::BeginUpload,
            Ev::NoteISize(PAGE),
            Ev::Report(Report::StorePlus),
            Ev::StartWriteback(0, PAGE),
            Ev::Prepare(Stream::Upload, 0),
            Ev::Prepare(Stream::Cache, 0),
        ]
    );
    assert!(!fe.is_idle());
    fe.flush_all(&mut side);
    assert!(fe.is_idle());
}

#[test]
fn feed_last_folio_settles_uploads_before_its_writeback() {
    let mut side = Rec::new();
    let mut fe = Feeder::new();
    // Ends 100 bytes into the folio: the tail is zeroed and the data
    // reaches EOF.
    let f = folio(PAGE, FolioKind::Plain, PAGE + 100, true);
    assert_eq!(fe.write_folio(&mut side, 1, &f), Fed::Written);
    assert_eq!(
        side.ev,
        [
            Ev::BeginUpload,
            Ev::Zero(100, PAGE),
            Ev::NoteISize(2 * PAGE),
            Ev::Report(Report::StorePlus),
            // Its own upload, to EOF: issued at once (as configured), then
            // nothing left to send inline, then every answer awaited...
            Ev::Prepare(Stream::Upload, PAGE),
            Ev::Issue(Stream::Upload, PAGE, 100),
            Ev::Inline(true),
            Ev::Inline(false),
            Ev::WaitAnswered,
            // ...and only then its writeback.
            Ev::StartWriteback(PAGE, PAGE + 100),
            Ev::Prepare(Stream::Cache, PAGE),
            Ev::Issue(Stream::Cache, PAGE, 100),
        ]
    );
    assert!(fe.is_idle());
}

#[test]
fn feed_last_folio_sends_the_built_upload_inline() {
    let mut side = Rec::new();
    let mut fe = Feeder::new();
    let i_size = 1 << 20;
    assert_eq!(
        fe.write_folio(&mut side, 0, &folio(0, FolioKind::Plain, i_size, false)),
        Fed::Written
    );
    side.ev.clear();
    // Not at EOF: the upload construct covering both folios is still
    // open when the last folio is added, and goes out inline.
    let f = folio(PAGE, FolioKind::Plain, i_size, true);
    assert_eq!(fe.write_folio(&mut side, 1, &f), Fed::Written);
    assert_eq!(
        side.ev,
        [
            Ev::BeginUpload,
            Ev::NoteISize(2 * PAGE),
            Ev::Report(Report::StorePlus),
            Ev::Inline(true),
            Ev::Issue(Stream::Upload, 0, 2 * PAGE),
            Ev::Inline(false),
            Ev::WaitAnswered,
            Ev::StartWriteback(PAGE, 2 * PAGE),
        ]
    );
}

#[test]
fn feed_skips_and_refusals() {
    // A copy-to-cache folio with no cache: nothing to store; as the last
    // folio, uploads are settled before its writeback starts.
    let mut side = Rec::new();
    side.avail.cache = false;
    let mut fe = Feeder::new();
    let f = folio(0, FolioKind::CopyToCache, 1 << 20, true);
    assert_eq!(fe.write_folio(&mut side, 0, &f), Fed::Skipped);
    assert_eq!(
        side.ev,
        [
            Ev::Avail,
            Ev::Report(Report::CancelStore),
            Ev::Inline(true),
            Ev::Inline(false),
            Ev::WaitAnswered,
            Ev::EndUnwritten,
        ]
    );
    // A plain folio that is not up to date is refused, even beyond EOF,
    // after netfs saw data for the server.
    let mut side = Rec::new();
    let mut f = folio(8 * PAGE, FolioKind::Plain, PAGE, false);
    f.uptodate = false;
    assert_eq!(fe.write_folio(&mut side, 0, &f), Fed::NotUptodate);
    assert_eq!(
        side.ev,
        [
            Ev::BeginUpload,
            Ev::Report(Report::NotUptodate),
            Ev::EndUnwritten
        ]
    );
    // A streaming folio need not be up to date.
    let mut side = Rec::new();
    let mut f = folio(
        0,
        FolioKind::Streaming {
            offset: 10,
            len: 20,
        },
        PAGE,
        false,
    );
    f.uptodate = false;
    assert_eq!(fe.write_folio(&mut side, 0, &f), Fed::Written);
    assert!(side.ev.contains(&Ev::Prepare(Stream::Upload, 10)));
    assert!(!side.ev.iter().any(|e| matches!(e, Ev::Zero(..))));
}

#[test]
fn feed_grouped_folio_is_redirtied_after_flushing_both_streams() {
    let mut side = Rec::new();
    let mut fe = Feeder::new();
    let i_size = 1 << 20;
    assert_eq!(
        fe.write_folio(&mut side, 0, &folio(0, FolioKind::Plain, i_size, false)),
        Fed::Written
    );
    side.ev.clear();
    let f = folio(PAGE, FolioKind::Grouped, i_size, false);
    assert_eq!(fe.write_folio(&mut side, 5, &f), Fed::Redirty(5));
    assert_eq!(
        side.ev,
        [
            Ev::Issue(Stream::Upload, 0, PAGE),
            Ev::Issue(Stream::Cache, 0, PAGE)
        ]
    );
    // Beyond EOF it is ended as any other folio there.
    let mut side = Rec::new();
    let f = folio(PAGE, FolioKind::Grouped, PAGE, false);
    assert_eq!(fe.write_folio(&mut side, 5, &f), Fed::Skipped);
    assert_eq!(side.ev, [Ev::Report(Report::CancelStore), Ev::EndUnwritten]);
}

#[test]
fn feed_waits() {
    let mut side = Rec::new();
    let mut fe: Feeder<u32> = Feeder::new();
    assert_eq!(fe.wait_needed(&mut side, true), None);
    side.unanswered = 1;
    assert_eq!(fe.wait_needed(&mut side, false), None);
    assert_eq!(fe.wait_needed(&mut side, true), Some(Wait::Answered));
    side.unanswered = 0;
    // No folio slot: what is built is issued before waiting.
    assert_eq!(
        fe.write_folio(&mut side, 0, &folio(0, FolioKind::Plain, 1 << 20, false)),
        Fed::Written
    );
    side.room = 0;
    side.ev.clear();
    assert_eq!(fe.wait_needed(&mut side, false), Some(Wait::FolioRoom));
    assert_eq!(
        side.ev,
        [
            Ev::Issue(Stream::Upload, 0, PAGE),
            Ev::Issue(Stream::Cache, 0, PAGE),
            Ev::KickCollector,
        ]
    );
    assert!(fe.is_idle());
}

/// Two copy-to-cache folios and one slot in the folio queue: the second
/// waits (unlocked) for the first to be collected, and is plain dirty
/// when it is locked again.
fn ctc_then_plain() -> Case {
    let mut f0 = SimFolio::plain(0, PAGE);
    f0.copy_to_cache = true;
    let mut f1 = SimFolio::plain(PAGE, PAGE);
    f1.copy_to_cache = true;
    f1.turns_plain = true;
    Case::simple(
        11,
        vec![f0, f1],
        StreamsAvail {
            upload: true,
            cache: true,
        },
    )
}

#[test]
fn feed_copy_to_cache_turned_plain_is_uploaded() {
    let out = Sim::<4, 1>::new(&ctc_then_plain()).run();
    assert_eq!(out.stats.turned_plain, 1, "the case must wait, then turn");
    assert_eq!(out.fed, [Some(FedAs::Written), Some(FedAs::Written)]);
    // The simulated glue fails if an upload is prepared on an inactive
    // stream; and the bytes reached the server.
    assert!(!out.lost[0]);
    let up = &out.written[0];
    assert!(up[PAGE as usize..2 * PAGE as usize].iter().all(|w| *w));
    assert!(!up[..PAGE as usize].iter().any(|w| *w));
    assert!(out.written[1][..2 * PAGE as usize].iter().all(|w| *w));
}

#[test]
#[should_panic(expected = "the kernel's throttle waits for ever")]
fn feed_old_activation_hangs_on_copy_to_cache_turned_plain() {
    // The activation as writepages did it before the feeder did: once,
    // for the first folio not copy-to-cache before its wait. No folio is,
    // so the upload stream stays inactive and the upload planned for the
    // folio that turned plain waits for stream room that never comes.
    let opts = Opts {
        old_activation: true,
        ..Opts::default()
    };
    Sim::<4, 1>::with_opts(&ctc_then_plain(), opts).run();
}

#[test]
fn feed_refused_add_sreq_is_bounded() {
    // The same old glue, but its prepare gives up when add_sreq refuses:
    // the request completes, the upload bytes are reported lost, the
    // cache gets everything.
    let opts = Opts {
        old_activation: true,
        lenient_prepare: true,
        ..Opts::default()
    };
    let out = Sim::<4, 1>::with_opts(&ctc_then_plain(), opts).run();
    assert!(out.lost[0]);
    assert!(!out.written[0].iter().any(|w| *w));
    assert!(out.written[1][..2 * PAGE as usize].iter().all(|w| *w));
    assert_eq!(out.fed, [Some(FedAs::Written), Some(FedAs::Written)]);
}

#[test]
fn feed_retries_that_cannot_be_sent_fail_the_stream() {
    // Every upload fails with a transient error and no retry can get a
    // subrequest: each entry is failed with fail_retry, the stream failure
    // is reported once, and the request completes (the simulator checks
    // that every folio ends once and every handle is released).
    let folios: Vec<SimFolio> = (0..6).map(|i| SimFolio::plain(i * PAGE, PAGE)).collect();
    let mut case = Case::simple(
        12,
        folios,
        StreamsAvail {
            upload: true,
            cache: false,
        },
    );
    case.limits[0] = vec![Limits {
        max_len: PAGE,
        max_segs: 0,
    }];
    case.faults.transient = 1000;
    case.faults.retry_alloc_fail = 1000;
    let out = Sim::<2, 2>::new(&case).run();
    assert_eq!(out.failed_calls, [1, 0]);
    assert_eq!(out.stats.retried, 0);
    assert_eq!(out.stats.issued, 6);
    assert_eq!(out.fed, [Some(FedAs::Written); 6]);
}

/// Eight folios, two folio slots, and no subrequest can be prepared on
/// either stream: nothing is ever in flight.
fn nothing_prepares() -> Case {
    let folios: Vec<SimFolio> = (0..8).map(|i| SimFolio::plain(i * PAGE, PAGE)).collect();
    let mut case = Case::simple(
        13,
        folios,
        StreamsAvail {
            upload: true,
            cache: true,
        },
    );
    case.faults.prepare_fail = 1000;
    case
}

#[test]
fn feed_folio_room_after_failed_prepares() {
    // The queued folios are held only by the issuer's unpublished
    // position, which the collector sees only when it runs: kicked before
    // the wait for folio room, it ends them, and the walk goes on.
    let out = Sim::<4, 2>::new(&nothing_prepares()).run();
    assert_eq!(out.lost, [true, true]);
    assert_eq!(out.stats.issued, 0);
    assert!(out.stats.prepare_failures >= 16);
    assert_eq!(out.fed, [Some(FedAs::Written); 8]);
}

#[test]
#[should_panic(expected = "deadlock: waiting for folio room with nothing at the fs")]
fn feed_folio_room_wait_without_collector_kick_hangs() {
    // The same without the kick: nothing will ever run the collector.
    let opts = Opts {
        no_collector_kick: true,
        ..Opts::default()
    };
    Sim::<4, 2>::with_opts(&nothing_prepares(), opts).run();
}

/// Records what the collector hands back.
#[derive(Default)]
struct Failures {
    failed: Vec<(Stream, i32)>,
    ended: Vec<u32>,
    released: usize,
}

impl CollectSink<u32, u32> for Failures {
    fn release_sreq(&mut self, _stream: Stream, _s: u32) {
        self.released += 1;
    }
    fn end_folio(&mut self, f: u32) {
        self.ended.push(f);
    }
    fn stream_failed(&mut self, stream: Stream, error: i32) {
        self.failed.push((stream, error));
    }
}

#[test]
fn state_fail_retry_reports_the_error_and_completes() {
    let mut st: WriteState<u32, u32, 4, [Option<(u32, u64)>; 4]> = WriteState::new(0, 5);
    st.activate(Stream::Upload);
    st.push_folio(1, 8192).unwrap();
    for (h, start) in [(1, 0), (2, 4096)] {
        assert!(st.add_sreq(Stream::Upload, h, start).is_ok());
        assert!(st.set_sreq_len(Stream::Upload, &h, 4096));
    }
    st.set_issued_to(8192);
    st.all_queued();
    st.terminated(Stream::Upload, &1, -11, true);
    st.terminated(Stream::Upload, &2, 4096, false);
    let mut rec = Failures::default();
    assert!(st.collect(&mut rec).need_retry.upload);
    let p = st.retry_next(Stream::Upload).unwrap();
    assert_eq!((p.stream, p.index, p.start), (Stream::Upload, 0, 0));
    // Only an entry that needs a retry can be failed.
    assert!(!st.fail_retry(Stream::Upload, 1, -12));
    assert!(!st.fail_retry(Stream::Upload, 5, -12));
    assert!(!st.fail_retry(Stream::Cache, 0, -12));
    assert!(st.fail_retry(Stream::Upload, p.index, -12));
    assert!(!st.fail_retry(Stream::Upload, p.index, -12), "once");
    assert_eq!(st.retry_next(Stream::Upload), None);
    let c = st.collect(&mut rec);
    assert!(c.done && !c.need_retry.upload);
    assert_eq!(rec.failed, [(Stream::Upload, -12)]);
    assert_eq!(st.stream_error(Stream::Upload), Some(-12));
    assert_eq!(rec.ended, [1]);
    assert_eq!(rec.released, 2);
    // A non-negative error is taken as EIO.
    let mut st: WriteState<u32, u32, 4, [Option<(u32, u64)>; 4]> = WriteState::new(0, 5);
    st.activate(Stream::Cache);
    assert!(st.add_sreq(Stream::Cache, 1, 0).is_ok());
    assert!(st.set_sreq_len(Stream::Cache, &1, 10));
    st.terminated(Stream::Cache, &1, -4, true);
    assert!(st.fail_retry(Stream::Cache, 0, 0));
    st.all_queued();
    let mut rec = Failures::default();
    assert!(st.collect(&mut rec).done);
    assert_eq!(rec.failed, [(Stream::Cache, -5)]);
}

/// A writethrough's folios reach EOF one after the other as the writer
/// grows the file: unlike writeback's, such a folio neither sends its
/// subrequest at once (each folio would be an RPC of its own) nor has its
/// tail zeroed; the subrequest grows over the next folios.
#[test]
fn feed_writethrough_folios_at_eof_build_one_upload() {
    let mut side = Rec::new();
    let mut fe = Feeder::new();
    for i in 0..3 {
        let mut f = folio(i * PAGE, FolioKind::Plain, (i + 1) * PAGE, false);
        f.writethrough = true;
        assert_eq!(fe.write_folio(&mut side, i as u32, &f), Fed::Written);
    }
    assert!(
        !side
            .ev
            .iter()
            .any(|e| matches!(e, Ev::Issue(Stream::Upload, ..))),
        "sent before the write's end: {:?}",
        side.ev
    );
    // The last, partial: clipped to EOF, not zeroed; it ends the data, so
    // the one subrequest goes out with it.
    let mut f = folio(3 * PAGE, FolioKind::Plain, 3 * PAGE + 100, false);
    f.writethrough = true;
    assert_eq!(fe.write_folio(&mut side, 3, &f), Fed::Written);
    assert!(!side.ev.iter().any(|e| matches!(e, Ev::Zero(..))));
    let issued: Vec<_> = side
        .ev
        .iter()
        .filter(|e| matches!(e, Ev::Issue(Stream::Upload, ..)))
        .collect();
    assert_eq!(issued, [&Ev::Issue(Stream::Upload, 0, 3 * PAGE + 100)]);
    // The same folios written back: each reaching EOF is sent at once.
    let mut side = Rec::new();
    let mut fe = Feeder::new();
    for i in 0..2 {
        let f = folio(i * PAGE, FolioKind::Plain, (i + 1) * PAGE, false);
        assert_eq!(fe.write_folio(&mut side, i as u32, &f), Fed::Written);
    }
    assert!(side.ev.contains(&Ev::Issue(Stream::Upload, 0, PAGE)));
}

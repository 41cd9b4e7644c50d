// SPDX-License-Identifier: GPL-2.0

//! Unit tests of `engine::state`.

use std::vec::Vec;

use crate::engine::{
    state::{Before, CollectSink, Collected, RetryPiece, SreqState, WriteState},
    stream::{PerStream, Stream},
};

/// The upload stream.
const U: Stream = Stream::Upload;
/// The cache stream.
const C: Stream = Stream::Cache;

/// Records what the collector hands back.
#[derive(Default, Debug)]
struct Rec {
    released: Vec<(usize, u32)>,
    ended: Vec<u32>,
    failed: Vec<(usize, i32)>,
}

impl CollectSink<u32, u32> for Rec {
    fn release_sreq(&mut self, stream: Stream, s: u32) {
        self.released.push((stream.index(), s));
    }
    fn end_folio(&mut self, f: u32) {
        self.ended.push(f);
    }
    fn stream_failed(&mut self, stream: Stream, error: i32) {
        self.failed.push((stream.index(), error));
    }
}

type St = WriteState<u32, u32, 4, [Option<(u32, u64)>; 4]>;

/// Registers and issues handle `h` for `[start, start + len)`.
fn issue<const NS: usize, const NF: usize>(
    st: &mut WriteState<u32, u32, NS, [Option<(u32, u64)>; NF]>,
    stream: Stream,
    h: u32,
    start: u64,
    len: u64,
) {
    assert_eq!(st.add_sreq(stream, h, start), Ok(()));
    assert!(st.set_sreq_len(stream, &h, len));
}

#[test]
fn state_collects_in_order_and_ends_folios() {
    let mut st = St::new(0, 3);
    st.activate(U);
    let mut rec = Rec::default();
    st.set_issued_to(0);
    st.push_folio(100, 4096).unwrap();
    st.push_folio(101, 8192).unwrap();
    issue(&mut st, U, 1, 0, 3000);
    issue(&mut st, U, 2, 3000, 5192);
    st.set_issued_to(8192);
    st.all_queued();
    assert_eq!(st.in_flight(U), 2);
    // Completing the second first must not collect anything.
    assert!(!st.terminated(U, &2, 5192, false));
    let c = st.collect(&mut rec);
    assert_eq!(c, Collected::default());
    assert!(rec.released.is_empty() && rec.ended.is_empty());
    assert!(st.terminated(U, &1, 3000, false));
    let c = st.collect(&mut rec);
    assert!(c.done && c.progress);
    assert_eq!(rec.released, [(0, 1), (0, 2)]);
    assert_eq!(rec.ended, [100, 101]);
    assert_eq!(st.collected_to(), 8192);
    assert!(st.is_done());
}

#[test]
fn state_empty_stream_follows_issued_to() {
    let mut st = St::new(0, 3);
    st.activate(U);
    st.activate(C);
    let mut rec = Rec::default();
    st.set_issued_to(0);
    st.push_folio(1, 4096).unwrap();
    issue(&mut st, U, 1, 0, 4096);
    st.set_issued_to(4096);
    assert!(st.terminated(U, &1, 4096, false));
    st.collect(&mut rec);
    // Stream 1 never had anything and is past the folio.
    assert_eq!(st.stream_collected_to(C), 4096);
    assert_eq!(rec.ended, [1]);
    // Inactive streams neither hold back nor take subrequests.
    let mut st = St::new(0, 3);
    st.activate(C);
    assert_eq!(st.add_sreq(U, 9, 0), Err(9));
    assert_eq!(st.stream_room(U), 0);
    st.push_folio(1, 4096).unwrap();
    issue(&mut st, C, 1, 0, 4096);
    st.set_issued_to(4096);
    st.terminated(C, &1, 4096, false);
    st.all_queued();
    let mut rec = Rec::default();
    assert!(st.collect(&mut rec).done);
    assert_eq!(rec.ended, [1]);
}

#[test]
fn state_building_entry_holds_collection_back() {
    let mut st = St::new(0, 3);
    st.activate(U);
    let mut rec = Rec::default();
    st.push_folio(1, 4096).unwrap();
    assert_eq!(st.add_sreq(U, 1, 0), Ok(()));
    st.set_issued_to(4096);
    assert_eq!(st.in_flight(U), 0, "a construct is not in flight");
    st.collect(&mut rec);
    assert!(rec.ended.is_empty());
    assert_eq!(st.uncollected(U), 1);
    assert!(st.set_sreq_len(U, &1, 4096));
    assert!(!st.set_sreq_len(U, &1, 4096), "already issued");
    assert_eq!(st.in_flight(U), 1);
}

#[test]
fn state_add_sreq_refuses_out_of_order_and_full() {
    let mut st = WriteState::<u32, u32, 2, [Option<(u32, u64)>; 1]>::new(4096, 3);
    st.activate(U);
    assert_eq!(st.add_sreq(U, 1, 0), Err(1), "before the request start");
    issue(&mut st, U, 1, 4096, 4096);
    assert_eq!(st.add_sreq(U, 2, 5000), Err(2), "overlaps the previous");
    assert_eq!(st.add_sreq(U, 2, 8192), Ok(()));
    assert_eq!(st.stream_room(U), 0);
    assert_eq!(st.add_sreq(U, 3, 1 << 20), Err(3));
    assert_eq!(st.push_folio(1, 1), Ok(()));
    assert_eq!(st.folio_room(), 0);
    assert_eq!(st.push_folio(2, 2), Err(2));
}

#[test]
fn state_short_write_is_retried_at_the_right_offset() {
    let mut st = St::new(0, 3);
    st.activate(U);
    let mut rec = Rec::default();
    st.push_folio(7, 8192).unwrap();
    issue(&mut st, U, 1, 0, 8192);
    st.set_issued_to(8192);
    st.all_queued();
    assert!(st.terminated(U, &1, 1000, false));
    let c = st.collect(&mut rec);
    assert_eq!(
        c.need_retry,
        PerStream {
            upload: true,
            cache: false
        }
    );
    assert_eq!(st.stream_collected_to(U), 1000);
    assert!(rec.ended.is_empty() && rec.released.is_empty());
    let p = st.retry_next(U).unwrap();
    assert_eq!(
        p,
        RetryPiece {
            stream: U,
            index: 0,
            start: 1000,
            end: 8192,
            attempts: 0
        }
    );
    assert_eq!(st.restart_sreq(U, 0, 2, 0), Ok(Some(1)));
    assert!(st.retry_next(U).is_none());
    assert_eq!(st.in_flight(U), 1);
    assert!(!st.terminated(U, &1, 7192, false), "the old handle is gone");
    assert!(st.terminated(U, &2, 7192, false));
    let c = st.collect(&mut rec);
    assert!(c.done);
    assert_eq!(rec.released, [(0, 2)]);
    assert_eq!(rec.ended, [7]);
}

#[test]
fn state_shorter_retry_piece_is_a_temporal_split() {
    let mut st = St::new(0, 1);
    st.activate(U);
    let mut rec = Rec::default();
    issue(&mut st, U, 1, 0, 10000);
    st.all_queued();
    st.terminated(U, &1, 0, false);
    st.collect(&mut rec);
    let mut h = 1;
    let mut pos = 0;
    // Pieces of 3000: the entry stays one entry and never runs out of
    // attempts while each piece makes progress.
    while let Some(p) = st.retry_next(U) {
        assert_eq!((p.start, p.end), (pos, 10000));
        h += 1;
        assert_eq!(st.restart_sreq(U, p.index, h, 3000), Ok(Some(h - 1)));
        // Claiming more than the piece must not skip bytes.
        st.terminated(U, &h, 5000, false);
        pos = (pos + 3000).min(10000);
        st.collect(&mut rec);
        assert_eq!(st.stream_collected_to(U), pos);
    }
    assert_eq!(pos, 10000);
    assert!(st.collect(&mut rec).done);
    assert!(rec.failed.is_empty());
    assert_eq!(rec.released, [(0, h)]);
}

#[test]
fn state_zero_writing_server_fails_after_max_retries() {
    let mut st = St::new(0, 2);
    st.activate(U);
    let mut rec = Rec::default();
    st.push_folio(1, 4096).unwrap();
    issue(&mut st, U, 1, 0, 4096);
    st.all_queued();
    let mut h = 1;
    st.terminated(U, &1, 0, false);
    let mut tries = 1;
    loop {
        let c = st.collect(&mut rec);
        if c.done {
            break;
        }
        assert!(c.need_retry.upload);
        let Some(p) = st.retry_next(U) else {
            continue;
        };
        assert_eq!(p.attempts, tries - 1);
        h += 1;
        assert!(st.restart_sreq(U, p.index, h, 0).is_ok());
        st.terminated(U, &h, 0, false);
        tries += 1;
        assert!(tries < 10, "retries forever");
    }
    assert_eq!(tries, 3, "one try and max_retries retries");
    assert_eq!(rec.failed, [(0, -5)]);
    assert_eq!(st.stream_error(U), Some(-5));
    assert_eq!(rec.ended, [1]);
    assert_eq!(rec.released, [(0, h)]);
}

#[test]
fn state_exhausted_retries_keep_the_last_error() {
    let mut st = St::new(0, 0);
    st.activate(U);
    let mut rec = Rec::default();
    issue(&mut st, U, 1, 0, 4096);
    st.all_queued();
    assert!(st.terminated(U, &1, -11, true));
    assert_eq!(
        st.collect(&mut rec).need_retry,
        PerStream {
            upload: true,
            cache: false
        }
    );
    assert_eq!(st.retry_next(U), None, "max_retries 0: no retry");
    assert!(st.collect(&mut rec).done);
    assert_eq!(rec.failed, [(0, -11)]);
}

#[test]
fn state_permanent_failure_is_reported_once_and_folios_still_end() {
    let mut st = St::new(0, 3);
    st.activate(U);
    st.activate(C);
    let mut rec = Rec::default();
    st.push_folio(1, 4096).unwrap();
    st.push_folio(2, 8192).unwrap();
    issue(&mut st, U, 1, 0, 4096);
    issue(&mut st, U, 2, 4096, 4096);
    issue(&mut st, C, 3, 0, 8192);
    st.set_issued_to(8192);
    st.all_queued();
    assert!(st.terminated(U, &1, -28, false));
    assert!(st.terminated(U, &2, -5, false));
    st.collect(&mut rec);
    assert_eq!(rec.failed, [(0, -28)], "first error, once");
    assert_eq!(st.stream_error(U), Some(-28));
    assert!(rec.ended.is_empty(), "stream 1 still writing");
    // An errno beyond i32 becomes EIO, but stream 1 keeps its own error.
    assert!(st.terminated(C, &3, i64::MIN, false));
    let c = st.collect(&mut rec);
    assert!(c.done);
    assert_eq!(rec.failed, [(0, -28), (1, -5)]);
    assert_eq!(rec.ended, [1, 2]);
    assert_eq!(rec.released.len(), 3);
}

#[test]
fn state_ignores_unknown_and_repeated_completions() {
    let mut st = St::new(0, 3);
    st.activate(U);
    issue(&mut st, U, 1, 0, 4096);
    assert!(!st.terminated(U, &9, 4096, false));
    assert!(!st.terminated(C, &1, 4096, false));
    assert!(st.terminated(U, &1, 4096, false));
    assert!(!st.terminated(U, &1, -5, false));
    let v: Vec<SreqState> = st.sreqs(U).map(|e| e.state).collect();
    assert_eq!(v, [SreqState::Done]);
    // restart_sreq only takes entries that need a retry.
    assert_eq!(st.restart_sreq(U, 0, 5, 0), Err(5));
    assert_eq!(st.restart_sreq(U, 3, 5, 0), Err(5));
}

#[test]
fn state_zero_length_issue_completes_at_once() {
    let mut st = St::new(0, 3);
    st.activate(U);
    let mut rec = Rec::default();
    issue(&mut st, U, 1, 0, 0);
    st.all_queued();
    assert!(st.collect(&mut rec).done);
    assert_eq!(rec.released, [(0, 1)]);
}

#[test]
fn state_wakes_the_retryer_when_the_last_one_lands() {
    let mut st = St::new(0, 3);
    st.activate(U);
    let mut rec = Rec::default();
    issue(&mut st, U, 1, 0, 100);
    issue(&mut st, U, 2, 100, 100);
    issue(&mut st, U, 3, 200, 100);
    assert!(st.terminated(U, &2, 10, false), "a retry is needed");
    assert!(!st.terminated(U, &3, 100, false));
    assert_eq!(st.in_flight(U), 1);
    assert!(
        st.terminated(U, &1, 100, false),
        "front, and none in flight"
    );
    let c = st.collect(&mut rec);
    assert_eq!(
        c.need_retry,
        PerStream {
            upload: true,
            cache: false
        }
    );
    assert_eq!(rec.released, [(0, 1)]);
    assert_eq!(st.issued_to(), 0);
}

#[test]
fn state_unanswered_counts_in_flight_and_awaiting_retry() {
    let mut st = St::new(0, 3);
    st.activate(U);
    let mut rec = Rec::default();
    st.push_folio(1, 8192).unwrap();
    // Being built: not sent, so not waited for.
    assert_eq!(st.add_sreq(U, 1, 0), Ok(()));
    assert_eq!(st.unanswered(U), 0);
    assert!(st.set_sreq_len(U, &1, 4096));
    issue(&mut st, U, 2, 4096, 4096);
    assert_eq!(st.unanswered(U), 2);
    // A transient failure is answered only once it has been sent again.
    st.terminated(U, &1, -11, true);
    st.collect(&mut rec);
    assert_eq!(st.unanswered(U), 2);
    st.terminated(U, &2, 4096, false);
    assert_eq!(st.unanswered(U), 1);
    let piece = st.retry_next(U).unwrap();
    assert!(st.restart_sreq(U, piece.index, 3, 4096).is_ok());
    assert_eq!(st.unanswered(U), 1);
    st.terminated(U, &3, 4096, false);
    assert_eq!(st.unanswered(U), 0);
}

/// A write of the caller's buffer reports the prefix written before the
/// first failure, even when later pieces (sent together, inside the file)
/// were written; a piece abandoned after the failure covers nothing.
#[test]
fn state_buffer_write_prefix_ends_at_first_loss() {
    let mut st = WriteState::<u32, u32, 4, [Option<(u32, u64)>; 0]>::new(1000, 1);
    st.activate(U);
    let mut rec = Rec::default();
    issue(&mut st, U, 1, 1000, 100);
    issue(&mut st, U, 2, 1100, 100);
    issue(&mut st, U, 3, 1200, 100);
    st.set_issued_to(1300);
    // The second comes back short, then its retry fails for good.
    st.terminated(U, &3, 100, false);
    st.terminated(U, &1, 100, false);
    st.terminated(U, &2, 40, false);
    let c = st.collect(&mut rec);
    assert!(*c.need_retry.get(U));
    assert_eq!(st.lost_from(U), None, "a retry is pending: nothing lost yet");
    let p = st.retry_next(U).unwrap();
    assert_eq!((p.start, p.end), (1140, 1200));
    assert_eq!(st.restart_sreq(U, p.index, 20, 0), Ok(Some(2)));
    assert!(st.terminated(U, &20, -28, false));
    // The last piece was planned before the failure was seen: abandoned.
    assert_eq!(st.add_sreq(U, 4, 1300), Ok(()));
    assert!(st.set_sreq_len(U, &4, 0));
    st.set_issued_to(1300);
    st.all_queued();
    let c = st.collect(&mut rec);
    assert!(c.done);
    assert_eq!(rec.failed, [(0, -28)]);
    assert_eq!(st.lost_from(U), Some(1140));
    assert_eq!(rec.released, [(0, 1), (0, 20), (0, 3), (0, 4)]);
}

/// Retries without progress are bounded for a buffer write as for
/// writeback: the prefix then ends where the last attempt left it.
#[test]
fn state_buffer_write_retries_are_bounded() {
    let mut st = WriteState::<u32, u32, 4, [Option<(u32, u64)>; 0]>::new(0, 2);
    st.activate(U);
    let mut rec = Rec::default();
    issue(&mut st, U, 1, 0, 4096);
    st.set_issued_to(4096);
    st.all_queued();
    st.terminated(U, &1, 0, false);
    let mut h = 10;
    loop {
        st.collect(&mut rec);
        let Some(p) = st.retry_next(U) else { break };
        assert!(h < 20, "retries must stop");
        st.restart_sreq(U, p.index, h, 0).unwrap();
        st.terminated(U, &h, 0, false);
        h += 1;
    }
    let c = st.collect(&mut rec);
    assert!(c.done);
    assert_eq!(h, 12, "two retries, then failure");
    assert_eq!(st.lost_from(U), Some(0));
    assert_eq!(rec.failed, [(0, -5)]);
}

/// What a piece that extends the file waits for: every earlier piece
/// written; it never goes out once one is lost, collected or not.
#[test]
fn state_before_a_position() {
    let mut st = WriteState::<u32, u32, 4, [Option<(u32, u64)>; 0]>::new(0, 1);
    st.activate(U);
    let mut rec = Rec::default();
    issue(&mut st, U, 1, 0, 100);
    issue(&mut st, U, 2, 100, 100);
    assert_eq!(st.add_sreq(U, 3, 200), Ok(()));
    assert_eq!(st.before(U, 200), Before::Pending);
    assert_eq!(st.before(U, 0), Before::Written, "nothing before the start");
    st.terminated(U, &2, 100, false);
    assert_eq!(st.before(U, 200), Before::Pending);
    st.terminated(U, &1, 60, false);
    assert_eq!(st.before(U, 200), Before::Pending, "short: to be sent again");
    st.collect(&mut rec);
    let p = st.retry_next(U).unwrap();
    st.restart_sreq(U, p.index, 10, 0).unwrap();
    st.terminated(U, &10, 40, false);
    assert_eq!(st.before(U, 200), Before::Written, "the building entry is not before itself");
    st.collect(&mut rec);
    assert_eq!(st.before(U, 200), Before::Written, "collected entries count as written");
    assert!(st.set_sreq_len(U, &3, 100));
    st.terminated(U, &3, -5, false);
    assert_eq!(st.before(U, 300), Before::Lost, "lost before collection");
    st.set_issued_to(300);
    st.collect(&mut rec);
    assert_eq!(st.before(U, 300), Before::Lost, "and after");
    assert_eq!(st.lost_from(U), Some(200));
}

/// A writethrough starts inside its first folio: a state begun at the
/// write's position refuses that folio's subrequest (its start is behind
/// what counts as collected), so the engine begins the state at a base
/// below any first folio; the gap up to it is like any other, and the
/// writer's count is measured from its own position.
#[test]
fn state_writethrough_first_folio_before_the_write() {
    let mut at_write = WriteState::<u32, u32, 4, [Option<(u32, u64)>; 0]>::new(5000, 1);
    at_write.activate(U);
    assert_eq!(at_write.add_sreq(U, 1, 4096), Err(1));

    let mut st = WriteState::<u32, u32, 4, [Option<(u32, u64)>; 0]>::new(0, 1);
    st.activate(U);
    let mut rec = Rec::default();
    st.set_issued_to(4096);
    issue(&mut st, U, 1, 4096, 8192);
    issue(&mut st, U, 2, 12288, 4096);
    st.set_issued_to(16384);
    st.all_queued();
    st.terminated(U, &1, 8192, false);
    st.terminated(U, &2, -5, false);
    let c = st.collect(&mut rec);
    assert!(c.done);
    assert_eq!(st.lost_from(U), Some(12288));
    assert_eq!(st.lost_from(U).unwrap() - 5000, 7288, "the writer's prefix");
}

#[test]
fn state_success_while_sending_is_left_to_the_sender() {
    let mut st = St::new(0, 3);
    st.activate(U);
    let mut rec = Rec::default();
    issue(&mut st, U, 1, 0, 100);
    issue(&mut st, U, 2, 100, 100);
    st.set_issued_to(200);
    st.all_queued();
    assert!(st.sending(U, &1));
    assert!(st.sending(U, &2));
    // The front one lands inside its send: no collector is woken, the
    // sender collects on its way out.
    assert!(!st.terminated(U, &1, 100, false));
    assert!(st.sent(U, 0));
    assert!(!st.sent(U, 0), "told once");
    let c = st.collect(&mut rec);
    assert!(c.progress && !c.done);
    // One that would not have woken the collector leaves nothing to do.
    assert!(!st.sent(U, 100));
    // Its send returned first: its success wakes the collector as before.
    assert!(st.terminated(U, &2, 100, false));
    assert!(st.collect(&mut rec).done);
    assert_eq!(rec.released, [(0, 1), (0, 2)]);
}

#[test]
fn state_failure_while_sending_wakes_the_collector() {
    let mut st = St::new(0, 3);
    st.activate(U);
    let mut rec = Rec::default();
    issue(&mut st, U, 1, 0, 100);
    issue(&mut st, U, 2, 100, 100);
    assert!(st.sending(U, &1));
    assert!(st.sending(U, &2));
    // A short write and a transient error are for the retryer: at once.
    assert!(st.terminated(U, &2, 40, false));
    assert!(st.terminated(U, &1, -11, true));
    assert!(!st.sent(U, 100));
    let c = st.collect(&mut rec);
    assert!(c.need_retry.upload);
    // A retried piece that succeeds while the first sender of its entry
    // has not yet returned is still collected: by that sender.
    let p = st.retry_next(U).unwrap();
    assert_eq!(p.index, 0);
    assert_eq!(st.restart_sreq(U, 0, 11, 0), Ok(Some(1)));
    assert!(!st.terminated(U, &11, 100, false));
    assert!(st.sent(U, 0));
    let c = st.collect(&mut rec);
    assert!(c.progress);
    assert_eq!(rec.released, [(0, 11)]);
}

#[test]
fn state_sending_refuses_what_is_not_in_flight() {
    let mut st = St::new(0, 3);
    st.activate(U);
    assert_eq!(st.add_sreq(U, 1, 0), Ok(()));
    assert!(!st.sending(U, &1), "still being built");
    assert!(st.set_sreq_len(U, &1, 100));
    assert!(st.terminated(U, &1, 100, false));
    assert!(!st.sending(U, &1), "answered already");
    assert!(!st.sent(U, 0));
}

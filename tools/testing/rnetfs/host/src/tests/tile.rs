// SPDX-License-Identifier: GPL-2.0

//! Unit tests of `engine::tile`.

use std::{vec, vec::Vec};

use crate::engine::{
    state::{CollectSink, WriteState},
    stream::{PerStream, Stream},
    tile::{Limits, StreamSink, Tiler},
};

/// What a sink saw.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Ev {
    /// prepare(stream, start) returned this handle.
    Prepare(usize, u64, u32),
    /// issue(stream, handle, start, len, nr_segs).
    Issue(usize, u32, u64, u64, u32),
}

/// A sink returning scripted limits per stream.
struct Rec {
    /// Per stream, limits to return, cycled.
    limits: [Vec<Limits>; 2],
    /// Per stream, prepares so far.
    n: [usize; 2],
    /// Next handle.
    next: u32,
    /// Events.
    ev: Vec<Ev>,
}

impl Rec {
    fn new(l0: Vec<Limits>, l1: Vec<Limits>) -> Self {
        Rec {
            limits: [l0, l1],
            n: [0; 2],
            next: 0,
            ev: Vec::new(),
        }
    }

    /// The issued `(start, len, nr_segs)` of `stream`.
    fn issued(&self, stream: usize) -> Vec<(u64, u64, u32)> {
        self.ev
            .iter()
            .filter_map(|e| match *e {
                Ev::Issue(s, _, a, l, n) if s == stream => Some((a, l, n)),
                _ => None,
            })
            .collect()
    }
}

impl StreamSink<u32> for Rec {
    fn prepare(&mut self, stream: Stream, start: u64) -> Option<(u32, Limits)> {
        let i = stream.index();
        let ls = &self.limits[i];
        let l = ls[self.n[i] % ls.len()];
        self.n[i] += 1;
        self.next += 1;
        self.ev.push(Ev::Prepare(i, start, self.next));
        Some((self.next, l))
    }

    fn issue(&mut self, stream: Stream, sreq: u32, start: u64, len: u64, nr_segs: u32) {
        self.ev
            .push(Ev::Issue(stream.index(), sreq, start, len, nr_segs));
    }
}

fn lim(max_len: u64, max_segs: u32) -> Limits {
    Limits { max_len, max_segs }
}

#[test]
fn tile_splits_one_folio_over_several_subrequests() {
    let mut sink = Rec::new(vec![lim(4096, 0)], vec![lim(0, 0)]);
    let mut t = Tiler::new(Stream::Upload);
    t.add(&mut sink, 0, 10000, false);
    assert_eq!(sink.issued(0), [(0, 4096, 1), (4096, 4096, 1)]);
    assert_eq!(t.building(), Some((8192, 1808)));
    t.flush(&mut sink);
    assert_eq!(t.building(), None);
    assert_eq!(
        sink.issued(0),
        [(0, 4096, 1), (4096, 4096, 1), (8192, 1808, 1)]
    );
    // Each subrequest was prepared at its own start and issued with the
    // handle prepare returned.
    assert_eq!(
        sink.ev[..2],
        [Ev::Prepare(0, 0, 1), Ev::Issue(0, 1, 0, 4096, 1)]
    );
    t.flush(&mut sink);
    assert_eq!(sink.issued(0).len(), 3, "a second flush issues nothing");
}

#[test]
fn tile_subrequest_spans_several_folios() {
    let mut sink = Rec::new(vec![lim(0, 0)], vec![lim(0, 0)]);
    let mut t = Tiler::new(Stream::Upload);
    for i in 0..3 {
        t.add(&mut sink, i * 4096, 4096, false);
    }
    assert!(sink.issued(0).is_empty());
    assert_eq!(t.building(), Some((0, 12288)));
    t.add(&mut sink, 12288, 8192, true);
    assert_eq!(sink.issued(0), [(0, 20480, 4)]);
    assert_eq!(t.building(), None);
}

#[test]
fn tile_issues_when_segments_run_out() {
    let mut sink = Rec::new(vec![lim(0, 2)], vec![lim(0, 0)]);
    let mut t = Tiler::new(Stream::Upload);
    for i in 0..5 {
        t.add(&mut sink, i * 4096, 4096, false);
    }
    t.flush(&mut sink);
    assert_eq!(
        sink.issued(0),
        [(0, 8192, 2), (8192, 8192, 2), (16384, 4096, 1)]
    );
}

#[test]
fn tile_issues_before_a_gap() {
    let mut sink = Rec::new(vec![lim(0, 0)], vec![lim(0, 0)]);
    let mut t = Tiler::new(Stream::Cache);
    t.add(&mut sink, 0, 4096, false);
    t.add(&mut sink, 8192, 4096, false);
    assert_eq!(sink.issued(1), [(0, 4096, 1)]);
    assert_eq!(t.building(), Some((8192, 4096)));
    assert!(sink.issued(0).is_empty(), "stream number passed through");
}

#[test]
fn tile_ignores_empty_spans_and_clamps_at_the_top() {
    let mut sink = Rec::new(vec![lim(0, 0)], vec![lim(0, 0)]);
    let mut t = Tiler::new(Stream::Upload);
    t.add(&mut sink, 4096, 0, true);
    assert!(sink.ev.is_empty());
    t.add(&mut sink, u64::MAX - 10, 100, true);
    assert_eq!(sink.issued(0), [(u64::MAX - 10, 10, 1)]);
}

#[test]
fn tile_odd_max_len_over_a_2m_folio() {
    let mut sink = Rec::new(vec![lim(511_976, 0)], vec![lim(0, 0)]);
    let mut t = Tiler::new(Stream::Upload);
    t.add(&mut sink, 2 << 20, 2 << 20, true);
    let got = sink.issued(0);
    assert_eq!(got.len(), 5);
    let mut pos = 2 << 20;
    for (a, l, n) in &got {
        assert_eq!((*a, *n), (pos, 1));
        pos += l;
    }
    assert_eq!(pos, 4 << 20);
    assert_eq!(got[4].1, (2 << 20) - 4 * 511_976);
}

#[test]
fn tile_limits_may_change_per_subrequest() {
    let mut sink = Rec::new(vec![lim(1000, 0), lim(0, 1), lim(300, 0)], vec![lim(0, 0)]);
    let mut t = Tiler::new(Stream::Upload);
    t.add(&mut sink, 0, 1500, false);
    t.add(&mut sink, 1500, 1000, false);
    t.flush(&mut sink);
    // 1000 by length; then 500 plus nothing (1 segment); then 300s.
    assert_eq!(
        sink.issued(0),
        [(0, 1000, 1), (1000, 500, 1), (1500, 300, 1), (1800, 700, 1)]
    );
}

#[test]
fn tile_two_streams_tile_independently() {
    let mut sink = Rec::new(vec![lim(5000, 0)], vec![lim(3000, 2)]);
    let mut tilers = [Tiler::new(Stream::Upload), Tiler::new(Stream::Cache)];
    for i in 0..4 {
        for t in tilers.iter_mut() {
            t.add(&mut sink, i * 4096, 4096, i == 3);
        }
    }
    let (s0, s1) = (sink.issued(0), sink.issued(1));
    assert_eq!(
        s0,
        [
            (0, 5000, 2),
            (5000, 5000, 2),
            (10000, 5000, 2),
            (15000, 1384, 1)
        ]
    );
    assert_eq!(
        s1,
        [
            (0, 3000, 1),
            (3000, 3000, 2),
            (6000, 3000, 2),
            (9000, 3000, 1),
            (12000, 3000, 2),
            (15000, 1384, 1)
        ]
    );
    // Neither stream has gaps, and they do not line up.
    for s in [&s0, &s1] {
        let mut pos = 0;
        for (a, l, _) in s.iter() {
            assert_eq!(*a, pos);
            pos += l;
        }
        assert_eq!(pos, 16384);
    }
}

/// A sink over a real `WriteState`, as the glue's: `prepare` registers the
/// subrequest with `add_sreq` and fails if that refuses, and also fails
/// every `every`-th call on stream `refuse`, as an allocation that fails.
struct Refusing {
    /// The collection state the subrequests are registered in.
    ws: WriteState<u32, u32, 64, [Option<(u32, u64)>; 64]>,
    /// Limits returned per stream.
    limits: PerStream<Limits>,
    /// Stream whose prepares fail now and then.
    refuse: Stream,
    /// Every how many of its prepares fail (0: none).
    every: u32,
    /// Prepares of `refuse` so far.
    calls: u32,
    /// Last handle given.
    next: u32,
    /// Prepares that failed: `(stream, start)`.
    refused: Vec<(Stream, u64)>,
    /// Subrequests issued: `(stream, handle, start, len)`.
    issued: Vec<(Stream, u32, u64, u64)>,
}

impl Refusing {
    fn new(limits: PerStream<Limits>, refuse: Stream, every: u32) -> Self {
        Refusing {
            ws: WriteState::new(0, 3),
            limits,
            refuse,
            every,
            calls: 0,
            next: 0,
            refused: Vec::new(),
            issued: Vec::new(),
        }
    }

    /// Feeds `n` whole 4 KiB folios to both tilers as the issuer does;
    /// returns the bytes each tiler dropped.
    fn feed(&mut self, tilers: &mut PerStream<Tiler<u32>>, n: u64) -> PerStream<u64> {
        let mut dropped = PerStream::default();
        for i in 0..n {
            let pos = i * 4096;
            self.ws.set_issued_to(pos);
            assert!(self.ws.push_folio(i as u32, pos + 4096).is_ok());
            for (s, t) in tilers.iter_mut() {
                *dropped.get_mut(s) += t.add(self, pos, 4096, i + 1 == n);
            }
            self.ws.set_issued_to(pos + 4096);
        }
        dropped
    }

    /// Completes everything issued and collects; returns the folios ended.
    fn complete_all(&mut self) -> Vec<u32> {
        for &(s, h, _, len) in &self.issued {
            self.ws.terminated(s, &h, len as i64, false);
        }
        self.ws.all_queued();
        let mut rec = Ended::default();
        let c = self.ws.collect(&mut rec);
        assert!(c.done, "request not done after every completion");
        assert_eq!(rec.released.len(), self.issued.len());
        rec.ended
    }

    /// `(start, len)` of the subrequests issued on `s`, in order.
    fn issued_on(&self, s: Stream) -> Vec<(u64, u64)> {
        self.issued
            .iter()
            .filter(|e| e.0 == s)
            .map(|e| (e.2, e.3))
            .collect()
    }
}

impl StreamSink<u32> for Refusing {
    fn prepare(&mut self, stream: Stream, start: u64) -> Option<(u32, Limits)> {
        if stream == self.refuse && self.every != 0 {
            self.calls += 1;
            if self.calls.is_multiple_of(self.every) {
                self.refused.push((stream, start));
                return None;
            }
        }
        self.next += 1;
        if self.ws.add_sreq(stream, self.next, start).is_err() {
            self.refused.push((stream, start));
            return None;
        }
        Some((self.next, *self.limits.get(stream)))
    }

    fn issue(&mut self, stream: Stream, sreq: u32, start: u64, len: u64, _nr_segs: u32) {
        assert!(self.ws.set_sreq_len(stream, &sreq, len));
        self.issued.push((stream, sreq, start, len));
    }
}

/// What the collector hands back in the refusal tests.
#[derive(Default)]
struct Ended {
    released: Vec<(Stream, u32)>,
    ended: Vec<u32>,
}

impl CollectSink<u32, u32> for Ended {
    fn release_sreq(&mut self, stream: Stream, s: u32) {
        self.released.push((stream, s));
    }
    fn end_folio(&mut self, f: u32) {
        self.ended.push(f);
    }
    fn stream_failed(&mut self, stream: Stream, error: i32) {
        panic!("stream {stream:?} failed ({error}): nothing failed at the fs");
    }
}

/// Checks that `issued` and the `refused` starts tile `[0, end)` exactly:
/// every byte was either sent once or dropped, and every gap starts where
/// a prepare failed.
fn check_tiling(issued: &[(u64, u64)], refused: &[u64], end: u64) {
    let mut pos = 0;
    for &(a, l) in issued {
        assert!(a >= pos, "subrequest at {a} overlaps {pos}");
        if a > pos {
            assert!(
                refused.contains(&pos),
                "gap [{pos}, {a}) not at a refused prepare"
            );
        }
        assert!(l > 0);
        pos = a + l;
    }
    assert!(pos <= end);
    assert!(pos == end || refused.contains(&pos), "tail from {pos} lost");
}

#[test]
fn tile_prepare_failure_drops_the_span_for_that_stream_only() {
    let limits = PerStream {
        upload: lim(3000, 0),
        cache: lim(0, 4),
    };
    for every in [1, 2, 3, 7] {
        let mut sink = Refusing::new(limits, Stream::Upload, every);
        sink.ws.activate(Stream::Upload);
        sink.ws.activate(Stream::Cache);
        let mut tilers = PerStream::from_fn(Tiler::new);
        let dropped = sink.feed(&mut tilers, 16);
        assert!(tilers.iter().all(|(_, t)| t.building().is_none()));
        // The cache stream never saw a refusal: all of it, in full
        // subrequests of 4 segments.
        assert_eq!(dropped.cache, 0);
        assert_eq!(
            sink.issued_on(Stream::Cache),
            [(0, 16384), (16384, 16384), (32768, 16384), (49152, 16384)]
        );
        // The upload stream lost the rest of each span whose prepare
        // failed, and nothing else.
        let up = sink.issued_on(Stream::Upload);
        let sent: u64 = up.iter().map(|e| e.1).sum();
        assert_eq!(sent + dropped.upload, 65536, "every={every}");
        let refused: Vec<u64> = sink.refused.iter().map(|r| r.1).collect();
        assert!(!refused.is_empty());
        assert!(sink.refused.iter().all(|r| r.0 == Stream::Upload));
        check_tiling(&up, &refused, 65536);
        if every == 1 {
            assert!(up.is_empty(), "every upload prepare failed");
            assert_eq!(dropped.upload, 65536);
        }
        // The state stays consistent: everything issued completes, every
        // folio ends, once and in order.
        let ended = sink.complete_all();
        assert_eq!(ended, (0..16).collect::<Vec<u32>>());
    }
}

#[test]
fn tile_add_sreq_refusal_is_a_failed_prepare() {
    // The upload stream was never activated, so add_sreq refuses every
    // subrequest of it: the tiler must drop the bytes, not wait for room
    // that never comes.
    let limits = PerStream {
        upload: lim(0, 0),
        cache: lim(5000, 0),
    };
    let mut sink = Refusing::new(limits, Stream::Upload, 0);
    sink.ws.activate(Stream::Cache);
    let mut tilers = PerStream::from_fn(Tiler::new);
    let dropped = sink.feed(&mut tilers, 8);
    assert_eq!(dropped.upload, 8 * 4096);
    assert_eq!(dropped.cache, 0);
    assert!(sink.issued_on(Stream::Upload).is_empty());
    // One refused prepare per folio: each span is dropped whole.
    assert_eq!(sink.refused.len(), 8);
    let cache = sink.issued_on(Stream::Cache);
    assert_eq!(cache.iter().map(|e| e.1).sum::<u64>(), 8 * 4096);
    check_tiling(&cache, &[], 8 * 4096);
    assert_eq!(sink.complete_all(), (0..8).collect::<Vec<u32>>());

    // A full stream refuses too: with room for one subrequest, the second
    // prepare fails while the first is still uncollected.
    let mut ws: WriteState<u32, u32, 1, [Option<(u32, u64)>; 4]> = WriteState::new(0, 3);
    ws.activate(Stream::Upload);
    assert_eq!(ws.add_sreq(Stream::Upload, 1, 0), Ok(()));
    assert_eq!(ws.add_sreq(Stream::Upload, 2, 4096), Err(2));
}

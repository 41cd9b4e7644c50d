// SPDX-License-Identifier: GPL-2.0

//! Unit tests of `engine::tile`.

use std::{vec, vec::Vec};

use crate::engine::{
    stream::Stream,
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
    fn prepare(&mut self, stream: Stream, start: u64) -> (u32, Limits) {
        let i = stream.index();
        let ls = &self.limits[i];
        let l = ls[self.n[i] % ls.len()];
        self.n[i] += 1;
        self.next += 1;
        self.ev.push(Ev::Prepare(i, start, self.next));
        (self.next, l)
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

// SPDX-License-Identifier: GPL-2.0

//! A simulated filesystem, server, cache and page cache, driven through the
//! engine core exactly as the kernel glue drives it.
//!
//! Read [`Glue`] and [`Sim::run`] as the reference for the glue:
//!
//! * issuer, per dirty folio in ascending order: `plan_folio`; on
//!   `BeyondEof` or no span, end writeback at once. Otherwise zero the tail
//!   if asked, make sure `folio_room() > 0` (flushing both tilers before
//!   waiting, since their constructs hold back older folios), then
//!   `set_issued_to(folio start)`, `push_folio`, the `flush_*` flags, the
//!   `Tiler::add`s, `flush_after`, and `set_issued_to(folio end)`. At the
//!   end flush both tilers, `all_queued()` and kick the collector.
//! * `StreamSink::prepare`: wait for `stream_room(stream) > 0`, allocate,
//!   run the fs's prepare, `add_sreq` (never fails then), return limits.
//! * `StreamSink::issue`: `set_sreq_len` under the lock, then hand the
//!   subrequest to the fs (outside the lock).
//! * completion: `terminated`; if it returns true, queue the collector.
//! * collector: `collect`; for each stream with `need_retry` and
//!   `in_flight(stream) == 0`, run the retryer, then collect again.
//! * retryer: `while let Some(p) = retry_next(s)`: allocate a subrequest,
//!   prepare it at `p.start`, cut the piece to the new limits,
//!   `restart_sreq`, release the old handle, issue the piece at `p.start`.

use std::{format, string::String, vec, vec::Vec};

use super::rng::Rng;
use crate::engine::{
    spans::{plan_folio, FolioInfo, FolioPlan, StreamsAvail},
    state::{CollectSink, WriteState},
    stream::{Stream, NR_STREAMS},
    tile::{Limits, StreamSink, Tiler},
};

/// Page size of the simulated page cache.
pub(crate) const PAGE: u64 = 4096;
/// `EAGAIN`.
const EAGAIN: i64 = 11;
/// `ENOSPC`.
const ENOSPC: i64 = 28;

/// One dirty folio.
#[derive(Clone, Debug)]
pub(crate) struct SimFolio {
    /// File position.
    pub(crate) pos: u64,
    /// Size in bytes.
    pub(crate) size: u64,
    /// Dirty range of a streaming write.
    pub(crate) dirty: Option<(u64, u64)>,
    /// Only to be copied to the cache.
    pub(crate) copy_to_cache: bool,
}

/// How the simulated filesystem and server misbehave.
#[derive(Clone, Debug, Default)]
pub(crate) struct Faults {
    /// Per mille of completions that write a random prefix only.
    pub(crate) short: u64,
    /// Per mille of completions failing with a retryable error.
    pub(crate) transient: u64,
    /// Per mille of completions failing for good.
    pub(crate) permanent: u64,
    /// `(stream, from, to)`: writes starting in `[from, to)` on the stream
    /// write 0 bytes, forever.
    pub(crate) hole: Option<(usize, u64, u64)>,
    /// Per mille of full completions that claim more bytes than asked.
    pub(crate) overclaim: u64,
}

/// One randomly generated writeback.
#[derive(Clone, Debug)]
pub(crate) struct Case {
    /// Seed of the case, also driving the simulation.
    pub(crate) seed: u64,
    /// Dirty folios, ascending.
    pub(crate) folios: Vec<SimFolio>,
    /// File size.
    pub(crate) i_size: u64,
    /// Streams of the request.
    pub(crate) avail: StreamsAvail,
    /// Misbehaviour.
    pub(crate) faults: Faults,
    /// Retries without progress before giving up.
    pub(crate) max_attempts: u32,
    /// Per stream, the limits a prepare may return.
    pub(crate) limits: [Vec<Limits>; NR_STREAMS],
    /// Run the collector only when `terminated` says so.
    pub(crate) wake_only: bool,
    /// Up to this many completions between two folios.
    pub(crate) bg_per_folio: u64,
}

/// Generation knobs, one flavour per property test.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Flavor {
    /// Inject failures.
    pub(crate) faults: bool,
    /// Always have a zero-writing hole.
    pub(crate) hole: bool,
    /// Force both streams on.
    pub(crate) both_streams: bool,
    /// Allow 2M folios and big files.
    pub(crate) big: bool,
}

impl Case {
    /// Generates a case from `seed`.
    pub(crate) fn generate(seed: u64, fl: Flavor) -> Case {
        let mut rng = Rng::new(seed);
        let nr = rng.range(1, 40);
        let mut folios = Vec::new();
        let mut cursor = rng.below(8) * PAGE;
        for _ in 0..nr {
            let order = match rng.below(100) {
                0..=49 => 0,
                50..=79 => rng.range(1, 2),
                80..=96 => rng.range(3, 5),
                _ if fl.big => rng.range(6, 9),
                _ => rng.range(3, 6),
            };
            let size = PAGE << order;
            if rng.chance(300) {
                cursor += rng.range(1, 8) * PAGE;
            }
            let pos = cursor.div_ceil(size) * size;
            let dirty = if rng.chance(150) {
                let off = rng.below(size);
                let len = match rng.below(4) {
                    0 => size - off,
                    1 => rng.range(1, 16),
                    _ => rng.range(1, size - off),
                };
                Some((off, len))
            } else {
                None
            };
            folios.push(SimFolio {
                pos,
                size,
                dirty,
                copy_to_cache: rng.chance(100),
            });
            cursor = pos + size;
        }
        let last = folios.last().map_or(0, |f| f.pos + f.size);
        let i_size = match rng.below(4) {
            0 => last,
            1 => last + rng.below(3 * PAGE),
            2 => rng.range(last.saturating_sub(PAGE << 3), last),
            _ => rng.range(1, last),
        };
        let avail = if fl.both_streams {
            StreamsAvail {
                upload: true,
                cache: true,
            }
        } else {
            StreamsAvail {
                upload: rng.chance(900),
                cache: rng.chance(600),
            }
        };
        let mut faults = Faults::default();
        if fl.faults && rng.chance(800) {
            faults.short = rng.pick(&[0, 10, 50, 200]);
            faults.transient = rng.pick(&[0, 10, 50, 200]);
            faults.permanent = rng.pick(&[0, 0, 5, 30]);
            faults.overclaim = rng.pick(&[0, 20, 300]);
        }
        if fl.hole || (fl.faults && rng.chance(100)) {
            let s = if avail.upload && (!avail.cache || rng.chance(500)) {
                0
            } else {
                1
            };
            let from = rng.below(last.max(1));
            let to = from + rng.range(1, 4 * PAGE);
            faults.hole = Some((s, from, to));
        }
        let total: u64 = folios.iter().map(|f| f.size).sum();
        // Keep the number of subrequests (and the run time) bounded.
        let min_len = total / 3000 + 1;
        let mut limits: [Vec<Limits>; NR_STREAMS] = [Vec::new(), Vec::new()];
        for l in limits.iter_mut() {
            for _ in 0..rng.range(1, 3) {
                let max_len = match rng.below(7) {
                    0 => 0,
                    1 => rng.range(1, 3 * PAGE),
                    2 => 511_976,
                    3 => rng.range(1, 64) * PAGE,
                    4 => rng.range(PAGE, 64 * PAGE),
                    5 => rng.range(1, 600),
                    _ => 1 << rng.range(12, 22),
                };
                let max_len = if max_len == 0 {
                    0
                } else {
                    max_len.max(min_len)
                };
                let max_segs = match rng.below(5) {
                    0 | 1 => 0,
                    2 => 1,
                    3 => 2,
                    _ => rng.range(1, 16) as u32,
                };
                l.push(Limits { max_len, max_segs });
            }
        }
        Case {
            seed,
            folios,
            i_size,
            avail,
            faults,
            max_attempts: rng.range(0, 5) as u32,
            limits,
            wake_only: rng.chance(500),
            bg_per_folio: rng.pick(&[0, 1, 3, 10]),
        }
    }
}

/// One subrequest handed to the simulated filesystem.
#[derive(Clone, Copy, Debug)]
struct Op {
    /// Handle.
    id: u32,
    /// Stream.
    stream: Stream,
    /// File position to write at.
    pos: u64,
    /// Bytes to write.
    len: u64,
}

/// What the simulation knows about a handle.
#[derive(Clone, Debug)]
struct HandleInfo {
    /// Stream.
    stream: Stream,
    /// Handed to the filesystem.
    issued: bool,
    /// Times `terminated` was called for it.
    terminated: u32,
    /// Times it was released.
    released: u32,
}

/// Counters of one run, for the property tests' summary.
#[derive(Clone, Debug, Default)]
pub(crate) struct Stats {
    /// Subrequests issued by the tilers.
    pub(crate) issued: u64,
    /// Retry pieces issued.
    pub(crate) retried: u64,
    /// Streams that failed.
    pub(crate) failed_streams: u64,
    /// Times the issuer had to wait for room.
    pub(crate) waits: u64,
}

/// Everything outside the engine: fs, server, cache, page cache, checks.
pub(crate) struct World {
    /// The case.
    case: Case,
    /// Randomness of the run.
    rng: Rng,
    /// File contents in the page cache.
    page_cache: Vec<u8>,
    /// File contents before writeback, to catch stray zeroing.
    original: Vec<u8>,
    /// Per stream, the bytes that must reach it.
    expect: [Vec<bool>; NR_STREAMS],
    /// Per stream, the bytes it holds.
    stored: [Vec<u8>; NR_STREAMS],
    /// Per stream, how often each byte was written.
    written: [Vec<u8>; NR_STREAMS],
    /// Subrequests at the filesystem.
    pool: Vec<Op>,
    /// Every handle ever allocated, by id.
    handles: Vec<HandleInfo>,
    /// Times each folio's writeback was ended.
    ended: Vec<u32>,
    /// Folios ended by the current `collect` call.
    ended_now: Vec<usize>,
    /// Data end of each folio pushed.
    data_end: Vec<u64>,
    /// Calls of `stream_failed` per stream.
    failed_calls: [u32; NR_STREAMS],
    /// A fault was injected on the stream.
    faults_hit: [bool; NR_STREAMS],
    /// A write landed in the zero-writing hole.
    hole_hit: [bool; NR_STREAMS],
    /// Bound on the number of subrequests, to catch endless retrying.
    max_ops: u64,
    /// Subrequests handed to the fs so far.
    ops: u64,
    /// Counters.
    stats: Stats,
}

impl World {
    /// Allocates a handle.
    fn alloc(&mut self, stream: Stream) -> u32 {
        let id = self.handles.len() as u32;
        self.handles.push(HandleInfo {
            stream,
            issued: false,
            terminated: 0,
            released: 0,
        });
        id
    }

    /// Random limits for a new subrequest of `stream`.
    fn limits(&mut self, stream: Stream) -> Limits {
        let case = &self.case;
        let ls = &case.limits[stream.index()];
        ls[self.rng.below(ls.len() as u64) as usize]
    }

    /// Index range of the folios overlapping `[from, to)`.
    fn folios_over(&self, from: u64, to: u64) -> std::ops::Range<usize> {
        let fs = &self.case.folios;
        let a = fs.partition_point(|f| f.pos + f.size <= from);
        let b = fs.partition_point(|f| f.pos < to);
        a..b.max(a)
    }

    /// Hands a subrequest to the filesystem.
    fn submit(&mut self, op: Op) {
        let h = &mut self.handles[op.id as usize];
        assert!(!h.issued, "handle {} issued twice", op.id);
        assert_eq!(h.stream, op.stream);
        h.issued = true;
        assert!(op.len > 0, "empty subrequest {op:?}");
        for b in op.pos..op.pos + op.len {
            assert!(
                self.expect[op.stream.index()][b as usize],
                "stream {} subrequest {op:?} covers byte {b} it must not write",
                op.stream.index()
            );
        }
        self.ops += 1;
        assert!(
            self.ops <= self.max_ops,
            "more than {} subrequests: retrying does not terminate",
            self.max_ops
        );
        self.pool.push(op);
    }

    /// The filesystem performs `op`; returns what it reports.
    fn perform(&mut self, op: Op) -> (i64, bool) {
        let h = &mut self.handles[op.id as usize];
        assert_eq!(h.terminated, 0, "handle {} terminated twice", op.id);
        h.terminated = 1;
        for i in self.folios_over(op.pos, op.pos + op.len) {
            assert_eq!(
                self.ended[i], 0,
                "{op:?} still writing folio {i} whose writeback ended"
            );
        }
        let f = &self.case.faults;
        let in_hole = f
            .hole
            .is_some_and(|(s, a, b)| s == op.stream.index() && op.pos >= a && op.pos < b);
        let r = self.rng.below(1000);
        let (n, result, retry) = if in_hole {
            (0, 0, false)
        } else if r < f.permanent {
            let n = self.rng.below(op.len);
            (n, -ENOSPC, false)
        } else if r < f.permanent + f.transient {
            let n = self.rng.below(op.len);
            (n, -EAGAIN, true)
        } else if r < f.permanent + f.transient + f.short {
            let n = self.rng.below(op.len);
            (n, n as i64, false)
        } else if self.rng.chance(f.overclaim) {
            (op.len, op.len as i64 + 7, false)
        } else {
            (op.len, op.len as i64, false)
        };
        let s = op.stream.index();
        if n < op.len {
            self.faults_hit[s] = true;
        }
        if in_hole {
            self.hole_hit[s] = true;
        }
        for b in op.pos..op.pos + n {
            let b = b as usize;
            self.stored[s][b] = self.page_cache[b];
            self.written[s][b] = self.written[s][b].saturating_add(1);
        }
        (result, retry)
    }

    /// Checks a folio whose writeback just ended.
    fn check_ended(&self, i: usize, collected: [Option<u64>; NR_STREAMS]) {
        let end = self.data_end[i];
        let f = &self.case.folios[i];
        for (s, c) in collected.iter().enumerate() {
            if let Some(c) = c {
                assert!(
                    *c >= end,
                    "folio {i} (data end {end}) ended with stream {s} collected to {c}"
                );
            }
        }
        for op in &self.pool {
            assert!(
                op.pos + op.len <= f.pos || op.pos >= end,
                "folio {i} ended while {op:?} is at the fs"
            );
        }
        self.check_bytes(f.pos, end);
    }

    /// Checks that every byte of `[from, to)` reached the streams it must,
    /// intact, unless the stream reported a failure.
    fn check_bytes(&self, from: u64, to: u64) {
        for s in 0..NR_STREAMS {
            if self.failed_calls[s] > 0 {
                continue;
            }
            for b in from..to {
                let b = b as usize;
                if !self.expect[s][b] {
                    continue;
                }
                assert!(
                    self.written[s][b] > 0,
                    "stream {s} byte {b} never written and no failure reported"
                );
                assert_eq!(
                    self.stored[s][b], self.page_cache[b],
                    "stream {s} byte {b} corrupted"
                );
            }
        }
    }
}

impl CollectSink<u32, usize> for World {
    fn release_sreq(&mut self, stream: Stream, s: u32) {
        let h = &mut self.handles[s as usize];
        assert_eq!(h.stream, stream);
        assert_eq!(h.released, 0, "handle {s} released twice");
        assert!(
            h.issued && h.terminated == 1,
            "handle {s} released before it completed"
        );
        h.released = 1;
    }

    fn end_folio(&mut self, f: usize) {
        self.ended[f] += 1;
        assert_eq!(self.ended[f], 1, "folio {f} ended twice");
        self.ended_now.push(f);
    }

    fn stream_failed(&mut self, stream: Stream, error: i32) {
        let i = stream.index();
        self.failed_calls[i] += 1;
        assert_eq!(self.failed_calls[i], 1, "stream {stream:?} failed twice");
        assert!(error < 0, "stream {stream:?} failed with {error}");
        assert!(
            self.faults_hit[i],
            "stream {stream:?} failed ({error}) without a fault injected"
        );
        self.stats.failed_streams += 1;
    }
}

/// The glue: the engine state plus the outside world.
pub(crate) struct Glue<const NS: usize, const NF: usize> {
    /// The engine state (under the spinlock in the kernel).
    state: WriteState<u32, usize, NS, Vec<Option<(usize, u64)>>>,
    /// Everything else.
    w: World,
}

impl<const NS: usize, const NF: usize> StreamSink<u32> for Glue<NS, NF> {
    fn prepare(&mut self, stream: Stream, start: u64) -> Option<(u32, Limits)> {
        if self.state.stream_room(stream) == 0 {
            self.w.stats.waits += 1;
            self.wait(|st| st.stream_room(stream) > 0);
        }
        let id = self.w.alloc(stream);
        let limits = self.w.limits(stream);
        if let Err(h) = self.state.add_sreq(stream, id, start) {
            panic!("add_sreq({stream:?}, {h}, {start}) refused");
        }
        Some((id, limits))
    }

    fn issue(&mut self, stream: Stream, sreq: u32, start: u64, len: u64, nr_segs: u32) {
        assert!(self.state.set_sreq_len(stream, &sreq, len));
        let want = self.w.folios_over(start, start + len).len() as u32;
        assert_eq!(nr_segs, want, "sreq {start}+{len}: segments");
        self.w.stats.issued += 1;
        self.w.submit(Op {
            id: sreq,
            stream,
            pos: start,
            len,
        });
    }
}

impl<const NS: usize, const NF: usize> Glue<NS, NF> {
    /// Runs background work until `cond` holds; a deadlock fails.
    fn wait(
        &mut self,
        cond: impl Fn(&WriteState<u32, usize, NS, Vec<Option<(usize, u64)>>>) -> bool,
    ) {
        while !cond(&self.state) {
            assert!(self.step(), "deadlock: waiting with nothing at the fs");
        }
    }

    /// Completes one random subrequest; false if none is at the fs.
    fn step(&mut self) -> bool {
        if self.w.pool.is_empty() {
            return false;
        }
        let i = self.w.rng.below(self.w.pool.len() as u64) as usize;
        let op = self.w.pool.swap_remove(i);
        let (result, retry) = self.w.perform(op);
        let wake = self.state.terminated(op.stream, &op.id, result, retry);
        // A second completion must be ignored.
        assert!(!self.state.terminated(op.stream, &op.id, 1, false) || wake);
        if wake || (!self.w.case.wake_only && self.w.rng.chance(200)) {
            self.collector();
        }
        true
    }

    /// The collector work item.
    fn collector(&mut self) {
        for round in 0.. {
            assert!(round < 10_000, "collector loops");
            let c = self.state.collect(&mut self.w);
            let collected = Stream::ALL.map(|s| {
                self.state
                    .is_active(s)
                    .then(|| self.state.stream_collected_to(s))
            });
            for i in std::mem::take(&mut self.w.ended_now) {
                self.w.check_ended(i, collected);
            }
            let mut again = false;
            for s in Stream::ALL {
                if *c.need_retry.get(s) && self.state.in_flight(s) == 0 {
                    self.retry(s);
                    again = true;
                }
            }
            if !again {
                break;
            }
        }
    }

    /// The retryer for `stream`.
    fn retry(&mut self, stream: Stream) {
        while let Some(p) = self.state.retry_next(stream) {
            assert!(p.attempts < self.w.case.max_attempts);
            let id = self.w.alloc(stream);
            let lim = self.w.limits(stream);
            let mut len = p.end - p.start;
            if lim.max_len != 0 {
                len = len.min(lim.max_len);
            }
            if lim.max_segs != 0 {
                let segs = self.w.folios_over(p.start, p.start + len);
                if segs.len() > lim.max_segs as usize {
                    let f = &self.w.case.folios[segs.start + lim.max_segs as usize - 1];
                    len = f.pos + f.size - p.start;
                }
            }
            match self.state.restart_sreq(stream, p.index, id, len) {
                Ok(Some(old)) => {
                    let h = &mut self.w.handles[old as usize];
                    assert_eq!(h.released, 0, "handle {old} released twice");
                    assert_eq!(h.terminated, 1);
                    h.released = 1;
                }
                Ok(None) => panic!("retried entry had no handle"),
                Err(_) => panic!("restart_sreq refused {p:?}"),
            }
            self.w.stats.retried += 1;
            self.w.submit(Op {
                id,
                stream,
                pos: p.start,
                len,
            });
        }
    }
}

/// The issuer with its two tilers.
pub(crate) struct Sim<const NS: usize, const NF: usize> {
    /// Glue and world.
    g: Glue<NS, NF>,
    /// Stream 0 and 1 builders.
    tilers: [Tiler<u32>; NR_STREAMS],
}

impl<const NS: usize, const NF: usize> Sim<NS, NF> {
    /// Sets up the world of `case`.
    pub(crate) fn new(case: &Case) -> Self {
        let mut rng = Rng::new(case.seed ^ 0x5eed);
        let extent = case
            .folios
            .last()
            .map_or(0, |f| f.pos + f.size)
            .max(case.i_size) as usize;
        // Never 0, so that a missed zeroing shows.
        let page_cache: Vec<u8> = (0..extent).map(|_| rng.next_u64() as u8 | 1).collect();
        let mut expect = [vec![false; extent], vec![false; extent]];
        // The reference model, written independently of plan_folio.
        for f in &case.folios {
            if f.pos >= case.i_size {
                continue;
            }
            let (a, b) = match f.dirty {
                Some((o, l)) => (f.pos + o, f.pos + (o + l).min(f.size)),
                None => (f.pos, f.pos + f.size),
            };
            let b = b.min(case.i_size);
            if a >= b {
                continue;
            }
            let range = a as usize..b as usize;
            if case.avail.upload && !f.copy_to_cache {
                expect[0][range.clone()].fill(true);
            }
            if case.avail.cache && f.dirty.is_none() {
                expect[1][range].fill(true);
            }
        }
        let total: u64 = case.folios.iter().map(|f| f.size).sum();
        let w = World {
            case: case.clone(),
            rng,
            original: page_cache.clone(),
            page_cache,
            expect,
            stored: [vec![0; extent], vec![0; extent]],
            written: [vec![0; extent], vec![0; extent]],
            pool: Vec::new(),
            handles: Vec::new(),
            ended: vec![0; case.folios.len()],
            ended_now: Vec::new(),
            data_end: vec![0; case.folios.len()],
            failed_calls: [0; NR_STREAMS],
            faults_hit: [false; NR_STREAMS],
            hole_hit: [false; NR_STREAMS],
            max_ops: (total + 1000) * (u64::from(case.max_attempts) + 2),
            ops: 0,
            stats: Stats::default(),
        };
        let start = case.folios.first().map_or(0, |f| f.pos);
        // Folio slots on the heap, as the kernel glue allocates them.
        let slots = (0..NF).map(|_| None).collect::<Vec<_>>();
        let mut state = WriteState::with_folio_slots(start, case.max_attempts, slots);
        if case.avail.upload {
            state.activate(Stream::Upload);
        }
        if case.avail.cache {
            state.activate(Stream::Cache);
        }
        Sim {
            g: Glue { state, w },
            tilers: [Tiler::new(Stream::Upload), Tiler::new(Stream::Cache)],
        }
    }

    /// Flushes both tilers.
    fn flush_all(&mut self) {
        for t in &mut self.tilers {
            t.flush(&mut self.g);
        }
    }

    /// Ends a folio that has nothing to send.
    fn end_now(&mut self, i: usize) {
        self.g.w.ended[i] += 1;
        assert_eq!(self.g.w.ended[i], 1);
    }

    /// Writes the case back and checks the outcome.
    pub(crate) fn run(mut self) -> Stats {
        let case = self.g.w.case.clone();
        for (i, f) in case.folios.iter().enumerate() {
            let info = FolioInfo {
                pos: f.pos,
                size: f.size,
                dirty: f.dirty,
                copy_to_cache: f.copy_to_cache,
                i_size: case.i_size,
            };
            match plan_folio(&info, case.avail) {
                FolioPlan::BeyondEof => {
                    let (a, b) = (f.pos as usize, (f.pos + f.size).min(case.i_size) as usize);
                    for s in 0..NR_STREAMS {
                        let e = self.g.w.expect[s].get(a..b).unwrap_or(&[]);
                        assert!(!e.contains(&true), "folio {i} {f:?} skipped");
                    }
                    self.end_now(i);
                }
                FolioPlan::Write {
                    upload,
                    cache,
                    flush_upload,
                    flush_cache,
                    zero_from,
                    data_end,
                    flush_after,
                    to_eof,
                } => {
                    if let Some(z) = zero_from {
                        self.g.w.page_cache[(f.pos + z) as usize..(f.pos + f.size) as usize]
                            .fill(0);
                    }
                    if flush_upload {
                        self.tilers[0].flush(&mut self.g);
                    }
                    if flush_cache {
                        self.tilers[1].flush(&mut self.g);
                    }
                    let spans = [upload, cache];
                    if spans.iter().all(Option::is_none) {
                        self.end_now(i);
                    } else {
                        if self.g.state.folio_room() == 0 {
                            // The constructs hold back the folios being
                            // waited for: send them first.
                            self.flush_all();
                            self.g.w.stats.waits += 1;
                            self.g.wait(|st| st.folio_room() > 0);
                        }
                        self.g.state.set_issued_to(f.pos);
                        self.g.w.data_end[i] = data_end;
                        assert!(self.g.state.push_folio(i, data_end).is_ok());
                        for (s, span) in spans.iter().enumerate() {
                            if let Some(sp) = span {
                                self.tilers[s].add(&mut self.g, sp.pos, sp.len, to_eof);
                            }
                        }
                        if flush_after {
                            self.flush_all();
                        }
                        self.g.state.set_issued_to(f.pos + f.size);
                    }
                    // Compare the plan with the reference model.
                    for (s, span) in spans.iter().enumerate() {
                        let (lo, hi) = (f.pos, f.pos + f.size);
                        let e = &self.g.w.expect[s][lo as usize..hi as usize];
                        let got: Vec<bool> = (lo..hi)
                            .map(|b| span.is_some_and(|sp| b >= sp.pos && b < sp.pos + sp.len))
                            .collect();
                        assert!(
                            got.as_slice() == e,
                            "folio {i} {f:?}: stream {s} span {span:?} differs from the model"
                        );
                    }
                }
            }
            let n = self.g.w.rng.below(case.bg_per_folio + 1);
            for _ in 0..n {
                self.g.step();
            }
        }
        self.flush_all();
        assert!(self.tilers.iter().all(|t| t.building().is_none()));
        self.g.state.all_queued();
        self.g.collector();
        while !self.g.state.is_done() {
            assert!(
                self.g.step(),
                "deadlock: request not done, nothing at the fs"
            );
        }
        self.finish()
    }

    /// Final checks.
    fn finish(self) -> Stats {
        let w = &self.g.w;
        assert!(w.pool.is_empty());
        for (i, n) in w.ended.iter().enumerate() {
            assert_eq!(*n, 1, "folio {i} ended {n} times");
        }
        for (id, h) in w.handles.iter().enumerate() {
            assert!(h.issued, "handle {id} never issued");
            assert_eq!(
                h.terminated, 1,
                "handle {id} terminated {} times",
                h.terminated
            );
            assert_eq!(h.released, 1, "handle {id} released {} times", h.released);
        }
        let extent = w.page_cache.len() as u64;
        w.check_bytes(0, extent);
        for s in 0..NR_STREAMS {
            for (b, n) in w.written[s].iter().enumerate() {
                assert!(*n == 0 || w.expect[s][b], "stream {s} byte {b} written");
            }
            assert_eq!(
                w.failed_calls[s] > 0,
                self.g.state.stream_error(Stream::ALL[s]).is_some(),
                "stream {s}: error state and reports disagree"
            );
        }
        // A write into the zero-writing hole must end in a failure, not a
        // hang.
        for s in 0..NR_STREAMS {
            if w.hole_hit[s] {
                assert_eq!(w.failed_calls[s], 1, "stream {s}: hole but no failure");
            }
        }
        // Beyond-EOF tails of whole folios must have been zeroed, and
        // nothing else.
        let mut zeroed = vec![false; w.page_cache.len()];
        for f in &w.case.folios {
            if f.dirty.is_none() && f.pos < w.case.i_size && f.pos + f.size > w.case.i_size {
                zeroed[w.case.i_size as usize..(f.pos + f.size) as usize].fill(true);
            }
        }
        for (b, z) in zeroed.iter().enumerate() {
            let want = if *z { 0 } else { w.original[b] };
            assert_eq!(w.page_cache[b], want, "page cache byte {b} (zeroed: {z})");
        }
        w.stats.clone()
    }
}

/// Describes a case for a failure report.
pub(crate) fn describe(case: &Case) -> String {
    format!("{case:#?}")
}

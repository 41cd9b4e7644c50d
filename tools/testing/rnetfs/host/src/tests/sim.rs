// SPDX-License-Identifier: GPL-2.0

//! A simulated filesystem, server, cache and page cache, driven through the
//! engine core exactly as the kernel glue drives it.
//!
//! The planning is the kernel's own: [`Sim::run`] walks the dirty folios as
//! `issue::writepages()` does and hands each to the engine's
//! [`Feeder`]; [`Glue`] is only the kernel's side of it ([`IssuerSide`],
//! [`StreamSink`]), the completions, the collector and the retryer. Read it
//! as the reference for the glue:
//!
//! * writepages: create the state at the first folio, activate the cache
//!   stream if netfs made it available (the upload stream is activated by
//!   [`IssuerSide::begin_upload`]). Per folio: while
//!   [`Feeder::wait_needed`] says so, wait for it with the folio unlocked,
//!   then read the folio again (a copy-to-cache folio may have turned plain
//!   dirty meanwhile); then [`Feeder::write_folio`]. At the end publish the
//!   position, [`Feeder::flush_all`], `all_queued()`, kick the collector,
//!   and wait for every upload's answer if workers sent any.
//! * `StreamSink::prepare`: wait for `stream_room(stream) > 0` (an inactive
//!   stream has none: waiting would never end), allocate, run the fs's
//!   prepare, `add_sreq`, return limits; `None` if the subrequest cannot be
//!   set up, with the loss recorded on the mapping.
//! * `StreamSink::issue`: `set_sreq_len` under the lock, then hand the
//!   subrequest to the fs (outside the lock); uploads sent inline complete
//!   before `issue` returns, as 9p's synchronous RPC does.
//! * completion: `terminated`; if it returns true, queue the collector.
//!   A success inside its own send (a subrequest marked with `sending` at
//!   issue: an upload on 9p is answered inside its send) returns false:
//!   when the send returns, `sent` says whether its sender collects, with
//!   a pass of `collect` that runs no retryer (`sender_collects`).
//! * collector: `collect`; for each stream with `need_retry`, wait for
//!   `in_flight(stream) == 0` (every completion wakes that wait, deferred
//!   or not), run the retryer, then collect again.
//! * retryer: `while let Some(p) = retry_next(s)`: allocate a subrequest,
//!   prepare it at `p.start`, cut the piece to the new limits,
//!   `restart_sreq`, release the old handle, issue the piece at `p.start`;
//!   if no subrequest can be had, `fail_retry`.

use std::{format, string::String, vec, vec::Vec};

use super::rng::Rng;
use crate::engine::{
    feed::{Fed, FeedFolio, Feeder, FolioKind, IssuerSide, Report, Wait},
    spans::StreamsAvail,
    state::{CollectSink, WriteState},
    stream::{Stream, NR_STREAMS},
    tile::{Limits, StreamSink},
};

/// Page size of the simulated page cache.
pub(crate) const PAGE: u64 = 4096;
/// `EAGAIN`.
const EAGAIN: i64 = 11;
/// `ENOMEM`.
const ENOMEM: i32 = 12;
/// `ENOSPC`.
const ENOSPC: i64 = 28;

/// Limits without bounds.
const OPEN: Limits = Limits {
    max_len: 0,
    max_segs: 0,
};

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
    /// A copy-to-cache folio that is plain dirty once the issuer had to
    /// wait with it unlocked (written to meanwhile).
    pub(crate) turns_plain: bool,
    /// Of another write group: to be redirtied, not written.
    pub(crate) grouped: bool,
    /// Up to date; a plain folio that is not is refused.
    pub(crate) uptodate: bool,
}

impl SimFolio {
    /// An up-to-date plain folio.
    pub(crate) fn plain(pos: u64, size: u64) -> Self {
        SimFolio {
            pos,
            size,
            dirty: None,
            copy_to_cache: false,
            turns_plain: false,
            grouped: false,
            uptodate: true,
        }
    }

    /// What netfs says about it.
    fn kind(&self) -> FolioKind {
        if self.grouped {
            FolioKind::Grouped
        } else if let Some((offset, len)) = self.dirty {
            FolioKind::Streaming { offset, len }
        } else if self.copy_to_cache {
            FolioKind::CopyToCache
        } else {
            FolioKind::Plain
        }
    }

    /// Whether the issuer refuses it (dirty, neither up to date nor a
    /// streaming write).
    fn refused(&self) -> bool {
        !self.grouped && self.dirty.is_none() && !self.copy_to_cache && !self.uptodate
    }
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
    pub(crate) hole: Option<(Stream, u64, u64)>,
    /// Per mille of full completions that claim more bytes than asked.
    pub(crate) overclaim: u64,
    /// Per mille of the issuer's prepares that cannot set up a subrequest.
    pub(crate) prepare_fail: u64,
    /// Per mille of retries for which no subrequest can be allocated.
    pub(crate) retry_alloc_fail: u64,
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
    /// Uploads go to workers (else they are sent inline, as with
    /// `async_upload=0`).
    pub(crate) async_upload: bool,
    /// Successes inside their send are collected by the sender, and the
    /// issuer does the last collection (else the collector does, as with
    /// `sender_collects=0`).
    pub(crate) sender_collects: bool,
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
            // netfs records one of: a streaming write, copy-to-cache, or a
            // write group.
            let copy_to_cache = dirty.is_none() && rng.chance(100);
            let grouped = dirty.is_none() && !copy_to_cache && rng.chance(20);
            folios.push(SimFolio {
                pos,
                size,
                dirty,
                copy_to_cache,
                turns_plain: copy_to_cache && rng.chance(300),
                grouped,
                uptodate: !rng.chance(10),
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
            faults.prepare_fail = rng.pick(&[0, 0, 0, 5, 50]);
            faults.retry_alloc_fail = rng.pick(&[0, 0, 20, 200]);
        }
        if fl.hole || (fl.faults && rng.chance(100)) {
            let s = if avail.upload && (!avail.cache || rng.chance(500)) {
                Stream::Upload
            } else {
                Stream::Cache
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
            async_upload: rng.chance(700),
            sender_collects: rng.chance(700),
        }
    }

    /// A case of `folios` with both streams, no faults, whole-range
    /// subrequests and uploads to workers, for the targeted tests.
    pub(crate) fn simple(seed: u64, folios: Vec<SimFolio>, avail: StreamsAvail) -> Case {
        let i_size = folios.last().map_or(0, |f| f.pos + f.size);
        Case {
            seed,
            folios,
            i_size,
            avail,
            faults: Faults::default(),
            max_attempts: 3,
            limits: [vec![OPEN], vec![OPEN]],
            wake_only: true,
            bg_per_folio: 0,
            async_upload: true,
            sender_collects: true,
        }
    }
}

/// How the simulated glue differs from the kernel's, to show what the
/// tests catch.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Opts {
    /// Activate the upload stream as the kernel did before the engine's
    /// feeder did it: once, in writepages, for the first folio that was
    /// not copy-to-cache before its wait, and never in `begin_upload`.
    pub(crate) old_activation: bool,
    /// A `prepare` that `add_sreq` refuses returns `None` (the loss
    /// recorded on the mapping) instead of failing the test as a wait that
    /// never ends.
    pub(crate) lenient_prepare: bool,
    /// `kick_collector` does nothing: the issuer waits for folio room
    /// without having the collector run first.
    pub(crate) no_collector_kick: bool,
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
    /// Marked `sending` when issued: its sender calls `sent` once the
    /// send returns.
    sending: bool,
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
    /// Last-folio paths taken with a wait for uploads' answers.
    pub(crate) last_drains: u64,
    /// Prepares that could not set up a subrequest.
    pub(crate) prepare_failures: u64,
    /// Copy-to-cache folios that turned plain while waiting.
    pub(crate) turned_plain: u64,
}

/// What a run ended with, for the targeted tests.
#[derive(Clone, Debug)]
pub(crate) struct Outcome {
    /// Counters.
    pub(crate) stats: Stats,
    /// What the feeder did with each folio.
    pub(crate) fed: Vec<Option<FedAs>>,
    /// Per stream, a prepare failed and the glue recorded the loss.
    pub(crate) lost: [bool; NR_STREAMS],
    /// Per stream, calls of `stream_failed`.
    pub(crate) failed_calls: [u32; NR_STREAMS],
    /// Per stream, bytes the server or cache holds (written at least once).
    pub(crate) written: [Vec<bool>; NR_STREAMS],
}

/// [`Fed`] without the folio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FedAs {
    /// [`Fed::Written`].
    Written,
    /// [`Fed::Skipped`].
    Skipped,
    /// [`Fed::NotUptodate`].
    NotUptodate,
    /// [`Fed::Redirty`].
    Redirty,
}

/// Everything outside the engine: fs, server, cache, page cache, checks.
pub(crate) struct World {
    /// The case.
    case: Case,
    /// Randomness of the run.
    rng: Rng,
    /// The kind of each folio the issuer sees now.
    kinds: Vec<SimFolio>,
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
    /// What the feeder did with each folio.
    fed: Vec<Option<FedAs>>,
    /// Each folio's writeback started (by `start_writeback` or
    /// `end_unwritten`).
    started: Vec<bool>,
    /// Each folio's tail was zeroed.
    zeroed: Vec<bool>,
    /// Calls of `stream_failed` per stream.
    failed_calls: [u32; NR_STREAMS],
    /// A fault was injected on the stream.
    faults_hit: [bool; NR_STREAMS],
    /// A write landed in the zero-writing hole.
    hole_hit: [bool; NR_STREAMS],
    /// A prepare failed on the stream: the glue recorded the loss.
    lost: [bool; NR_STREAMS],
    /// Bound on the number of subrequests, to catch endless retrying.
    max_ops: u64,
    /// Subrequests handed to the fs so far.
    ops: u64,
    /// Counters.
    stats: Stats,
}

/// The reference model of which bytes of a folio go to which stream,
/// written independently of `plan_folio`: `(upload, cache)` ranges.
fn model(
    f: &SimFolio,
    i_size: u64,
    avail: StreamsAvail,
) -> (
    Option<std::ops::Range<usize>>,
    Option<std::ops::Range<usize>>,
) {
    if f.grouped || f.refused() || f.pos >= i_size {
        return (None, None);
    }
    let (a, b) = match f.dirty {
        Some((o, l)) => (f.pos + o, f.pos + (o + l).min(f.size)),
        None => (f.pos, f.pos + f.size),
    };
    let b = b.min(i_size);
    if a >= b {
        return (None, None);
    }
    let range = a as usize..b as usize;
    let up = (avail.upload && !f.copy_to_cache).then(|| range.clone());
    let cache = (avail.cache && f.dirty.is_none()).then_some(range);
    (up, cache)
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
            sending: false,
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

    /// Sets what must reach the streams from folio `i`, as it is now.
    fn model_folio(&mut self, i: usize) {
        let f = &self.kinds[i];
        let (lo, hi) = (f.pos as usize, (f.pos + f.size) as usize);
        let (up, cache) = model(f, self.case.i_size, self.case.avail);
        for (s, r) in [(0, up), (1, cache)] {
            self.expect[s][lo..hi].fill(false);
            if let Some(r) = r {
                self.expect[s][r].fill(true);
            }
        }
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
                "stream {:?} subrequest {op:?} covers byte {b} it must not write",
                op.stream
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
            .is_some_and(|(s, a, b)| s == op.stream && op.pos >= a && op.pos < b);
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
    /// intact, unless the stream reported a failure or lost a prepare.
    fn check_bytes(&self, from: u64, to: u64) {
        for s in 0..NR_STREAMS {
            if self.failed_calls[s] > 0 || self.lost[s] {
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

    /// Ends folio `i`'s writeback.
    fn end(&mut self, i: usize) {
        self.ended[i] += 1;
        assert_eq!(self.ended[i], 1, "folio {i} ended twice");
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
        self.end(f);
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
    /// Differences from the kernel's glue.
    opts: Opts,
    /// The issuer sends uploads itself ([`IssuerSide::send_inline`]).
    inline: bool,
    /// Some upload went to the workers.
    async_used: bool,
    /// Folio queue room seen last, as the kernel's issuer caches it.
    room_hint: usize,
    /// End of the last folio written, not yet published.
    unpublished: u64,
    /// The folio being written is the file's last dirty one.
    last: Option<usize>,
    /// Per stream, a collector found subrequests to retry and waits for
    /// the stream's in-flight ones to be answered.
    retry_waiting: [bool; NR_STREAMS],
    /// Folios under writeback not yet queued: `(folio, pos, data_end)`.
    batch: Vec<(usize, u64, u64)>,
    /// Most folios batched (0: each queued at once).
    batch_max: usize,
}

impl<const NS: usize, const NF: usize> StreamSink<u32> for Glue<NS, NF> {
    fn prepare(&mut self, stream: Stream, start: u64) -> Option<(u32, Limits)> {
        self.publish_batch();
        // The kernel's throttle waits for stream room, which an inactive
        // stream never has.
        if !self.state.is_active(stream) {
            assert!(
                self.opts.lenient_prepare,
                "prepare({stream:?}, {start}) on an inactive stream: \
                 the kernel's throttle waits for ever"
            );
            self.w.lost[stream.index()] = true;
            return None;
        }
        if self.state.stream_room(stream) == 0 {
            self.w.stats.waits += 1;
            self.wait("stream room", |st| st.stream_room(stream) > 0);
        }
        if self.w.rng.chance(self.w.case.faults.prepare_fail) {
            // An allocation or prepare_write failure: the glue records
            // the loss on the mapping.
            self.w.stats.prepare_failures += 1;
            self.w.lost[stream.index()] = true;
            return None;
        }
        let id = self.w.alloc(stream);
        let limits = self.w.limits(stream);
        if let Err(h) = self.state.add_sreq(stream, id, start) {
            assert!(
                self.opts.lenient_prepare,
                "add_sreq({stream:?}, {h}, {start}) refused"
            );
            // Put back unissued: nothing of it reaches the fs.
            let hi = &mut self.w.handles[h as usize];
            hi.issued = true;
            hi.terminated = 1;
            hi.released = 1;
            self.w.lost[stream.index()] = true;
            return None;
        }
        Some((id, limits))
    }

    fn issue(&mut self, stream: Stream, sreq: u32, start: u64, len: u64, nr_segs: u32) {
        // Its answer must find the folios it covers queued.
        self.publish_batch();
        assert!(self.state.set_sreq_len(stream, &sreq, len));
        if self.w.case.sender_collects {
            assert!(self.state.sending(stream, &sreq));
            self.w.handles[sreq as usize].sending = true;
        }
        let want = self.w.folios_over(start, start + len).len() as u32;
        assert_eq!(nr_segs, want, "sreq {start}+{len}: segments");
        self.w.stats.issued += 1;
        let op = Op {
            id: sreq,
            stream,
            pos: start,
            len,
        };
        self.w.submit(op);
        if stream == Stream::Upload && (self.inline || !self.w.case.async_upload) {
            // Sent from the issuer: 9p's RPC is answered before issue
            // returns.
            if let Some(i) = self.w.pool.iter().position(|o| o.id == op.id) {
                let op = self.w.pool.swap_remove(i);
                self.complete(op);
            }
            self.sent(op);
        } else if stream == Stream::Upload {
            // A worker's send lasts until the answer: see `step`.
            self.async_used = true;
        } else {
            // The cache's send returns before its answer.
            self.sent(op);
        }
    }
}

impl<const NS: usize, const NF: usize> IssuerSide<u32, usize> for Glue<NS, NF> {
    fn begin_upload(&mut self) -> StreamsAvail {
        if !self.opts.old_activation && self.w.case.avail.upload {
            self.state.activate(Stream::Upload);
        }
        self.w.case.avail
    }

    fn avail(&mut self) -> StreamsAvail {
        self.w.case.avail
    }

    fn unanswered_uploads(&mut self) -> usize {
        self.state.unanswered(Stream::Upload)
    }

    fn folio_room(&mut self) -> usize {
        if self.room_hint == 0 {
            self.publish();
            self.room_hint = self.state.folio_room();
        }
        self.room_hint
    }

    fn kick_collector(&mut self) {
        self.publish_batch();
        if !self.opts.no_collector_kick {
            self.collector();
        }
    }

    fn zero(&mut self, folio: &mut usize, from: u64, to: u64) {
        let f = &self.w.case.folios[*folio];
        assert!(f.dirty.is_none(), "folio {folio}: a streaming folio zeroed");
        assert!(from <= to && to <= f.size);
        let (a, b) = ((f.pos + from) as usize, (f.pos + to) as usize);
        self.w.page_cache[a..b].fill(0);
        self.w.zeroed[*folio] = true;
    }

    fn note_i_size(&mut self, folio_end: u64, i_size: u64) {
        assert_eq!(i_size, self.w.case.i_size);
        assert!(folio_end > 0);
    }

    fn report(&mut self, folio: &usize, what: Report) {
        let f = &self.w.kinds[*folio];
        assert_eq!(
            what == Report::NotUptodate,
            f.refused(),
            "folio {folio} {f:?}: reported {what:?}"
        );
    }

    fn send_inline(&mut self, on: bool) {
        assert_ne!(self.inline, on, "send_inline({on}) twice");
        self.inline = on;
    }

    fn wait_answered(&mut self) {
        self.publish();
        self.wait("uploads answered", |st| st.unanswered(Stream::Upload) == 0);
    }

    fn start_writeback(&mut self, folio: usize, pos: u64, data_end: u64) -> Result<(), ()> {
        self.check_start(folio);
        assert_eq!(pos, self.w.case.folios[folio].pos);
        self.w.data_end[folio] = data_end;
        // As the kernel's issuer, queued in batches (`issue::FolioBatch`).
        if self.batch.len() >= self.batch_max {
            self.publish_batch();
        }
        self.batch.push((folio, pos, data_end));
        if self.batch_max == 0 {
            self.publish_batch();
        }
        self.room_hint = self.room_hint.saturating_sub(1);
        Ok(())
    }

    fn end_unwritten(&mut self, folio: usize) {
        self.check_start(folio);
        self.w.end(folio);
    }
}

impl<const NS: usize, const NF: usize> Glue<NS, NF> {
    /// Queues the batched folios, with the position of the last.
    fn publish_batch(&mut self) {
        if let Some(&(_, pos, _)) = self.batch.last() {
            self.state.set_issued_to(pos);
        }
        for (folio, _, data_end) in std::mem::take(&mut self.batch) {
            if self.state.push_folio(folio, data_end).is_err() {
                panic!("folio {folio}: queue full although room was checked");
            }
        }
    }

    /// Queues the batched folios and publishes the issuer's position.
    fn publish(&mut self) {
        self.publish_batch();
        self.state.set_issued_to(self.unpublished);
    }

    /// Checks that folio `i`'s writeback may start now.
    fn check_start(&mut self, i: usize) {
        assert!(!self.w.started[i], "folio {i}: writeback started twice");
        self.w.started[i] = true;
        assert!(!self.inline, "folio {i}: writeback started while inline");
        if self.last == Some(i) {
            // The truncation race: the file looks clean from here on, so
            // no upload may still be on its way.
            assert_eq!(
                self.state.unanswered(Stream::Upload),
                0,
                "last folio {i}: writeback started with uploads unanswered"
            );
            assert!(
                !self.w.pool.iter().any(|o| o.stream == Stream::Upload),
                "last folio {i}: writeback started with an upload at the fs"
            );
        }
    }

    /// Runs background work until `cond` holds; a deadlock fails.
    fn wait(
        &mut self,
        what: &str,
        cond: impl Fn(&WriteState<u32, usize, NS, Vec<Option<(usize, u64)>>>) -> bool,
    ) {
        while !cond(&self.state) {
            if !self.step() {
                let st = &self.state;
                panic!(
                    "deadlock: waiting for {what} with nothing at the fs; issued_to {}, \
                     collected_to {}, streams {:?}, folio room {}, unpublished {}",
                    st.issued_to(),
                    st.collected_to(),
                    Stream::ALL.map(|s| (
                        st.is_active(s),
                        st.stream_collected_to(s),
                        st.uncollected(s)
                    )),
                    st.folio_room(),
                    self.unpublished
                );
            }
        }
    }

    /// Completes one random subrequest; false if none is at the fs.
    fn step(&mut self) -> bool {
        if self.w.pool.is_empty() {
            return false;
        }
        let i = self.w.rng.below(self.w.pool.len() as u64) as usize;
        let op = self.w.pool.swap_remove(i);
        self.complete(op);
        if op.stream == Stream::Upload {
            // A worker sending to 9p: its send returns with the answer.
            self.sent(op);
        }
        true
    }

    /// The send of `op` has returned: if it was marked and succeeded
    /// meanwhile, its sender collects.
    fn sent(&mut self, op: Op) {
        let h = &mut self.w.handles[op.id as usize];
        if !std::mem::take(&mut h.sending) {
            return;
        }
        if self.state.sent(op.stream, op.pos) {
            self.sender_collect();
        }
    }

    /// One `collect`, with the checks of every folio it ended.
    fn collect_pass(&mut self) -> crate::engine::state::Collected {
        let c = self.state.collect(&mut self.w);
        let collected = Stream::ALL.map(|s| {
            self.state
                .is_active(s)
                .then(|| self.state.stream_collected_to(s))
        });
        for i in std::mem::take(&mut self.w.ended_now) {
            self.w.check_ended(i, collected);
        }
        c
    }

    /// A sender's (or the issuer's last) collection: no retryer.
    fn sender_collect(&mut self) {
        for round in 0.. {
            assert!(round < 10_000, "sender collection loops");
            let c = self.collect_pass();
            if c.done || !c.progress {
                break;
            }
        }
    }

    /// The filesystem answers `op`.
    fn complete(&mut self, op: Op) {
        let (result, retry) = self.w.perform(op);
        let wake = self.state.terminated(op.stream, &op.id, result, retry);
        // A second completion must be ignored.
        assert!(!self.state.terminated(op.stream, &op.id, 1, false) || wake);
        // A collector waiting for the stream to be quiet is woken by every
        // completion, deferred ones too.
        let s = op.stream.index();
        let resume = self.retry_waiting[s] && self.state.in_flight(op.stream) == 0;
        if resume {
            self.retry_waiting[s] = false;
        }
        if wake || resume || (!self.w.case.wake_only && self.w.rng.chance(200)) {
            self.collector();
        }
    }

    /// The collector work item.
    fn collector(&mut self) {
        for round in 0.. {
            assert!(round < 10_000, "collector loops");
            let c = self.collect_pass();
            let mut again = false;
            for s in Stream::ALL {
                if *c.need_retry.get(s) {
                    if self.state.in_flight(s) == 0 {
                        self.retry(s);
                        again = true;
                    } else {
                        // The kernel's retryer sleeps until it is quiet.
                        self.retry_waiting[s.index()] = true;
                    }
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
            assert_eq!(p.stream, stream);
            assert!(p.attempts < self.w.case.max_attempts);
            if self.w.rng.chance(self.w.case.faults.retry_alloc_fail) {
                // No subrequest to send the piece with: fail it rather
                // than come back to it for ever.
                self.w.faults_hit[stream.index()] = true;
                assert!(self.state.fail_retry(stream, p.index, -ENOMEM));
                assert!(!self.state.fail_retry(stream, p.index, -ENOMEM));
                continue;
            }
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

/// The issuer: the engine's feeder over the simulated glue.
pub(crate) struct Sim<const NS: usize, const NF: usize> {
    /// Glue and world.
    g: Glue<NS, NF>,
    /// The kernel's planning code.
    feeder: Feeder<u32>,
}

impl<const NS: usize, const NF: usize> Sim<NS, NF> {
    /// Sets up the world of `case`.
    pub(crate) fn new(case: &Case) -> Self {
        Self::with_opts(case, Opts::default())
    }

    /// Sets up the world of `case` with a glue differing by `opts`.
    pub(crate) fn with_opts(case: &Case, opts: Opts) -> Self {
        let mut rng = Rng::new(case.seed ^ 0x5eed);
        let extent = case
            .folios
            .last()
            .map_or(0, |f| f.pos + f.size)
            .max(case.i_size) as usize;
        // Never 0, so that a missed zeroing shows.
        let page_cache: Vec<u8> = (0..extent).map(|_| rng.next_u64() as u8 | 1).collect();
        let total: u64 = case.folios.iter().map(|f| f.size).sum();
        let n = case.folios.len();
        let mut w = World {
            case: case.clone(),
            rng,
            kinds: case.folios.clone(),
            original: page_cache.clone(),
            page_cache,
            expect: [vec![false; extent], vec![false; extent]],
            stored: [vec![0; extent], vec![0; extent]],
            written: [vec![0; extent], vec![0; extent]],
            pool: Vec::new(),
            handles: Vec::new(),
            ended: vec![0; n],
            ended_now: Vec::new(),
            data_end: vec![0; n],
            fed: vec![None; n],
            started: vec![false; n],
            zeroed: vec![false; n],
            failed_calls: [0; NR_STREAMS],
            faults_hit: [false; NR_STREAMS],
            hole_hit: [false; NR_STREAMS],
            lost: [false; NR_STREAMS],
            max_ops: (total + 1000) * (u64::from(case.max_attempts) + 2),
            ops: 0,
            stats: Stats::default(),
        };
        for i in 0..n {
            w.model_folio(i);
        }
        let start = case.folios.first().map_or(0, |f| f.pos);
        let batch_max = w.rng.below(17) as usize;
        // Folio slots on the heap, as the kernel glue allocates them.
        let slots = (0..NF).map(|_| None).collect::<Vec<_>>();
        let mut state = WriteState::with_folio_slots(start, case.max_attempts, slots);
        // The cache stream takes part from the request's creation; the
        // upload stream once the filesystem has seen data for the server.
        if case.avail.cache {
            state.activate(Stream::Cache);
        }
        Sim {
            g: Glue {
                state,
                w,
                opts,
                inline: false,
                async_used: false,
                room_hint: 0,
                unpublished: start,
                last: None,
                retry_waiting: [false; NR_STREAMS],
                batch: Vec::new(),
                batch_max,
            },
            feeder: Feeder::new(),
        }
    }

    /// Writes the case back and checks the outcome.
    pub(crate) fn run(mut self) -> Outcome {
        let case = self.g.w.case.clone();
        let n = case.folios.len();
        let mut upload_active = false;
        let mut redirtied = false;
        for i in 0..n {
            if self.g.opts.old_activation && !upload_active && !self.g.w.kinds[i].copy_to_cache {
                // As writepages did, looking at the folio before its wait.
                if case.avail.upload {
                    self.g.state.activate(Stream::Upload);
                }
                upload_active = true;
            }
            // No other folio tagged dirty: those before are under
            // writeback or clean, unless one was redirtied.
            let last = i + 1 == n && !redirtied;
            while let Some(wait) = self.feeder.wait_needed(&mut self.g, last) {
                self.g.publish();
                match wait {
                    Wait::Answered => {
                        assert!(last);
                        self.g.w.stats.last_drains += 1;
                        self.g
                            .wait("the last drain", |st| st.unanswered(Stream::Upload) == 0);
                    }
                    Wait::FolioRoom => {
                        self.g.w.stats.waits += 1;
                        self.g.wait("folio room", |st| st.folio_room() > 0);
                    }
                }
                self.g.room_hint = 0;
                // Unlocked meanwhile: a copy-to-cache folio may have been
                // written to.
                let k = &mut self.g.w.kinds[i];
                if k.copy_to_cache && k.turns_plain {
                    k.copy_to_cache = false;
                    self.g.w.stats.turned_plain += 1;
                    self.g.w.model_folio(i);
                }
            }
            let k = self.g.w.kinds[i].clone();
            let ff = FeedFolio {
                pos: k.pos,
                size: k.size,
                kind: k.kind(),
                uptodate: k.uptodate,
                i_size: case.i_size,
                last,
                writethrough: false,
            };
            self.g.last = last.then_some(i);
            let fed = match self.feeder.write_folio(&mut self.g, i, &ff) {
                Fed::Written => {
                    self.g.unpublished = k.pos + k.size;
                    FedAs::Written
                }
                Fed::Skipped => FedAs::Skipped,
                Fed::NotUptodate => FedAs::NotUptodate,
                Fed::Redirty(f) => {
                    assert_eq!(f, i);
                    assert!(!self.g.w.started[i]);
                    redirtied = true;
                    FedAs::Redirty
                }
                Fed::QueueFull => panic!("folio {i}: queue full"),
            };
            assert!(!self.g.inline, "folio {i}: left sending inline");
            self.check_fed(i, &k, fed);
            self.g.w.fed[i] = Some(fed);
            let n = self.g.w.rng.below(case.bg_per_folio + 1);
            for _ in 0..n {
                self.g.step();
            }
        }
        // end_issue: what is left is sent inline, as it is waited for.
        self.g.publish();
        self.g.send_inline(true);
        self.feeder.flush_end(&mut self.g);
        self.g.send_inline(false);
        assert!(self.feeder.is_idle());
        self.g.state.all_queued();
        if self.g.w.case.sender_collects {
            if self.g.async_used {
                self.g.wait("uploads at the end", |st| {
                    st.unanswered(Stream::Upload) == 0
                });
            }
            // The issuer's last collection, in place of the kick.
            self.g.sender_collect();
        } else {
            self.g.collector();
            if self.g.async_used {
                self.g.wait("uploads at the end", |st| {
                    st.unanswered(Stream::Upload) == 0
                });
            }
        }
        while !self.g.state.is_done() {
            assert!(
                self.g.step(),
                "deadlock: request not done, nothing at the fs"
            );
        }
        self.finish()
    }

    /// Checks what the feeder did with folio `i` (as it was fed) against
    /// the model.
    fn check_fed(&self, i: usize, f: &SimFolio, fed: FedAs) {
        let (up, cache) = model(f, self.g.w.case.i_size, self.g.w.case.avail);
        let want = if f.grouped {
            if f.pos >= self.g.w.case.i_size {
                FedAs::Skipped
            } else {
                FedAs::Redirty
            }
        } else if f.refused() {
            FedAs::NotUptodate
        } else if up.is_some() || cache.is_some() {
            FedAs::Written
        } else {
            FedAs::Skipped
        };
        assert_eq!(fed, want, "folio {i} {f:?}");
    }

    /// Final checks.
    fn finish(self) -> Outcome {
        let w = &self.g.w;
        assert!(w.pool.is_empty());
        for (i, n) in w.ended.iter().enumerate() {
            let want = u32::from(w.fed[i] != Some(FedAs::Redirty));
            assert_eq!(*n, want, "folio {i} ({:?}) ended {n} times", w.fed[i]);
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
        for s in Stream::ALL {
            let i = s.index();
            for (b, n) in w.written[i].iter().enumerate() {
                assert!(*n == 0 || w.expect[i][b], "stream {s:?} byte {b} written");
            }
            assert_eq!(
                w.failed_calls[i] > 0,
                self.g.state.stream_error(s).is_some(),
                "stream {s:?}: error state and reports disagree"
            );
            // A write into the zero-writing hole must end in a failure,
            // not a hang.
            if w.hole_hit[i] {
                assert_eq!(w.failed_calls[i], 1, "stream {s:?}: hole but no failure");
            }
        }
        // Beyond-EOF tails of whole folios that were written must have
        // been zeroed, and nothing else.
        let i_size = w.case.i_size;
        let mut zeroed = vec![false; w.page_cache.len()];
        for (i, f) in w.kinds.iter().enumerate() {
            let (up, cache) = model(f, i_size, w.case.avail);
            let written = up.is_some() || cache.is_some();
            let want = written && f.dirty.is_none() && f.pos + f.size > i_size;
            assert_eq!(w.zeroed[i], want, "folio {i} {f:?}: zeroed");
            if want {
                zeroed[i_size as usize..(f.pos + f.size) as usize].fill(true);
            }
        }
        for (b, z) in zeroed.iter().enumerate() {
            let want = if *z { 0 } else { w.original[b] };
            assert_eq!(w.page_cache[b], want, "page cache byte {b} (zeroed: {z})");
        }
        Outcome {
            stats: w.stats.clone(),
            fed: w.fed.clone(),
            lost: w.lost,
            failed_calls: w.failed_calls,
            written: [0, 1].map(|s| w.written[s].iter().map(|n| *n > 0).collect()),
        }
    }
}

/// Describes a case for a failure report.
pub(crate) fn describe(case: &Case) -> String {
    format!("{case:#?}")
}

// SPDX-License-Identifier: GPL-2.0

//! The issuer's per-folio planning: what to do with one locked dirty folio,
//! and in which order.
//!
//! The kernel's issuer (`issue.rs`) walks the dirty folios, waits for room
//! or for the uploads' answers with the folio unlocked, and reads what the
//! folio is; from there the [`Feeder`] decides everything: which streams
//! get which bytes ([`plan_folio`]), when the folio's writeback starts and
//! when it is queued for collection, in which order the two streams'
//! [`Tiler`]s are fed and flushed, and the last dirty folio's path. The
//! glue does what it is told through [`IssuerSide`]. The host tests drive
//! the same `Feeder` through a simulated glue, so they test this code, not
//! a model of it.
//!
//! The order of one written folio, and why:
//!
//! 1. A folio of another write group is not written now: both streams are
//!    flushed, since the next folio is not contiguous with what they build,
//!    and the glue redirties it (C `netfs_write_folio()`).
//! 2. Data for the server ([`IssuerSide::begin_upload`]) before anything is
//!    planned: the filesystem decides there whether the upload stream is
//!    available, and the upload stream must take part in the collection
//!    before a subrequest is added to it, for every folio (a copy-to-cache
//!    folio may turn plain dirty while it waited unlocked).
//! 3. A folio neither up to date nor a streaming write is refused: it
//!    would upload bytes nobody wrote or read. A folio with nothing to
//!    write (beyond EOF, an empty dirty range, no stream for its data) is
//!    ended at once. Either way, as the last dirty folio it first settles
//!    the uploads (5).
//! 4. Zero the tail beyond EOF, note the file size, trace.
//! 5. The last dirty folio of the file: its upload span is added, what is
//!    built is sent from the issuer itself, and every upload is waited for
//!    (retries included), all before its writeback starts; see
//!    [`Feeder::write_folio`].
//! 6. Start writeback and queue the folio, publishing its start (never
//!    more: an empty stream counts as collected up to the published
//!    position, so a folio's end is published only once its spans are
//!    added, by the glue, with the next folio's start).
//! 7. Feed the streams; flush both when the dirty data ends before the
//!    folio does.

use super::spans::{plan_folio, FolioInfo, FolioPlan, StreamsAvail};
use super::stream::{PerStream, Stream};
use super::tile::{StreamSink, Tiler};

/// What netfs recorded about a dirty folio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FolioKind {
    /// An ordinary dirty folio.
    Plain,
    /// A streaming write: only `[offset, offset + len)` of the folio is
    /// valid (the folio is not up to date) and may be written.
    Streaming {
        /// Start of the dirty bytes in the folio.
        offset: u64,
        /// Number of dirty bytes.
        len: u64,
    },
    /// Data read from the server, only to be copied to the cache.
    CopyToCache,
    /// A folio of another write group (ceph-style ordering): not written
    /// by this request.
    Grouped,
}

/// What the issuer knows about a locked dirty folio, read after its last
/// unlocked wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FeedFolio {
    /// File position of the first byte.
    pub(crate) pos: u64,
    /// Size in bytes.
    pub(crate) size: u64,
    /// What netfs recorded about it.
    pub(crate) kind: FolioKind,
    /// The folio is up to date.
    pub(crate) uptodate: bool,
    /// The file size now.
    pub(crate) i_size: u64,
    /// No other folio of the file is tagged dirty: starting this one's
    /// writeback makes the file look clean.
    pub(crate) last: bool,
    /// A writethrough's folio: the writer is still growing the file, so,
    /// as netfs does, reaching EOF neither flushes the subrequest (the
    /// next folio would be a subrequest of its own) nor zeroes the tail.
    pub(crate) writethrough: bool,
}

/// What the issuer must wait for, with the folio unlocked, before
/// [`Feeder::write_folio`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Every upload answered (retries included): the folio is the file's
    /// last dirty one, see [`Feeder::write_folio`].
    Answered,
    /// A free slot in the folio queue.
    FolioRoom,
}

/// What the issuer decided about a folio, told to the glue before it acts
/// on it (for the trace, the warning and the mapping's error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Report {
    /// Written to the server only (`netfs_folio_trace_store`).
    Store,
    /// Written to the server and the cache (`store_plus`).
    StorePlus,
    /// Written to the cache only (`store_copy`).
    StoreCopy,
    /// Nothing to write (`cancel_store`).
    CancelStore,
    /// Dirty, neither up to date nor a streaming write: not written; the
    /// glue warns and records `EIO` on the mapping.
    NotUptodate,
}

/// How a folio given to [`Feeder::write_folio`] ended up; `L` is the
/// glue's folio.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fed<L> {
    /// Under writeback and queued for collection; its spans are fed.
    Written,
    /// Its writeback was started and ended at once, nothing written
    /// ([`Report::CancelStore`]).
    Skipped,
    /// Refused ([`Report::NotUptodate`]); ended as [`Fed::Skipped`].
    NotUptodate,
    /// Of another write group: the glue redirties and unlocks it.
    Redirty(L),
    /// [`IssuerSide::start_writeback`] could not queue it (the glue ended
    /// its writeback): the glue stops the walk with an error.
    QueueFull,
}

/// The kernel's side of the issuer: the request, the folio and the
/// collection state, as the [`Feeder`] needs them. `L` is the glue's
/// locked folio; each path of [`Feeder::write_folio`] consumes it once.
pub(crate) trait IssuerSide<S, L>: StreamSink<S> {
    /// First data for the server in this request: netfs's
    /// `begin_writeback` (the filesystem decides there whether the upload
    /// stream is available), then activation of the upload stream in the
    /// collection state if it is. Returns the streams' availability after
    /// it. Called for every folio with data for the server, so it must be
    /// cheap once done.
    fn begin_upload(&mut self) -> StreamsAvail;
    /// The streams' availability, without starting anything.
    fn avail(&mut self) -> StreamsAvail;
    /// Uploads not yet answered for good (in flight, or waiting for a
    /// retry).
    fn unanswered_uploads(&mut self) -> usize;
    /// Free slots in the folio queue. May be a lower bound kept without
    /// the lock (only the collector frees slots), but 0 only once looked
    /// at under the lock, where the issuer's position is published first.
    fn folio_room(&mut self) -> usize;
    /// Has the collector run (queues its work), so that it sees what the
    /// issuer published: called before a wait for folio room.
    fn kick_collector(&mut self);
    /// Zeroes `[from, to)` of the folio (offsets in the folio).
    fn zero(&mut self, folio: &mut L, from: u64, to: u64);
    /// Updates the request's file size snapshot for a folio ending at
    /// `folio_end` (netfs's `wreq->i_size`).
    fn note_i_size(&mut self, folio_end: u64, i_size: u64);
    /// What was decided about the folio (trace, warning, error).
    fn report(&mut self, folio: &L, what: Report);
    /// While on, uploads are sent from the issuer itself; else as
    /// configured (workers, if any).
    fn send_inline(&mut self, on: bool);
    /// Waits until every upload is answered, retries included, publishing
    /// the issuer's position first.
    fn wait_answered(&mut self);
    /// Starts writeback on the folio and queues it for collection with its
    /// data ending at `data_end`, publishing `pos` as the issuer's
    /// position. On `Err` the folio could not be queued and the glue has
    /// ended its writeback.
    fn start_writeback(&mut self, folio: L, pos: u64, data_end: u64) -> Result<(), ()>;
    /// Starts and ends the folio's writeback at once, nothing written.
    fn end_unwritten(&mut self, folio: L);
}

/// The planning half of the issuer: owns the two streams' [`Tiler`]s.
pub(crate) struct Feeder<S> {
    /// The subrequest builders of the upload and the cache stream.
    tilers: PerStream<Tiler<S>>,
}

impl<S> Feeder<S> {
    /// A feeder with nothing built.
    pub(crate) const fn new() -> Self {
        Self {
            tilers: PerStream {
                upload: Tiler::new(Stream::Upload),
                cache: Tiler::new(Stream::Cache),
            },
        }
    }

    /// Issues what both streams are building.
    pub(crate) fn flush_all(&mut self, sink: &mut impl StreamSink<S>) {
        self.tilers.upload.flush(sink);
        self.tilers.cache.flush(sink);
    }

    /// Issues what both streams are building at the end of the request:
    /// the cache's first, as its writes are asynchronous, while the upload,
    /// sent inline there, returns only with 9p's answer.
    pub(crate) fn flush_end(&mut self, sink: &mut impl StreamSink<S>) {
        self.tilers.cache.flush(sink);
        self.tilers.upload.flush(sink);
    }

    /// Whether no subrequest is being built.
    #[cfg_attr(not(test), expect(dead_code, reason = "the host tests inspect it"))]
    pub(crate) fn is_idle(&self) -> bool {
        self.tilers.upload.building().is_none() && self.tilers.cache.building().is_none()
    }

    /// What to wait for, with the folio unlocked, before the folio can be
    /// written; `None`: write it now. After a wait, read the folio again
    /// (it may have changed) and ask again.
    ///
    /// The file's last dirty folio waits for every upload first, so that
    /// only its own upload is in flight while it is locked (see
    /// [`Self::write_folio`]). Without a free folio slot, what the tilers
    /// build is issued before waiting: the folios queued so far may all
    /// belong to subrequests still being built, and nothing would ever
    /// free a slot; and the collector is kicked.
    pub(crate) fn wait_needed<L>(
        &mut self,
        side: &mut impl IssuerSide<S, L>,
        last: bool,
    ) -> Option<Wait> {
        if last && side.unanswered_uploads() > 0 {
            return Some(Wait::Answered);
        }
        if side.folio_room() == 0 {
            self.flush_all(side);
            if side.folio_room() == 0 {
                // An empty stream moves on to the published position only
                // when the collector runs, and nothing may be in flight to
                // run it: every prepare over the queued folios may have
                // failed. Without this the wait could last for ever.
                side.kick_collector();
                return Some(Wait::FolioRoom);
            }
        }
        None
    }

    /// Sends what the upload stream is building from the issuer itself,
    /// and waits until every upload is answered, retries included.
    ///
    /// Called with the file's last dirty folio locked and still tagged
    /// dirty, before its writeback starts: see [`Self::write_folio`].
    fn settle_uploads<L>(&mut self, side: &mut impl IssuerSide<S, L>) {
        side.send_inline(true);
        self.tilers.upload.flush(side);
        side.send_inline(false);
        side.wait_answered();
    }

    /// Ends a folio with nothing written, settling the uploads first if it
    /// is the file's last dirty one (its writeback start makes the file
    /// look clean).
    fn skip<L>(&mut self, side: &mut impl IssuerSide<S, L>, folio: L, last: bool) {
        if last {
            self.settle_uploads(side);
        }
        side.end_unwritten(folio);
    }

    /// Writes one locked folio described by `f`.
    ///
    /// Starting writeback on the file's last dirty folio clears the file's
    /// last dirty tag: from then on a flush of the whole file returns at
    /// once, and 9p's setattr goes on to truncate on the server. An upload
    /// still on its way then could land after the truncation and regrow the
    /// file with stale bytes (and 9p's completion could write back a stale
    /// `i_size`). So the last dirty folio's writeback starts only once every
    /// upload, its own included, has been answered: earlier ones are waited
    /// for with the folio unlocked but still tagged ([`Wait::Answered`]);
    /// its own bytes go out with it locked, which keeps them stable and
    /// truncation out. Until then a flush finds the tag, enters writepages
    /// and waits for this request on the writeback lock. The C engine
    /// starts writeback first and leaves that window open.
    pub(crate) fn write_folio<L>(
        &mut self,
        side: &mut impl IssuerSide<S, L>,
        mut folio: L,
        f: &FeedFolio,
    ) -> Fed<L> {
        let last = f.last;
        if f.kind == FolioKind::Grouped {
            if f.pos >= f.i_size {
                // Beyond EOF: nothing to write for any group (C checks
                // EOF before the group).
                side.report(&folio, Report::CancelStore);
                self.skip(side, folio, last);
                return Fed::Skipped;
            }
            // Not ours to write yet; what the streams build stops here,
            // as the next folio is not contiguous with it.
            self.flush_all(side);
            return Fed::Redirty(folio);
        }
        let copy_to_cache = f.kind == FolioKind::CopyToCache;
        let avail = if copy_to_cache {
            side.avail()
        } else {
            side.begin_upload()
        };
        let dirty = match f.kind {
            FolioKind::Streaming { offset, len } => Some((offset, len)),
            _ => None,
        };
        // A dirty folio that is neither up to date nor a streaming write
        // would upload bytes nobody wrote or read: refuse, loudly.
        if dirty.is_none() && !copy_to_cache && !f.uptodate {
            side.report(&folio, Report::NotUptodate);
            self.skip(side, folio, last);
            return Fed::NotUptodate;
        }
        let info = FolioInfo {
            pos: f.pos,
            size: f.size,
            dirty,
            copy_to_cache,
            i_size: f.i_size,
        };
        let FolioPlan::Write {
            upload,
            cache,
            flush_upload,
            flush_cache,
            mut zero_from,
            data_end,
            flush_after,
            mut to_eof,
        } = plan_folio(&info, avail)
        else {
            side.report(&folio, Report::CancelStore);
            self.skip(side, folio, last);
            return Fed::Skipped;
        };
        if upload.is_none() && cache.is_none() {
            side.report(&folio, Report::CancelStore);
            self.skip(side, folio, last);
            return Fed::Skipped;
        }
        if f.writethrough {
            zero_from = None;
            to_eof = false;
        }
        if let Some(z) = zero_from {
            side.zero(&mut folio, z, f.size);
        }
        side.note_i_size(f.pos.saturating_add(f.size), f.i_size);
        side.report(
            &folio,
            match (upload.is_some(), cache.is_some()) {
                (true, true) => Report::StorePlus,
                (true, false) => Report::Store,
                _ => Report::StoreCopy,
            },
        );
        if flush_upload {
            self.tilers.upload.flush(side);
        }
        if last {
            // Its own upload is added and settled with the folio still
            // locked and tagged, before its writeback starts.
            if let Some(s) = upload {
                self.tilers.upload.add(side, s.pos, s.len, to_eof);
            }
            self.settle_uploads(side);
        }
        if side.start_writeback(folio, f.pos, data_end).is_err() {
            return Fed::QueueFull;
        }
        // The cache construct covers only folios queued before this one, so
        // flushing it before or after the push is alike (C flushes before);
        // the kernel has always done it here.
        if flush_cache {
            self.tilers.cache.flush(side);
        }
        if !last {
            if let Some(s) = upload {
                self.tilers.upload.add(side, s.pos, s.len, to_eof);
            }
        }
        if let Some(s) = cache {
            self.tilers.cache.add(side, s.pos, s.len, to_eof);
        }
        if flush_after {
            self.flush_all(side);
        }
        Fed::Written
    }
}

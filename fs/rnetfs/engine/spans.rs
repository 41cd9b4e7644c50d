// SPDX-License-Identifier: GPL-2.0

//! The span generator: which bytes of a folio go to which stream.
//!
//! This mirrors the decisions of C `netfs_write_folio()` but deals only in
//! file positions, so that direct I/O and writethrough can share it.

/// What the issuer knows about one folio about to be written back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FolioInfo {
    /// File position of the folio's first byte.
    pub(crate) pos: u64,
    /// Folio size in bytes.
    pub(crate) size: u64,
    /// Dirty sub-range `(offset, len)` of a streaming write (a partial
    /// write to a folio that is not uptodate); `None` means the whole folio.
    pub(crate) dirty: Option<(u64, u64)>,
    /// The folio is only to be copied to the cache, not uploaded.
    pub(crate) copy_to_cache: bool,
    /// File size sampled when writeback of the folio starts.
    pub(crate) i_size: u64,
}

impl FolioInfo {
    /// A whole dirty folio (no streaming write), for the server and the
    /// cache.
    #[cfg_attr(
        not(any(test, CONFIG_RNETFS_KUNIT_TEST)),
        expect(dead_code, reason = "the tests build folios with it")
    )]
    pub(crate) const fn whole(pos: u64, size: u64, i_size: u64) -> Self {
        Self {
            pos,
            size,
            dirty: None,
            copy_to_cache: false,
            i_size,
        }
    }
}

/// Which streams the request has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StreamsAvail {
    /// Stream 0 (upload to the server) is available.
    pub(crate) upload: bool,
    /// Stream 1 (write to the local cache) is available.
    pub(crate) cache: bool,
}

/// A byte range in file positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    /// First byte.
    pub(crate) pos: u64,
    /// Length in bytes, never 0 in a plan.
    pub(crate) len: u64,
}

/// What to do with one folio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FolioPlan {
    /// Nothing of the folio lies below EOF (mmap leftover, or the dirty
    /// part of a streaming folio lies beyond EOF): end writeback at once,
    /// nothing to send.
    BeyondEof,
    /// Send the spans; with both spans `None` end writeback at once.
    Write {
        /// Span for stream 0.
        upload: Option<Span>,
        /// Span for stream 1.
        cache: Option<Span>,
        /// Flush the upload construct before adding: stream 0 skips data
        /// here, so what follows must not be merged with what precedes.
        flush_upload: bool,
        /// Flush the cache construct before adding, for the same reason.
        flush_cache: bool,
        /// Zero the folio from this offset to its end before sending: the
        /// tail lies beyond EOF and must not leak stale page contents.
        zero_from: Option<u64>,
        /// Position up to which the folio's data matters: the folio is done
        /// once every active stream has collected up to here.
        data_end: u64,
        /// Flush both constructs after adding: the dirty data ends before
        /// the folio does, so the next folio's data is not contiguous.
        flush_after: bool,
        /// The data reaches EOF: pass to `Tiler::add` so that the
        /// subrequest is issued right away rather than waiting for more.
        to_eof: bool,
    },
}

/// Decides which parts of a folio go to which stream.
pub(crate) fn plan_folio(f: &FolioInfo, avail: StreamsAvail) -> FolioPlan {
    if f.pos >= f.i_size {
        return FolioPlan::BeyondEof;
    }
    // Offset of EOF in the folio, possibly beyond its end; i_size > pos.
    let eof_off = f.i_size.saturating_sub(f.pos);
    let streaming = f.dirty.is_some();
    let (foff, dirty_end) = match f.dirty {
        Some((off, len)) => (off, off.saturating_add(len).min(f.size)),
        None => (0, f.size),
    };
    if foff >= eof_off {
        return FolioPlan::BeyondEof;
    }
    let (fend, to_eof) = if dirty_end > eof_off {
        (eof_off, true)
    } else {
        (dirty_end, dirty_end == eof_off)
    };
    // Only a full folio may be zeroed: a streaming folio is not uptodate,
    // its bytes outside the dirty range are not ours to touch.
    let zero_from = (!streaming && f.size > eof_off).then_some(eof_off);
    if fend <= foff {
        // An empty dirty range: nothing to send.
        return FolioPlan::Write {
            upload: None,
            cache: None,
            flush_upload: false,
            flush_cache: false,
            zero_from: None,
            data_end: f.pos,
            flush_after: false,
            to_eof: false,
        };
    }
    let span = Span {
        pos: f.pos.saturating_add(foff),
        len: fend.saturating_sub(foff),
    };
    let upload = (avail.upload && !f.copy_to_cache).then_some(span);
    let cache = (avail.cache && !streaming).then_some(span);
    FolioPlan::Write {
        upload,
        cache,
        flush_upload: f.copy_to_cache || foff > 0,
        flush_cache: streaming,
        zero_from,
        data_end: f.pos.saturating_add(fend),
        flush_after: fend < f.size,
        to_eof,
    }
}

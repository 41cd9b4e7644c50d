// SPDX-License-Identifier: GPL-2.0

//! The per-stream subrequest builder.
//!
//! Each stream tiles its own subrequests over the data it is given, with
//! sizes set by the limits the filesystem returns when a subrequest starts,
//! so subrequests line up neither with folios nor with the other stream.

use super::stream::Stream;

/// Limits on one subrequest, given by the filesystem when it is prepared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Maximum length in bytes; 0 means unlimited.
    pub(crate) max_len: u64,
    /// Maximum number of segments; 0 means unlimited.
    pub(crate) max_segs: u32,
}

/// Where a [`Tiler`] gets subrequests from and sends them to.
pub(crate) trait StreamSink<S> {
    /// Begin a subrequest at `start` on `stream`: the glue allocates it,
    /// runs the filesystem's prepare_write, registers it (pending) in the
    /// `WriteState` and returns its handle and the limits.
    ///
    /// `None` means no subrequest could be set up (allocation failed, or
    /// the `WriteState` refused it); the glue has then recorded the loss
    /// on the mapping, and the [`Tiler`] drops the rest of the span it was
    /// adding for this stream: waiting or retrying here could last for
    /// ever, and the folios' other stream must go on.
    fn prepare(&mut self, stream: Stream, start: u64) -> Option<(S, Limits)>;
    /// The subrequest `[start, start + len)` with `nr_segs` segments is
    /// complete: issue it.
    fn issue(&mut self, stream: Stream, sreq: S, start: u64, len: u64, nr_segs: u32);
}

/// The subrequest being built.
struct Construct<S> {
    /// Handle from [`StreamSink::prepare`].
    sreq: S,
    /// File position of the first byte.
    start: u64,
    /// Bytes added so far.
    len: u64,
    /// Segments added so far.
    nr_segs: u32,
    /// Limits from [`StreamSink::prepare`].
    limits: Limits,
}

impl<S> Construct<S> {
    /// Position just past the last byte added.
    fn end(&self) -> u64 {
        self.start.saturating_add(self.len)
    }

    /// Whether no more may be added.
    fn is_full(&self) -> bool {
        (self.limits.max_len != 0 && self.len >= self.limits.max_len)
            || (self.limits.max_segs != 0 && self.nr_segs >= self.limits.max_segs)
    }
}

/// Builds the subrequests of one stream.
pub(crate) struct Tiler<S> {
    /// Stream passed to the sink.
    stream: Stream,
    /// The subrequest being built, if any.
    cur: Option<Construct<S>>,
}

impl<S> Tiler<S> {
    /// Creates a builder for `stream`.
    pub(crate) const fn new(stream: Stream) -> Self {
        Self { stream, cur: None }
    }

    /// Adds `[pos, pos + len)` as one segment.
    ///
    /// A range not contiguous with the construct issues the construct
    /// first. The range is split over as many subrequests as the limits
    /// require; with `to_eof` the last one is issued at once since no more
    /// data will follow it.
    ///
    /// Returns the number of bytes dropped because
    /// [`StreamSink::prepare`] failed: the rest of the range from there
    /// (0 normally). The next call starts a fresh subrequest.
    pub(crate) fn add(
        &mut self,
        sink: &mut impl StreamSink<S>,
        pos: u64,
        len: u64,
        to_eof: bool,
    ) -> u64 {
        // Nothing beyond u64::MAX can be addressed; clamp instead of
        // wrapping so that positions stay ascending.
        let mut remaining = len.min(u64::MAX.saturating_sub(pos));
        if remaining == 0 {
            return 0;
        }
        if self.cur.as_ref().is_some_and(|c| c.end() != pos) {
            self.flush(sink);
        }
        let mut pos = pos;
        while remaining > 0 {
            let mut c = match self.cur.take() {
                Some(c) => c,
                None => {
                    let Some((sreq, limits)) = sink.prepare(self.stream, pos) else {
                        // Nothing is being built (`cur` was empty), so
                        // nothing else is lost: the bytes of this range
                        // from here are, for this stream only.
                        return remaining;
                    };
                    Construct {
                        sreq,
                        start: pos,
                        len: 0,
                        nr_segs: 0,
                        limits,
                    }
                }
            };
            let room = match c.limits.max_len {
                0 => remaining,
                max => max.saturating_sub(c.len),
            };
            let part = remaining.min(room);
            if part == 0 {
                // Cannot happen (a full construct is never kept), but
                // issuing keeps the loop finite should that ever change.
                self.issue(sink, c);
                continue;
            }
            c.len = c.len.saturating_add(part);
            c.nr_segs = c.nr_segs.saturating_add(1);
            pos = pos.saturating_add(part);
            remaining = remaining.saturating_sub(part);
            if c.is_full() {
                // A full construct is issued right away, so the next turn
                // starts a fresh one and room is never 0 there: the loop
                // always progresses.
                self.issue(sink, c);
            } else {
                self.cur = Some(c);
            }
        }
        if to_eof {
            self.flush(sink);
        }
        0
    }

    /// Issues the construct, if any.
    pub(crate) fn flush(&mut self, sink: &mut impl StreamSink<S>) {
        if let Some(c) = self.cur.take() {
            self.issue(sink, c);
        }
    }

    /// `(start, len)` of the construct, if any.
    pub(crate) fn building(&self) -> Option<(u64, u64)> {
        self.cur.as_ref().map(|c| (c.start, c.len))
    }

    /// Hands `c` to the sink.
    fn issue(&self, sink: &mut impl StreamSink<S>, c: Construct<S>) {
        sink.issue(self.stream, c.sreq, c.start, c.len, c.nr_segs);
    }
}

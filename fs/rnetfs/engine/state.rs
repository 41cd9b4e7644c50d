// SPDX-License-Identifier: GPL-2.0

//! Collection state of one writeback request: the collector's and the
//! retryer's logic, without locking, allocation or kernel types.
//!
//! The glue keeps one [`WriteState`] per request under a spinlock. The
//! issuer registers subrequests and folios, completions mark subrequests,
//! and [`WriteState::collect`] retires them in file order and ends the
//! writeback of every folio that all active streams have got past.

use super::ring::{Ring, RingBuf, Slots};
use super::stream::{PerStream, Stream};
use super::window::Window;

/// `EIO`, reported when retries give up without an error of their own.
const EIO: i32 = 5;

/// Where a subrequest stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SreqState {
    /// Being built or at the filesystem.
    InFlight,
    /// All bytes written.
    Done,
    /// The rest of the bytes must be sent again.
    NeedRetry,
    /// Given up with this negative errno; the rest of the bytes are lost.
    Failed(i32),
}

/// One subrequest of one stream.
pub(crate) struct Sreq<S> {
    /// The glue's handle; `None` only once released.
    pub(crate) handle: Option<S>,
    /// File position of the first byte.
    pub(crate) start: u64,
    /// Length in bytes; 0 while the issuer is still building it.
    pub(crate) len: u64,
    /// Bytes written so far, over all attempts.
    pub(crate) transferred: u64,
    /// Where it stands.
    pub(crate) state: SreqState,
    /// Retries since the last attempt that made progress.
    pub(crate) attempts: u32,
    /// End of the range the current handle was issued for: `start + len`,
    /// or less when a retry had to send a shorter piece.
    pub(crate) piece_end: u64,
    /// Error of the last attempt that failed with a retryable error.
    pub(crate) last_error: Option<i32>,
    /// When it was handed to the filesystem (ns) and how many of its
    /// stream were in flight then, itself included: a sample for the
    /// upload window once answered. `None` for a retry.
    pub(crate) sent: Option<(u64, usize)>,
    /// Its sender has not returned from sending it: a success it meets
    /// meanwhile is collected by the sender, on its way out, rather than
    /// by a collector woken for it (see [`WriteState::sent`]).
    pub(crate) sending: bool,
    /// It succeeded while `sending`, and would have woken the collector.
    pub(crate) deferred: bool,
}

impl<S> Sreq<S> {
    /// Whether the issuer is done building it.
    fn issued(&self) -> bool {
        self.len > 0
    }

    /// Position just past the last byte.
    fn end(&self) -> u64 {
        self.start.saturating_add(self.len)
    }

    /// Position of the first byte not yet written.
    fn resume_at(&self) -> u64 {
        self.start.saturating_add(self.transferred)
    }
}

/// What the retryer is to send again for one subrequest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RetryPiece {
    /// Stream of the subrequest.
    pub(crate) stream: Stream,
    /// Index of the entry from the front of its stream, for
    /// [`WriteState::restart_sreq`].
    pub(crate) index: usize,
    /// File position of the first byte to send; the piece must be sent
    /// to this position, not to the subrequest's original start.
    pub(crate) start: u64,
    /// Position just past the last byte to send.
    pub(crate) end: u64,
    /// Retries since the last attempt that made progress.
    pub(crate) attempts: u32,
}

/// What [`WriteState::collect`] did and found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Collected {
    /// The stream holds subrequests to send again: once
    /// [`WriteState::in_flight`] is 0 for it, run the retryer.
    pub(crate) need_retry: PerStream<bool>,
    /// The request is finished: everything queued, collected and ended.
    pub(crate) done: bool,
    /// Something was released or ended, or a collected position moved:
    /// waiters for room may proceed.
    pub(crate) progress: bool,
}

/// How the subrequests before a position stand ([`WriteState::before`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Before {
    /// Every byte before it was written.
    Written,
    /// Some are still at the filesystem, being built or to be sent again.
    Pending,
    /// Some failed for good.
    Lost,
}

/// What the collector hands back to the glue.
pub(crate) trait CollectSink<S, F> {
    /// The subrequest is finished with: drop the glue's reference.
    fn release_sreq(&mut self, stream: Stream, s: S);
    /// Every active stream is past the folio's data: end its writeback.
    fn end_folio(&mut self, f: F);
    /// The stream lost data (called once per stream, with its first
    /// error): record it on the mapping so that fsync reports it.
    fn stream_failed(&mut self, stream: Stream, error: i32);
}

/// Collection state of one stream.
struct StreamState<S, const NS: usize> {
    /// Subrequests not yet collected, in ascending file order.
    sreqs: Ring<Sreq<S>, NS>,
    /// Everything before this position is collected.
    collected_to: u64,
    /// The stream takes part in the request.
    active: bool,
    /// First error of a failed subrequest.
    error: Option<i32>,
    /// [`CollectSink::stream_failed`] was called.
    failure_reported: bool,
    /// First position not written of the first failed subrequest: what
    /// was written contiguously from the start ends here.
    lost_from: Option<u64>,
}

impl<S, const NS: usize> StreamState<S, NS> {
    /// Creates an inactive stream collected up to `start`.
    const fn new(start: u64) -> Self {
        Self {
            sreqs: Ring::new(),
            collected_to: start,
            active: false,
            error: None,
            failure_reported: false,
            lost_from: None,
        }
    }

    /// Moves the collected position forward, never back.
    fn advance(&mut self, to: u64) -> bool {
        if to > self.collected_to {
            self.collected_to = to;
            true
        } else {
            false
        }
    }
}

/// Slots for the folios under writeback of one request, with their data
/// end: `[Option<(F, u64)>; N]` inline, or allocated by the caller.
pub(crate) trait FolioSlots<F>: Slots<(F, u64)> {}

impl<F, B: Slots<(F, u64)>> FolioSlots<F> for B {}

/// Collection state of one writeback request with up to `NS` uncollected
/// subrequests per stream and as many folios under writeback as `FB` has
/// slots.
pub(crate) struct WriteState<S, F, const NS: usize, FB: FolioSlots<F>> {
    /// The upload and the cache stream.
    streams: PerStream<StreamState<S, NS>>,
    /// Folios under writeback with their data end, in ascending order.
    folios: RingBuf<(F, u64), FB>,
    /// The issuer will add no subrequest before this position.
    issued_to: u64,
    /// The issuer is done.
    all_queued: bool,
    /// Every active stream is collected up to here.
    collected_to: u64,
    /// Retries without progress after which a subrequest fails.
    max_retries: u32,
    /// The upload stream's in-flight window.
    window: Window,
}

impl<S, F, const NS: usize, const NF: usize> WriteState<S, F, NS, [Option<(F, u64)>; NF]> {
    /// Creates the state of a request starting at file position `start`,
    /// with room for `NF` folios inline.
    pub(crate) const fn new(start: u64, max_retries: u32) -> Self {
        Self {
            streams: PerStream {
                upload: StreamState::new(start),
                cache: StreamState::new(start),
            },
            folios: RingBuf::new(),
            issued_to: start,
            all_queued: false,
            collected_to: start,
            max_retries,
            window: Window::new(NS, false),
        }
    }
}

impl<S, F, const NS: usize, FB: FolioSlots<F>> WriteState<S, F, NS, FB> {
    /// Creates the state of a request starting at file position `start`,
    /// with one folio per slot of `slots`.
    pub(crate) fn with_folio_slots(start: u64, max_retries: u32, slots: FB) -> Self {
        Self {
            streams: PerStream::from_fn(|_| StreamState::new(start)),
            folios: RingBuf::with_slots(slots),
            issued_to: start,
            all_queued: false,
            collected_to: start,
            max_retries,
            window: Window::new(NS, false),
        }
    }

    /// Bounds the uploads in flight by `window` (by default: fixed at `NS`).
    pub(crate) fn set_window(&mut self, window: Window) {
        self.window = window;
    }

    /// The upload stream's window as it stands.
    pub(crate) fn window(&self) -> &Window {
        &self.window
    }

    /// Makes `stream` take part; an inactive stream is ignored by
    /// collection and refuses subrequests.
    pub(crate) fn activate(&mut self, stream: Stream) {
        self.streams.get_mut(stream).active = true;
    }

    /// Whether `stream` takes part.
    pub(crate) fn is_active(&self, stream: Stream) -> bool {
        self.streams.get(stream).active
    }

    /// Publishes that the issuer will add no subrequest before `pos`.
    ///
    /// An empty active stream counts as collected up to here, so the
    /// issuer must publish a folio's start before adding its spans and its
    /// end only after.
    pub(crate) fn set_issued_to(&mut self, pos: u64) {
        if pos > self.issued_to {
            self.issued_to = pos;
        }
    }

    /// The position last published by [`Self::set_issued_to`].
    #[cfg_attr(not(test), expect(dead_code, reason = "the host tests inspect it"))]
    pub(crate) fn issued_to(&self) -> u64 {
        self.issued_to
    }

    /// Position up to which every active stream is collected.
    pub(crate) fn collected_to(&self) -> u64 {
        self.collected_to
    }

    /// Position up to which `stream` is collected.
    #[cfg_attr(not(test), expect(dead_code, reason = "the host tests inspect it"))]
    pub(crate) fn stream_collected_to(&self, stream: Stream) -> u64 {
        self.streams.get(stream).collected_to
    }

    /// First error of a failed subrequest of `stream`.
    #[cfg_attr(not(test), expect(dead_code, reason = "the host tests inspect it"))]
    pub(crate) fn stream_error(&self, stream: Stream) -> Option<i32> {
        self.streams.get(stream).error
    }

    /// Free subrequest entries of `stream` (0 if inactive).
    pub(crate) fn stream_room(&self, stream: Stream) -> usize {
        let st = self.streams.get(stream);
        if st.active {
            st.sreqs.room()
        } else {
            0
        }
    }

    /// Where the first failed subrequest of `stream` collected stopped
    /// writing: the end of what was written contiguously from the start.
    pub(crate) fn lost_from(&self, stream: Stream) -> Option<u64> {
        self.streams.get(stream).lost_from
    }

    /// How the subrequests of `stream` that start before `pos` stand: a
    /// write of the caller's buffer extends the file only once they are
    /// all written, and sends nothing more once one is lost.
    pub(crate) fn before(&self, stream: Stream, pos: u64) -> Before {
        let st = self.streams.get(stream);
        if st.lost_from.is_some() {
            return Before::Lost;
        }
        let mut out = Before::Written;
        for e in st.sreqs.iter().filter(|e| e.start < pos) {
            match e.state {
                SreqState::Failed(_) => return Before::Lost,
                SreqState::Done => {}
                SreqState::InFlight | SreqState::NeedRetry => out = Before::Pending,
            }
        }
        out
    }

    /// Subrequest entries of `stream` not yet collected.
    #[cfg_attr(not(test), expect(dead_code, reason = "the host tests inspect it"))]
    pub(crate) fn uncollected(&self, stream: Stream) -> usize {
        self.streams.get(stream).sreqs.len()
    }

    /// Free folio entries.
    pub(crate) fn folio_room(&self) -> usize {
        self.folios.room()
    }

    /// Registers a subrequest being built from `start` on `stream`.
    ///
    /// Hands `handle` back if the stream is inactive or full, or if
    /// `start` lies before the stream's collected position or before an
    /// earlier entry: its data might already have been reported written.
    pub(crate) fn add_sreq(&mut self, stream: Stream, handle: S, start: u64) -> Result<(), S> {
        let st = self.streams.get_mut(stream);
        if !st.active || start < st.collected_to {
            return Err(handle);
        }
        let after_last = match st.sreqs.len().checked_sub(1).and_then(|i| st.sreqs.get(i)) {
            Some(last) => start >= last.start && (!last.issued() || start >= last.end()),
            None => true,
        };
        if !after_last {
            return Err(handle);
        }
        // The handle goes in only once the push succeeded, so that a full
        // ring can hand it back.
        if st
            .sreqs
            .push_back(Sreq {
                handle: None,
                start,
                len: 0,
                transferred: 0,
                state: SreqState::InFlight,
                attempts: 0,
                piece_end: start,
                last_error: None,
                sent: None,
                sending: false,
                deferred: false,
            })
            .is_err()
        {
            return Err(handle);
        }
        match st.sreqs.back_mut() {
            Some(e) => {
                e.handle = Some(handle);
                Ok(())
            }
            None => Err(handle),
        }
    }

    /// Sets the length of the subrequest `handle` being built; call it
    /// before handing the subrequest to the filesystem.
    ///
    /// A length of 0 completes the subrequest at once since there is
    /// nothing to send. Returns false if no such subrequest is being built.
    pub(crate) fn set_sreq_len(&mut self, stream: Stream, handle: &S, len: u64) -> bool
    where
        S: PartialEq,
    {
        self.set_sreq_len_at(stream, handle, len, None)
    }

    /// As [`Self::set_sreq_len`], recording that the subrequest is sent at
    /// `now` (ns), for the upload window.
    pub(crate) fn set_sreq_len_at(
        &mut self,
        stream: Stream,
        handle: &S,
        len: u64,
        now: Option<u64>,
    ) -> bool
    where
        S: PartialEq,
    {
        let load = self.in_flight(stream).saturating_add(1);
        let st = self.streams.get_mut(stream);
        let Some(e) = st.sreqs.iter_mut().find(|e| {
            !e.issued() && e.state == SreqState::InFlight && e.handle.as_ref() == Some(handle)
        }) else {
            return false;
        };
        // Positions beyond u64::MAX cannot be addressed.
        e.len = len.min(u64::MAX.saturating_sub(e.start));
        e.piece_end = e.end();
        e.sent = now.map(|t| (t, load));
        if e.len == 0 {
            e.state = SreqState::Done;
        }
        true
    }

    /// Marks the issued subrequest `handle` of `stream` as being sent by a
    /// caller that will call [`Self::sent`] once its send returns, whatever
    /// the outcome. Returns false (nothing marked) if it is not in flight.
    pub(crate) fn sending(&mut self, stream: Stream, handle: &S) -> bool
    where
        S: PartialEq,
    {
        let st = self.streams.get_mut(stream);
        let Some(e) = st.sreqs.iter_mut().find(|e| {
            e.issued() && e.state == SreqState::InFlight && e.handle.as_ref() == Some(handle)
        }) else {
            return false;
        };
        e.sending = true;
        true
    }

    /// The send of the subrequest of `stream` starting at `start` marked by
    /// [`Self::sending`] has returned. Returns whether it succeeded
    /// meanwhile and its sender must collect: a filesystem that completes
    /// in the sender's context (9p) is then collected there, with no
    /// collector woken and no task switch per subrequest.
    pub(crate) fn sent(&mut self, stream: Stream, start: u64) -> bool {
        let st = self.streams.get_mut(stream);
        let Some(e) = st.sreqs.iter_mut().find(|e| e.sending && e.start == start) else {
            // Collected already: by a collector another completion woke.
            return false;
        };
        e.sending = false;
        core::mem::take(&mut e.deferred)
    }

    /// Registers a folio under writeback whose data ends at `data_end`.
    pub(crate) fn push_folio(&mut self, f: F, data_end: u64) -> Result<(), F> {
        self.folios.push_back((f, data_end)).map_err(|(f, _)| f)
    }

    /// Records the completion of subrequest `handle` of `stream`.
    ///
    /// `result` is the byte count written or a negative errno;
    /// `fs_need_retry` says the filesystem asked for a retry. Returns true
    /// if the collector (or the retryer) should be woken.
    pub(crate) fn terminated(
        &mut self,
        stream: Stream,
        handle: &S,
        result: i64,
        fs_need_retry: bool,
    ) -> bool
    where
        S: PartialEq,
    {
        self.terminated_at(stream, handle, result, fs_need_retry, None)
    }

    /// As [`Self::terminated`], at `now` (ns): an upload written whole in
    /// one go is a sample for the upload window.
    pub(crate) fn terminated_at(
        &mut self,
        stream: Stream,
        handle: &S,
        result: i64,
        fs_need_retry: bool,
        now: Option<u64>,
    ) -> bool
    where
        S: PartialEq,
    {
        let st = self.streams.get_mut(stream);
        let Some((index, e)) = st.sreqs.iter_mut().enumerate().find(|(_, e)| {
            e.issued() && e.state == SreqState::InFlight && e.handle.as_ref() == Some(handle)
        }) else {
            // Unknown or already terminated: a second completion must not
            // count twice.
            return false;
        };
        if result >= 0 {
            // A filesystem claiming more than was asked must not push the
            // collected position past what was sent.
            let asked = e.piece_end.saturating_sub(e.resume_at());
            let n = u64::try_from(result).unwrap_or(0).min(asked);
            e.transferred = e.transferred.saturating_add(n).min(e.len);
            if n > 0 {
                e.attempts = 0;
            }
            e.state = if e.transferred >= e.len {
                SreqState::Done
            } else {
                // A short write, or a shorter retry piece finished: either
                // way the rest is sent again.
                SreqState::NeedRetry
            };
        } else {
            let err = i32::try_from(result).unwrap_or(-EIO);
            if fs_need_retry {
                e.last_error = Some(err);
                e.state = SreqState::NeedRetry;
            } else {
                e.state = SreqState::Failed(err);
            }
        }
        let settled_done = e.state == SreqState::Done;
        // Only a success waits for its sender: a failure or a short write
        // wakes the collector at once, which runs the retryer.
        let defer = settled_done && e.sending;
        if let (Stream::Upload, true, Some((sent, load)), Some(now)) =
            (stream, settled_done, e.sent, now)
        {
            self.window.answered(sent, now, load);
        }
        let wake = index == 0 || !settled_done || self.in_flight(stream) == 0;
        if defer {
            if let Some(e) = self.streams.get_mut(stream).sreqs.get_mut(index) {
                e.deferred |= wake;
            }
            return false;
        }
        wake
    }

    /// Tells that the issuer is done: no more subrequests or folios.
    pub(crate) fn all_queued(&mut self) {
        self.all_queued = true;
    }

    /// Whether the request is finished.
    pub(crate) fn is_done(&self) -> bool {
        self.all_queued
            && self.folios.is_empty()
            && self
                .streams
                .iter()
                .all(|(_, st)| !st.active || st.sreqs.is_empty())
    }

    /// Retires finished subrequests in file order and ends the writeback
    /// of every folio all active streams have got past.
    pub(crate) fn collect(&mut self, sink: &mut impl CollectSink<S, F>) -> Collected {
        let mut out = Collected::default();
        let issued_to = self.issued_to;
        for (i, st) in self.streams.iter_mut() {
            if !st.active {
                continue;
            }
            loop {
                let Some(front) = st.sreqs.front_mut() else {
                    // Nothing in flight and nothing will start before
                    // issued_to, so the stream is past it.
                    out.progress |= st.advance(issued_to);
                    break;
                };
                match front.state {
                    SreqState::InFlight => break,
                    SreqState::NeedRetry => {
                        let to = front.resume_at();
                        out.progress |= st.advance(to);
                        break;
                    }
                    SreqState::Done => {
                        let to = front.end();
                        let handle = front.handle.take();
                        st.advance(to);
                        st.sreqs.pop_front();
                        if let Some(h) = handle {
                            sink.release_sreq(i, h);
                        }
                        out.progress = true;
                    }
                    SreqState::Failed(err) => {
                        let to = front.end();
                        let handle = front.handle.take();
                        // The rest of the bytes are lost: say so before
                        // any folio over them ends, never silently.
                        if st.error.is_none() {
                            st.error = Some(err);
                        }
                        if st.lost_from.is_none() {
                            st.lost_from = Some(front.resume_at());
                        }
                        if !st.failure_reported {
                            st.failure_reported = true;
                            sink.stream_failed(i, st.error.unwrap_or(err));
                        }
                        st.advance(to);
                        st.sreqs.pop_front();
                        if let Some(h) = handle {
                            sink.release_sreq(i, h);
                        }
                        out.progress = true;
                    }
                }
            }
            *out.need_retry.get_mut(i) = st.sreqs.iter().any(|e| e.state == SreqState::NeedRetry);
        }
        let to = self
            .streams
            .iter()
            .filter(|(_, st)| st.active)
            .map(|(_, st)| st.collected_to)
            .min()
            .unwrap_or(issued_to);
        if to > self.collected_to {
            self.collected_to = to;
            out.progress = true;
        }
        while self
            .folios
            .front()
            .is_some_and(|(_, end)| *end <= self.collected_to)
        {
            if let Some((f, _)) = self.folios.pop_front() {
                sink.end_folio(f);
                out.progress = true;
            }
        }
        out.done = self.is_done();
        out
    }

    /// Issued subrequests of `stream` still at the filesystem; the retryer
    /// waits for 0 so that it can renegotiate sizes. Subrequests the
    /// issuer is still building do not count: waiting for them could
    /// deadlock against an issuer waiting for room.
    pub(crate) fn in_flight(&self, stream: Stream) -> usize {
        self.streams
            .get(stream)
            .sreqs
            .iter()
            .filter(|e| e.issued() && e.state == SreqState::InFlight)
            .count()
    }

    /// Subrequests of `stream` not yet answered for good: issued and in
    /// flight, or waiting to be sent again.
    pub(crate) fn unanswered(&self, stream: Stream) -> usize {
        self.streams
            .get(stream)
            .sreqs
            .iter()
            .filter(|e| {
                (e.issued() && e.state == SreqState::InFlight) || e.state == SreqState::NeedRetry
            })
            .count()
    }

    /// The first subrequest of `stream` to send again.
    ///
    /// A subrequest that has had `max_retries` retries without progress
    /// fails instead (with its last error, or `-EIO`) and is skipped; run
    /// [`Self::collect`] after the retry pass to retire it.
    pub(crate) fn retry_next(&mut self, stream: Stream) -> Option<RetryPiece> {
        let max_retries = self.max_retries;
        let st = self.streams.get_mut(stream);
        for (index, e) in st.sreqs.iter_mut().enumerate() {
            if e.state != SreqState::NeedRetry {
                continue;
            }
            if e.attempts >= max_retries {
                // Retrying forever on a server that keeps writing nothing
                // would hang writeback.
                e.state = SreqState::Failed(e.last_error.unwrap_or(-EIO));
                continue;
            }
            return Some(RetryPiece {
                stream,
                index,
                start: e.resume_at(),
                end: e.end(),
                attempts: e.attempts,
            });
        }
        None
    }

    /// The glue's handle of entry `index` of `stream`, as
    /// [`Self::retry_next`] numbers them (`None` once released).
    #[cfg_attr(test, expect(dead_code, reason = "only the kernel's retryer uses it"))]
    pub(crate) fn handle(&self, stream: Stream, index: usize) -> Option<&S> {
        self.streams
            .get(stream)
            .sreqs
            .get(index)
            .and_then(|e| e.handle.as_ref())
    }

    /// Sends entry `index` of `stream` again under `new_handle`, for the
    /// first `piece_len` bytes of what is left (0 or more than is left
    /// means all of it).
    ///
    /// The entry stays one entry: when a shorter piece completes, the
    /// entry needs a retry again for the rest. Returns the old handle for
    /// release, or hands `new_handle` back if the entry does not need a
    /// retry.
    pub(crate) fn restart_sreq(
        &mut self,
        stream: Stream,
        index: usize,
        new_handle: S,
        piece_len: u64,
    ) -> Result<Option<S>, S> {
        let Some(e) = self.streams.get_mut(stream).sreqs.get_mut(index) else {
            return Err(new_handle);
        };
        if e.state != SreqState::NeedRetry {
            return Err(new_handle);
        }
        let left = e.len.saturating_sub(e.transferred);
        let piece = if piece_len == 0 || piece_len > left {
            left
        } else {
            piece_len
        };
        e.piece_end = e.resume_at().saturating_add(piece);
        e.state = SreqState::InFlight;
        // A retry's answer time says nothing about the server's queue.
        e.sent = None;
        e.attempts = e.attempts.saturating_add(1);
        Ok(e.handle.replace(new_handle))
    }

    /// Gives up on entry `index` of `stream`, which needs a retry the glue
    /// cannot send: no subrequest could be allocated or prepared for it, or
    /// [`Self::restart_sreq`] refused it. The entry fails with `error` (a
    /// negative errno; anything else is taken as `-EIO`), so that the
    /// collector retires it and reports the loss with
    /// [`CollectSink::stream_failed`] instead of the retryer coming back to
    /// it for ever. Returns false if the entry does not need a retry.
    pub(crate) fn fail_retry(&mut self, stream: Stream, index: usize, error: i32) -> bool {
        let Some(e) = self.streams.get_mut(stream).sreqs.get_mut(index) else {
            return false;
        };
        if e.state != SreqState::NeedRetry {
            return false;
        }
        e.state = SreqState::Failed(if error < 0 { error } else { -EIO });
        true
    }

    /// The uncollected subrequests of `stream`, front first.
    #[cfg_attr(not(test), expect(dead_code, reason = "the host tests inspect it"))]
    pub(crate) fn sreqs(&self, stream: Stream) -> impl Iterator<Item = &Sreq<S>> {
        self.streams.get(stream).sreqs.iter()
    }
}

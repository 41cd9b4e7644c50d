// SPDX-License-Identifier: GPL-2.0

//! The upload stream's in-flight window: how many uploads may be on their
//! way at once, adapted to what the server does with them.
//!
//! Every upload in flight holds its folios under writeback. Uploads that
//! only queue at the server make nothing faster, they only keep folios
//! under writeback longer; uploads that wait on the server's latency while
//! it could take more (a slow link, a server working on several at once)
//! are what pipelining is for. The window tells the two apart as TCP Vegas
//! does, from each upload's answer time against the shortest one seen:
//! with `n` uploads in flight when it was sent and an answer time of `rtt`
//! against a base of `base`, about `n * (rtt - base) / rtt` of them were
//! queued rather than served. The window grows by one while fewer than
//! [`Window::QUEUED_LOW`] queue and shrinks by one past
//! [`Window::QUEUED_HIGH`], between 1 and the configured bound.
//!
//! A server that serves one upload at a time settles at two or three in
//! flight (one on the wire, one ready behind it), which is where the C
//! engine's synchronous issue stands; a server whose answers take long but
//! do not queue opens the window to its bound.

/// An adaptive bound on the uploads in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    /// Uploads that may be in flight now.
    cur: usize,
    /// The configured bound.
    max: usize,
    /// Shortest answer time seen, in ns; 0 before the first.
    base: u64,
    /// Whether the window adapts; if not it stays at `max`.
    adaptive: bool,
    /// When the window last changed (ns): an upload sent before saw the
    /// old window, and its answer does not move the new one. As Vegas
    /// moves once per round trip, so that the window does not overshoot
    /// on answers that lag behind it.
    changed_at: u64,
}

impl Window {
    /// Fewer queued uploads than this (per answer): the window grows.
    pub(crate) const QUEUED_LOW: u64 = 1;
    /// More queued uploads than this: the window shrinks.
    pub(crate) const QUEUED_HIGH: u64 = 2;

    /// A window of at most `max` uploads (at least 1), starting at half of
    /// it, or fixed at `max` if not `adaptive`.
    pub(crate) const fn new(max: usize, adaptive: bool) -> Self {
        let max = if max == 0 { 1 } else { max };
        let cur = if adaptive { max.div_ceil(2) } else { max };
        Self {
            cur,
            max,
            base: 0,
            adaptive,
            changed_at: 0,
        }
    }

    /// Uploads that may be in flight now.
    pub(crate) fn limit(&self) -> usize {
        self.cur
    }

    /// An upload sent at `sent` with `load` uploads in flight (itself
    /// included) was answered at `now` (ns, any monotonic clock).
    pub(crate) fn answered(&mut self, sent: u64, now: u64, load: usize) {
        if !self.adaptive {
            return;
        }
        let rtt = now.saturating_sub(sent).max(1);
        if self.base == 0 || rtt < self.base {
            self.base = rtt;
        }
        if sent < self.changed_at {
            return;
        }
        let old = self.cur;
        let load = u64::try_from(load.max(1)).unwrap_or(u64::MAX);
        // Scaled by rtt to stay in integers: queued * rtt.
        let queued_x_rtt = load.saturating_mul(rtt.saturating_sub(self.base));
        if queued_x_rtt < Self::QUEUED_LOW.saturating_mul(rtt) {
            self.cur = self.cur.saturating_add(1).min(self.max);
        } else if queued_x_rtt > Self::QUEUED_HIGH.saturating_mul(rtt) {
            self.cur = self.cur.saturating_sub(1).max(1);
        }
        if self.cur != old {
            self.changed_at = now;
        }
    }
}

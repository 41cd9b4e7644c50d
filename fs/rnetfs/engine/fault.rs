// SPDX-License-Identifier: GPL-2.0

//! Fault injection: which subrequests to fail, and how.
//!
//! The glue asks [`Injector::decide`] before it hands a subrequest to the
//! filesystem or the cache. A fault either completes the subrequest at once
//! with an error, as a filesystem that refused it would (transient faults
//! also ask for a retry, as `NETFS_SREQ_NEED_RETRY` does), lets only the
//! first half of it go out, as a server that wrote short would, or sends it
//! late: after a delay, or once a later subrequest of its stream has
//! completed, so that completions come back out of order. Decisions are
//! deterministic given the spec, its seed and the order of the calls.
//!
//! A spec is one line of space-separated tokens, also what the debugfs
//! file prints back:
//!
//! ```text
//! off                                  no faults
//! seed=<n>                             seed of the random trigger
//! delay_ms=<n>                         how late `delay` sends (1-10000,
//!                                      default 20)
//! <site>=<trigger>:<n>:<kind>[:retry]
//!     site     upload | cache (subrequests of that stream), request
//!              (creating a writeback request: writepages then cancels
//!              the writeback_iter() iteration)
//!     trigger  nth (only the n-th subrequest), every (every n-th),
//!              percent (n% of them, at random)
//!     kind     eio | eagain | enospc | edquot | eintr | enomem | short |
//!              delay | reorder (not for request)
//!     retry    the error is transient: ask for a retry (errors only)
//! ```

use super::stream::{Stream, NR_STREAMS};

/// What to do to one subrequest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Complete it with `-errno`, asking for a retry if `retry`.
    Fail {
        /// Positive errno.
        errno: i32,
        /// Transient: the filesystem asks for a retry.
        retry: bool,
    },
    /// Send only the first half, so that the write comes back short.
    Short,
    /// Send it whole, `ms` milliseconds late.
    Delay {
        /// The delay.
        ms: u32,
    },
    /// Send it whole once a subrequest of the same stream issued after it
    /// has completed (or after a second, if none comes).
    Reorder,
}

/// When a stream's fault fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// Only the n-th subrequest (from 1) of the stream.
    Nth(u64),
    /// Every n-th subrequest.
    Every(u64),
    /// n percent of the subrequests, at random.
    Percent(u64),
}

/// The fault of one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StreamFault {
    /// When it fires.
    pub(crate) trigger: Trigger,
    /// What it does.
    pub(crate) fault: Fault,
}

/// Why a spec was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BadSpec;

/// Where a fault can be injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Site {
    /// The subrequests of a stream.
    Stream(Stream),
    /// The creation of a writeback request.
    Request,
}

impl Site {
    /// Index in the injector's per-site arrays: the streams, then request
    /// creation.
    const fn index(self) -> usize {
        match self {
            Site::Stream(s) => s.index(),
            Site::Request => NR_STREAMS,
        }
    }
}

impl From<Stream> for Site {
    fn from(s: Stream) -> Self {
        Site::Stream(s)
    }
}

/// Number of sites: the streams, then request creation.
const NR_SITES: usize = NR_STREAMS + 1;

/// The site of request creation.
pub(crate) const SITE_REQUEST: Site = Site::Request;

/// Delay of `delay` faults unless the spec says otherwise.
const DEFAULT_DELAY_MS: u32 = 20;

/// Longest delay a spec may ask for.
const MAX_DELAY_MS: u32 = 10_000;

/// Site names, in index order.
const SITES: [(&str, Site); NR_SITES] = [
    (Stream::Upload.name(), Site::Stream(Stream::Upload)),
    (Stream::Cache.name(), Site::Stream(Stream::Cache)),
    ("request", Site::Request),
];

/// Error names and numbers.
const ERRORS: [(&str, i32); 6] = [
    ("eio", 5),
    ("eagain", 11),
    ("enospc", 28),
    ("edquot", 122),
    ("eintr", 4),
    ("enomem", 12),
];

/// The injector: a spec and what has been decided so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Injector {
    /// The fault of each site.
    streams: [Option<StreamFault>; NR_SITES],
    /// Seed given in the spec.
    seed: u64,
    /// Delay of [`Fault::Delay`], as given in the spec.
    delay_ms: u32,
    /// State of the random trigger.
    rng: u64,
    /// Decisions asked per site.
    seen: [u64; NR_SITES],
    /// Faults injected per site.
    injected: [u64; NR_SITES],
}

impl Injector {
    /// An injector that injects nothing.
    pub(crate) const fn off() -> Self {
        Self {
            streams: [None; NR_SITES],
            seed: 0,
            delay_ms: DEFAULT_DELAY_MS,
            rng: 0,
            seen: [0; NR_SITES],
            injected: [0; NR_SITES],
        }
    }

    /// Parses a spec (see the module documentation).
    pub(crate) fn parse(spec: &str) -> Result<Self, BadSpec> {
        let mut inj = Self::off();
        // Nothing is not "off": an empty write must not clear a spec.
        if spec.trim_ascii().is_empty() {
            return Err(BadSpec);
        }
        for tok in spec.split_ascii_whitespace() {
            if tok == "off" {
                continue;
            }
            let (key, val) = tok.split_once('=').ok_or(BadSpec)?;
            if key == "seed" {
                inj.seed = val.parse().map_err(|_| BadSpec)?;
                continue;
            }
            if key == "delay_ms" {
                let ms: u32 = val.parse().map_err(|_| BadSpec)?;
                if !(1..=MAX_DELAY_MS).contains(&ms) {
                    return Err(BadSpec);
                }
                inj.delay_ms = ms;
                continue;
            }
            let site = SITES
                .iter()
                .find(|(name, _)| *name == key)
                .map(|(_, site)| *site)
                .ok_or(BadSpec)?;
            let mut parts = val.split(':');
            let trig = parts.next().ok_or(BadSpec)?;
            let n: u64 = parts.next().ok_or(BadSpec)?.parse().map_err(|_| BadSpec)?;
            let trigger = match trig {
                "nth" if n > 0 => Trigger::Nth(n),
                "every" if n > 0 => Trigger::Every(n),
                "percent" if n <= 100 => Trigger::Percent(n),
                _ => return Err(BadSpec),
            };
            let kind = parts.next().ok_or(BadSpec)?;
            let retry = match parts.next() {
                None => false,
                Some("retry") => true,
                Some(_) => return Err(BadSpec),
            };
            if parts.next().is_some() {
                return Err(BadSpec);
            }
            let fault = if let Some(f) = match kind {
                "short" => Some(Fault::Short),
                // The delay is filled in once the whole spec is read.
                "delay" => Some(Fault::Delay { ms: 0 }),
                "reorder" => Some(Fault::Reorder),
                _ => None,
            } {
                if retry || site == SITE_REQUEST {
                    return Err(BadSpec);
                }
                f
            } else {
                let errno = ERRORS
                    .iter()
                    .find(|(name, _)| *name == kind)
                    .map(|(_, e)| *e)
                    .ok_or(BadSpec)?;
                Fault::Fail { errno, retry }
            };
            let slot = inj.streams.get_mut(site.index()).ok_or(BadSpec)?;
            *slot = Some(StreamFault { trigger, fault });
        }
        for sf in inj.streams.iter_mut().flatten() {
            if let Fault::Delay { ms } = &mut sf.fault {
                *ms = inj.delay_ms;
            }
        }
        inj.rng = inj.seed;
        Ok(inj)
    }

    /// The injector of the module parameters: every `every`-th upload
    /// subrequest fails with `errno` (one of the kinds' errors; 0: a short
    /// write), transient if `retry`. `every` 0 is no fault.
    pub(crate) fn upload_every(every: u32, errno: u32, retry: bool) -> Result<Self, BadSpec> {
        let mut inj = Self::off();
        if every == 0 {
            return Ok(inj);
        }
        let fault = match errno {
            0 if !retry => Fault::Short,
            0 => return Err(BadSpec),
            e => {
                let errno = i32::try_from(e).map_err(|_| BadSpec)?;
                if !ERRORS.iter().any(|(_, x)| *x == errno) {
                    return Err(BadSpec);
                }
                Fault::Fail { errno, retry }
            }
        };
        let slot = inj
            .streams
            .get_mut(Site::Stream(Stream::Upload).index())
            .ok_or(BadSpec)?;
        *slot = Some(StreamFault {
            trigger: Trigger::Every(u64::from(every)),
            fault,
        });
        Ok(inj)
    }

    /// Whether any fault is configured.
    pub(crate) fn is_on(&self) -> bool {
        self.streams.iter().any(Option::is_some)
    }

    /// Faults injected so far at `site`.
    #[cfg_attr(not(test), expect(dead_code, reason = "the host tests inspect it"))]
    pub(crate) fn injected(&self, site: impl Into<Site>) -> u64 {
        self.injected.get(site.into().index()).copied().unwrap_or(0)
    }

    /// The next random number (splitmix64: any seed, even 0, works).
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Decides the fate of the next subrequest of a stream (`site` is a
    /// [`Stream`]), or of the next request to be created ([`SITE_REQUEST`]).
    pub(crate) fn decide(&mut self, site: impl Into<Site>) -> Option<Fault> {
        let i = site.into().index();
        let sf = (*self.streams.get(i)?)?;
        let seen = self.seen.get_mut(i)?;
        *seen = seen.saturating_add(1);
        let n = *seen;
        let fire = match sf.trigger {
            Trigger::Nth(k) => n == k,
            Trigger::Every(k) => n.checked_rem(k) == Some(0),
            Trigger::Percent(p) => self.next_random().checked_rem(100).is_some_and(|r| r < p),
        };
        if !fire {
            return None;
        }
        if let Some(c) = self.injected.get_mut(i) {
            *c = c.saturating_add(1);
        }
        Some(sf.fault)
    }

    /// Writes the spec in the syntax [`Self::parse`] takes, then the counts.
    pub(crate) fn describe(&self, f: &mut impl core::fmt::Write) -> core::fmt::Result {
        if !self.is_on() {
            f.write_str("off")?;
        }
        for ((name, _), sf) in SITES.iter().zip(self.streams.iter()) {
            let Some(sf) = sf else { continue };
            let (trig, n) = match sf.trigger {
                Trigger::Nth(n) => ("nth", n),
                Trigger::Every(n) => ("every", n),
                Trigger::Percent(n) => ("percent", n),
            };
            write!(f, "{name}={trig}:{n}:")?;
            match sf.fault {
                Fault::Short => f.write_str("short")?,
                Fault::Delay { .. } => f.write_str("delay")?,
                Fault::Reorder => f.write_str("reorder")?,
                Fault::Fail { errno, retry } => {
                    let kind = ERRORS
                        .iter()
                        .find(|(_, e)| *e == errno)
                        .map_or("eio", |(name, _)| *name);
                    f.write_str(kind)?;
                    if retry {
                        f.write_str(":retry")?;
                    }
                }
            }
            f.write_str(" ")?;
        }
        if self.delay_ms != DEFAULT_DELAY_MS {
            write!(f, " delay_ms={}", self.delay_ms)?;
        }
        write!(
            f,
            " seed={} # seen={:?} injected={:?}",
            self.seed, self.seen, self.injected
        )
    }
}

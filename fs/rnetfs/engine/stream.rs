// SPDX-License-Identifier: GPL-2.0

//! The two streams of a writeback request, as a type.
//!
//! netfs numbers its streams (`io_streams[0]` uploads to the server,
//! `io_streams[1]` writes to the local cache); the engine names them, so
//! that a stream cannot be confused with a count or an index into
//! something else, and per-stream data is reached without indexing.

/// Number of streams: [`Stream::Upload`] and [`Stream::Cache`].
pub(crate) const NR_STREAMS: usize = 2;

/// One stream of a writeback request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Stream {
    /// Stream 0: upload to the server.
    Upload,
    /// Stream 1: write to the local cache.
    Cache,
}

impl Stream {
    /// Every stream, in netfs's order.
    pub(crate) const ALL: [Stream; NR_STREAMS] = [Stream::Upload, Stream::Cache];

    /// The stream's index in netfs's `io_streams[]`.
    pub(crate) const fn index(self) -> usize {
        match self {
            Stream::Upload => 0,
            Stream::Cache => 1,
        }
    }

    /// Short name, as the fault specs and the statistics spell it.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Stream::Upload => "upload",
            Stream::Cache => "cache",
        }
    }
}

/// One `T` per stream, reached by [`Stream`] without indexing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PerStream<T> {
    /// The upload stream's.
    pub(crate) upload: T,
    /// The cache stream's.
    pub(crate) cache: T,
}

impl<T> PerStream<T> {
    /// Both made by `f`, upload first.
    pub(crate) fn from_fn(mut f: impl FnMut(Stream) -> T) -> Self {
        let upload = f(Stream::Upload);
        let cache = f(Stream::Cache);
        Self { upload, cache }
    }

    /// The one of `s`.
    pub(crate) const fn get(&self, s: Stream) -> &T {
        match s {
            Stream::Upload => &self.upload,
            Stream::Cache => &self.cache,
        }
    }

    /// The one of `s`, mutably.
    pub(crate) fn get_mut(&mut self, s: Stream) -> &mut T {
        match s {
            Stream::Upload => &mut self.upload,
            Stream::Cache => &mut self.cache,
        }
    }

    /// Each with its stream, upload first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Stream, &T)> {
        [(Stream::Upload, &self.upload), (Stream::Cache, &self.cache)].into_iter()
    }

    /// Each with its stream, mutably, upload first.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (Stream, &mut T)> {
        [
            (Stream::Upload, &mut self.upload),
            (Stream::Cache, &mut self.cache),
        ]
        .into_iter()
    }
}

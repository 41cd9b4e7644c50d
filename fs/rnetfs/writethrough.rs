// SPDX-License-Identifier: GPL-2.0

//! Writethrough: `O_SYNC`/`O_DSYNC` writes and `RWF_DSYNC`/`RWF_SYNC` on a
//! buffered file.
//!
//! netfs copies the data into the page cache and hands each folio over
//! when it is done with it; the folios go through the same issuer as
//! writeback's ([`crate::issue::Parked`] keeps it between two of them),
//! both streams, and the collector ends writeback on each folio as the
//! streams pass it. The collector also does what netfs's does at the end
//! of a writethrough ([`WritethroughEnd`]): the writer, which waits for
//! the request (or returned `-EIOCBQUEUED` for an async kiocb), learns
//! what reached the server. As with netfs, a lost upload is reported to
//! the mapping, where the `fsync` that follows every synchronous write
//! finds it.
//!
//! [`WritethroughEnd`]: kernel::netfs::engine::WritethroughEnd

use crate::engine::stream::Stream;
use crate::issue::Parked;
use crate::request::RequestState;
use crate::stats::STATS;
use crate::Rnetfs;
use kernel::{
    folio::LockedFolio,
    netfs::{
        engine::{Registration, Writethrough, WritethroughEnd},
        request::{Stream as NetfsStream, WriteKind},
    },
    prelude::*,
    sync::{Arc, ArcBorrow},
    writeback::{NoFsScope, WritebackControl},
};

/// Takes the writethrough netfs began, unless its state cannot be
/// allocated: netfs's engine then carries it.
pub(crate) fn begin(reg: &Registration<Rnetfs>, write: Writethrough<Rnetfs>) {
    let eng = reg.engine();
    // netfs holds the inode's writeback lock: reclaim must not write back
    // through a filesystem from here.
    let _nofs = NoFsScope::enter();
    let start = write.start();
    let Ok(state) = RequestState::new(
        WriteKind::Writethrough,
        start,
        write.mapping().nr_pages(),
        eng,
    ) else {
        STATS.writethrough_declined.inc();
        return;
    };
    let Ok(mut sub) = write.attach(state.clone()) else {
        STATS.writethrough_declined.inc();
        return;
    };
    let req = sub.request().clone();
    let cache = sub.stream_avail(NetfsStream::Cache);
    let noted_i_size = sub.i_size();
    *state.submit.lock() = Some(sub);
    *state.wthru.lock() = Some(Parked::new(
        crate::request::base_of(WriteKind::Writethrough, start),
        cache,
        noted_i_size,
    ));
    {
        let mut g = state.inner.lock();
        g.req = Some(req.clone());
        if cache {
            g.ws.activate(Stream::Cache);
            g.avail.cache = true;
        }
    }
    STATS.live_requests.inc();
    STATS.requests.inc();
    // netfs traces the request's start itself (WRITETHRU).
    STATS.writethroughs.inc();
}

/// Sends one folio the writer is done with.
pub(crate) fn folio(
    reg: &Registration<Rnetfs>,
    data: ArcBorrow<'_, RequestState>,
    wbc: &WritebackControl,
    folio: LockedFolio<'_>,
) -> Result {
    let _nofs = NoFsScope::enter();
    let state: Arc<RequestState> = data.into();
    let mut folio = folio;
    // netfs marked a folio the write covers only in part dirty when it
    // kept it for later: it is written now, as writeback_iter() would hand
    // it out. Left dirty (as netfs leaves it), the fsync that ends the
    // write would send it again, and a streaming write's folio, not
    // uptodate and with its dirty range forgotten once written, could not
    // be sent at all.
    folio.clear_dirty_for_io();
    let req = state.inner.lock().req.clone();
    let mut parked = state.wthru.lock();
    let (Some(req), Some(p)) = (req, (*parked).as_mut()) else {
        // Cannot happen (`begin` sets both up before netfs sees the
        // request adopted). netfs ignores the error: the folio is left
        // dirty for the fsync that ends the write.
        folio.redirty(wbc);
        return Err(EINVAL);
    };
    STATS.writethrough_folios.inc();
    p.write_folio(reg.engine(), &state, req.mapping(), wbc, folio)
}

/// Everything is handed over: flushes both streams and leaves the rest to
/// the collector.
pub(crate) fn end(
    reg: &Registration<Rnetfs>,
    data: ArcBorrow<'_, RequestState>,
    end: WritethroughEnd,
) {
    let _nofs = NoFsScope::enter();
    let state: Arc<RequestState> = data.into();
    // Kept for the collector before it can find everything queued.
    let (req, old) = {
        let mut g = state.inner.lock();
        (g.req.clone(), g.wt_end.replace(end))
    };
    drop(old);
    let parked = state.wthru.lock().take();
    match (parked, req) {
        (Some(p), Some(req)) => p.end(reg.engine(), &state, req.mapping()),
        // Cannot happen (`begin` sets both up before netfs sees the
        // request adopted); the writer must not wait for ever even so.
        _ => {
            state.inner.lock().ws.all_queued();
            state.wake_collector(reg.engine().wq.queue());
        }
    }
}

/// What the writer is told reached the server: the bytes from `start`
/// before the first upload that was lost, or all of them.
pub(crate) fn transferred(state: &RequestState) -> u64 {
    let g = state.inner.lock();
    g.ws.lost_from(Stream::Upload)
        .unwrap_or_else(|| g.ws.collected_to())
        .saturating_sub(state.start)
}

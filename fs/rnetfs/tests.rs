// SPDX-License-Identifier: GPL-2.0

//! KUnit tests of the engine core, run in the kernel at `insmod`: the same
//! code the host property tests exercise, checked where it is compiled for.

use kernel::prelude::*;

#[kunit_tests(rnetfs_engine)]
mod rnetfs_engine {
    use crate::engine::{
        spans::{plan_folio, FolioInfo, FolioPlan, StreamsAvail},
        state::{CollectSink, WriteState},
        stream::Stream::{self, Cache, Upload},
        tile::{Limits, StreamSink, Tiler},
    };

    const BOTH: StreamsAvail = StreamsAvail {
        upload: true,
        cache: true,
    };

    fn folio(pos: u64, size: u64, i_size: u64) -> FolioInfo {
        FolioInfo::whole(pos, size, i_size)
    }

    #[test]
    fn folio_beyond_eof_is_not_written() {
        assert!(matches!(
            plan_folio(&folio(8192, 4096, 8192), BOTH),
            FolioPlan::BeyondEof
        ));
    }

    #[test]
    fn folio_tail_past_eof_is_zeroed_and_clamped() {
        match plan_folio(&folio(0, 16384, 5000), BOTH) {
            FolioPlan::Write {
                upload,
                zero_from,
                data_end,
                to_eof,
                ..
            } => {
                assert_eq!(upload.map(|s| (s.pos, s.len)), Some((0, 5000)));
                assert_eq!(zero_from, Some(5000));
                assert_eq!(data_end, 5000);
                assert!(to_eof);
            }
            FolioPlan::BeyondEof => panic!("planned as beyond EOF"),
        }
    }

    #[test]
    fn streaming_folio_is_not_cached() {
        let mut f = folio(0, 4096, 1 << 20);
        f.dirty = Some((100, 200));
        match plan_folio(&f, BOTH) {
            FolioPlan::Write { upload, cache, .. } => {
                assert_eq!(upload.map(|s| (s.pos, s.len)), Some((100, 200)));
                assert!(cache.is_none());
            }
            FolioPlan::BeyondEof => panic!("planned as beyond EOF"),
        }
    }

    /// Records what a tiler issues.
    struct Rec {
        next: u32,
        max_len: u64,
        issued: [(u64, u64); 8],
        n: usize,
    }

    impl StreamSink<u32> for Rec {
        fn prepare(&mut self, _stream: Stream, _start: u64) -> Option<(u32, Limits)> {
            self.next += 1;
            Some((
                self.next,
                Limits {
                    max_len: self.max_len,
                    max_segs: 0,
                },
            ))
        }

        fn issue(&mut self, _stream: Stream, _sreq: u32, start: u64, len: u64, _segs: u32) {
            if let Some(slot) = self.issued.get_mut(self.n) {
                *slot = (start, len);
            }
            self.n += 1;
        }
    }

    #[test]
    fn tiler_splits_folios_across_unaligned_subrequests() {
        // 9p's largest subrequest is 511976 bytes: not page aligned.
        let mut rec = Rec {
            next: 0,
            max_len: 511976,
            issued: [(0, 0); 8],
            n: 0,
        };
        let mut t = Tiler::new(Upload);
        let mut pos = 0;
        while pos < (1 << 20) {
            t.add(&mut rec, pos, 4096, false);
            pos += 4096;
        }
        t.flush(&mut rec);
        assert_eq!(rec.n, 3);
        assert_eq!(rec.issued[0], (0, 511976));
        assert_eq!(rec.issued[1], (511976, 511976));
        assert_eq!(rec.issued[2], (1023952, (1 << 20) - 1023952));
    }

    /// Collects what the collector releases.
    #[derive(Default)]
    struct Out {
        folios: u32,
        released: u32,
        failed: Option<i32>,
    }

    impl CollectSink<u32, u32> for Out {
        fn release_sreq(&mut self, _stream: Stream, _s: u32) {
            self.released += 1;
        }
        fn end_folio(&mut self, _f: u32) {
            self.folios += 1;
        }
        fn stream_failed(&mut self, _stream: Stream, error: i32) {
            self.failed = Some(error);
        }
    }

    #[test]
    fn folio_ends_only_after_both_streams_pass_it() {
        let mut ws: WriteState<u32, u32, 4, [Option<(u32, u64)>; 4]> = WriteState::new(0, 3);
        ws.activate(Upload);
        ws.activate(Cache);
        ws.set_issued_to(0);
        assert!(ws.push_folio(7, 4096).is_ok());
        assert!(ws.add_sreq(Upload, 1, 0).is_ok());
        assert!(ws.add_sreq(Cache, 2, 0).is_ok());
        ws.set_sreq_len(Upload, &1, 4096);
        ws.set_sreq_len(Cache, &2, 4096);
        ws.set_issued_to(4096);
        ws.all_queued();
        let mut out = Out::default();
        ws.terminated(Upload, &1, 4096, false);
        let c = ws.collect(&mut out);
        assert_eq!(out.folios, 0);
        assert!(!c.done);
        ws.terminated(Cache, &2, 4096, false);
        let c = ws.collect(&mut out);
        assert_eq!(out.folios, 1);
        assert_eq!(out.released, 2);
        assert!(c.done);
        assert!(out.failed.is_none());
    }

    #[test]
    fn permanent_failure_is_reported() {
        let mut ws: WriteState<u32, u32, 4, [Option<(u32, u64)>; 4]> = WriteState::new(0, 3);
        ws.activate(Upload);
        assert!(ws.push_folio(7, 4096).is_ok());
        assert!(ws.add_sreq(Upload, 1, 0).is_ok());
        ws.set_sreq_len(Upload, &1, 4096);
        ws.set_issued_to(4096);
        ws.all_queued();
        ws.terminated(Upload, &1, -28, false);
        let mut out = Out::default();
        let c = ws.collect(&mut out);
        assert_eq!(out.failed, Some(-28));
        assert_eq!(out.folios, 1);
        assert!(c.done);
    }
}

/// KUnit tests of the kernel abstractions rnetfs adds, where they can be
/// driven without a filesystem.
#[kunit_tests(rnetfs_abstractions)]
mod rnetfs_abstractions {
    use kernel::{netfs::request::Stream, writeback::NoFsScope};

    #[test]
    fn nofs_scopes_nest_and_restore() {
        let outside = NoFsScope::active();
        {
            let _outer = NoFsScope::enter();
            assert!(NoFsScope::active());
            {
                let _inner = NoFsScope::enter();
                assert!(NoFsScope::active());
            }
            // The inner scope restored what the outer one had set.
            assert!(NoFsScope::active());
        }
        assert_eq!(NoFsScope::active(), outside);
    }

    #[test]
    fn streams_are_netfs_indices() {
        assert_eq!(Stream::Upload.index(), 0);
        assert_eq!(Stream::Cache.index(), 1);
        for s in [Stream::Upload, Stream::Cache] {
            assert_eq!(Stream::from_index(s.index()), s);
        }
    }

    #[test]
    fn engine_streams_map_to_netfs_streams() {
        use crate::complete::{netfs_stream, stream_of};
        use crate::engine::stream::Stream as E;
        for s in E::ALL {
            assert_eq!(stream_of(netfs_stream(s)), s);
            assert_eq!(netfs_stream(s).index(), s.index());
        }
    }
}

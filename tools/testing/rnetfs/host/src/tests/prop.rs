// SPDX-License-Identifier: GPL-2.0

//! Property tests: random writebacks through the simulated world.

use std::{
    panic::{self, AssertUnwindSafe},
    println,
};

use super::{
    rng::{base_seed, cases},
    sim::{describe, Case, Flavor, Sim, Stats},
};

/// Runs `RNETFS_CASES` cases of `flavor` with `NS`/`NF` capacities.
fn run<const NS: usize, const NF: usize>(name: &str, salt: u64, flavor: Flavor) {
    let base = base_seed();
    let n = cases();
    let mut total = Stats::default();
    for i in 0..n {
        // The salt keeps the tests on different cases for the same base;
        // RNETFS_SEED=<printed seed> RNETFS_CASES=1 replays one case.
        let seed = if n == 1 {
            base
        } else {
            base.wrapping_add(i).wrapping_add(salt << 32)
        };
        let case = Case::generate(seed, flavor);
        let r = panic::catch_unwind(AssertUnwindSafe(|| Sim::<NS, NF>::new(&case).run()));
        match r {
            Ok(o) => {
                let s = o.stats;
                total.issued += s.issued;
                total.retried += s.retried;
                total.failed_streams += s.failed_streams;
                total.waits += s.waits;
                total.last_drains += s.last_drains;
                total.prepare_failures += s.prepare_failures;
                total.turned_plain += s.turned_plain;
            }
            Err(e) => {
                if std::env::var_os("RNETFS_VERBOSE").is_some() {
                    println!("{}", describe(&case));
                }
                println!(
                    "{name}: FAILED case seed={seed:#x}; replay with: \
                     RNETFS_SEED={seed:#x} RNETFS_CASES=1 cargo test --release {name} \
                     (RNETFS_VERBOSE=1 prints the case)"
                );
                panic::resume_unwind(e);
            }
        }
    }
    println!(
        "{name}: {n} cases from seed {base:#x}: {} subrequests, {} retries, \
         {} failed streams, {} waits for room, {} last-folio drains, \
         {} failed prepares, {} copy-to-cache folios turned plain",
        total.issued,
        total.retried,
        total.failed_streams,
        total.waits,
        total.last_drains,
        total.prepare_failures,
        total.turned_plain
    );
}

#[test]
fn prop_clean_roomy() {
    run::<64, 64>("prop_clean_roomy", 1, Flavor::default());
}

#[test]
fn prop_clean_tight_rings() {
    run::<1, 1>("prop_clean_tight_rings", 2, Flavor::default());
}

#[test]
fn prop_clean_both_streams_big_folios() {
    let fl = Flavor {
        both_streams: true,
        big: true,
        ..Flavor::default()
    };
    run::<8, 4>("prop_clean_both_streams_big_folios", 3, fl);
}

#[test]
fn prop_faults() {
    let fl = Flavor {
        faults: true,
        ..Flavor::default()
    };
    run::<16, 8>("prop_faults", 4, fl);
}

#[test]
fn prop_faults_tight_rings_both_streams() {
    let fl = Flavor {
        faults: true,
        both_streams: true,
        ..Flavor::default()
    };
    run::<2, 2>("prop_faults_tight_rings_both_streams", 5, fl);
}

#[test]
fn prop_zero_writing_server() {
    let fl = Flavor {
        faults: true,
        hole: true,
        ..Flavor::default()
    };
    run::<4, 4>("prop_zero_writing_server", 6, fl);
}

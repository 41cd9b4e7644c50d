// SPDX-License-Identifier: GPL-2.0

//! A small deterministic PRNG (splitmix64) and the seed/case knobs.

use std::env;

/// splitmix64: tiny, fast, and good enough to drive a simulation.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    /// Seeds the generator.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n == 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `permille / 1000`.
    pub(crate) fn chance(&mut self, permille: u64) -> bool {
        self.below(1000) < permille
    }

    /// A uniformly chosen element.
    pub(crate) fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

/// Base seed from `RNETFS_SEED` (decimal or 0x-hex), default 1.
pub(crate) fn base_seed() -> u64 {
    match env::var("RNETFS_SEED") {
        Ok(s) => {
            let s = s.trim();
            let v = match s.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16),
                None => s.parse(),
            };
            v.unwrap_or_else(|_| panic!("bad RNETFS_SEED {s:?}"))
        }
        Err(_) => 1,
    }
}

/// Number of cases per property test from `RNETFS_CASES`, default 500.
pub(crate) fn cases() -> u64 {
    env::var("RNETFS_CASES")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(500)
}

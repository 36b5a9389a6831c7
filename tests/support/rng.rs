//! SplitMix64: a tiny, well-mixed, seedable PRNG, so a failing run can be replayed.
//!
//! Shared by the tests that need seeded randomness (crash, fuzzing, fault injection).
#![allow(
    dead_code,
    reason = "included by several test binaries, each uses a subset"
)]

/// SplitMix64 state.
#[derive(Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A number in `0..n` (n > 0), as `u64`.
    pub fn below_u64(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A uniformly distributed number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

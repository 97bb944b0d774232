//! The training run's integer randomness (data order, timesteps, the drop rule, YouTube-VIS
//! sampling): xoshiro256++ streams keyed by (seed, purpose, index), so step n's draws depend
//! only on the seed and n and a resumed run repeats an uninterrupted one exactly.

use crate::rng::{Xoshiro, splitmix};

/// A xoshiro256++ stream (the named-noise generator's).
#[derive(Clone, Debug)]
pub struct Rng(Xoshiro);

impl Rng {
    /// The stream of `(seed, purpose, index)` (e.g. `("step", n)`, `("epoch", e)`).
    pub fn keyed(seed: u64, purpose: &str, index: u64) -> Self {
        let mut h = seed ^ 0x6A09_E667_F3BC_C908;
        for b in purpose.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3);
        }
        Self(Xoshiro::new(splitmix(&mut h) ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next()
    }

    /// Uniform in `[0, n)` (`n > 0`), without modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let r = self.next_u64();
            if r < zone {
                return r % n;
            }
        }
    }

    /// numpy's `randint(low, high)`: uniform in `[low, high)`; `None` when empty (numpy raises).
    pub fn randint(&mut self, low: i64, high: i64) -> Option<i64> {
        (high > low).then(|| low + self.below((high - low) as u64) as i64)
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniformly shuffled `0..n` (Fisher–Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.below(i as u64 + 1) as usize;
            p.swap(i, j);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::keyed(3154, "step", 7).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Rng::keyed(3154, "step", 7).next_u64(), Rng::keyed(3154, "step", 8).next_u64());
        assert_ne!(Rng::keyed(3154, "step", 7).next_u64(), Rng::keyed(3154, "epoch", 7).next_u64());
        let mut r = Rng::keyed(1, "t", 0);
        let mut p = r.permutation(100);
        p.sort_unstable();
        assert_eq!(p, (0..100).collect::<Vec<_>>());
        assert!((0..1000).all(|_| r.below(1000) < 1000));
    }
}

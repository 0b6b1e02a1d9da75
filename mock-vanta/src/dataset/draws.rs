//! Deterministic pseudo-random draws keyed by (seed, record kind, index).
//!
//! Every record is generated from its own stream, so any record can be built
//! on its own in O(1) and the whole dataset never has to exist in memory.
//! The mixing is SplitMix64, written out here rather than taken from a rand
//! crate, because a dependency upgrade must never change the dataset.

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// The SplitMix64 finaliser: a bijective, well-avalanching 64-bit mix.
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hashes a seed and two keys into one well-mixed value.
pub(crate) const fn hash3(seed: u64, a: u64, b: u64) -> u64 {
    mix64(seed ^ mix64(a.wrapping_add(GOLDEN) ^ mix64(b.wrapping_mul(GOLDEN))))
}

/// A stream of draws for one record.
pub(crate) struct Draws {
    state: u64,
}

impl Draws {
    /// The stream of record `index` of kind `stream` under `seed`.
    pub(crate) fn new(seed: u64, stream: u64, index: u64) -> Self {
        Draws {
            state: hash3(seed, stream, index),
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix64(self.state)
    }

    /// Uniform in `0..n`; `n == 0` gives 0.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..hi` (`hi > lo`), for signed millisecond offsets.
    pub(crate) fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo).max(0) as u64) as i64
    }

    /// True with probability `per_mille / 1000`.
    pub(crate) fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    /// Picks one item of a slice (which must not be empty).
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// Picks an index by integer weights.
    pub(crate) fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut roll = self.below(total);
        for (i, w) in weights.iter().enumerate() {
            if roll < *w {
                return i;
            }
            roll -= w;
        }
        weights.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let first = |seed, stream, index| {
            let mut d = Draws::new(seed, stream, index);
            [d.next_u64(), d.next_u64(), d.next_u64()]
        };
        let (a, b, c) = (first(42, 1, 7), first(42, 1, 7), first(42, 1, 8));
        assert_eq!(a, b);
        assert_ne!(a, c);
        // Pinned so that an accidental change of the mixing shows up here
        // rather than as silently different datasets.
        assert_eq!(mix64(1), 0x5692_161d_100b_05e5);
    }

    #[test]
    fn below_stays_in_range() {
        let mut d = Draws::new(1, 2, 3);
        for n in [1u64, 2, 3, 1000, u64::MAX] {
            for _ in 0..100 {
                assert!(d.below(n) < n);
            }
        }
        assert_eq!(d.below(0), 0);
    }
}

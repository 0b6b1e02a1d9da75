//! Bootstrap intervals: how sure a figure is. Values are resampled with
//! replacement [`RESAMPLES`] times with a fixed seed (the same samples
//! always give the same interval) and the interval is the central
//! [`CONFIDENCE`] of the resampled figures, read with the crate's one
//! percentile definition ([`crate::analysis::stats::percentile`],
//! nearest-rank). Used by the gate's wall tier, the cold penalty of `full`
//! and the ratios of `compare`.

use serde::{Deserialize, Serialize};

use crate::analysis::stats::percentile;

/// Bootstrap resamples.
pub const RESAMPLES: usize = 4000;
/// The bootstrap's seed: fixed, so a figure is reproducible from its samples.
pub const SEED: u64 = 0x5EED_0F6A_7E00;
/// Coverage of the interval (two-sided).
pub const CONFIDENCE: f64 = 0.95;

/// A figure with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The figure from all the samples.
    pub value: f64,
    /// Lower end of the interval (never above `value`).
    pub low: f64,
    /// Upper end of the interval (never below `value`).
    pub high: f64,
}

/// The median (nearest-rank p50) of `v`, sorting it; `None` when empty.
pub fn median_in_place(v: &mut [f64]) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    percentile(v, 0.5)
}

/// The median of `v`.
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    median_in_place(&mut v)
}

/// The central [`CONFIDENCE`] interval of `figures` (resampled figures),
/// widened to hold `value`; `None` when fewer than half the resamples gave
/// a figure.
pub fn interval(value: f64, mut figures: Vec<f64>) -> Option<Estimate> {
    if figures.len() < RESAMPLES / 2 {
        return None;
    }
    figures.sort_by(f64::total_cmp);
    let tail = (1.0 - CONFIDENCE) / 2.0;
    Some(Estimate {
        value,
        low: percentile(&figures, tail)?.min(value),
        high: percentile(&figures, 1.0 - tail)?.max(value),
    })
}

/// `figure(a, b)` of two independent samples, with its bootstrap interval
/// (each sample resampled on its own). `None` when a sample is empty or the
/// figure is undefined.
pub fn two_sample(
    a: &[f64],
    b: &[f64],
    figure: impl Fn(f64, f64) -> Option<f64>,
) -> Option<Estimate> {
    let value = figure(median(a.to_vec())?, median(b.to_vec())?)?;
    let mut rng = fastrand::Rng::with_seed(SEED);
    let (mut ra, mut rb) = (Vec::with_capacity(a.len()), Vec::with_capacity(b.len()));
    let mut figures = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        ra.clear();
        rb.clear();
        ra.extend((0..a.len()).map(|_| a[rng.usize(..a.len())]));
        rb.extend((0..b.len()).map(|_| b[rng.usize(..b.len())]));
        let (Some(ma), Some(mb)) = (median_in_place(&mut ra), median_in_place(&mut rb)) else {
            continue;
        };
        if let Some(f) = figure(ma, mb) {
            figures.push(f);
        }
    }
    interval(value, figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_is_nearest_rank() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.0));
        assert_eq!(median(vec![]), None);
    }

    #[test]
    fn difference_of_medians_holds_the_truth_and_is_reproducible() {
        let a: Vec<f64> = (0..20).map(|i| 60.0 + (i % 7) as f64).collect();
        let b: Vec<f64> = (0..100).map(|i| 35.0 + (i % 5) as f64).collect();
        let d = two_sample(&a, &b, |x, y| Some(x - y)).unwrap();
        assert_eq!(d.value, 63.0 - 37.0);
        assert!(d.low <= d.value && d.value <= d.high, "{d:?}");
        assert!(d.high - d.low < 10.0, "{d:?}");
        assert_eq!(two_sample(&a, &b, |x, y| Some(x - y)), Some(d));
        assert_eq!(two_sample(&[], &b, |x, y| Some(x - y)), None);
    }
}

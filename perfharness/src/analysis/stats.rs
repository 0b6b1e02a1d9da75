//! Summary statistics of one metric over a run's samples, and the one
//! percentile definition every command uses.
//!
//! Percentiles are nearest-rank ([`percentile`]): pXX is the smallest
//! measured value with at least XX % of the values at or below it, i.e. the
//! value at rank `ceil(XX/100 * n)` of the ascending values. A percentile is
//! therefore always a value that was measured (no interpolation, no bucket
//! edges such as 44.03 for a billed 44 ms). `full`, `cold`, `warm`, `load`,
//! `power`, the gate's baseline and `compare` all call it. Min, max, mean
//! and stddev are computed exactly from the raw values.
//!
//! Availability rule: a percentile pXX is reported only when the sample
//! count can support it, that is when `n >= 100 / (100 - XX)` (at least one
//! sample above the percentile): p50 needs 2 samples, p90 10, p95 20 and p99
//! 100. Below that it is shown as "n/a", never guessed.

use serde::{Deserialize, Serialize};

/// Statistic names a target can refer to, in display order.
pub const STAT_NAMES: &[&str] = &[
    "n", "min", "p50", "p90", "p95", "p99", "max", "mean", "stddev",
];

/// Percentiles reported, with their quantile.
pub const PERCENTILES: &[(&str, f64)] =
    &[("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0)];

/// Minimum sample count for percentile `pct` (e.g. 99.0 → 100).
pub fn min_samples_for(pct: f64) -> usize {
    (100.0 / (100.0 - pct)).ceil() as usize
}

/// The statistics of one metric. Percentiles are `None` when the sample
/// count does not support them (see the module documentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    /// Smallest value.
    pub min: f64,
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest value.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1); 0 for a single value.
    pub stddev: f64,
}

impl Summary {
    /// Summarises `values` (non-finite and negative values are ignored);
    /// `None` when nothing is left.
    pub fn from_values(values: &[f64]) -> Option<Summary> {
        let vals: Vec<f64> = values
            .iter()
            .copied()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .collect();
        if vals.is_empty() {
            return None;
        }
        let n = vals.len();
        let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
        let max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = vals.iter().sum::<f64>() / n as f64;
        let stddev = if n > 1 {
            (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0)).sqrt()
        } else {
            0.0
        };
        let mut sorted = vals;
        sorted.sort_by(f64::total_cmp);
        let pct = |p: f64| -> Option<f64> {
            if n < min_samples_for(p) {
                return None;
            }
            percentile(&sorted, p / 100.0)
        };
        Some(Summary {
            n,
            min,
            p50: pct(50.0),
            p90: pct(90.0),
            p95: pct(95.0),
            p99: pct(99.0),
            max,
            mean,
            stddev,
        })
    }

    /// A statistic by name (`n`, `min`, `p50`…`p99`, `max`, `mean`,
    /// `stddev`); `None` for an unknown name or an unavailable percentile.
    pub fn get(&self, stat: &str) -> Option<f64> {
        match stat {
            "n" => Some(self.n as f64),
            "min" => Some(self.min),
            "p50" => self.p50,
            "p90" => self.p90,
            "p95" => self.p95,
            "p99" => self.p99,
            "max" => Some(self.max),
            "mean" => Some(self.mean),
            "stddev" => Some(self.stddev),
            _ => None,
        }
    }

    /// Why `stat` is unavailable, for display ("p99 needs ≥ 100 samples").
    pub fn unavailable_reason(&self, stat: &str) -> Option<String> {
        let (_, p) = PERCENTILES.iter().find(|(name, _)| *name == stat)?;
        let need = min_samples_for(*p);
        (self.n < need).then(|| format!("{stat} needs >= {need} samples, have {}", self.n))
    }
}

/// Nearest-rank percentile of an ascending slice: the smallest value with at
/// least `q` (0..=1) of the values at or below it. `None` when empty. The
/// only percentile definition of the crate (see the module documentation).
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

/// Buckets for a histogram of `values`: `bins` equal-width bins from min to
/// max, as `(lower, upper, count)`.
pub fn histogram_bins(values: &[f64], bins: usize) -> Vec<(f64, f64, usize)> {
    let vals: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if vals.is_empty() || bins == 0 {
        return Vec::new();
    }
    let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max <= min {
        return vec![(min, max, vals.len())];
    }
    let width = (max - min) / bins as f64;
    let mut out: Vec<(f64, f64, usize)> = (0..bins)
        .map(|i| (min + width * i as f64, min + width * (i + 1) as f64, 0))
        .collect();
    for v in vals {
        let idx = (((v - min) / width) as usize).min(bins - 1);
        out[idx].2 += 1;
    }
    out
}

/// Formats a figure for people: integers without decimals, others with 2,
/// tiny values (costs) with 6.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".to_string();
    }
    if v == v.trunc() && v.abs() < 1e12 {
        format!("{v:.0}")
    } else if v.abs() >= 0.01 {
        format!("{v:.2}")
    } else {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').to_string()
    }
}

/// Formats an optional statistic (`n/a` when unavailable).
pub fn fmt_opt(v: Option<f64>) -> String {
    v.map(fmt_num).unwrap_or_else(|| "n/a".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn availability_rule() {
        assert_eq!(min_samples_for(50.0), 2);
        assert_eq!(min_samples_for(90.0), 10);
        assert_eq!(min_samples_for(95.0), 20);
        assert_eq!(min_samples_for(99.0), 100);
        let s = Summary::from_values(&[1.0; 19]).unwrap();
        assert!(s.p90.is_some());
        assert!(s.p95.is_none());
        assert_eq!(
            s.unavailable_reason("p95").unwrap(),
            "p95 needs >= 20 samples, have 19"
        );
        assert!(s.unavailable_reason("p90").is_none());
        let one = Summary::from_values(&[5.0]).unwrap();
        assert_eq!(one.p50, None);
        assert_eq!(one.min, 5.0);
        assert_eq!(one.stddev, 0.0);
    }

    #[test]
    fn percentiles_of_one_to_hundred() {
        let vals: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = Summary::from_values(&vals).unwrap();
        assert_eq!(s.n, 100);
        assert_eq!(s.min, 1.0);
        assert_eq!(s.max, 100.0);
        assert!((s.mean - 50.5).abs() < 1e-9);
        // Percentiles are measured values, not bucket edges.
        assert_eq!(s.p50, Some(50.0));
        assert_eq!(s.p90, Some(90.0));
        assert_eq!(s.p99, Some(99.0));
        assert!((s.stddev - 29.011491975882).abs() < 1e-6);
        assert_eq!(s.get("p99"), s.p99);
        assert_eq!(s.get("n"), Some(100.0));
        assert_eq!(s.get("bogus"), None);
    }

    #[test]
    fn sub_millisecond_values_keep_precision_and_stay_in_range() {
        let s = Summary::from_values(&[0.123, 0.125, 0.127, 0.129]).unwrap();
        let p = s.p50.unwrap();
        assert!([0.123, 0.125, 0.127, 0.129].contains(&p), "{p}");
        assert!(Summary::from_values(&[f64::NAN, -1.0]).is_none());
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), Some(50.0));
        assert_eq!(percentile(&v, 0.99), Some(99.0));
        assert_eq!(percentile(&v, 1.0), Some(100.0));
        assert_eq!(percentile(&[7.0], 0.99), Some(7.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn bins_cover_every_value() {
        let vals: Vec<f64> = (0..50).map(f64::from).collect();
        let bins = histogram_bins(&vals, 7);
        assert_eq!(bins.len(), 7);
        assert_eq!(bins.iter().map(|b| b.2).sum::<usize>(), 50);
        assert_eq!(histogram_bins(&[3.0, 3.0], 5), vec![(3.0, 3.0, 2)]);
    }
}

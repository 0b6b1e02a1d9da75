//! The gate's wall-time tier: a statistical decision over the paired
//! rounds of cold starts instead of a fixed limit on two percentiles.
//!
//! Each round gives one init figure of the function and one of the
//! reference no-op function (the best of `--repeat` cold starts each, taken
//! back to back). The statistic is the median over rounds of the round's
//! ratio function / reference (locally; on AWS, with no reference, the
//! function's median in ms). A round's two figures share the machine's load
//! of that moment, so their ratio cancels it: on a machine loaded by
//! concurrent builds this gave intervals two to three times narrower than
//! the ratio of the two medians (docs/gate.md). The
//! change against the baseline is `now / baseline − 1`, and its uncertainty
//! comes from a bootstrap: the rounds of this run and of the baseline (which
//! stores its rounds) are resampled with replacement, pairs kept together,
//! [`RESAMPLES`] times with a fixed seed, so the same samples always give the
//! same interval. The decision:
//!
//! - the whole 95 % interval above the limit: a regression (exit 1);
//! - the whole interval at or below the limit: a pass;
//! - the interval across the limit: too noisy to decide (exit 2 with the
//!   reason), never a silent pass.
//!
//! The smallest regression the run could have detected is the change whose
//! interval, shaped like this run's, would lie just above the limit.

use serde::{Deserialize, Serialize};

use crate::analysis::interval::{interval, median_in_place};
pub use crate::analysis::interval::{median, CONFIDENCE, RESAMPLES, SEED};

/// One figure per round: the function's init and, paired with it by
/// index, the reference's (empty when no reference was measured).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rounds {
    /// The function's init per round, ms.
    pub function: Vec<f64>,
    /// The reference's init in the same rounds, ms (empty without one).
    #[serde(default)]
    pub reference: Vec<f64>,
}

impl Rounds {
    /// Whether the rounds are paired with a reference.
    pub fn paired(&self) -> bool {
        !self.reference.is_empty()
    }

    /// Number of rounds.
    pub fn len(&self) -> usize {
        self.function.len()
    }

    /// True without rounds.
    pub fn is_empty(&self) -> bool {
        self.function.is_empty()
    }

    /// The value of round `i`: function / reference, or the function's
    /// figure without a reference (`None` for a zero reference).
    fn value(&self, i: usize) -> Option<f64> {
        if !self.paired() {
            return Some(self.function[i]);
        }
        let r = *self.reference.get(i)?;
        (r > 0.0).then(|| self.function[i] / r)
    }

    /// The statistic: the median of the rounds' ratios function /
    /// reference, or the function's median without a reference. `None`
    /// without rounds or with a zero reference figure.
    pub fn statistic(&self) -> Option<f64> {
        let v: Option<Vec<f64>> = (0..self.len()).map(|i| self.value(i)).collect();
        median(v?)
    }

    fn resample(&self, rng: &mut fastrand::Rng, buf: &mut Vec<f64>) -> Option<f64> {
        let n = self.len();
        buf.clear();
        for _ in 0..n {
            buf.push(self.value(rng.usize(..n))?);
        }
        median_in_place(buf)
    }
}

/// What the wall tier decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Within the limit.
    Pass,
    /// Above the limit.
    Fail,
    /// The interval crosses the limit: too noisy to decide.
    Undecided,
}

/// The comparison of a run's rounds with the baseline's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The baseline's statistic.
    pub baseline: f64,
    /// This run's statistic.
    pub now: f64,
    /// now / baseline − 1.
    pub change: f64,
    /// Lower end of the interval of the change.
    pub low: f64,
    /// Upper end of the interval of the change.
    pub high: f64,
    /// The largest change allowed.
    pub limit: f64,
    /// The smallest change this run's interval would have put above the limit.
    pub detectable: f64,
    /// The decision.
    pub verdict: Verdict,
    /// Rounds behind each side.
    pub rounds: (usize, usize),
}

/// Compares `now` with `baseline` (both paired or both not). `None` when a
/// side has no rounds or a zero reference median.
pub fn decide(baseline: &Rounds, now: &Rounds, limit: f64) -> Option<Decision> {
    let (b, n) = (baseline.statistic()?, now.statistic()?);
    if b <= 0.0 || baseline.paired() != now.paired() {
        return None;
    }
    let change = n / b - 1.0;
    let mut rng = fastrand::Rng::with_seed(SEED);
    let mut buf = Vec::new();
    let mut changes = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        let nb = baseline.resample(&mut rng, &mut buf);
        let nn = now.resample(&mut rng, &mut buf);
        if let (Some(nb), Some(nn)) = (nb, nn) {
            if nb > 0.0 {
                changes.push(nn / nb - 1.0);
            }
        }
    }
    // The interval always holds the estimate itself.
    let est = interval(change, changes)?;
    let (low, high) = (est.low, est.high);
    let verdict = if low > limit {
        Verdict::Fail
    } else if high <= limit {
        Verdict::Pass
    } else {
        Verdict::Undecided
    };
    // The interval's lower end sits at (1 + change) × below of a true
    // change; the smallest true change whose lower end clears the limit:
    let below = (1.0 + low) / (1.0 + change);
    let detectable = if below > 0.0 {
        (1.0 + limit) / below - 1.0
    } else {
        f64::INFINITY
    };
    Some(Decision {
        baseline: b,
        now: n,
        change,
        low,
        high,
        limit,
        detectable,
        verdict,
        rounds: (baseline.len(), now.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rounds(f: &[f64], r: &[f64]) -> Rounds {
        Rounds {
            function: f.to_vec(),
            reference: r.to_vec(),
        }
    }

    /// Deterministic "noise": a fixed spread of values around `centre`.
    fn noisy(centre: f64, n: usize, spread: f64, seed: u64) -> Vec<f64> {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..n)
            .map(|_| centre * (1.0 + spread * (rng.f64() - 0.5)))
            .collect()
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.0));
        assert_eq!(median(vec![]), None);
        // Ratios 1.5 and 3: their (nearest-rank) median is 1.5.
        assert_eq!(rounds(&[3.0, 3.0], &[2.0, 1.0]).statistic(), Some(1.5));
        assert_eq!(rounds(&[3.0], &[]).statistic(), Some(3.0));
    }

    #[test]
    fn unchanged_passes_and_is_reproducible() {
        let base = rounds(&noisy(3.0, 20, 0.2, 1), &noisy(2.0, 20, 0.2, 2));
        let now = rounds(&noisy(3.0, 20, 0.2, 3), &noisy(2.0, 20, 0.2, 4));
        let d = decide(&base, &now, 0.25).unwrap();
        assert_eq!(d.verdict, Verdict::Pass, "{d:?}");
        assert!(d.low <= d.change && d.change <= d.high);
        assert!(d.detectable > d.limit && d.detectable < 0.6, "{d:?}");
        assert_eq!(decide(&base, &now, 0.25).unwrap(), d);
    }

    #[test]
    fn a_slower_function_fails() {
        let base = rounds(&noisy(3.0, 20, 0.2, 1), &noisy(2.0, 20, 0.2, 2));
        let now = rounds(&noisy(6.0, 20, 0.2, 3), &noisy(2.0, 20, 0.2, 4));
        let d = decide(&base, &now, 0.25).unwrap();
        assert_eq!(d.verdict, Verdict::Fail, "{d:?}");
        assert!(d.low > 0.25 && (d.change - 1.0).abs() < 0.2, "{d:?}");
    }

    #[test]
    fn a_slower_machine_moves_both_and_passes() {
        let base = rounds(&noisy(3.0, 20, 0.2, 1), &noisy(2.0, 20, 0.2, 2));
        let f: Vec<f64> = base.function.iter().map(|x| x * 2.0).collect();
        let r: Vec<f64> = base.reference.iter().map(|x| x * 2.0).collect();
        let d = decide(&base, &rounds(&f, &r), 0.25).unwrap();
        assert!(d.change.abs() < 1e-12);
        assert_eq!(d.verdict, Verdict::Pass);
    }

    #[test]
    fn noise_around_the_limit_is_undecided() {
        let base = rounds(&noisy(3.0, 10, 1.2, 1), &noisy(2.0, 10, 1.2, 2));
        let now = rounds(&noisy(3.7, 10, 1.2, 3), &noisy(2.0, 10, 1.2, 4));
        let d = decide(&base, &now, 0.25).unwrap();
        assert_eq!(d.verdict, Verdict::Undecided, "{d:?}");
        assert!(d.low <= 0.25 && d.high > 0.25);
    }

    #[test]
    fn unusable_rounds_give_no_decision() {
        let base = rounds(&[1.0, 2.0], &[1.0, 1.0]);
        assert!(decide(&base, &rounds(&[], &[]), 0.1).is_none());
        assert!(decide(&base, &rounds(&[1.0], &[]), 0.1).is_none());
        assert!(decide(&rounds(&[1.0], &[0.0]), &base, 0.1).is_none());
    }
}

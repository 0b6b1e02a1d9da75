//! When each invocation of a load run is due.
//!
//! The open model issues invocations on a fixed timetable that does not wait
//! for earlier answers; the closed model runs `C` workers back to back. Both
//! ramp up linearly over `--ramp` and are bounded by a duration and a count.

use std::time::Duration;

/// The timetable of an open-model run: `rate` invocations per second after a
/// linear ramp from zero over `ramp`, until `duration` or `max_count`.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenSchedule {
    /// Target rate after the ramp, invocations per second (> 0).
    pub rate: f64,
    /// Length of the linear ramp from 0 to `rate`.
    pub ramp: Duration,
    /// Nothing is scheduled at or after this offset.
    pub duration: Duration,
    /// Nothing is scheduled beyond this many invocations.
    pub max_count: u64,
}

impl OpenSchedule {
    /// The offset from the run's start at which invocation `i` (0-based) is
    /// due, or `None` when it falls outside the duration or the count.
    ///
    /// The cumulative number of invocations due by time `t` is
    /// `N(t) = rate·t²/(2·ramp)` during the ramp and
    /// `rate·ramp/2 + rate·(t − ramp)` after it; invocation `i` is due when
    /// `N(t) = i`, so the first one leaves at once.
    pub fn offset(&self, i: u64) -> Option<Duration> {
        if i >= self.max_count || self.rate.is_nan() || self.rate <= 0.0 {
            return None;
        }
        let i = i as f64;
        let ramp = self.ramp.as_secs_f64();
        let in_ramp = self.rate * ramp / 2.0;
        let t = if ramp > 0.0 && i < in_ramp {
            (2.0 * i * ramp / self.rate).sqrt()
        } else {
            ramp + (i - in_ramp) / self.rate
        };
        let t = Duration::from_secs_f64(t);
        (t < self.duration).then_some(t)
    }

    /// Every due offset in order.
    pub fn offsets(&self) -> impl Iterator<Item = Duration> + '_ {
        (0..).map_while(|i| self.offset(i))
    }

    /// How many invocations the whole timetable holds.
    pub fn planned_count(&self) -> u64 {
        self.offsets().count() as u64
    }
}

/// The closed model: `concurrency` workers invoking back to back, started one
/// after another across the ramp.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedPlan {
    /// Number of workers (> 0).
    pub concurrency: u32,
    /// Workers start evenly spread over this span.
    pub ramp: Duration,
    /// No invocation starts at or after this offset.
    pub duration: Duration,
    /// No more than this many invocations across all workers.
    pub max_count: u64,
}

impl ClosedPlan {
    /// When worker `k` (0-based) starts: worker 0 at once, the others evenly
    /// spread so the last starts just before the end of the ramp.
    pub fn worker_start(&self, k: u32) -> Duration {
        if self.concurrency == 0 {
            return Duration::ZERO;
        }
        self.ramp
            .mul_f64(f64::from(k) / f64::from(self.concurrency))
    }
}

/// Why a load run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The duration passed.
    Duration,
    /// The maximum count was reached.
    MaxCount,
    /// The user pressed Ctrl-C.
    Interrupted,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(rate: f64, ramp_s: u64, dur_s: u64, max: u64) -> OpenSchedule {
        OpenSchedule {
            rate,
            ramp: Duration::from_secs(ramp_s),
            duration: Duration::from_secs(dur_s),
            max_count: max,
        }
    }

    #[test]
    fn steady_rate_is_evenly_spaced() {
        let s = open(10.0, 0, 2, u64::MAX);
        let v: Vec<_> = s.offsets().collect();
        assert_eq!(v.len(), 20);
        assert_eq!(v[0], Duration::ZERO);
        for w in v.windows(2) {
            let gap = (w[1] - w[0]).as_secs_f64();
            assert!((gap - 0.1).abs() < 1e-9, "gap {gap}");
        }
    }

    #[test]
    fn ramp_halves_the_invocations_during_it() {
        // 100/s, 10 s ramp, 20 s total: 500 in the ramp + 1000 after.
        let s = open(100.0, 10, 20, u64::MAX);
        let n = s.planned_count();
        assert!((1499..=1501).contains(&n), "{n}");
        let in_ramp = s
            .offsets()
            .take_while(|t| *t < Duration::from_secs(10))
            .count();
        assert!((499..=501).contains(&in_ramp), "{in_ramp}");
        // The gaps shrink during the ramp.
        let v: Vec<_> = s.offsets().take(50).collect();
        assert!(v[2] - v[1] > v[49] - v[48]);
    }

    #[test]
    fn offsets_are_monotonic_across_the_ramp_end() {
        let s = open(7.0, 3, 10, u64::MAX);
        let v: Vec<_> = s.offsets().collect();
        assert!(v.windows(2).all(|w| w[0] < w[1]));
        assert!(*v.last().unwrap() < Duration::from_secs(10));
    }

    #[test]
    fn bounded_by_count() {
        let s = open(1000.0, 0, 60, 25);
        assert_eq!(s.planned_count(), 25);
        assert_eq!(s.offset(25), None);
    }

    #[test]
    fn zero_rate_schedules_nothing() {
        assert_eq!(open(0.0, 0, 10, 10).planned_count(), 0);
        assert_eq!(open(f64::NAN, 0, 10, 10).planned_count(), 0);
    }

    #[test]
    fn closed_workers_spread_over_ramp() {
        let p = ClosedPlan {
            concurrency: 4,
            ramp: Duration::from_secs(8),
            duration: Duration::from_secs(60),
            max_count: 100,
        };
        assert_eq!(p.worker_start(0), Duration::ZERO);
        assert_eq!(p.worker_start(2), Duration::from_secs(4));
        assert_eq!(p.worker_start(3), Duration::from_secs(6));
    }
}

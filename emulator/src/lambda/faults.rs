//! Faults the Lambda service can inject, for tests of what AWS does rarely
//! but does: an asynchronous event delivered twice (at the same time or one
//! after the other), and an execution environment killed mid-invocation
//! (as a timeout or an out-of-memory kill does). Every draw comes from one
//! seeded generator, so a seed replays the same sequence of decisions.

use std::sync::Mutex;
use std::time::Duration;

/// What to inject; everything off by default.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSettings {
    /// Fraction (0..=1) of Event invocations delivered twice.
    pub duplicate_rate: f64,
    /// Of those, the fraction whose second copy runs at the same time as
    /// the first; the others run right after the first copy ends.
    pub concurrent_share: f64,
    /// Fraction (0..=1) of invocations whose execution environment is
    /// killed while the invocation runs.
    pub kill_rate: f64,
    /// A killed invocation is killed this long after delivery at most (the
    /// moment is drawn uniformly below it).
    pub kill_within: Duration,
    /// Seed of the generator behind every draw.
    pub seed: u64,
}

impl Default for FaultSettings {
    fn default() -> Self {
        Self {
            duplicate_rate: 0.0,
            concurrent_share: 0.5,
            kill_rate: 0.0,
            kill_within: Duration::from_millis(500),
            seed: 0,
        }
    }
}

impl FaultSettings {
    /// One line saying what is wrong, for a rate outside 0..=1.
    ///
    /// # Errors
    /// When a rate or share is not a fraction.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("duplicate_rate", self.duplicate_rate),
            ("concurrent_share", self.concurrent_share),
            ("kill_rate", self.kill_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("{name} must be between 0 and 1, got {v}"));
            }
        }
        Ok(())
    }
}

/// How a duplicate copy of an event is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Duplicate {
    /// At the same time as the first copy.
    Concurrent,
    /// After the first copy has ended.
    After,
}

/// The settings and their generator.
pub(crate) struct Faults {
    state: Mutex<(FaultSettings, fastrand::Rng)>,
}

impl Default for Faults {
    fn default() -> Self {
        Self::new(FaultSettings::default())
    }
}

impl Faults {
    pub fn new(settings: FaultSettings) -> Self {
        let rng = fastrand::Rng::with_seed(settings.seed);
        Self {
            state: Mutex::new((settings, rng)),
        }
    }

    /// Replaces the settings and reseeds the generator.
    pub fn set(&self, settings: FaultSettings) {
        let rng = fastrand::Rng::with_seed(settings.seed);
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = (settings, rng);
    }

    /// Whether (and how) an event is delivered a second time.
    pub fn draw_duplicate(&self) -> Option<Duplicate> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (settings, rng) = &mut *state;
        if settings.duplicate_rate <= 0.0 || rng.f64() >= settings.duplicate_rate {
            return None;
        }
        Some(if rng.f64() < settings.concurrent_share {
            Duplicate::Concurrent
        } else {
            Duplicate::After
        })
    }

    /// When to kill an invocation just delivered, if at all.
    pub fn draw_kill(&self) -> Option<Duration> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (settings, rng) = &mut *state;
        if settings.kill_rate <= 0.0 || rng.f64() >= settings.kill_rate {
            return None;
        }
        Some(settings.kill_within.mul_f64(rng.f64()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_the_same_draws() {
        let settings = FaultSettings {
            duplicate_rate: 0.3,
            kill_rate: 0.2,
            seed: 7,
            ..FaultSettings::default()
        };
        let draws = |f: &Faults| {
            (0..200)
                .map(|_| (f.draw_duplicate(), f.draw_kill()))
                .collect::<Vec<_>>()
        };
        let a = draws(&Faults::new(settings.clone()));
        let b = draws(&Faults::new(settings));
        assert_eq!(a, b);
        let duplicates = a.iter().filter(|(d, _)| d.is_some()).count();
        assert!(
            (30..=90).contains(&duplicates),
            "{duplicates} of 200 at 30 %"
        );
        assert!(a.iter().any(|(d, _)| *d == Some(Duplicate::Concurrent)));
        assert!(a.iter().any(|(d, _)| *d == Some(Duplicate::After)));
    }

    #[test]
    fn off_by_default() {
        let f = Faults::default();
        assert!((0..100).all(|_| f.draw_duplicate().is_none() && f.draw_kill().is_none()));
        assert!(FaultSettings {
            kill_rate: 1.5,
            ..FaultSettings::default()
        }
        .validate()
        .is_err());
    }
}

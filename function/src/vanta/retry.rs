//! When and how long to wait before retrying a Vanta request.

use std::time::{Duration, SystemTime};

/// Exponential backoff with full jitter and a cap, overridden by `Retry-After`.
///
/// Full jitter (a uniformly random wait between zero and the exponential
/// bound) spreads the retries of concurrent clients instead of having them
/// hit a rate-limited API in lock step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// Bound of the first backoff; doubles each retry.
    pub base: Duration,
    /// Largest backoff bound.
    pub cap: Duration,
    /// Largest `Retry-After` honoured; a longer one is clamped to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Upper bound of the jittered wait before retry number `retry` (0-based).
    pub fn bound(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The wait before retry number `retry` (0-based): the server's
    /// `Retry-After` when it sent one, else a random duration in `[0, bound]`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_retry_after);
        }
        let bound = self.bound(retry).as_micros() as u64;
        Duration::from_micros(fastrand::u64(0..=bound))
    }
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date (RFC 9110).
/// A date in the past means "now".
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        // A value too large for a Duration is as good as "very long".
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX));
        }
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        assert_eq!(p.bound(0), Duration::from_millis(100));
        assert_eq!(p.bound(1), Duration::from_millis(200));
        assert_eq!(p.bound(3), Duration::from_millis(800));
        assert_eq!(p.bound(4), Duration::from_secs(1));
        assert_eq!(p.bound(40), Duration::from_secs(1));
    }

    #[test]
    fn full_jitter_stays_within_bound_and_varies() {
        let p = RetryPolicy::default();
        let samples: Vec<Duration> = (0..200).map(|_| p.delay(2, None)).collect();
        assert!(samples.iter().all(|d| *d <= p.bound(2)));
        let distinct: std::collections::HashSet<_> = samples.iter().collect();
        assert!(distinct.len() > 100, "jitter should spread waits");
        assert!(samples.iter().any(|d| *d < p.bound(2) / 2));
    }

    #[test]
    fn retry_after_wins_and_is_clamped() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.delay(5, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(3600))),
            p.max_retry_after
        );
    }

    #[test]
    fn retry_after_both_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        // Absurd values are long waits (clamped by the policy), not panics.
        assert!(
            parse_retry_after("99999999999999999999999", now).unwrap()
                > Duration::from_secs(1 << 40)
        );
        assert!(parse_retry_after("1e300", now).unwrap() > Duration::from_secs(1 << 40));
    }
}

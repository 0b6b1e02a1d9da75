//! Rate limits under a choice of models ([`RateModel`]) and scopes
//! ([`LimitScope`]). Rejected requests never count, so a client that waits
//! out `Retry-After` gets through.
//!
//! - Sliding window: at most N accepted requests in any window-long interval
//!   (the log of accepted requests is kept; the wait is until the oldest one
//!   leaves the window).
//! - Fixed window: at most N accepted requests per window, windows aligned to
//!   the limiter's epoch (server start or the last admin reset); the count
//!   starts over at each boundary, the wait is until the next boundary.
//! - Token bucket: a bucket of `burst` tokens, full at the start, refilled at
//!   N per window; a request takes one token; the wait is until one token.

use crate::config::{LimitScope, RateModel};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Which limit a request counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Bucket {
    Api,
    Token,
}

/// One counter's state; its shape follows the model.
enum Counter {
    Sliding(VecDeque<Instant>),
    Fixed { index: u128, count: u32 },
    Tokens { tokens: f64, at: Instant },
}

/// The counters of every (bucket, client, scope key).
pub(crate) struct RateLimiter {
    epoch: Instant,
    counters: HashMap<(Bucket, String, &'static str), Counter>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            counters: HashMap::new(),
        }
    }
}

/// The key a request to `route` (a route pattern, see `admin::route_of`)
/// counts under for `scope`.
pub(crate) fn scope_key(scope: LimitScope, route: &'static str) -> &'static str {
    match scope {
        LimitScope::Client => "",
        LimitScope::Endpoint => route,
        LimitScope::Group => match route {
            "/v1/vulnerable-assets" | "/v1/vulnerable-assets/{id}" => "assets",
            _ => "vulnerabilities",
        },
    }
}

impl RateLimiter {
    /// Admits a request, or says how long until one would be admitted.
    /// `limit == 0` admits everything.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn admit(
        &mut self,
        bucket: Bucket,
        client: &str,
        key: &'static str,
        model: RateModel,
        limit: u32,
        window: Duration,
        now: Instant,
    ) -> Result<(), Duration> {
        if limit == 0 {
            return Ok(());
        }
        let epoch = self.epoch;
        let counter = self
            .counters
            .entry((bucket, client.to_string(), key))
            .or_insert_with(|| match model {
                RateModel::SlidingWindow => Counter::Sliding(VecDeque::new()),
                RateModel::FixedWindow => Counter::Fixed { index: 0, count: 0 },
                RateModel::TokenBucket { burst } => Counter::Tokens {
                    tokens: f64::from(burst),
                    at: now,
                },
            });
        match (model, counter) {
            (RateModel::SlidingWindow, Counter::Sliding(hits)) => {
                while hits
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= window)
                {
                    hits.pop_front();
                }
                if hits.len() < limit as usize {
                    hits.push_back(now);
                    return Ok(());
                }
                let oldest = hits.front().copied().unwrap_or(now);
                Err(window.saturating_sub(now.duration_since(oldest)))
            }
            (RateModel::FixedWindow, Counter::Fixed { index, count }) => {
                let since = now.saturating_duration_since(epoch);
                let current = since.as_nanos() / window.as_nanos().max(1);
                if current != *index {
                    *index = current;
                    *count = 0;
                }
                if *count < limit {
                    *count += 1;
                    return Ok(());
                }
                let next = window.as_nanos().saturating_mul(current + 1);
                let next = Duration::from_nanos(u64::try_from(next).unwrap_or(u64::MAX));
                Err(next.saturating_sub(since))
            }
            (RateModel::TokenBucket { burst }, Counter::Tokens { tokens, at }) => {
                let per_s = f64::from(limit) / window.as_secs_f64();
                let elapsed = now.saturating_duration_since(*at).as_secs_f64();
                *tokens = (*tokens + elapsed * per_s).min(f64::from(burst));
                *at = now;
                if *tokens >= 1.0 {
                    *tokens -= 1.0;
                    return Ok(());
                }
                Err(Duration::from_secs_f64(
                    ((1.0 - *tokens) / per_s).min(window.as_secs_f64()),
                ))
            }
            // The model changed under a live counter (the admin API clears
            // the counters when it changes the model, so this is a race):
            // start this counter over under the new model.
            _ => {
                self.counters.remove(&(bucket, client.to_string(), key));
                self.admit(bucket, client, key, model, limit, window, now)
            }
        }
    }

    /// Forgets every counter and restarts the fixed windows (admin reset,
    /// or a change of model, scope or window).
    pub(crate) fn clear(&mut self) {
        self.counters.clear();
        self.epoch = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_secs(60);

    #[test]
    fn sliding_admits_up_to_the_limit_per_window_and_client() {
        let mut rl = RateLimiter::default();
        let t0 = Instant::now();
        let m = RateModel::SlidingWindow;
        for _ in 0..3 {
            assert!(rl.admit(Bucket::Api, "a", "", m, 3, W, t0).is_ok());
        }
        let wait = rl
            .admit(Bucket::Api, "a", "", m, 3, W, t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(rl.admit(Bucket::Api, "b", "", m, 3, W, t0).is_ok());
        assert!(rl.admit(Bucket::Token, "a", "", m, 3, W, t0).is_ok());
        assert!(rl.admit(Bucket::Api, "a", "x", m, 3, W, t0).is_ok());
        assert!(rl.admit(Bucket::Api, "a", "", m, 3, W, t0 + W).is_ok());
        assert!(rl.admit(Bucket::Api, "a", "", m, 0, W, t0).is_ok());
    }

    #[test]
    fn fixed_windows_start_over_at_each_boundary() {
        let mut rl = RateLimiter::default();
        let t0 = rl.epoch;
        let m = RateModel::FixedWindow;
        let at = |s: u64| t0 + Duration::from_secs(s);
        // Three late in window 0, and three more right after the boundary:
        // six within two seconds, which a sliding window would refuse.
        for _ in 0..3 {
            assert!(rl.admit(Bucket::Api, "a", "", m, 3, W, at(59)).is_ok());
        }
        assert_eq!(
            rl.admit(Bucket::Api, "a", "", m, 3, W, at(59)).unwrap_err(),
            Duration::from_secs(1)
        );
        for _ in 0..3 {
            assert!(rl.admit(Bucket::Api, "a", "", m, 3, W, at(60)).is_ok());
        }
        assert_eq!(
            rl.admit(Bucket::Api, "a", "", m, 3, W, at(61)).unwrap_err(),
            Duration::from_secs(59)
        );
    }

    #[test]
    fn token_bucket_bursts_then_refills_at_the_rate() {
        let mut rl = RateLimiter::default();
        let t0 = Instant::now();
        let m = RateModel::TokenBucket { burst: 2 };
        // 6 a minute: one token every 10 s, at most 2 saved up.
        assert!(rl.admit(Bucket::Api, "a", "", m, 6, W, t0).is_ok());
        assert!(rl.admit(Bucket::Api, "a", "", m, 6, W, t0).is_ok());
        let wait = rl.admit(Bucket::Api, "a", "", m, 6, W, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 10.0).abs() < 1e-6, "{wait:?}");
        let t1 = t0 + Duration::from_secs(10);
        assert!(rl.admit(Bucket::Api, "a", "", m, 6, W, t1).is_ok());
        assert!(rl.admit(Bucket::Api, "a", "", m, 6, W, t1).is_err());
        // A long pause saves up no more than the burst.
        let t2 = t1 + Duration::from_secs(600);
        for _ in 0..2 {
            assert!(rl.admit(Bucket::Api, "a", "", m, 6, W, t2).is_ok());
        }
        assert!(rl.admit(Bucket::Api, "a", "", m, 6, W, t2).is_err());
    }

    #[test]
    fn scopes_share_or_split_the_counters() {
        let list = "/v1/vulnerabilities";
        let rems = "/v1/vulnerability-remediations";
        let assets = "/v1/vulnerable-assets";
        assert_eq!(
            scope_key(LimitScope::Client, list),
            scope_key(LimitScope::Client, assets)
        );
        assert_ne!(
            scope_key(LimitScope::Endpoint, list),
            scope_key(LimitScope::Endpoint, rems)
        );
        assert_eq!(
            scope_key(LimitScope::Group, list),
            scope_key(LimitScope::Group, rems)
        );
        assert_ne!(
            scope_key(LimitScope::Group, list),
            scope_key(LimitScope::Group, assets)
        );
        assert_eq!(
            scope_key(LimitScope::Group, "/v1/vulnerable-assets/{id}"),
            scope_key(LimitScope::Group, assets)
        );
    }
}

//! Per-client sliding-window rate limits: at most N accepted requests in any
//! window (a minute at Vanta). Rejected requests do not count, so a client
//! that waits out `Retry-After` gets through.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Which limit a request counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Bucket {
    Api,
    Token,
}

/// The accepted requests of each (bucket, client) within the window.
#[derive(Default)]
pub(crate) struct RateLimiter {
    hits: HashMap<(Bucket, String), VecDeque<Instant>>,
}

impl RateLimiter {
    /// Admits a request, or says how long until one would be admitted.
    /// `limit == 0` admits everything.
    pub(crate) fn admit(
        &mut self,
        bucket: Bucket,
        client: &str,
        limit: u32,
        window: Duration,
        now: Instant,
    ) -> Result<(), Duration> {
        if limit == 0 {
            return Ok(());
        }
        let hits = self.hits.entry((bucket, client.to_string())).or_default();
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

    /// Forgets every window (admin reset).
    pub(crate) fn clear(&mut self) {
        self.hits.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_limit_per_window_and_client() {
        let mut rl = RateLimiter::default();
        let t0 = Instant::now();
        let w = Duration::from_secs(60);
        for _ in 0..3 {
            assert!(rl.admit(Bucket::Api, "a", 3, w, t0).is_ok());
        }
        let wait = rl
            .admit(Bucket::Api, "a", 3, w, t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(rl.admit(Bucket::Api, "b", 3, w, t0).is_ok());
        assert!(rl.admit(Bucket::Token, "a", 3, w, t0).is_ok());
        assert!(rl.admit(Bucket::Api, "a", 3, w, t0 + w).is_ok());
        assert!(rl.admit(Bucket::Api, "a", 0, w, t0).is_ok());
    }
}

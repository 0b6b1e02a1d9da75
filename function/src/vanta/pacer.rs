//! Pacing of the list calls under Vanta's rate limit.
//!
//! Vanta publishes about 50 requests a minute for the read endpoints but not
//! how it counts them (fixed window, sliding window, token bucket; per
//! client, per endpoint or per endpoint group). Two strategies:
//!
//! - [`PacingMode::Adaptive`] (the default) uses what the server allows and
//!   learns the rest. It starts with the configured allowance as a burst and
//!   then keeps to the rate: its **ceiling** is never more than N requests
//!   (`VANTA_RATE_LIMIT_PER_MIN`) to the list endpoints together in any
//!   window-long interval, counted from when each answer arrived (the server
//!   counted the request no later than that), so a server that allows N per
//!   window under a fixed or a sliding window never answers 429. A stricter
//!   server (a token bucket with a smaller burst, a lower rate) answers 429
//!   once: the pacer then honours `Retry-After` (or, without one, backs off:
//!   one token's time, doubling while 429s repeat) and from then on models
//!   the server as a token bucket whose size is what it admitted in the
//!   burst, refilled at the allowance's rate. A further 429 while spending
//!   saved-up tokens shrinks the bucket to what got through; one at the
//!   learned rate lowers the rate by a fifth and halves the bucket; a 429 to a request already in
//!   flight when the pacer learned teaches nothing new.
//!
//! The three list endpoints are paced as one group; after its first 429
//! each endpoint also keeps to a bucket of its own, the size of what the
//! refused endpoint got through (see `Own`), so limits counted per endpoint
//! cost one 429 rather than one per endpoint. The budget is theirs
//! together, so a server that counts per endpoint or per group could not be
//! used faster without exceeding it; and telling separate server-side groups
//! from one shared token bucket needs evidence that a refill between two
//! requests in flight can fake (tried: splitting on "another endpoint got
//! through while this one was refused" split a shared bucket wrongly and
//! made the 120-page token-bucket run 40% slower). [`PacerState`] keeps a
//! list of groups so a later version can split them without a new
//! checkpoint format.
//! - [`PacingMode::Even`] spaces requests evenly, one every window / N: the
//!   earlier behaviour, never faster than the allowance's rate.
//!
//! A continuation (a new invocation, maybe a new process) carries the
//! pacer's state in its checkpoint ([`PacerState`]: the answers of the last
//! window as wall-clock times, and each group's learned bucket), so it
//! resumes at the learned rate instead of bursting into a limit the
//! previous invocation had used up. Starting conservatively instead would
//! have cost every continuation its burst even when the window had passed.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::client::Endpoint;

/// How list calls are paced (`VANTA_PACING`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PacingMode {
    /// Burst the allowance, keep to the rate, learn from 429s.
    #[default]
    Adaptive,
    /// One request every window / N, whatever the server allows.
    Even,
}

impl PacingMode {
    /// The name `VANTA_PACING` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            PacingMode::Adaptive => "adaptive",
            PacingMode::Even => "even",
        }
    }
}

impl std::str::FromStr for PacingMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "adaptive" => Ok(PacingMode::Adaptive),
            "even" => Ok(PacingMode::Even),
            _ => Err(format!(
                "{:?} is not a pacing mode; expected adaptive (the default: burst the allowance, then keep to the rate and learn from 429s) or even (one request every minute / VANTA_RATE_LIMIT_PER_MIN)",
                s.trim()
            )),
        }
    }
}

/// What happened to a paced request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The server took it (any answer but 429, or no answer at all: it may
    /// have been counted).
    Counted,
    /// 429, with the server's `Retry-After` if it sent one (already clamped).
    RateLimited(Option<Duration>),
}

/// A granted slot, returned with the answer to [`Pacer::finish`].
#[derive(Debug)]
pub struct Grant {
    id: u64,
    endpoint: Endpoint,
    sent: Instant,
    /// Spent a token saved up in the learned bucket (not a fresh one).
    saved: bool,
}

/// A learned limit of one group of endpoints.
#[derive(Clone, Debug, PartialEq)]
struct Learned {
    /// Bucket size.
    capacity: f64,
    /// Refill, requests per second.
    rate: f64,
    tokens: f64,
    at: Instant,
}

#[derive(Clone, Debug)]
struct Group {
    endpoints: Vec<Endpoint>,
    /// `None` until the first 429 shows the allowance is not all there is.
    learned: Option<Learned>,
    /// No request before this (Retry-After or backoff).
    blocked_until: Option<Instant>,
    /// 429s in a row.
    strikes: u32,
    /// Requests admitted since the run started or the last 429.
    admitted: u64,
    since: Option<Instant>,
    /// When the group last learned from a 429.
    learned_at: Option<Instant>,
    /// Each endpoint's own count and, once learned, its own bucket.
    own: Vec<Own>,
}

/// One endpoint of a group. A server may count per endpoint: after the
/// group's first 429 each endpoint also keeps to a bucket of what the
/// refused endpoint got through, so an endpoint whose own limit ran dry in
/// the same burst does not spend the group's saved tokens on another 429.
/// Under one shared limit this costs nothing: the group's bucket binds first.
#[derive(Clone, Debug)]
struct Own {
    endpoint: Endpoint,
    admitted: u64,
    since: Option<Instant>,
    learned: Option<Learned>,
}

impl Group {
    fn new(endpoints: Vec<Endpoint>) -> Self {
        Self {
            learned: None,
            blocked_until: None,
            strikes: 0,
            admitted: 0,
            since: None,
            learned_at: None,
            own: endpoints
                .iter()
                .map(|&endpoint| Own {
                    endpoint,
                    admitted: 0,
                    since: None,
                    learned: None,
                })
                .collect(),
            endpoints,
        }
    }

    fn own_mut(&mut self, endpoint: Endpoint) -> Option<&mut Own> {
        self.own.iter_mut().find(|o| o.endpoint == endpoint)
    }
}

#[derive(Debug)]
struct Adaptive {
    /// (grant id, when it counts, answered): the send time while in
    /// flight, the answer's arrival once answered.
    log: VecDeque<(u64, Instant, bool)>,
    groups: Vec<Group>,
    next_id: u64,
}

#[derive(Debug)]
enum Strategy {
    Off,
    Even { interval: Duration, next: Instant },
    Adaptive(Adaptive),
}

/// Paces the list calls of one client (shared by its pagers).
#[derive(Debug)]
pub struct Pacer {
    limit: u32,
    window: Duration,
    strategy: std::sync::Mutex<Strategy>,
}

/// The pacer's state carried by a checkpoint to the continuation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PacerState {
    /// When the state was taken, epoch milliseconds.
    pub at_ms: i64,
    /// When the requests of the last window counted, epoch milliseconds.
    pub recent_ms: Vec<i64>,
    /// The endpoint groups with what was learned about each.
    pub groups: Vec<GroupState>,
}

/// One endpoint group in a [`PacerState`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupState {
    /// The endpoints sharing the limit.
    pub endpoints: Vec<Endpoint>,
    /// Learned bucket size (absent: nothing learned yet).
    pub capacity: Option<f64>,
    /// Learned refill, requests per second.
    pub rate_per_s: Option<f64>,
    /// Tokens in the learned bucket at `at_ms`.
    pub tokens: Option<f64>,
    /// Epoch milliseconds before which the group must not send.
    pub blocked_until_ms: Option<i64>,
    /// Each endpoint's own learned bucket (absent: nothing learned yet).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoint_buckets: Vec<EndpointBucket>,
}

/// One endpoint's own learned bucket in a [`GroupState`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointBucket {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// Bucket size.
    pub capacity: f64,
    /// Refill, requests per second.
    pub rate_per_s: f64,
    /// Tokens at the state's `at_ms`.
    pub tokens: f64,
}

fn epoch_ms(now: SystemTime) -> i64 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The instant that was `ms` epoch milliseconds, given that `now_ms` is now.
fn instant_of(ms: i64, now: Instant, now_ms: i64) -> Instant {
    if ms >= now_ms {
        now + Duration::from_millis((ms - now_ms).min(86_400_000) as u64)
    } else {
        let back = Duration::from_millis((now_ms - ms).min(86_400_000) as u64);
        now.checked_sub(back).unwrap_or(now)
    }
}

/// Extra wait past a computed instant, for timer and clock granularity.
const SLACK: Duration = Duration::from_millis(2);

/// `secs` as a duration no longer than `max` (NaN, negative: zero), never a
/// panic whatever the arithmetic that produced it.
fn secs_at_most(secs: f64, max: Duration) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(secs).map_or(max, |d| d.min(max))
}

/// The lowest refill rate learned: one request per `window`.
fn min_rate(window: Duration) -> f64 {
    1.0 / window.as_secs_f64()
}

impl Pacer {
    /// A pacer allowing `limit` requests per `window` (`limit == 0`: no
    /// pacing at all).
    pub fn new(mode: PacingMode, limit: u32, window: Duration) -> Self {
        let window = window.max(Duration::from_millis(1));
        let strategy = match (limit, mode) {
            (0, _) => Strategy::Off,
            (n, PacingMode::Even) => Strategy::Even {
                interval: window / n,
                next: Instant::now(),
            },
            (_, PacingMode::Adaptive) => Strategy::Adaptive(Adaptive {
                log: VecDeque::new(),
                groups: vec![Group::new(Endpoint::ALL.to_vec())],
                next_id: 0,
            }),
        };
        Self {
            limit,
            window,
            strategy: std::sync::Mutex::new(strategy),
        }
    }

    /// Whether this pacer schedules the wait after a 429 itself (adaptive
    /// and on), so the retry loop must not wait again.
    pub fn adapts(&self) -> bool {
        matches!(*self.lock(), Strategy::Adaptive(_))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Strategy> {
        self.strategy.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until a request to `endpoint` may go, and reserves it.
    pub async fn acquire(&self, endpoint: Endpoint) -> Grant {
        loop {
            let (grant, at) = self.try_acquire(endpoint, Instant::now());
            if let Some(at) = at {
                tokio::time::sleep_until(at).await;
            }
            if let Some(grant) = grant {
                return grant;
            }
        }
    }

    /// A grant (to use after sleeping until the instant, if any), or no
    /// grant and when to try again.
    fn try_acquire(&self, endpoint: Endpoint, now: Instant) -> (Option<Grant>, Option<Instant>) {
        let mut s = self.lock();
        let grant = |id| Grant {
            id,
            endpoint,
            sent: now,
            saved: false,
        };
        match &mut *s {
            Strategy::Off => (Some(grant(0)), None),
            Strategy::Even { interval, next } => {
                let at = (*next).max(now);
                *next = at + *interval;
                let mut g = grant(0);
                g.sent = at;
                (Some(g), (at > now).then_some(at))
            }
            Strategy::Adaptive(a) => match self.earliest(a, endpoint, now) {
                Some(at) => (None, Some(at + SLACK)),
                None => {
                    a.next_id += 1;
                    let id = a.next_id;
                    a.log.push_back((id, now, false));
                    let mut g = grant(id);
                    let group = a.group_mut(endpoint);
                    let own = group
                        .own
                        .iter_mut()
                        .find(|o| o.endpoint == endpoint)
                        .and_then(|o| o.learned.as_mut());
                    let mut saved = None;
                    for l in group.learned.iter_mut().chain(own) {
                        l.refill(now);
                        saved = Some(saved.unwrap_or(true) && l.tokens >= 2.0);
                        l.tokens -= 1.0;
                    }
                    g.saved = saved.unwrap_or(false);
                    (Some(g), None)
                }
            },
        }
    }

    /// `None` when a request to `endpoint` may go now, else when to look again.
    fn earliest(&self, a: &mut Adaptive, endpoint: Endpoint, now: Instant) -> Option<Instant> {
        let window = self.window;
        a.log.retain(|(_, t, _)| *t + window > now);
        let mut at: Option<Instant> = None;
        let mut later = |t: Instant| at = Some(at.map_or(t, |a: Instant| a.max(t)));
        // The ceiling: at most `limit` in any window, all endpoints together.
        let excess = a.log.len() + 1;
        if excess > self.limit as usize {
            let mut times: Vec<Instant> = a.log.iter().map(|(_, t, _)| *t).collect();
            let k = excess - self.limit as usize - 1;
            let (_, kth, _) = times.select_nth_unstable(k);
            later(*kth + window);
        }
        let g = a.group_mut(endpoint);
        if let Some(until) = g.blocked_until {
            if until > now {
                later(until);
            } else {
                g.blocked_until = None;
            }
        }
        let own = g
            .own
            .iter_mut()
            .find(|o| o.endpoint == endpoint)
            .and_then(|o| o.learned.as_mut());
        for l in g.learned.iter_mut().chain(own) {
            l.refill(now);
            if l.tokens < 1.0 {
                later(now + secs_at_most((1.0 - l.tokens) / l.rate, window));
            }
        }
        at
    }

    /// Records the answer to a granted request.
    pub fn finish(&self, grant: Grant, answer: Answer) {
        self.finish_at(grant, answer, Instant::now())
    }

    fn finish_at(&self, grant: Grant, answer: Answer, now: Instant) {
        let mut s = self.lock();
        let Strategy::Adaptive(a) = &mut *s else {
            return;
        };
        if let Some(entry) = a.log.iter_mut().find(|(id, _, _)| *id == grant.id) {
            entry.1 = now;
            entry.2 = true;
        }
        let default_rate = f64::from(self.limit) / self.window.as_secs_f64();
        let window = self.window;
        let gi = a.group_index(grant.endpoint);
        let g = &mut a.groups[gi];
        match answer {
            Answer::Counted => {
                g.strikes = 0;
                g.admitted += 1;
                g.since.get_or_insert(grant.sent);
                if let Some(o) = g.own_mut(grant.endpoint) {
                    o.admitted += 1;
                    o.since.get_or_insert(grant.sent);
                }
            }
            Answer::RateLimited(retry_after) => {
                // Sent before the group learned from an earlier 429 (it was
                // in flight then): it teaches nothing new.
                let straggler = g.learned_at.is_some_and(|t| grant.sent < t);
                // What the server let through since the start (or the last
                // 429), less what a bucket refilled at the allowance's rate
                // would have gained meanwhile.
                let used = |admitted: u64, since: Option<Instant>| {
                    let span =
                        since.map_or(0.0, |s| now.saturating_duration_since(s).as_secs_f64());
                    admitted as f64 - span * default_rate
                };
                let limit = f64::from(self.limit);
                let burst = used(g.admitted, g.since).floor().clamp(1.0, limit);
                if !straggler {
                    g.strikes += 1;
                }
                let first = g.learned.is_none();
                let floor_rate = min_rate(window);
                let learned = relearn(
                    g.learned.take(),
                    burst,
                    straggler,
                    grant.saved,
                    default_rate,
                    floor_rate,
                    now,
                );
                // Each endpoint's own bucket: on the group's first 429, all
                // of them the size of what the refused endpoint got through,
                // each as full as its own use left it; later, the refused
                // endpoint's learns as the group's does.
                let own_burst = g.own_mut(grant.endpoint).map_or(burst, |o| {
                    used(o.admitted, o.since).floor().clamp(1.0, limit)
                });
                for o in &mut g.own {
                    if first {
                        let tokens = if o.endpoint == grant.endpoint {
                            0.0
                        } else {
                            (own_burst - used(o.admitted, o.since)).clamp(0.0, own_burst)
                        };
                        o.learned = Some(Learned {
                            capacity: own_burst,
                            rate: default_rate,
                            tokens,
                            at: now,
                        });
                    } else if o.endpoint == grant.endpoint {
                        o.learned = Some(relearn(
                            o.learned.take(),
                            own_burst,
                            straggler,
                            grant.saved,
                            default_rate,
                            floor_rate,
                            now,
                        ));
                    }
                }
                if !straggler {
                    g.learned_at = Some(now);
                }
                let wait = retry_after.unwrap_or_else(|| {
                    secs_at_most(1.0 / learned.rate, window)
                        .saturating_mul(1 << g.strikes.saturating_sub(1).min(16))
                        .min(window)
                });
                tracing::info!(
                    endpoint = grant.endpoint.path(),
                    wait_ms = wait.as_millis() as u64,
                    retry_after = retry_after.is_some(),
                    burst = learned.capacity,
                    endpoint_burst = own_burst,
                    per_minute = learned.rate * 60.0,
                    "rate limited (429); pacing to the learned limit"
                );
                let until = now
                    .checked_add(wait)
                    .unwrap_or_else(|| now + window.saturating_mul(60));
                g.blocked_until = Some(g.blocked_until.map_or(until, |b| b.max(until)));
                g.learned = Some(learned);
                if !straggler {
                    g.admitted = 0;
                    g.since = None;
                    for o in &mut g.own {
                        o.admitted = 0;
                        o.since = None;
                    }
                }
            }
        }
    }

    /// The state a continuation resumes with.
    pub fn state(&self) -> Option<PacerState> {
        let s = self.lock();
        let Strategy::Adaptive(a) = &*s else {
            return None;
        };
        let now = Instant::now();
        let now_ms = epoch_ms(SystemTime::now());
        let ms = |t: Instant| -> i64 {
            if t >= now {
                now_ms + t.duration_since(now).as_millis() as i64
            } else {
                now_ms - now.duration_since(t).as_millis() as i64
            }
        };
        // A request still unanswered (its pager was stopped for the
        // checkpoint) may reach the server a little later: count it as of now.
        let mut recent: Vec<i64> = a
            .log
            .iter()
            .filter(|(_, t, done)| !done || *t + self.window > now)
            .map(|(_, t, done)| ms(if *done { *t } else { (*t).max(now) }))
            .collect();
        recent.sort_unstable();
        Some(PacerState {
            at_ms: now_ms,
            recent_ms: recent,
            groups: a
                .groups
                .iter()
                .map(|g| {
                    let l = g.learned.clone().map(|mut l| {
                        l.refill(now);
                        l
                    });
                    GroupState {
                        endpoints: g.endpoints.clone(),
                        capacity: l.as_ref().map(|l| l.capacity),
                        rate_per_s: l.as_ref().map(|l| l.rate),
                        tokens: l.as_ref().map(|l| l.tokens),
                        blocked_until_ms: g.blocked_until.filter(|b| *b > now).map(ms),
                        endpoint_buckets: g
                            .own
                            .iter()
                            .filter_map(|o| {
                                let mut l = o.learned.clone()?;
                                l.refill(now);
                                Some(EndpointBucket {
                                    endpoint: o.endpoint,
                                    capacity: l.capacity,
                                    rate_per_s: l.rate,
                                    tokens: l.tokens,
                                })
                            })
                            .collect(),
                    }
                })
                .collect(),
        })
    }

    /// Takes over a checkpoint's state, unless this pacer has paced requests
    /// already (a warm process continuing its own run knows at least as much).
    pub fn restore(&self, state: &PacerState) {
        let mut s = self.lock();
        let Strategy::Adaptive(a) = &mut *s else {
            return;
        };
        if a.next_id > 0 {
            return;
        }
        let now = Instant::now();
        let now_ms = epoch_ms(SystemTime::now());
        for &t in &state.recent_ms {
            a.next_id += 1;
            a.log
                .push_back((a.next_id, instant_of(t, now, now_ms), true));
        }
        let taken = instant_of(state.at_ms, now, now_ms);
        let mut groups: Vec<Group> = Vec::new();
        let mut seen: Vec<Endpoint> = Vec::new();
        for gs in &state.groups {
            let endpoints: Vec<Endpoint> = gs
                .endpoints
                .iter()
                .copied()
                .filter(|e| !seen.contains(e))
                .collect();
            if endpoints.is_empty() {
                continue;
            }
            seen.extend(&endpoints);
            let mut g = Group::new(endpoints);
            if let (Some(capacity), Some(rate)) = (gs.capacity, gs.rate_per_s) {
                g.learned = self.learned_from(capacity, rate, gs.tokens, taken);
            }
            for b in &gs.endpoint_buckets {
                let learned = self.learned_from(b.capacity, b.rate_per_s, Some(b.tokens), taken);
                if let (Some(o), Some(l)) = (g.own_mut(b.endpoint), learned) {
                    o.learned = Some(l);
                }
            }
            g.blocked_until = gs
                .blocked_until_ms
                .map(|b| instant_of(b, now, now_ms))
                .filter(|b| *b > now);
            groups.push(g);
        }
        let rest: Vec<Endpoint> = Endpoint::ALL
            .into_iter()
            .filter(|e| !seen.contains(e))
            .collect();
        if !rest.is_empty() {
            groups.push(Group::new(rest));
        }
        a.groups = groups;
    }
}

impl Pacer {
    /// A learned bucket from a checkpoint, kept within what this pacer
    /// could have learned (a bucket of 1 to the ceiling, a rate between one
    /// a window and the ceiling's); `None` for values no pacer writes.
    fn learned_from(
        &self,
        capacity: f64,
        rate: f64,
        tokens: Option<f64>,
        at: Instant,
    ) -> Option<Learned> {
        let valid = |v: f64| v.is_finite() && v > 0.0;
        if !(valid(capacity) && valid(rate)) {
            return None;
        }
        let ceiling_rate = f64::from(self.limit) / self.window.as_secs_f64();
        let capacity = capacity.clamp(1.0, f64::from(self.limit).max(1.0));
        Some(Learned {
            capacity,
            rate: rate.clamp(min_rate(self.window).min(ceiling_rate), ceiling_rate),
            tokens: tokens
                .filter(|t| t.is_finite())
                .unwrap_or(0.0)
                .clamp(-capacity, capacity),
            at,
        })
    }
}

/// A bucket after a 429 (`burst`: what got through since the last one, net
/// of refill), from what was learned before (`None`: nothing yet, the
/// allowance's rate and that burst).
fn relearn(
    before: Option<Learned>,
    burst: f64,
    straggler: bool,
    saved: bool,
    default_rate: f64,
    floor_rate: f64,
    now: Instant,
) -> Learned {
    match before {
        // In flight when the last 429 taught what there was to learn.
        Some(l) if straggler => Learned {
            tokens: 0.0,
            at: now,
            ..l
        },
        None => Learned {
            capacity: burst,
            rate: default_rate,
            tokens: 0.0,
            at: now,
        },
        // Refused while spending saved tokens: the bucket is smaller than
        // learned; what got through since is its size.
        Some(l) if saved => Learned {
            capacity: burst.min(l.capacity - 1.0).max(1.0),
            tokens: 0.0,
            at: now,
            ..l
        },
        // Refused at the learned rate: the rate is lower.
        Some(l) => Learned {
            capacity: (l.capacity / 2.0).floor().max(1.0),
            rate: (l.rate * 0.8).max(floor_rate),
            tokens: 0.0,
            at: now,
        },
    }
}

impl Learned {
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.at = self.at.max(now);
    }
}

impl Adaptive {
    fn group_index(&self, endpoint: Endpoint) -> usize {
        self.groups
            .iter()
            .position(|g| g.endpoints.contains(&endpoint))
            .unwrap_or(0)
    }

    fn group_mut(&mut self, endpoint: Endpoint) -> &mut Group {
        let i = self.group_index(endpoint);
        &mut self.groups[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: Endpoint = Endpoint::Vulnerabilities;
    const R: Endpoint = Endpoint::Remediations;
    const ANSWER: Duration = Duration::from_millis(10);

    fn adaptive(limit: u32, window_ms: u64) -> Pacer {
        Pacer::new(
            PacingMode::Adaptive,
            limit,
            Duration::from_millis(window_ms),
        )
    }

    /// A grant at `now`, or when to ask again.
    fn take(p: &Pacer, e: Endpoint, now: Instant) -> Result<Grant, Instant> {
        match p.try_acquire(e, now) {
            (Some(g), None) => Ok(g),
            (_, Some(at)) => Err(at),
            (None, None) => unreachable!(),
        }
    }

    /// Sends `n` requests to `e` as fast as the pacer lets them go, each
    /// answered `ANSWER` later; returns when each went.
    fn run(p: &Pacer, e: Endpoint, mut now: Instant, n: usize) -> Vec<Instant> {
        let mut sent = Vec::new();
        while sent.len() < n {
            match take(p, e, now) {
                Ok(g) => {
                    sent.push(now);
                    now += ANSWER;
                    p.finish_at(g, Answer::Counted, now);
                }
                Err(at) => now = at,
            }
        }
        sent
    }

    #[test]
    fn pacing_mode_parses_and_refuses_clearly() {
        assert_eq!("adaptive".parse(), Ok(PacingMode::Adaptive));
        assert_eq!(" Even ".parse(), Ok(PacingMode::Even));
        let err = "fast".parse::<PacingMode>().unwrap_err();
        assert!(err.contains("\"fast\"") && err.contains("even"), "{err}");
    }

    #[test]
    fn never_more_than_the_ceiling_in_any_window() {
        let p = adaptive(5, 1000);
        let t0 = Instant::now();
        let sent = run(&p, V, t0, 23);
        // The allowance goes at once (one answer after another)...
        assert_eq!(sent[4] - t0, ANSWER * 4);
        // ...and no window-long interval ever holds more than five.
        for (i, t) in sent.iter().enumerate() {
            let within = sent[i..]
                .iter()
                .filter(|u| **u < *t + Duration::from_millis(1000))
                .count();
            assert!(within <= 5, "{within} requests in the window from #{i}");
        }
        // It keeps to the rate: 23 requests need four more windows.
        assert!(sent[22] - t0 >= Duration::from_millis(4000));
    }

    #[test]
    fn a_429_with_retry_after_teaches_the_burst() {
        let p = adaptive(10, 1000); // a token every 100 ms
        let t0 = Instant::now();
        let sent = run(&p, V, t0, 4);
        let mut now = *sent.last().unwrap() + ANSWER;
        let g = take(&p, V, now).unwrap();
        now += ANSWER;
        p.finish_at(g, Answer::RateLimited(Some(Duration::from_secs(2))), now);
        let t429 = now;
        // Nothing before Retry-After...
        let at = take(&p, V, now).unwrap_err();
        assert!(at >= t429 + Duration::from_secs(2));
        // ...then the tokens saved up meanwhile (the burst learned: four
        // admitted, less the half token a bucket refilled at 10/s gained in
        // the 50 ms they took), then one per token.
        assert_eq!(p.state().unwrap().groups[0].capacity, Some(3.0));
        let after = run(&p, V, at, 6);
        assert_eq!(after[2] - after[0], ANSWER * 2);
        assert!(
            after[3] - after[2] >= Duration::from_millis(70),
            "{:?}",
            after[3] - after[2]
        );
    }

    #[test]
    fn without_retry_after_it_backs_off_a_token_and_doubles() {
        let p = adaptive(10, 1000); // a token every 100 ms
        let mut now = Instant::now();
        run(&p, V, now, 3);
        now += Duration::from_millis(30);
        let g = take(&p, V, now).unwrap();
        p.finish_at(g, Answer::RateLimited(None), now);
        let first = take(&p, V, now).unwrap_err() - now;
        assert!(first >= Duration::from_millis(100), "{first:?}");
        now += first;
        let g = take(&p, V, now).unwrap();
        p.finish_at(g, Answer::RateLimited(None), now);
        let second = take(&p, V, now).unwrap_err() - now;
        assert!(second >= first * 2 - SLACK, "{second:?} after {first:?}");
        // The second 429 also lowered the assumed rate.
        let state = p.state().unwrap();
        assert!(state.groups[0].rate_per_s.unwrap() < 10.0);
    }

    #[test]
    fn a_smaller_bucket_than_learned_shrinks_the_bucket_not_the_rate() {
        let p = adaptive(10, 1000); // a token every 100 ms
        let t0 = Instant::now();
        let sent = run(&p, V, t0, 6);
        let mut now = *sent.last().unwrap() + ANSWER;
        let g = take(&p, V, now).unwrap();
        now += ANSWER;
        p.finish_at(g, Answer::RateLimited(Some(Duration::from_secs(2))), now);
        let learned = p.state().unwrap().groups[0].capacity.unwrap();
        assert!(learned >= 4.0, "{learned}");
        // After the wait the saved tokens go; the server takes two of them.
        let at = take(&p, V, now).unwrap_err();
        let got = run(&p, V, at, 2);
        now = got[1] + ANSWER;
        let g = take(&p, V, now).unwrap();
        p.finish_at(g, Answer::RateLimited(None), now + ANSWER);
        let state = p.state().unwrap();
        // Two got through (less the refill meanwhile): a bucket of one or two.
        let capacity = state.groups[0].capacity.unwrap();
        assert!((1.0..=2.0).contains(&capacity), "{state:?}");
        assert_eq!(state.groups[0].rate_per_s, Some(10.0), "{state:?}");
    }

    #[test]
    fn a_429_holds_back_every_endpoint_and_in_flight_ones_teach_nothing() {
        let p = adaptive(10, 1000);
        let t0 = Instant::now();
        let gv = take(&p, V, t0).unwrap();
        let gr = take(&p, R, t0 + Duration::from_millis(1)).unwrap();
        let retry = Answer::RateLimited(Some(Duration::from_secs(1)));
        p.finish_at(gv, retry, t0 + ANSWER);
        // R's request was in flight when V's 429 arrived.
        p.finish_at(gr, retry, t0 + ANSWER * 2);
        let state = p.state().unwrap();
        assert_eq!(state.groups.len(), 1);
        assert_eq!(state.groups[0].rate_per_s, Some(10.0), "{state:?}");
        assert!(take(&p, R, t0 + ANSWER * 3).unwrap_err() >= t0 + Duration::from_secs(1));
    }

    #[test]
    fn each_endpoint_keeps_to_a_bucket_the_size_of_what_the_refused_one_got() {
        let p = adaptive(20, 1000); // a token every 50 ms
        let mut now = Instant::now();
        // Four each on V and R, then V is refused.
        for _ in 0..4 {
            for e in [V, R] {
                let g = take(&p, e, now).unwrap();
                p.finish_at(g, Answer::Counted, now + Duration::from_millis(1));
            }
        }
        now += Duration::from_millis(2);
        let g = take(&p, V, now).unwrap();
        p.finish_at(
            g,
            Answer::RateLimited(Some(Duration::from_millis(100))),
            now,
        );
        let state = p.state().unwrap();
        let group = state.groups[0].capacity.unwrap();
        let own = &state.groups[0].endpoint_buckets;
        assert_eq!(own.len(), 3, "{state:?}");
        // What got through less the refill meanwhile, rounded down: V's
        // four make three, the group's eight seven.
        assert!(own.iter().all(|b| b.capacity == 3.0), "{state:?}");
        assert_eq!(group, 7.0, "{state:?}");
        // Long after: the group saved up seven, but R spends only its three.
        now += Duration::from_secs(5);
        let mut sent = 0;
        while take(&p, R, now)
            .map(|g| p.finish_at(g, Answer::Counted, now))
            .is_ok()
        {
            sent += 1;
        }
        assert_eq!(sent, 3);
        // The group's other four are V's and A's.
        assert!(take(&p, V, now).is_ok());
    }

    #[test]
    fn state_round_trips_into_a_fresh_pacer() {
        let p = adaptive(3, 60_000);
        let t0 = Instant::now();
        run(&p, V, t0, 3);
        let state = p.state().unwrap();
        assert_eq!(state.recent_ms.len(), 3);
        let json = serde_json::to_string(&state).unwrap();
        let fresh = adaptive(3, 60_000);
        fresh.restore(&serde_json::from_str(&json).unwrap());
        // The window the first pacer used up is still used up.
        let at = take(&fresh, V, Instant::now()).unwrap_err();
        assert!(at >= t0 + Duration::from_secs(59));
    }
}

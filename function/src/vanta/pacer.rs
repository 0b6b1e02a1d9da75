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
//!   the server as a token bucket refilled at the allowance's rate. The
//!   burst tells it the bucket precisely: every admitted request found a
//!   token and the refused one none, which bounds the size within less than
//!   a token, so the whole number between the bounds is the size (see
//!   `Run::capacity`), and with it how full the bucket is at the 429 (most
//!   of a token, often). `Retry-After` is whole seconds, up to a token's
//!   time longer than the wait it rounds; knowing the level, the pacer
//!   sends the page after it and every later one when the token is there
//!   instead of a rounding later. A request in flight at the 429 is
//!   counted as admitted; if it is refused its token comes back, if it was
//!   admitted it may show the bucket one larger. A further 429 while
//!   spending saved-up tokens shrinks the bucket to what got through; one
//!   at the learned rate lowers the rate by a fifth and halves the bucket.
//!   Until that first 429, a request does not go within a third of a
//!   page's time of another still in flight, so the 429 that ends an
//!   unknown burst (answered at once) is heard before the next request
//!   goes: one 429, not one per pager.
//!
//! The three list endpoints are paced as one group; after its first 429
//! each endpoint also keeps to a bucket of its own, the size of what the
//! refused endpoint got through (see `Own`), so limits counted per endpoint
//! cost one 429 rather than one per endpoint. Under one shared bucket the
//! first 429 looks the same, and these buckets then cost time when one
//! endpoint is left alone with tokens saved up (after a window's stall it
//! spends only its share of the burst): the price of not spending a second
//! 429 to tell the two apart. The budget is theirs
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
    run: Run,
    /// When the group last learned from a 429.
    learned_at: Option<Instant>,
    /// What the group's first 429 was learned from, while requests in
    /// flight then may still show the bucket was larger.
    probe: Option<Probe>,
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
    run: Run,
    learned: Option<Learned>,
}

/// The requests a server admitted since the run began (or the last 429).
#[derive(Clone, Copy, Debug, Default)]
struct Run {
    admitted: u64,
    /// The first one's send time.
    since: Option<Instant>,
    /// The latest time one of them surely counted at (a send time; for one
    /// in flight at a 429, its answer's arrival).
    last: Option<Instant>,
}

impl Run {
    fn admit(&mut self, sent: Instant, counted_by: Instant) {
        self.admitted += 1;
        self.since = Some(self.since.map_or(sent, |s| s.min(sent)));
        self.last = Some(self.last.map_or(counted_by, |l| l.max(counted_by)));
    }

    /// Admitted less what a bucket refilled at `rate` gained since.
    fn used(&self, rate: f64, now: Instant) -> f64 {
        let span = self
            .since
            .map_or(0.0, |s| now.saturating_duration_since(s).as_secs_f64());
        self.admitted as f64 - span * rate
    }

    /// The size of a token bucket refilled at `rate` that, full when the run
    /// began, admitted it and refused a request sent at `refused`, up to
    /// `in_flight` more perhaps admitted meanwhile. The admissions bound it
    /// from below (each found a token: C >= n - rate * t), the refusal from
    /// above (no token then: C < n + 1 - rate * t); the bounds are less than
    /// one token apart, and buckets hold whole tokens, so the whole number
    /// between them is the size. `eps` (tokens) covers the send times
    /// standing in for the server's; with no whole number between the
    /// bounds, the lower one.
    fn capacity(&self, rate: f64, refused: Instant, in_flight: u64, eps: f64, limit: f64) -> f64 {
        let (Some(since), Some(last)) = (self.since, self.last) else {
            return 1.0;
        };
        let secs = |a: Instant, b: Instant| b.saturating_duration_since(a).as_secs_f64();
        let lo = self.admitted as f64 - rate * secs(since, last) - eps;
        let hi = (self.admitted + in_flight + 1) as f64 - rate * secs(since, refused) + eps;
        let whole = lo.ceil();
        let c = if whole < hi { whole } else { lo };
        c.clamp(1.0, limit.max(1.0))
    }

    /// The tokens at `now` in a bucket of `capacity` refilled at `rate`,
    /// full when the run began, less `in_flight` requests that may yet be
    /// counted and the margin `eps`.
    fn level(&self, capacity: f64, rate: f64, in_flight: u64, eps: f64, now: Instant) -> f64 {
        let refill = self.since.map_or(0.0, |s| {
            now.saturating_duration_since(s).as_secs_f64() * rate
        });
        (capacity - self.admitted as f64 - in_flight as f64 + refill - eps).min(capacity)
    }
}

/// The first 429 of a group: what it was learned from.
#[derive(Clone, Copy, Debug)]
struct Probe {
    endpoint: Endpoint,
    refused: Instant,
    eps: f64,
    group: Run,
    own: Run,
}

impl Group {
    fn new(endpoints: Vec<Endpoint>) -> Self {
        Self {
            learned: None,
            blocked_until: None,
            strikes: 0,
            run: Run::default(),
            learned_at: None,
            probe: None,
            own: endpoints
                .iter()
                .map(|&endpoint| Own {
                    endpoint,
                    run: Run::default(),
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
    /// (grant id, when it counts, answered, endpoint): the send time while
    /// in flight, the answer's arrival once answered.
    log: VecDeque<(u64, Instant, bool, Endpoint)>,
    groups: Vec<Group>,
    next_id: u64,
    /// The quickest page so far (send to answer).
    page_time: Option<Duration>,
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
                page_time: None,
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
                    a.log.push_back((id, now, false, endpoint));
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
        a.log.retain(|(_, t, _, _)| *t + window > now);
        let mut at: Option<Instant> = None;
        let mut later = |t: Instant| at = Some(at.map_or(t, |a: Instant| a.max(t)));
        // The ceiling: at most `limit` in any window, all endpoints together.
        let excess = a.log.len() + 1;
        if excess > self.limit as usize {
            let mut times: Vec<Instant> = a.log.iter().map(|(_, t, _, _)| *t).collect();
            let k = excess - self.limit as usize - 1;
            let (_, kth, _) = times.select_nth_unstable(k);
            later(*kth + window);
        }
        // Until the group has learned its limit, a request does not go
        // within a third of a page's time (one per pager) of the last one
        // while that one is in flight: a 429, answered at once, is heard
        // before the next request goes, so the end of an unknown burst costs
        // one 429 rather than one per pager. The pagers interleave instead
        // of going together; each still sends once a page.
        let gi = a.group_index(endpoint);
        if let (None, Some(page)) = (&a.groups[gi].learned, a.page_time) {
            let members = &a.groups[gi].endpoints;
            let last = a
                .log
                .iter()
                .filter(|(_, _, done, e)| !done && members.contains(e))
                .map(|(_, t, _, _)| *t)
                .max();
            if let Some(at) = last.map(|sent| sent + page / Endpoint::ALL.len() as u32) {
                if at > now {
                    later(at);
                }
            }
        }
        let g = &mut a.groups[gi];
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
        if let Some(entry) = a.log.iter_mut().find(|(id, _, _, _)| *id == grant.id) {
            entry.1 = now;
            entry.2 = true;
        }
        let default_rate = f64::from(self.limit) / self.window.as_secs_f64();
        let limit = f64::from(self.limit);
        let window = self.window;
        let gi = a.group_index(grant.endpoint);
        // Requests still in flight, per endpoint of the group.
        let in_flight: Vec<(Endpoint, u64)> = a.groups[gi]
            .endpoints
            .iter()
            .map(|&e| {
                let n = a
                    .log
                    .iter()
                    .filter(|(_, _, done, x)| !done && *x == e)
                    .count();
                (e, n as u64)
            })
            .collect();
        let flying = |e: Endpoint| {
            in_flight
                .iter()
                .find(|(x, _)| *x == e)
                .map_or(0, |(_, n)| *n)
        };
        let group_flying: u64 = in_flight.iter().map(|(_, n)| n).sum();
        let g = &mut a.groups[gi];
        // Sent before the group last learned from a 429 (in flight then).
        let straggler = g.learned_at.is_some_and(|t| grant.sent < t);
        match answer {
            Answer::Counted if straggler => {
                g.strikes = 0;
                // Its token was taken when the group learned; if that was
                // the first 429, it shows the bucket held one more than that
                // 429 proved (counted by its answer at the latest).
                let Some(p) = g.probe.as_mut() else {
                    return;
                };
                p.group.admit(grant.sent, now);
                let c = p
                    .group
                    .capacity(default_rate, p.refused, group_flying, p.eps, limit);
                grow(g.learned.as_mut(), c);
                if grant.endpoint == p.endpoint {
                    p.own.admit(grant.sent, now);
                    let c =
                        p.own
                            .capacity(default_rate, p.refused, flying(p.endpoint), p.eps, limit);
                    let endpoint = p.endpoint;
                    grow(g.own_mut(endpoint).and_then(|o| o.learned.as_mut()), c);
                }
            }
            Answer::Counted => {
                let took = now.saturating_duration_since(grant.sent);
                a.page_time = Some(a.page_time.map_or(took, |p| p.min(took)));
                let g = &mut a.groups[gi];
                g.strikes = 0;
                g.run.admit(grant.sent, grant.sent);
                if let Some(o) = g.own_mut(grant.endpoint) {
                    o.run.admit(grant.sent, grant.sent);
                }
            }
            Answer::RateLimited(retry_after) => {
                let first = g.learned.is_none();
                let rtt = now.saturating_duration_since(grant.sent).as_secs_f64();
                // Tokens' worth of doubt: a send time stands for when the
                // server counted the request, up to a round trip later.
                let eps = default_rate * 2.0 * rtt + 0.05;
                let floor_rate = min_rate(window);
                if straggler {
                    // Refused in flight: the token taken for it is still there.
                    let own = g
                        .own
                        .iter_mut()
                        .find(|o| o.endpoint == grant.endpoint)
                        .and_then(|o| o.learned.as_mut());
                    for l in own.into_iter().chain(g.learned.as_mut()) {
                        l.refill(now);
                        l.tokens = (l.tokens + 1.0).min(l.capacity);
                    }
                } else if first {
                    // The bucket and its level from the burst it admitted.
                    let c = g
                        .run
                        .capacity(default_rate, grant.sent, group_flying, eps, limit);
                    g.learned = Some(Learned {
                        capacity: c,
                        rate: default_rate,
                        tokens: g.run.level(c, default_rate, group_flying, eps, now),
                        at: now,
                    });
                    // Each endpoint's own bucket the size of what the refused
                    // one got through, each as full as its own use left it.
                    let group_run = g.run;
                    let refused_run = g.own_mut(grant.endpoint).map_or(group_run, |o| o.run);
                    let own_c = refused_run.capacity(
                        default_rate,
                        grant.sent,
                        flying(grant.endpoint),
                        eps,
                        limit,
                    );
                    for o in &mut g.own {
                        let n = flying(o.endpoint);
                        let tokens = if o.endpoint == grant.endpoint || o.run.since.is_some() {
                            o.run.level(own_c, default_rate, n, eps, now)
                        } else {
                            own_c - n as f64
                        };
                        o.learned = Some(Learned {
                            capacity: own_c,
                            rate: default_rate,
                            tokens,
                            at: now,
                        });
                    }
                    g.probe = Some(Probe {
                        endpoint: grant.endpoint,
                        refused: grant.sent,
                        eps,
                        group: g.run,
                        own: refused_run,
                    });
                } else {
                    g.probe = None;
                    let burst = g.run.used(default_rate, now).floor().clamp(1.0, limit);
                    let learned = relearn(
                        g.learned.take(),
                        burst,
                        grant.saved,
                        default_rate,
                        floor_rate,
                        group_flying,
                        now,
                    );
                    g.learned = Some(learned);
                    let own_burst = g.own_mut(grant.endpoint).map_or(burst, |o| {
                        o.run.used(default_rate, now).floor().clamp(1.0, limit)
                    });
                    if let Some(o) = g.own_mut(grant.endpoint) {
                        o.learned = Some(relearn(
                            o.learned.take(),
                            own_burst,
                            grant.saved,
                            default_rate,
                            floor_rate,
                            flying(grant.endpoint),
                            now,
                        ));
                    }
                }
                if !straggler {
                    g.strikes += 1;
                    g.learned_at = Some(now);
                    g.run = Run::default();
                    for o in &mut g.own {
                        o.run = Run::default();
                    }
                }
                let Some(learned) = g.learned.clone() else {
                    return;
                };
                let wait = retry_after.unwrap_or_else(|| {
                    secs_at_most(1.0 / learned.rate, window)
                        .saturating_mul(1 << g.strikes.saturating_sub(1).min(16))
                        .min(window)
                });
                tracing::info!(
                    endpoint = grant.endpoint.path(),
                    wait_ms = wait.as_millis() as u64,
                    retry_after = retry_after.is_some(),
                    in_flight = straggler,
                    burst = learned.capacity,
                    tokens = learned.tokens,
                    per_minute = learned.rate * 60.0,
                    "rate limited (429); pacing to the learned limit"
                );
                let until = now
                    .checked_add(wait)
                    .unwrap_or_else(|| now + window.saturating_mul(60));
                g.blocked_until = Some(g.blocked_until.map_or(until, |b| b.max(until)));
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
            .filter(|(_, t, done, _)| !done || *t + self.window > now)
            .map(|(_, t, done, _)| ms(if *done { *t } else { (*t).max(now) }))
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
            a.log.push_back((
                a.next_id,
                instant_of(t, now, now_ms),
                true,
                Endpoint::Vulnerabilities,
            ));
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

/// A learned bucket after a later 429 (`burst`: what got through since the
/// last one, net of refill), `in_flight` requests still unanswered.
fn relearn(
    before: Option<Learned>,
    burst: f64,
    saved: bool,
    default_rate: f64,
    floor_rate: f64,
    in_flight: u64,
    now: Instant,
) -> Learned {
    // Empty now, less what is in flight (their tokens were taken when
    // they went, and the level starts over).
    let tokens = -(in_flight as f64);
    match before {
        None => Learned {
            capacity: burst,
            rate: default_rate,
            tokens,
            at: now,
        },
        // Refused while spending saved tokens: the bucket is smaller than
        // learned; what got through since is its size.
        Some(l) if saved => Learned {
            capacity: burst.min(l.capacity - 1.0).max(1.0),
            tokens,
            at: now,
            ..l
        },
        // Refused at the learned rate: the rate is lower.
        Some(l) => Learned {
            capacity: (l.capacity / 2.0).floor().max(1.0),
            rate: (l.rate * 0.8).max(floor_rate),
            tokens,
            at: now,
        },
    }
}

/// A learned bucket grown to `capacity` (with the token that shows), if
/// larger than learned.
fn grow(learned: Option<&mut Learned>, capacity: f64) {
    if let Some(l) = learned {
        if capacity > l.capacity {
            l.tokens += capacity - l.capacity;
            l.capacity = capacity;
        }
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
        // ...then the tokens saved up meanwhile (the bucket learned: four
        // found a token in the 30 ms they took, refilled at 10/s, and the
        // fifth none 10 ms later: at least 3.7, under 4.6, so 4), then one
        // per token.
        assert_eq!(p.state().unwrap().groups[0].capacity, Some(4.0));
        let after = run(&p, V, at, 6);
        assert_eq!(after[3] - after[0], ANSWER * 3);
        assert!(
            after[4] - after[3] >= Duration::from_millis(70),
            "{:?}",
            after[4] - after[3]
        );
    }

    /// A server's token bucket of `burst`, refilled at `per_s`, in
    /// simulated time: admits, or says how long until a token.
    struct Server {
        tokens: f64,
        at: Instant,
        burst: f64,
        per_s: f64,
    }

    impl Server {
        fn admit(&mut self, now: Instant) -> Result<(), Duration> {
            let gained = now.saturating_duration_since(self.at).as_secs_f64() * self.per_s;
            self.tokens = (self.tokens + gained).min(self.burst);
            self.at = now;
            // (A wait to the nanosecond may leave 1 - 1e-12 in floats.)
            if self.tokens >= 1.0 - 1e-9 {
                self.tokens -= 1.0;
                Ok(())
            } else {
                Err(Duration::from_secs_f64((1.0 - self.tokens) / self.per_s))
            }
        }
    }

    /// One chain of pages against a token bucket of 10 at the allowance's
    /// rate (50 per 3 s window, a token every 60 ms), pages answered 12 ms
    /// after they go, 429s after 1 ms with `Retry-After` in whole sixtieths
    /// of the window, rounded up as a real server rounds to whole seconds.
    /// The pacer's one 429 teaches it the bucket and how full it is, so
    /// every later page goes as soon as a token is there (within the
    /// pacer's few milliseconds of margin), not a rounded-up Retry-After
    /// later: the end is within a fifth of a token of an oracle's, and
    /// there is no second 429. (Assuming the bucket empty at the 429 sent
    /// every later page most of a token late.)
    #[test]
    fn one_429_teaches_the_bucket_and_its_level_despite_retry_after_rounding() {
        let window = Duration::from_secs(3);
        let unit = window / 60;
        let page = Duration::from_millis(12);
        let t0 = Instant::now();
        let server = |at| Server {
            tokens: 10.0,
            at,
            burst: 10.0,
            per_s: 50.0 / 3.0,
        };
        // The oracle: each page the moment the chain and the bucket allow.
        let mut oracle = server(t0);
        let mut now = t0;
        for _ in 0..40 {
            match oracle.admit(now) {
                Ok(()) => now += page,
                Err(wait) => {
                    now += wait;
                    oracle.admit(now).expect("a token after its wait");
                    now += page;
                }
            }
        }
        let oracle_end = now;

        let p = Pacer::new(PacingMode::Adaptive, 50, window);
        let mut bucket = server(t0);
        let (mut now, mut pages, mut limited) = (t0, 0, 0);
        while pages < 40 {
            let g = match take(&p, V, now) {
                Ok(g) => g,
                Err(at) => {
                    now = at;
                    continue;
                }
            };
            match bucket.admit(now) {
                Ok(()) => {
                    now += page;
                    p.finish_at(g, Answer::Counted, now);
                    pages += 1;
                }
                Err(wait) => {
                    limited += 1;
                    let units = wait.as_nanos().div_ceil(unit.as_nanos()) as u32;
                    now += Duration::from_millis(1);
                    p.finish_at(g, Answer::RateLimited(Some(unit * units.max(1))), now);
                }
            }
        }
        assert_eq!(limited, 1, "one 429, at the end of the burst");
        let late = now.saturating_duration_since(oracle_end);
        assert!(
            late < Duration::from_millis(12),
            "{late:?} after the oracle's {:?}",
            oracle_end - t0
        );
    }

    /// Three pagers, each sending its next page when the last is answered
    /// (12 ms), against a token bucket of 10 shared by all (a token every
    /// 60 ms), 429s answered after 1 ms. Going together, two or three of
    /// them would meet the empty bucket at once; interleaved until the
    /// limit is learned, the first 429 is heard before the next request
    /// goes: one 429 in all, and no page waits for nothing before it.
    #[test]
    fn pagers_interleave_until_the_limit_is_learned_so_a_burst_costs_one_429() {
        let window = Duration::from_secs(3);
        let unit = window / 60;
        let page = Duration::from_millis(12);
        let t0 = Instant::now();
        let p = Pacer::new(PacingMode::Adaptive, 50, window);
        let mut server = Server {
            tokens: 10.0,
            at: t0,
            burst: 10.0,
            per_s: 50.0 / 3.0,
        };
        struct Pager {
            endpoint: Endpoint,
            left: u32,
            ready: Instant,
            pending: Option<(Grant, Instant, Answer)>,
        }
        let mut pagers: Vec<Pager> = Endpoint::ALL
            .into_iter()
            .map(|endpoint| Pager {
                endpoint,
                left: 20,
                ready: t0,
                pending: None,
            })
            .collect();
        let (mut limited, mut first_429) = (0, None);
        loop {
            // The next event: an answer arriving, else a pager ready to send.
            let answer = (0..pagers.len())
                .filter_map(|i| pagers[i].pending.as_ref().map(|(_, at, _)| (*at, i)))
                .min();
            let send = (0..pagers.len())
                .filter(|&i| pagers[i].pending.is_none() && pagers[i].left > 0)
                .map(|i| (pagers[i].ready, i))
                .min();
            match (answer, send) {
                (None, None) => break,
                (Some((at, i)), s) if s.is_none_or(|(t, _)| at <= t) => {
                    let (g, _, outcome) = pagers[i].pending.take().unwrap();
                    if outcome == Answer::Counted {
                        pagers[i].left -= 1;
                    }
                    pagers[i].ready = at;
                    p.finish_at(g, outcome, at);
                }
                (_, Some((now, i))) => match take(&p, pagers[i].endpoint, now) {
                    Err(at) => pagers[i].ready = at,
                    Ok(g) => {
                        let pending = match server.admit(now) {
                            Ok(()) => (g, now + page, Answer::Counted),
                            Err(wait) => {
                                limited += 1;
                                first_429.get_or_insert(now);
                                let units = wait.as_nanos().div_ceil(unit.as_nanos()) as u32;
                                let after = Some(unit * units.max(1));
                                (
                                    g,
                                    now + Duration::from_millis(1),
                                    Answer::RateLimited(after),
                                )
                            }
                        };
                        pagers[i].pending = Some(pending);
                    }
                },
                (Some(_), None) => unreachable!(),
            }
        }
        assert_eq!(limited, 1, "one 429 at the end of the burst");
        // The burst (10 and the refill meanwhile) went by the first 429,
        // a page's time apart per pager.
        let first = first_429.unwrap() - t0;
        assert!(first < Duration::from_millis(60), "{first:?}");
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
        // What got through at once before the refusal 2 ms later: V's
        // four, the group's eight.
        assert!(own.iter().all(|b| b.capacity == 4.0), "{state:?}");
        assert_eq!(group, 8.0, "{state:?}");
        // Long after: the group saved up eight, but R spends only its four.
        now += Duration::from_secs(5);
        let mut sent = 0;
        while take(&p, R, now)
            .map(|g| p.finish_at(g, Answer::Counted, now))
            .is_ok()
        {
            sent += 1;
        }
        assert_eq!(sent, 4);
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

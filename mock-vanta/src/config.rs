//! What a mock-vanta server serves and how it behaves.

use chrono::{DateTime, Utc};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

/// The generated dataset: the same values give byte-identical responses.
#[derive(Clone, Debug, PartialEq)]
pub struct DataConfig {
    /// Seed of every generated value.
    pub seed: u64,
    /// Number of vulnerabilities (about a third of them without an SLA date).
    pub vulnerabilities: u64,
    /// Number of vulnerability remediations.
    pub remediations: u64,
    /// Number of vulnerable assets; must be at least 1 when there are
    /// vulnerabilities, since each one is a finding on an asset.
    pub assets: u64,
    /// The reference instant that "overdue" and "due soon" are relative to;
    /// also the `asOf` of the expected statistics. Used at millisecond
    /// precision.
    pub now: DateTime<Utc>,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            seed: 42,
            vulnerabilities: 1000,
            remediations: 400,
            assets: 100,
            now: Utc::now(),
        }
    }
}

/// How the `/v1/*` rate limit counts. Vanta does not publish which one it
/// uses, so a client is measured against each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RateModel {
    /// At most N accepted requests per window, windows aligned to the
    /// server's start (or the last admin reset); the count starts over at
    /// each boundary.
    FixedWindow,
    /// At most N accepted requests in any window-long interval.
    #[default]
    SlidingWindow,
    /// A bucket of `burst` tokens, full at the start, refilled at N per
    /// window; each accepted request takes a token.
    TokenBucket {
        /// The bucket's size: how many requests can go at once.
        burst: u32,
    },
}

impl RateModel {
    /// The name used on the command line and in the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            RateModel::FixedWindow => "fixed-window",
            RateModel::SlidingWindow => "sliding-window",
            RateModel::TokenBucket { .. } => "token-bucket",
        }
    }

    /// The bucket size of a token bucket.
    pub fn burst(self) -> Option<u32> {
        match self {
            RateModel::TokenBucket { burst } => Some(burst),
            _ => None,
        }
    }

    /// The model called `name`; a token bucket gets `burst`, which the
    /// other models refuse.
    pub fn parse(name: &str, burst: Option<u32>) -> Result<Self, crate::Error> {
        let model = match name.trim() {
            "fixed-window" => RateModel::FixedWindow,
            "sliding-window" => RateModel::SlidingWindow,
            "token-bucket" => {
                return match burst {
                    Some(burst) => Ok(RateModel::TokenBucket { burst }),
                    None => Err(crate::Error::Config(
                        "the token-bucket model needs a burst size (--burst N)".into(),
                    )),
                }
            }
            other => {
                return Err(crate::Error::Config(format!(
                    "unknown rate model {other:?}; expected fixed-window, sliding-window or token-bucket"
                )))
            }
        };
        match burst {
            Some(_) => Err(crate::Error::Config(format!(
                "a burst size only applies to the token-bucket model, not {}",
                model.as_str()
            ))),
            None => Ok(model),
        }
    }
}

/// What one `/v1/*` rate limit covers (the token endpoint is always per
/// client).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LimitScope {
    /// One limit per client for every `/v1/*` request.
    #[default]
    Client,
    /// One limit per client and route (`/v1/vulnerabilities`,
    /// `/v1/vulnerabilities/{id}`, `/v1/vulnerability-remediations`, …).
    Endpoint,
    /// One limit per client and endpoint group: `vulnerabilities` (the
    /// vulnerability and remediation routes) and `assets` (the vulnerable
    /// asset routes).
    Group,
}

impl LimitScope {
    /// The name used on the command line and in the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitScope::Client => "client",
            LimitScope::Endpoint => "endpoint",
            LimitScope::Group => "group",
        }
    }
}

impl FromStr for LimitScope {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "client" => Ok(LimitScope::Client),
            "endpoint" => Ok(LimitScope::Endpoint),
            "group" => Ok(LimitScope::Group),
            other => Err(crate::Error::Config(format!(
                "unknown rate-limit scope {other:?}; expected client, endpoint or group"
            ))),
        }
    }
}

/// The real service's limits. The default is permissive (no rate limits,
/// several live tokens); [`Limits::realistic`] is Vanta as documented.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Requests per window on `/v1/*` (per client, endpoint or group, see
    /// [`Limits::scope`]); 0 = unlimited.
    pub requests_per_window: u32,
    /// How `/v1/*` requests are counted.
    pub model: RateModel,
    /// What one `/v1/*` limit covers.
    pub scope: LimitScope,
    /// Requests per window per client id on `/oauth/token` (always a
    /// sliding window); 0 = unlimited.
    pub token_requests_per_window: u32,
    /// The rate-limit window: one minute at Vanta; tests and benchmarks run a
    /// scaled-down minute (say 50 requests per 3 s) under the same model.
    pub window: Duration,
    /// Issuing a token revokes the client's previous one.
    pub single_token: bool,
    /// Token lifetime in seconds (`expires_in`).
    pub token_ttl_s: u64,
    /// Whether 429 answers carry `Retry-After`.
    pub retry_after: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            requests_per_window: 0,
            model: RateModel::SlidingWindow,
            scope: LimitScope::Client,
            token_requests_per_window: 0,
            window: Duration::from_secs(60),
            single_token: false,
            token_ttl_s: 3600,
            retry_after: true,
        }
    }
}

impl Limits {
    /// Vanta's documented limits: 50/min on the read endpoints, 5/min on the
    /// token endpoint, one live token per application, one-hour tokens.
    pub fn realistic() -> Self {
        Limits {
            requests_per_window: 50,
            token_requests_per_window: 5,
            single_token: true,
            ..Limits::default()
        }
    }
}

/// One kind of injected fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// 500 Internal Server Error.
    Status500,
    /// 502 Bad Gateway.
    Status502,
    /// 503 Service Unavailable.
    Status503,
    /// 504 Gateway Timeout.
    Status504,
    /// 429 Too Many Requests (with `Retry-After` per [`Limits::retry_after`]).
    TooManyRequests,
    /// The connection closes after part of the response body.
    Reset,
    /// The body is delayed by [`Faults::slow_ms`] after its first half.
    Slow,
    /// The JSON body is cut short; status and `Content-Length` are consistent
    /// with the cut body.
    Truncated,
}

impl FaultKind {
    /// Every kind, in the order of `--faults`' documentation.
    pub const ALL: [FaultKind; 8] = [
        FaultKind::Status500,
        FaultKind::Status502,
        FaultKind::Status503,
        FaultKind::Status504,
        FaultKind::TooManyRequests,
        FaultKind::Reset,
        FaultKind::Slow,
        FaultKind::Truncated,
    ];

    /// The name used on the command line, in the admin API and in stats.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Status500 => "500",
            FaultKind::Status502 => "502",
            FaultKind::Status503 => "503",
            FaultKind::Status504 => "504",
            FaultKind::TooManyRequests => "429",
            FaultKind::Reset => "reset",
            FaultKind::Slow => "slow",
            FaultKind::Truncated => "truncated",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FaultKind {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FaultKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim())
            .ok_or_else(|| {
                crate::Error::Config(format!(
                    "unknown fault kind {s:?}; expected one of 500,502,503,504,429,reset,slow,truncated"
                ))
            })
    }
}

/// Injected faults and latency.
#[derive(Clone, Debug, PartialEq)]
pub struct Faults {
    /// Probability (0..=1) that a request to `/v1/*` or `/oauth/token` gets a fault.
    pub rate: f64,
    /// The kinds to choose from (uniformly); empty = every kind.
    pub kinds: Vec<FaultKind>,
    /// Seed of the decisions: request number n gets the same decision for
    /// the same seed (the counter restarts on `POST /_admin/reset`).
    pub seed: u64,
    /// Latency added to every answer but the rate limit's 429s, in milliseconds.
    pub latency_ms: u64,
    /// How long a `slow` fault stalls the body, in milliseconds.
    pub slow_ms: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            rate: 0.0,
            kinds: FaultKind::ALL.to_vec(),
            seed: 0,
            latency_ms: 0,
            slow_ms: 2000,
        }
    }
}

/// Everything a server needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Where to listen; port 0 picks a free port.
    pub addr: SocketAddr,
    /// The dataset.
    pub data: DataConfig,
    /// The one OAuth client the server knows.
    pub client_id: String,
    /// That client's secret.
    pub client_secret: String,
    /// Rate limits and token rules.
    pub limits: Limits,
    /// Fault injection.
    pub faults: Faults,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            data: DataConfig::default(),
            client_id: "vci_mock".to_string(),
            client_secret: "vcs_mock".to_string(),
            limits: Limits::default(),
            faults: Faults::default(),
        }
    }
}

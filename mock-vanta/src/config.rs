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

/// The real service's limits. The default is permissive (no rate limits,
/// several live tokens); [`Limits::realistic`] is Vanta as documented.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Requests per window per client on `/v1/*`; 0 = unlimited.
    pub requests_per_window: u32,
    /// Requests per window per client id on `/oauth/token`; 0 = unlimited.
    pub token_requests_per_window: u32,
    /// The rate-limit window (one minute at Vanta; shorter in tests).
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
    /// Latency added before every answer, in milliseconds.
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

//! The Vanta HTTP client: OAuth client credentials, paging, retries, pacing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::model::RawPage;
use super::pacer::{Answer, Pacer, PacerState, PacingMode};
use super::retry::{parse_retry_after, RetryPolicy};
use crate::config::{Credentials, Secret};

/// The three list endpoints a sync pages through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Endpoint {
    /// `GET /v1/vulnerabilities` (with `includeVulnerabilitiesWithoutSlas=true`).
    Vulnerabilities,
    /// `GET /v1/vulnerability-remediations`.
    Remediations,
    /// `GET /v1/vulnerable-assets`.
    VulnerableAssets,
}

impl Endpoint {
    /// All endpoints, in the order they are reported.
    pub const ALL: [Endpoint; 3] = [
        Endpoint::Vulnerabilities,
        Endpoint::Remediations,
        Endpoint::VulnerableAssets,
    ];

    /// The request path.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Vulnerabilities => "/v1/vulnerabilities",
            Endpoint::Remediations => "/v1/vulnerability-remediations",
            Endpoint::VulnerableAssets => "/v1/vulnerable-assets",
        }
    }

    /// The name used for S3 folders and result counts.
    pub fn dataset(self) -> &'static str {
        match self {
            Endpoint::Vulnerabilities => "vulnerabilities",
            Endpoint::Remediations => "remediations",
            Endpoint::VulnerableAssets => "vulnerable_assets",
        }
    }
}

/// How to reach and talk to Vanta.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Base URL without a trailing slash.
    pub base_url: String,
    /// The application's OAuth client credentials.
    pub credentials: Credentials,
    /// `pageSize` for list calls (1..=100).
    pub page_size: u32,
    /// Request budget per minute for list calls (the pacer's ceiling, all
    /// list endpoints together); 0 disables the pacer.
    pub rate_limit_per_min: u32,
    /// How list calls are paced (`VANTA_PACING`).
    pub pacing: PacingMode,
    /// The window `rate_limit_per_min` is counted over: one minute against
    /// Vanta. Tests and benchmarks shrink it together with mock-vanta's
    /// `--rate-window-ms` to run a scaled-down minute (e.g. 50 requests per
    /// 3 s) with the same pacing; `Retry-After`'s seconds scale alike (a
    /// sixtieth of the window each), as mock-vanta's do.
    pub rate_window: Duration,
    /// Idle connections kept per host.
    pub max_pool_connections: usize,
    /// Backoff and attempt limits.
    pub retry: RetryPolicy,
    /// Whole-request timeout (connect, headers and body).
    pub request_timeout: Duration,
}

impl ClientOptions {
    /// Options with the production defaults for everything but the target.
    pub fn new(base_url: impl Into<String>, credentials: Credentials) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            credentials,
            page_size: 100,
            rate_limit_per_min: 50,
            pacing: PacingMode::Adaptive,
            rate_window: Duration::from_secs(60),
            max_pool_connections: 50,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// A failed Vanta call, after retries where retrying made sense.
#[derive(Debug, thiserror::Error)]
pub enum VantaError {
    /// The token endpoint refused the client id/secret.
    #[error("Vanta rejected the client credentials (HTTP {status} from POST /oauth/token): check VANTA_CLIENT_ID/VANTA_CLIENT_SECRET or the secret named by VANTA_CREDENTIALS_SECRET")]
    BadCredentials {
        /// HTTP status of the token endpoint.
        status: u16,
    },
    /// A 4xx that retrying cannot fix.
    #[error("Vanta answered HTTP {status} to {method} {endpoint}; a client error is not retried")]
    ClientError {
        /// HTTP status.
        status: u16,
        /// `GET` or `POST`.
        method: &'static str,
        /// Request path.
        endpoint: &'static str,
    },
    /// Still 401 after re-authenticating once.
    #[error("Vanta answered HTTP 401 to GET {endpoint} again after re-authenticating; is another client using the same application credentials?")]
    Unauthorized {
        /// Request path.
        endpoint: &'static str,
    },
    /// Every attempt failed with a retryable error.
    #[error("{method} {endpoint} failed {attempts} times; last error: {last}")]
    Exhausted {
        /// `GET` or `POST`.
        method: &'static str,
        /// Request path.
        endpoint: &'static str,
        /// Attempts made.
        attempts: u32,
        /// The last error seen.
        last: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Setup(String),
    /// The invocation's time ran out while waiting on Vanta.
    #[error("{method} {endpoint}: {waiting} would end past the invocation's deadline; stopped waiting (the run checkpoints or a retry resumes it)")]
    Deadline {
        /// `GET` or `POST`.
        method: &'static str,
        /// Request path.
        endpoint: &'static str,
        /// What was being waited for.
        waiting: String,
    },
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    /// Seconds; read as a float so that any JSON number is accepted.
    #[serde(default)]
    expires_in: Option<f64>,
}

/// The longest token lifetime believed: a larger `expires_in` (or one too
/// large for a duration) is taken as this; a 401 ends a token early anyway.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(86_400);

/// How long a token lives, from its `expires_in` (absent: an hour; below a
/// second: a second; above a day: a day). Never panics.
fn token_lifetime(expires_in: Option<f64>) -> Duration {
    match expires_in {
        None => Duration::from_secs(3600),
        Some(s) if s.is_nan() || s < 1.0 => Duration::from_secs(1),
        Some(s) => Duration::try_from_secs_f64(s)
            .unwrap_or(MAX_TOKEN_LIFETIME)
            .min(MAX_TOKEN_LIFETIME),
    }
}

struct TokenState {
    token: Option<(Secret, Instant)>,
    generation: u64,
    /// Status with which the token endpoint refused the credentials: the
    /// other pagers fail at once instead of spending the endpoint's
    /// 5-a-minute budget on the same answer.
    rejected: Option<u16>,
}

/// One attempt's failure that may go away on retry.
struct Transient {
    what: String,
    retry_after: Option<Duration>,
    /// A 429 whose wait the adaptive pacer already scheduled.
    paced: bool,
}

enum Attempt<T> {
    Done(T),
    Retry(Transient),
    Reauth(u64),
}

/// A Vanta API client shared by the concurrent pagers of one sync.
///
/// Vanta keeps one live token per application, so the client holds a single
/// token behind a lock: whoever sees a 401 first fetches a new one, and the
/// others reuse it instead of revoking each other's tokens.
pub struct VantaClient {
    http: reqwest::Client,
    options: ClientOptions,
    pacer: Pacer,
    /// Held only to read or replace the token, never across a request.
    token: std::sync::Mutex<TokenState>,
    /// One token fetch (with its retries) at a time; the others wait for
    /// its outcome here, no longer than their deadline.
    refresh: Mutex<()>,
    retries: AtomicU64,
    requests: AtomicU64,
    rate_limited: AtomicU64,
}

impl std::fmt::Debug for VantaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VantaClient")
            .field("base_url", &self.options.base_url)
            .field("client_id", &self.options.credentials.client_id)
            .finish_non_exhaustive()
    }
}

impl VantaClient {
    /// Builds the client; no request is made until the first call.
    pub fn new(options: ClientOptions) -> Result<Self, VantaError> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(options.max_pool_connections)
            .pool_idle_timeout(Duration::from_secs(50))
            .connect_timeout(Duration::from_secs(10))
            .timeout(options.request_timeout)
            .tcp_nodelay(true)
            .user_agent(concat!("vanta-vuln-sync/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(
                crate::tls::client_config().map_err(|e| VantaError::Setup(e.to_string()))?,
            )
            .build()
            .map_err(|e| VantaError::Setup(e.to_string()))?;
        Ok(Self {
            http,
            pacer: Pacer::new(
                options.pacing,
                options.rate_limit_per_min,
                options.rate_window,
            ),
            options,
            token: std::sync::Mutex::new(TokenState {
                token: None,
                generation: 0,
                rejected: None,
            }),
            refresh: Mutex::new(()),
            retries: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
        })
    }

    /// Retries made so far (every retried attempt, token calls included).
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// HTTP requests sent so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// 429 answers so far (list and token calls).
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }

    /// The pacer's state for a continuation (`None` unless adaptive).
    pub fn pacer_state(&self) -> Option<PacerState> {
        self.pacer.state()
    }

    /// Resumes pacing from a checkpoint's state (see [`Pacer::restore`]).
    pub fn restore_pacer(&self, state: &PacerState) {
        self.pacer.restore(state)
    }

    /// Fetches one page of `endpoint` starting after `cursor` (first page
    /// when `None`) with only its cursor read; [`RawPage::decode`] decodes
    /// its records.
    pub async fn fetch_page(
        &self,
        endpoint: Endpoint,
        cursor: Option<&str>,
    ) -> Result<RawPage, VantaError> {
        self.fetch_raw_page_by(endpoint, cursor, None).await
    }

    /// One page with only its cursor decoded (see [`RawPage`]), giving up
    /// with [`VantaError::Deadline`] at `by` (`None`: never): every wait (the
    /// token and its retries, the pacer, a backoff or `Retry-After`, the
    /// request itself) ends by then, and a backoff that would end later is
    /// not started at all. A body whose `pageInfo` cannot be read is
    /// retried. Its records are decoded by the caller, off the path from one
    /// request to the next.
    pub async fn fetch_raw_page_by(
        &self,
        endpoint: Endpoint,
        cursor: Option<&str>,
        by: Option<Instant>,
    ) -> Result<RawPage, VantaError> {
        self.fetch_by(endpoint, cursor, by, RawPage::new).await
    }

    /// [`VantaClient::fetch_raw_page_by`] for a page whose records must also
    /// pass `check` (decode as the caller's record type): a page that does
    /// not is retried like a failed request.
    pub async fn fetch_checked_page_by(
        &self,
        endpoint: Endpoint,
        cursor: Option<&str>,
        by: Option<Instant>,
        check: impl Fn(&RawPage) -> Result<(), String>,
    ) -> Result<RawPage, VantaError> {
        self.fetch_by(endpoint, cursor, by, |body| {
            let raw = RawPage::new(body)?;
            check(&raw)?;
            Ok(raw)
        })
        .await
    }

    /// Counts a retry the caller makes (a page whose records did not
    /// decode, fetched again).
    pub fn note_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    async fn fetch_by<P>(
        &self,
        endpoint: Endpoint,
        cursor: Option<&str>,
        by: Option<Instant>,
        parse: impl Fn(bytes::Bytes) -> Result<P, String>,
    ) -> Result<P, VantaError> {
        let Some(by) = by else {
            return self.fetch(endpoint, cursor, None, parse).await;
        };
        match tokio::time::timeout_at(by, self.fetch(endpoint, cursor, Some(by), parse)).await {
            Ok(result) => result,
            Err(_) => Err(VantaError::Deadline {
                method: "GET",
                endpoint: endpoint.path(),
                waiting: "the page (its token, pacing, request or retries)".into(),
            }),
        }
    }

    async fn fetch<P>(
        &self,
        endpoint: Endpoint,
        cursor: Option<&str>,
        by: Option<Instant>,
        parse: impl Fn(bytes::Bytes) -> Result<P, String>,
    ) -> Result<P, VantaError> {
        let url = format!("{}{}", self.options.base_url, endpoint.path());
        let page_size = self.options.page_size.to_string();
        let mut query: Vec<(&str, &str)> = vec![("pageSize", &page_size)];
        if endpoint == Endpoint::Vulnerabilities {
            query.push(("includeVulnerabilitiesWithoutSlas", "true"));
        }
        if let Some(c) = cursor {
            query.push(("pageCursor", c));
        }

        let mut reauthenticated = false;
        let mut failures = 0u32;
        loop {
            let (token, generation) = self.current_token(by).await?;
            let grant = self.pacer.acquire(endpoint).await;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let sent = self
                .http
                .get(&url)
                .query(&query)
                .bearer_auth(token.expose())
                .send()
                .await;
            let limited = match &sent {
                Ok(resp) if resp.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                    self.rate_limited.fetch_add(1, Ordering::Relaxed);
                    Some(self.retry_after(resp))
                }
                _ => None,
            };
            let paced = limited.is_some() && self.pacer.adapts();
            self.pacer.finish(
                grant,
                match limited {
                    Some(after) => Answer::RateLimited(after),
                    None => Answer::Counted,
                },
            );
            let attempt = match sent {
                Err(e) => Attempt::Retry(transport_error(&e)),
                Ok(resp) => {
                    let status = resp.status();
                    if status == reqwest::StatusCode::UNAUTHORIZED {
                        if reauthenticated {
                            return Err(VantaError::Unauthorized {
                                endpoint: endpoint.path(),
                            });
                        }
                        Attempt::Reauth(generation)
                    } else if status.is_success() {
                        match resp.bytes().await {
                            Err(e) => Attempt::Retry(transport_error(&e)),
                            Ok(body) => match parse(body) {
                                Ok(page) => Attempt::Done(page),
                                Err(what) => Attempt::Retry(Transient {
                                    what,
                                    retry_after: None,
                                    paced: false,
                                }),
                            },
                        }
                    } else if is_retryable_status(status) {
                        let mut t = self.status_error(&resp);
                        t.paced = paced;
                        Attempt::Retry(t)
                    } else {
                        return Err(VantaError::ClientError {
                            status: status.as_u16(),
                            method: "GET",
                            endpoint: endpoint.path(),
                        });
                    }
                }
            };
            match attempt {
                Attempt::Done(page) => return Ok(page),
                Attempt::Reauth(generation) => {
                    reauthenticated = true;
                    tracing::info!(
                        endpoint = endpoint.path(),
                        "token rejected (401); re-authenticating once"
                    );
                    self.invalidate_token(generation);
                }
                Attempt::Retry(t) => {
                    failures += 1;
                    self.wait_before_retry("GET", endpoint.path(), failures, t, by)
                        .await?;
                }
            }
        }
    }

    async fn wait_before_retry(
        &self,
        method: &'static str,
        endpoint: &'static str,
        failures: u32,
        t: Transient,
        by: Option<Instant>,
    ) -> Result<(), VantaError> {
        if failures >= self.options.retry.max_attempts {
            return Err(VantaError::Exhausted {
                method,
                endpoint,
                attempts: failures,
                last: t.what,
            });
        }
        let delay = if t.paced {
            Duration::ZERO
        } else {
            self.options.retry.delay(failures - 1, t.retry_after)
        };
        if by.is_some_and(|by| Instant::now().checked_add(delay).is_none_or(|end| end > by)) {
            return Err(VantaError::Deadline {
                method,
                endpoint,
                waiting: format!("a retry in {} ms after {}", delay.as_millis(), t.what),
            });
        }
        self.retries.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            method,
            endpoint,
            attempt = failures,
            delay_ms = delay.as_millis() as u64,
            error = %t.what,
            "retrying Vanta request"
        );
        tokio::time::sleep(delay).await;
        Ok(())
    }

    /// The live token, fetching one when there is none or it is about to
    /// expire. The token's lock is held only to read or store it; one caller
    /// fetches while the others wait for it (until `by`, if given).
    async fn current_token(&self, by: Option<Instant>) -> Result<(Secret, u64), VantaError> {
        if let Some(live) = self.live_token()? {
            return Ok(live);
        }
        let _refreshing = match by {
            None => self.refresh.lock().await,
            Some(by) => tokio::time::timeout_at(by, self.refresh.lock())
                .await
                .map_err(|_| VantaError::Deadline {
                    method: "POST",
                    endpoint: "/oauth/token",
                    waiting: "another pager's token request".into(),
                })?,
        };
        // Whoever held the refresh lock may have fetched one meanwhile.
        if let Some(live) = self.live_token()? {
            return Ok(live);
        }
        let fetched = self.request_token(by).await;
        let mut state = self.token_state();
        let (token, lifetime) = match fetched {
            Ok(t) => t,
            Err(e) => {
                if let VantaError::BadCredentials { status } = e {
                    state.rejected = Some(status);
                }
                return Err(e);
            }
        };
        // Refresh a minute early so a page fetch never races the expiry.
        let margin = Duration::from_secs(60).min(lifetime / 2);
        let now = Instant::now();
        let expires = now
            .checked_add(lifetime.saturating_sub(margin))
            .unwrap_or(now);
        state.token = Some((token.clone(), expires));
        state.generation += 1;
        Ok((token, state.generation))
    }

    /// The stored token while it is live (an error once the credentials
    /// were rejected).
    fn live_token(&self) -> Result<Option<(Secret, u64)>, VantaError> {
        let state = self.token_state();
        if let Some((token, expires)) = &state.token {
            if Instant::now() < *expires {
                return Ok(Some((token.clone(), state.generation)));
            }
        }
        match state.rejected {
            Some(status) => Err(VantaError::BadCredentials { status }),
            None => Ok(None),
        }
    }

    fn token_state(&self) -> std::sync::MutexGuard<'_, TokenState> {
        self.token.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the token of `generation` unless another caller already replaced it.
    fn invalidate_token(&self, generation: u64) {
        let mut state = self.token_state();
        if state.generation == generation {
            state.token = None;
        }
    }

    async fn request_token(&self, by: Option<Instant>) -> Result<(Secret, Duration), VantaError> {
        const PATH: &str = "/oauth/token";
        let url = format!("{}{}", self.options.base_url, PATH);
        let body = serde_json::json!({
            "client_id": self.options.credentials.client_id,
            "client_secret": self.options.credentials.client_secret.expose(),
            "scope": "vanta-api.all:read",
            "grant_type": "client_credentials",
        });
        let mut failures = 0u32;
        loop {
            self.requests.fetch_add(1, Ordering::Relaxed);
            let sent = self.http.post(&url).json(&body).send().await;
            let transient = match sent {
                Err(e) => transport_error(&e),
                Ok(resp) => {
                    let status = resp.status();
                    if status.is_success() {
                        match resp.bytes().await {
                            Err(e) => transport_error(&e),
                            Ok(bytes) => match serde_json::from_slice::<TokenResponse>(&bytes) {
                                Ok(t) if !t.access_token.is_empty() => {
                                    tracing::debug!(
                                        expires_in = t.expires_in,
                                        "obtained a Vanta access token"
                                    );
                                    let lifetime = token_lifetime(t.expires_in);
                                    return Ok((Secret::new(t.access_token), lifetime));
                                }
                                // Never echo the body: it would hold the token.
                                _ => Transient {
                                    what: format!(
                                        "malformed token response ({} bytes)",
                                        bytes.len()
                                    ),
                                    retry_after: None,
                                    paced: false,
                                },
                            },
                        }
                    } else if matches!(status.as_u16(), 400 | 401 | 403) {
                        return Err(VantaError::BadCredentials {
                            status: status.as_u16(),
                        });
                    } else if is_retryable_status(status) {
                        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                            self.rate_limited.fetch_add(1, Ordering::Relaxed);
                        }
                        self.status_error(&resp)
                    } else {
                        return Err(VantaError::ClientError {
                            status: status.as_u16(),
                            method: "POST",
                            endpoint: PATH,
                        });
                    }
                }
            };
            failures += 1;
            self.wait_before_retry("POST", PATH, failures, transient, by)
                .await?;
        }
    }
}

impl VantaClient {
    /// The answer's `Retry-After`, clamped to the policy's longest wait. Its
    /// seconds are those of `rate_window` taken as a minute: real seconds
    /// against Vanta, a sixtieth of a scaled-down window against mock-vanta
    /// running the same window (a date is a date).
    fn retry_after(&self, resp: &reqwest::Response) -> Option<Duration> {
        let v = resp.headers().get(reqwest::header::RETRY_AFTER)?;
        let v = v.to_str().ok()?;
        let mut d = parse_retry_after(v, SystemTime::now())?;
        let minute = Duration::from_secs(60);
        if self.options.rate_window != minute && v.trim().parse::<f64>().is_ok() {
            let scale = self.options.rate_window.as_secs_f64() / minute.as_secs_f64();
            d = Duration::try_from_secs_f64(d.as_secs_f64() * scale).unwrap_or(Duration::MAX);
        }
        Some(d.min(self.options.retry.max_retry_after))
    }

    fn status_error(&self, resp: &reqwest::Response) -> Transient {
        Transient {
            what: format!("HTTP {}", resp.status().as_u16()),
            retry_after: self.retry_after(resp),
            paced: false,
        }
    }
}

fn is_retryable_status(status: reqwest::StatusCode) -> bool {
    status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
}

fn transport_error(e: &reqwest::Error) -> Transient {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "body interrupted (connection reset or truncated)"
    } else {
        "request failed"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    Transient {
        what: if detail.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind}: {detail}")
        },
        retry_after: None,
        paced: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_expires_in_gives_a_lifetime_without_panicking() {
        assert_eq!(token_lifetime(None), Duration::from_secs(3600));
        assert_eq!(token_lifetime(Some(3600.0)), Duration::from_secs(3600));
        assert_eq!(token_lifetime(Some(0.0)), Duration::from_secs(1));
        assert_eq!(token_lifetime(Some(-5.0)), Duration::from_secs(1));
        assert_eq!(token_lifetime(Some(f64::NAN)), Duration::from_secs(1));
        for huge in [u64::MAX as f64, 1e20, 1e300, f64::INFINITY] {
            assert_eq!(token_lifetime(Some(huge)), MAX_TOKEN_LIFETIME);
        }
    }
}

//! The admin API: counters (`GET /_admin/stats`), run-time settings
//! (`GET`/`PUT /_admin/config`) and `POST /_admin/reset`. It needs no token
//! and is never rate-limited or faulted.

use super::response::{error, json_response};
use super::{lock, validate_faults, validate_limits, AppState};
use crate::config::FaultKind;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Request and fault counters.
#[derive(Default)]
pub(crate) struct Counters {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    faults: Mutex<BTreeMap<FaultKind, u64>>,
    pub tokens_issued: AtomicU64,
    pub tokens_revoked: AtomicU64,
    /// 429s from the real limits (injected 429s count as faults).
    pub rate_limited: AtomicU64,
}

impl Counters {
    pub(crate) fn fault(&self, kind: FaultKind) {
        *lock(&self.faults).entry(kind).or_default() += 1;
    }

    fn clear(&self) {
        lock(&self.requests).clear();
        lock(&self.faults).clear();
        self.tokens_issued.store(0, Ordering::Relaxed);
        self.tokens_revoked.store(0, Ordering::Relaxed);
        self.rate_limited.store(0, Ordering::Relaxed);
    }
}

/// The route pattern a path belongs to, so by-id requests count together.
/// (axum's `MatchedPath` needs a feature the workspace does not enable.)
pub(crate) fn route_of(path: &str) -> &'static str {
    const ROUTES: [&str; 4] = [
        "/oauth/token",
        "/v1/vulnerabilities",
        "/v1/vulnerability-remediations",
        "/v1/vulnerable-assets",
    ];
    if let Some(route) = ROUTES.iter().find(|r| **r == path) {
        return route;
    }
    match path.rsplit_once('/') {
        Some(("/v1/vulnerabilities", id)) if !id.is_empty() => "/v1/vulnerabilities/{id}",
        Some(("/v1/vulnerable-assets", id)) if !id.is_empty() => "/v1/vulnerable-assets/{id}",
        _ => "(unmatched)",
    }
}

/// Middleware counting every API request by route and final status.
pub(crate) async fn count(State(app): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let label = format!("{} {}", req.method(), route_of(req.uri().path()));
    let resp = next.run(req).await;
    tracing::debug!(request = %label, status = resp.status().as_u16(), "answered");
    *lock(&app.counters.requests)
        .entry((label, resp.status().as_u16()))
        .or_default() += 1;
    resp
}

/// `GET /_admin/stats`.
pub(crate) async fn stats(State(app): State<Arc<AppState>>) -> Response {
    let mut requests: Map<String, Value> = Map::new();
    let mut total = 0u64;
    for ((route, status), n) in lock(&app.counters.requests).iter() {
        total += n;
        let entry = requests.entry(route.clone()).or_insert_with(|| json!({}));
        if let Value::Object(by_status) = entry {
            by_status.insert(status.to_string(), json!(n));
        }
    }
    let faults: Map<String, Value> = lock(&app.counters.faults)
        .iter()
        .map(|(k, n)| (k.as_str().to_string(), json!(n)))
        .collect();
    let c = &app.counters;
    let body = json!({
        "requests": requests,
        "requestsTotal": total,
        "faults": faults,
        "faultsTotal": faults.values().filter_map(Value::as_u64).sum::<u64>(),
        "tokensIssued": c.tokens_issued.load(Ordering::Relaxed),
        "tokensRevoked": c.tokens_revoked.load(Ordering::Relaxed),
        "rateLimited": c.rate_limited.load(Ordering::Relaxed),
    });
    json_response(StatusCode::OK, body.to_string().into_bytes())
}

fn config_json(app: &AppState) -> Value {
    let rt = app.runtime();
    json!({
        "faultRate": rt.faults.rate,
        "faults": rt.faults.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        "faultSeed": rt.faults.seed,
        "latencyMs": rt.faults.latency_ms,
        "slowMs": rt.faults.slow_ms,
        "rateLimit": rt.limits.requests_per_window,
        "rateModel": rt.limits.model.as_str(),
        "burst": rt.limits.model.burst(),
        "rateScope": rt.limits.scope.as_str(),
        "tokenRateLimit": rt.limits.token_requests_per_window,
        "rateWindowMs": rt.limits.window.as_millis() as u64,
        "singleToken": rt.limits.single_token,
        "tokenTtlS": rt.limits.token_ttl_s,
        "retryAfter": rt.limits.retry_after,
    })
}

/// `GET /_admin/config`: the current run-time settings.
pub(crate) async fn get_config(State(app): State<Arc<AppState>>) -> Response {
    json_response(StatusCode::OK, config_json(&app).to_string().into_bytes())
}

/// A partial update: every key optional, unknown keys rejected.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfigPatch {
    fault_rate: Option<f64>,
    faults: Option<Vec<String>>,
    fault_seed: Option<u64>,
    latency_ms: Option<u64>,
    slow_ms: Option<u64>,
    rate_limit: Option<u32>,
    rate_model: Option<String>,
    burst: Option<u32>,
    rate_scope: Option<String>,
    token_rate_limit: Option<u32>,
    rate_window_ms: Option<u64>,
    single_token: Option<bool>,
    token_ttl_s: Option<u64>,
    retry_after: Option<bool>,
}

/// `PUT /_admin/config`: applies a partial update and answers the result.
pub(crate) async fn put_config(State(app): State<Arc<AppState>>, body: Bytes) -> Response {
    let patch: ConfigPatch = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("invalid config: {e}"),
            )
        }
    };
    let mut next = app.runtime();
    if let Some(kinds) = patch.faults {
        match kinds
            .iter()
            .map(|k| k.parse::<FaultKind>())
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(kinds) => next.faults.kinds = kinds,
            Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", e.to_string()),
        }
    }
    let f = &mut next.faults;
    f.rate = patch.fault_rate.unwrap_or(f.rate);
    f.seed = patch.fault_seed.unwrap_or(f.seed);
    f.latency_ms = patch.latency_ms.unwrap_or(f.latency_ms);
    f.slow_ms = patch.slow_ms.unwrap_or(f.slow_ms);
    let l = &mut next.limits;
    if patch.rate_model.is_some() || patch.burst.is_some() {
        let name = patch
            .rate_model
            .as_deref()
            .unwrap_or(l.model.as_str())
            .to_string();
        match crate::config::RateModel::parse(&name, patch.burst) {
            Ok(m) => l.model = m,
            Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", e.to_string()),
        }
    }
    if let Some(scope) = patch.rate_scope {
        match scope.parse() {
            Ok(s) => l.scope = s,
            Err(e) => {
                let e: crate::Error = e;
                return error(StatusCode::BAD_REQUEST, "bad_request", e.to_string());
            }
        }
    }
    l.requests_per_window = patch.rate_limit.unwrap_or(l.requests_per_window);
    l.token_requests_per_window = patch
        .token_rate_limit
        .unwrap_or(l.token_requests_per_window);
    l.window = patch.rate_window_ms.map_or(l.window, Duration::from_millis);
    l.single_token = patch.single_token.unwrap_or(l.single_token);
    l.token_ttl_s = patch.token_ttl_s.unwrap_or(l.token_ttl_s);
    l.retry_after = patch.retry_after.unwrap_or(l.retry_after);
    if let Err(e) = validate_faults(&next.faults).and_then(|_| validate_limits(&next.limits)) {
        return error(StatusCode::BAD_REQUEST, "bad_request", e.to_string());
    }
    let recount = {
        let old = &app.runtime().limits;
        (old.model, old.scope, old.window)
            != (next.limits.model, next.limits.scope, next.limits.window)
    };
    *app.runtime.write().unwrap_or_else(|e| e.into_inner()) = next;
    if recount {
        // Counters of one model mean nothing under another.
        lock(&app.limiter).clear();
    }
    tracing::info!(config = %config_json(&app), "run-time config changed");
    json_response(StatusCode::OK, config_json(&app).to_string().into_bytes())
}

/// `POST /_admin/reset`: zeroes the counters, restarts the request numbering
/// that fault decisions use, and empties the rate-limit windows. Tokens stay
/// valid.
pub(crate) async fn reset(State(app): State<Arc<AppState>>) -> Response {
    app.counters.clear();
    app.sequence.store(0, Ordering::Relaxed);
    lock(&app.limiter).clear();
    json_response(StatusCode::OK, b"{\"reset\":true}".to_vec())
}

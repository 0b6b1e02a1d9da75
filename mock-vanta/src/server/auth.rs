//! `POST /oauth/token` and the bearer-token check on `/v1/*`.

use super::admin::route_of;
use super::limits::{scope_key, Bucket};
use super::response::{error, oauth_error, too_many_requests};
use super::{lock, AppState};
use crate::config::RateModel;
use crate::dataset::draws::hash3;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One issued token.
struct Token {
    client: String,
    expires: Instant,
    revoked: bool,
}

/// Issued tokens. Revoked and expired ones are kept until they would have
/// expired so a rejection can say why.
#[derive(Default)]
pub(crate) struct TokenStore {
    tokens: HashMap<String, Token>,
    issued: u64,
}

/// Why a token was refused.
enum Refusal {
    Unknown,
    Expired,
    Revoked,
}

impl TokenStore {
    /// Issues a token; with `single` the client's live tokens are revoked.
    /// Returns the token and how many were revoked.
    fn issue(&mut self, client: &str, ttl: Duration, single: bool, now: Instant) -> (String, u64) {
        self.tokens.retain(|_, t| t.expires > now);
        let mut revoked = 0;
        if single {
            for t in self
                .tokens
                .values_mut()
                .filter(|t| t.client == client && !t.revoked)
            {
                t.revoked = true;
                revoked += 1;
            }
        }
        self.issued += 1;
        let token = format!(
            "vat_{:016x}{:016x}",
            hash3(0x0070_c3e4, self.issued, 1),
            hash3(0x0070_c3e4, self.issued, 2)
        );
        self.tokens.insert(
            token.clone(),
            Token {
                client: client.to_string(),
                expires: now + ttl,
                revoked: false,
            },
        );
        (token, revoked)
    }

    fn check(&self, token: &str, now: Instant) -> Result<String, Refusal> {
        match self.tokens.get(token) {
            None => Err(Refusal::Unknown),
            Some(t) if t.revoked => Err(Refusal::Revoked),
            Some(t) if t.expires <= now => Err(Refusal::Expired),
            Some(t) => Ok(t.client.clone()),
        }
    }
}

#[derive(Deserialize)]
struct TokenRequest {
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
    grant_type: Option<String>,
}

const SCOPES: [&str; 2] = ["vanta-api.all:read", "vanta-api.all:write"];

/// `POST /oauth/token` with a JSON body.
pub(crate) async fn token(State(app): State<Arc<AppState>>, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<TokenRequest>(&body) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be a JSON object with client_id, client_secret, scope and grant_type",
        );
    };
    let rt = app.runtime();
    let client = req.client_id.unwrap_or_default();
    let now = Instant::now();
    let admitted = lock(&app.limiter).admit(
        Bucket::Token,
        &client,
        "",
        RateModel::SlidingWindow,
        rt.limits.token_requests_per_window,
        rt.limits.window,
        now,
    );
    if let Err(wait) = admitted {
        app.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
        return too_many_requests(rt.limits.retry_after.then_some(wait), rt.limits.window);
    }
    match req.grant_type.as_deref() {
        Some("client_credentials") => {}
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required",
            )
        }
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only client_credentials is supported",
            )
        }
    }
    if client != app.client_id || req.client_secret.as_deref() != Some(app.client_secret.as_str()) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        );
    }
    let scope = req.scope.unwrap_or_else(|| SCOPES[0].to_string());
    if scope.split_whitespace().next().is_none()
        || !scope.split_whitespace().all(|s| SCOPES.contains(&s))
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            format!("scope must be {} or {}", SCOPES[0], SCOPES[1]),
        );
    }
    let ttl = Duration::from_secs(rt.limits.token_ttl_s);
    let (token, revoked) = lock(&app.tokens).issue(&client, ttl, rt.limits.single_token, now);
    app.counters.tokens_issued.fetch_add(1, Ordering::Relaxed);
    app.counters
        .tokens_revoked
        .fetch_add(revoked, Ordering::Relaxed);
    let body =
        json!({"access_token": token, "expires_in": rt.limits.token_ttl_s, "token_type": "Bearer"});
    super::response::json_response(StatusCode::OK, body.to_string().into_bytes())
}

/// Middleware on `/v1/*`: a live bearer token, then the client's rate limit.
pub(crate) async fn require_token(
    State(app): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(bearer) = bearer else {
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing Authorization: Bearer <token> header",
        );
    };
    let now = Instant::now();
    let checked = lock(&app.tokens).check(bearer, now);
    let client = match checked {
        Ok(client) => client,
        Err(Refusal::Unknown) => {
            return error(StatusCode::UNAUTHORIZED, "unauthorized", "unknown token")
        }
        Err(Refusal::Expired) => {
            return error(StatusCode::UNAUTHORIZED, "unauthorized", "token expired")
        }
        Err(Refusal::Revoked) => {
            return error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "token revoked: a newer token was issued to this client",
            )
        }
    };
    let rt = app.runtime();
    let key = scope_key(rt.limits.scope, route_of(req.uri().path()));
    let admitted = lock(&app.limiter).admit(
        Bucket::Api,
        &client,
        key,
        rt.limits.model,
        rt.limits.requests_per_window,
        rt.limits.window,
        now,
    );
    if let Err(wait) = admitted {
        app.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
        return too_many_requests(rt.limits.retry_after.then_some(wait), rt.limits.window);
    }
    next.run(req).await
}

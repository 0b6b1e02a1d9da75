//! Vanta's real limits: one live token per client, token expiry, the
//! /v1 and /oauth/token rate limits, with and without Retry-After.

use crate::common;

use common::*;
use mock_vanta::{Config, Limits};
use reqwest::{header::RETRY_AFTER, StatusCode};
use serde_json::Value;
use std::time::Duration;

fn limited(limits: Limits) -> Config {
    Config {
        data: data(1, 20, 5, 3),
        limits,
        ..Config::default()
    }
}

async fn admin_stats(c: &reqwest::Client, base: &str) -> Value {
    c.get(format!("{base}/_admin/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn realistic_limits_are_vantas() {
    let l = Limits::realistic();
    assert_eq!(
        (l.requests_per_window, l.token_requests_per_window),
        (50, 5)
    );
    assert_eq!(l.window, Duration::from_secs(60));
    assert!(l.single_token && l.retry_after);
    assert_eq!(l.token_ttl_s, 3600);
}

#[tokio::test]
async fn a_new_token_revokes_the_previous_one() {
    let server = start(limited(Limits::realistic())).await;
    let base = server.base_url();
    let c = client();
    let first = token(&c, &base).await;
    assert_eq!(
        get(&c, &base, &first, VULNS, &[]).await.status(),
        StatusCode::OK
    );
    let second = token(&c, &base).await;
    assert_ne!(first, second);
    assert_eq!(
        get(&c, &base, &first, VULNS, &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&c, &base, &second, VULNS, &[]).await.status(),
        StatusCode::OK
    );
    let stats = admin_stats(&c, &base).await;
    assert_eq!(stats["tokensIssued"], 2);
    assert_eq!(stats["tokensRevoked"], 1);
    server.shutdown().await;

    // Without the single-token rule both stay valid.
    let server = start(limited(Limits::default())).await;
    let base = server.base_url();
    let (a, b) = (token(&c, &base).await, token(&c, &base).await);
    assert_eq!(
        get(&c, &base, &a, VULNS, &[]).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        get(&c, &base, &b, VULNS, &[]).await.status(),
        StatusCode::OK
    );
    server.shutdown().await;
}

#[tokio::test]
async fn tokens_expire_after_their_lifetime() {
    let server = start(limited(Limits {
        token_ttl_s: 1,
        ..Limits::default()
    }))
    .await;
    let base = server.base_url();
    let c = client();
    let resp = token_response(&c, &base, credentials()).await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["expires_in"], 1);
    let t = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        get(&c, &base, &t, VULNS, &[]).await.status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let resp = get(&c, &base, &t, VULNS, &[]).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.text().await.unwrap().contains("expired"));
    server.shutdown().await;
}

#[tokio::test]
async fn api_rate_limit_answers_429_until_the_window_passes() {
    let window = Duration::from_secs(3);
    let server = start(limited(Limits {
        requests_per_window: 5,
        window,
        ..Limits::default()
    }))
    .await;
    let base = server.base_url();
    let c = client();
    let t = token(&c, &base).await;
    for _ in 0..5 {
        assert_eq!(
            get(&c, &base, &t, ASSETS, &[]).await.status(),
            StatusCode::OK
        );
    }
    let resp = get(&c, &base, &t, VULNS, &[]).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3).contains(&retry), "Retry-After {retry}");
    // The admin API is never limited.
    assert_eq!(admin_stats(&c, &base).await["rateLimited"], 1);
    tokio::time::sleep(window).await;
    assert_eq!(
        get(&c, &base, &t, VULNS, &[]).await.status(),
        StatusCode::OK
    );

    // Retry-After can be switched off at run time.
    let resp = c
        .put(format!("{base}/_admin/config"))
        .json(&serde_json::json!({"retryAfter": false, "rateLimit": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = get(&c, &base, &t, VULNS, &[]).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().get(RETRY_AFTER).is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn token_endpoint_has_its_own_rate_limit() {
    let server = start(limited(Limits {
        token_requests_per_window: 3,
        ..Limits::default()
    }))
    .await;
    let base = server.base_url();
    let c = client();
    let t = token(&c, &base).await;
    for _ in 0..2 {
        token(&c, &base).await;
    }
    let resp = token_response(&c, &base, credentials()).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key(RETRY_AFTER));
    // /v1 is a separate budget.
    assert_eq!(
        get(&c, &base, &t, VULNS, &[]).await.status(),
        StatusCode::OK
    );
    // An admin reset empties the windows.
    c.post(format!("{base}/_admin/reset")).send().await.unwrap();
    assert_eq!(
        token_response(&c, &base, credentials()).await.status(),
        StatusCode::OK
    );
    server.shutdown().await;
}

//! Vanta's real limits: one live token per client, token expiry, the
//! /v1 and /oauth/token rate limits, with and without Retry-After; each
//! rate-limit model and scope enforcing what it claims.

use crate::common;

use common::*;
use mock_vanta::{Config, LimitScope, Limits, RateModel};
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
    // Whole seconds of the scaled-down minute (a sixtieth of the window
    // each), an integer as HTTP has it.
    let retry: u64 = resp.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
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

/// A server with `limit` requests per `window_ms` under `model` and `scope`.
fn modelled(model: RateModel, scope: LimitScope, limit: u32, window_ms: u64) -> Config {
    limited(Limits {
        requests_per_window: limit,
        model,
        scope,
        window: Duration::from_millis(window_ms),
        ..Limits::default()
    })
}

/// Sends `n` requests to `path` one after another; the statuses.
async fn burst(c: &reqwest::Client, base: &str, t: &str, path: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(get(c, base, t, path, &[]).await.status().as_u16());
    }
    out
}

fn admitted(statuses: &[u16]) -> usize {
    statuses.iter().filter(|s| **s == 200).count()
}

#[tokio::test]
async fn fixed_window_starts_over_at_each_boundary() {
    // Windows of 1 s from the last reset: five per window, and a full five
    // again right after a boundary even though the last five were moments
    // before it (a sliding window would refuse them).
    let server = start(modelled(
        RateModel::FixedWindow,
        LimitScope::Client,
        5,
        1000,
    ))
    .await;
    let base = server.base_url();
    let c = client();
    let t = token(&c, &base).await;
    c.post(format!("{base}/_admin/reset")).send().await.unwrap();
    let start = std::time::Instant::now();
    assert_eq!(
        burst(&c, &base, &t, VULNS, 6).await,
        [200, 200, 200, 200, 200, 429]
    );
    // Late in the first window: still refused, however long it waited.
    tokio::time::sleep(Duration::from_millis(700).saturating_sub(start.elapsed())).await;
    let resp = get(&c, &base, &t, VULNS, &[]).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    // The next boundary is about 300 ms away: that many sixtieths of the
    // 1 s window (about 18), rounded up to a whole one.
    let retry: u64 = resp.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((9..=21).contains(&retry), "Retry-After {retry}");
    tokio::time::sleep(Duration::from_millis(1050).saturating_sub(start.elapsed())).await;
    assert!(
        start.elapsed() < Duration::from_millis(1900),
        "the test machine stalled"
    );
    assert_eq!(
        burst(&c, &base, &t, VULNS, 6).await,
        [200, 200, 200, 200, 200, 429]
    );
    assert_eq!(admin_stats(&c, &base).await["rateLimited"], 3);
    server.shutdown().await;
}

#[tokio::test]
async fn sliding_window_counts_any_window_long_interval() {
    let server = start(modelled(
        RateModel::SlidingWindow,
        LimitScope::Client,
        5,
        2000,
    ))
    .await;
    let base = server.base_url();
    let c = client();
    let t = token(&c, &base).await;
    let start = std::time::Instant::now();
    assert_eq!(admitted(&burst(&c, &base, &t, VULNS, 3).await), 3);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(burst(&c, &base, &t, VULNS, 3).await, [200, 200, 429]);
    // Once the first three leave the window three more fit, not five: the
    // two sent a second later are still in it.
    tokio::time::sleep(Duration::from_millis(2100).saturating_sub(start.elapsed())).await;
    assert!(
        start.elapsed() < Duration::from_millis(2900),
        "the test machine stalled"
    );
    assert_eq!(burst(&c, &base, &t, VULNS, 4).await, [200, 200, 200, 429]);
    server.shutdown().await;
}

#[tokio::test]
async fn token_bucket_bursts_then_refills_at_the_rate() {
    // 20 a second (a token every 50 ms), at most 3 saved up.
    let server = start(modelled(
        RateModel::TokenBucket { burst: 3 },
        LimitScope::Client,
        20,
        1000,
    ))
    .await;
    let base = server.base_url();
    let c = client();
    let t = token(&c, &base).await;
    let statuses = burst(&c, &base, &t, VULNS, 6).await;
    assert_eq!(&statuses[..3], [200, 200, 200], "the burst");
    // A few more may get a refilled token while the burst is answered, but
    // not many: 6 requests take far less than the 150 ms three tokens need.
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    // A long pause saves up no more than the burst.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = burst(&c, &base, &t, VULNS, 8).await;
    assert!(
        (3..=5).contains(&admitted(&after)) && after[..3] == [200, 200, 200],
        "{after:?}"
    );
    // Requests spaced a token apart all get through.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut spaced = Vec::new();
    for _ in 0..6 {
        spaced.push(get(&c, &base, &t, VULNS, &[]).await.status().as_u16());
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    assert_eq!(admitted(&spaced), 6, "{spaced:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn scope_decides_which_requests_share_a_limit() {
    let c = client();
    // (scope, whether remediations share the vulnerabilities' limit,
    //  whether assets do)
    for (scope, rems_shared, assets_shared) in [
        (LimitScope::Client, true, true),
        (LimitScope::Group, true, false),
        (LimitScope::Endpoint, false, false),
    ] {
        let server = start(modelled(RateModel::SlidingWindow, scope, 2, 60_000)).await;
        let base = server.base_url();
        let t = token(&c, &base).await;
        assert_eq!(
            burst(&c, &base, &t, VULNS, 3).await,
            [200, 200, 429],
            "{scope:?}"
        );
        let rems = get(&c, &base, &t, REMEDIATIONS, &[])
            .await
            .status()
            .as_u16();
        assert_eq!(rems == 429, rems_shared, "{scope:?}: remediations {rems}");
        let assets = get(&c, &base, &t, ASSETS, &[]).await.status().as_u16();
        assert_eq!(assets == 429, assets_shared, "{scope:?}: assets {assets}");
        server.shutdown().await;
    }
}

#[tokio::test]
async fn the_model_changes_at_run_time_and_bad_settings_are_refused() {
    let server = start(modelled(
        RateModel::SlidingWindow,
        LimitScope::Client,
        2,
        60_000,
    ))
    .await;
    let base = server.base_url();
    let c = client();
    let t = token(&c, &base).await;
    assert_eq!(burst(&c, &base, &t, VULNS, 3).await, [200, 200, 429]);
    let put = |body: Value| {
        let c = c.clone();
        let base = base.clone();
        async move {
            c.put(format!("{base}/_admin/config"))
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let resp = put(serde_json::json!({"rateModel": "token-bucket", "burst": 4})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let config: Value = resp.json().await.unwrap();
    assert_eq!(config["rateModel"], "token-bucket");
    assert_eq!(config["burst"], 4);
    // A new model starts with fresh counters: a full bucket of four.
    assert_eq!(
        burst(&c, &base, &t, VULNS, 5).await,
        [200, 200, 200, 200, 429]
    );
    for bad in [
        serde_json::json!({"rateModel": "leaky-bucket"}),
        serde_json::json!({"rateModel": "fixed-window", "burst": 3}),
        serde_json::json!({"burst": 0}),
        serde_json::json!({"rateScope": "planet"}),
    ] {
        let resp = put(bad.clone()).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let config: Value = c
        .get(format!("{base}/_admin/config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        config["rateModel"], "token-bucket",
        "refused patches change nothing"
    );
    assert_eq!(config["rateScope"], "client");
    server.shutdown().await;
}

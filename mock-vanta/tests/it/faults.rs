//! Injected faults: every kind, reproducibility from the seed, latency,
//! and the admin API that counts and configures them.

use crate::common;

use common::*;
use mock_vanta::{Config, FaultKind, Faults};
use reqwest::{header::RETRY_AFTER, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn put_config(c: &reqwest::Client, base: &str, body: Value) -> reqwest::Response {
    c.put(format!("{base}/_admin/config"))
        .json(&body)
        .send()
        .await
        .unwrap()
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
async fn every_fault_kind_behaves_as_named() {
    let server = start_data(data(2, 300, 10, 10)).await;
    let base = server.base_url();
    let c = client();
    let t = token(&c, &base).await;
    let page = [
        ("pageSize", "100"),
        ("includeVulnerabilitiesWithoutSlas", "true"),
    ];
    let full = get(&c, &base, &t, VULNS, &page)
        .await
        .bytes()
        .await
        .unwrap();

    for (kind, status) in [("500", 500u16), ("502", 502), ("503", 503), ("504", 504)] {
        put_config(&c, &base, json!({"faultRate": 1.0, "faults": [kind]})).await;
        assert_eq!(
            get(&c, &base, &t, VULNS, &page).await.status().as_u16(),
            status
        );
    }

    put_config(&c, &base, json!({"faults": ["429"], "retryAfter": true})).await;
    let resp = get(&c, &base, &t, VULNS, &page).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key(RETRY_AFTER));
    put_config(&c, &base, json!({"retryAfter": false})).await;
    let resp = get(&c, &base, &t, VULNS, &page).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(!resp.headers().contains_key(RETRY_AFTER));

    put_config(&c, &base, json!({"faults": ["truncated"]})).await;
    let resp = get(&c, &base, &t, VULNS, &page).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let declared = resp.content_length().unwrap();
    let body = resp.bytes().await.unwrap();
    assert_eq!(
        declared as usize,
        body.len(),
        "Content-Length matches the cut body"
    );
    assert!(body.len() < full.len() && full.starts_with(&body));
    assert!(
        serde_json::from_slice::<Value>(&body).is_err(),
        "truncated JSON must not parse"
    );

    put_config(&c, &base, json!({"faults": ["reset"]})).await;
    let resp = c
        .get(format!("{base}{VULNS}"))
        .bearer_auth(&t)
        .query(&page)
        .send()
        .await;
    // The head and half the body go out first, then the connection drops.
    let resp = resp.expect("the head arrives before the reset");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.bytes().await.is_err(),
        "the connection closes mid-body"
    );

    put_config(&c, &base, json!({"faults": ["slow"], "slowMs": 400})).await;
    let started = Instant::now();
    let resp = get(&c, &base, &t, VULNS, &page).await;
    let body = resp.bytes().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "the body is held back"
    );
    assert_eq!(body, full, "a slow body is still complete");

    // Faults apply to the token endpoint too.
    put_config(&c, &base, json!({"faults": ["503"]})).await;
    assert_eq!(
        token_response(&c, &base, credentials()).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    let stats = admin_stats(&c, &base).await;
    for kind in ["500", "502", "503", "504", "truncated", "reset", "slow"] {
        assert!(
            stats["faults"][kind].as_u64().unwrap() >= 1,
            "{kind} not counted: {stats}"
        );
    }
    assert_eq!(stats["faults"]["429"], 2);
    assert_eq!(stats["faults"]["503"], 2);
    assert_eq!(stats["requests"]["GET /v1/vulnerabilities"]["504"], 1);

    // Off again, and the counters reset.
    put_config(&c, &base, json!({"faultRate": 0.0})).await;
    assert_eq!(
        get(&c, &base, &t, VULNS, &page).await.status(),
        StatusCode::OK
    );
    c.post(format!("{base}/_admin/reset")).send().await.unwrap();
    let stats = admin_stats(&c, &base).await;
    assert_eq!(stats["faultsTotal"], 0);
    assert_eq!(stats["requestsTotal"], 0);
    server.shutdown().await;
}

/// Status of each of `n` requests, or 0 when the body failed.
async fn outcomes(c: &reqwest::Client, base: &str, t: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        let sent = c
            .get(format!("{base}{ASSETS}?pageSize=5"))
            .bearer_auth(t)
            .send()
            .await;
        let Ok(resp) = sent else {
            out.push(0);
            continue;
        };
        let status = resp.status().as_u16();
        let ok = resp
            .bytes()
            .await
            .map(|b| serde_json::from_slice::<Value>(&b).is_ok());
        out.push(match ok {
            Ok(true) => status,
            Ok(false) => 1, // truncated
            Err(_) => 0,    // reset
        });
    }
    out
}

#[tokio::test]
async fn fault_injection_is_reproducible_from_the_seed() {
    let faults = Faults {
        rate: 0.4,
        kinds: vec![
            FaultKind::Status500,
            FaultKind::Status502,
            FaultKind::Status503,
            FaultKind::Status504,
            FaultKind::TooManyRequests,
            FaultKind::Reset,
            FaultKind::Truncated,
        ],
        seed: 77,
        ..Faults::default()
    };
    let config = Config {
        data: data(3, 30, 5, 12),
        faults,
        ..Config::default()
    };
    let c = client();
    let run = |config: Config| {
        let c = c.clone();
        async move {
            let server = start(config).await;
            let base = server.base_url();
            // Take the token before faults apply to it, then restart numbering.
            put_config(&c, &base, json!({"faultRate": 0.0})).await;
            let t = token(&c, &base).await;
            put_config(&c, &base, json!({"faultRate": 0.4})).await;
            c.post(format!("{base}/_admin/reset")).send().await.unwrap();
            let first = outcomes(&c, &base, &t, 60).await;
            c.post(format!("{base}/_admin/reset")).send().await.unwrap();
            let again = outcomes(&c, &base, &t, 60).await;
            let stats = admin_stats(&c, &base).await;
            server.shutdown().await;
            (first, again, stats)
        }
    };
    let (first, again, stats) = run(config.clone()).await;
    assert_eq!(first, again, "same seed, same request order, same faults");
    let faulted = first.iter().filter(|s| **s != 200).count();
    assert!((10..=40).contains(&faulted), "{faulted} of 60 at rate 0.4");
    assert_eq!(stats["faultsTotal"].as_u64().unwrap() as usize, faulted);
    let (other_server, _, _) = run(config.clone()).await;
    assert_eq!(first, other_server, "reproducible across servers");
    let mut reseeded = config;
    reseeded.faults.seed = 78;
    let (different, _, _) = run(reseeded).await;
    assert_ne!(first, different, "another seed, other faults");
}

#[tokio::test]
async fn latency_is_added_to_every_api_answer() {
    let server = start(Config {
        data: data(4, 5, 0, 1),
        faults: Faults {
            latency_ms: 150,
            ..Faults::default()
        },
        ..Config::default()
    })
    .await;
    let base = server.base_url();
    let c = client();
    let started = Instant::now();
    let t = token(&c, &base).await;
    get(&c, &base, &t, VULNS, &[]).await.bytes().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    server.shutdown().await;
}

#[tokio::test]
async fn admin_config_validates_and_reports_settings() {
    let server = start_data(data(4, 5, 0, 1)).await;
    let base = server.base_url();
    let c = client();
    for bad in [
        json!({"faultRate": 1.5}),
        json!({"faults": ["teapot"]}),
        json!({"nonsense": 1}),
        json!({"rateWindowMs": 0}),
        json!({"tokenTtlS": 0}),
    ] {
        assert_eq!(
            put_config(&c, &base, bad.clone()).await.status(),
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    let resp = put_config(
        &c,
        &base,
        json!({"faultRate": 0.25, "faults": ["slow", "504"], "latencyMs": 3, "rateLimit": 50}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let current: Value = c
        .get(format!("{base}/_admin/config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current["faultRate"], 0.25);
    assert_eq!(current["faults"], json!(["slow", "504"]));
    assert_eq!(current["latencyMs"], 3);
    assert_eq!(current["rateLimit"], 50);
    assert_eq!(current["tokenRateLimit"], 0);
    server.shutdown().await;
}

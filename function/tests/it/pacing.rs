//! The adaptive pacer against mock-vanta's rate-limit models, over HTTP and
//! through the engine: it never exceeds its ceiling, it adapts after a 429
//! with and without `Retry-After`, and a continuation in a fresh process
//! resumes at the learned rate instead of bursting into the limit again.
//! Limits run on a scaled-down minute (a window of a second or two); the
//! server's own 429 count is the judge, no wall-clock speed is asserted.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use support::*;
use vanta_vuln_sync::config::{Credentials, Secret};
use vanta_vuln_sync::engine::{Continuer, Engine, Status, SyncOptions, SyncOutcome};
use vanta_vuln_sync::event::SyncEvent;
use vanta_vuln_sync::handler::metric_set;
use vanta_vuln_sync::sink::s3::Bucket;
use vanta_vuln_sync::vanta::{ClientOptions, PacingMode, RetryPolicy, VantaClient};

/// mock-vanta limiting `/v1/*` to `limit` per `window` under `model`.
fn limited(
    data: mock_vanta::DataConfig,
    model: mock_vanta::RateModel,
    limit: u32,
    window: Duration,
    retry_after: bool,
) -> mock_vanta::Config {
    mock_vanta::Config {
        data,
        limits: mock_vanta::Limits {
            requests_per_window: limit,
            model,
            window,
            retry_after,
            ..mock_vanta::Limits::default()
        },
        ..mock_vanta::Config::default()
    }
}

/// A fresh client (a fresh process, as far as pacing goes) allowing
/// `limit` list calls per `window`.
fn client(w: &World, mode: PacingMode, limit: u32, window: Duration) -> Arc<VantaClient> {
    let mut o = ClientOptions::new(
        w.vanta.base_url(),
        Credentials {
            client_id: "vci_mock".into(),
            client_secret: Secret::new("vcs_mock"),
        },
    );
    o.rate_limit_per_min = limit;
    o.rate_window = window;
    o.pacing = mode;
    o.retry = RetryPolicy {
        max_attempts: 10,
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(5),
    };
    Arc::new(VantaClient::new(o).unwrap())
}

fn engine(w: &World, vanta: Arc<VantaClient>, margin: Duration) -> Engine {
    Engine::new(
        vanta,
        Bucket::new(w.s3.clone(), BUCKET),
        PREFIX,
        SyncOptions {
            checkpoint_margin: margin,
            ..SyncOptions::default()
        },
    )
}

fn event(w: &World) -> SyncEvent {
    SyncEvent {
        as_of: Some(w.data.now),
        ..SyncEvent::default()
    }
}

async fn server_stats(w: &World) -> Value {
    reqwest::get(format!("{}/_admin/stats", w.vanta.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// List calls the server answered 200.
fn pages_served(stats: &Value) -> u64 {
    [
        "GET /v1/vulnerabilities",
        "GET /v1/vulnerability-remediations",
        "GET /v1/vulnerable-assets",
    ]
    .iter()
    .map(|r| stats["requests"][r]["200"].as_u64().unwrap_or(0))
    .sum()
}

async fn manifest(w: &World, outcome: &SyncOutcome) -> Value {
    let prefix = outcome
        .snapshot
        .as_deref()
        .unwrap()
        .trim_start_matches(&format!("s3://{BUCKET}/"))
        .to_owned();
    w.get_json(&format!("{prefix}_manifest.json")).await
}

/// Under a sliding window of exactly the pacer's ceiling, any window-long
/// interval with one request too many is a 429: the adaptive pacer sends the
/// allowance at once and then never one too many, where the same sync
/// unpaced is throttled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_pacing_never_exceeds_its_ceiling() {
    let window = Duration::from_millis(1500);
    for model in [
        mock_vanta::RateModel::SlidingWindow,
        mock_vanta::RateModel::FixedWindow,
    ] {
        let w = World::start(limited(data(3_000, 600, 300), model, 12, window, true)).await;
        let vanta = client(&w, PacingMode::Adaptive, 12, window);
        let (outcome, _) = run_to_completion(&engine(&w, vanta, Duration::ZERO), event(&w), None)
            .await
            .unwrap();
        let stats = server_stats(&w).await;
        assert_eq!(stats["rateLimited"], 0, "{model:?}: {stats}");
        assert_eq!(outcome.rate_limited, 0);
        assert_eq!(outcome.pages, 30 + 6 + 3);
        assert_eq!(
            pages_served(&stats),
            outcome.pages,
            "no request beyond the pages"
        );
        w.vanta.shutdown().await;
        w.emulator.shutdown().await;
    }

    // The control: unpaced, the same limit is hit.
    let w = World::start(limited(
        data(3_000, 600, 300),
        mock_vanta::RateModel::SlidingWindow,
        12,
        window,
        true,
    ))
    .await;
    let vanta = client(&w, PacingMode::Adaptive, 0, window);
    let (outcome, _) = run_to_completion(&engine(&w, vanta, Duration::ZERO), event(&w), None)
        .await
        .unwrap();
    assert!(
        outcome.rate_limited > 0,
        "without the pacer the limit is hit"
    );
    w.vanta.shutdown().await;
    w.emulator.shutdown().await;
}

/// A token bucket with a burst smaller than the allowance answers 429 when
/// the burst runs out; the pacer learns the bucket from that and keeps to
/// it, so the 429s stay those of first contact (at most one per pager in
/// flight at that moment), with `Retry-After` or without it. The count
/// reaches the outcome and the manifest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adapts_after_a_429_with_and_without_retry_after() {
    let window = Duration::from_secs(1);
    for retry_after in [true, false] {
        let w = World::start(limited(
            data(4_000, 600, 300),
            mock_vanta::RateModel::TokenBucket { burst: 6 },
            25,
            window,
            retry_after,
        ))
        .await;
        let vanta = client(&w, PacingMode::Adaptive, 25, window);
        let (outcome, _) = run_to_completion(&engine(&w, vanta, Duration::ZERO), event(&w), None)
            .await
            .unwrap();
        let stats = server_stats(&w).await;
        let limited = stats["rateLimited"].as_u64().unwrap();
        assert!(
            (1..=3).contains(&limited),
            "retry-after {retry_after}: {limited} 429s for {} pages; {stats}",
            outcome.pages
        );
        assert_eq!(outcome.rate_limited, limited);
        assert_eq!(manifest(&w, &outcome).await["rateLimited"], limited);
        let emf = metric_set(Some(&outcome), false, 1.0).to_emf("f", 0);
        assert_eq!(emf["RateLimited"], limited, "the RateLimited metric");
        assert_eq!(pages_served(&stats), 40 + 6 + 3);
        w.vanta.shutdown().await;
        w.emulator.shutdown().await;
    }
}

/// Runs a sync in invocations of `budget` each, every one with a fresh
/// client as a new Lambda process would have; `strip` removes the pacer's
/// state from each checkpoint first (what a continuation without it does).
/// Returns the invocations and the final outcome.
async fn fresh_process_per_invocation(
    w: &World,
    limit: u32,
    window: Duration,
    budget: Duration,
    strip: bool,
) -> (usize, SyncOutcome) {
    let (continuer, queue) = Continuer::collector();
    let mut event = event(w);
    for invocation in 1.. {
        assert!(invocation < 200, "runaway continuation chain");
        if strip {
            if let Some(key) = &event.resume {
                let mut cp = w.get_json(key).await;
                assert!(
                    cp.get("pacing").is_some(),
                    "the checkpoint carries the pacer"
                );
                cp.as_object_mut().unwrap().remove("pacing");
                w.s3.put_object()
                    .bucket(BUCKET)
                    .key(key)
                    .body(serde_json::to_vec(&cp).unwrap().into())
                    .send()
                    .await
                    .unwrap();
            }
        }
        let vanta = client(w, PacingMode::Adaptive, limit, window);
        let deadline = tokio::time::Instant::now() + budget;
        let outcome = engine(w, vanta, Duration::ZERO)
            .run(&event, Some(deadline), &continuer)
            .await
            .unwrap();
        if outcome.status == Status::Complete {
            return (invocation, outcome);
        }
        let payload = queue.lock().unwrap().pop().unwrap();
        event = SyncEvent::parse(&payload).unwrap();
    }
    unreachable!()
}

/// A continuation lands while the window the previous invocation used up is
/// still open. Carrying the pacer's state in the checkpoint, the fresh
/// process waits for it and the whole chain sees no 429; the control, the
/// same chain with the state removed from each checkpoint, bursts into the
/// limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continuation_resumes_at_the_learned_rate_without_a_burst() {
    let window = Duration::from_secs(2);
    let limit = 10;
    let budget = Duration::from_millis(700);
    for strip in [false, true] {
        let w = World::start(limited(
            data(2_500, 100, 100),
            mock_vanta::RateModel::SlidingWindow,
            limit,
            window,
            true,
        ))
        .await;
        let (invocations, outcome) =
            fresh_process_per_invocation(&w, limit, window, budget, strip).await;
        assert!(invocations >= 2, "the run must continue at least once");
        let stats = server_stats(&w).await;
        let limited = stats["rateLimited"].as_u64().unwrap();
        assert_eq!(outcome.rate_limited, limited);
        if strip {
            assert!(
                limited > 0,
                "without the state a continuation bursts: {stats}"
            );
        } else {
            assert_eq!(limited, 0, "{invocations} invocations: {stats}");
            assert_eq!(manifest(&w, &outcome).await["rateLimited"], 0);
        }
        assert_eq!(outcome.counts.vulnerabilities, 2_500);
        w.vanta.shutdown().await;
        w.emulator.shutdown().await;
    }
}

/// A learned limit survives the checkpoint: under a token bucket smaller
/// than the allowance, a chain of fresh processes sees the first contact's
/// 429s and no more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continuation_keeps_what_was_learned() {
    let window = Duration::from_secs(1);
    let w = World::start(limited(
        data(3_000, 100, 100),
        mock_vanta::RateModel::TokenBucket { burst: 4 },
        20,
        window,
        true,
    ))
    .await;
    let (invocations, outcome) =
        fresh_process_per_invocation(&w, 20, window, Duration::from_millis(600), false).await;
    assert!(invocations >= 2, "the run must continue at least once");
    let limited = server_stats(&w).await["rateLimited"].as_u64().unwrap();
    assert!(
        (1..=3).contains(&limited),
        "{limited} 429s over {invocations} invocations"
    );
    assert_eq!(outcome.counts.vulnerabilities, 3_000);
    w.vanta.shutdown().await;
    w.emulator.shutdown().await;
}

/// `VANTA_PACING=even` keeps the earlier pacing: one request every
/// window / N from the start, never a burst, so the server sees no more
/// than two requests in any tenth of the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn even_pacing_spreads_requests_from_the_start() {
    let window = Duration::from_secs(1);
    // A sliding window of 2 per 100 ms: an even pacer at 10 per second
    // never trips it; a burst would at once.
    let w = World::start(limited(
        data(500, 100, 100),
        mock_vanta::RateModel::SlidingWindow,
        2,
        Duration::from_millis(100),
        true,
    ))
    .await;
    let vanta = client(&w, PacingMode::Even, 10, window);
    let (outcome, _) = run_to_completion(&engine(&w, vanta, Duration::ZERO), event(&w), None)
        .await
        .unwrap();
    assert_eq!(server_stats(&w).await["rateLimited"], 0);
    assert_eq!(outcome.pages, 7);
    w.vanta.shutdown().await;
    w.emulator.shutdown().await;
}

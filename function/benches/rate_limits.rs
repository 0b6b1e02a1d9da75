//! How close a sync comes to the least time each rate-limit model allows.
//!
//! The engine (the real HTTP client, the emulator's S3) syncs 15, 120 and
//! 600 pages from mock-vanta under each model: a fixed window, a sliding
//! window and a token bucket (burst 10) per client, and the token bucket per
//! endpoint. Limits are Vanta's allowance, 50 requests per window, on a
//! scaled-down minute (3 s by default: the whole bench takes a few minutes),
//! with the client's budget and window scaled alike; every answer is
//! delayed 10 ms. For each run: the time, the floor (below), their ratio,
//! the 429s and the requests beyond the pages, the token and those 429s.
//!
//! The floor ([`least_time`]) is the time an oracle client would take: one
//! that knows the model's state exactly and sends each request the moment
//! the model, its own budget (never more than 50 list calls in any window)
//! and the endpoint's cursor chain allow, each page taking as long as it
//! does with no limit at all, plus what a sync spends besides paging (the
//! token before the first page, the writes after the last), which no
//! pacing hides; and never less than the unlimited sync. Both are measured
//! here from unlimited syncs (the best of two each): one of a page per
//! endpoint (that time and one page) and one of each size (its pages along
//! the longest chain).
//!
//! `cargo bench -p vanta-vuln-sync --bench rate_limits` (adaptive pacing);
//! `VANTA_PACING=even cargo bench …` for the even pacing. `RATE_BENCH_PAGES`
//! (e.g. "15,120") and `RATE_BENCH_WINDOW_MS` change the sizes and window.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials as AwsCredentials, Region};
use mock_vanta::{LimitScope, RateModel};
use serde_json::Value;
use vanta_vuln_sync::config::{Credentials, Secret};
use vanta_vuln_sync::engine::{Continuer, Engine, Status, SyncOptions};
use vanta_vuln_sync::event::SyncEvent;
use vanta_vuln_sync::sink::s3::Bucket;
use vanta_vuln_sync::vanta::{ClientOptions, PacingMode, VantaClient};

const BUCKET: &str = "vanta-vuln-data";
/// Vanta's published allowance per window.
const LIMIT: u32 = 50;
const BURST: u32 = 10;
const LATENCY_MS: u64 = 10;

/// A rate-limit model as the floor sees it.
#[derive(Clone, Copy, Debug)]
struct Model {
    rate: RateModel,
    scope: LimitScope,
}

impl Model {
    fn name(&self) -> String {
        let rate = match self.rate {
            RateModel::TokenBucket { burst } => format!("token-bucket({burst})"),
            other => other.as_str().to_owned(),
        };
        format!("{rate}/{}", self.scope.as_str())
    }
}

/// One counter of a model, in simulated time (seconds).
enum Counter {
    /// Admission times, oldest first.
    Sliding(Vec<f64>),
    /// Admissions per window index.
    Fixed(std::collections::HashMap<i64, u32>),
    /// Tokens as of a time.
    Bucket { tokens: f64, at: f64 },
}

impl Counter {
    fn new(rate: RateModel) -> Self {
        match rate {
            RateModel::SlidingWindow => Counter::Sliding(Vec::new()),
            RateModel::FixedWindow => Counter::Fixed(Default::default()),
            RateModel::TokenBucket { burst } => Counter::Bucket {
                tokens: f64::from(burst),
                at: 0.0,
            },
        }
    }

    /// The earliest time from `t` on at which one more request is admitted
    /// (`n` per `window`; fixed windows start `phase` before time 0).
    fn earliest(&self, rate: RateModel, n: u32, window: f64, phase: f64, t: f64) -> f64 {
        match (self, rate) {
            (Counter::Sliding(times), _) if times.len() >= n as usize => {
                t.max(times[times.len() - n as usize] + window)
            }
            (Counter::Fixed(counts), _) => {
                let mut t = t;
                loop {
                    let k = ((t + phase) / window).floor() as i64;
                    if counts.get(&k).copied().unwrap_or(0) < n {
                        return t;
                    }
                    t = (k + 1) as f64 * window - phase;
                }
            }
            (Counter::Bucket { tokens, at }, RateModel::TokenBucket { burst }) => {
                let per_s = f64::from(n) / window;
                let now = (tokens + (t - at) * per_s).min(f64::from(burst));
                if now >= 1.0 {
                    t
                } else {
                    t + (1.0 - now) / per_s
                }
            }
            _ => t,
        }
    }

    fn admit(&mut self, rate: RateModel, n: u32, window: f64, phase: f64, t: f64) {
        match (self, rate) {
            (Counter::Sliding(times), _) => {
                let at = times.partition_point(|x| *x <= t);
                times.insert(at, t);
            }
            (Counter::Fixed(counts), _) => {
                *counts
                    .entry(((t + phase) / window).floor() as i64)
                    .or_default() += 1
            }
            (Counter::Bucket { tokens, at }, RateModel::TokenBucket { burst }) => {
                let per_s = f64::from(n) / window;
                *tokens = (*tokens + (t - *at) * per_s).min(f64::from(burst)) - 1.0;
                *at = t;
            }
            _ => {}
        }
    }
}

/// The least time `model` allows a sync of `pages` (per endpoint:
/// vulnerabilities, remediations, assets): each endpoint's pages are a
/// cursor chain, a page `page_s` after the one before at the soonest; the
/// client never sends more than `n` list calls in any window (its budget);
/// and every request goes the moment its chain, the budget and the model
/// let it, the model's state known exactly (an oracle client). Fixed
/// windows start `phase` before the run.
fn least_time(model: Model, n: u32, window: f64, pages: [u64; 3], phase: f64, page_s: f64) -> f64 {
    let key = |e: usize| match model.scope {
        LimitScope::Client => 0,
        LimitScope::Endpoint => e,
        LimitScope::Group => usize::from(e == 2),
    };
    let mut server: Vec<Counter> = (0..3).map(|_| Counter::new(model.rate)).collect();
    let mut budget = Counter::new(RateModel::SlidingWindow);
    let mut ready = [0.0f64; 3];
    let mut left = pages;
    let mut end = 0.0f64;
    while left.iter().any(|l| *l > 0) {
        // The request that can go first (ties: the longest chain left).
        let (e, t) = (0..3)
            .filter(|e| left[*e] > 0)
            .map(|e| {
                // Both must admit at the same instant.
                let mut t = ready[e];
                loop {
                    let s = server[key(e)].earliest(model.rate, n, window, phase, t);
                    let b = budget.earliest(RateModel::SlidingWindow, n, window, 0.0, s);
                    if b <= s {
                        break (e, s);
                    }
                    t = b;
                }
            })
            .min_by(|a, b| a.1.total_cmp(&b.1).then(left[b.0].cmp(&left[a.0])))
            .expect("a chain with pages left");
        server[key(e)].admit(model.rate, n, window, phase, t);
        budget.admit(RateModel::SlidingWindow, n, window, 0.0, t);
        ready[e] = t + page_s;
        left[e] -= 1;
        end = end.max(ready[e]);
    }
    end
}

fn check_least_time() {
    let client = |rate| Model {
        rate,
        scope: LimitScope::Client,
    };
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    // With instant pages: 15 pages fit one window; 120 need two more; 600
    // eleven more.
    let sliding = client(RateModel::SlidingWindow);
    assert!(close(
        least_time(sliding, 50, 60.0, [12, 2, 1], 0.0, 0.0),
        0.0
    ));
    assert!(close(
        least_time(sliding, 50, 60.0, [96, 16, 8], 0.0, 0.0),
        120.0
    ));
    assert!(close(
        least_time(sliding, 50, 60.0, [480, 80, 40], 0.0, 0.0),
        660.0
    ));
    assert!(close(
        least_time(sliding, 50, 60.0, [51, 0, 0], 0.0, 0.0),
        60.0
    ));
    // A chain of 12 pages a second apart takes 12 s whatever the limit.
    assert!(close(
        least_time(sliding, 50, 60.0, [12, 2, 1], 0.0, 1.0),
        12.0
    ));
    // A fixed window begun 10 s before the run opens 10 s early, but the
    // client's budget (50 in any window) still needs two full windows.
    let fixed = client(RateModel::FixedWindow);
    assert!(close(
        least_time(fixed, 50, 60.0, [96, 16, 8], 10.0, 0.0),
        120.0
    ));
    assert!(close(
        least_time(fixed, 50, 60.0, [60, 0, 0], 10.0, 0.0),
        60.0
    ));
    // A bucket of 10 at 50 a minute: 110 more pages at 1.2 s each, more
    // than the budget's two windows.
    let bucket = client(RateModel::TokenBucket { burst: 10 });
    assert!(close(
        least_time(bucket, 50, 60.0, [96, 16, 8], 0.0, 0.0),
        132.0
    ));
    // Per endpoint, alone, the vulnerabilities' 86 pages past the burst
    // take 103.2 s; with the other chains the budget binds too (at least
    // two more windows), and a bucket left full while the budget waits
    // wastes its refill, so more.
    let per_endpoint = Model {
        rate: RateModel::TokenBucket { burst: 10 },
        scope: LimitScope::Endpoint,
    };
    assert!(least_time(per_endpoint, 50, 60.0, [96, 16, 8], 0.0, 0.0) >= 120.0);
    assert!(close(
        least_time(per_endpoint, 50, 60.0, [96, 0, 0], 0.0, 0.0),
        86.0 * 1.2
    ));
}

fn dataset(pages: u64) -> (mock_vanta::DataConfig, [u64; 3]) {
    // The realistic tenant's mix: 80% vulnerabilities, 13% remediations,
    // 7% assets (1,200 / 200 / 100 records at 15 pages).
    let split = match pages {
        3 => [1, 1, 1],
        15 => [12, 2, 1],
        p => {
            let v = p * 4 / 5;
            let r = (p - v) * 2 / 3;
            [v, r, p - v - r]
        }
    };
    let data = mock_vanta::DataConfig {
        seed: 42,
        vulnerabilities: split[0] * 100,
        remediations: split[1] * 100,
        assets: split[2] * 100,
        now: chrono::Utc::now(),
    };
    (data, split)
}

struct Run {
    secs: f64,
    pages: u64,
    limited: u64,
    extra: u64,
    phase: f64,
}

async fn sync(
    s3: &aws_sdk_s3::Client,
    pages: u64,
    limits: mock_vanta::Limits,
    client_limit: u32,
    window: Duration,
    pacing: PacingMode,
) -> Run {
    let (data, split) = dataset(pages);
    let served = Instant::now();
    let vanta = mock_vanta::Server::start(mock_vanta::Config {
        data,
        limits,
        faults: mock_vanta::Faults {
            latency_ms: LATENCY_MS,
            ..mock_vanta::Faults::default()
        },
        ..mock_vanta::Config::default()
    })
    .await
    .expect("mock-vanta");
    let mut o = ClientOptions::new(
        vanta.base_url(),
        Credentials {
            client_id: "vci_mock".into(),
            client_secret: Secret::new("vcs_mock"),
        },
    );
    o.rate_limit_per_min = client_limit;
    o.rate_window = window;
    o.pacing = pacing;
    let engine = Engine::new(
        Arc::new(VantaClient::new(o).expect("client")),
        Bucket::new(s3.clone(), BUCKET),
        "bench",
        SyncOptions::default(),
    );
    let (continuer, _) = Continuer::collector();
    let started = Instant::now();
    let outcome = engine
        .run(&SyncEvent::default(), None, &continuer)
        .await
        .expect("sync");
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(outcome.status, Status::Complete);
    assert_eq!(outcome.pages, split.iter().sum::<u64>(), "pages");
    let stats: Value = reqwest::get(format!("{}/_admin/stats", vanta.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let limited = stats["rateLimited"].as_u64().unwrap_or(0);
    let total = stats["requestsTotal"].as_u64().unwrap_or(0);
    let tokens = stats["tokensIssued"].as_u64().unwrap_or(0);
    assert_eq!(
        limited, outcome.rate_limited,
        "client and server count alike"
    );
    vanta.shutdown().await;
    Run {
        secs,
        pages: outcome.pages,
        limited,
        extra: total.saturating_sub(outcome.pages + tokens + limited),
        phase: started.duration_since(served).as_secs_f64() % window.as_secs_f64(),
    }
}

#[tokio::main]
async fn main() {
    check_least_time();
    let pacing: PacingMode = match std::env::var("VANTA_PACING") {
        Ok(v) if !v.trim().is_empty() => v.parse().unwrap_or_else(|e| {
            eprintln!("VANTA_PACING: {e}");
            std::process::exit(2)
        }),
        _ => PacingMode::Adaptive,
    };
    let sizes: Vec<u64> = std::env::var("RATE_BENCH_PAGES")
        .unwrap_or_else(|_| "15,120,600".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|p| *p > 0)
        .collect();
    let window_ms: u64 = std::env::var("RATE_BENCH_WINDOW_MS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|ms| *ms > 0)
        .unwrap_or(3000);
    let window = Duration::from_millis(window_ms);
    let w = window.as_secs_f64();

    let emu = emulator::Emulator::start(emulator::EmulatorConfig::default())
        .await
        .expect("emulator");
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(emu.endpoint_url())
            .credentials_provider(AwsCredentials::new("test", "test", None, None, "test"))
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();

    println!(
        "pacing {}: {LIMIT} requests per {window_ms} ms window (a scaled-down minute), token bucket burst {BURST}, {LATENCY_MS} ms per answer",
        pacing.as_str()
    );
    let mut unlimited = Vec::new();
    let mut page_s = Vec::new();
    let mut fixed_s = Vec::new();
    let best_of_two = async |pages: u64| {
        let mut best = f64::INFINITY;
        for _ in 0..2 {
            let run = sync(&s3, pages, mock_vanta::Limits::default(), 0, window, pacing).await;
            best = best.min(run.secs);
        }
        best
    };
    // A page per endpoint: the time besides paging and one page.
    let one = best_of_two(3).await;
    println!("  no limit, a page per endpoint: {one:.3} s");
    for &pages in &sizes {
        let best = best_of_two(pages).await;
        let (_, split) = dataset(pages);
        let chain = split.iter().copied().max().unwrap_or(1).max(1);
        // U(chain) = fixed + chain * page, from the two unlimited syncs.
        let page = if chain > 1 {
            ((best - one) / (chain - 1) as f64).max(0.0)
        } else {
            best
        };
        let fixed = (best - chain as f64 * page).max(0.0);
        println!(
            "  no limit, {pages} pages: {best:.3} s ({:.1} ms a page along the longest chain, {:.1} ms besides)",
            page * 1000.0,
            fixed * 1000.0
        );
        unlimited.push(best);
        page_s.push(page);
        fixed_s.push(fixed);
    }

    let models = [
        Model {
            rate: RateModel::FixedWindow,
            scope: LimitScope::Client,
        },
        Model {
            rate: RateModel::SlidingWindow,
            scope: LimitScope::Client,
        },
        Model {
            rate: RateModel::TokenBucket { burst: BURST },
            scope: LimitScope::Client,
        },
        Model {
            rate: RateModel::TokenBucket { burst: BURST },
            scope: LimitScope::Endpoint,
        },
    ];
    println!();
    println!("| model | pages | time (s) | floor (s) | ratio | 429s | extra requests |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for model in models {
        for (i, &pages) in sizes.iter().enumerate() {
            let limits = mock_vanta::Limits {
                requests_per_window: LIMIT,
                model: model.rate,
                scope: model.scope,
                window,
                ..mock_vanta::Limits::default()
            };
            let run = sync(&s3, pages, limits, LIMIT, window, pacing).await;
            let (_, split) = dataset(pages);
            let floor = (fixed_s[i] + least_time(model, LIMIT, w, split, run.phase, page_s[i]))
                .max(unlimited[i]);
            println!(
                "| {} | {} | {:.2} | {:.2} | {:.2} | {} | {} |",
                model.name(),
                run.pages,
                run.secs,
                floor,
                run.secs / floor,
                run.limited,
                run.extra
            );
        }
    }
    emu.shutdown().await;
}
